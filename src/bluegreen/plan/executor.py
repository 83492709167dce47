"""Run a plan, or print it (``--dry-run`` swaps in ``DryRunExecutor``).

``Executor.run_plan`` runs the plan's steps in order, then:

- when a health gate (``steps.RunChecks``) fails after a step that moved
  traffic, it runs the plan's ``on_failure`` steps (composed by the strategy:
  what undoes the switch) and raises ``RolledBack`` (exit 7), or
  ``RollbackFailed`` (exit 8) when undoing fails too. A gate that fails before
  any traffic moved is a plain refusal (``CheckFailed``, exit 3);
- whatever happened, it runs the plan's ``always`` steps (such as restoring a
  size pinned for the duration of a deploy). Such a step failing while another
  error is on its way only warns, so the first cause is the one reported.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from bluegreen.errors import BluegreenError, CheckFailed, RollbackFailed, RolledBack
from bluegreen.plan.steps import Context, Step


@dataclass(frozen=True)
class Plan:
    """What a command will do: steps in order, and what undoes them on failure."""

    command: str
    steps: tuple[Step, ...]
    summary: str = ""
    on_failure: tuple[Step, ...] = ()
    notes: tuple[str, ...] = ()
    facts: dict[str, object] = field(default_factory=dict)
    always: tuple[Step, ...] = ()  # run after the steps, also when they fail

    def describe(self) -> list[str]:
        return [s.describe() for s in self.steps] + [
            f"finally: {s.describe()}" for s in self.always
        ]


class Executor:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.done: list[tuple[Step, str]] = []

    def run(self, steps: Sequence[Step]) -> list[tuple[Step, str]]:
        for i, step in enumerate(steps, 1):
            self.ctx.reporter.step(f"[{i}/{len(steps)}] {step.describe()}")
            outcome = step.apply(self.ctx)
            self.ctx.reporter.detail(outcome)
            self.done.append((step, outcome))
        return self.done

    def run_plan(self, plan: Plan) -> list[tuple[Step, str]]:
        failed = True
        try:
            try:
                self.run(plan.steps)
            except CheckFailed as e:
                moved = any(s.moves_traffic for s, _ in self.done)
                if not moved or not plan.on_failure:
                    raise
                self._undo(plan, e)
            failed = False
        finally:
            self._always(plan, failed)
        return self.done

    def _undo(self, plan: Plan, cause: CheckFailed) -> None:
        r = self.ctx.reporter
        r.warn(f"{cause.message}: undoing the {plan.command}")
        try:
            self.run(plan.on_failure)
        except BluegreenError as e:
            raise RollbackFailed(
                f"{plan.command}: a check failed after traffic moved, and undoing it failed: "
                f"{e.message}",
                found=f"check: {cause.found or cause.message}; undo: {e.found or e.message}",
                fix="the live names may still point at the release that failed its checks: "
                "run `bluegreen status` now, then `bluegreen switch` to move them back "
                "(or fix the records by hand)",
            ) from e
        raise RolledBack(
            f"{plan.command} undone: a check failed after the switch",
            found=cause.found or cause.message,
            fix="the previous release is live again and the failing one is back in staging; "
            "fix it and deploy again, or check it with `bluegreen status`",
        ) from cause

    def _always(self, plan: Plan, failing: bool) -> None:
        for step in plan.always:
            self.ctx.reporter.step(f"[finally] {step.describe()}")
            try:
                outcome = step.apply(self.ctx)
            except BluegreenError as e:
                if not failing:
                    raise
                self.ctx.reporter.warn(
                    f"could not {step.describe()}: {e.message}; the next bluegreen command "
                    "for this site does it"
                )
                continue
            self.ctx.reporter.detail(outcome)
            self.done.append((step, outcome))


class DryRunExecutor(Executor):
    """Prints each step; calls nothing that changes AWS."""

    def run(self, steps: Sequence[Step]) -> list[tuple[Step, str]]:
        for i, step in enumerate(steps, 1):
            self.ctx.reporter.info(f"would [{i}/{len(steps)}] {step.describe()}")
            self.done.append((step, "dry run"))
        return self.done

    def run_plan(self, plan: Plan) -> list[tuple[Step, str]]:
        self.run(plan.steps)
        for step in plan.always:
            self.ctx.reporter.info(f"would finally {step.describe()}")
            self.done.append((step, "dry run"))
        if plan.on_failure and any(getattr(s, "after_switch", False) for s in plan.steps):
            self.ctx.reporter.info("if a check fails after the switch, would undo it with:")
            for i, step in enumerate(plan.on_failure, 1):
                self.ctx.reporter.info(f"  [{i}/{len(plan.on_failure)}] {step.describe()}")
        return self.done
