"""The ``weighted`` strategy: canary shifting with weighted alias records,
each step held while instance health and CloudWatch alarms are watched; any
trouble returns all traffic to the old environment (exit 7)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bluegreen.clock import FakeClock
from conftest import client, records, run
from observer import Observer
from test_calls import BEFORE_TRAFFIC_MOVES

Unchanged = Callable[..., contextlib.AbstractContextManager[None]]
LB1 = "londontamed-com-production-1"
LB2 = "londontamed-com-production-2"
WWW = "www.londontamed.com."
CHANGE = "after-call.route53.ChangeResourceRecordSets"


def use_weighted(tmp_path: Path) -> None:
    """Add the strategy to ``bluegreen.toml`` (which may say ``load_balancer``)."""
    conf = tmp_path / "bluegreen.toml"
    before = conf.read_text() if conf.exists() else ""
    conf.write_text(before + 'strategy = "weighted"\ninterval = "30s"\n')
    r = run("deploy", "--version", "v2")
    assert r.code == 0, r.err


@pytest.fixture
def shiftable(live_v1: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """v1 live on LB2, v2 deployed to staging on LB1, strategy weighted."""
    use_weighted(tmp_path)
    return live_v1


@pytest.fixture
def shiftable_any(kind: str, live_v1: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """``shiftable`` on classic load balancers, then on application ones."""
    use_weighted(tmp_path)
    return live_v1


def public(url: str) -> dict[str, int | None]:
    """Load balancer -> weight (None: a simple alias) of www's records."""
    r53 = client(url, "route53")
    zone = next(z for z in r53.list_hosted_zones()["HostedZones"] if not z["Config"]["PrivateZone"])
    rrs = r53.list_resource_record_sets(
        HostedZoneId=zone["Id"], StartRecordName=WWW, StartRecordType="A", MaxItems="20"
    )["ResourceRecordSets"]
    out: dict[str, int | None] = {}
    for r in rrs:
        if r["Name"] == WWW and r["Type"] == "A":
            lb = LB1 if LB1 in r["AliasTarget"]["DNSName"] else LB2
            out[lb] = r.get("Weight")
    return out


def recorder(url: str) -> tuple[list[dict[str, int | None]], tuple[str, Callable[..., None]]]:
    """Records www's public records after every change batch."""
    seen: list[dict[str, int | None]] = []

    def hook(**kwargs: Any) -> None:
        state = public(url)
        if not seen or seen[-1] != state:
            seen.append(state)

    return seen, (CHANGE, hook)


def status() -> dict[str, Any]:
    r = run("--output", "json", "status")
    assert r.code == 0, r.err
    data: dict[str, Any] = r.json()
    return data


def alarm(url: str, name: str = "errors", state: str = "OK") -> None:
    cw = client(url, "cloudwatch")
    cw.put_metric_alarm(
        AlarmName=name,
        MetricName="HTTPCode_Backend_5XX",
        Namespace="AWS/ELB",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=5,
        ComparisonOperator="GreaterThanThreshold",
    )
    cw.set_alarm_state(AlarmName=name, StateValue=state, StateReason="test")


class AlarmAfter(FakeClock):
    """A fake clock that sets an alarm to ALARM once ``after`` seconds passed."""

    def __init__(self, url: str, name: str, after: float) -> None:
        super().__init__()
        self.url, self.name, self.after = url, name, after
        self.t0 = self.now()
        self.fired_at: float | None = None

    def sleep(self, seconds: float) -> None:
        super().sleep(seconds)
        if self.fired_at is None and self.now() - self.t0 >= self.after:
            self.fired_at = self.now() - self.t0
            client(self.url, "cloudwatch").set_alarm_state(
                AlarmName=self.name, StateValue="ALARM", StateReason="5xx errors"
            )


def interrupt_after_first_change() -> tuple[str, Callable[..., None]]:
    calls: list[int] = []

    def hook(**kwargs: Any) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise KeyboardInterrupt

    return CHANGE, hook


