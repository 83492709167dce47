"""API faults: throttling, HTTP 5xx, connection timeouts and lost responses
injected into every call of a release cycle; a permanent error.

Faults go in through a ``before-send`` hook (``chaos.Faults``): the request
either never reaches the emulator (throttling, 503, connect timeout) or
reaches it and its response is lost (read timeout) - the case where a
retried create meets its own earlier success. botocore's standard retry mode
retries them; its back-off sleeps on the gateway's clock, so with the fake
clock the retries cost no real time.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from bluegreen.clock import FakeClock
from chaos import Faults, shape
from conftest import run

CYCLE = (("deploy", "--version", "v2"), ("switch",), ("clean", "--force"))
BACK = (("deploy", "--version", "v1"), ("switch",), ("clean", "--force"))


def cycle(steps: tuple[tuple[str, ...], ...], hooks: list[Any] | None = None) -> None:
    for args in steps:
        r = run(*args, hooks=hooks or [])
        assert r.code == 0, f"{args}: exit {r.code}\n{r.err}"


@pytest.mark.parametrize("seed", [1, 2])
def test_release_cycle_completes_under_a_20_percent_fault_rate(
    live_v1: dict[str, str], aws: str, seed: int
) -> None:
    start = shape(aws)
    cycle(CYCLE)
    expected = shape(aws)
    cycle(BACK)
    assert shape(aws) == start
    faults = Faults(seed=seed, rate=0.2)
    cycle(CYCLE, hooks=[faults.hook()])
    assert shape(aws) == expected
    assert faults.total >= 0.1 * faults.requests, (faults.injected, faults.requests)
    assert {"throttle", "5xx", "connect-timeout"} <= set(faults.injected), faults.injected


def test_every_change_survives_losing_its_first_response(live_v1: dict[str, str], aws: str) -> None:
    """Every request that changes something reaches AWS, which acts on it,
    and its response is lost; the retry meets its own success: lock put and
    delete, intent, launch template, group, record changes, deletes, history."""
    start = shape(aws)
    cycle(CYCLE)
    expected = shape(aws)
    cycle(BACK)
    assert shape(aws) == start
    faults = Faults(rate=0.0, lose_first_response=True)
    cycle(CYCLE, hooks=[faults.hook()])
    assert shape(aws) == expected
    lost = set(faults.by_operation)
    assert {
        "dynamodb.PutItem",
        "dynamodb.DeleteItem",
        "ec2.CreateLaunchTemplate",
        "auto-scaling.CreateAutoScalingGroup",
        "route-53.ChangeResourceRecordSets",
        "auto-scaling.DeleteAutoScalingGroup",
        "ec2.DeleteLaunchTemplate",
    } <= lost, lost


def test_back_off_sleeps_on_the_gateway_clock(live_v1: dict[str, str], aws: str) -> None:
    """Throttled three times in a row: botocore backs off (1 s scale for
    throttling), the fake clock does the sleeping, no real time passes."""
    left = {"n": 3}

    def throttle(request: Any, **_: Any) -> Any:
        if left["n"] > 0:
            left["n"] -= 1
            from chaos import _error_response

            return _error_response(request, 400, "Throttling", "Rate exceeded", "query")
        return None

    clock = FakeClock()
    t0 = time.monotonic()
    r = run(
        "status",
        hooks=[("before-send.elastic-load-balancing.DescribeLoadBalancers", throttle)],
        clock=clock,
    )
    assert r.code == 0, r.err
    assert left["n"] == 0
    assert len([s for s in clock.slept if s > 0]) >= 2  # the back-off, on the fake clock
    assert time.monotonic() - t0 < 5


def test_permanent_access_denied_names_the_action_and_the_next_run_continues(
    live_v1: dict[str, str], aws: str
) -> None:
    start = shape(aws)
    assert run("deploy", "--version", "v2").code == 0
    deployed = shape(aws)
    assert run("clean", "--force").code == 0
    assert shape(aws) == start
    denied = Faults(rate=0.0, denied=frozenset({"auto-scaling.CreateAutoScalingGroup"}))
    r = run("deploy", "--version", "v2", hooks=[denied.hook()])
    assert r.code == 4, r.err
    assert "autoscaling:CreateAutoScalingGroup was denied" in r.err
    assert "grant autoscaling:CreateAutoScalingGroup" in r.err
    assert denied.injected["denied"] == 1  # not retried
    after = shape(aws)
    assert not after["locked"]
    assert len(after["launch_templates"]) == len(deployed["launch_templates"])  # made before
    r = run("deploy", "--version", "v2")
    assert r.code == 0, r.err
    assert shape(aws) == deployed
