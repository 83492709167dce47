"""``bluegreen init`` as a reconciler: lost responses, crashes, hand-made
differences, a change of kind refused, the security groups and their
migration, TLS policies, the HTTPS redirect, the private live records, the
alias zone id from the description, Local Zones left out.

The sweeps here run a deterministic sample of the points; ``make
reliability`` (bench/reliability.py) runs every one and counts them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from bluegreen.aws.base import Hook
from chaos import LOCAL_ZONES, Faults, answer_with
from conftest import client, run
from init_chaos import WRITES, setup_shape, sweep_killed, sweep_lost

LB1, LB2 = "londontamed-com-production-1", "londontamed-com-production-2"
LB_GROUP, WEB_GROUP = "londontamed-com-load-balancers", "londontamed-com-production"
# a deterministic sample reaching every resource family (make reliability runs all)
LOST_SAMPLE = {"classic": range(1, 36, 11), "alb": range(6, 40, 12)}
KILL_SAMPLE = {"classic": range(2, 70, 22), "alb": range(9, 90, 27)}


def run_init(*args: str, hooks: list[Hook] | None = None) -> tuple[int, str]:
    r = run("init", *args, hooks=hooks or ())
    return r.code, r.err


def init_json(*args: str, hooks: list[Hook] | None = None) -> dict[str, Any]:
    r = run("--output", "json", "init", *args, hooks=hooks or ())
    assert r.code == 0, r.err
    data: dict[str, Any] = r.json()
    return data


def cert(url: str) -> str:
    arn: str = client(url, "acm").request_certificate(DomainName="*.londontamed.com")[
        "CertificateArn"
    ]
    return arn


def kind_args(kind: str) -> Callable[[str], tuple[str, ...]]:
    def prepare(url: str) -> tuple[str, ...]:
        if kind == "alb":
            return ("--load-balancer", "alb", "--certificate-arn", cert(url))
        return ("--certificate-arn", cert(url), "--admin-cidr", "203.0.113.0/24")

    return prepare


# -- lost responses and crashes ------------------------------------------------------
@pytest.mark.parametrize("kind", ["classic", "alb"])
def test_lost_responses_of_init_converge(aws: str, kind: str) -> None:
    res = sweep_lost(aws, kind_args(kind), run_init, LOST_SAMPLE[kind])
    assert res.failures == [], res.failures[0]
    assert res.converged == res.points == len(LOST_SAMPLE[kind])


@pytest.mark.parametrize("kind", ["classic", "alb"])
def test_init_killed_then_run_again_converges(aws: str, kind: str) -> None:
    res = sweep_killed(aws, kind_args(kind), run_init, KILL_SAMPLE[kind])
    assert res.failures == [], res.failures[0]
    assert res.converged == res.points == len(KILL_SAMPLE[kind])


# -- the three outcomes ------------------------------------------------------------
def test_first_run_creates_second_finds_everything_right(aws: str) -> None:
    first = init_json()
    assert first["repaired"] == [] and len(first["created"]) > 15
    second = init_json()
    assert second["created"] == [] and second["repaired"] == []
    assert len(second["unchanged"]) >= len(first["created"]) - 3


def sg(url: str, name: str) -> dict[str, Any]:
    (g,) = client(url, "ec2").describe_security_groups(
        Filters=[{"Name": "group-name", "Values": [name]}]
    )["SecurityGroups"]
    return dict(g)


def test_a_role_iam_does_not_know_yet_is_waited_for(aws: str) -> None:
    """IAM is eventually consistent: right after CreateRole, PutRolePolicy and
    AddRoleToInstanceProfile may answer NoSuchEntity. init waits (on the
    clock) and tries again instead of failing its first run."""
    from bluegreen.clock import FakeClock
    from chaos import _error_response

    unknown = {"PutRolePolicy": 2, "AddRoleToInstanceProfile": 2}  # answers still to refuse

    def not_yet(request: Any, event_name: str, **_: Any) -> Any:
        op = event_name.split(".")[-1]
        if unknown.get(op, 0) <= 0:
            return None
        unknown[op] -= 1
        return _error_response(request, 404, "NoSuchEntity", "cannot be found", "query")

    clock = FakeClock()
    start = clock.monotonic()
    r = run("init", hooks=[("before-send.iam", not_yet)], clock=clock)
    assert r.code == 0, r.err
    assert unknown == {"PutRolePolicy": 0, "AddRoleToInstanceProfile": 0}
    assert clock.monotonic() - start >= 2.0  # waited before each retry
    iam, role = client(aws, "iam"), "londontamed-com-webserver"
    held = iam.get_instance_profile(InstanceProfileName=role)["InstanceProfile"]["Roles"]
    assert [x["RoleName"] for x in held] == [role]
    assert iam.list_role_policies(RoleName=role)["PolicyNames"] == ["webserver"]


def test_a_foreign_role_in_the_profile_is_removed_though_the_answer_was_lost(aws: str) -> None:
    """The profile holds another role; the removal's answer is lost after IAM
    acted, and the retry meets NoSuchEntity, as in AWS (the emulator answers
    it with an HTTP 500): the role is out, and init goes on."""
    from botocore.exceptions import ReadTimeoutError

    from chaos import _error_response, _forward

    assert run("init").code == 0
    iam, profile = client(aws, "iam"), "londontamed-com-webserver"
    iam.remove_role_from_instance_profile(InstanceProfileName=profile, RoleName=profile)
    iam.create_role(RoleName="someone-else", AssumeRolePolicyDocument="{}")
    iam.add_role_to_instance_profile(InstanceProfileName=profile, RoleName="someone-else")
    sent: list[str] = []

    def lose_then_refuse(request: Any, **_: Any) -> Any:
        sent.append("retry" if sent else "first")
        if len(sent) == 1:
            _forward(request)
            raise ReadTimeoutError(endpoint_url=request.url)
        return _error_response(request, 404, "NoSuchEntity", "not in the profile", "query")

    hook = ("before-send.iam.RemoveRoleFromInstanceProfile", lose_then_refuse)
    data = init_json(hooks=[hook])
    assert sent == ["first", "retry"]
    assert any(f"{profile}): it held role someone-else" in x for x in data["repaired"]), data
    held = iam.get_instance_profile(InstanceProfileName=profile)["InstanceProfile"]["Roles"]
    assert [r["RoleName"] for r in held] == [profile]


def test_hand_made_changes_are_repaired_and_reported(aws: str) -> None:
    arn = cert(aws)
    assert run("init", "--certificate-arn", arn).code == 0
    want = setup_shape(aws)
    ec2, elb, iam = client(aws, "ec2"), client(aws, "elb"), client(aws, "iam")
    lb_group = sg(aws, LB_GROUP)
    ec2.revoke_security_group_ingress(
        GroupId=lb_group["GroupId"],
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 443,
                "ToPort": 443,
                "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
            }
        ],
    )
    ec2.authorize_security_group_ingress(
        GroupId=sg(aws, WEB_GROUP)["GroupId"],
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 22,
                "ToPort": 22,
                "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
            }
        ],
    )
    iam.delete_role_policy(RoleName="londontamed-com-webserver", PolicyName="webserver")
    elb.configure_health_check(
        LoadBalancerName=LB1,
        HealthCheck={
            "Target": "TCP:22",
            "Interval": 30,
            "Timeout": 5,
            "UnhealthyThreshold": 2,
            "HealthyThreshold": 10,
        },
    )
    elb.modify_load_balancer_attributes(
        LoadBalancerName=LB2,
        LoadBalancerAttributes={"ConnectionDraining": {"Enabled": False, "Timeout": 300}},
    )
    # every repair's first answer is lost (AWS acted, the client retries)
    lost = Faults(rate=0.0, lose_first_response=True, writes=WRITES)
    data = init_json("--certificate-arn", arn, hooks=[lost.hook()])
    assert lost.total >= 5, lost.by_operation
    assert data["created"] == []
    text = "\n".join(data["repaired"])
    assert f"security group {LB_GROUP}" in text and "added tcp/443 from 0.0.0.0/0" in text
    assert f"security group {WEB_GROUP}" in text and "removed tcp/22 from 0.0.0.0/0" in text
    assert "inline policy webserver was missing" in text
    assert f"load balancer {LB1}: health check was TCP:22" in text, text
    assert f"load balancer {LB2}: connection draining was off" in text
    assert setup_shape(aws) == want
    assert init_json("--certificate-arn", arn)["repaired"] == []


def test_dry_run_says_what_it_would_repair_and_changes_nothing(
    aws: str, unchanged: Callable[..., Any]
) -> None:
    assert run("init").code == 0
    client(aws, "iam").delete_role_policy(
        RoleName="londontamed-com-webserver", PolicyName="webserver"
    )
    with unchanged():
        r = run("init", "--dry-run")
    assert r.code == 0, r.err
    assert "would repair: IAM role londontamed-com-webserver" in r.out


# -- kinds -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("made", "asked"),
    [
        (("--load-balancer", "alb"), ("--load-balancer", "classic")),
        ((), ("--load-balancer", "alb")),
        (("--load-balancer", "alb", "--strategy", "lb"), ("--strategy", "dns")),
        (("--load-balancer", "alb"), ("--strategy", "lb")),
    ],
)
def test_a_change_of_kind_is_refused_with_nothing_changed(
    aws: str, unchanged: Callable[..., Any], made: tuple[str, ...], asked: tuple[str, ...]
) -> None:
    assert run("init", *made).code == 0
    with unchanged():
        r = run("init", *asked)
    assert r.code == 2, r.err
    assert "does not change a site's kind" in r.err or "strategy needs" in r.err


def test_init_without_the_kind_keeps_the_sites_kind(aws: str) -> None:
    assert run("init", "--load-balancer", "alb", "--strategy", "lb").code == 0
    before = setup_shape(aws)
    data = init_json()  # no --load-balancer, no --strategy: read from what exists
    assert data["created"] == [] and data["repaired"] == []
    assert setup_shape(aws) == before
    assert client(aws, "elb").describe_load_balancers()["LoadBalancerDescriptions"] == []
    # status finds the single ALB without being told either
    r = run("--output", "json", "status")
    assert r.code == 0, r.err
    assert r.json()["problems"] == []
    assert r.json()["live"]["target_group"] == "londontamed-com-tg-1"


# -- AWS behaviours ----------------------------------------------------------------
def test_alias_zone_id_comes_from_the_load_balancer(aws: str) -> None:
    def add_zone(parsed: dict[str, Any]) -> None:
        for lb in parsed.get("LoadBalancerDescriptions", []):
            lb["CanonicalHostedZoneNameID"] = "ZFROMDESCRIPTION"

    hook = answer_with("elastic-load-balancing.DescribeLoadBalancers", add_zone)
    r = run("init", hooks=[hook])
    assert r.code == 0, r.err
    r53 = client(aws, "route53")
    zones = r53.list_hosted_zones()["HostedZones"]
    ids = {
        rr["AliasTarget"]["HostedZoneId"]
        for z in zones
        for rr in r53.list_resource_record_sets(HostedZoneId=z["Id"])["ResourceRecordSets"]
        if "AliasTarget" in rr
    }
    assert ids == {"ZFROMDESCRIPTION"}


def test_a_wrong_alias_zone_id_is_repaired(aws: str) -> None:
    assert run("init").code == 0
    r53 = client(aws, "route53")
    pub = next(z for z in r53.list_hosted_zones()["HostedZones"] if not z["Config"]["PrivateZone"])
    (rr,) = [
        x
        for x in r53.list_resource_record_sets(HostedZoneId=pub["Id"])["ResourceRecordSets"]
        if x["Name"] == "www.londontamed.com."
    ]
    rr["AliasTarget"]["HostedZoneId"] = "ZWRONG"
    r53.change_resource_record_sets(
        HostedZoneId=pub["Id"],
        ChangeBatch={"Changes": [{"Action": "UPSERT", "ResourceRecordSet": rr}]},
    )
    data = init_json()
    assert any("alias hosted zone id was ZWRONG" in x for x in data["repaired"])


def test_no_zone_id_anywhere_is_refused(aws: str) -> None:
    r = run("--region", "eu-north-1", "init")
    # the emulator gives classic load balancers no zone id, and eu-north-1 is not in the table
    assert r.code == 3, r.err
    assert "CanonicalHostedZoneNameID" in r.err


def test_subnets_go_in_ordinary_availability_zones_only(aws: str) -> None:
    edited: list[int] = []  # init read the zones with the local ones listed first

    def add_local_zones(parsed: dict[str, Any]) -> None:
        edited.append(len(parsed.get("AvailabilityZones", [])))
        for z in parsed.get("AvailabilityZones", []):
            z.setdefault("ZoneType", "availability-zone")
        parsed["AvailabilityZones"][:0] = [dict(z) for z in LOCAL_ZONES]

    hook = answer_with("ec2.DescribeAvailabilityZones", add_local_zones)
    r = run("init", hooks=[hook])
    assert r.code == 0, r.err
    assert edited and all(edited), edited
    azs = {
        s["AvailabilityZone"]
        for s in client(aws, "ec2").describe_subnets()["Subnets"]
        if s["CidrBlock"].startswith("10.0.")
    }
    assert azs and all(not z.startswith(("us-east-1-bos", "us-east-1-wl1")) for z in azs)
    assert len(azs) == 2


# -- security groups ----------------------------------------------------------------
def test_instances_of_a_deploy_use_the_instances_group(aws: str) -> None:
    from conftest import register_images

    assert run("init").code == 0
    register_images(aws, "v1")
    assert run("deploy", "--version", "v1").code == 0
    ec2 = client(aws, "ec2")
    (lt,) = ec2.describe_launch_templates()["LaunchTemplates"]
    data = ec2.describe_launch_template_versions(LaunchTemplateId=lt["LaunchTemplateId"])[
        "LaunchTemplateVersions"
    ][0]["LaunchTemplateData"]
    assert data["SecurityGroupIds"] == [sg(aws, WEB_GROUP)["GroupId"]]
    lbs = client(aws, "elb").describe_load_balancers()["LoadBalancerDescriptions"]
    assert {lb["LoadBalancerName"]: lb["SecurityGroups"] for lb in lbs} == {
        name: [sg(aws, LB_GROUP)["GroupId"]] for name in (LB1, LB2)
    }


def _old_site(url: str) -> None:
    """A site as made before the split: one group on the load balancers (and
    the instances), 80/443 from the world, 3001 from itself."""
    assert run("init").code == 0
    ec2, elb = client(url, "ec2"), client(url, "elb")
    web, lb = sg(url, WEB_GROUP), sg(url, LB_GROUP)
    for name in (LB1, LB2):
        elb.apply_security_groups_to_load_balancer(
            LoadBalancerName=name, SecurityGroups=[web["GroupId"]]
        )
    ec2.revoke_security_group_ingress(GroupId=web["GroupId"], IpPermissions=web["IpPermissions"])
    world = {"IpRanges": [{"CidrIp": "0.0.0.0/0"}], "Ipv6Ranges": [{"CidrIpv6": "::/0"}]}
    ec2.authorize_security_group_ingress(
        GroupId=web["GroupId"],
        IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, **world},
            {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, **world},
            {
                "IpProtocol": "tcp",
                "FromPort": 3001,
                "ToPort": 3001,
                "UserIdGroupPairs": [{"GroupId": web["GroupId"]}],
            },
        ],
    )
    ec2.delete_security_group(GroupId=lb["GroupId"])


def test_an_old_site_moves_to_two_groups_without_downtime(aws: str) -> None:
    """Every call init makes while moving is checked: at no point may a load
    balancer be unable to reach the instances' web and health-check ports."""
    from conftest import register_images

    _old_site(aws)
    register_images(aws, "v1")
    assert run("deploy", "--version", "v1").code == 0
    assert run("switch").code == 0
    ec2, elb = client(aws, "ec2"), client(aws, "elb")
    web_id = sg(aws, WEB_GROUP)["GroupId"]
    broken: list[str] = []
    checked: set[str] = set()  # the writes after which it was checked

    def reachable(**kwargs: Any) -> None:
        checked.add(kwargs["event_name"].split(".")[-1])
        groups = {g["GroupId"]: g for g in ec2.describe_security_groups()["SecurityGroups"]}
        for lb in elb.describe_load_balancers()["LoadBalancerDescriptions"]:
            for port in (80, 3001):
                ok = any(
                    p.get("FromPort") == port
                    and (
                        any(r["CidrIp"] == "0.0.0.0/0" for r in p.get("IpRanges", []))
                        or any(
                            g["GroupId"] in lb["SecurityGroups"]
                            for g in p.get("UserIdGroupPairs", [])
                        )
                    )
                    for p in groups[web_id]["IpPermissions"]
                )
                if not ok:
                    broken.append(
                        f"{lb['LoadBalancerName']} cannot reach port {port} after {kwargs['event_name']}"
                    )

    writes = (
        "ApplySecurityGroupsToLoadBalancer",
        "RevokeSecurityGroupIngress",
        "AuthorizeSecurityGroupIngress",
    )
    hooks: list[Hook] = [
        (f"after-call.{svc}.{op}", reachable)
        for svc in ("ec2", "elastic-load-balancing")
        for op in writes
    ]
    data = init_json(hooks=hooks)
    assert broken == [] and checked == set(writes), (broken, checked)
    text = "\n".join(data["repaired"])
    assert f"security group {WEB_GROUP}" in text and "removed tcp/80 from 0.0.0.0/0" in text
    assert any(c.startswith(f"security group {LB_GROUP}") for c in data["created"])
    # the end state is a new site's
    lb_id = sg(aws, LB_GROUP)["GroupId"]
    lbs = elb.describe_load_balancers()["LoadBalancerDescriptions"]
    assert {lb["LoadBalancerName"]: lb["SecurityGroups"] for lb in lbs} == {
        LB1: [lb_id],
        LB2: [lb_id],
    }
    rules = sg(aws, WEB_GROUP)["IpPermissions"]
    assert all(p["IpRanges"] == [] and p["Ipv6Ranges"] == [] for p in rules)
    assert sorted(p["FromPort"] for p in rules) == [80, 3001]
    status = run("--output", "json", "status").json()
    assert status["problems"] == [] and status["live"]["healthy"] > 0


