"""Failed launches as Auto Scaling really handles them (the fidelity layer):
it retries them by itself. A failure its retries get past (no capacity for
the instance type in a zone) is waited through; one they will not (a KMS key
the service-linked role may not use) ends the wait at the poll that shows it;
a failure older than the run (a deploy run again once the cause is fixed)
is not the run's."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bluegreen.plan.steps import transient_failure
from conftest import client
from layered import Real, images
from test_rolling_on_aws import STAGING, rolling, running_images

KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def short_of_capacity(real: Real, seconds: float, instance_type: str = "t3.micro") -> None:
    """EC2 has no capacity for ``instance_type`` for the next ``seconds``."""
    real.layer.faults.capacity[instance_type] = real.clock.now() + seconds


def activities(real: Real) -> list[dict[str, Any]]:
    """The scaling activities of the group a deploy of v1 made, newest first."""
    real.settle()
    asg = client(real.url, "autoscaling")
    (group,) = [
        g["AutoScalingGroupName"]
        for g in asg.describe_auto_scaling_groups()["AutoScalingGroups"]
        if any(t["Key"] == "bluegreen:version" and t["Value"] == "v1" for t in g["Tags"])
    ]
    return list(asg.describe_scaling_activities(AutoScalingGroupName=group)["Activities"])


def ready(real: Real) -> None:
    r = real.run("init")
    assert r.code == 0, r.err
    images(real, "v1")


def test_a_launch_short_of_capacity_is_waited_through(real: Real) -> None:
    """EC2 lacks capacity for t3.micro for 70 s: the group's first launches
    fail, Auto Scaling tries again, and a later attempt succeeds. The deploy
    shows the failure while it waits, and succeeds."""
    ready(real)
    short_of_capacity(real, 70)
    start = real.clock.now()
    r = real.run("deploy", "--version", "v1")
    assert r.code == 0, r.err
    assert real.clock.now() - start >= 70 + 30 + 20  # capacity, then boot and health checks
    assert "a launch failed, Auto Scaling is retrying: We currently do not have sufficient" in (
        r.out + r.err
    )
    codes = [a["StatusCode"] for a in activities(real)]
    assert codes[0] == "Successful" and codes.count("Failed") >= 2, codes


def test_a_failure_retries_will_not_fix_ends_the_wait_at_once(real: Real) -> None:
    """Capacity comes back after 70 s, but the volume's KMS key is one the Auto
    Scaling service-linked role may not use: the first attempt with capacity
    fails for good, and the deploy stops at the poll that shows it, with
    AWS's reason (not the capacity it was waiting for)."""
    ready(real)
    short_of_capacity(real, 70)
    real.layer.faults.kms_keys.add(KEY)
    start = real.clock.now()
    r = real.run("deploy", "--version", "v1", "--kms-key", KEY)
    waited = real.clock.now() - start
    assert r.code == 5, r.err
    assert "cannot launch" in r.err and "Client.InternalError: Client error on launch" in r.err
    assert "AWSServiceRoleForAutoScaling" in r.err
    # the attempt after capacity came back (every 30 s), seen within a poll (5 s)
    assert 70 <= waited <= 90 + 5 + 1, waited


def test_a_shortage_that_outlasts_the_wait_is_named_by_the_timeout(real: Real) -> None:
    """No capacity at all: the deploy waits its whole timeout (exit 5, timed
    out), and the timeout's error names the last launch failure."""
    ready(real)
    short_of_capacity(real, float("inf"))
    start = real.clock.now()
    r = real.run("--output", "json", "deploy", "--version", "v1", "--timeout", "300s")
    waited = real.clock.now() - start
    assert r.code == 5, r.err
    assert 300 <= waited < 320, waited
    doc = json.loads(r.out)
    assert doc["error"] == "timed out", doc
    assert "not done after 300s" in doc["message"]
    assert (
        "the last failed launch: We currently do not have sufficient t3.micro" in (doc["message"])
    )
    assert "--instance-type" in doc["fix"]


def test_a_failure_from_before_a_run_again_does_not_stop_it(real: Real) -> None:
    """A deploy stops (exit 5) on a launch failure for good; the operator
    grants the key policy and deploys again, without cleaning up. The group's
    newest activity is still that failure when the second deploy first looks,
    but it is older than that deploy: it waits, and Auto Scaling's next
    attempt launches the instances."""
    ready(real)
    real.layer.faults.kms_keys.add(KEY)
    r = real.run("deploy", "--version", "v1", "--kms-key", KEY)
    assert r.code == 5 and "Client.InternalError" in r.err, r.err
    assert activities(real)[0]["StatusCode"] == "Failed"
    real.layer.faults.kms_keys.clear()  # the key policy granted
    r = real.run("deploy", "--version", "v1", "--kms-key", KEY)
    assert r.code == 0, r.err
    assert activities(real)[0]["StatusCode"] == "Successful"


def test_a_rolling_replacement_short_of_capacity_is_waited_through(
    real: Real, tmp_path: Path
) -> None:
    """Rolling shares the judgement: a replacement that cannot launch for
    want of capacity for a while is waited for, and the roll goes on."""
    amis = rolling(real, tmp_path)
    short_of_capacity(real, 45)
    r = real.run("deploy", "--version", "v2")
    assert r.code == 0, r.err
    assert "Auto Scaling is retrying" in r.out + r.err
    assert running_images(real, STAGING) == [amis["v2"]] * 2


