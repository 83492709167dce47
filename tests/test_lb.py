"""The ``lb`` strategy (the seed's autoscaling group switching), on classic load
balancers and on one application load balancer with two target groups: the
live names never move; releases move between balancers (classic) or the
listeners move between target groups (ALB)."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bluegreen import api
from bluegreen.clock import FakeClock
from conftest import client, records, register_images, run, session, start_emulator
from observer import Observer

Unchanged = Callable[..., contextlib.AbstractContextManager[None]]
LB1 = "londontamed-com-production-1"
LB2 = "londontamed-com-production-2"
TG1 = "londontamed-com-tg-1"
TG2 = "londontamed-com-tg-2"


@pytest.fixture(scope="module")
def emulator_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """This module's own emulator: moto with its classic detach bug fixed
    (tests/moto_fixed.py), so that attachments behave as in AWS."""
    fixed = Path(__file__).parent / "moto_fixed.py"
    yield from start_emulator(tmp_path_factory, [sys.executable, str(fixed)])


@pytest.fixture(params=["classic", "alb"])
def lb(request: pytest.FixtureRequest, aws: str, tmp_path: Path) -> dict[str, str]:
    """An initialised ``lb`` site (strategy and load balancer kind in
    bluegreen.toml) with images v1, v2 and v3; returns the images and ``kind``."""
    kind = str(request.param)
    (tmp_path / "bluegreen.toml").write_text(f'strategy = "lb"\nload_balancer = "{kind}"\n')
    r = run("init")
    assert r.code == 0, r.err
    return {"kind": kind, **register_images(aws, "v1", "v2", "v3")}


def status() -> dict[str, Any]:
    r = run("--output", "json", "status")
    assert r.code == 0, r.err
    data = r.json()
    assert isinstance(data, dict)
    return data


def serving(kind: str) -> tuple[str, str]:
    """The (live, staging) environment names as status shows them."""
    data = status()
    key = "target_group" if kind == "alb" else "load_balancer"
    return data["live"][key], data["staging"][key]


def ok(*args: str, **kw: Any) -> str:
    r = run(*args, **kw)
    assert r.code == 0, r.err
    return r.err


def test_lb_init_on_alb_makes_one_balancer_with_two_target_groups(aws: str, tmp_path: Path) -> None:
    r = run("init", "--strategy", "lb", "--load-balancer", "alb")
    assert r.code == 0, r.err
    v2 = client(aws, "elbv2")
    lbs = v2.describe_load_balancers()["LoadBalancers"]
    assert [lb["LoadBalancerName"] for lb in lbs] == [LB1]
    tgs = {
        t["TargetGroupName"]: t["TargetGroupArn"]
        for t in v2.describe_target_groups()["TargetGroups"]
    }
    assert sorted(tgs) == [TG1, TG2]
    (listener,) = v2.describe_listeners(LoadBalancerArn=lbs[0]["LoadBalancerArn"])["Listeners"]
    assert listener["DefaultActions"][0]["TargetGroupArn"] == tgs[TG1]
    rules = [
        r
        for r in v2.describe_rules(ListenerArn=listener["ListenerArn"])["Rules"]
        if not r["IsDefault"]
    ]
    assert len(rules) == 1
    assert rules[0]["Conditions"][0]["HostHeaderConfig"]["Values"] == ["*-staging.londontamed.com"]
    assert rules[0]["Actions"][0]["TargetGroupArn"] == tgs[TG2]
    dns = lbs[0]["DNSName"]
    assert set(records(aws, private=False).values()) == {dns}
    assert set(records(aws, private=True).values()) == {dns}
    (tmp_path / "bluegreen.toml").write_text('strategy = "lb"\nload_balancer = "alb"\n')
    data = status()
    assert data["problems"] == [] and data["strategy"] == "lb"
    assert data["live"]["load_balancer"] == LB1 and data["live"]["target_group"] == TG1
    assert data["staging"]["target_group"] == TG2
    assert "nothing changed" in ok("init")


def test_lb_release_cycle_never_moves_the_live_names(lb: dict[str, str], aws: str) -> None:
    kind = lb["kind"]
    pub, priv = records(aws, private=False), records(aws, private=True)
    live0, staging0 = serving(kind)
    ok("deploy", "--version", "v1")
    assert status()["staging"]["version"] == "v1"
    ok("switch")
    data = status()
    assert data["live"]["version"] == "v1" and data["live"]["healthy"] == 2
    assert data["staging"]["asg"] is None and data["problems"] == []
    ok("deploy", "--version", "v2")
    ok("switch")
    data = status()
    assert (data["live"]["version"], data["staging"]["version"]) == ("v2", "v1")
    assert data["problems"] == []
    ok("rollback")
    assert (status()["live"]["version"], status()["staging"]["version"]) == ("v1", "v2")
    ok("switch")
    ok("clean", "--force", "--yes")
    data = status()
    assert data["live"]["version"] == "v2" and data["staging"]["asg"] is None
    assert data["problems"] == []
    assert records(aws, private=False) == pub and records(aws, private=True) == priv
    if kind == "classic":  # the balancers keep their roles; releases move
        assert serving(kind) == (live0, staging0) == (LB1, LB2)
    else:  # one ALB; the target groups swap roles at each switch (four switches)
        assert serving(kind) == (live0, staging0) == (TG1, TG2)
    groups = client(aws, "autoscaling").describe_auto_scaling_groups()["AutoScalingGroups"]
    assert [g["AutoScalingGroupName"] for g in groups] == [f"londontamed-com-v2-{lb['v2']}"]


def test_lb_switch_refuses_unhealthy_staging(
    lb: dict[str, str], aws: str, unchanged: Unchanged
) -> None:
    ok("deploy", "--version", "v1")
    g = client(aws, "autoscaling").describe_auto_scaling_groups()["AutoScalingGroups"][0]
    client(aws, "ec2").stop_instances(InstanceIds=[g["Instances"][0]["InstanceId"]])
    with unchanged():
        r = run("switch")
    assert r.code == 3 and "1 of 2 instances" in r.err


def test_lb_refusals(lb: dict[str, str], unchanged: Unchanged) -> None:
    with unchanged():
        r = run("switch")
    assert r.code == 3 and "no release to send traffic to" in r.err
    ok("deploy", "--version", "v1")
    ok("switch")
    ok("deploy", "--version", "v2")
    with unchanged():
        r = run("rollback")
    assert r.code == 3 and "never been live" in r.err
    with unchanged():
        r = run("deploy", "--version", "v3")
    assert r.code == 3 and "already holds release v2" in r.err


def _interrupt(event: str, nth: int) -> tuple[str, Callable[..., Any]]:
    """A hook that stops the command (as Ctrl-C would) at the nth ``event``."""
    seen = [0]

    def handler(**_: Any) -> None:
        seen[0] += 1
        if seen[0] == nth:
            raise KeyboardInterrupt

    return (event, handler)


CLASSIC_CALLS = (
    "before-call.auto-scaling.AttachLoadBalancers",
    "before-call.auto-scaling.DetachLoadBalancers",
)


def test_lb_classic_switch_interrupted_at_every_step_is_finished(aws: str, tmp_path: Path) -> None:
    """Stop the switch before each of its four changes (attach new to live,
    detach old from live, attach old to staging, detach new from staging); the
    next run finishes it, deploy and clean refuse meanwhile."""
    (tmp_path / "bluegreen.toml").write_text('strategy = "lb"\n')
    ok("init")
    register_images(aws, "v1", "v2")
    for args in (("deploy", "--version", "v1"), ("switch",), ("deploy", "--version", "v2")):
        ok(*args)
    expected = "v2"
    # (event, nth): 1st attach, 1st detach, 2nd attach, 2nd detach
    for event, nth in ((0, 1), (1, 1), (0, 2), (1, 2)):
        r = run("switch", hooks=[_interrupt(CLASSIC_CALLS[event], nth)])
        assert r.code == 130, r.err
        if (event, nth) != (0, 1):  # from the first detach on, a group is on both
            assert run("clean", "--force", "--yes").code == 3
        r = run("switch")
        assert r.code == 0, r.err
        data = status()
        assert data["live"]["version"] == expected and data["problems"] == [], data
        assert data["live"]["load_balancer"] == LB1
        expected = "v1" if expected == "v2" else "v2"


def test_lb_alb_switch_interrupted_between_listeners_and_rules(aws: str, tmp_path: Path) -> None:
    acm = client(aws, "acm")
    cert = acm.request_certificate(DomainName="*.londontamed.com")["CertificateArn"]
    (tmp_path / "bluegreen.toml").write_text('strategy = "lb"\nload_balancer = "alb"\n')
    # two forwarding listeners: HTTP serves too instead of redirecting to HTTPS
    ok("init", "--certificate-arn", cert, "--no-https-redirect")
    register_images(aws, "v1", "v2")
    for args in (("deploy", "--version", "v1"), ("switch",), ("deploy", "--version", "v2")):
        ok(*args)
    expected = "v2"
    for event, nth in (
        ("before-call.elastic-load-balancing-v2.ModifyListener", 2),  # between the listeners
        ("before-call.elastic-load-balancing-v2.ModifyRule", 1),  # between live and staging
        ("before-call.elastic-load-balancing-v2.ModifyRule", 2),  # between the rules
    ):
        r = run("switch", hooks=[_interrupt(event, nth)])
        assert r.code == 130, r.err
        assert status()["problems"], "an interrupted switch shows in status"
        assert run("deploy", "--version", "v1", "--replace").code == 3
        r = run("switch")
        assert r.code == 0, r.err
        assert "finishing an interrupted switch" in r.err
        data = status()
        assert data["live"]["version"] == expected and data["problems"] == [], data
        expected = "v1" if expected == "v2" else "v2"


@pytest.mark.parametrize("command", ["switch", "rollback"])
def test_lb_observed(lb: dict[str, str], aws: str, command: str) -> None:
    """While the live names are moved, they always reach healthy instances; on
    ALB never two releases at once. On classic both releases serve for a moment
    (attach new, then detach old): counted, not refused."""
    kind = lb["kind"]
    for args in (("deploy", "--version", "v1"), ("switch",), ("deploy", "--version", "v2")):
        ok(*args)
    if command == "rollback":
        ok("switch")
    before, after = ("v1", "v2") if command == "switch" else ("v2", "v1")
    with Observer(aws, latency=0.03) as obs:
        r = run(command, hooks=obs.hooks)
        assert r.code == 0, r.err
    obs.report(f"lb {command} on {kind}")
    obs.assert_always_serving()
    seen = obs.releases_in_order()
    assert seen[0] == {before} and seen[-1] == {after}
    if kind == "alb":
        obs.assert_one_release()
        assert seen == [{before}, {after}]
    else:
        assert set().union(*seen) == {before, after}


def test_lb_switch_dry_run_changes_nothing(lb: dict[str, str], unchanged: Unchanged) -> None:
    ok("deploy", "--version", "v1")
    with unchanged():
        r = run("switch", "--dry-run")
    assert r.code == 0, r.err
    if lb["kind"] == "classic":
        assert f"would [1/3] attach londontamed-com-v1-{lb['v1']} to {LB1}" in r.err
    else:
        assert f"would [1/2] forward {LB1}:80 (live names) -> {TG2}" in r.err


def test_lb_status_text_names_the_live_target_group(lb: dict[str, str]) -> None:
    ok("deploy", "--version", "v1")
    ok("switch")
    out = run("status").out
    if lb["kind"] == "alb":
        assert f"live     {LB1} target group {TG2}: v1" in out
    else:
        assert f"live     {LB1}: v1" in out


def test_detach_from_live_is_refused_when_nothing_else_serves_there(
    lb: dict[str, str], aws: str, unchanged: Unchanged
) -> None:
    """The traffic guard lives in the step: even a plan that asks for it never
    detaches the only healthy group from the live balancer or target group."""
    from bluegreen.errors import StateError
    from bluegreen.plan.steps import DetachGroup

    ok("deploy", "--version", "v1")
    ok("switch")
    sess = session(aws, strategy="lb", load_balancer=lb["kind"])
    _, a = api.snapshot(sess)
    assert a.live is not None and a.live_group is not None
    step = DetachGroup(
        a.live_group.name, a.live.name, a.live.kind, a.live.target_group_arn, guard=True
    )
    with unchanged(), pytest.raises(StateError, match="no other healthy instance"):
        step.apply(sess.ctx)


def test_lb_switch_is_undone_when_a_check_fails_after_it(lb: dict[str, str], aws: str) -> None:
    """Health gates work for the lb strategy too: a check that passes against
    staging and fails once live undoes the switch (exit 7). The release that
    briefly served is then drained before clean deletes it: alias TTL plus the
    classic balancer's connection draining (30 s) or the target group's
    deregistration delay (set to 120 s here)."""
    for args in (("deploy", "--version", "v1"), ("switch",), ("deploy", "--version", "v2")):
        ok(*args)
    before = serving(lb["kind"])
    r = run("switch", "--check", 'test "$BLUEGREEN_PHASE" = before-switch')
    assert r.code == 7, r.err
    assert serving(lb["kind"]) == before
    data = status()
    assert (data["live"]["version"], data["staging"]["version"]) == ("v1", "v2")
    assert data["staging"]["out_of_traffic_since"] is not None  # v2 served, briefly
    expected = 90.0
    if lb["kind"] == "alb":
        elbv2 = client(aws, "elbv2")
        tg = elbv2.describe_target_groups(Names=[serving("alb")[1]])["TargetGroups"][0]
        elbv2.modify_target_group_attributes(
            TargetGroupArn=tg["TargetGroupArn"],
            Attributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": "120"}],
        )
        expected = 180.0
    clock = FakeClock()
    r = run("clean", "--yes", clock=clock)
    assert r.code == 0, r.err
    assert expected - 15 <= sum(clock.slept) <= expected, (clock.slept, r.err)
    assert status()["staging"]["asg"] is None
