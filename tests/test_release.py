"""``bluegreen release``: deploy, check, switch, [wait, clean] under one lock,
and the roll back to the state before the release on any failure."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse

from bluegreen.clock import FakeClock
from conftest import DOMAIN, client, run, start_emulator


@pytest.fixture(scope="module")
def emulator_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """This module's own emulator, with moto's shared-balancer bug fixed
    (tests/moto_fixed.py): ``--replace`` keeps two groups behind staging."""
    fixed = Path(__file__).parent / "moto_fixed.py"
    yield from start_emulator(tmp_path_factory, [sys.executable, str(fixed)])


Unchanged = Callable[..., contextlib.AbstractContextManager[None]]
LB1 = "londontamed-com-production-1"
LB2 = "londontamed-com-production-2"


def status() -> dict[str, Any]:
    r = run("--output", "json", "status")
    assert r.code == 0, r.err
    data: dict[str, Any] = r.json()
    for role in ("live", "staging"):  # when a group left traffic: not part of "the state"
        if isinstance(data.get(role), dict):
            data[role].pop("out_of_traffic_since", None)
    return data


def groups(url: str) -> list[str]:
    asg = client(url, "autoscaling")
    return sorted(
        g["AutoScalingGroupName"] for g in asg.describe_auto_scaling_groups()["AutoScalingGroups"]
    )


def templates(url: str) -> list[str]:
    lts = client(url, "ec2").describe_launch_templates()["LaunchTemplates"]
    return sorted(t["LaunchTemplateName"] for t in lts)


class _Raw:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self) -> Any:
        yield self.body


def route53_error(**_: Any) -> AWSResponse:
    body = (
        b'<ErrorResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><Error>'
        b"<Type>Sender</Type><Code>InvalidChangeBatch</Code><Message>injected fault</Message>"
        b"</Error><RequestId>1</RequestId></ErrorResponse>"
    )
    return AWSResponse("https://route53", 400, {}, _Raw(body))


def nth_call_fails(n: int, fault: Callable[..., Any]) -> Callable[..., Any]:
    calls = {"n": 0}

    def handler(**kwargs: Any) -> Any:
        calls["n"] += 1
        return fault(**kwargs) if calls["n"] == n else None

    return handler


def stop_group_instances(url: str, group_prefix: str) -> Callable[..., None]:
    """A fault: the instances of the new release stop (never healthy)."""

    def handler(**kwargs: Any) -> None:
        asg = client(url, "autoscaling")
        ids = [
            i["InstanceId"]
            for g in asg.describe_auto_scaling_groups()["AutoScalingGroups"]
            if g["AutoScalingGroupName"].startswith(group_prefix)
            for i in g["Instances"]
        ]
        if ids:
            client(url, "ec2").stop_instances(InstanceIds=ids)

    return handler


def test_first_release_goes_live(site: dict[str, str], aws: str) -> None:
    r = run("--output", "json", "release", "--version", "v1")
    assert r.code == 0, r.err
    data = r.json()
    assert data["command"] == "release" and data["result"] == "succeeded"
    assert data["live_after"] == "v1" and data["live_before"] is None
    assert [p["command"] for p in data["phases"]] == ["deploy", "switch"]
    st = status()
    assert st["live"]["version"] == "v1" and st["live"]["healthy"] == 2
    assert st["staging"]["asg"] is None
    assert st["made_live_with"] == "release" and st["made_live_by"]
    hist = run("--output", "json", "history").json()
    assert [e["command"] for e in hist] == ["release"]  # one entry, not one per phase
    assert hist[0]["live_ami_after"] == site["v1"] and hist[0]["result"] == "succeeded"


def test_release_with_clean_after_waits_then_cleans(live_v1: dict[str, str], aws: str) -> None:
    clock = FakeClock()
    r = run("release", "--version", "v2", "--clean-after", "5m", clock=clock)
    assert r.code == 0, r.err
    assert sum(clock.slept) >= 300
    assert "the previous release stays ready for 300s" in r.err
    st = status()
    assert st["live"]["version"] == "v2" and st["staging"]["asg"] is None
    assert groups(aws) == [f"londontamed-com-v2-{live_v1['v2']}"]
    assert templates(aws) == [f"londontamed-com-v2-{live_v1['v2']}"]


def test_release_refuses_over_a_staging_release_without_replace(
    both: dict[str, str], unchanged: Unchanged
) -> None:
    with unchanged():
        r = run("release", "--version", "v3")
    assert r.code == 3
    assert "already holds release v1" in r.err and "--replace" in r.err


def test_release_replace(both: dict[str, str], aws: str) -> None:
    r = run("release", "--version", "v3", "--replace")
    assert r.code == 0, r.err
    st = status()
    assert st["live"]["version"] == "v3" and st["staging"]["version"] == "v2"
    assert f"londontamed-com-v1-{both['v1']}" not in groups(aws)


def test_failed_deploy_rolls_back_to_empty_staging(live_v1: dict[str, str], aws: str) -> None:
    before = status()
    hook = stop_group_instances(aws, "londontamed-com-v2-")
    r = run(
        "release",
        "--version",
        "v2",
        "--timeout",
        "30s",
        hooks=[("after-call.autoscaling.CreateAutoScalingGroup", hook)],
    )
    assert r.code == 5, r.err  # timed out, and rolled back
    assert "release of v2 failed at deploy" in r.err
    assert "back as it was before the release" in r.err
    after = status()
    assert after["live"] == before["live"] and after["staging"]["asg"] is None
    assert groups(aws) == [f"londontamed-com-v1-{live_v1['v1']}"]
    assert templates(aws) == [f"londontamed-com-v1-{live_v1['v1']}"]
    entry = run("--output", "json", "history", "--limit", "1").json()[0]
    assert entry["command"] == "release" and entry["result"] == "rolled back"
    assert entry["phase"] == "deploy" and entry["live_after"] == "v1"


def test_failed_switch_restores_live_and_the_replaced_staging_release(
    both: dict[str, str], aws: str
) -> None:
    """The private batch of the switch fails: the live names had moved already.
    The undo moves them back, deletes v3 and deploys v1 (replaced) again."""
    before = status()
    hook = nth_call_fails(2, route53_error)
    r = run(
        "release",
        "--version",
        "v3",
        "--replace",
        hooks=[("before-send.route53.ChangeResourceRecordSets", hook)],
    )
    assert r.code == 4, r.err
    assert "failed at switch" in r.err
    after = status()
    assert after["problems"] == []
    assert after["live"] == before["live"]
    assert after["staging"]["version"] == "v1"
    assert after["staging"]["load_balancer"] == before["staging"]["load_balancer"]
    assert after["staging"]["healthy"] == 2
    assert groups(aws) == sorted(
        [f"londontamed-com-v1-{both['v1']}", f"londontamed-com-v2-{both['v2']}"]
    )
    entry = run("--output", "json", "history", "--limit", "1").json()[0]
    assert entry["result"] == "rolled back"
    assert any("deployed the previous staging release" in u for u in entry["undo"])


def test_check_after_switch_fails_and_the_switch_is_undone(
    live_v1: dict[str, str], aws: str
) -> None:
    before = status()
    # Once the live names point at v2, its instances stop: the check after the switch fails.
    hook = nth_call_fails(1, stop_group_instances(aws, "londontamed-com-v2-"))
    r = run(
        "release",
        "--version",
        "v2",
        hooks=[("after-call.route53.ChangeResourceRecordSets", hook)],
    )
    assert r.code == 7, r.err
    assert "checks after switch failed" in r.err
    after = status()
    assert after["live"] == before["live"]
    assert after["staging"]["asg"] is None
    assert groups(aws) == [f"londontamed-com-v1-{live_v1['v1']}"]


def test_release_dry_run_changes_nothing(live_v1: dict[str, str], unchanged: Unchanged) -> None:
    with unchanged():
        r = run(
            "--output", "json", "release", "--version", "v2", "--dry-run", "--clean-after", "1m"
        )
    assert r.code == 0, r.err
    data = r.json()
    assert data["result"] == "dry run"
    assert any("then: switch, wait 60s" in n for n in data["notes"])


def test_release_holds_the_lock_once(live_v1: dict[str, str]) -> None:
    takes: list[str] = []

    def count(params: dict[str, Any], **_: Any) -> None:
        # an acquisition, not the intent written into the held lock
        acquiring = params.get("ConditionExpression", "").startswith("attribute_not_exists")
        if params.get("Item", {}).get("sk", {}).get("S") == "lock" and acquiring:
            takes.append(params["Item"]["command"]["S"])

    r = run(
        "-v",
        "release",
        "--version",
        "v2",
        hooks=[("before-parameter-build.dynamodb.PutItem", count)],
    )
    assert r.code == 0, r.err
    assert takes == ["release"]
    st = status()
    assert st["lock"] is None and st["live"]["version"] == "v2"
    assert st["domain"] == DOMAIN


@pytest.mark.parametrize("strategy", ["rolling", "weighted"])
def test_release_with_other_strategies(site: dict[str, str], strategy: str) -> None:
    for version in ("v1", "v2"):
        r = run("--strategy", strategy, "release", "--version", version, "--replace")
        assert r.code == 0, r.err
    st = run("--strategy", strategy, "--output", "json", "status").json()
    assert st["live"]["version"] == "v2" and st["live"]["healthy"] == 2
    assert st["problems"] == []


class _StopDuringCountdown(FakeClock):
    """Ctrl-C one minute into a long wait (the --clean-after countdown)."""

    def sleep(self, seconds: float) -> None:
        super().sleep(seconds)
        if sum(self.slept) > 60:
            raise KeyboardInterrupt


def test_stopping_the_countdown_rolls_back(live_v1: dict[str, str], aws: str) -> None:
    before = status()
    r = run("release", "--version", "v2", "--clean-after", "10m", clock=_StopDuringCountdown())
    assert r.code == 130, r.err
    assert "interrupted at wait before clean" in r.err
    after = status()
    assert after["live"] == before["live"] and after["staging"]["asg"] is None
    assert groups(aws) == [f"londontamed-com-v1-{live_v1['v1']}"]
