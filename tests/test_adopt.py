"""Bring your own infrastructure: a site whose VPC, subnets, zones, load
balancers, instance profile and security groups were made beforehand (with
boto3, under names that are not bluegreen's) runs the whole cycle, and its
teardown leaves every adopted resource in place and unchanged."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

import adopt_infra
from bluegreen.aws.base import Hook
from chaos import aws as client
from conftest import TWO_RELEASES, register_images, run
from init_chaos import sweep_killed, sweep_lost

CERT = "arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d-1111-2222-3333-444455556666"


@pytest.mark.parametrize(
    ("kind", "groups"), [("classic", True), ("alb", False)], ids=["classic", "alb"]
)
def test_adopted_site_runs_the_whole_cycle_and_teardown_keeps_it(
    aws: str, tmp_path: Path, kind: str, groups: bool, unchanged: Callable[..., Any]
) -> None:
    ids = adopt_infra.build(aws, kind)
    (tmp_path / "bluegreen.toml").write_text(adopt_infra.toml(ids, kind=kind, groups=groups))
    before = adopt_infra.snapshot(aws, ids)
    with unchanged():
        dry = run("--output", "json", "init", "--dry-run")
    assert dry.code == 0, dry.err

    r = run("--output", "json", "init")
    assert r.code == 0, r.err
    made = r.json()
    created = " ".join(made["created"])
    # what bluegreen made: the lock table, its records, and (unless adopted) the
    # web servers' group; nothing of the network, no zone, no load balancer, no role
    assert "DynamoDB table" in created and "alias records" in created
    assert ("security group londontamed-com-production" in created) is not groups
    for item in made["created"]:
        assert not item.startswith(
            (
                "VPC",
                "subnet",
                "internet gateway",
                "route table",
                "public hosted zone",
                "private hosted zone",
                "load balancer",
                "application load balancer",
                "IAM role",
                "instance profile",
                "target group",
                "security group londontamed-com-load",
            )
        ), item
    assert made["repaired"] == []
    again = run("--output", "json", "init")
    assert again.code == 0, again.err
    assert again.json()["created"] == [] and again.json()["repaired"] == []
    assert adopt_infra.snapshot(aws, ids) == {
        **before,
        "zones": adopt_infra.snapshot(aws, ids)["zones"],
    }

    register_images(aws, "v1", "v2")
    for args in (
        *TWO_RELEASES,
        ("rollback",),
        ("switch",),
        ("clean", "--yes"),
    ):
        r = run(*args)
        assert r.code == 0, (args, r.err)
    st = run("--output", "json", "status").json()
    assert st["problems"] == []
    assert st["live"]["version"] == "v2" and st["live"]["load_balancer"] in ids["load_balancers"]
    assert st["live"]["healthy"] == st["live"]["desired"] > 0
    res = st["resources"]
    assert res["vpc"] == {"owner": "adopted", "setting": "vpc_id", "id": ids["vpc_id"]}
    assert res["load_balancers"]["id"] == ids["load_balancers"]
    assert res["security_groups"]["owner"] == ("adopted" if groups else "bluegreen")
    text = run("status").out
    assert "adopted (never changed or deleted): VPC " + ids["vpc_id"] in text
    cfg = run("--output", "json", "config").json()
    assert cfg["resources"]["public_zone"]["id"] == ids["public_zone_id"]
    assert "made and owned by bluegreen:" in run("config").out

    # the web servers run with the adopted profile and groups, in the load balancers' subnets
    ec2 = client(aws, "ec2")
    lt = ec2.describe_launch_templates()["LaunchTemplates"][0]["LaunchTemplateName"]
    data = ec2.describe_launch_template_versions(LaunchTemplateName=lt)["LaunchTemplateVersions"][
        0
    ]["LaunchTemplateData"]
    assert data["IamInstanceProfile"]["Name"] == "corp-web"
    if groups:
        assert data["SecurityGroupIds"] == ids["security_groups"]
    else:
        own = ec2.describe_security_groups(GroupIds=data["SecurityGroupIds"])["SecurityGroups"]
        assert [g["GroupName"] for g in own] == ["londontamed-com-production"]
        assert {p["UserIdGroupPairs"][0]["GroupId"] for p in own[0]["IpPermissions"]} == {
            ids["lb_group"]
        }

    r = run("--output", "json", "teardown", "--yes")
    assert r.code == 0, r.err
    assert any("adopted" in k for k in r.json()["kept"])
    # every adopted resource is there, unchanged, records included (bluegreen's
    # alias records are gone, the zones' own record is kept)
    assert adopt_infra.snapshot(aws, ids) == before
    again = run("--output", "json", "teardown", "--yes")
    assert again.code == 0, again.err
    assert adopt_infra.snapshot(aws, ids) == before
    asg = client(aws, "autoscaling")
    assert asg.describe_auto_scaling_groups()["AutoScalingGroups"] == []
    tagged = [{"Name": "tag:bluegreen:domain", "Values": ["londontamed.com"]}]
    assert ec2.describe_security_groups(Filters=tagged)["SecurityGroups"] == []


def _adopt(tmp_path: Path, ids: dict[str, Any], kind: str, extra: str = "", **changes: Any) -> None:
    (tmp_path / "bluegreen.toml").write_text(
        adopt_infra.toml({**ids, **changes}, kind=kind) + extra
    )


def test_what_init_would_have_to_change_is_refused_with_nothing_changed(
    aws: str, tmp_path: Path, unchanged: Callable[..., Any]
) -> None:
    """Each problem named in one refusal (exit 2), and nothing made or changed."""
    ids = adopt_infra.build(aws, "classic")
    ec2, elb, r53 = client(aws, "ec2"), client(aws, "elb"), client(aws, "route53")
    other_vpc = ec2.create_vpc(CidrBlock="10.50.0.0/16")["Vpc"]["VpcId"]
    stray = ec2.create_subnet(VpcId=other_vpc, CidrBlock="10.50.0.0/20")["Subnet"]["SubnetId"]
    # a load balancer without the listener or the health check the workflow needs
    elb.create_load_balancer(
        LoadBalancerName="corp-tcp",
        Listeners=[
            {
                "Protocol": "TCP",
                "LoadBalancerPort": 8080,
                "InstanceProtocol": "TCP",
                "InstancePort": 8080,
            }
        ],
        Subnets=ids["subnet_ids"],
        SecurityGroups=[ids["lb_group"]],
    )
    # a web servers' group that admits nothing from the load balancers
    bare = ec2.create_security_group(GroupName="corp-bare", Description="x", VpcId=ids["vpc_id"])[
        "GroupId"
    ]
    other_zone = r53.create_hosted_zone(Name="example.org", CallerReference="other")["HostedZone"]
    _adopt(
        tmp_path,
        ids,
        "classic",
        subnet_ids=[ids["subnet_ids"][0], stray],
        load_balancers=["corp-blue", "corp-tcp"],
        security_groups=[bare],
        public_zone_id=other_zone["Id"].split("/")[-1],
        extra=f'certificate_arn = "{CERT}"\n',
    )
    with unchanged():
        r = run("init")
    assert r.code == 2, r.err
    for needle in (
        f"subnet_ids: {stray} is in {other_vpc}, not in vpc_id {ids['vpc_id']}",
        "load_balancers: corp-tcp has no HTTP listener from port 80",
        "load_balancers: corp-tcp checks health with nothing, the workflow needs HTTP:3001/health",
        f"security_groups: none of {bare} admits tcp/80",
        "is the zone of example.org., not of londontamed.com.",
        f"load_balancers: corp-blue has no HTTPS listener on 443 with certificate_arn {CERT}",
        "nothing was changed",
    ):
        assert needle in r.err, (needle, r.err)


def test_missing_ids_are_named_with_their_setting(
    aws: str, tmp_path: Path, unchanged: Callable[..., Any]
) -> None:
    ids = adopt_infra.build(aws, "alb")
    _adopt(
        tmp_path,
        ids,
        "alb",
        vpc_id="vpc-0123456789abcdef0",
        load_balancers=["corp-blue", "corp-nowhere"],
        instance_profile="corp-missing",
        private_zone_id="Z0000000000000000000",
        security_groups=["sg-0123456789abcdef0"],
    )
    with unchanged():
        r = run("init")
    assert r.code == 2
    for needle in (
        "vpc_id: vpc-0123456789abcdef0 does not exist in us-east-1",
        "security_groups: sg-0123456789abcdef0 does not exist in us-east-1",
        "load_balancers: corp-nowhere does not exist",
        "instance_profile: corp-missing does not exist",
        "private_zone_id: Z0000000000000000000 does not exist",
    ):
        assert needle in r.err, (needle, r.err)


def test_private_zone_not_bound_and_foreign_record_are_refused(
    aws: str, tmp_path: Path, unchanged: Callable[..., Any]
) -> None:
    ids = adopt_infra.build(aws, "classic")
    r53 = client(aws, "route53")
    ec2 = client(aws, "ec2")
    elsewhere = ec2.create_vpc(CidrBlock="10.60.0.0/16")["Vpc"]["VpcId"]
    lonely = r53.create_hosted_zone(
        Name="londontamed.com",
        CallerReference="lonely",
        HostedZoneConfig={"PrivateZone": True},
        VPC={"VPCRegion": "us-east-1", "VPCId": elsewhere},
    )["HostedZone"]["Id"].split("/")[-1]
    r53.change_resource_record_sets(
        HostedZoneId=ids["public_zone_id"],
        ChangeBatch={
            "Changes": [
                {
                    "Action": "CREATE",
                    "ResourceRecordSet": {
                        "Name": "www.londontamed.com",
                        "Type": "CNAME",
                        "TTL": 60,
                        "ResourceRecords": [{"Value": "shop.example.net"}],
                    },
                }
            ]
        },
    )
    _adopt(tmp_path, ids, "classic", private_zone_id=lonely)
    with unchanged():
        r = run("init")
    assert r.code == 2
    assert f"private_zone_id: {lonely} is not bound to vpc_id {ids['vpc_id']}" in r.err
    assert "public_zone_id: www.londontamed.com already exists" in r.err


def test_settings_that_need_the_vpc_are_refused_without_it(aws: str) -> None:
    r = run("--load-balancers", "a,b", "status")
    assert r.code == 2 and "load_balancers given without vpc_id" in r.err
    r = run("--vpc-id", "vpc-0123456789abcdef0", "status")
    assert r.code == 2 and "vpc_id given without subnet_ids" in r.err
    r = run("--load-balancers", "a", "config")
    assert r.code == 2 and "the site needs two" in r.err
    r = run("--vpc-id", "vpc-x", "config")
    assert r.code == 2 and "'vpc-x' is not a VPC id" in r.err


# -- lost responses and crashes of init on adopted resources ----------------------------
def adopted_args(kind: str, groups: bool) -> Callable[[str], tuple[str, ...]]:
    """Sweeps' preparation: the infrastructure made afresh, adopted by flags."""

    def prepare(url: str) -> tuple[str, ...]:
        ids = adopt_infra.build(url, kind)
        return ("--load-balancer", kind, *adopt_infra.flags(ids, groups=groups))

    return prepare


