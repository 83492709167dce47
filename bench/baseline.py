"""The baseline: the seed's release cycle as a straight-line boto3 script,
the script a user would write by hand, with only the waits safety needs and
no checks.

1. deploy: create a launch template and an autoscaling group behind the
   staging load balancer; poll until every new instance is InService there;
2. switch: UPSERT the public zone's live names to the new balancer, wait
   until the change is INSYNC; then the private zone's live names (split-
   horizon DNS) to the new balancer and its staging names to the old one in
   one batch, and wait until INSYNC;
3. clean: delete the old group, poll until it is gone, then delete its
   launch template.

Everything it needs (zone ids, balancer names and DNS names, subnets, security
group, image) is given: a hand-written script has them as constants. The
polls sleep ``poll`` seconds between reads, as bluegreen's first poll does.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from benchlib import Hook, client

CLASSIC_ZONE = "Z35SXDOTRQ7X7K"  # us-east-1 classic load balancers


@dataclass
class Target:
    """What the script knows by heart."""

    public_zone: str
    private_zone: str
    live_names: tuple[str, ...]
    staging_names: tuple[str, ...]
    balancers: dict[str, str]  # name -> DNS name
    subnets: str  # comma-separated
    security_group: str
    profile: str


def release_cycle(
    url: str,
    t: Target,
    *,
    new: str,
    old: str | None,
    ami: str,
    staging_lb: str,
    live_lb: str,
    capacity: int = 2,
    hooks: Sequence[Hook] = (),
    poll: float = 2.0,
) -> dict[str, float]:
    ec2 = client(url, "ec2", hooks)
    asg = client(url, "autoscaling", hooks)
    elb = client(url, "elb", hooks)
    r53 = client(url, "route53", hooks)
    times: dict[str, float] = {}
    t0 = time.perf_counter()

    # 1. deploy
    ec2.create_launch_template(
        LaunchTemplateName=new,
        LaunchTemplateData={
            "ImageId": ami,
            "InstanceType": "t3.micro",
            "SecurityGroupIds": [t.security_group],
            "IamInstanceProfile": {"Name": t.profile},
        },
    )
    asg.create_auto_scaling_group(
        AutoScalingGroupName=new,
        LaunchTemplate={"LaunchTemplateName": new, "Version": "$Latest"},
        MinSize=capacity,
        MaxSize=capacity,
        DesiredCapacity=capacity,
        VPCZoneIdentifier=t.subnets,
        LoadBalancerNames=[staging_lb],
        HealthCheckType="ELB",
        HealthCheckGracePeriod=300,
    )
    while True:  # every new instance InService in the staging balancer
        states = elb.describe_instance_health(LoadBalancerName=staging_lb)["InstanceStates"]
        if len(states) >= capacity and all(s["State"] == "InService" for s in states):
            break
        time.sleep(poll)
    times["deploy"] = time.perf_counter() - t0

    # 2. switch
    def upsert(zone: str, moves: list[tuple[tuple[str, ...], str]]) -> None:
        changes: list[dict[str, Any]] = [
            {
                "Action": "UPSERT",
                "ResourceRecordSet": {
                    "Name": n,
                    "Type": "A",
                    "AliasTarget": {
                        "HostedZoneId": CLASSIC_ZONE,
                        "DNSName": f"dualstack.{t.balancers[lb]}",
                        "EvaluateTargetHealth": True,
                    },
                },
            }
            for names, lb in moves
            for n in names
        ]
        r = r53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": changes})
        while r53.get_change(Id=r["ChangeInfo"]["Id"])["ChangeInfo"]["Status"] != "INSYNC":
            time.sleep(poll)

    t1 = time.perf_counter()
    upsert(t.public_zone, [(t.live_names, staging_lb)])
    upsert(t.private_zone, [(t.live_names, staging_lb), (t.staging_names, live_lb)])
    times["switch"] = time.perf_counter() - t1

    # 3. clean
    t2 = time.perf_counter()
    if old:
        asg.delete_auto_scaling_group(AutoScalingGroupName=old, ForceDelete=True)
        while asg.describe_auto_scaling_groups(AutoScalingGroupNames=[old])["AutoScalingGroups"]:
            time.sleep(poll)  # the group gone before its launch template goes
        ec2.delete_launch_template(LaunchTemplateName=old)
    times["clean"] = time.perf_counter() - t2
    times["cycle"] = time.perf_counter() - t0
    return times


def discover(url: str, domain: str) -> Target:
    """Read once, outside any timing, what the script would hard-code."""
    from bluegreen.model.naming import Names

    n = Names.for_domain(domain)
    r53 = client(url, "route53")
    zones = r53.list_hosted_zones_by_name(DNSName=n.zone_name)["HostedZones"]
    pub = next(
        z["Id"] for z in zones if z["Name"] == n.zone_name and not z["Config"]["PrivateZone"]
    )
    priv = next(z["Id"] for z in zones if z["Name"] == n.zone_name and z["Config"]["PrivateZone"])
    lbs = client(url, "elb").describe_load_balancers(LoadBalancerNames=list(n.load_balancers))
    descs = lbs["LoadBalancerDescriptions"]
    return Target(
        public_zone=pub,
        private_zone=priv,
        live_names=n.live_fqdns,
        staging_names=n.staging_fqdns,
        balancers={d["LoadBalancerName"]: d["DNSName"] for d in descs},
        subnets=",".join(descs[0]["Subnets"]),
        security_group=descs[0]["SecurityGroups"][0],
        profile=n.instance_profile,
    )