# -- TLS and redirect -----------------------------------------------------------------
def test_classic_https_listener_has_a_tls12_policy(aws: str) -> None:
    arn = cert(aws)
    assert run("init", "--certificate-arn", arn).code == 0
    elb = client(aws, "elb")
    for name in (LB1, LB2):
        (lb,) = elb.describe_load_balancers(LoadBalancerNames=[name])["LoadBalancerDescriptions"]
        (https,) = [
            d for d in lb["ListenerDescriptions"] if d["Listener"]["LoadBalancerPort"] == 443
        ]
        (policy,) = https["PolicyNames"]
        desc = elb.describe_load_balancer_policies(LoadBalancerName=name, PolicyNames=[policy])
        attrs = {
            a["AttributeName"]: a["AttributeValue"]
            for a in desc["PolicyDescriptions"][0]["PolicyAttributeDescriptions"]
        }
        assert attrs["Reference-Security-Policy"] == "ELBSecurityPolicy-TLS-1-2-2017-01"


def test_tls_policy_setting_and_redirect_switch_on_alb(aws: str) -> None:
    arn = cert(aws)
    assert run("init", "--load-balancer", "alb", "--certificate-arn", arn).code == 0
    v2 = client(aws, "elbv2")

    def listeners() -> dict[int, dict[str, Any]]:
        (lb,) = v2.describe_load_balancers(Names=[LB1])["LoadBalancers"]
        return {
            ls["Port"]: ls
            for ls in v2.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]
        }

    assert listeners()[80]["DefaultActions"][0]["Type"] == "redirect"
    data = init_json(
        "--certificate-arn",
        arn,
        "--tls-policy",
        "ELBSecurityPolicy-TLS13-1-3-2021-06",
        "--no-https-redirect",
    )
    text = "\n".join(data["repaired"])
    assert "TLS policy was ELBSecurityPolicy-TLS13-1-2-2021-06" in text
    assert "it did not forward to a target group" in text
    ls = listeners()
    assert ls[443]["SslPolicy"] == "ELBSecurityPolicy-TLS13-1-3-2021-06"
    assert ls[80]["DefaultActions"][0]["Type"] == "forward"