def run_init(*args: str, hooks: Sequence[Hook] | None = None) -> tuple[int, str]:
    r = run("init", *args, hooks=hooks or ())
    return r.code, r.err


# a deterministic sample (make reliability runs every point)
ADOPT_LOST = (1, 3, 5)  # of the five changing requests
ADOPT_KILLED = range(4, 57, 20)


def test_lost_responses_and_kills_of_init_on_adopted_resources_converge(aws: str) -> None:
    prepare = adopted_args("alb", groups=False)
    lost = sweep_lost(aws, prepare, run_init, ADOPT_LOST)
    assert lost.failures == [], lost.failures[0]
    killed = sweep_killed(aws, prepare, run_init, ADOPT_KILLED)
    assert killed.failures == [], killed.failures[0]
    assert (lost.converged, killed.converged) == (len(ADOPT_LOST), len(ADOPT_KILLED))


# -- iam-policy ---------------------------------------------------------------------------
def test_iam_policy_scopes_to_the_adopted_resources_and_allows_their_cycle(
    aws: str, tmp_path: Path
) -> None:
    import json

    import policy_sim as sim

    ids = adopt_infra.build(aws, "alb")
    (tmp_path / "bluegreen.toml").write_text(adopt_infra.toml(ids, kind="alb", groups=False))

    def record(*args: str) -> list[sim.Call]:
        rec = sim.Recorder()
        r = run(*args, hooks=rec.hooks)
        assert r.code == 0, (args, r.err)
        return rec.calls

    policy = {
        p: json.loads(run("iam-policy", "--for", p).out) for p in ("init", "operate", "teardown")
    }
    calls = {"init": record("init")}
    register_images(aws, "v1")
    calls["operate"] = [c for a in (("deploy", "--version", "v1"), ("switch",)) for c in record(*a)]
    calls["teardown"] = record("teardown", "--yes")
    world = sim.World()
    for purpose, made in calls.items():
        denied = [q for q in sim.requests(made, world) if not sim.allowed(policy[purpose], q)]
        assert denied == [], (purpose, "\n".join(map(str, denied)))

    by_sid = {st["Sid"]: st for p in policy.values() for st in p["Statement"]}
    assert by_sid["PassWebServerRole"]["Resource"].endswith(":role/corp-web-role")
    # the adopted balancers and target groups: no policy of this site writes on them
    assert not {"OwnLoadBalancers", "OwnTargetGroups"} & set(by_sid), sorted(by_sid)
    zones = json.dumps(by_sid["ChangeLiveRecords"]["Resource"])
    assert ids["public_zone_id"] in zones
    init_actions = {a for st in policy["init"]["Statement"] for a in st["Action"]}
    assert "elasticloadbalancing:CreateLoadBalancer" not in init_actions
    assert "iam:CreateRole" not in init_actions
    assert "route53:CreateHostedZone" not in init_actions


