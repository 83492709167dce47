"""The seed's workflow end to end against the emulator: init, deploy, switch,
rollback, clean, status, and every refusal (with nothing changed)."""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Callable
from pathlib import Path

from conftest import DOMAIN, client, records, run

Unchanged = Callable[..., contextlib.AbstractContextManager[None]]
LB1 = "londontamed-com-production-1"
LB2 = "londontamed-com-production-2"


def status(*extra: str) -> dict[str, object]:
    r = run("--output", "json", "status", *extra)
    assert r.code == 0, r.err
    data = r.json()
    assert isinstance(data, dict)
    return data


def env(role: str) -> dict[str, object]:
    e = status()[role]
    assert isinstance(e, dict)
    return e


def test_init_creates_the_seed_set_up(aws: str) -> None:
    r = run("init")
    assert r.code == 0, r.err
    ec2 = client(aws, "ec2")
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": ["londontamed-com"]}])["Vpcs"]
    assert len(vpcs) == 1
    subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpcs[0]["VpcId"]]}])[
        "Subnets"
    ]
    names = {t["Value"] for s in subnets for t in s.get("Tags", []) if t["Key"] == "Name"}
    assert {"londontamed-com-public-1", "londontamed-com-public-2"} <= names
    assert len({s["AvailabilityZone"] for s in subnets}) == 2
    lbs = client(aws, "elb").describe_load_balancers()["LoadBalancerDescriptions"]
    assert sorted(lb["LoadBalancerName"] for lb in lbs) == [LB1, LB2]
    for lb in lbs:
        assert lb["HealthCheck"]["Target"] == "HTTP:3001/health"
        assert len(lb["Subnets"]) == 2
    pub = records(aws, private=False)
    priv = records(aws, private=True)
    assert set(pub) == {"www.londontamed.com.", "api.londontamed.com."}
    assert set(priv) == {"www-staging.londontamed.com.", "api-staging.londontamed.com."}
    assert all(LB1 in t for t in pub.values())
    assert all(LB2 in t for t in priv.values())
    # the private zone also holds the live names, where the public ones point
    assert records(aws, private=True, live=True) == pub
    data = status()
    assert data["problems"] == []
    assert data["live"]["load_balancer"] == LB1  # type: ignore[index]
    assert data["staging"]["load_balancer"] == LB2  # type: ignore[index]
    assert data["live"]["asg"] is None  # type: ignore[index]


def test_init_again_changes_nothing_and_says_so(kind: str, aws: str, unchanged: Unchanged) -> None:
    assert run("init").code == 0
    with unchanged():
        r = run("init")
    assert r.code == 0
    assert "nothing changed" in r.err
    assert "created:" not in r.out


def test_init_dry_run_creates_nothing(aws: str, unchanged: Unchanged) -> None:
    with unchanged():
        r = run("init", "--dry-run")
    assert r.code == 0, r.err
    assert "would create: load balancer londontamed-com-production-1" in r.out


def test_security_group_rules(aws: str) -> None:
    assert run("init", "--admin-cidr", "203.0.113.0/24").code == 0
    ec2 = client(aws, "ec2")
    groups = {
        g["GroupName"]: g
        for g in ec2.describe_security_groups(
            Filters=[
                {
                    "Name": "group-name",
                    "Values": ["londontamed-com-production", "londontamed-com-load-balancers"],
                }
            ]
        )["SecurityGroups"]
    }
    lb, web = groups["londontamed-com-load-balancers"], groups["londontamed-com-production"]
    # the load balancers' group: 80 and 443 from the world, nothing else
    lb_ports = {p.get("FromPort"): p for p in lb["IpPermissions"]}
    assert sorted(lb_ports) == [80, 443]
    for p in lb_ports.values():
        assert [r["CidrIp"] for r in p["IpRanges"]] == ["0.0.0.0/0"]
        assert [r["CidrIpv6"] for r in p["Ipv6Ranges"]] == ["::/0"]
    # the instances' group: 80 and 3001 from the load balancers' group, admin from the range
    by_port = {p.get("FromPort"): p for p in web["IpPermissions"]}
    for port in (80, 3001):
        assert by_port[port]["IpRanges"] == [] and by_port[port]["Ipv6Ranges"] == []
        assert [g["GroupId"] for g in by_port[port]["UserIdGroupPairs"]] == [lb["GroupId"]]
    assert 443 not in by_port
    assert [r["CidrIp"] for r in by_port[22]["IpRanges"]] == ["203.0.113.0/24"]
    assert [r["CidrIp"] for r in by_port[3389]["IpRanges"]] == ["203.0.113.0/24"]


