"""A site's infrastructure made beforehand with boto3, as Terraform or
CloudFormation would, under names that are not bluegreen's conventions: a VPC,
two subnets, the load balancers' security group, the web servers' security
group, a public and a private hosted zone (with a record of their own), an
instance profile, and two classic or application load balancers. Shared by
``tests/test_adopt.py`` and ``bench/reliability.py``.

``snapshot`` reads all of it back, every setting that init or teardown could
change, to prove they changed none (the instances registered behind the load
balancers are attachments, and left out).
"""

from __future__ import annotations

import json
from typing import Any

from chaos import aws

DOMAIN = "londontamed.com"


def build(url: str, kind: str) -> dict[str, Any]:
    """Make the infrastructure; returns the ids and names to adopt."""
    ec2, iam, r53 = aws(url, "ec2"), aws(url, "iam"), aws(url, "route53")
    vpc = ec2.create_vpc(CidrBlock="10.40.0.0/16")["Vpc"]["VpcId"]
    ec2.create_tags(Resources=[vpc], Tags=[{"Key": "Name", "Value": "corp-main"}])
    for attr in ("EnableDnsSupport", "EnableDnsHostnames"):
        ec2.modify_vpc_attribute(VpcId=vpc, **{attr: {"Value": True}})
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone=az)["Subnet"]["SubnetId"]
        for cidr, az in (("10.40.0.0/20", "us-east-1a"), ("10.40.16.0/20", "us-east-1b"))
    ]
    lb_sg = ec2.create_security_group(GroupName="corp-edge", Description="edge", VpcId=vpc)[
        "GroupId"
    ]
    ec2.authorize_security_group_ingress(
        GroupId=lb_sg,
        IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": p, "ToPort": p, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
            for p in (80, 443)
        ],
    )
    web_sg = ec2.create_security_group(GroupName="corp-web", Description="web", VpcId=vpc)[
        "GroupId"
    ]
    ec2.authorize_security_group_ingress(
        GroupId=web_sg,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": p,
                "ToPort": p,
                "UserIdGroupPairs": [{"GroupId": lb_sg}],
            }
            for p in (80, 3001)
        ],
    )
    public = r53.create_hosted_zone(Name=DOMAIN, CallerReference="corp-public")["HostedZone"]
    private = r53.create_hosted_zone(
        Name=DOMAIN,
        CallerReference="corp-private",
        HostedZoneConfig={"PrivateZone": True, "Comment": "corp"},
        VPC={"VPCRegion": "us-east-1", "VPCId": vpc},
    )["HostedZone"]
    for z in (public, private):
        r53.change_resource_record_sets(
            HostedZoneId=z["Id"],
            ChangeBatch={
                "Changes": [
                    {
                        "Action": "CREATE",
                        "ResourceRecordSet": {
                            "Name": f"mail.{DOMAIN}",
                            "Type": "A",
                            "TTL": 300,
                            "ResourceRecords": [{"Value": "192.0.2.25"}],
                        },
                    }
                ]
            },
        )
    iam.create_role(
        RoleName="corp-web-role",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "ec2.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        ),
    )
    iam.create_instance_profile(InstanceProfileName="corp-web")
    iam.add_role_to_instance_profile(InstanceProfileName="corp-web", RoleName="corp-web-role")
    lbs = ("corp-blue", "corp-green")
    if kind == "classic":
        elb = aws(url, "elb")
        for name in lbs:
            elb.create_load_balancer(
                LoadBalancerName=name,
                Listeners=[
                    {
                        "Protocol": "HTTP",
                        "LoadBalancerPort": 80,
                        "InstanceProtocol": "HTTP",
                        "InstancePort": 80,
                    }
                ],
                Subnets=subnets,
                SecurityGroups=[lb_sg],
            )
            elb.configure_health_check(
                LoadBalancerName=name,
                HealthCheck={
                    "Target": "HTTP:3001/health",
                    "Interval": 30,
                    "Timeout": 5,
                    "UnhealthyThreshold": 3,
                    "HealthyThreshold": 3,
                },
            )
    else:
        v2 = aws(url, "elbv2")
        for name in lbs:
            lb = v2.create_load_balancer(Name=name, Subnets=subnets, SecurityGroups=[lb_sg])[
                "LoadBalancers"
            ][0]
            tg = v2.create_target_group(
                Name=f"{name}-web",
                Protocol="HTTP",
                Port=80,
                VpcId=vpc,
                HealthCheckPort="3001",
                HealthCheckPath="/health",
            )["TargetGroups"][0]
            v2.create_listener(
                LoadBalancerArn=lb["LoadBalancerArn"],
                Protocol="HTTP",
                Port=80,
                DefaultActions=[{"Type": "forward", "TargetGroupArn": tg["TargetGroupArn"]}],
            )
    return {
        "vpc_id": vpc,
        "subnet_ids": subnets,
        "public_zone_id": public["Id"].split("/")[-1],
        "private_zone_id": private["Id"].split("/")[-1],
        "load_balancers": list(lbs),
        "instance_profile": "corp-web",
        "security_groups": [web_sg],
        "lb_group": lb_sg,
    }


