"""``bluegreen teardown`` and two sites side by side in one account (one
settings file each, ``--config``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bluegreen.images import catalog as images
from chaos import Faults
from conftest import client, run, session

A = "londontamed.com"
B = "example.org"


def on(cfg: Path, *args: str, **kw: Any) -> Any:
    return run("--config", str(cfg), *args, domain=None, **kw)


def leftovers(url: str, domain: str) -> list[str]:
    """Everything in the emulator that still names or is tagged with ``domain``."""
    slug = domain.replace(".", "-")
    out: list[str] = []
    asg = client(url, "autoscaling")
    ec2 = client(url, "ec2")
    out += [
        g["AutoScalingGroupName"]
        for g in asg.describe_auto_scaling_groups()["AutoScalingGroups"]
        if slug in g["AutoScalingGroupName"]
    ]
    out += [
        c["LaunchConfigurationName"]
        for c in asg.describe_launch_configurations()["LaunchConfigurations"]
        if slug in c["LaunchConfigurationName"]
    ]
    out += [
        t["LaunchTemplateName"]
        for t in ec2.describe_launch_templates()["LaunchTemplates"]
        if slug in t["LaunchTemplateName"]
    ]
    tagged = [{"Name": "tag:bluegreen:domain", "Values": [domain]}]
    for op, key, id_key in (
        ("describe_vpcs", "Vpcs", "VpcId"),
        ("describe_subnets", "Subnets", "SubnetId"),
        ("describe_security_groups", "SecurityGroups", "GroupId"),
        ("describe_route_tables", "RouteTables", "RouteTableId"),
        ("describe_internet_gateways", "InternetGateways", "InternetGatewayId"),
        ("describe_key_pairs", "KeyPairs", "KeyName"),
    ):
        out += [f"{key}:{x[id_key]}" for x in getattr(ec2, op)(Filters=tagged)[key]]
    running = [
        i["InstanceId"]
        for r in ec2.describe_instances(
            Filters=[{"Name": "tag:bluegreen:domain", "Values": [domain]}]
        )["Reservations"]
        for i in r["Instances"]
        if i["State"]["Name"] not in ("terminated", "shutting-down")
    ]
    out += running
    out += [
        lb["LoadBalancerName"]
        for lb in client(url, "elb").describe_load_balancers()["LoadBalancerDescriptions"]
        if slug in lb["LoadBalancerName"]
    ]
    out += [
        z["Id"]
        for z in client(url, "route53").list_hosted_zones()["HostedZones"]
        if z["Name"] == domain + "."
    ]
    iam = client(url, "iam")
    out += [r["RoleName"] for r in iam.list_roles()["Roles"] if slug in r["RoleName"]]
    out += [
        p["InstanceProfileName"]
        for p in iam.list_instance_profiles()["InstanceProfiles"]
        if slug in p["InstanceProfileName"]
    ]
    ddb = client(url, "dynamodb")
    if "bluegreen" in ddb.list_tables()["TableNames"]:
        out += [
            json.dumps(i)
            for i in ddb.scan(TableName="bluegreen")["Items"]
            if i["pk"]["S"].endswith("#" + domain)
        ]
    return out


def two_sites(url: str, tmp_path: Path) -> tuple[Path, Path]:
    a = tmp_path / "a.toml"
    a.write_text(f'domain = "{A}"\nkey_pair = true\n')
    b = tmp_path / "b.toml"
    b.write_text(f'domain = "{B}"\nhosts = ["shop"]\ncapacity = 1\n')
    for cfg, domain in ((a, A), (b, B)):
        assert on(cfg, "init").code == 0
        sess = session(url, domain=domain)
        images.register_demo_image(sess.gw, sess.names, "v1")
        images.register_demo_image(sess.gw, sess.names, "v2")
        r = on(cfg, "release", "--version", "v1")
        assert r.code == 0, r.err
    # a has a release in staging too, and used a launch configuration once
    assert on(a, "deploy", "--version", "v2", "--launch-configuration").code == 0
    return a, b


def test_two_sites_side_by_side_and_teardown_of_one(aws: str, tmp_path: Path) -> None:
    a, b = two_sites(aws, tmp_path)
    sa = on(a, "--output", "json", "status").json()
    sb = on(b, "--output", "json", "status").json()
    assert sa["domain"] == A and sb["domain"] == B
    assert sa["live"]["version"] == "v1" and sa["staging"]["version"] == "v2"
    assert sb["live"]["version"] == "v1" and sb["live"]["desired"] == 1
    assert leftovers(aws, A) and leftovers(aws, B)

    r = on(a, "--output", "json", "teardown", "--yes")
    assert r.code == 0, r.err
    data = r.json()
    assert data["result"] == "succeeded"
    assert any("release images" in k for k in data["kept"])
    assert leftovers(aws, A) == []
    # the other site is untouched and still works
    assert on(b, "--output", "json", "status").json() == sb
    assert "bluegreen" in client(aws, "dynamodb").list_tables()["TableNames"]
    assert on(b, "release", "--version", "v2").code == 0

    # running it again finds nothing left
    r = on(a, "teardown", "--yes")
    assert r.code == 0, r.err
    assert "nothing of londontamed.com is left" in r.err

    # the last site takes the shared table with it
    assert on(b, "teardown", "--yes").code == 0
    assert leftovers(aws, B) == []
    assert client(aws, "dynamodb").list_tables()["TableNames"] == []


def test_interrupted_teardown_finishes_when_run_again(live_v1: dict[str, str], aws: str) -> None:
    def boom(**_: Any) -> None:
        raise KeyboardInterrupt

    r = run("teardown", "--yes", hooks=[("before-send.ec2.DeleteSubnet", boom)])
    assert r.code == 130, r.err
    hist = run("--output", "json", "history").json()
    assert hist[0]["command"] == "teardown" and hist[0]["result"] == "failed"
    assert run("--output", "json", "status").json()["lock"] is None
    r = run("teardown", "--yes")
    assert r.code == 0, r.err
    assert leftovers(aws, A) == []


def test_teardown_needs_yes_off_a_terminal(live_v1: dict[str, str], unchanged: Any) -> None:
    with unchanged():
        r = run("teardown")
    assert r.code == 2
    assert "pass --yes" in r.err


def test_teardown_dry_run(live_v1: dict[str, str], unchanged: Any) -> None:
    with unchanged():
        r = run("--output", "json", "teardown", "--dry-run")
    assert r.code == 0, r.err
    steps = r.json()["steps"]
    assert steps[0].startswith("delete autoscaling group londontamed-com-v1-")
    assert steps[-2] == "delete the history of londontamed.com from table bluegreen"
    assert steps[-1].startswith("delete table bluegreen if no other site")


def test_teardown_keeps_a_zone_it_did_not_create(aws: str) -> None:
    r53 = client(aws, "route53")
    zone = r53.create_hosted_zone(Name=A + ".", CallerReference="mine")["HostedZone"]["Id"]
    r53.change_resource_record_sets(
        HostedZoneId=zone,
        ChangeBatch={
            "Changes": [
                {
                    "Action": "CREATE",
                    "ResourceRecordSet": {
                        "Name": A + ".",
                        "Type": "MX",
                        "TTL": 300,
                        "ResourceRecords": [{"Value": "10 mail.example.net."}],
                    },
                }
            ]
        },
    )
    assert run("init").code == 0
    r = run("--output", "json", "teardown", "--yes")
    assert r.code == 0, r.err
    assert any("did not create" in k for k in r.json()["kept"])
    zones = [z["Id"] for z in r53.list_hosted_zones()["HostedZones"]]
    assert zones == [zone]
    names = {
        x["Name"] for x in r53.list_resource_record_sets(HostedZoneId=zone)["ResourceRecordSets"]
    }
    assert names == {A + "."}  # the www and api aliases went, the MX stayed


def test_teardown_of_an_alb_site_whose_every_first_answer_is_lost(aws: str, tmp_path: Path) -> None:
    """Each delete's first response is lost (AWS acted, the client retries):
    the retry finds the thing gone, and the teardown finishes in one run."""
    (tmp_path / "bluegreen.toml").write_text('load_balancer = "alb"\n')
    assert run("init").code == 0
    sess = session(aws, domain=A, load_balancer="alb")
    images.register_demo_image(sess.gw, sess.names, "v1")
    r = run("release", "--version", "v1")
    assert r.code == 0, r.err
    elbv2 = client(aws, "elbv2")
    assert elbv2.describe_load_balancers()["LoadBalancers"]
    lost = Faults(rate=0.0, lose_first_response=True)
    r = run("teardown", "--yes", hooks=[lost.hook()])
    assert r.code == 0, r.err
    for op in ("ChangeResourceRecordSets", "DeleteHostedZone", "DeleteTargetGroup"):
        assert any(k.endswith(op) for k in lost.by_operation), (op, lost.by_operation)
    assert leftovers(aws, A) == []
    assert elbv2.describe_load_balancers()["LoadBalancers"] == []
    assert elbv2.describe_target_groups()["TargetGroups"] == []
