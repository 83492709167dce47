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

from chaos import CrashResult, count_calls, crash_pair, run_killed, shape
from conftest import DOMAIN, run


def rerun(argv: Sequence[str]) -> tuple[int, str]:
    r = run(*argv)
    return r.code, r.err


def every_kill_point_converged(results: dict[str, CrashResult]) -> None:
    for cmd, res in results.items():
        assert res.failures == [], res.failures[0]
        # every call of an uninterrupted run was a kill point, and each converged
        assert res.tried == res.calls == res.converged, (cmd, res)


def test_deploy_and_clean_killed_at_every_call(live_v1: dict[str, str], aws: str) -> None:
    every_kill_point_converged(
        crash_pair(aws, DOMAIN, ("deploy", "--version", "v2"), ("clean", "--yes", "--force"), rerun)
    )


def test_rollback_and_switch_killed_at_every_call(both: dict[str, str], aws: str) -> None:
    every_kill_point_converged(crash_pair(aws, DOMAIN, ("rollback",), ("switch",), rerun))


def test_deploy_killed_after_its_launch_configuration(live_v1: dict[str, str], aws: str) -> None:
    """A deploy killed right after creating its configuration: the re-run's
    create is answered AlreadyExists (as in AWS; moto would replace it), which
    is done, and the deploy ends as an uninterrupted one."""
    deploy = ("deploy", "--version", "v2", "--launch-configuration")
    code, seq = count_calls(["--domain", DOMAIN, *deploy])
    assert code == 0
    deployed = shape(aws)
    assert run("clean", "--yes").code == 0
    assert run_killed(["--domain", DOMAIN, *deploy], seq.index("CreateLaunchConfiguration") + 2)
    killed = shape(aws)
    assert len(killed["launch_configurations"]) == 1
    assert len(killed["groups"]) == len(deployed["groups"]) - 1  # not the release's yet
    r = run("--output", "json", *deploy)
    assert r.code == 0, r.err
    assert r.json()["outcomes"][0] == "already exists"
    assert shape(aws) == deployed


def test_clean_killed_between_group_and_launch_configuration(
    live_v1: dict[str, str], aws: str
) -> None:
    """Launch configurations carry no tags: a clean killed right after deleting
    the group is finished through the intent recorded in the lock."""
    deploy = ("deploy", "--version", "v2", "--launch-configuration")
    assert run(*deploy).code == 0
    code, seq = count_calls(["--domain", DOMAIN, "clean", "--yes", "--force"])
    assert code == 0
    cleaned = shape(aws)
    assert run(*deploy).code == 0
    assert len(shape(aws)["launch_configurations"]) == 1
    k = seq.index("DeleteAutoScalingGroup") + 2  # killed just after that call
    assert run_killed(["--domain", DOMAIN, "clean", "--yes", "--force"], k)
    assert len(shape(aws)["launch_configurations"]) == 1  # left behind
    r = run("clean", "--yes", "--force")
    assert r.code == 0, r.err
    assert shape(aws) == cleaned
