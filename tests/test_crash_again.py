"""Crashes of re-runs: a command killed, its re-run killed too (and the next),
is finished by the next plain run, as if it had been killed once.

Each chain kills the command at one point, the run that takes over its lock
at another, and so on; then a plain run. The site must end in the state of an
uninterrupted run (no swap-back, nothing left over), no live name may ever
point at a load balancer without healthy instances, and the command must be
in history exactly once. Kill points are named by operation:
("TransactWriteItems", 1) is the release of a run's lock together with its
history record, the moment after its last change and before it exits (the
record and the release are one transaction, so "before the history" and
"before the exit" are the same point). The full sweep of every pair of kill points
runs in ``make reliability``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from chaos import (
    ChainResult,
    KillPoint,
    chains_pair,
    count_calls,
    kill_chain,
    run_killed,
    shape,
)
from conftest import DOMAIN, client, run

BEFORE_EXIT: KillPoint = ("TransactWriteItems", 1)  # history and the lock's release
BEFORE_HISTORY: KillPoint = BEFORE_EXIT  # one transaction with the release


def rerun(argv: Sequence[str]) -> tuple[int, str]:
    r = run(*argv)
    return r.code, r.err


def all_converged(results: dict[str, ChainResult], chains: int) -> None:
    for cmd, res in results.items():
        assert res.failures == [], res.failures[0]
        assert res.tried == res.converged == chains, (cmd, res)


def test_switch_and_rollback_killed_after_the_change_then_again(
    both: dict[str, str], aws: str
) -> None:
    """The switch (rollback) killed after its Route 53 changes, or between the
    public and the private batch; its re-run, which finds it finished, killed
    before it records or before it exits; a third run must not swap back."""
    chains: list[list[KillPoint]] = [
        [BEFORE_HISTORY, BEFORE_EXIT],  # after every change, before history
        [("ChangeResourceRecordSets", 2), BEFORE_EXIT],  # between the batches
        [("ChangeResourceRecordSets", 2), ("ChangeResourceRecordSets", 1), BEFORE_EXIT],
        [BEFORE_HISTORY, BEFORE_HISTORY, BEFORE_EXIT],
    ]
    all_converged(
        chains_pair(aws, DOMAIN, ("rollback",), ("switch",), rerun, lambda _: chains), len(chains)
    )


def test_deploy_and_clean_killed_then_killed_again(live_v1: dict[str, str], aws: str) -> None:
    _, deploy_seq = count_calls(["--domain", DOMAIN, "deploy", "--version", "v2"])
    _, clean_seq = count_calls(["--domain", DOMAIN, "clean", "--yes", "--force"])
    after_group = deploy_seq.index("CreateAutoScalingGroup") + 2
    after_delete = clean_seq.index("DeleteAutoScalingGroup") + 2

    def chains(command: tuple[str, ...]) -> list[list[KillPoint]]:
        k = after_group if command[0] == "deploy" else after_delete
        return [[k, BEFORE_EXIT], [k, 3, BEFORE_HISTORY], [k, BEFORE_HISTORY, BEFORE_EXIT]]

    deploy, clean = ("deploy", "--version", "v2"), ("clean", "--yes", "--force")
    all_converged(chains_pair(aws, DOMAIN, deploy, clean, rerun, chains), 3)


def test_clean_of_a_launch_configuration_killed_twice(live_v1: dict[str, str], aws: str) -> None:
    """Launch configurations carry no tags: only the intent of the first clean
    names the one left after its group was deleted, and every re-run keeps it."""
    deploy = ("deploy", "--version", "v2", "--launch-configuration")
    clean = ("clean", "--yes", "--force")
    assert run(*deploy).code == 0
    code, seq = count_calls(["--domain", DOMAIN, *clean])
    assert code == 0
    cleaned = shape(aws)
    k = seq.index("DeleteAutoScalingGroup") + 2  # just after deleting the group
    chains: list[list[KillPoint]] = [
        [k, ("DeleteLaunchConfiguration", 1)],
        [k, ("DeleteLaunchConfiguration", 1), ("DeleteLaunchConfiguration", 1)],
        [k, BEFORE_EXIT, BEFORE_EXIT],
    ]
    for chain in chains:
        assert run(*deploy).code == 0
        killed, failure = kill_chain(aws, DOMAIN, clean, chain, cleaned, rerun)
        assert failure == "" and killed == len(chain), (chain, failure)


def test_weighted_switch_killed_mid_shift_then_again(
    live_v1: dict[str, str], aws: str, tmp_path: Path
) -> None:
    """A shift killed between two weight steps, its resumed shift killed at the
    next step and before it exits: the plain run ends it like an uninterrupted one."""
    conf = tmp_path / "bluegreen.toml"
    before = conf.read_text() if conf.exists() else ""
    conf.write_text(before + 'strategy = "weighted"\nsteps = [10, 50, 100]\ninterval = "30s"\n')

    def chains(command: tuple[str, ...]) -> list[list[KillPoint]]:
        if command == ("switch",):  # 10%, 50%, 100% of the live names, then staging
            return [
                [("ChangeResourceRecordSets", 2), ("ChangeResourceRecordSets", 2), BEFORE_EXIT],
                [("ChangeResourceRecordSets", 3), BEFORE_HISTORY, BEFORE_EXIT],
            ]
        return [  # the rollback swaps back at once: live names, then staging
            [("ChangeResourceRecordSets", 2), BEFORE_HISTORY, BEFORE_EXIT],
            [BEFORE_HISTORY, BEFORE_HISTORY, BEFORE_EXIT],
        ]

    assert run("deploy", "--version", "v2").code == 0
    results = chains_pair(aws, DOMAIN, ("switch",), ("rollback",), rerun, chains)
    all_converged(results, 2)


def test_status_reports_what_a_killed_clean_left(
    live_v1: dict[str, str], aws: str, tmp_path: Path
) -> None:
    """A clean killed after deleting the group, its lock broken by hand: status
    names the launch template (or configuration) that no group uses."""
    clean = ["--domain", DOMAIN, "clean", "--yes", "--force"]
    for kind in ("launch template", "configuration"):
        if kind == "configuration":  # configurations are looked up for such sites only
            conf = tmp_path / "bluegreen.toml"
            before = conf.read_text() if conf.exists() else ""
            conf.write_text(before + "launch_configuration = true\n")
        assert run("deploy", "--version", "v2").code == 0
        _, seq = count_calls(clean)
        assert run("deploy", "--version", "v2").code == 0
        assert run_killed(clean, seq.index("DeleteAutoScalingGroup") + 2)
        lock_id = run("--output", "json", "status").json()["lock"]["lock_id"]
        assert run("unlock", "--lock-id", lock_id).code == 0
        r = run("--output", "json", "status")
        left = [p for p in r.json()["problems"] if "left over" in p]
        assert len(left) == 1 and kind in left[0] and "londontamed-com-v2" in left[0], left
        if kind == "launch template":
            assert run("clean", "--yes").code == 0  # deletes it, as status says
        else:
            client(aws, "autoscaling").delete_launch_configuration(
                LaunchConfigurationName=left[0].split()[2]
            )
        r = run("--output", "json", "status")
        assert not [p for p in r.json()["problems"] if "left over" in p]
