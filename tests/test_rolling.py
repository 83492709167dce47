"""The ``rolling`` strategy (the seed's autoscaling group updating): one
fixed group per environment, new launch template versions, instances replaced
one at a time; a failed replacement puts the previous release back."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conftest import client, records, register_images, run
from observer import Observer

Unchanged = Callable[..., contextlib.AbstractContextManager[None]]
LB1 = "londontamed-com-production-1"  # live after init
LB2 = "londontamed-com-production-2"  # staging after init


LATENCY = 0.02  # seconds added to each AWS call of a command under observation


def use_rolling(tmp_path: Path) -> None:
    """Add the strategy to ``bluegreen.toml`` (which may say ``load_balancer``)."""
    conf = tmp_path / "bluegreen.toml"
    before = conf.read_text() if conf.exists() else ""
    conf.write_text(before + 'strategy = "rolling"\ntimeout = "120s"\n')


@pytest.fixture
def rolling(site: dict[str, str], tmp_path: Path) -> dict[str, str]:
    use_rolling(tmp_path)
    return site


@pytest.fixture
def rolling_any(kind: str, site: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """``rolling`` with v1 in both groups, on classic load balancers and on ALBs."""
    use_rolling(tmp_path)
    for args in (("deploy", "--version", "v1"), ("switch",)):
        r = run(*args)
        assert r.code == 0, r.err
    return site


@pytest.fixture
def rolling_live_v1(rolling: dict[str, str]) -> dict[str, str]:
    """v1 in both groups (deploy creates staging, the first switch creates live)."""
    for args in (("deploy", "--version", "v1"), ("switch",)):
        r = run(*args)
        assert r.code == 0, r.err
    return rolling


def group(url: str, name: str) -> dict[str, Any]:
    gs = client(url, "autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[name])
    assert len(gs["AutoScalingGroups"]) == 1
    g: dict[str, Any] = gs["AutoScalingGroups"][0]
    return g


def images(url: str, name: str) -> dict[str, str]:
    """instance id -> image, of the group's instances."""
    ids = [i["InstanceId"] for i in group(url, name)["Instances"]]
    res = client(url, "ec2").describe_instances(InstanceIds=ids)["Reservations"]
    return {i["InstanceId"]: i["ImageId"] for r in res for i in r["Instances"]}


def healthy(url: str, name: str) -> set[str]:
    """Instances healthy in the group's load balancer (classic) or target group (ALB)."""
    g = group(url, name)
    if g.get("LoadBalancerNames"):
        lb = g["LoadBalancerNames"][0]
        states = client(url, "elb").describe_instance_health(LoadBalancerName=lb)
        return {s["InstanceId"] for s in states["InstanceStates"] if s["State"] == "InService"}
    (tg,) = g["TargetGroupARNs"]
    health = client(url, "elbv2").describe_target_health(TargetGroupArn=tg)
    return {
        d["Target"]["Id"]
        for d in health["TargetHealthDescriptions"]
        if d["TargetHealth"]["State"] == "healthy"
    }


def tags(url: str, name: str) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in group(url, name).get("Tags", [])}


def stop_first_replacement(url: str, name: str) -> tuple[str, Callable[..., None]]:
    """A hook that stops the instance launched by the first terminate-in-group
    call: that replacement never becomes healthy."""
    seen = {i["InstanceId"] for i in group(url, name)["Instances"]}
    calls = []

    def hook(**kwargs: Any) -> None:
        calls.append(1)
        if len(calls) != 1:
            return
        now = {i["InstanceId"] for i in group(url, name)["Instances"]}
        fresh = sorted(now - seen)
        assert fresh, "the emulator launched no replacement"
        client(url, "ec2").stop_instances(InstanceIds=fresh)

    return "after-call.autoscaling.TerminateInstanceInAutoScalingGroup", hook


def test_first_deploy_and_switch_create_the_fixed_groups(rolling: dict[str, str], aws: str) -> None:
    pub, priv = records(aws, private=False), records(aws, private=True)
    r = run("deploy", "--version", "v1")
    assert r.code == 0, r.err
    g = group(aws, LB2)
    assert g["LoadBalancerNames"] == [LB2]
    assert g["LaunchTemplate"]["LaunchTemplateName"] == LB2
    assert g["LaunchTemplate"]["Version"] == "1"
    assert set(images(aws, LB2).values()) == {rolling["v1"]}

    r = run("switch")
    assert r.code == 0, r.err
    g = group(aws, LB1)
    assert g["LoadBalancerNames"] == [LB1] and g["LaunchTemplate"]["Version"] == "1"
    assert set(images(aws, LB1).values()) == {rolling["v1"]}
    assert healthy(aws, LB1) == set(images(aws, LB1))
    # the records never move
    assert records(aws, private=False) == pub and records(aws, private=True) == priv
    data = run("--output", "json", "status").json()
    assert data["strategy"] == "rolling" and data["problems"] == []
    assert data["live"]["asg"] == LB1 and data["live"]["version"] == "v1"


