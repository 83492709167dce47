"""The lifecycle of a changing command, written once:

settings -> lock (with intent) -> observe -> check -> plan -> confirm ->
execute (or print) -> record history -> notify -> render.

``run`` is that lifecycle; a command brings only its planner (observe, check
and plan: see ``bluegreen.commands``). The command line renders the result.
A composite command (``release``) runs its phases' plans with
``execute_phase`` (confirm and execute, no bookkeeping) inside its own
``run``-like frame, and keeps the books once for the whole (see
``bluegreen.lifecycle.pipeline``).
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from bluegreen.clock import iso
from bluegreen.errors import BluegreenError, InputError, Interrupted, RolledBack
from bluegreen.lifecycle import lock, records
from bluegreen.lifecycle.notify import Notifier
from bluegreen.lifecycle.session import Session
from bluegreen.observe.checks import Assessment
from bluegreen.plan.executor import DryRunExecutor, Executor, Plan
from bluegreen.plan.steps import WITH_FIRST_CHANGE, RecordsChanged, SetAliases

Planner = Callable[[], tuple[Plan, Assessment]]


def run(
    sess: Session,
    command: str,
    planner: Planner,
    *,
    start: dict[str, Any] | Callable[[], dict[str, Any]] | None = None,
    explain_refusal: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """One changing command: lock, plan (the ``planner`` observes and checks),
    confirm, execute, record, notify. ``start``: what the start notification
    names, or a function giving it once the lock is held (a lookup made while
    the lock is taken). ``explain_refusal``: called when Route 53 refused the
    plan's change batch (the records changed since they were read), to say
    what is wrong if the site now shows it."""
    # the zones' ids (configuration, not state) are read while the lock is taken
    sess.gw.read_zones_ahead(sess.names.zone_name)
    with (
        locked(sess, command),
        notified(sess, command, **(start() if callable(start) else start or {})),
    ):
        plan, before = planner()
        try:
            return execute(sess, plan, before)
        except RecordsChanged as e:
            if explain_refusal is not None:
                explain_refusal()
            raise e


@contextmanager
def locked(sess: Session, command: str) -> Iterator[lock.DomainLock | None]:
    """The domain's lock for the command (none in a dry run)."""
    if sess.dry_run:
        yield None
        return
    lk = lock.DomainLock(sess.gw, sess.names, command, sess.reporter)
    with lk:
        sess.lock = lk
        try:
            yield lk
        finally:
            sess.lock = None


def notifier(sess: Session) -> Notifier:
    return Notifier(
        None if sess.dry_run else sess.settings.notify_url,
        sess.reporter,
        domain=sess.names.domain,
        who=lock.whoami(),
        host=socket.gethostname(),
    )


@contextmanager
def notified(sess: Session, command: str, **start: Any) -> Iterator[Notifier]:
    """Send start, then success or failure (and rollback, for a check that
    undid a switch) events of ``command``. Silent in dry runs."""
    n = notifier(sess)

    def now() -> str:
        return iso(sess.gw.clock.now())

    n.send("start", command, now(), versions=start)
    try:
        yield n
    except BaseException as e:
        err = e if isinstance(e, BluegreenError) else None
        entry = sess.entries[-1] if sess.entries else {}
        result = "rolled back" if isinstance(e, RolledBack) else "failed"
        if entry.get("command") == command and entry.get("result") != "succeeded":
            result = entry["result"]
        if isinstance(e, RolledBack):
            n.send("rollback", command, now(), result=result, error=err and err.message)
        n.send(
            "failure",
            command,
            now(),
            result=result,
            error=err.message if err else type(e).__name__,
            summary=entry.get("summary"),
            versions={**start, **records.versions_of(entry)},
        )
        raise
    entry = sess.entries[-1] if sess.entries else {}
    n.send(
        "success",
        command,
        now(),
        result=entry.get("result", "succeeded"),
        summary=entry.get("summary"),
        versions={**start, **records.versions_of(entry)},
    )