def test_no_admin_ports_without_admin_cidr(aws: str) -> None:
    assert run("init").code == 0
    sg = client(aws, "ec2").describe_security_groups(
        Filters=[{"Name": "group-name", "Values": ["londontamed-com-production"]}]
    )["SecurityGroups"][0]
    ports = {p.get("FromPort") for p in sg["IpPermissions"]}
    assert 22 not in ports and 3389 not in ports


def test_admin_cidr_open_to_the_world_is_refused(aws: str, unchanged: Unchanged) -> None:
    with unchanged():
        r = run("init", "--admin-cidr", "0.0.0.0/0")
    assert r.code == 2
    assert "whole internet" in r.err


def test_key_pair_written_with_mode_0600(aws: str, tmp_path: Path) -> None:
    r = run("init", "--key-pair")
    assert r.code == 0, r.err
    key = tmp_path / "londontamed-com-production.pem"
    assert key.exists()
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    assert str(key) in r.out
    assert "BEGIN" in key.read_text()


def test_full_release_cycle(kind: str, site: dict[str, str], aws: str) -> None:
    r = run("deploy", "--version", "v1")
    assert r.code == 0, r.err
    st = env("staging")
    assert st["version"] == "v1" and st["healthy"] == 2 and st["ami"] == site["v1"]
    assert env("live")["asg"] is None

    assert run("switch").code == 0
    assert env("live")["version"] == "v1"
    assert env("live")["load_balancer"] == LB2
    assert all(LB2 in t for t in records(aws, private=False).values())
    assert all(LB1 in t for t in records(aws, private=True).values())

    r = run("deploy", "--version", "v2")
    assert r.code == 0, r.err
    assert env("staging")["version"] == "v2"
    assert env("staging")["desired"] == 2  # copied from live
    assert run("switch").code == 0
    assert env("live")["version"] == "v2" and env("staging")["version"] == "v1"

    r = run("rollback")
    assert r.code == 0, r.err
    assert env("live")["version"] == "v1" and env("staging")["version"] == "v2"
    assert run("switch").code == 0
    assert env("live")["version"] == "v2"

    r = run("clean", "--force", "--yes")
    assert r.code == 0, r.err
    data = status()
    assert data["staging"]["asg"] is None  # type: ignore[index]
    assert data["live"]["version"] == "v2"  # type: ignore[index]
    assert data["problems"] == []
    lts = client(aws, "ec2").describe_launch_templates()["LaunchTemplates"]
    assert [t["LaunchTemplateName"] for t in lts] == [f"londontamed-com-v2-{site['v2']}"]


def test_status_json_fields(kind: str, live_v1: dict[str, str]) -> None:
    data = status()
    assert set(data) >= {"domain", "live", "staging", "problems"}
    assert data["domain"] == DOMAIN
    live = data["live"]
    assert isinstance(live, dict)
    assert set(live) >= {"load_balancer", "asg", "ami", "version", "desired", "healthy"}
    assert live["ami"] == live_v1["v1"]


def test_deploy_by_ami(site: dict[str, str]) -> None:
    r = run("deploy", "--ami", site["v2"], "--capacity", "3")
    assert r.code == 0, r.err
    st = env("staging")
    assert st["version"] == "v2" and st["desired"] == 3 and st["healthy"] == 3


