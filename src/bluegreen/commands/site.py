"""``init`` and ``teardown``: the site around the two environments (network,
security groups, identity, load balancers, zones, the lock table), made to
converge from any state, and deleted again (see ``bluegreen.site``)."""

from __future__ import annotations

import dataclasses
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from bluegreen.errors import LockedError
from bluegreen.lifecycle import lock, records, run
from bluegreen.lifecycle.session import Session
from bluegreen.plan.executor import DryRunExecutor, Executor


def teardown(sess: Session) -> dict[str, Any]:
    """Delete everything init and the deploys created for the domain (see
    ``bluegreen.site.teardown``). Idempotent: run it again to finish."""
    from bluegreen.site import teardown as td

    plan, kept = td.discover(sess.gw, sess.names)
    final = td.final_steps(sess.names)
    whole = dataclasses.replace(plan, steps=plan.steps + final)
    r = sess.reporter
    r.info(plan.summary)
    for note in plan.notes:
        r.info(f"note: {note}")
    result = {
        "command": "teardown",
        "domain": sess.names.domain,
        "summary": plan.summary,
        "steps": whole.describe(),
        "kept": kept,
    }
    if sess.dry_run:
        DryRunExecutor(sess.ctx).run(whole.steps)
        return {**result, "result": "dry run", "outcomes": []}
    run.confirm(sess, whole)
    executor = Executor(sess.ctx)
    started = sess.gw.clock.now()
    with run.notified(sess, "teardown"):
        try:
            with _locked_if_set_up(sess, "teardown"):
                executor.run(plan.steps)
            executor.run(final)
        except LockedError:  # refused before it changed anything: nothing to record
            raise
        except BaseException as e:
            if sess.gw.table_exists(sess.names.lock_table):
                records.save(
                    sess, records.entry(sess, "teardown", None, started, "failed", e, plan.summary)
                )
            raise
        sess.entries.append({"command": "teardown", "result": "succeeded", "summary": plan.summary})
    r.info(f"{sess.names.domain} is torn down")
    return {**result, "result": "succeeded", "outcomes": [o for _, o in executor.done]}


def init(sess: Session) -> dict[str, Any]:
    from bluegreen.site.access import check_settings
    from bluegreen.site.provision import Provisioner

    check_settings(sess.settings)
    with run.notified(sess, "init"), _locked_if_set_up(sess, "init"):
        report = Provisioner(sess.gw, sess.settings, sess.reporter, dry_run=sess.dry_run).run()
    if not report.changed:
        sess.reporter.info(f"{sess.names.domain} is set up already: nothing changed")
    return {"domain": sess.names.domain, "dry_run": sess.dry_run, **report.to_json()}


def _locked_if_set_up(sess: Session, command: str) -> AbstractContextManager[object]:
    """The domain's lock, when its table is there to hold it: init (which
    changes security groups and records a switch also changes) and teardown
    must not run while another command changes the site. A site without its
    lock table has no command running: every changing command needs the lock."""
    if sess.dry_run or sess.gw.table_status(sess.names.lock_table) != "ACTIVE":
        return nullcontext()
    return lock.DomainLock(sess.gw, sess.names, command, sess.reporter)
