"""Capacity: a deploy copies the live group's desired capacity and pins its min
size while it runs (restored afterwards, on failure, and after a crash); traffic
never returns to a release with less capacity than it had when it was live."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from conftest import client, records, run

Unchanged = Callable[..., contextlib.AbstractContextManager[None]]
LB1 = "londontamed-com-production-1"
LB2 = "londontamed-com-production-2"
PINNED = "bluegreen:pinned-min"


def group_named(aws: str, version: str) -> dict[str, Any]:
    groups = client(aws, "autoscaling").describe_auto_scaling_groups()["AutoScalingGroups"]
    found = [
        g
        for g in groups
        if any(t["Key"] == "bluegreen:version" and t["Value"] == version for t in g["Tags"])
    ]
    assert len(found) == 1, [g["AutoScalingGroupName"] for g in groups]
    g: dict[str, Any] = found[0]
    return g


def tags(g: dict[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in g.get("Tags", [])}


def resize(aws: str, version: str, **sizes: int) -> None:
    name = group_named(aws, version)["AutoScalingGroupName"]
    params: dict[str, Any] = {"AutoScalingGroupName": name}
    keys = {"min": "MinSize", "desired": "DesiredCapacity", "max": "MaxSize"}
    params.update({keys[k]: v for k, v in sizes.items()})
    client(aws, "autoscaling").update_auto_scaling_group(**params)


def test_deploy_pins_the_live_min_size_while_it_runs(live_v1: dict[str, str], aws: str) -> None:
    resize(aws, "v1", min=1, max=5, desired=3)  # an elastic group that scaled out to 3
    seen: dict[str, Any] = {}

    def spy(**kwargs: Any) -> None:  # runs while the deploy creates the new group
        g = group_named(aws, "v1")
        seen.update(min=g["MinSize"], tag=tags(g).get(PINNED))

    r = run(
        "deploy", "--version", "v2", hooks=[("before-send.autoscaling.CreateAutoScalingGroup", spy)]
    )
    assert r.code == 0, r.err
    assert seen == {"min": 3, "tag": "1"}
    live = group_named(aws, "v1")
    assert live["MinSize"] == 1 and not tags(live).get(PINNED)
    assert group_named(aws, "v2")["DesiredCapacity"] == 3  # copied from live


def test_failed_deploy_restores_the_min_size(live_v1: dict[str, str], aws: str) -> None:
    resize(aws, "v1", min=1, max=5, desired=3)

    def never_healthy(parsed: dict[str, Any], **kwargs: Any) -> None:
        for s in parsed.get("InstanceStates", []):
            s["State"] = "OutOfService"

    r = run(
        "deploy",
        "--version",
        "v2",
        "--timeout",
        "20s",
        hooks=[("after-call.elastic-load-balancing.DescribeInstanceHealth", never_healthy)],
    )
    assert r.code == 5, r.err
    live = group_named(aws, "v1")
    assert live["MinSize"] == 1 and not tags(live).get(PINNED)


def test_a_pin_left_by_a_killed_deploy_is_shown_and_restored_by_the_next_command(
    live_v1: dict[str, str], aws: str
) -> None:
    """The state a deploy killed (SIGKILL) after pinning leaves behind."""
    resize(aws, "v1", min=3, max=5, desired=3)
    name = group_named(aws, "v1")["AutoScalingGroupName"]
    client(aws, "autoscaling").create_or_update_tags(
        Tags=[
            {
                "ResourceId": name,
                "ResourceType": "auto-scaling-group",
                "Key": PINNED,
                "Value": "1",
                "PropagateAtLaunch": False,
            }
        ]
    )
    st = run("--output", "json", "status").json()
    assert any("pinned at 3" in p and "own min is 1" in p for p in st["problems"])
    r = run("clean")  # staging is empty: nothing to clean, but the pin is repaired
    assert r.code == 0, r.err
    assert "restore the min size of" in r.err
    live = group_named(aws, "v1")
    assert live["MinSize"] == 1 and not tags(live).get(PINNED)
    assert run("--output", "json", "status").json()["problems"] == []


def test_rollback_restores_the_capacity_the_release_had_when_live(
    both: dict[str, str], aws: str
) -> None:
    """v2 live, v1 in staging since the last switch (when it had 2 instances).
    v1 was scaled in to 1 while out of traffic, and v2 scaled out to 4 since:
    rollback scales v1 to 4 and waits for 4 healthy before moving traffic."""
    assert tags(group_named(aws, "v1"))["bluegreen:desired-when-live"] == "2"
    resize(aws, "v1", min=1, desired=1)
    resize(aws, "v2", max=6, desired=4)
    dry = run("rollback", "--dry-run")
    assert dry.code == 0, dry.err
    lines = [line for line in dry.err.splitlines() if "would [" in line]
    assert "desired=4" in lines[0] and "wait until 4 instances" in lines[1]
    assert "point www.londontamed.com" in lines[2]
    r = run("rollback")
    assert r.code == 0, r.err
    v1 = group_named(aws, "v1")
    assert v1["DesiredCapacity"] == 4 and len(v1["Instances"]) == 4
    assert all(LB2 in t for t in records(aws, private=False).values())
    st = run("--output", "json", "status").json()
    assert st["live"]["version"] == "v1" and st["live"]["healthy"] == 4


def test_switch_to_a_release_never_live_keeps_its_capacity(
    live_v1: dict[str, str], aws: str
) -> None:
    assert run("deploy", "--version", "v2", "--capacity", "1").code == 0
    r = run("switch")
    assert r.code == 0, r.err
    assert group_named(aws, "v2")["DesiredCapacity"] == 1