def test_deploy_with_launch_configuration(site: dict[str, str], aws: str) -> None:
    r = run("deploy", "--version", "v1", "--launch-configuration")
    assert r.code == 0, r.err
    lcs = client(aws, "autoscaling").describe_launch_configurations()["LaunchConfigurations"]
    assert [c["LaunchConfigurationName"] for c in lcs] == [f"londontamed-com-v1-{site['v1']}"]
    assert run("switch").code == 0
    assert run("deploy", "--version", "v2").code == 0
    assert run("switch").code == 0
    assert run("clean", "--force", "--yes").code == 0
    lcs = client(aws, "autoscaling").describe_launch_configurations()["LaunchConfigurations"]
    assert lcs == []


def test_launch_template_is_pinned_and_hardened(site: dict[str, str], aws: str) -> None:
    assert run("deploy", "--version", "v1").code == 0
    g = client(aws, "autoscaling").describe_auto_scaling_groups()["AutoScalingGroups"][0]
    assert g["LaunchTemplate"]["Version"] == "1"
    assert g["HealthCheckType"] == "ELB"
    data = client(aws, "ec2").describe_launch_template_versions(
        LaunchTemplateName=g["LaunchTemplate"]["LaunchTemplateName"], Versions=["1"]
    )["LaunchTemplateVersions"][0]["LaunchTemplateData"]
    assert data["MetadataOptions"]["HttpTokens"] == "required"
    assert data["BlockDeviceMappings"][0]["Ebs"]["Encrypted"] is True


def test_deploy_refuses_when_staging_is_occupied(
    site: dict[str, str], unchanged: Unchanged
) -> None:
    assert run("deploy", "--version", "v1").code == 0
    with unchanged():
        r = run("deploy", "--version", "v2")
    assert r.code == 3
    assert "already holds release v1" in r.err and "--replace" in r.err


def test_deploy_replace(kind: str, site: dict[str, str], aws: str) -> None:
    assert run("deploy", "--version", "v1").code == 0
    r = run("deploy", "--version", "v2", "--replace")
    assert r.code == 0, r.err
    groups = client(aws, "autoscaling").describe_auto_scaling_groups()["AutoScalingGroups"]
    assert [g["AutoScalingGroupName"] for g in groups] == [f"londontamed-com-v2-{site['v2']}"]


def test_deploy_same_release_again_resumes(site: dict[str, str], unchanged: Unchanged) -> None:
    assert run("deploy", "--version", "v1").code == 0
    with unchanged(history=True):
        r = run("deploy", "--version", "v1")
    assert r.code == 0, r.err
    assert "resuming" in r.err


def test_deploy_unknown_version_refused(site: dict[str, str], unchanged: Unchanged) -> None:
    with unchanged():
        r = run("deploy", "--version", "v9")
    assert r.code == 3
    assert "no image of londontamed.com is tagged with version v9" in r.err


def test_deploy_unknown_ami_refused(site: dict[str, str], unchanged: Unchanged) -> None:
    with unchanged():
        r = run("deploy", "--ami", "ami-0123456789abcdef0")
    assert r.code == 3
    assert "does not exist" in r.err


def test_deploy_malformed_ami_is_bad_input(site: dict[str, str], unchanged: Unchanged) -> None:
    with unchanged():
        r = run("deploy", "--ami", "not-an-ami")
    assert r.code == 2
    assert "is not an AMI id" in r.err


def test_deploy_dry_run(site: dict[str, str], unchanged: Unchanged) -> None:
    with unchanged():
        r = run("deploy", "--version", "v1", "--dry-run")
    assert r.code == 0, r.err
    assert "would [2/3] create autoscaling group" in r.err


