"""The ``rolling`` strategy with AWS's answers (the fidelity layer): a
replacement that cannot launch is seen at the first poll, and the launch
template versions a rolling deploy or switch makes are new requests to EC2
each time, never a replay of an earlier one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bluegreen.emulator.fidelity.duplicates import ClientTokens
from conftest import client
from layered import Real, images

STAGING = "londontamed-com-production-2"  # the staging group after init (its balancer's name)
LIVE = "londontamed-com-production-1"
TIMEOUT = 900.0  # each replacement's wait (seconds on the fake clock)


def rolling(real: Real, tmp_path: Path) -> dict[str, str]:
    """init, v1 in both groups (deploy creates staging, the first switch live)."""
    (tmp_path / "bluegreen.toml").write_text(f'strategy = "rolling"\ntimeout = "{TIMEOUT:.0f}s"\n')
    assert real.run("init").code == 0
    amis = images(real, "v1", "v2")
    for args in (("deploy", "--version", "v1"), ("switch",)):
        r = real.run(*args)
        assert r.code == 0, r.err
    return amis


def group(real: Real, name: str) -> dict[str, Any]:
    real.settle()
    (g,) = client(real.url, "autoscaling").describe_auto_scaling_groups(
        AutoScalingGroupNames=[name]
    )["AutoScalingGroups"]
    return dict(g)


def running_images(real: Real, name: str) -> list[str]:
    ids = [i["InstanceId"] for i in group(real, name)["Instances"]]
    res = client(real.url, "ec2").describe_instances(InstanceIds=ids)["Reservations"]
    return sorted(i["ImageId"] for r in res for i in r["Instances"])


def launch_fails(real: Real, ami: str) -> None:
    """From now on EC2 refuses launches of ``ami`` (its snapshots' KMS key is one
    the Auto Scaling service-linked role may not use)."""
    real.layer.faults.images.add(ami)


def test_a_rolling_deploy_whose_replacement_cannot_launch_fails_at_once(
    real: Real, tmp_path: Path
) -> None:
    """The staging group is pointed at v2, whose launches fail: the first
    replacement never appears, and only a Failed scaling activity says why.
    The deploy stops at the next poll with AWS's reason (exit 5, not the
    replacement's 15-minute timeout), after putting v1 back."""
    amis = rolling(real, tmp_path)
    launch_fails(real, amis["v2"])
    start = real.clock.now()
    r = real.run("deploy", "--version", "v2")
    waited = real.clock.now() - start
    assert r.code == 5, r.err
    assert f"instances of {STAGING} cannot launch" in r.err
    assert "Client.InternalError: Client error on launch" in r.err
    assert "AWSServiceRoleForAutoScaling" in r.err  # what to do
    assert "v1 is back on every instance" in r.err
    assert waited < TIMEOUT / 2, waited  # the put-back's boot, not the timeout
    g = group(real, STAGING)
    assert g["DesiredCapacity"] == 2
    assert running_images(real, STAGING) == [amis["v1"]] * 2
    # fixed (the key policy granted): the same deploy goes through
    real.layer.faults.images.clear()
    r = real.run("deploy", "--version", "v2")
    assert r.code == 0, r.err
    assert running_images(real, STAGING) == [amis["v2"]] * 2


def test_a_rolling_switch_whose_replacement_cannot_launch_keeps_live_serving(
    real: Real, tmp_path: Path
) -> None:
    """v2 runs in staging; then its launches start failing. The switch rolls
    live: the first replacement fails, the switch stops at that poll with
    exit 5, and live is back on v1 with its two instances."""
    amis = rolling(real, tmp_path)
    assert real.run("deploy", "--version", "v2").code == 0
    launch_fails(real, amis["v2"])
    start = real.clock.now()
    r = real.run("switch")
    assert r.code == 5, r.err
    assert f"instances of {LIVE} cannot launch" in r.err and "v1 is back" in r.err
    assert real.clock.now() - start < TIMEOUT / 2
    assert running_images(real, LIVE) == [amis["v1"]] * 2


def test_rolling_template_versions_are_new_requests_after_a_teardown(
    real: Real, tmp_path: Path
) -> None:
    """The same cycle (deploy v1, switch, deploy v2, switch) on a site torn
    down and made again: same template names, same images (teardown keeps
    them), same version numbers. Tokens made from those alone would get EC2's answer to the first
    site's requests (templates that no longer exist) or
    IdempotentParameterMismatch (other security groups)."""
    amis = rolling(real, tmp_path)
    cycle = (("deploy", "--version", "v2"), ("switch",))
    for args in cycle:
        r = real.run(*args)
        assert r.code == 0, r.err
    tokens = next(b for b in real.layer.behaviours if isinstance(b, ClientTokens)).seen
    first = set(tokens)
    assert {a for a, _ in first} >= {"CreateLaunchTemplate", "CreateLaunchTemplateVersion"}
    r = real.run("teardown", "--yes")
    assert r.code == 0, r.err
    assert "release images" in r.out + r.err  # kept: the second site deploys the same ones
    assert real.run("init").code == 0
    for args in (("deploy", "--version", "v1"), ("switch",), *cycle):
        r = real.run(*args)
        assert r.code == 0, f"{args}: {r.err}"
    # every creation of the second site was new: a replayed token adds no entry
    assert len(tokens) == 2 * len(first)
    assert running_images(real, LIVE) == [amis["v2"]] * 2
    assert running_images(real, STAGING) == [amis["v2"]] * 2
