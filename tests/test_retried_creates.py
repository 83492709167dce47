"""init's creates meeting their own earlier success (a response lost on the
way, then a retry) or what an interrupted run left behind: each converges,
or is refused with what was found and nothing changed. Lost responses are
injected with a botocore ``before-send`` hook; nothing is patched."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from bluegreen.aws.base import Hook
from chaos import _forward
from conftest import client, run
from layered import Real


def lose(operation: str, *, body: str = "", times: int = 1) -> tuple[Hook, list[str]]:
    """A hook that lets the first ``times`` requests of ``operation`` (whose
    body matches the pattern ``body``) reach the server and then loses their
    responses."""
    from botocore.exceptions import ReadTimeoutError

    lost: list[str] = []
    mutex = threading.Lock()

    def before_send(request: Any, event_name: str, **_: Any) -> None:
        if event_name.split(".")[-1] != operation:
            return
        text = request.body.decode() if isinstance(request.body, bytes) else str(request.body)
        with mutex:
            if not re.search(body, text) or len(lost) >= times:
                return
            lost.append(text)
        _forward(request)
        raise ReadTimeoutError(endpoint_url=request.url)

    return ("before-send", before_send), lost


# -- hosted zones: a caller reference is never accepted again ---------------------------
def _delete_zones(real: Real) -> None:
    """What a teardown that stopped before deleting the VPC left: no zones."""
    r53 = client(real.url, "route53")
    real.settle()
    for z in r53.list_hosted_zones()["HostedZones"]:
        real.settle()
        sets = r53.list_resource_record_sets(HostedZoneId=z["Id"])["ResourceRecordSets"]
        changes = [
            {"Action": "DELETE", "ResourceRecordSet": rr}
            for rr in sets
            if rr["Type"] not in ("SOA", "NS")
        ]
        if changes:
            r53.change_resource_record_sets(HostedZoneId=z["Id"], ChangeBatch={"Changes": changes})
        r53.delete_hosted_zone(Id=z["Id"])


def _zones(url: str) -> list[tuple[str, bool]]:
    return sorted(
        (z["Name"], bool(z["Config"].get("PrivateZone")))
        for z in client(url, "route53").list_hosted_zones()["HostedZones"]
    )


def test_zones_deleted_while_the_vpc_stayed_are_made_again(real: Real) -> None:
    assert real.run("init").code == 0
    _delete_zones(real)
    real.settle()
    # the creates with fresh references lose their responses: found, not made twice
    hook, lost = lose("CreateHostedZone", body=r"-[0-9a-f]{32}</CallerReference>", times=2)
    r = real.run("init", hooks=[hook])
    assert r.code == 0, r.err
    assert len(lost) == 2
    want = [("londontamed.com.", False), ("londontamed.com.", True)]
    real.settle()
    assert _zones(real.url) == want
    real.settle()
    again = real.run("--output", "json", "init")
    assert again.code == 0, again.err
    real.settle()
    assert again.json()["created"] == [] and _zones(real.url) == want


# -- the key pair: AWS hands out the private key once ------------------------------------
KEY = "londontamed-com-production"


def _pairs(url: str) -> list[dict[str, Any]]:
    return list(client(url, "ec2").describe_key_pairs()["KeyPairs"])


def test_key_pair_whose_response_was_lost_is_made_again(aws: str, tmp_path: Path) -> None:
    hook, lost = lose("CreateKeyPair")
    r = run("--output", "json", "init", "--key-pair", hooks=[hook])
    assert r.code == 0, r.err
    assert lost
    assert len(_pairs(aws)) == 1
    pem = tmp_path / f"{KEY}.pem"
    assert pem.read_text().startswith("-----BEGIN")
    assert r.json()["key_file"] == str(pem.resolve())


def test_key_pair_killed_before_its_key_file_is_made_again(aws: str, tmp_path: Path) -> None:
    def killed(**_: Any) -> None:
        raise KeyboardInterrupt  # killed between CreateKeyPair and writing the file

    r = run("init", "--key-pair", hooks=[("after-call.ec2.CreateKeyPair", killed)])
    assert r.code != 0
    (before,) = _pairs(aws)
    pem = tmp_path / f"{KEY}.pem"
    assert not pem.exists()
    r = run("--output", "json", "init", "--key-pair")
    assert r.code == 0, r.err
    missing = f"key pair {KEY}: private key file missing"
    assert any(x.startswith(missing) for x in r.json()["repaired"])
    (after,) = _pairs(aws)
    assert after["KeyPairId"] != before["KeyPairId"]
    assert pem.read_text().startswith("-----BEGIN")
    again = run("--output", "json", "init", "--key-pair")
    assert again.json()["repaired"] == [] and f"key pair {KEY}" in again.json()["unchanged"]


def test_key_pair_whose_key_file_is_elsewhere_is_never_replaced(aws: str, tmp_path: Path) -> None:
    assert run("init", "--key-pair").code == 0
    (before,) = _pairs(aws)
    (tmp_path / f"{KEY}.pem").unlink()  # init run again on another machine
    r = run("--output", "json", "init", "--key-pair")
    assert r.code == 0, r.err
    assert r.json()["repaired"] == [] and _pairs(aws) == [before]
    assert "bluegreen never replaces it on its own" in r.err


def test_a_key_pair_not_of_the_site_is_left_alone(aws: str) -> None:
    ec2 = client(aws, "ec2")
    ec2.create_key_pair(KeyName=KEY)  # someone else's, no file here
    r = run("--output", "json", "init", "--key-pair")
    assert r.code == 0, r.err
    assert f"key pair {KEY}" in r.json()["unchanged"]
    (pair,) = _pairs(aws)
    assert not pair.get("Tags")


# -- the one ALB's listener rules: priorities are unique per listener -----------------------
PATTERN = "*-staging.londontamed.com"
RANGE = "203.0.113.0/24"


def _one_alb(tmp_path: Path, *extra: str) -> None:
    (tmp_path / "bluegreen.toml").write_text(
        'load_balancer = "alb"\nstrategy = "lb"\n' + "".join(f"{x}\n" for x in extra)
    )


def _listener_rules(url: str) -> tuple[str, list[dict[str, Any]]]:
    v2 = client(url, "elbv2")
    (lb,) = v2.describe_load_balancers()["LoadBalancers"]
    (ls,) = v2.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]
    rules = v2.describe_rules(ListenerArn=ls["ListenerArn"])["Rules"]
    return ls["ListenerArn"], [r for r in rules if not r["IsDefault"]]


def _take_priority(url: str, priority: int) -> str:
    """Someone else's rule at ``priority`` (the one there is removed first)."""
    v2 = client(url, "elbv2")
    listener, rules = _listener_rules(url)
    for r in rules:
        if r["Priority"] == str(priority):
            v2.delete_rule(RuleArn=r["RuleArn"])
    tg = v2.describe_target_groups()["TargetGroups"][0]["TargetGroupArn"]
    arn: str = v2.create_rule(
        ListenerArn=listener,
        Priority=priority,
        Conditions=[{"Field": "host-header", "HostHeaderConfig": {"Values": ["shop.example.org"]}}],
        Actions=[{"Type": "forward", "TargetGroupArn": tg}],
    )["Rules"][0]["RuleArn"]
    return arn


