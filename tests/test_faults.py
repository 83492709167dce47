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
from pathlib import Path
from typing import Any

import pytest

from bluegreen.clock import FakeClock
from chaos import Faults, shape
from conftest import run

CYCLE = (("deploy", "--version", "v2"), ("switch",), ("clean", "--yes", "--force"))
BACK = (("deploy", "--version", "v1"), ("switch",), ("clean", "--yes", "--force"))


def cycle(steps: tuple[tuple[str, ...], ...], hooks: list[Any] | None = None) -> None:
    for args in steps:
        r = run(*args, hooks=hooks or [])
        assert r.code == 0, f"{args}: exit {r.code}\n{r.err}"


def test_release_cycle_completes_under_faults(live_v1: dict[str, str], aws: str) -> None:
    """The cycle without faults gives the expected state (and the way back
    returns to the start); then the same cycle twice more: with 20% of all
    requests failing (seeded), and with the first response of every request
    that changes something lost after AWS acted on it."""
    start = shape(aws)
    cycle(CYCLE)
    expected = shape(aws)
    cycle(BACK)
    assert shape(aws) == start

    faults = Faults(seed=1, rate=0.2)
    cycle(CYCLE, hooks=[faults.hook()])
    assert shape(aws) == expected
    assert faults.total >= 0.1 * faults.requests, (faults.injected, faults.requests)
    assert {"throttle", "5xx", "connect-timeout"} <= set(faults.injected), faults.injected
    cycle(BACK)
    assert shape(aws) == start

    # The retry of every change meets its own success: lock put, intent,
    # launch template, group, record changes, deletes, and the release of the
    # lock with the history record (one transaction: recorded once).
    entries = len(run("--output", "json", "history", "--limit", "100").json())
    lost = Faults(rate=0.0, lose_first_response=True)
    cycle(CYCLE, hooks=[lost.hook()])
    assert shape(aws) == expected
    assert len(run("--output", "json", "history", "--limit", "100").json()) == entries + 3
    assert {
        "dynamodb.PutItem",
        "dynamodb.TransactWriteItems",
        "ec2.CreateLaunchTemplate",
        "auto-scaling.CreateAutoScalingGroup",
        "route-53.ChangeResourceRecordSets",
        "auto-scaling.DeleteAutoScalingGroup",
        "ec2.DeleteLaunchTemplate",
    } <= set(lost.by_operation), lost.by_operation


def test_launch_configuration_calls_meet_their_own_success(
    live_v1: dict[str, str], aws: str
) -> None:
    """The configuration's create and delete reach AWS and lose their
    responses; botocore's retries are answered AlreadyExists and "not found"
    (the emulator answers as AWS does, where moto would replace or succeed),
    which the steps take as done: the same state as without the faults."""
    deploy = ("deploy", "--version", "v2", "--launch-configuration")
    clean = ("clean", "--yes")
    start = shape(aws)
    cycle((deploy,))
    expected = shape(aws)
    assert len(expected["launch_configurations"]) == 1
    cycle((clean,))
    assert shape(aws) == start

    lost = Faults(
        rate=0.0,
        lose_first_response=True,
        writes=("CreateLaunchConfiguration", "DeleteLaunchConfiguration"),
    )
    r = run("--output", "json", *deploy, hooks=[lost.hook()])
    assert r.code == 0, r.err
    assert r.json()["outcomes"][0] == "already exists"
    assert shape(aws) == expected
    r = run("--output", "json", *clean, hooks=[lost.hook()])
    assert r.code == 0, r.err
    assert r.json()["outcomes"][-1] == "already gone"
    assert shape(aws) == start
    assert lost.by_operation == {
        "auto-scaling.CreateLaunchConfiguration": 1,
        "auto-scaling.DeleteLaunchConfiguration": 1,
    }