def confirm(sess: Session, plan: Plan) -> None:
    """Ask before a destructive plan (``Session.confirm``); refuse unless confirmed."""
    if sess.dry_run or sess.confirm is None or not plan.steps:
        return
    if not sess.confirm(plan):
        raise InputError(
            f"{plan.command}: not confirmed; nothing was changed",
            fix="answer y to go ahead, or pass --yes",
        )


def result(plan: Plan, outcome: str, outcomes: list[str]) -> dict[str, Any]:
    return {
        "command": plan.command,
        "result": outcome,
        "summary": plan.summary,
        "steps": plan.describe(),
        "outcomes": outcomes,
        "notes": list(plan.notes),
        **plan.facts,
    }


def _announce(sess: Session, plan: Plan) -> None:
    sess.reporter.info(plan.summary)
    for note in plan.notes:
        sess.reporter.info(f"note: {note}")


def execute_phase(sess: Session, plan: Plan) -> dict[str, Any]:
    """Confirm and execute (or print) one phase of a composite command; the
    composite keeps the lock's intent and the history record."""
    _announce(sess, plan)
    if not plan.steps:
        return result(plan, "nothing to do", [])
    confirm(sess, plan)
    executor = DryRunExecutor(sess.ctx) if sess.dry_run else Executor(sess.ctx)
    executor.run_plan(plan)
    return result(plan, "dry run" if sess.dry_run else "succeeded", [o for _, o in executor.done])


def execute(sess: Session, plan: Plan, before: Assessment) -> dict[str, Any]:
    """Confirm, record the intent in the lock (the session's, held by ``locked``),
    execute (or print), record history."""
    lk = sess.lock
    _announce(sess, plan)
    # The intent of an interrupted run of this command that this one resumes.
    first = lk.resumes(plan.command, records.target(plan)) if lk and not sess.dry_run else {}
    if not plan.steps:
        if first:  # killed before it recorded: the interrupted command is done now
            _record(sess, plan, before, first["started"], "succeeded", None, first, True)
        return result(plan, "nothing to do", [])
    confirm(sess, plan)
    started = sess.gw.clock.now()
    intent: dict[str, Any] = {}
    ctx = sess.ctx
    if lk is not None and not sess.dry_run:
        # Crash safety: a command that takes over this lock after a kill
        # finishes this plan instead of starting another (see ``lock``); a
        # resumed run keeps the intent of the first one.
        mine = records.intent(plan, before, started)
        if isinstance(plan.steps[0], SetAliases):
            # A traffic move: the intent matters only once the move is complete
            # (a takeover must not swap back a finished switch); one stopped
            # between its two change batches is recognised from the records.
            # So it is written while the first batch syncs, before the second:
            # no request before the first change but the lock and the reads.
            intent = first or mine
            held = lk
            ctx.facts[WITH_FIRST_CHANGE] = lambda: held.record_intent(mine)
        else:
            intent = lk.record_intent(mine)
        started = float(intent.get("started", started))
    executor = DryRunExecutor(ctx) if sess.dry_run else Executor(ctx)
    outcome = "dry run" if sess.dry_run else "succeeded"
    error: BluegreenError | None = None
    try:
        executor.run_plan(plan)
    except RecordsChanged as e:
        outcome, error = "failed", e
        if not executor.done:  # refused by Route 53 before anything changed
            outcome = "refused"
        raise
    except BluegreenError as e:
        outcome, error = "failed", e
        raise
    except BaseException as e:  # Ctrl-C, SIGTERM
        outcome, error = "interrupted", Interrupted(type(e).__name__)
        raise
    finally:
        if not sess.dry_run and outcome != "refused":
            _record(sess, plan, before, started, outcome, error, intent, bool(first))
    return result(plan, outcome, [o for _, o in executor.done])


def _record(
    sess: Session,
    plan: Plan,
    before: Assessment,
    started: float,
    outcome: str,
    error: BluegreenError | None,
    intent: dict[str, Any],
    resumed: bool,
) -> None:
    item = records.entry(
        sess, plan.command, before, started, outcome, error, plan.summary, plan, facts=plan.facts
    )
    records.save_as_first(sess, item, intent, resumed)
