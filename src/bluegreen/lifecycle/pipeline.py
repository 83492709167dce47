"""A composite command as a sequence of phases, each with its compensation.

Each ``Phase`` plans when its turn comes, from the site as the phases before
it left it, and executes (with ``run.execute_phase``). When a phase fails,
the ``undo`` of every phase that had started runs, newest first: the undo of
the whole is derived from its phases (Spinnaker's onFailure stages), never
written a second time. A phase marked ``irreversible`` is the point of no
return: once it starts, a failure undoes nothing and says so.

A run that resumes an interrupted one marks the phases that run had finished
as ``done``: they are not run again, and their undo still applies.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass
class Phase:
    name: str
    run: Callable[[], dict[str, Any] | None]  # plan and execute; the result, if a plan ran
    undo: Callable[[], list[str]] | None = None  # what it did to put things back
    done: bool = False
    irreversible: bool = False


class PhaseFailed(Exception):
    """Phase ``phase`` failed with ``error``; ``undone`` is what the undo did,
    or the error that stopped it, or None past the point of no return;
    ``results``: those of the phases that had finished."""

    def __init__(
        self,
        phase: str,
        error: BaseException,
        undone: list[str] | BaseException | None,
        results: list[dict[str, Any]],
    ) -> None:
        super().__init__(phase)
        self.phase, self.error, self.undone, self.results = phase, error, undone, results


def run_phases(
    phases: list[Phase], before_undo: Callable[[], None] = lambda: None
) -> list[dict[str, Any]]:
    """Run the phases in order and return the results of the plans they ran.
    On failure raise ``PhaseFailed``, after the undo (``before_undo`` first)."""
    results: list[dict[str, Any]] = []
    started = [p for p in phases if p.done]
    for phase in phases:
        if phase.done:
            continue
        if not phase.irreversible:
            started.append(phase)
        try:
            out = phase.run()
        except BaseException as e:
            if phase.irreversible:
                raise PhaseFailed(phase.name, e, None, results) from e
            before_undo()
            raise PhaseFailed(phase.name, e, _undo(started), results) from e
        if out is not None:
            results.append(out)
    return results


def _undo(started: list[Phase]) -> list[str] | BaseException:
    done: list[str] = []
    try:
        for phase in reversed(started):
            if phase.undo is not None:
                done += phase.undo()
    except BaseException as e:
        return e
    return done or ["nothing had changed"]