def test_deploy_never_touches_live(kind: str, live_v1: dict[str, str], aws: str) -> None:
    before = client(aws, "autoscaling").describe_auto_scaling_groups()["AutoScalingGroups"][0]
    pub = records(aws, private=False)
    assert run("deploy", "--version", "v2").code == 0
    groups = client(aws, "autoscaling").describe_auto_scaling_groups(
        AutoScalingGroupNames=[before["AutoScalingGroupName"]]
    )["AutoScalingGroups"]
    assert [i["InstanceId"] for i in groups[0]["Instances"]] == [
        i["InstanceId"] for i in before["Instances"]
    ]
    assert records(aws, private=False) == pub


def test_commands_refuse_before_init(aws: str, unchanged: Unchanged) -> None:
    register = client(aws, "ec2")  # noqa: F841 - the account exists, the site does not
    for args in (("switch",), ("rollback",), ("clean", "--force", "--yes")):
        with unchanged():
            r = run(*args)
        assert r.code == 3, (args, r.err)
        assert "bluegreen init" in r.err


def test_switch_refuses_empty_staging(
    kind: str, site: dict[str, str], unchanged: Unchanged
) -> None:
    with unchanged():
        r = run("switch")
    assert r.code == 3
    assert "has no release to send traffic to" in r.err


def test_switch_refuses_unhealthy_staging(
    kind: str, site: dict[str, str], aws: str, unchanged: Unchanged
) -> None:
    assert run("deploy", "--version", "v1").code == 0
    g = client(aws, "autoscaling").describe_auto_scaling_groups()["AutoScalingGroups"][0]
    victim = g["Instances"][0]["InstanceId"]
    client(aws, "ec2").stop_instances(InstanceIds=[victim])
    with unchanged():
        r = run("switch")
    assert r.code == 3
    assert "1 of 2 instances" in r.err and victim in r.err


def test_switch_refuses_split_records(
    live_v1: dict[str, str], aws: str, unchanged: Unchanged
) -> None:
    r53 = client(aws, "route53")
    zone = next(z for z in r53.list_hosted_zones()["HostedZones"] if not z["Config"]["PrivateZone"])
    lb1 = client(aws, "elb").describe_load_balancers(LoadBalancerNames=[LB1])[
        "LoadBalancerDescriptions"
    ][0]
    r53.change_resource_record_sets(
        HostedZoneId=zone["Id"],
        ChangeBatch={
            "Changes": [
                {
                    "Action": "UPSERT",
                    "ResourceRecordSet": {
                        "Name": "api.londontamed.com.",
                        "Type": "A",
                        "AliasTarget": {
                            "HostedZoneId": "Z35SXDOTRQ7X7K",
                            "DNSName": lb1["DNSName"],
                            "EvaluateTargetHealth": False,
                        },
                    },
                }
            ]
        },
    )
    assert any("split" in p for p in status()["problems"])  # type: ignore[attr-defined]
    with unchanged():
        r = run("switch")
    assert r.code == 3
    assert "split" in r.err


def test_switch_refuses_two_groups_behind_staging(
    site: dict[str, str], aws: str, unchanged: Unchanged
) -> None:
    assert run("deploy", "--version", "v1").code == 0
    asg = client(aws, "autoscaling")
    g = asg.describe_auto_scaling_groups()["AutoScalingGroups"][0]
    asg.create_auto_scaling_group(
        AutoScalingGroupName="intruder",
        LaunchTemplate={
            "LaunchTemplateName": g["LaunchTemplate"]["LaunchTemplateName"],
            "Version": "1",
        },
        MinSize=1,
        MaxSize=1,
        DesiredCapacity=1,
        VPCZoneIdentifier=g["VPCZoneIdentifier"],
        LoadBalancerNames=[LB2],
        Tags=[{"Key": "bluegreen:domain", "Value": DOMAIN, "PropagateAtLaunch": True}],
    )
    assert any("2 autoscaling groups are behind" in p for p in status()["problems"])  # type: ignore[attr-defined]
    with unchanged():
        r = run("switch")
    assert r.code == 3
    assert "2 autoscaling groups are behind" in r.err