def test_shift_in_steps_ends_like_a_dns_switch(shiftable_any: dict[str, str], aws: str) -> None:
    seen, hook = recorder(aws)
    clock = FakeClock()
    t0 = clock.now()
    r = run("switch", "--steps", "10,50,100", "--interval", "2m", hooks=[hook], clock=clock)
    assert r.code == 0, r.err
    assert seen == [{LB2: 90, LB1: 10}, {LB2: 50, LB1: 50}, {LB1: None}]
    assert clock.now() - t0 >= 240  # two holds of 2 minutes, on the clock
    assert all(LB1 in t for t in records(aws, private=False).values())
    assert all(LB2 in t for t in records(aws, private=True).values())
    data = status()
    assert data["live"]["load_balancer"] == LB1 and data["live"]["version"] == "v2"
    assert data["staging"]["version"] == "v1"
    assert data["weights"] == {} and data["problems"] == []


def test_steps_and_interval_from_the_config_file(
    shiftable: dict[str, str], aws: str, tmp_path: Path
) -> None:
    (tmp_path / "bluegreen.toml").write_text(
        'strategy = "weighted"\nsteps = [25, 100]\ninterval = "10s"\n'
    )
    seen, hook = recorder(aws)
    r = run("switch", hooks=[hook])
    assert r.code == 0, r.err
    assert seen == [{LB2: 75, LB1: 25}, {LB1: None}]


def test_alarm_stops_the_shift_and_returns_all_traffic(
    shiftable_any: dict[str, str], aws: str
) -> None:
    alarm(aws)
    pub, priv = records(aws, private=False), records(aws, private=True)
    seen, hook = recorder(aws)
    clock = AlarmAfter(aws, "errors", after=45)  # during the 50% hold
    r = run("switch", "--alarm", "errors", hooks=[hook], clock=clock)
    assert r.code == 7, r.err
    assert "stopped at 50%" in r.err and "errors in ALARM" in r.err
    assert seen == [{LB2: 90, LB1: 10}, {LB2: 50, LB1: 50}, {LB2: None}]
    assert records(aws, private=False) == pub and records(aws, private=True) == priv
    data = status()
    assert data["live"]["version"] == "v1" and data["staging"]["version"] == "v2"
    assert data["weights"] == {} and data["problems"] == []


def test_unhealthy_new_instance_stops_the_shift(shiftable_any: dict[str, str], aws: str) -> None:
    pub = records(aws, private=False)
    group = f"londontamed-com-v2-{shiftable_any['v2']}"
    victim = client(aws, "autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[group])[
        "AutoScalingGroups"
    ][0]["Instances"][0]["InstanceId"]
    calls: list[int] = []

    def stop_one(**kwargs: Any) -> None:
        calls.append(1)
        if len(calls) == 1:  # right after the 10% change
            client(aws, "ec2").stop_instances(InstanceIds=[victim])

    r = run("switch", hooks=[(CHANGE, stop_one)])
    assert r.code == 7, r.err
    assert "stopped at 10%" in r.err and victim in r.err
    assert records(aws, private=False) == pub
    assert status()["live"]["version"] == "v1"


def test_missing_or_firing_alarm_is_refused(
    shiftable: dict[str, str], aws: str, unchanged: Unchanged
) -> None:
    with unchanged(history=True):  # refused by the plan's first step
        r = run("switch", "--alarm", "nope")
    assert r.code == 3 and "nope do not exist" in r.err
    alarm(aws, "errors", "ALARM")
    with unchanged(history=True):  # refused by the plan's first step
        r = run("switch", "--alarm", "errors")
    assert r.code == 3 and "in ALARM already" in r.err


def test_dry_run_prints_the_steps_and_changes_nothing(
    shiftable: dict[str, str], aws: str, unchanged: Unchanged
) -> None:
    alarm(aws)
    with unchanged():
        r = run("switch", "--alarm", "errors", "--dry-run")
    assert r.code == 0, r.err
    assert "would [1/10] check that alarms errors exist" in r.err
    assert f"{LB2} 90% and {LB1} 10%" in r.err
    # each weight in both zones (the private zone's live names mirror the public ones)
    assert "would [3/10] point www.londontamed.com, api.londontamed.com (private zone)" in r.err
    assert "would [4/10] hold 10% on" in r.err and "for 30s" in r.err