def test_staging_rule_whose_response_was_lost_is_found(aws: str, tmp_path: Path) -> None:
    _one_alb(tmp_path)
    hook, lost = lose("CreateRule", body="staging")
    r = run("init", hooks=[hook])
    assert r.code == 0, r.err
    assert lost
    _, rules = _listener_rules(aws)
    assert [r["Conditions"][0]["HostHeaderConfig"]["Values"] for r in rules] == [[PATTERN]]


def test_another_rule_at_the_staging_rules_priority_is_refused(
    aws: str, tmp_path: Path, unchanged: Callable[..., AbstractContextManager[None]]
) -> None:
    _one_alb(tmp_path)
    assert run("init").code == 0
    theirs = _take_priority(aws, 10)
    with unchanged():
        r = run("init")
    assert r.code == 3, r.err
    assert f"found: rule {theirs}: priority 10, hosts shop.example.org" in r.err
    assert "set-rule-priorities" in r.err


def test_refusal_rule_whose_response_was_lost_is_found(aws: str, tmp_path: Path) -> None:
    _one_alb(tmp_path, f'staging_cidrs = ["{RANGE}"]')
    hook, lost = lose("CreateRule", body="fixed-response")
    r = run("init", hooks=[hook])
    assert r.code == 0, r.err
    assert lost
    _, rules = _listener_rules(aws)
    refusals = [r for r in rules if r["Actions"][0]["Type"] == "fixed-response"]
    assert len(refusals) == 1 and refusals[0]["Priority"] == "11"


def test_another_rule_at_the_refusal_rules_priority_is_refused(
    aws: str, tmp_path: Path, unchanged: Callable[..., AbstractContextManager[None]]
) -> None:
    _one_alb(tmp_path)
    assert run("init").code == 0
    theirs = _take_priority(aws, 11)
    _one_alb(tmp_path, f'staging_cidrs = ["{RANGE}"]')
    with unchanged():
        r = run("init")
    assert r.code == 3, r.err
    assert f"found: rule {theirs}: priority 11, hosts shop.example.org" in r.err


# -- the route table: a replaced association gets a new id ---------------------------------
def test_subnet_moved_back_to_its_route_table_after_a_lost_response(aws: str) -> None:
    assert run("init").code == 0
    ec2 = client(aws, "ec2")
    (sn,) = ec2.describe_subnets(
        Filters=[{"Name": "tag:Name", "Values": ["londontamed-com-public-1"]}]
    )["Subnets"]
    (mine,) = ec2.describe_route_tables(
        Filters=[{"Name": "association.subnet-id", "Values": [sn["SubnetId"]]}]
    )["RouteTables"]
    (assoc,) = [a for a in mine["Associations"] if a.get("SubnetId") == sn["SubnetId"]]
    other = ec2.create_route_table(VpcId=sn["VpcId"])["RouteTable"]["RouteTableId"]
    ec2.replace_route_table_association(
        AssociationId=assoc["RouteTableAssociationId"], RouteTableId=other
    )
    hook, lost = lose("ReplaceRouteTableAssociation")
    r = run("--output", "json", "init", hooks=[hook])
    assert r.code == 0, r.err
    assert lost
    assert any("was associated with another route table" in x for x in r.json()["repaired"])
    (now,) = ec2.describe_route_tables(
        Filters=[{"Name": "association.subnet-id", "Values": [sn["SubnetId"]]}]
    )["RouteTables"]
    assert now["RouteTableId"] == mine["RouteTableId"]
