"""Drift and bad state: ``status`` names each problem, and every changing
command refuses on it with nothing changed, or repairs it with ``--force``
where that is safe.

Each test starts from ``both`` (v2 live behind LB1, v1 in staging behind LB2)
so that every command would otherwise have work to do."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable
from typing import Any

import pytest

from bluegreen.clock import FakeClock
from conftest import DOMAIN, client, records, run

Unchanged = Callable[..., contextlib.AbstractContextManager[None]]
LB1 = "londontamed-com-production-1"  # live in ``both``
LB2 = "londontamed-com-production-2"  # staging in ``both``
COMMANDS = (
    ("deploy", "--version", "v3", "--replace"),
    ("switch",),
    ("rollback",),
    ("clean", "--yes"),
)


def problems() -> list[str]:
    r = run("--output", "json", "status")
    assert r.code == 0, r.err
    found = r.json()["problems"]
    assert isinstance(found, list)
    return found


def refuses(unchanged: Unchanged, words: str, commands: Any = COMMANDS, code: int = 3) -> None:
    with unchanged():
        for args in commands:
            r = run(*args)
            assert r.code == code, (args, r.code, r.err)
            assert words in r.err, (args, r.err)


def a_group(aws: str) -> dict[str, Any]:
    g: dict[str, Any] = client(aws, "autoscaling").describe_auto_scaling_groups()[
        "AutoScalingGroups"
    ][0]
    return g


def intruder(aws: str, name: str, load_balancers: list[str]) -> None:
    g = a_group(aws)
    params: dict[str, Any] = {
        "AutoScalingGroupName": name,
        "LaunchTemplate": {
            "LaunchTemplateName": g["LaunchTemplate"]["LaunchTemplateName"],
            "Version": "1",
        },
        "MinSize": 1,
        "MaxSize": 1,
        "DesiredCapacity": 1,
        "VPCZoneIdentifier": g["VPCZoneIdentifier"],
        "Tags": [{"Key": "bluegreen:domain", "Value": DOMAIN, "PropagateAtLaunch": True}],
    }
    if load_balancers:
        params["LoadBalancerNames"] = load_balancers
    client(aws, "autoscaling").create_auto_scaling_group(**params)


def point(aws: str, private: bool, fqdns: list[str], lb: str) -> None:
    r53 = client(aws, "route53")
    zone = next(
        z for z in r53.list_hosted_zones()["HostedZones"] if z["Config"]["PrivateZone"] == private
    )
    dns = client(aws, "elb").describe_load_balancers(LoadBalancerNames=[lb])[
        "LoadBalancerDescriptions"
    ][0]["DNSName"]
    r53.change_resource_record_sets(
        HostedZoneId=zone["Id"],
        ChangeBatch={
            "Changes": [
                {
                    "Action": "UPSERT",
                    "ResourceRecordSet": {
                        "Name": f,
                        "Type": "A",
                        "AliasTarget": {
                            "HostedZoneId": "Z35SXDOTRQ7X7K",
                            "DNSName": "dualstack." + dns,
                            "EvaluateTargetHealth": True,
                        },
                    },
                }
                for f in fqdns
            ]
        },
    )


def test_nothing_there_each_missing_piece_named(aws: str) -> None:
    found = problems()
    assert found[:4] == [
        "the public hosted zone londontamed.com. does not exist",
        "the private hosted zone londontamed.com. does not exist",
        f"load balancer {LB1} does not exist",
        f"load balancer {LB2} does not exist",
    ], found


def test_a_second_public_zone_refused_by_status_and_init(
    live_v1: dict[str, str], aws: str, unchanged: Unchanged
) -> None:
    extra = (
        client(aws, "route53")
        .create_hosted_zone(Name=f"{DOMAIN}.", CallerReference="a-second-public-zone")[
            "HostedZone"
        ]["Id"]
        .split("/")[-1]
    )
    with unchanged():
        for args, then in ((("status",), False), (("init",), True)):
            r = run(*args)
            assert r.code == 3, (args, r.code, r.err)
            assert "2 public and 1 private hosted zones" in r.err, r.err
            assert extra in r.err, r.err  # found: the zones' ids
            assert ("then run `bluegreen init` again" in r.err) == then, r.err


def test_live_records_split_between_load_balancers(
    both: dict[str, str], aws: str, unchanged: Unchanged
) -> None:
    point(aws, False, ["api.londontamed.com."], LB2)
    assert any("live names are split" in p for p in problems())
    refuses(unchanged, "cannot tell which environment is live")


def test_staging_records_split_between_load_balancers(
    both: dict[str, str], aws: str, unchanged: Unchanged
) -> None:
    point(aws, True, ["api-staging.londontamed.com."], LB1)
    assert any("staging names are split" in p for p in problems())
    refuses(unchanged, "cannot tell which environment is live")


def test_staging_names_at_the_live_balancer(
    both: dict[str, str], aws: str, unchanged: Unchanged
) -> None:
    """deploy and clean refuse; switch and rollback finish the interrupted switch."""
    point(aws, True, ["www-staging.londontamed.com.", "api-staging.londontamed.com."], LB1)
    assert any("staging names point at the live load balancer" in p for p in problems())
    refuses(unchanged, "cannot tell which environment is live", COMMANDS[::3])
    pub = records(aws, private=False)
    r = run("rollback")
    assert r.code == 0, r.err
    assert records(aws, private=False) == pub
    assert problems() == []


def test_two_groups_behind_the_live_balancer(
    both: dict[str, str], aws: str, unchanged: Unchanged
) -> None:
    intruder(aws, "intruder", [LB1])
    assert any(f"2 autoscaling groups are behind {LB1}" in p for p in problems())
    # clean refuses too, even with --force: the staging release is the way back while
    # nobody knows which of the live groups serves
    refuses(
        unchanged,
        f"2 autoscaling groups are behind {LB1}",
        (*COMMANDS, ("clean", "--force", "--yes")),
    )


def test_two_groups_behind_staging_refused_then_cleaned_with_force(
    both: dict[str, str], aws: str, unchanged: Unchanged
) -> None:
    intruder(aws, "intruder", [LB2])
    assert any(f"2 autoscaling groups are behind {LB2}" in p for p in problems())
    refuses(unchanged, f"2 autoscaling groups are behind {LB2}", (("switch",), ("clean", "--yes")))
    r = run("clean", "--force", "--yes")
    assert r.code == 0, r.err
    names = [g["AutoScalingGroupName"] for g in a_groups(aws)]
    assert names == [f"londontamed-com-v2-{both['v2']}"]
    assert problems() == []


def a_groups(aws: str) -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = client(aws, "autoscaling").describe_auto_scaling_groups()[
        "AutoScalingGroups"
    ]
    return groups


def test_group_behind_no_balancer_refused_then_cleaned_with_force(
    both: dict[str, str], aws: str, unchanged: Unchanged
) -> None:
    intruder(aws, "londontamed-com-orphan", [])
    assert any("londontamed-com-orphan is behind no load balancer" in p for p in problems())
    refuses(unchanged, "is behind no load balancer")
    r = run("clean", "--force", "--yes")
    assert r.code == 0, r.err
    assert "behind no load balancer" in r.err
    names = [g["AutoScalingGroupName"] for g in a_groups(aws)]
    assert names == [f"londontamed-com-v2-{both['v2']}"]  # the orphan and staging v1 are gone
    assert problems() == []


def test_stray_instance_in_the_live_balancer(
    both: dict[str, str], aws: str, unchanged: Unchanged
) -> None:
    ec2 = client(aws, "ec2")
    subnet = a_group(aws)["VPCZoneIdentifier"].split(",")[0]
    stray = ec2.run_instances(ImageId=both["v1"], MinCount=1, MaxCount=1, SubnetId=subnet)[
        "Instances"
    ][0]["InstanceId"]
    client(aws, "elb").register_instances_with_load_balancer(
        LoadBalancerName=LB1, Instances=[{"InstanceId": stray}]
    )
    assert any(stray in p and "belong to no autoscaling group" in p for p in problems())
    refuses(unchanged, "does not deregister them itself")
    r = run("clean", "--force", "--yes")
    assert r.code == 3 and f"--instances {stray}" in r.err  # not even with --force


@pytest.mark.parametrize("age_hours", [7])
def test_stale_lock(both: dict[str, str], aws: str, unchanged: Unchanged, age_hours: int) -> None:
    clock = FakeClock()
    since = clock.now() - age_hours * 3600
    client(aws, "dynamodb").put_item(
        TableName="bluegreen",
        Item={
            "pk": {"S": f"site#{DOMAIN}"},
            "sk": {"S": "lock"},
            "lock_id": {"S": "0123456789abcdef"},
            "who": {"S": "someone"},
            "host": {"S": "not-" + socket.gethostname()},
            "pid": {"N": "4242"},
            "command": {"S": "deploy"},
            "since": {"N": repr(since)},
        },
    )
    assert any("a stale lock is held" in p and "0123456789abcdef" in p for p in problems())
    refuses(unchanged, "looks stale", code=6)
    with unchanged():
        r = run("clean", "--force", "--yes")
    assert r.code == 6 and "bluegreen unlock --lock-id 0123456789abcdef" in r.err