@pytest.mark.parametrize(
    ("message", "transient"),
    [
        (
            "We currently do not have sufficient t3.micro capacity in the Availability Zone you "
            "requested (us-east-1a). Our system will be working on provisioning additional "
            "capacity. You can currently get t3.micro capacity by not specifying an "
            "Availability Zone in your request or choosing us-east-1b, us-east-1c. "
            "Launching EC2 instance failed.",
            True,
        ),
        ("InsufficientInstanceCapacity. Launching EC2 instance failed.", True),
        ("Request limit exceeded. Launching EC2 instance failed.", True),
        ("There is no Spot capacity available that matches your request.", True),
        (
            "The requested configuration is currently not supported. Please check the "
            "documentation for supported configurations. Launching EC2 instance failed.",
            False,
        ),
        (
            "The image id '[ami-0123456789abcdef0]' does not exist. Launching EC2 instance failed.",
            False,
        ),
        (
            "Value (bluegreen-web) for parameter iamInstanceProfile.name is invalid. Invalid "
            "IAM Instance Profile name. Launching EC2 instance failed.",
            False,
        ),
        (
            "Instance became unhealthy while waiting for instance to be in InService state. "
            "Termination Reason: Client.InternalError: Client error on launch",
            False,
        ),
        (
            "The requested reservation does not have sufficient compatible and available "
            "capacity for this request. Launching EC2 instance failed.",
            False,
        ),
        ("2 instance(s) are already running. Launching EC2 instance failed.", False),
        ("Something AWS has not said before.", False),
    ],
)
def test_which_failures_auto_scaling_retries_past(message: str, transient: bool) -> None:
    """AWS's messages (https://docs.aws.amazon.com/autoscaling/ec2/userguide/
    ts-as-instancelaunchfailure.html): capacity and throttling pass; the rest,
    and anything not recognised, stay."""
    activity = {"StatusCode": "Failed", "StatusMessage": message}
    assert transient_failure(activity) is transient
    assert not transient_failure({**activity, "StatusCode": "Successful"})


def test_a_rolling_replacement_short_of_capacity_past_its_timeout_is_put_back(
    real: Real, tmp_path: Path
) -> None:
    """The shortage outlasts the replacement's wait (120 s) but not the
    put-back's: v1 is back (exit 7), and the error names the failed launch and
    says what to do about capacity, not about a failing health check."""
    amis = rolling(real, tmp_path)
    (tmp_path / "bluegreen.toml").write_text('strategy = "rolling"\ntimeout = "120s"\n')
    short_of_capacity(real, 150)
    r = real.run("--output", "json", "deploy", "--version", "v2")
    assert r.code == 7, r.err
    doc = json.loads(r.out)
    assert "We currently do not have sufficient t3.micro capacity" in doc["found"], doc
    assert "--instance-type" in doc["fix"] and "health check" not in doc["fix"], doc["fix"]
    assert running_images(real, STAGING) == [amis["v1"]] * 2


def test_a_shortage_that_passed_is_not_named_by_a_later_timeout(real: Real) -> None:
    """Capacity comes back after 45 s and the instances launch, but they never
    pass their health checks (stopped as soon as they appear): the timeout is
    about their health, not the launch failure Auto Scaling got past."""
    ready(real)
    short_of_capacity(real, 45)
    ec2 = client(real.url, "ec2")

    def stop_them(parsed: dict[str, Any], **_: Any) -> None:
        ids = [i["InstanceId"] for g in parsed.get("AutoScalingGroups", []) for i in g["Instances"]]
        if ids:
            ec2.stop_instances(InstanceIds=ids)

    hook = ("after-call.auto-scaling.DescribeAutoScalingGroups", stop_them)
    r = real.run("--output", "json", "deploy", "--version", "v1", "--timeout", "300s", hooks=[hook])
    assert r.code == 5, r.err
    doc = json.loads(r.out)
    assert doc["error"] == "timed out", doc
    assert "failed launch" not in doc["message"], doc["message"]
    assert "--instance-type" not in doc["fix"] and "health-check" in doc["fix"], doc["fix"]
    codes = [a["StatusCode"] for a in activities(real)]
    assert codes[0] == "Successful" and "Failed" in codes, codes


def test_a_failure_from_before_the_run_not_tried_again_is_named_by_the_timeout(
    real: Real,
) -> None:
    """A deploy stops on a launch failure for good; Auto Scaling then stops
    trying (as its administrative suspension of a group that keeps failing
    does). The deploy run again, the cause not fixed, waits (the failure is
    older than the run) and runs out of time: its error names that failure
    and what to do about it."""
    import dataclasses

    ready(real)
    real.layer.faults.kms_keys.add(KEY)
    r = real.run("deploy", "--version", "v1", "--kms-key", KEY)
    assert r.code == 5 and "Client.InternalError" in r.err, r.err
    real.layer.timings = dataclasses.replace(real.layer.timings, launch_retry=10**6)
    r = real.run(
        "--output", "json", "deploy", "--version", "v1", "--kms-key", KEY, "--timeout", "120s"
    )
    assert r.code == 5, r.err
    doc = json.loads(r.out)
    assert doc["error"] == "timed out", doc
    message = doc["message"]
    assert "the last failed launch (before this run, not tried again since): " in message
    assert "Client.InternalError: Client error on launch" in message, message
    assert "AWSServiceRoleForAutoScaling" in doc["fix"], doc["fix"]