def toml(ids: dict[str, Any], *, kind: str, groups: bool = True) -> str:
    """bluegreen.toml adopting all of it (without ``security_groups`` when not
    ``groups``: bluegreen then makes the web servers' group itself)."""
    lines = [f'domain = "{DOMAIN}"', f'load_balancer = "{kind}"']
    for key in (
        "vpc_id",
        "subnet_ids",
        "public_zone_id",
        "private_zone_id",
        "load_balancers",
        "instance_profile",
        *(["security_groups"] if groups else []),
    ):
        lines.append(f"{key} = {json.dumps(ids[key])}")
    return "\n".join(lines) + "\n"


def flags(ids: dict[str, Any], *, groups: bool = True) -> list[str]:
    """The same as command-line flags."""
    out = ["--vpc-id", ids["vpc_id"], "--subnet-ids", ",".join(ids["subnet_ids"])]
    out += ["--public-zone-id", ids["public_zone_id"], "--private-zone-id", ids["private_zone_id"]]
    out += ["--load-balancers", ",".join(ids["load_balancers"])]
    out += ["--instance-profile", ids["instance_profile"]]
    if groups:
        out += ["--security-groups", ",".join(ids["security_groups"])]
    return out


def snapshot(url: str, ids: dict[str, Any]) -> dict[str, Any]:
    """Every setting of the adopted resources (and that they exist)."""
    ec2, iam, r53 = aws(url, "ec2"), aws(url, "iam"), aws(url, "route53")
    out: dict[str, Any] = {}
    vpc = ec2.describe_vpcs(Filters=[{"Name": "vpc-id", "Values": [ids["vpc_id"]]}])["Vpcs"]
    out["vpc"] = [(v["VpcId"], v["CidrBlock"], v.get("Tags")) for v in vpc]
    out["vpc_dns"] = [
        ec2.describe_vpc_attribute(VpcId=ids["vpc_id"], Attribute=a)
        .get(a[0].upper() + a[1:], {})
        .get("Value")
        for a in ("enableDnsSupport", "enableDnsHostnames")
    ]
    out["subnets"] = sorted(
        (s["SubnetId"], s["CidrBlock"], s["AvailabilityZone"], s["MapPublicIpOnLaunch"])
        for s in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [ids["vpc_id"]]}])[
            "Subnets"
        ]
    )
    out["route_tables"] = sorted(
        json.dumps(t, sort_keys=True, default=str)
        for t in ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [ids["vpc_id"]]}])[
            "RouteTables"
        ]
    )
    out["internet_gateways"] = sorted(
        json.dumps(g, sort_keys=True, default=str)
        for g in ec2.describe_internet_gateways(
            Filters=[{"Name": "attachment.vpc-id", "Values": [ids["vpc_id"]]}]
        )["InternetGateways"]
    )
    groups = ec2.describe_security_groups(
        Filters=[{"Name": "group-id", "Values": [ids["lb_group"], *ids["security_groups"]]}]
    )["SecurityGroups"]
    out["security_groups"] = sorted(json.dumps(g, sort_keys=True, default=str) for g in groups)
    out["zones"] = []
    for key in ("public_zone_id", "private_zone_id"):
        z = r53.get_hosted_zone(Id=ids[key])
        recs = r53.list_resource_record_sets(HostedZoneId=ids[key], MaxItems="1000")
        out["zones"].append(
            (
                z["HostedZone"]["Name"],
                z["HostedZone"].get("Config"),
                sorted(v["VPCId"] for v in z.get("VPCs", [])),
                sorted(json.dumps(r, sort_keys=True) for r in recs["ResourceRecordSets"]),
            )
        )
    prof = iam.get_instance_profile(InstanceProfileName=ids["instance_profile"])
    out["profile"] = [r["RoleName"] for r in prof["InstanceProfile"]["Roles"]]
    out["role_policies"] = iam.list_role_policies(RoleName="corp-web-role")["PolicyNames"]
    names = ids["load_balancers"]
    classic = aws(url, "elb").describe_load_balancers()["LoadBalancerDescriptions"]
    out["classic"] = sorted(
        json.dumps({k: v for k, v in lb.items() if k != "Instances"}, sort_keys=True, default=str)
        for lb in classic
        if lb["LoadBalancerName"] in names
    )
    v2 = aws(url, "elbv2")
    albs = [
        lb
        for lb in v2.describe_load_balancers()["LoadBalancers"]
        if lb["LoadBalancerName"] in names
    ]
    out["albs"] = []
    for lb in albs:
        listeners = v2.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]
        tgs = v2.describe_target_groups(LoadBalancerArn=lb["LoadBalancerArn"])["TargetGroups"]
        out["albs"].append(json.dumps([lb, listeners, tgs], sort_keys=True, default=str))
    out["albs"].sort()
    return out
