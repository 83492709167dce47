"""Run a plan. ``--dry-run`` swaps in ``DryRunExecutor``, which only prints."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from bluegreen.steps import Context, Step


@dataclass(frozen=True)
class Plan:
    """What a command will do: steps in order, and what undoes them on failure."""

    command: str
    steps: tuple[Step, ...]
    summary: str = ""
    on_failure: tuple[Step, ...] = ()
    notes: tuple[str, ...] = ()
    facts: dict[str, object] = field(default_factory=dict)

    def describe(self) -> list[str]:
        return [s.describe() for s in self.steps]


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


class DryRunExecutor(Executor):
    """Prints each step; calls nothing that changes AWS."""

    def run(self, steps: Sequence[Step]) -> list[tuple[Step, str]]:
        for i, step in enumerate(steps, 1):
            self.ctx.reporter.info(f"would [{i}/{len(steps)}] {step.describe()}")
            self.done.append((step, "dry run"))
        return self.done
