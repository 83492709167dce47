"""``switch`` and ``rollback``: swap live and staging (rollback is the same
move back). Traffic moves within the first few requests: the planner reads
only what the move decides on, and Route 53's conditional change batch
checks the rest (see docs/PERFORMANCE.md)."""

from __future__ import annotations

from typing import Any

from bluegreen.commands.additions import completed
from bluegreen.errors import InputError, StateError
from bluegreen.lifecycle import lock, run
from bluegreen.lifecycle.session import Session, snapshot
from bluegreen.model.settings import Settings
from bluegreen.observe.checks import Assessment
from bluegreen.plan.executor import Plan
from bluegreen.plan.strategies import get

GATED_STRATEGIES = ("dns", "lb", "weighted")  # strategies whose switch runs --check/--check-url


def switch(sess: Session, *, rollback: bool = False) -> dict[str, Any]:
    command = "rollback" if rollback else "switch"
    refuse_skipped_gates(sess.settings)

    def explain_refusal() -> None:
        """Route 53 refused the first change batch (the public zone is not as
        the private zone said): observe the whole site, so that the refusal
        says what is wrong, as the planner says it."""
        site, full = snapshot(sess)
        get(sess.settings.strategy).switch(site, full, sess.settings, rollback=rollback)
        # (no refusal: the site looks right now; someone changed the records meanwhile)

    return run.run(
        sess,
        command,
        lambda: plan_switch(sess, rollback=rollback),
        explain_refusal=explain_refusal,
    )


def refuse_skipped_gates(s: Settings) -> None:
    if (s.checks or s.check_urls) and s.strategy not in GATED_STRATEGIES:
        raise InputError(  # a gate that would be skipped must not look as if it ran
            f"checks (--check, --check-url) are not supported by the {s.strategy} strategy",
            fix=f"use the {' or '.join(GATED_STRATEGIES)} strategy, or remove the checks",
        )


def plan_switch(sess: Session, *, rollback: bool = False) -> tuple[Plan, Assessment]:
    """Observe what the move decides on (``snapshot(moving=True)``: the public
    zone is checked by the change batch itself) and plan. Where that refuses,
    observe everything and plan again: a refusal always comes from the whole
    picture (e.g. a switch stopped between its two zones, which only the
    public zone shows, is finished rather than refused)."""
    command = "rollback" if rollback else "switch"
    strategy = get(sess.settings.strategy)
    # weighted rollback: mid-shift it returns all traffic to where the shift
    # started, which only the public zone's weights may show
    weighted_back = rollback and sess.settings.strategy == "weighted"
    site, a = snapshot(sess, moving=not weighted_back)
    for full in (site.public_observed, True):
        if full and not site.public_observed:
            site, a = snapshot(sess)
        done = finished_before_kill(sess.lock, command, a)
        if done is not None:
            return done, a
        try:
            plan = strategy.switch(site, a, sess.settings, rollback=rollback)
        except StateError:
            if full:
                raise
            continue
        return completed(sess, site, a, plan, restrict=False), a
    raise AssertionError("unreachable")  # pragma: no cover


def finished_before_kill(lk: lock.DomainLock | None, command: str, a: Assessment) -> Plan | None:
    """An empty plan when this lock carries on a run of the same command,
    killed after its work was done (and maybe its re-runs too): the release
    that was in staging when the first run planned is live now and the one
    that was live is in staging. Running it again must not swap back. A switch
    stopped half way (for any strategy) does not look like that and is
    finished by the strategy's own plan."""
    before = lk.resumes(command).get("groups_before") if lk else None
    if not isinstance(before, dict) or before.get("staging") is None:
        return None
    if a.live is None or a.staging is None or a.live_group is None:
        return None
    now_staging = a.staging_group.name if a.staging_group else None
    if a.live_group.name != before["staging"] or now_staging != before.get("live"):
        return None
    return Plan(
        command,
        (),
        summary=f"the interrupted {command} had finished: {a.live_group.name} is live "
        f"({a.live.name}) and {now_staging or 'nothing'} is in staging ({a.staging.name})",
        facts={"live": a.live.name, "staging": a.staging.name, "resumed": True},
    )