def test_release_cycle_rolls_staging_then_live_then_back(
    rolling_any: dict[str, str], aws: str
) -> None:
    v1, v2 = rolling_any["v1"], rolling_any["v2"]
    pub = records(aws, private=False)
    live_before = images(aws, LB1)
    staging_before = set(images(aws, LB2))

    r = run("deploy", "--version", "v2")
    assert r.code == 0, r.err
    g = group(aws, LB2)
    assert g["LaunchTemplate"]["Version"] == "2"  # a pinned number, never $Latest
    after = images(aws, LB2)
    assert set(after.values()) == {v2} and len(after) == 2
    assert not staging_before & set(after)  # every instance was replaced
    assert healthy(aws, LB2) == set(after)
    assert images(aws, LB1) == live_before  # deploy never touches live
    t = tags(aws, LB2)
    assert t["bluegreen:version"] == "v2" and t["bluegreen:previous-version"] == "v1"
    versions = client(aws, "ec2").describe_launch_template_versions(
        LaunchTemplateName=LB2, Versions=["2"]
    )["LaunchTemplateVersions"][0]["LaunchTemplateData"]
    assert versions["ImageId"] == v2
    assert versions["MetadataOptions"]["HttpTokens"] == "required"  # copied from version 1

    r = run("switch")
    assert r.code == 0, r.err
    assert group(aws, LB1)["LaunchTemplate"]["Version"] == "2"
    assert set(images(aws, LB1).values()) == {v2}
    assert not set(live_before) & set(images(aws, LB1))
    assert records(aws, private=False) == pub
    data = run("--output", "json", "status").json()
    assert data["live"]["version"] == "v2" and data["live"]["healthy"] == 2

    r = run("rollback")
    assert r.code == 0, r.err
    assert group(aws, LB1)["LaunchTemplate"]["Version"] == "1"
    assert set(images(aws, LB1).values()) == {v1}
    assert healthy(aws, LB1) == set(images(aws, LB1))
    assert run("--output", "json", "status").json()["live"]["version"] == "v1"
    assert set(images(aws, LB2).values()) == {v2}  # rollback leaves staging alone


def test_failed_replacement_puts_the_previous_version_back(
    rolling_any: dict[str, str], aws: str
) -> None:
    v1 = rolling_any["v1"]
    r = run("deploy", "--version", "v2", hooks=[stop_first_replacement(aws, LB2)])
    assert r.code == 7, r.err
    assert "did not become healthy" in r.err and "v1 is back" in r.err
    g = group(aws, LB2)
    assert g["LaunchTemplate"]["Version"] == "1"
    assert set(images(aws, LB2).values()) == {v1} and len(images(aws, LB2)) == 2
    assert healthy(aws, LB2) == set(images(aws, LB2))
    assert tags(aws, LB2)["bluegreen:version"] == "v1"


def test_failed_replacement_on_live_never_leaves_it_without_health(
    rolling_live_v1: dict[str, str], aws: str
) -> None:
    v1 = rolling_live_v1["v1"]
    assert run("deploy", "--version", "v2").code == 0
    with Observer(aws, latency=LATENCY) as obs:
        r = run("switch", hooks=[stop_first_replacement(aws, LB1), *obs.hooks])
    assert r.code == 7, r.err
    obs.report("rolling switch with a failed replacement, put back")
    obs.assert_always_serving()
    assert set(images(aws, LB1).values()) == {v1}
    assert healthy(aws, LB1) == set(images(aws, LB1))