def test_rollback_refuses_after_clean(
    kind: str, both: dict[str, str], unchanged: Unchanged
) -> None:
    assert run("clean", "--force", "--yes").code == 0
    with unchanged():
        r = run("rollback")
    assert r.code == 3
    assert "nothing to roll back to" in r.err


def test_rollback_refuses_a_release_that_was_never_live(
    kind: str, live_v1: dict[str, str], unchanged: Unchanged
) -> None:
    assert run("deploy", "--version", "v2").code == 0
    with unchanged():
        r = run("rollback")
    assert r.code == 3
    assert "never been live" in r.err


def test_clean_with_empty_staging_does_nothing(
    kind: str, live_v1: dict[str, str], unchanged: Unchanged
) -> None:
    with unchanged():
        r = run("clean", "--force", "--yes")
    assert r.code == 0
    assert "nothing to clean" in r.out


def test_clean_keeps_a_launch_template_used_elsewhere(both: dict[str, str], aws: str) -> None:
    asg = client(aws, "autoscaling")
    staging_lt = f"londontamed-com-v1-{both['v1']}"
    g = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[staging_lt])["AutoScalingGroups"][0]
    asg.create_auto_scaling_group(
        AutoScalingGroupName="someone-else",
        LaunchTemplate={"LaunchTemplateName": staging_lt, "Version": "1"},
        MinSize=0,
        MaxSize=1,
        DesiredCapacity=0,
        VPCZoneIdentifier=g["VPCZoneIdentifier"],
    )
    r = run("clean", "--force", "--yes")
    assert r.code == 0, r.err
    names = [
        t["LaunchTemplateName"]
        for t in client(aws, "ec2").describe_launch_templates()["LaunchTemplates"]
    ]
    assert staging_lt in names
    assert (
        asg.describe_auto_scaling_groups(AutoScalingGroupNames=[staging_lt])["AutoScalingGroups"]
        == []
    )


def test_interrupted_switch_is_finished_by_running_switch_again(
    both: dict[str, str], aws: str
) -> None:
    """Only the public batch applied: both zones point at the new live balancer."""
    live_lb = env("live")["load_balancer"]
    r53 = client(aws, "route53")
    zone = next(z for z in r53.list_hosted_zones()["HostedZones"] if z["Config"]["PrivateZone"])
    lb = client(aws, "elb").describe_load_balancers(LoadBalancerNames=[str(live_lb)])[
        "LoadBalancerDescriptions"
    ][0]
    r53.change_resource_record_sets(
        HostedZoneId=zone["Id"],
        ChangeBatch={
            "Changes": [
                {
                    "Action": "UPSERT",
                    "ResourceRecordSet": {
                        "Name": f"{h}-staging.londontamed.com.",
                        "Type": "A",
                        "AliasTarget": {
                            "HostedZoneId": "Z35SXDOTRQ7X7K",
                            "DNSName": "dualstack." + lb["DNSName"],
                            "EvaluateTargetHealth": True,
                        },
                    },
                }
                for h in ("www", "api")
            ]
        },
    )
    assert any("staging names point at the live" in p for p in status()["problems"])  # type: ignore[attr-defined]
    pub = records(aws, private=False)
    r = run("switch")
    assert r.code == 0, r.err
    assert records(aws, private=False) == pub  # live names did not move
    data = status()
    assert data["problems"] == []
    assert data["live"]["load_balancer"] == live_lb  # type: ignore[index]


def test_missing_domain_is_bad_input(aws: str) -> None:
    r = run("status", domain=None)
    assert r.code == 2
    assert "no domain given" in r.err


def test_domain_from_config_file(aws: str, tmp_path: Path) -> None:
    (tmp_path / "bluegreen.toml").write_text('domain = "londontamed.com"\n')
    assert run("init", domain=None).code == 0
    r = run("--output", "json", "status", domain=None)
    assert r.code == 0 and r.json()["domain"] == DOMAIN


