"""``release``: deploy, switch and (with ``clean_after``) wait and clean,
holding the domain's lock once for the whole release.

The release is the phases of those commands put in sequence
(``bluegreen.lifecycle.pipeline``), each with its compensation, so a failure
before the point of no return puts the site back the way it was before the
release (see README, "One-command releases"), newest phase first:

- the switch is undone if it happened, even half way (the switch plan's own
  undo steps: the live names back to the old live load balancer, the staging
  names back to staging; strategies without undo steps roll back);
- the new release is deleted if this release created it (a release that was
  already in staging before is left there);
- a previous staging release that ``--replace`` deleted is deployed again
  (same image, version, capacity and launch kind), so the quick rollback path
  the operator had before is restored.

The point of no return is the start of the clean: once the previous release
is being deleted there is nothing to go back to, and a failure then leaves
the new release live and says so.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NoReturn

from bluegreen.clock import iso
from bluegreen.commands.clean import in_use_elsewhere, plan_clean
from bluegreen.commands.deploy import plan_deploy, say_if_untested
from bluegreen.commands.switch import plan_switch, refuse_skipped_gates
from bluegreen.errors import BluegreenError, Interrupted, RollbackFailed, RolledBack, StateError
from bluegreen.images import catalog as images
from bluegreen.lifecycle import records, run
from bluegreen.lifecycle.pipeline import Phase, PhaseFailed, run_phases
from bluegreen.lifecycle.session import Session, snapshot
from bluegreen.model import Group
from bluegreen.observe.checks import Assessment
from bluegreen.plan.executor import Executor, Plan
from bluegreen.plan.steps import DeleteLaunchConfiguration, DeleteLaunchTemplate, Step, Wait
from bluegreen.plan.strategies import Release
from bluegreen.plan.strategies.base import delete_release, require_serving


def release(
    sess: Session,
    *,
    ami: str | None = None,
    version: str | None = None,
    replace: bool = False,
    capacity: int | None = None,
    clean_after: float | None = None,
) -> dict[str, Any]:
    refuse_skipped_gates(sess.settings)
    if clean_after is None:
        clean_after = sess.settings.clean_after
    rel = images.resolve(sess.gw, sess.names, ami=ami, version=version)
    say_if_untested(sess, rel)
    label = rel.version or rel.ami
    if sess.dry_run:
        result = run.execute_phase(
            sess, plan_deploy(sess, rel, replace=replace, capacity=capacity)[0]
        )
        then = ["switch"]
        if clean_after is not None:
            then.append(f"wait {clean_after:.0f}s, then clean the previous release")
        result["command"] = "release"
        result["notes"] = [*result["notes"], "then: " + ", ".join(then)]
        return result

    with run.locked(sess, "release"), run.notified(sess, "release", release=label) as notifier:
        started = sess.gw.clock.now()
        site, before = snapshot(sess)
        # A release killed (maybe more than once) after its switch: finish it
        # from there (its intent says what it had created); one stopped between
        # the switch's two batches finishes the switch first.
        first = sess.lock.resumes("release", rel.name) if sess.lock else {}
        half = before.staging is None and before.live is not None
        switched = bool(first) and (
            half or (before.live_group is not None and runs(before.live_group, rel))
        )
        # rolling keeps one group per environment for good and updates it in
        # place: there is no new group to delete, nor an old one to restore.
        fixed = sess.settings.strategy == "rolling"
        created = site.group(rel.name) is None and not fixed
        if first:
            created = bool(first.get("created"))
        old = before.staging_group
        old_staging = old if old is not None and old.name != rel.name and not fixed else None
        if switched:
            old_staging = None  # the release is live: nothing of staging to restore
        if old_staging is not None and not replace:
            raise StateError(
                f"release: staging ({before.staging.name if before.staging else '?'}) already "
                f"holds release {old_staging.version or old_staging.ami} ({old_staging.name})",
                fix="pass --replace to release over it (it is deployed again if the release "
                "fails), clean it first (`bluegreen clean`), or switch it live",
            )
        intent = first
        if sess.lock is not None and not first:
            intent = sess.lock.record_intent(
                {
                    **records.intent(
                        Plan("release", (), facts={"release": rel.name}), before, started
                    ),
                    "target": rel.name,
                    "created": created,
                }
            )
        books = _Books(
            sess, rel, before, float(intent.get("started", started)), (intent, bool(first))
        )
        switching = _Switch(sess, rel)

        def undo_deploy() -> list[str]:
            return _undo_deploy(sess, rel, created, old_staging)

        def rolling_back() -> None:
            sess.reporter.warn(f"release of {label} failed: rolling back to the state before it")
            notifier.send("rollback", "release", iso(sess.gw.clock.now()), release=rel.name)

        phases = [
            Phase(
                "deploy",
                lambda: run.execute_phase(
                    sess, plan_deploy(sess, rel, replace=replace, capacity=capacity)[0]
                ),
                undo_deploy,
                done=switched,
            ),
            Phase("switch", switching.run, switching.undo, done=switched and not half),
            Phase("checks after switch", lambda: _checks_after_switch(sess, rel)),
        ]
        if clean_after is not None:
            wait = Wait(clean_after, f"the previous release stays ready for {clean_after:.0f}s")
            phases += [
                Phase("wait before clean", lambda: _wait(sess, wait)),
                Phase("checks before clean", lambda: _checks_after_switch(sess, rel)),
                # Not forced: clean waits for whatever is left of the draining
                # time (none, after a --clean-after at least that long).
                Phase(
                    "clean",
                    lambda: run.execute_phase(sess, plan_clean(sess)[0]),
                    irreversible=True,
                ),
            ]
        try:
            results = run_phases(phases, rolling_back)
        except PhaseFailed as f:
            if f.undone is None:
                _clean_failed(books, f)
            _finish_release(books, f)
        entry = books.save("succeeded", None, results, cleaned=clean_after is not None)
        sess.reporter.info(f"release {label} is live")
        return {
            "command": "release",
            "result": "succeeded",
            "summary": entry["summary"],
            "release": rel.name,
            "version": rel.version,
            "ami": rel.ami,
            "phases": results,
            **{k: entry.get(k) for k in records.VERSION_KEYS},
        }


class _Switch:
    """The switch phase: its plan, and the undo derived from it."""

    def __init__(self, sess: Session, rel: Release) -> None:
        self.sess, self.rel = sess, rel
        self.plan: Plan | None = None

    def run(self) -> dict[str, Any]:
        self.plan, _ = plan_switch(self.sess)
        return run.execute_phase(self.sess, self.plan)

    def undo(self) -> list[str]:
        """The switch plan's own undo steps when it moved traffic (even half
        way); a strategy without undo steps rolls back."""
        sess = self.sess
        _, a = snapshot(sess)
        moved = a.live_group is not None and runs(a.live_group, self.rel)
        half = a.staging is None and a.live is not None  # a switch stopped between batches
        if self.plan is not None and (moved or half) and self.plan.on_failure:
            _run_steps(sess, *self.plan.on_failure)
            return ["undid the switch"]
        if moved:
            run.execute_phase(sess, plan_switch(sess, rollback=True)[0])
            return ["rolled the switch back"]
        return []


def _undo_deploy(sess: Session, rel: Release, created: bool, old: Group | None) -> list[str]:
    """Delete the release this release created; deploy again the staging
    release that ``--replace`` deleted."""
    done: list[str] = []
    site, a = snapshot(sess)
    g = site.group(rel.name)
    if created and g is not None:
        if a.live is not None and g.attached_to(a.live):
            raise StateError(
                f"{g.name} still serves the live names: not deleting it",
                fix="run `bluegreen status`, switch back by hand, then `bluegreen clean`",
            )
        _run_steps(sess, *delete_release(g, in_use_elsewhere(sess, {g.name})))
        done.append(f"deleted the new release {g.name}")
    elif created and rel.name not in in_use_elsewhere(sess, {rel.name}):
        # The deploy stopped before its group existed: its launch template
        # (or configuration) may be there on its own.
        outcomes = _run_steps(
            sess, DeleteLaunchTemplate(rel.name), DeleteLaunchConfiguration(rel.name)
        )
        if "deleted" in outcomes:
            done.append(f"deleted the launch template or configuration {rel.name}")
    if old is not None and snapshot(sess)[0].group(old.name) is None:
        if old.ami is None:
            raise StateError(
                f"cannot deploy the previous staging release {old.name} again: "
                "its image is not recorded on it",
                fix="deploy it again by hand with `bluegreen deploy --ami ID`",
            )
        back = images.resolve(sess.gw, sess.names, ami=old.ami, version=old.version)
        saved = sess.settings
        try:
            sess.settings = dataclasses.replace(
                saved, launch_configuration=old.launch_configuration is not None
            )
            run.execute_phase(sess, plan_deploy(sess, back, capacity=old.desired)[0])
        finally:
            sess.settings = saved
        done.append(f"deployed the previous staging release {old.name} again")
    return done


def _wait(sess: Session, wait: Wait) -> None:
    _run_steps(sess, wait)


def _run_steps(sess: Session, *steps: Step) -> list[str]:
    return [o for _, o in Executor(sess.ctx).run(steps)]


def _checks_after_switch(sess: Session, rel: Release) -> None:
    """The new release must be live and every instance of it healthy."""
    _, a = snapshot(sess)
    if a.live is None or a.live_group is None or not runs(a.live_group, rel):
        raise StateError(
            f"release: {rel.name} is not live after the switch",
            found=f"live: {a.live_group.name if a.live_group else 'nothing'}",
            fix="someone may have changed the site at the same time; run `bluegreen status`",
        )
    require_serving(a.live, a.live_group, "release")


def runs(g: Group, rel: Release) -> bool:
    """Whether group ``g`` holds release ``rel``: its own group (dns, weighted)
    or a long-lived group now on its image (rolling)."""
    return g.name == rel.name or (g.ami == rel.ami and g.version == rel.version)


def _summary(rel: Release, phases: list[dict[str, Any]]) -> str:
    done = [p["command"] for p in phases if p.get("result") != "nothing to do"]
    return f"release {rel.version or rel.ami} ({rel.ami}): {', '.join(done) or 'nothing done'}"


@dataclasses.dataclass(frozen=True)
class _Books:
    """The release's one history record, saved under its lock's intent when it
    succeeds or fails (``resuming``: that intent, and whether this run resumed
    a killed one)."""

    sess: Session
    rel: Release
    before: Assessment
    started: float
    resuming: tuple[dict[str, Any], bool]

    def save(
        self,
        outcome: str,
        error: BaseException | None,
        phases: list[dict[str, Any]],
        **extra: Any,
    ) -> dict[str, Any]:
        rel = self.rel
        entry = records.entry(
            self.sess,
            "release",
            self.before,
            self.started,
            outcome,
            error,
            _summary(rel, phases),
            release=rel.name,
            version=rel.version,
            ami=rel.ami,
            **extra,
        )
        records.save_as_first(self.sess, entry, *self.resuming)
        return entry


def _clean_failed(books: _Books, f: PhaseFailed) -> NoReturn:
    """Past the point of no return: the release is live; say so and record it."""
    e, rel = f.error, books.rel
    books.save("failed", e, f.results, phase=f.phase)
    if isinstance(e, BluegreenError):
        e.fix = (
            f"{rel.version or rel.ami} is live; only the clean of the previous release failed. "
            f"Run `bluegreen clean` to finish. {e.fix or ''}"
        ).strip()
    raise e


def _finish_release(books: _Books, f: PhaseFailed) -> NoReturn:
    """Record the failed release and raise what tells the operator where it stands."""
    error, undone, phase, rel = f.error, f.undone, f.phase, books.rel
    ok = not isinstance(undone, BaseException)
    outcome = "rolled back" if ok else "rollback failed"
    undo = undone if ok else f"failed: {getattr(undone, 'message', undone)}"
    books.save(outcome, error, f.results, phase=phase, undo=undo)
    what = getattr(error, "message", None) or type(error).__name__
    if isinstance(undone, BaseException):
        raise RollbackFailed(
            f"release of {rel.version or rel.ami} failed at {phase} ({what}), and rolling "
            f"back failed too: {getattr(undone, 'message', undone)}",
            found=getattr(error, "found", None),
            fix="run `bluegreen status` now: it shows what is live and what is in staging; "
            "switch or clean by hand to reach a safe state",
        ) from error
    note = "; ".join(undone or [])
    if isinstance(error, StateError) and phase.startswith("checks"):
        raise RolledBack(
            f"release of {rel.version or rel.ami}: {phase} failed: {error.message}",
            found=error.found,
            fix=f"the site is back as it was before the release ({note}). {error.fix or ''}",
        ) from error
    if isinstance(error, BluegreenError):
        error.message = f"release of {rel.version or rel.ami} failed at {phase}: {error.message}"
        error.fix = f"the site is back as it was before the release ({note}). {error.fix or ''}"
        error.fix = error.fix.strip()
        raise error
    raise Interrupted(
        f"release of {rel.version or rel.ami} interrupted at {phase}",
        fix=f"the site is back as it was before the release ({note}); run the release again",
    ) from error
