"""init refuses a state it cannot build on before its first change: every
refusal that depends only on the region, the settings or what it reads comes
before any create or repair, so the emulator's state is the same after the
refusal as before it (``unchanged``, tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from chaos import LOCAL_ZONES, answer_with
from conftest import DOMAIN, client, run
from test_calls import Calls

Unchanged = Callable[..., AbstractContextManager[None]]
ZONES_NAMED = (
    "found: available zones: us-east-1-bos-1a (local-zone), "
    "us-east-1-wl1-bos-wlz-1 (wavelength-zone)"
)


def _only_local_zones(parsed: dict[str, Any]) -> None:
    """The region lists opted-in Local and Wavelength Zones and no ordinary one."""
    parsed["AvailabilityZones"] = [dict(z) for z in LOCAL_ZONES]


ONLY_LOCAL_ZONES = answer_with("ec2.DescribeAvailabilityZones", _only_local_zones)


def _subnet(aws: str, name: str) -> dict[str, Any]:
    (sn,) = client(aws, "ec2").describe_subnets(Filters=[{"Name": "tag:Name", "Values": [name]}])[
        "Subnets"
    ]
    return dict(sn)


# -- a region without an ordinary availability zone -----------------------------------------
def test_no_ordinary_zone_refuses_the_first_init_before_it_creates_anything(
    aws: str, unchanged: Unchanged
) -> None:
    with unchanged():
        r = run("init", hooks=[ONLY_LOCAL_ZONES])
    assert r.code == 3, r.err
    assert "region us-east-1 lists no ordinary availability zone" in r.err
    assert ZONES_NAMED in r.err
    assert "to fix: run init in a region with ordinary availability zones" in r.err
    assert not client(aws, "ec2").describe_vpcs(
        Filters=[{"Name": "tag:Name", "Values": ["londontamed-com"]}]
    )["Vpcs"]


def test_no_ordinary_zone_refuses_the_dry_run_too(aws: str, unchanged: Unchanged) -> None:
    """The dry run says what init would do: here, refuse."""
    with unchanged():
        r = run("init", "--dry-run", hooks=[ONLY_LOCAL_ZONES])
    assert r.code == 3, r.err
    assert ZONES_NAMED in r.err


def test_a_missing_subnet_without_ordinary_zones_is_refused_before_any_repair(
    aws: str, unchanged: Unchanged
) -> None:
    """A site missing a subnet, with drift init would repair (the VPC's DNS host
    names and a subnet's public addresses off): the refusal comes first, and
    the drift stays."""
    assert run("init").code == 0
    ec2 = client(aws, "ec2")
    first = _subnet(aws, "londontamed-com-public-1")
    ec2.delete_subnet(SubnetId=_subnet(aws, "londontamed-com-public-2")["SubnetId"])
    ec2.modify_subnet_attribute(SubnetId=first["SubnetId"], MapPublicIpOnLaunch={"Value": False})
    ec2.modify_vpc_attribute(VpcId=first["VpcId"], EnableDnsHostnames={"Value": False})
    with unchanged():
        r = run("init", hooks=[ONLY_LOCAL_ZONES])
    assert r.code == 3, r.err
    assert ZONES_NAMED in r.err
    assert not _subnet(aws, "londontamed-com-public-1")["MapPublicIpOnLaunch"]
    hostnames = ec2.describe_vpc_attribute(VpcId=first["VpcId"], Attribute="enableDnsHostnames")
    assert not hostnames["EnableDnsHostnames"]["Value"]


def test_a_complete_site_needs_no_zone_listing(aws: str) -> None:
    """The zones are read only when a subnet is to be made: init on a complete
    site neither lists them nor minds that the region lists no ordinary one."""
    assert run("init").code == 0
    calls = Calls()
    r = run("init", hooks=[ONLY_LOCAL_ZONES, *calls.hooks()])
    assert r.code == 0, r.err
    assert calls("ec2", "DescribeAvailabilityZones") == 0
    assert calls("ec2", "Create") == 0


# -- several hosted zones of the domain ---------------------------------------------------
def test_two_public_zones_of_the_domain_refuse_the_first_init_before_it_creates_anything(
    aws: str, unchanged: Unchanged
) -> None:
    r53 = client(aws, "route53")
    made = [
        r53.create_hosted_zone(Name=DOMAIN, CallerReference=f"by-hand-{i}")["HostedZone"]["Id"]
        for i in (1, 2)
    ]
    with unchanged():
        r = run("init")
    assert r.code == 3, r.err
    assert f"there are 2 public and 0 private hosted zones named {DOMAIN}." in r.err
    assert all(z.split("/")[-1] in r.err for z in made)
    assert "then run `bluegreen init` again" in r.err