# -- ownership by tag ---------------------------------------------------------------------
def test_teardown_keeps_a_look_alike_without_the_domains_tag(aws: str) -> None:
    """Ownership is the tag, not the name: a key pair named like the site's but
    not tagged with the domain (someone else's) survives teardown."""
    assert run("init", "--key-pair").code == 0
    ec2 = client(aws, "ec2")
    pair = ec2.describe_key_pairs(KeyNames=["londontamed-com-production"])["KeyPairs"][0]
    ec2.delete_tags(Resources=[pair["KeyPairId"]], Tags=[{"Key": "bluegreen:domain"}])
    r = run("--output", "json", "teardown", "--yes")
    assert r.code == 0, r.err
    assert any("key pair londontamed-com-production: not tagged" in k for k in r.json()["kept"])
    assert ec2.describe_key_pairs(KeyNames=["londontamed-com-production"])["KeyPairs"]
    assert client(aws, "elb").describe_load_balancers()["LoadBalancerDescriptions"] == []


@pytest.mark.parametrize(
    ("kind", "strategy"),
    [
        ("classic", "rolling"),
        ("classic", "weighted"),
        ("classic", "lb"),
        ("alb", "rolling"),
        ("alb", "weighted"),
    ],
)
def test_every_strategy_runs_on_adopted_load_balancers(
    aws: str, tmp_path: Path, kind: str, strategy: str
) -> None:
    """Beyond ``dns``: every strategy that fits two load balancers (``lb`` on
    ALB needs one ALB of bluegreen's, and is refused) runs on adopted ones: a
    release, a second one, a rollback; teardown keeps every adopted resource
    as it was."""
    ids = adopt_infra.build(aws, kind)
    extra = f'strategy = "{strategy}"\n' + (
        'steps = [50, 100]\ninterval = "30s"\n' if strategy == "weighted" else 'timeout = "120s"\n'
    )
    (tmp_path / "bluegreen.toml").write_text(adopt_infra.toml(ids, kind=kind) + extra)
    before = adopt_infra.snapshot(aws, ids)
    r = run("init")
    assert r.code == 0, r.err
    register_images(aws, "v1", "v2")
    for args in (*TWO_RELEASES, ("rollback",)):
        r = run(*args)
        assert r.code == 0, (args, r.err)
    st = run("--output", "json", "status").json()
    assert st["problems"] == [], st["problems"]
    assert st["live"]["version"] == "v1", st["live"]
    assert st["live"]["load_balancer"] in ids["load_balancers"]
    assert st["live"]["healthy"] == st["live"]["desired"] > 0
    public = {
        r["Name"]: r
        for r in client(aws, "route53").list_resource_record_sets(
            HostedZoneId=ids["public_zone_id"]
        )["ResourceRecordSets"]
    }
    assert "www.londontamed.com." in public and "Weight" not in public["www.londontamed.com."]
    r = run("teardown", "--yes")
    assert r.code == 0, r.err
    assert adopt_infra.snapshot(aws, ids) == before
