"""The history record of a command: who, when, the command, versions and
AMIs of both environments before and after, the result and the duration
(``bluegreen.lifecycle.history`` stores it).

A command finished by a re-run after a kill is recorded once, as itself:
under the history key of the intent in its lock, with the state the first
run saw before."""

from __future__ import annotations

import socket
from typing import Any

from bluegreen.clock import iso
from bluegreen.errors import BluegreenError
from bluegreen.lifecycle import history, lock
from bluegreen.lifecycle.session import Session, snapshot
from bluegreen.model import Group
from bluegreen.observe.checks import Assessment
from bluegreen.plan.executor import Plan

VERSION_KEYS = (
    "live_before",
    "live_ami_before",
    "staging_before",
    "staging_ami_before",
    "live_after",
    "live_ami_after",
    "staging_after",
    "staging_ami_after",
)


def versions_of(entry: dict[str, Any]) -> dict[str, Any]:
    return {k: entry.get(k) for k in VERSION_KEYS if k in entry}


def side(a: Assessment | None, when: str) -> dict[str, Any]:
    """Versions, AMIs and group names of both environments, for history."""
    out: dict[str, Any] = {}
    for role in ("live", "staging"):
        g = getattr(a, f"{role}_group") if a else None
        out[f"{role}_{when}"] = g.version if g else None
        out[f"{role}_ami_{when}"] = g.ami if g else None
        out[f"{role}_group_{when}"] = g.name if g else None
    return out


def _derived_after(before: Assessment, plan: Plan) -> dict[str, Any] | None:
    """After a successful ``dns`` command the state follows from the plan, so
    history costs no extra AWS call: deploy puts the release in staging, a
    switch swaps the roles, clean empties staging. None when it does not follow."""
    Side = tuple[str | None, str | None, str | None]  # version, ami, group name

    def of(g: Group | None) -> Side:
        return (g.version, g.ami, g.name) if g else (None, None, None)

    live, staging = of(before.live_group), of(before.staging_group)
    f = plan.facts
    if plan.command == "deploy" and f.get("release"):
        staging = (_opt(f.get("version")), _opt(f.get("ami")), _opt(f["release"]))
    elif plan.command in ("switch", "rollback") and before.staging is not None:
        if f.get("live") != before.staging.name:
            return None
        live, staging = staging, live
    elif plan.command == "clean":
        staging = (None, None, None)
    else:
        return None
    out: dict[str, Any] = {}
    for role, (version, ami, name) in (("live", live), ("staging", staging)):
        out[f"{role}_after"] = version
        out[f"{role}_ami_after"] = ami
        out[f"{role}_group_after"] = name
    return out


def _opt(v: object) -> str | None:
    return None if v is None else str(v)


def _after(
    sess: Session, before: Assessment | None = None, plan: Plan | None = None
) -> dict[str, Any]:
    """The state after a command, for history: derived from the plan after a
    success of the ``dns`` strategy, else read again (after a failure that is
    when it matters most, and it is rare)."""
    if before is not None and plan is not None and sess.settings.strategy == "dns":
        derived = _derived_after(before, plan)
        if derived is not None:
            return derived
    try:
        _, a = snapshot(sess)
    except BluegreenError as e:
        sess.reporter.detail(f"could not read the state after the command: {e.message}")
        return side(None, "after")
    return side(a, "after")


def target(plan: Plan) -> str | None:
    """What a command acts on, beyond the site: the image (and version) a
    deploy puts in staging. A re-run resumes an interrupted run only of the
    same command and target."""
    if plan.command != "deploy":
        return None
    return f"{plan.facts.get('version') or ''}:{plan.facts.get('ami') or ''}"


def intent(plan: Plan, before: Assessment, started: float) -> dict[str, Any]:
    """What a command records in its lock before it changes anything: enough
    for any later run that takes over after a kill to finish it and to record
    it in history once (same entry, same state before)."""
    return {
        "command": plan.command,
        "target": target(plan),
        **plan.facts,
        "groups_before": {
            "live": before.live_group.name if before.live_group else None,
            "staging": before.staging_group.name if before.staging_group else None,
        },
        "started": started,
        "history_key": history.key(started),
        "before": side(before, "before"),
    }


def entry(
    sess: Session,
    command: str,
    before: Assessment | None,
    started: float,
    outcome: str,
    error: BaseException | None,
    summary: str,
    plan: Plan | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """One history record (see the module's docstring)."""
    out: dict[str, Any] = {
        "command": command,
        "who": lock.whoami(),
        "host": socket.gethostname(),
        "started": started,
        "when": iso(started),
        "duration": round(sess.gw.clock.now() - started, 3),
        "result": outcome,
        "summary": summary,
        "strategy": sess.settings.strategy,
        "error": (error.message if isinstance(error, BluegreenError) else str(error))
        if error
        else None,
        **side(before, "before"),
        **extra,
    }
    out.update(_after(sess, before, plan if outcome == "succeeded" else None))
    out["duration"] = round(sess.gw.clock.now() - started, 3)
    return out


def save(sess: Session, item: dict[str, Any], sk: str | None = None) -> None:
    """Store a history record: with the release of the lock, in one
    transaction, while the command holds it; else on its own."""
    sess.entries.append(item)
    if sess.lock is not None and sess.lock.held:
        sess.lock.record_on_release(history.item(sess.gw, sess.names, item, sk))
        return
    try:
        history.record(sess.gw, sess.names, item, sk)
    except BluegreenError as e:  # history must never fail a deployment
        sess.reporter.warn(f"could not record history: {e.message}")


def save_as_first(
    sess: Session, item: dict[str, Any], intended: dict[str, Any], resumed: bool
) -> None:
    """Save ``item`` under the history key of the lock's ``intended``; for a
    run that resumed a killed one, with the state that the first run saw before."""
    if resumed and isinstance(intended.get("before"), dict):
        item.update(intended["before"])
        item["resumed"] = True
    key = intended.get("history_key")
    save(sess, item, key if isinstance(key, str) else None)