def test_interrupted_deploy_is_finished_by_running_it_again(
    rolling_live_v1: dict[str, str], aws: str, unchanged: Unchanged
) -> None:
    v2 = rolling_live_v1["v2"]

    def interrupt(**kwargs: Any) -> None:
        raise KeyboardInterrupt

    hook = ("after-call.autoscaling.TerminateInstanceInAutoScalingGroup", interrupt)
    r = run("deploy", "--version", "v2", hooks=[hook])
    assert r.code == 130, r.err
    assert sorted(images(aws, LB2).values()).count(v2) == 1  # half done

    with unchanged(history=True):  # switch refuses a half-rolled staging
        r = run("switch")
    assert r.code == 3 and "not wholly on v2" in r.err

    r = run("--verbose", "deploy", "--version", "v2")
    assert r.code == 0, r.err
    assert "finishing its rolling update" in r.err
    assert "replaced 1 instance(s)" in r.err
    assert set(images(aws, LB2).values()) == {v2}
    assert group(aws, LB2)["LaunchTemplate"]["Version"] == "2"  # no third version
    assert tags(aws, LB2)["bluegreen:previous-version"] == "v1"


def stop_after_release_tags() -> list[tuple[str, Callable[..., None]]]:
    """Hooks that stop a deploy right after it tags a group with its release
    (the tags PinLaunch writes before the ones it removes)."""
    tagging: list[bool] = []

    def before(params: dict[str, Any], **_: Any) -> None:
        tagging.append(any(t["Key"] == "bluegreen:ami" for t in params.get("Tags", [])))

    def after(**_: Any) -> None:
        if tagging and tagging[-1]:
            raise KeyboardInterrupt

    return [
        ("before-parameter-build.autoscaling.CreateOrUpdateTags", before),
        ("after-call.autoscaling.CreateOrUpdateTags", after),
    ]


def test_deploy_stopped_after_its_tags_leaves_no_stale_version(
    rolling_live_v1: dict[str, str], aws: str
) -> None:
    """Whatever point a deploy stops at, the next run leaves the group's
    version tags those of the release it runs and of the one before."""
    unversioned = register_images(aws, "v9")["v9"]
    client(aws, "ec2").delete_tags(Resources=[unversioned], Tags=[{"Key": "bluegreen:version"}])
    for args, version, previous in (
        (("deploy", "--ami", unversioned), None, "v1"),  # v1 -> a release without version
        (("deploy", "--version", "v2"), "v2", None),  # and from it to v2
    ):
        r = run(*args, hooks=stop_after_release_tags())
        assert r.code == 130, r.err
        r = run(*args)
        assert r.code == 0, r.err
        t = tags(aws, LB2)
        assert t.get("bluegreen:version") == version, t
        assert t.get("bluegreen:previous-version") == previous, t


def test_deploy_dry_run_changes_nothing(
    rolling_live_v1: dict[str, str], unchanged: Unchanged
) -> None:
    with unchanged():
        r = run("deploy", "--version", "v2", "--dry-run")
    assert r.code == 0, r.err
    assert "would [1/2] point londontamed-com-production-2 at a new version" in r.err
    assert "one at a time" in r.err


def test_switch_refuses_a_live_group_of_one(rolling: dict[str, str], unchanged: Unchanged) -> None:
    for args in (("deploy", "--version", "v1", "--capacity", "1"), ("switch",)):
        assert run(*args).code == 0
    assert run("deploy", "--version", "v2").code == 0
    with unchanged():
        r = run("switch")
    assert r.code == 3
    assert "no healthy instance" in r.err and "desired capacity to 2" in r.err


def test_rollback_refuses_without_a_previous_release(
    rolling_live_v1: dict[str, str], unchanged: Unchanged
) -> None:
    with unchanged():
        r = run("rollback")
    assert r.code == 3
    assert "records no previous release" in r.err


def test_switch_refuses_unhealthy_staging(
    rolling_live_v1: dict[str, str], aws: str, unchanged: Unchanged
) -> None:
    assert run("deploy", "--version", "v2").code == 0
    victim = sorted(images(aws, LB2))[0]
    client(aws, "ec2").stop_instances(InstanceIds=[victim])
    with unchanged():
        r = run("switch")
    assert r.code == 3 and victim in r.err


def test_launch_configurations(rolling: dict[str, str], aws: str) -> None:
    v2 = rolling["v2"]
    for args in (
        ("deploy", "--version", "v1", "--launch-configuration"),
        ("switch",),
        ("deploy", "--version", "v2", "--launch-configuration"),
        ("switch",),
    ):
        r = run(*args)
        assert r.code == 0, (args, r.err)
    release = f"londontamed-com-v2-{v2}"
    assert group(aws, LB2)["LaunchConfigurationName"] == release
    assert group(aws, LB1)["LaunchConfigurationName"] == release
    assert set(images(aws, LB1).values()) == {v2}
    r = run("rollback")
    assert r.code == 0, r.err
    assert group(aws, LB1)["LaunchConfigurationName"] == LB2  # the first deploy's
    assert set(images(aws, LB1).values()) == {rolling["v1"]}