def test_a_policy_allowing_tls10_is_refused(aws: str, unchanged: Callable[..., Any]) -> None:
    with unchanged():
        r = run("init", "--certificate-arn", cert(aws), "--tls-policy", "ELBSecurityPolicy-2016-08")
    assert r.code == 2
    assert "TLS 1.2+" in r.err


# -- private live records ------------------------------------------------------------
def test_private_zone_holds_the_live_names_where_the_public_ones_point(aws: str) -> None:
    from conftest import records

    assert run("init").code == 0
    r53 = client(aws, "route53")
    priv = next(z for z in r53.list_hosted_zones()["HostedZones"] if z["Config"]["PrivateZone"])
    (www,) = [
        x
        for x in r53.list_resource_record_sets(HostedZoneId=priv["Id"])["ResourceRecordSets"]
        if x["Name"] == "www.londontamed.com."
    ]
    # moved by hand to the staging balancer: init points it back where the public one points
    staging = records(aws, private=True)["www-staging.londontamed.com."]
    www["AliasTarget"]["DNSName"] = staging
    r53.change_resource_record_sets(
        HostedZoneId=priv["Id"],
        ChangeBatch={"Changes": [{"Action": "UPSERT", "ResourceRecordSet": www}]},
    )
    data = init_json()
    assert any("www.londontamed.com pointed at" in x for x in data["repaired"]), data
    assert records(aws, private=True, live=True) == records(aws, private=False)


def test_result_is_json_with_three_lists(aws: str) -> None:
    data = init_json()
    assert set(data) >= {"created", "repaired", "unchanged", "domain", "dry_run"}
    assert [type(data[k]) for k in ("created", "repaired", "unchanged")] == [list] * 3
    json.dumps(data)


def test_teardown_removes_both_groups_and_runs_again(aws: str) -> None:
    assert run("init", "--admin-cidr", "203.0.113.0/24").code == 0

    def groups() -> list[str]:
        return sorted(
            g["GroupName"]
            for g in client(aws, "ec2").describe_security_groups(
                Filters=[{"Name": "group-name", "Values": [LB_GROUP, WEB_GROUP]}]
            )["SecurityGroups"]
        )

    assert groups() == sorted([LB_GROUP, WEB_GROUP])
    r = run("teardown", "--yes")
    assert r.code == 0, r.err
    assert groups() == []
    assert run("teardown", "--yes").code == 0