def test_a_deleted_groups_configuration_still_in_use_is_waited_out(
    live_v1: dict[str, str], aws: str, tmp_path: Path
) -> None:
    """Right after a group is gone, Auto Scaling may still answer ResourceInUse
    for its launch configuration: clean tries again on the clock until the
    delete goes through; an answer that does not change ends the wait with
    exit 5, naming the configuration, and the next clean finds the
    configuration the group left (on a site that uses them, by its name and
    instance profile: configurations carry no tags)."""
    from chaos import Refusal

    (tmp_path / "bluegreen.toml").write_text("launch_configuration = true\n")
    deploy = ("deploy", "--version", "v2")
    start = shape(aws)
    in_use = Refusal(
        "auto-scaling.DeleteLaunchConfiguration",
        "ResourceInUse",
        "Cannot delete launch configuration because it is attached to "
        "AutoScalingGroup londontamed-com-v2",
        left=2,
    )
    hook = in_use.hook()
    assert run(*deploy).code == 0
    clock = FakeClock()
    r = run("--output", "json", "clean", "--yes", hooks=[hook], clock=clock)
    assert r.code == 0, r.err
    assert in_use.left == 0
    assert r.json()["outcomes"][-1].startswith("deleted after")
    assert [s for s in clock.slept if s >= 5.0], clock.slept  # waited on the fake clock
    assert shape(aws) == start

    assert run(*deploy).code == 0
    in_use.left = 10**6
    r = run("clean", "--yes", hooks=[hook], clock=FakeClock())
    assert r.code == 5, r.err
    assert "launch configuration" in r.err and "still in use" in r.err
    in_use.left = 0
    assert run("clean", "--yes").code == 0
    assert shape(aws) == start


def test_a_group_delete_refused_while_a_scaling_activity_runs_is_waited_out(
    live_v1: dict[str, str], aws: str
) -> None:
    """Auto Scaling refuses DeleteAutoScalingGroup while one of the group's
    scaling activities runs (instances still launching): clean tries again on
    the clock, and ends in the same state as without the refusals."""
    from chaos import Refusal

    start = shape(aws)
    busy = Refusal(
        "auto-scaling.DeleteAutoScalingGroup",
        "ScalingActivityInProgress",
        "You cannot delete an AutoScalingGroup while there are scaling activities "
        "in progress for that group.",
        left=2,
    )
    assert run("deploy", "--version", "v2").code == 0
    clock = FakeClock()
    r = run("clean", "--yes", hooks=[busy.hook()], clock=clock)
    assert r.code == 0, r.err
    assert busy.left == 0
    assert [s for s in clock.slept if s >= 5.0], clock.slept
    assert shape(aws) == start


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
    assert run("clean", "--yes", "--force").code == 0
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


def test_every_gateway_call_is_written_once() -> None:
    """A call defined in two of the gateway's mixins is decided by their order
    (the later one never runs): each name has one definition."""
    from bluegreen.aws import Gateway

    seen: dict[str, str] = {}
    twice: list[str] = []
    for mixin in Gateway.__mro__[1:]:
        for name, value in vars(mixin).items():
            if callable(value) and not name.startswith("__"):
                if name in seen:
                    twice.append(f"{name}: {seen[name]} and {mixin.__name__}")
                seen.setdefault(name, mixin.__name__)
    assert twice == []
    assert "security_groups_by_id" in seen and "call" in seen


def test_an_answer_that_is_not_aws_s_is_an_aws_error(aws: str) -> None:
    """An HTML error page (a proxy's) where AWS's XML was expected: botocore
    cannot parse it, and the caller gets the gateway's error, not botocore's."""
    from botocore.awsrequest import AWSResponse

    from bluegreen.aws import Gateway
    from bluegreen.errors import AwsError

    class Body:
        def stream(self, **_: Any) -> Any:
            yield b"<!doctype html><title>500 Internal Server Error</title>"

    def html(request: Any, **_: Any) -> Any:
        return AWSResponse(request.url, 500, {"Content-Type": "text/html"}, Body())

    gw = Gateway(
        region="us-east-1",
        endpoint_url=aws,
        clock=FakeClock(),
        hooks=[("before-send.iam.GetInstanceProfile", html)],
    )
    with pytest.raises(AwsError) as caught:
        gw.instance_profile("nowhere")
    assert caught.value.operation == "iam:get_instance_profile" and caught.value.fix
