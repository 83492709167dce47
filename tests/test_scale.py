"""Call counts do not grow with the account: every command on the site alone,
then with 1,000 unrelated autoscaling groups, launch templates and launch
configurations, then with 1,000 unrelated records in each of the site's
zones, then 2,000 (bench/bench_scale.py measures the same, with times).

Exact counts, so a regression fails here. The exceptions, each for a reason
given in docs/PERFORMANCE.md ("Scale"):

- clean reads every group of the region (one page per 100) before it deletes
  a launch template: AWS has no filter for "groups using launch template X"
  and EC2 deletes a template a group still uses;
- records that sort between the site's names cost one more page per zone
  read (Route 53 has no read of several names), and no more however many.
"""

from __future__ import annotations

import string
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bluegreen.model.naming import TAG_DOMAIN
from conftest import DOMAIN, client, run
from test_calls import Calls

N = 1000
COMMANDS: list[tuple[str, tuple[str, ...]]] = [
    ("status", ("status",)),
    ("deploy", ("deploy", "--version", "v2")),
    ("switch", ("switch",)),
    ("rollback", ("rollback",)),
    ("clean", ("clean", "--yes", "--force")),
]


def counts() -> dict[str, int]:
    """Each command's calls; the sequence ends where it started (v1 live)."""
    out = {}
    for label, args in COMMANDS:
        calls = Calls()
        r = run(*args, hooks=calls.hooks())
        assert r.code == 0, f"{label}: {r.err}"
        out[label] = calls()
    return out


def fill_groups(url: str, n: int) -> None:
    """``n`` groups (desired 0: no instances), ``n`` launch templates and ``n``
    launch configurations, none of the site's: some carry the site's tag key
    with another domain, so only a filter on the value leaves them out."""
    ec2, asg = client(url, "ec2"), client(url, "autoscaling")
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.9.0.0/20", AvailabilityZone="us-east-1a")
    ami = ec2.register_image(Name="unrelated", RootDeviceName="/dev/xvda")["ImageId"]

    def one(i: int) -> None:
        other = [{"Key": TAG_DOMAIN, "Value": f"other{i % 3}.example"}] if i % 2 else []
        ec2.create_launch_template(
            LaunchTemplateName=f"other-lt-{i:04d}",
            LaunchTemplateData={"ImageId": ami, "InstanceType": "t3.micro"},
            TagSpecifications=[{"ResourceType": "launch-template", "Tags": other}] if other else [],
        )
        asg.create_launch_configuration(
            LaunchConfigurationName=f"other-lc-{i:04d}", ImageId=ami, InstanceType="t3.micro"
        )
        source: dict[str, Any] = (
            {"LaunchTemplate": {"LaunchTemplateName": f"other-lt-{i:04d}", "Version": "$Latest"}}
            if i % 2
            else {"LaunchConfigurationName": f"other-lc-{i:04d}"}
        )
        asg.create_auto_scaling_group(
            AutoScalingGroupName=f"other-asg-{i:04d}",
            MinSize=0,
            MaxSize=1,
            DesiredCapacity=0,
            VPCZoneIdentifier=subnet["Subnet"]["SubnetId"],
            Tags=[{**t, "PropagateAtLaunch": True} for t in other],
            **source,
        )

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(one, range(n)))


def fill_records(url: str, n: int, prefix: str) -> None:
    """``n`` unrelated A records in each of the site's zones (one batch each),
    named so that most sort between the site's names (``api`` ... ``www``)."""
    r53 = client(url, "route53")
    letters = string.ascii_lowercase
    for z in r53.list_hosted_zones()["HostedZones"]:
        changes = [
            {
                "Action": "CREATE",
                "ResourceRecordSet": {
                    "Name": f"{letters[i % 26]}{prefix}{i:04d}.{DOMAIN}.",
                    "Type": "A",
                    "TTL": 300,
                    "ResourceRecords": [{"Value": f"10.8.{i // 250}.{i % 250 + 1}"}],
                },
            }
            for i in range(n)
        ]
        r53.change_resource_record_sets(HostedZoneId=z["Id"], ChangeBatch={"Changes": changes})


def test_calls_do_not_grow_with_the_account(live_v1: dict[str, str], aws: str) -> None:
    empty = counts()
    assert empty == {"status": 10, "deploy": 17, "switch": 13, "rollback": 13, "clean": 14}

    fill_groups(aws, N)
    groups = counts()
    # clean: the site's two groups and 1,000 others, 100 a page: 11 pages instead of 1
    assert groups == {**empty, "clean": empty["clean"] + 10}

    fill_records(aws, N, "a")
    records = counts()
    # one page more per zone read: status, deploy and clean read both zones;
    # switch and rollback the private one only, before and after the move
    assert records == {
        "status": empty["status"] + 2,
        "deploy": empty["deploy"] + 2,
        "switch": empty["switch"] + 1,
        "rollback": empty["rollback"] + 1,
        "clean": groups["clean"] + 2,
    }

    fill_records(aws, N, "b")  # 2,000 in each zone now: no call more
    assert counts() == records