def test_observer_sees_health_throughout_a_rolling_switch_and_rollback(
    kind: str, rolling_any: dict[str, str], aws: str
) -> None:
    assert run("deploy", "--version", "v2").code == 0
    for command, ami in (("switch", rolling_any["v2"]), ("rollback", rolling_any["v1"])):
        with Observer(aws, latency=LATENCY) as obs:
            r = run(command, hooks=obs.hooks)
        assert r.code == 0, r.err
        # the observer names an instance's release by its group's tag when it
        # first sees the instance, and rolling keeps one group per environment:
        # it counts the mix of images only by chance; the image checks see it
        obs.report(f"rolling {command} on {kind}")
        obs.assert_always_serving()
        assert set(images(aws, LB1).values()) == {ami}


def test_interrupted_switch_is_finished_and_keeps_the_previous_release(
    rolling_live_v1: dict[str, str], aws: str
) -> None:
    v1, v2 = rolling_live_v1["v1"], rolling_live_v1["v2"]
    assert run("deploy", "--version", "v2").code == 0

    def interrupt(**kwargs: Any) -> None:
        raise KeyboardInterrupt

    hook = ("after-call.autoscaling.TerminateInstanceInAutoScalingGroup", interrupt)
    assert run("switch", hooks=[hook]).code == 130
    assert sorted(images(aws, LB1).values()) == sorted([v1, v2])
    r = run("switch")
    assert r.code == 0, r.err
    assert "finishing its rolling update" in r.err
    assert set(images(aws, LB1).values()) == {v2}
    assert run("rollback").code == 0  # the previous release survived the crash
    assert set(images(aws, LB1).values()) == {v1}


def test_a_lost_response_to_terminating_an_instance_is_not_a_failure(
    rolling_live_v1: dict[str, str], aws: str
) -> None:
    """AWS acted on TerminateInstanceInAutoScalingGroup and its answer was
    lost: botocore sends it again, and AWS now refuses it (the instance is no
    longer InService). The rollout carries on with the replacement."""
    from chaos import Faults

    lost = Faults(rate=0.0, lose_first_response=True, writes=("TerminateInstance",))
    r = run("deploy", "--version", "v2", hooks=[lost.hook()])
    assert r.code == 0, r.err
    assert lost.by_operation["auto-scaling.TerminateInstanceInAutoScalingGroup"] >= 2
    amis = set(images(aws, "londontamed-com-production-2").values())
    assert amis == {rolling_live_v1["v2"]}, amis


def test_terminating_an_instance_already_leaving_is_not_a_failure(
    rolling_live_v1: dict[str, str], aws: str
) -> None:
    """AWS acted on TerminateInstanceInAutoScalingGroup, and the answer that
    reaches bluegreen is AWS's for an instance already on its way out ("not in
    InService or Standby", the instance Terminating): the rollout carries on
    with the replacement."""
    from chaos import _error_response, _forward

    answered: list[str] = []

    def leaving(request: Any, **_: Any) -> Any:
        if answered:
            return None
        _forward(request)  # AWS acts
        answered.append("leaving")
        return _error_response(
            request,
            400,
            "ValidationError",
            "The instance is not in InService or Standby.",
            "query",
        )

    hook = ("before-send.auto-scaling.TerminateInstanceInAutoScalingGroup", leaving)
    r = run("deploy", "--version", "v2", hooks=[hook])
    assert r.code == 0, r.err
    assert answered == ["leaving"]
    amis = set(images(aws, "londontamed-com-production-2").values())
    assert amis == {rolling_live_v1["v2"]}, amis


def test_a_termination_refused_while_a_scaling_activity_runs_is_waited_out(
    rolling_live_v1: dict[str, str], aws: str
) -> None:
    """Auto Scaling refuses TerminateInstanceInAutoScalingGroup while another
    scaling activity of the group is in progress (the previous replacement's
    termination still draining): the rollout tries again on the clock."""
    from bluegreen.clock import FakeClock
    from chaos import Refusal

    busy = Refusal(
        "auto-scaling.TerminateInstanceInAutoScalingGroup",
        "ScalingActivityInProgress",
        "Scaling activities in progress: the operation cannot be performed",
        left=2,
    )
    r = run("deploy", "--version", "v2", hooks=[busy.hook()], clock=FakeClock())
    assert r.code == 0, r.err
    assert busy.left == 0
    assert "scaling activity is still in progress" in r.err + r.out
    assert set(images(aws, "londontamed-com-production-2").values()) == {rolling_live_v1["v2"]}