def test_interrupted_shift_shows_weights_and_resumes(
    shiftable: dict[str, str], aws: str, unchanged: Unchanged
) -> None:
    r = run("switch", hooks=[interrupt_after_first_change()])
    assert r.code == 130, r.err
    assert public(aws) == {LB2: 90, LB1: 10}
    data = status()
    # live is the environment the shift started from, until it completes
    assert data["live"]["load_balancer"] == LB2 and data["staging"]["load_balancer"] == LB1
    assert data["weights"] == {LB2: 90, LB1: 10} and data["problems"] == []
    text = run("status").out
    assert f"weights  {LB1}=10, {LB2}=90" in text

    with unchanged():
        r = run("deploy", "--version", "v3", "--replace")
    assert r.code == 3 and "weighted shift is in progress" in r.err

    seen, hook = recorder(aws)
    r = run("switch", hooks=[hook])
    assert r.code == 0, r.err
    # Stopped by an interrupt (the lock released), not killed: the switch plans
    # from the private zone, where no weight is yet; its first public batch
    # finds the 10% there already, the private zone follows, the 10% is held
    # once more, then 50% and 100%.
    assert "[3/9] hold 10%" in r.err
    assert seen == [{LB2: 90, LB1: 10}, {LB2: 50, LB1: 50}, {LB1: None}]
    assert status()["live"]["version"] == "v2"


def test_rollback_mid_shift_returns_all_traffic(shiftable: dict[str, str], aws: str) -> None:
    assert run("switch", hooks=[interrupt_after_first_change()]).code == 130
    r = run("rollback")
    assert r.code == 0, r.err
    assert public(aws) == {LB2: None}
    data = status()
    assert data["live"]["version"] == "v1" and data["weights"] == {}
    assert data["problems"] == []


def test_rollback_after_a_completed_shift_swaps_back(shiftable: dict[str, str], aws: str) -> None:
    assert run("switch", "--interval", "0s").code == 0
    r = run("rollback")
    assert r.code == 0, r.err
    assert public(aws) == {LB2: None}
    assert status()["live"]["version"] == "v1"


def test_observer_sees_health_throughout_a_weighted_switch(
    kind: str, shiftable_any: dict[str, str], aws: str
) -> None:
    with Observer(aws, latency=0.02) as obs:
        r = run("switch", "--steps", "10,50,100", hooks=obs.hooks)
    assert r.code == 0, r.err
    obs.report(f"weighted switch 10,50,100 on {kind}")
    obs.assert_always_serving()
    # both releases serve during a shift: expected, and seen
    assert obs.releases_in_order() == [
        frozenset({"v1"}),
        frozenset({"v1", "v2"}),
        frozenset({"v2"}),
    ]


def test_checks_gate_the_start_and_each_hold(
    shiftable: dict[str, str], aws: str, tmp_path: Path, unchanged: Unchanged
) -> None:
    with unchanged(history=True):
        r = run("switch", "--check", "false")
    assert r.code == 3, r.err  # before any traffic moved: a refusal
    # passes before the shift, fails at the end of the first hold
    counter = tmp_path / "runs"
    check = f"n=$(cat {counter} 2>/dev/null || echo 0); echo $((n+1)) > {counter}; [ $n -lt 1 ]"
    seen, hook = recorder(aws)
    r = run("switch", "--check", check, hooks=[hook])
    assert r.code == 7, r.err
    assert "stopped at 10%" in r.err and "check failed" in r.err
    assert seen == [{LB2: 90, LB1: 10}, {LB2: None}]


def test_a_shift_moves_after_six_requests_without_reading_the_public_zone(
    shiftable: dict[str, str], aws: str
) -> None:
    """As a dns switch: the lock, the zones, the private zone's page, both
    balancers, the health of the one taking the live names, the site's groups;
    then the public zone's first weighted batch, which deletes exactly what
    the private zone shows (Route 53 refuses it if the public zone differs)."""
    sent: list[tuple[str, dict[str, Any]]] = []

    def on_call(event_name: str, params: dict[str, Any], **_: Any) -> None:
        sent.append((event_name.split(".", 2)[2], params))

    r = run("switch", "--interval", "0s", hooks=[("before-parameter-build", on_call)])
    assert r.code == 0, r.err
    ops = [op for op, _ in sent]
    first = ops.index("ChangeResourceRecordSets")
    assert first == 6
    assert sorted(ops[:first]) == BEFORE_TRAFFIC_MOVES
    zones = {
        z["Id"].split("/")[-1]: z["Config"]["PrivateZone"]
        for z in client(aws, "route53").list_hosted_zones()["HostedZones"]
    }
    read = [
        p["HostedZoneId"].split("/")[-1] for op, p in sent[:first] if op == "ListResourceRecordSets"
    ]
    assert len(read) == 1 and zones[read[0]]  # the private zone only
    assert public(aws) == {LB1: None}
