"""What the changing commands add to their strategy's plan, whatever the
strategy: the ``staging_cidrs`` access steps (``bluegreen.plan.access``) and
the repair of a size left pinned by an interrupted deploy."""

from __future__ import annotations

import dataclasses

from bluegreen.lifecycle.session import Session
from bluegreen.model import Site
from bluegreen.observe.checks import Assessment
from bluegreen.plan import access
from bluegreen.plan.executor import Plan
from bluegreen.plan.steps import Step, Wait
from bluegreen.plan.strategies.base import with_pin_repairs


def completed(sess: Session, site: Site, a: Assessment, plan: Plan, *, restrict: bool) -> Plan:
    """``plan`` with the access steps and the pin repairs every command adds."""
    return with_pin_repairs(site, with_access(sess, site, a, plan, restrict=restrict))


def with_access(sess: Session, site: Site, a: Assessment, plan: Plan, *, restrict: bool) -> Plan:
    """``staging_cidrs`` (``bluegreen.plan.access``): a live balancer found limited
    to the staging ranges is opened first, whatever the command; with
    ``restrict`` (deploy, clean), a staging balancer still open after a switch
    is limited at the end, when clients can no longer be using it: now, or
    after the plan's own drain wait (clean's, which waits for the same time)."""

    if site.access is None or site.layout != "pair":
        return plan
    first = access.open_before_traffic(site, a.live)
    last: tuple[Step, ...] = ()
    if restrict and a.staging is not None and a.live is not None and a.staging != a.live:
        due = access.restriction_due(site, a.staging, 0.0)
        if due is not None:
            drain = access.draining_timeout(sess.gw, sess.settings, a.staging) if due else 0.0
            last = access.restrict_when_drained(site, a.live, a.staging, drain)
            waits = any(isinstance(st, Wait) for st in plan.steps)
            if waits:  # clean: the same wait, to the second (tags keep whole seconds)
                last = tuple(
                    dataclasses.replace(st, wait=True)
                    if isinstance(st, access.RestrictBalancer)
                    else st
                    for st in last
                )
            elif any(
                isinstance(st, access.RestrictBalancer) and st.not_before > sess.gw.clock.now()
                for st in last
            ):
                sess.reporter.info(
                    f"note: {a.staging.name} stays open to everyone until clients of the last "
                    "switch have left; the next deploy, clean or init after that limits it"
                )
                last = ()
    if not first and not last:
        return plan
    summary = plan.summary if plan.steps else "limit staging to staging_cidrs"
    return dataclasses.replace(plan, steps=first + plan.steps + last, summary=summary)
