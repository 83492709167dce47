"""Draining: clean deletes a release that served the live names only after it
has been out of traffic for the alias TTL (60 s) plus the load balancer's
connection-draining timeout (30 s as ``init`` sets it), unless ``--force``.
Time is a FakeClock: no test sleeps."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from bluegreen.clock import FakeClock, iso
from conftest import client, run

Unchanged = Callable[..., contextlib.AbstractContextManager[None]]
SINCE = "bluegreen:out-of-traffic-since"
T0 = 1_800_000_000.0


def group_named(aws: str, version: str) -> dict[str, Any] | None:
    groups = client(aws, "autoscaling").describe_auto_scaling_groups()["AutoScalingGroups"]
    found = [
        g
        for g in groups
        if any(t["Key"] == "bluegreen:version" and t["Value"] == version for t in g["Tags"])
    ]
    return found[0] if found else None


def tags(g: dict[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in g.get("Tags", [])}


def left_traffic_at(aws: str, version: str, when: float) -> None:
    g = group_named(aws, version)
    assert g is not None
    client(aws, "autoscaling").create_or_update_tags(
        Tags=[
            {
                "ResourceId": g["AutoScalingGroupName"],
                "ResourceType": "auto-scaling-group",
                "Key": SINCE,
                "Value": iso(when),
                "PropagateAtLaunch": False,
            }
        ]
    )


def test_switch_records_when_a_release_leaves_traffic(both: dict[str, str], aws: str) -> None:
    v1, v2 = group_named(aws, "v1"), group_named(aws, "v2")
    assert v1 is not None and v2 is not None
    assert SINCE in tags(v1) and tags(v1)["bluegreen:desired-when-live"] == "2"
    assert SINCE not in tags(v2)  # live, and never out of traffic


def test_clean_waits_until_drained(both: dict[str, str], aws: str) -> None:
    left_traffic_at(aws, "v1", T0)
    clock = FakeClock(start=T0 + 50)  # 50 s after: 60 + 30 - 50 = 40 s to go
    r = run("clean", "--yes", clock=clock)
    assert r.code == 0, r.err
    assert "waiting 40s: out of traffic since" in r.err
    assert "alias TTL 60s + connection draining 30s" in r.err
    assert "40s left" in r.err  # the countdown
    assert abs(sum(clock.slept) - 40) < 0.01
    assert clock.now() - T0 >= 90
    assert group_named(aws, "v1") is None


def test_clean_dry_run_shows_the_wait(both: dict[str, str], aws: str, unchanged: Unchanged) -> None:
    clock = FakeClock(start=T0 + 30)
    left_traffic_at(aws, "v1", T0)
    with unchanged():
        r = run("clean", "--dry-run", clock=clock)
    assert r.code == 0, r.err
    assert "would [1/3] wait 60s: " in r.err
    assert clock.slept == []


def test_clean_after_draining_does_not_wait(both: dict[str, str], aws: str) -> None:
    left_traffic_at(aws, "v1", T0)
    clock = FakeClock(start=T0 + 91)
    r = run("clean", "--yes", clock=clock)
    assert r.code == 0, r.err
    assert "drained" in r.err
    assert clock.slept == []
    assert group_named(aws, "v1") is None


def test_clean_force_does_not_wait(both: dict[str, str], aws: str) -> None:
    left_traffic_at(aws, "v1", T0)
    clock = FakeClock(start=T0 + 1)
    r = run("clean", "--force", "--yes", clock=clock)
    assert r.code == 0, r.err
    assert "--force: not waiting for the alias TTL and connection draining" in r.err
    assert "1s ago" in r.err
    assert clock.slept == []
    assert group_named(aws, "v1") is None


def test_a_release_that_never_served_is_cleaned_at_once(live_v1: dict[str, str], aws: str) -> None:
    assert run("deploy", "--version", "v2").code == 0
    clock = FakeClock()
    r = run("clean", "--yes", clock=clock)
    assert r.code == 0, r.err
    assert "never served the live names" in r.err
    assert clock.slept == []
    assert group_named(aws, "v2") is None


def test_a_switch_undone_by_its_checks_leaves_a_drain_wait(
    live_v1: dict[str, str], aws: str
) -> None:
    """The failing release did get live traffic for a moment: clean drains it."""
    assert run("deploy", "--version", "v2").code == 0
    r = run("switch", "--check", 'test "$BLUEGREEN_PHASE" = before-switch')
    assert r.code == 7, r.err
    v2 = group_named(aws, "v2")
    assert v2 is not None and SINCE in tags(v2)
    clock = FakeClock(start=FakeClock().now())
    r = run("clean", "--yes", clock=clock)
    assert r.code == 0, r.err
    assert 85 <= sum(clock.slept) <= 90


# -- the drain arithmetic, without AWS -------------------------------------------
def _group(tag: str | None) -> Any:
    from bluegreen.model import Group

    return Group(
        name="g",
        ami=None,
        version=None,
        desired=2,
        min_size=2,
        max_size=2,
        launch_template=None,
        launch_configuration=None,
        load_balancers=(),
        target_groups=(),
        instances=(),
        tags={SINCE: tag} if tag else {},
    )


def test_drain_wait_uses_the_balancers_own_timeout() -> None:
    from bluegreen.plan.steps import Wait
    from bluegreen.plan.strategies.base import CleanIntent, drain_wait

    # an ALB target group's default deregistration delay: 300 s
    steps, notes = drain_wait(_group(iso(T0)), CleanIntent(frozenset(), now=T0 + 10, drain=300))
    assert steps == (Wait(350.0, steps[0].why),)  # type: ignore[attr-defined]
    assert "alias TTL 60s + connection draining 300s" in notes[0]
    steps, _ = drain_wait(_group(iso(T0)), CleanIntent(frozenset(), now=T0 + 360, drain=300))
    assert steps == ()
    steps, notes = drain_wait(_group(None), CleanIntent(frozenset(), now=T0, drain=300))
    assert steps == () and "never served" in notes[0]
    # an unreadable tag counts as "just left traffic": the full wait
    steps, _ = drain_wait(_group("yesterday"), CleanIntent(frozenset(), now=T0, drain=30))
    assert steps == (Wait(90.0, steps[0].why),)  # type: ignore[attr-defined]
