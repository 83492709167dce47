"""The composite command's phases: the undo is derived from the phases that
started, newest first; past the point of no return nothing is undone."""

from __future__ import annotations

from typing import Any

import pytest

from bluegreen.lifecycle.pipeline import Phase, PhaseFailed, run_phases


def _phases(log: list[str], fail: str | None, *, done: tuple[str, ...] = ()) -> list[Phase]:
    def step(name: str) -> Any:
        def run() -> dict[str, Any] | None:
            log.append(f"run {name}")
            if name == fail:
                raise RuntimeError(name)
            return {"command": name}

        return run

    def undo(name: str) -> Any:
        def back() -> list[str]:
            log.append(f"undo {name}")
            return [f"undid {name}"]

        return back

    return [
        Phase("deploy", step("deploy"), undo("deploy"), done="deploy" in done),
        Phase("switch", step("switch"), undo("switch"), done="switch" in done),
        Phase("checks", step("checks")),
        Phase("clean", step("clean"), irreversible=True),
    ]


def test_a_failure_undoes_the_started_phases_newest_first() -> None:
    log: list[str] = []
    told: list[str] = []
    with pytest.raises(PhaseFailed) as e:
        run_phases(_phases(log, "checks"), lambda: told.append("undoing"))
    assert log == ["run deploy", "run switch", "run checks", "undo switch", "undo deploy"]
    assert e.value.phase == "checks" and e.value.undone == ["undid switch", "undid deploy"]
    assert [r["command"] for r in e.value.results] == ["deploy", "switch"]
    assert told == ["undoing"]


def test_a_failing_phase_is_undone_too_and_later_ones_never_run() -> None:
    log: list[str] = []
    with pytest.raises(PhaseFailed) as e:
        run_phases(_phases(log, "deploy"))
    assert log == ["run deploy", "undo deploy"] and e.value.results == []


def test_past_the_point_of_no_return_nothing_is_undone() -> None:
    log: list[str] = []
    with pytest.raises(PhaseFailed) as e:
        run_phases(_phases(log, "clean"))
    assert e.value.undone is None
    assert log == ["run deploy", "run switch", "run checks", "run clean"]  # no undo


def test_phases_done_by_an_interrupted_run_are_skipped_but_still_undone() -> None:
    log: list[str] = []
    with pytest.raises(PhaseFailed) as e:
        run_phases(_phases(log, "checks", done=("deploy", "switch")))
    assert log == ["run checks", "undo switch", "undo deploy"]
    assert e.value.undone == ["undid switch", "undid deploy"]


def test_an_undo_that_fails_is_reported_not_raised_over_the_cause() -> None:
    phases = [
        Phase("deploy", lambda: None, lambda: (_ for _ in ()).throw(ValueError("stuck"))),
        Phase("switch", lambda: (_ for _ in ()).throw(RuntimeError("boom"))),
    ]
    with pytest.raises(PhaseFailed) as e:
        run_phases(phases)
    assert isinstance(e.value.error, RuntimeError) and isinstance(e.value.undone, ValueError)
