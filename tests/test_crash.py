"""Crashes: a command killed between any two AWS calls is finished by
running it again.

For deploy, clean, rollback and switch, and for every k: a forked child runs
the command and is killed with SIGKILL just before its k-th AWS call (so k-1
calls completed); right after the kill no live name may point at a load
balancer without healthy instances; then the same command runs again in this
process and the site must be in exactly the state an uninterrupted run
leaves (ids normalised away: no duplicate group or launch template, the same
capacity, the records at the same load balancers, the lock free).

Each loop alternates two commands that undo each other (deploy v2 / clean,
rollback / switch), so no set-up is repeated between kill points.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from chaos import count_calls, run_killed, shape, unserved_live_names
from conftest import DOMAIN, run


def _crash_loop(
    url: str, first: Sequence[str], second: Sequence[str]
) -> tuple[dict[str, int], dict[str, int]]:
    """Kill ``first`` at every call k, re-run it, compare; the same for
    ``second``; k = 1, 2, ... until neither is killed any more.
    Returns the kill points tried and the calls of an uninterrupted run."""
    argv = {c: ["--domain", DOMAIN, *c] for c in (tuple(first), tuple(second))}
    start = shape(url)
    code, seq = count_calls(argv[tuple(first)])
    assert code == 0
    n_first = len(seq)
    after_first = shape(url)
    code, seq = count_calls(argv[tuple(second)])
    assert code == 0
    n_second = len(seq)
    assert shape(url) == start, "the two commands do not undo each other"
    expected = {tuple(first): after_first, tuple(second): start}
    calls = {" ".join(first): n_first, " ".join(second): n_second}
    tried = {" ".join(first): 0, " ".join(second): 0}
    k = 1
    while True:
        killed_any = False
        for cmd in (tuple(first), tuple(second)):
            killed = run_killed(argv[cmd], k)
            killed_any |= killed
            where = f"{' '.join(cmd)} killed before call {k}"
            assert unserved_live_names(url) == [], where
            if killed:
                tried[" ".join(cmd)] += 1
                r = run(*cmd)
                assert r.code == 0, f"{where}, then re-run: exit {r.code}\n{r.err}"
            got = shape(url)
            assert got == expected[cmd], f"{where}: state differs:\n{_diff(got, expected[cmd])}"
        if not killed_any:
            break
        k += 1
    return tried, calls


def _diff(got: dict[str, Any], want: dict[str, Any]) -> str:
    return "\n".join(
        f"  {key}: got {got.get(key)!r}\n  {' ' * len(key)}  want {want.get(key)!r}"
        for key in sorted(set(got) | set(want))
        if got.get(key) != want.get(key)
    )


def test_deploy_and_clean_killed_at_every_call(live_v1: dict[str, str], aws: str) -> None:
    tried, calls = _crash_loop(aws, ("deploy", "--version", "v2"), ("clean", "--force"))
    # Every call of an uninterrupted run was a kill point.
    assert tried["deploy --version v2"] == calls["deploy --version v2"]
    assert tried["clean --force"] == calls["clean --force"]


def test_rollback_and_switch_killed_at_every_call(both: dict[str, str], aws: str) -> None:
    tried, calls = _crash_loop(aws, ("rollback",), ("switch",))
    assert tried["rollback"] == calls["rollback"]
    assert tried["switch"] == calls["switch"]


def test_clean_killed_between_group_and_launch_configuration(
    live_v1: dict[str, str], aws: str
) -> None:
    """Launch configurations carry no tags: a clean killed right after deleting
    the group is finished through the intent recorded in the lock."""
    deploy = ("deploy", "--version", "v2", "--launch-configuration")
    assert run(*deploy).code == 0
    code, seq = count_calls(["--domain", DOMAIN, "clean", "--force"])
    assert code == 0
    cleaned = shape(aws)
    assert run(*deploy).code == 0
    assert len(shape(aws)["launch_configurations"]) == 1
    k = seq.index("DeleteAutoScalingGroup") + 2  # killed just after that call
    assert run_killed(["--domain", DOMAIN, "clean", "--force"], k)
    assert len(shape(aws)["launch_configurations"]) == 1  # left behind
    r = run("clean", "--force")
    assert r.code == 0, r.err
    assert shape(aws) == cleaned