def test_config_file_unknown_key(aws: str, tmp_path: Path, unchanged: Unchanged) -> None:
    (tmp_path / "bluegreen.toml").write_text('domain = "londontamed.com"\ncolour = "blue"\n')
    with unchanged():
        r = run("status", domain=None)
    assert r.code == 2
    assert "unknown key 'colour'" in r.err and "bluegreen.toml" in r.err


def test_error_as_json(site: dict[str, str]) -> None:
    r = run("--output", "json", "switch")
    assert r.code == 3
    data = r.json()
    assert data["exit_code"] == 3 and data["error"] == "refused"


def test_init_creates_application_load_balancers(aws: str) -> None:
    acm = client(aws, "acm")
    arn = acm.request_certificate(DomainName="*.londontamed.com")["CertificateArn"]
    r = run("init", "--load-balancer", "alb", "--certificate-arn", arn)
    assert r.code == 0, r.err
    v2 = client(aws, "elbv2")
    lbs = {lb["LoadBalancerName"]: lb for lb in v2.describe_load_balancers()["LoadBalancers"]}
    assert sorted(lbs) == [LB1, LB2]
    assert client(aws, "elb").describe_load_balancers()["LoadBalancerDescriptions"] == []
    for n, name in ((1, LB1), (2, LB2)):
        lb = lbs[name]
        assert lb["Type"] == "application" and len(lb["AvailabilityZones"]) == 2
        tg = v2.describe_target_groups(Names=[f"londontamed-com-tg-{n}"])["TargetGroups"][0]
        assert (tg["HealthCheckPort"], tg["HealthCheckPath"]) == ("3001", "/health")
        attrs = v2.describe_target_group_attributes(TargetGroupArn=tg["TargetGroupArn"])
        delay = {a["Key"]: a["Value"] for a in attrs["Attributes"]}
        assert delay["deregistration_delay.timeout_seconds"] == "30"
        listeners = v2.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]
        assert sorted((ls["Port"], ls["Protocol"]) for ls in listeners) == [
            (80, "HTTP"),
            (443, "HTTPS"),
        ]
        by_port = {ls["Port"]: ls for ls in listeners}
        # HTTPS forwards under a TLS 1.2+ policy; HTTP redirects to it
        assert by_port[443]["DefaultActions"][0]["TargetGroupArn"] == tg["TargetGroupArn"]
        assert by_port[443]["SslPolicy"] == "ELBSecurityPolicy-TLS13-1-2-2021-06"
        (redirect,) = by_port[80]["DefaultActions"]
        assert redirect["Type"] == "redirect"
        assert redirect["RedirectConfig"]["Protocol"] == "HTTPS"
    r53 = client(aws, "route53")
    for private, lb in ((False, lbs[LB1]), (True, lbs[LB2])):
        zone = next(
            z
            for z in r53.list_hosted_zones()["HostedZones"]
            if z["Config"]["PrivateZone"] == private
        )
        for rr in r53.list_resource_record_sets(HostedZoneId=zone["Id"])["ResourceRecordSets"]:
            if "AliasTarget" in rr and (not private or "-staging" in rr["Name"]):
                assert rr["AliasTarget"]["DNSName"].rstrip(".") == lb["DNSName"]
                assert rr["AliasTarget"]["HostedZoneId"] == lb["CanonicalHostedZoneId"]
    data = status()
    assert data["problems"] == []  # found without --load-balancer: the site has ALBs
    assert data["live"]["load_balancer"] == LB1  # type: ignore[index]
    r = run("init", "--load-balancer", "alb", "--certificate-arn", arn)
    assert r.code == 0 and "nothing changed" in r.err


def test_init_dry_run_on_alb_creates_nothing(aws: str, unchanged: Unchanged) -> None:
    with unchanged():
        r = run("init", "--load-balancer", "alb", "--dry-run")
    assert r.code == 0, r.err
    assert f"would create: application load balancer {LB1}" in r.out
    assert "would create: target group londontamed-com-tg-2" in r.out
