"""The least-privilege policy: its shape for every strategy and load-balancer
kind, and (with ``policy_sim``) that every authorization a recorded release
cycle needs is allowed, and that the conditions refuse what is not the site's."""

from __future__ import annotations

import dataclasses
import itertools
import json
from pathlib import Path
from typing import Any

import pytest

import policy_sim as sim
from bluegreen.errors import InputError
from bluegreen.model import settings as config
from bluegreen.policy import iam_policy as policies
from conftest import DOMAIN, TWO_RELEASES, register_images, run

COMBOS: list[dict[str, Any]] = [
    dict(strategy=st, load_balancer=lb, launch_configuration=lc, key_pair=kp)
    for st, lb, lc, kp in itertools.product(
        config.STRATEGIES, config.LOAD_BALANCER_KINDS, (False, True), (False, True)
    )
]


def settings(**values: Any) -> config.Settings:
    return config.load({"domain": DOMAIN, **values}, env={})


def build(purpose: str = "operate", zones: bool = True, **values: Any) -> dict[str, Any]:
    s = settings(**values)
    t = policies.Target(
        s.names(),
        "us-east-1",
        sim.ACCOUNT,
        "Z1PUBLIC" if zones else None,
        "Z2PRIVATE" if zones else None,
    )
    return policies.build(s, purpose, t)


def all_policies() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for combo, purpose in itertools.product(COMBOS, policies.PURPOSES):
        out.append((f"{purpose} {combo}", build(purpose, **combo)))
    return out


def test_no_wildcard_action_anywhere() -> None:
    for label, policy in all_policies():
        for action in policies.actions(policy):
            assert "*" not in action and "?" not in action, (label, action)
            service, _, name = action.partition(":")
            assert service and name[:1].isupper(), (label, action)


def test_read_actions_live_in_read_statements_only() -> None:
    for label, policy in all_policies():
        for st in policy["Statement"]:
            reads = [a for a in st["Action"] if a.split(":")[1].startswith(policies.READ_PREFIXES)]
            if st["Sid"].startswith("Read"):
                assert reads == st["Action"], (label, st["Sid"])
            else:
                assert not reads, (label, st["Sid"], reads)


# Writes that AWS only allows on "*" (no resource-level permission), each with its reason.
UNSCOPED_WRITES = {
    "CreateZones": "route53:CreateHostedZone has no resource-level permission",
    # RunInstances also names the source image, the network interface and volume it
    # creates, the security group and key pair: the instance itself needs the tag
    "BakeLaunchResources": "resources a launch of a tagged instance names or creates",
    "BakeNewImages": "CreateImage's new image and snapshots (tagged by the next call)",
    "BakeTemporaryKeys": "Packer 1.6 cannot tag its key pair: by name, packer_*",
}


def test_every_write_is_scoped_by_arn_or_tag() -> None:
    for label, policy in all_policies():
        for st in policy["Statement"]:
            if st["Sid"].startswith("Read") or st["Sid"] in UNSCOPED_WRITES:
                continue
            resources = st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]]
            assert "*" not in resources, (label, st["Sid"])
            text = json.dumps(st)
            names = ("londontamed-com", "londontamed.com", "hostedzone/Z", "table/bluegreen")
            assert any(n in text for n in names) or "Condition" in st, (label, st["Sid"])


def test_pass_role_only_for_the_web_server_role() -> None:
    for label, policy in all_policies():
        for st in policy["Statement"]:
            if "iam:PassRole" in st["Action"]:
                resources = st["Resource"]
                roles = [r for r in ([resources] if isinstance(resources, str) else resources)]
                assert [r for r in roles if ":role/" in r] == [
                    f"arn:aws:iam::{sim.ACCOUNT}:role/londontamed-com-webserver"
                ], label


def test_record_changes_are_limited_to_the_zones_names_types_and_actions() -> None:
    policy = build()
    changes = {
        st["Sid"]: st
        for st in policy["Statement"]
        if "route53:ChangeResourceRecordSets" in st["Action"]
    }
    assert set(changes) == {"ChangeLiveRecords", "ChangeStagingRecords"}
    live, staging = changes["ChangeLiveRecords"], changes["ChangeStagingRecords"]
    assert live["Resource"] == "arn:aws:route53:::hostedzone/Z1PUBLIC"
    assert staging["Resource"] == "arn:aws:route53:::hostedzone/Z2PRIVATE"
    cond = live["Condition"]["ForAllValues:StringEquals"]
    assert cond["route53:ChangeResourceRecordSetsNormalizedRecordNames"] == [
        "api.londontamed.com",
        "www.londontamed.com",
    ]
    assert cond["route53:ChangeResourceRecordSetsRecordTypes"] == ["A"]
    assert sorted(cond["route53:ChangeResourceRecordSetsActions"]) == ["CREATE", "DELETE"]
    # the private zone: the staging names and the live names (split-horizon DNS)
    private = staging["Condition"]["ForAllValues:StringEquals"]
    assert private["route53:ChangeResourceRecordSetsNormalizedRecordNames"] == [
        "api-staging.londontamed.com",
        "api.londontamed.com",
        "www-staging.londontamed.com",
        "www.londontamed.com",
    ]
    # zone ids unknown: any zone, still only the site's names
    wild = build(zones=False)
    st = next(s for s in wild["Statement"] if s["Sid"] == "ChangeLiveRecords")
    assert st["Resource"] == "arn:aws:route53:::hostedzone/*"
    assert "www.londontamed.com" in json.dumps(st["Condition"])


def test_strategy_and_load_balancer_kind_add_their_actions() -> None:
    dns = policies.actions(build())
    assert "elasticloadbalancing:ModifyListener" not in dns
    assert "autoscaling:AttachLoadBalancers" not in dns
    assert "autoscaling:CreateLaunchConfiguration" not in dns
    assert "autoscaling:AttachLoadBalancers" in policies.actions(build(strategy="lb"))
    alb_lb = policies.actions(build(strategy="lb", load_balancer="alb"))
    assert {
        "elasticloadbalancing:ModifyListener",
        "autoscaling:AttachLoadBalancerTargetGroups",
        "elasticloadbalancing:DescribeTargetHealth",
    } <= alb_lb
    assert "elasticloadbalancing:DescribeInstanceHealth" not in alb_lb
    rolling = policies.actions(build(strategy="rolling"))
    assert {
        "autoscaling:TerminateInstanceInAutoScalingGroup",
        "ec2:CreateLaunchTemplateVersion",
        "autoscaling:DeleteTags",
    } <= rolling
    assert not rolling & {"route53:ChangeResourceRecordSets", "autoscaling:DeleteAutoScalingGroup"}
    assert "cloudwatch:DescribeAlarms" in policies.actions(build(strategy="weighted"))
    assert "cloudwatch:DescribeAlarms" in policies.actions(build(alarms=["HighErrors"]))
    assert "autoscaling:CreateLaunchConfiguration" in policies.actions(
        build(launch_configuration=True)
    )
    init = policies.actions(build("init"))
    assert "ec2:CreateKeyPair" not in init
    assert "ec2:CreateKeyPair" in policies.actions(build("init", key_pair=True))
    assert not init & {"route53:DeleteHostedZone", "ec2:DeleteVpc"}
    assert {"route53:DeleteHostedZone", "ec2:DeleteVpc"} <= policies.actions(build("teardown"))


def test_every_policy_fits_a_managed_policy() -> None:
    sizes = [policies.size(p) for _, p in all_policies()]
    assert max(sizes) <= policies.MANAGED_POLICY_LIMIT


# The longest domain bluegreen accepts with the default hosts: www-staging.DOMAIN
# must stay a DNS name (253 characters). Labels of 63, the most DNS allows.
LONGEST = ".".join(["a" * 63] * 3) + "." + "b" * 45 + ".com"
DOMAIN_54 = "x" * 50 + ".com"


def test_the_longest_domain() -> None:
    assert len(LONGEST) == 253 - len("www-staging.") == 241
    assert settings(domain=LONGEST).names().domain == LONGEST
    one_more = LONGEST.replace(".com", "b.com")
    with pytest.raises(InputError, match="too long for its staging names"):
        settings(domain=one_more).names()
    assert run("--domain", one_more, "iam-policy", "--offline").code == 2


def sized(
    domain: str, staging_cidrs: tuple[str, ...] = ()
) -> list[tuple[str, dict[str, Any], list[dict[str, Any]]]]:
    out = []
    for combo, purpose in itertools.product(COMBOS, policies.PURPOSES):
        s = settings(**{**combo, "domain": domain, "staging_cidrs": list(staging_cidrs)})
        t = policies.Target(s.names(), "us-east-1", sim.ACCOUNT, "Z1PUBLIC", "Z2PRIVATE")
        policy = policies.build(s, purpose, t)
        out.append((f"{purpose} {combo}", policy, policies.documents(policy)))
    return out


def test_every_policy_of_the_longest_domain_fits_in_managed_policies() -> None:
    worst: dict[str, tuple[int, int]] = {}
    for label, policy, docs in sized(LONGEST):
        assert 1 <= len(docs) <= 2, label
        for doc in docs:
            assert policies.size(doc) <= policies.MANAGED_POLICY_LIMIT, label
            assert doc["Version"] == "2012-10-17"
        # together, exactly the policy's statements, each once
        assert sorted(json.dumps(st) for d in docs for st in d["Statement"]) == sorted(
            json.dumps(st) for st in policy["Statement"]
        )
        purpose = label.split()[0]
        worst[purpose] = max(worst.get(purpose, (0, 0)), (policies.size(policy), len(docs)))
    print(f"\nlongest domain ({len(LONGEST)} characters): largest policy, documents: {worst}")
    assert worst["operate"][1] == 2  # the split is needed, and used


def test_a_54_character_domain_needs_one_document() -> None:
    assert len(DOMAIN_54) == 54
    for label, policy, docs in sized(DOMAIN_54):
        assert docs == [policy], (label, policies.size(policy))


def test_staging_cidrs_policies_of_long_domains_fit_in_two_documents() -> None:
    """staging_cidrs adds the balancers' security groups: a 54-character
    domain's operate policy with dns or weighted and launch templates takes two
    documents (docs/SECURITY.md), the longest domain never more than two."""
    split = set()
    for domain in (DOMAIN_54, LONGEST):
        for label, policy, docs in sized(domain, ("203.0.113.0/24",)):
            assert 1 <= len(docs) <= 2, label
            assert all(policies.size(d) <= policies.MANAGED_POLICY_LIMIT for d in docs), label
            assert sorted(json.dumps(st) for d in docs for st in d["Statement"]) == sorted(
                json.dumps(st) for st in policy["Statement"]
            )
            if domain == DOMAIN_54 and len(docs) == 2:
                split.add(label)
    # operate with dns or weighted and launch templates (either kind): 8 of 64;
    # init on ALBs with a key pair (it takes the lock too): 6 of 32
    operate = {label for label in split if label.startswith("operate")}
    assert len(operate) == 8 and all(
        ("'dns'" in label or "'weighted'" in label) and "'launch_configuration': False" in label
        for label in operate
    ), operate
    init = split - operate
    assert len(init) == 6 and all(
        label.startswith("init") and "'alb'" in label and "'key_pair': True" in label
        for label in init
    ), init


def test_release_groups_of_a_long_domain_are_the_sites() -> None:
    """Long domains shorten release names: the policy's pattern still matches
    every one of them (any version length, either AMI id length)."""
    policy = build(domain=LONGEST)
    names = settings(domain=LONGEST).names()
    tags = {
        "aws:RequestTag/bluegreen:domain": [LONGEST],
        "aws:TagKeys": ["bluegreen:domain"],
    }
    for version in (None, "1", "1.4.2", "v" * 63):
        for ami in ("ami-01234567", "ami-0123456789abcdef0"):
            name = names.release(version, ami)
            group = sim.arn("autoscaling", f"autoScalingGroup:uuid:autoScalingGroupName/{name}")
            assert sim.allowed(policy, req("autoscaling:CreateAutoScalingGroup", group, **tags))
    other = sim.arn("autoscaling", "autoScalingGroup:uuid:autoScalingGroupName/payroll-v1")
    assert not sim.allowed(policy, req("autoscaling:CreateAutoScalingGroup", other, **tags))


def test_iam_policy_prints_the_documents_of_a_long_domain() -> None:
    r = run("--domain", LONGEST, "iam-policy", "--offline", "--account-id", sim.ACCOUNT)
    assert r.code == 0, r.err
    docs = json.loads(r.out)
    assert isinstance(docs, list) and len(docs) == 2
    assert "2 documents" in r.err and "--part 2" in r.err
    for k, doc in enumerate(docs, 1):
        one = run(
            "--domain",
            LONGEST,
            "iam-policy",
            "--offline",
            "--account-id",
            sim.ACCOUNT,
            "--part",
            str(k),
        )
        assert one.code == 0, one.err
        assert json.loads(one.out) == doc
        assert policies.size(doc) <= policies.MANAGED_POLICY_LIMIT
    r = run("--domain", LONGEST, "iam-policy", "--offline", "--part", "3")
    assert r.code == 2 and "has 2 document(s)" in r.err
    # a policy that fits is one document, with or without --part 1
    one = run("iam-policy", "--offline", "--account-id", sim.ACCOUNT)
    assert json.loads(one.out) == json.loads(
        run("iam-policy", "--offline", "--account-id", sim.ACCOUNT, "--part", "1").out
    )


def test_iam_policy_command_offline() -> None:
    r = run("iam-policy", "--offline", "--account-id", sim.ACCOUNT)
    assert r.code == 0, r.err
    policy = json.loads(r.out)
    assert policy == build(zones=False)
    assert "actions in" in r.err
    r = run("iam-policy", "--offline", "--for", "init")
    assert r.code == 0
    assert "ec2:CreateVpc" in policies.actions(json.loads(r.out))
    assert "arn:aws:dynamodb:us-east-1:*:table/bluegreen" in r.out
    assert run("iam-policy", "--account-id", "12345").code == 2


def test_iam_policy_looks_up_account_and_zones(aws: str) -> None:
    assert run("init").code == 0
    r = run("iam-policy")
    assert r.code == 0, r.err
    policy = json.loads(r.out)
    text = json.dumps(policy)
    assert f":{sim.ACCOUNT}:" in text
    assert "hostedzone/*" not in text


# -- every call of a recorded cycle is allowed ------------------------------------------
def record(*args: str) -> list[sim.Call]:
    rec = sim.Recorder()
    r = run(*args, hooks=rec.hooks)
    assert r.code == 0, r.err
    return rec.calls


CYCLE = [
    *TWO_RELEASES,
    ("rollback",),
    ("switch",),
    ("clean", "--yes"),
    ("status",),
    ("history",),
]


def test_every_call_of_a_full_cycle_is_covered(aws: str) -> None:
    init_calls = record("init")
    register_images(aws, "v1", "v2")
    operate_calls = [c for args in CYCLE for c in record(*args)]
    r = run("iam-policy")
    operate = json.loads(r.out)
    init = build("init", zones=False)
    world = sim.World()
    init_requests = sim.requests(init_calls, world)
    operate_requests = sim.requests(operate_calls, world)
    denied = [q for q in init_requests if not sim.allowed(init, q)]
    denied += [q for q in operate_requests if not sim.allowed(operate, q)]
    assert denied == [], "\n".join(map(str, denied))
    # figures for the report: calls, authorizations, distinct actions
    print(
        f"\ninit: {len(init_calls)} calls, {len(init_requests)} authorizations; "
        f"cycle: {len(operate_calls)} calls, {len(operate_requests)} authorizations"
    )
    # and nothing in the policies that the cycle does not use, except what AWS
    # needs once per account (the service-linked roles)
    once = {"iam:CreateServiceLinkedRole"}
    # resizing only happens when capacity differs: the live min below its desired
    # (deploy pins it) or a rollback to a release with fewer instances (docs/SAFETY.md)
    resizes = {"autoscaling:UpdateAutoScalingGroup"}
    # reading the table's status: only when it is not ACTIVE yet
    creating = {"dynamodb:DescribeTable"}
    unused = policies.actions(operate) - {q.action for q in operate_requests}
    assert once <= unused <= once | resizes | creating
    # init's repairs, the reads only a second init makes (of what exists) and the
    # HTTPS listener's TLS policy are not called by a first init without a
    # certificate; tests/test_init.py calls each of them
    repairs = {
        "iam:GetRolePolicy",
        "elasticloadbalancing:DescribeLoadBalancerAttributes",
        "ec2:RevokeSecurityGroupIngress",
        "ec2:ReplaceRoute",
        "ec2:ReplaceRouteTableAssociation",
        "iam:UpdateAssumeRolePolicy",
        "iam:RemoveRoleFromInstanceProfile",
        "elasticloadbalancing:CreateLoadBalancerPolicy",
        "elasticloadbalancing:SetLoadBalancerPoliciesOfListener",
        "elasticloadbalancing:CreateLoadBalancerListeners",
        "elasticloadbalancing:DeleteLoadBalancerListeners",
        "elasticloadbalancing:ApplySecurityGroupsToLoadBalancer",
        "route53:AssociateVPCWithHostedZone",
        "route53:GetHostedZone",
        # the subnets of a VPC that was there before: a first init made its VPC
        # and knows it holds none
        "ec2:DescribeSubnets",
        # the lock: taken by an init of a site whose table exists already
        "dynamodb:PutItem",
        "dynamodb:DeleteItem",
    }
    unused_init = policies.actions(init) - {q.action for q in init_requests}
    assert once <= unused_init <= once | repairs


def test_launch_configuration_cycle_is_covered(site: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "bluegreen.toml").write_text("launch_configuration = true\n")
    calls = [c for args in [*CYCLE[:4], ("clean", "--yes")] for c in record(*args)]
    assert any(c.operation == "CreateLaunchConfiguration" for c in calls)
    operate = json.loads(run("iam-policy").out)
    assert "autoscaling:CreateLaunchConfiguration" in policies.actions(operate)
    assert [q for q in sim.requests(calls) if not sim.allowed(operate, q)] == []


# -- the conditions refuse what is not the site's ----------------------------------------
def req(action: str, resource: str, **ctx: list[str]) -> sim.Request:
    return sim.Request(action, resource, dict(ctx), "test")


ZONE = "arn:aws:route53:::hostedzone/Z1PUBLIC"
ASG = sim.arn("autoscaling", "autoScalingGroup:uuid:autoScalingGroupName/londontamed-com-v1-ami-1")
TABLE = sim.arn("dynamodb", "table/bluegreen")
NAMES = "route53:ChangeResourceRecordSetsNormalizedRecordNames"
TYPES = "route53:ChangeResourceRecordSetsRecordTypes"
ACTIONS = "route53:ChangeResourceRecordSetsActions"


def records(
    names: list[str],
    types: list[str] = ["A"],  # noqa: B006
    actions: list[str] = ["DELETE", "CREATE"],  # noqa: B006
) -> Any:
    return {NAMES: names, TYPES: types, ACTIONS: actions}


@pytest.mark.parametrize(
    ("request_", "allowed"),
    [
        (req("route53:ChangeResourceRecordSets", ZONE, **records(["www.londontamed.com"])), True),
        (req("route53:ChangeResourceRecordSets", ZONE, **records(["mail.londontamed.com"])), False),
        (
            req(
                "route53:ChangeResourceRecordSets",
                ZONE,
                **records(["www.londontamed.com", "mx.londontamed.com"]),
            ),
            False,
        ),
        (
            req(
                "route53:ChangeResourceRecordSets", ZONE, **records(["www-staging.londontamed.com"])
            ),
            False,
        ),
        (
            req(
                "route53:ChangeResourceRecordSets",
                "arn:aws:route53:::hostedzone/ZOTHER",
                **records(["www.londontamed.com"]),
            ),
            False,
        ),
        (
            req(
                "route53:ChangeResourceRecordSets",
                ZONE,
                **records(["www.londontamed.com"], ["CNAME"]),
            ),
            False,
        ),
        (
            req(
                "route53:ChangeResourceRecordSets",
                ZONE,
                **records(["www.londontamed.com"], actions=["UPSERT"]),
            ),
            False,
        ),
        (
            req(
                "autoscaling:CreateAutoScalingGroup",
                ASG,
                **{
                    "aws:RequestTag/bluegreen:domain": ["londontamed.com"],
                    "aws:TagKeys": ["bluegreen:domain"],
                },
            ),
            True,
        ),
        (req("autoscaling:CreateAutoScalingGroup", ASG), False),
        (
            req(
                "autoscaling:CreateAutoScalingGroup",
                ASG,
                **{
                    "aws:RequestTag/bluegreen:domain": ["other.com"],
                    "aws:TagKeys": ["bluegreen:domain"],
                },
            ),
            False,
        ),
        (
            req(
                "autoscaling:CreateAutoScalingGroup",
                ASG,
                **{
                    "aws:RequestTag/bluegreen:domain": ["londontamed.com"],
                    "aws:TagKeys": ["bluegreen:domain", "owner"],
                },
            ),
            False,
        ),
        (
            req(
                "autoscaling:CreateAutoScalingGroup",
                sim.arn("autoscaling", "autoScalingGroup:uuid:autoScalingGroupName/payroll"),
                **{
                    "aws:RequestTag/bluegreen:domain": ["londontamed.com"],
                    "aws:TagKeys": ["bluegreen:domain"],
                },
            ),
            False,
        ),
        (
            req(
                "autoscaling:DeleteAutoScalingGroup",
                ASG,
                **{"autoscaling:ResourceTag/bluegreen:domain": ["londontamed.com"]},
            ),
            True,
        ),
        (
            req(
                "autoscaling:DeleteAutoScalingGroup",
                ASG,
                **{"autoscaling:ResourceTag/bluegreen:domain": ["other.com"]},
            ),
            False,
        ),
        (req("autoscaling:DeleteAutoScalingGroup", ASG), False),
        (
            req(
                "ec2:DeleteLaunchTemplate",
                sim.arn("ec2", "launch-template/lt-1"),
                **{"aws:ResourceTag/bluegreen:domain": ["other.com"]},
            ),
            False,
        ),
        (
            req(
                "ec2:CreateTags",
                sim.arn("ec2", "instance/i-1"),
                **{"aws:RequestTag/bluegreen:domain": ["londontamed.com"]},
            ),
            False,  # tagging only as part of a create
        ),
        (
            req(
                "ec2:RunInstances",
                sim.arn("ec2", "instance/*"),
            ),
            False,  # launching only from a launch template
        ),
        (
            req(
                "iam:PassRole",
                sim.arn("iam", "role/admin", regional=False),
                **{"iam:PassedToService": ["ec2.amazonaws.com"]},
            ),
            False,
        ),
        (
            req(
                "iam:PassRole",
                sim.arn("iam", "role/londontamed-com-webserver", regional=False),
                **{"iam:PassedToService": ["lambda.amazonaws.com"]},
            ),
            False,
        ),
        (
            req("dynamodb:PutItem", TABLE, **{"dynamodb:LeadingKeys": ["site#londontamed.com"]}),
            True,
        ),
        (req("dynamodb:PutItem", TABLE, **{"dynamodb:LeadingKeys": ["site#other.com"]}), False),
        (
            req(
                "dynamodb:PutItem",
                sim.arn("dynamodb", "table/payroll"),
                **{"dynamodb:LeadingKeys": ["site#londontamed.com"]},
            ),
            False,
        ),
        (req("ec2:TerminateInstances", "*"), False),
        (req("autoscaling:DescribeAutoScalingGroups", "*"), True),
    ],
)
def test_conditions_refuse_what_is_not_the_sites(request_: sim.Request, allowed: bool) -> None:
    assert sim.allowed(build(), request_) is allowed


# Actions a cycle may leave unused: history's Query, the first group's
# service-linked role, rolling's untagging of a version-less release, weighted's
# alarms when none is configured, re-attaching a target group, and the safety
# features' paths (docs/SAFETY.md): resizing when capacity differs, the draining
# timeout or deregistration delay when clean deletes a release that served;
# the lock table's status, read only while it is CREATING.
PATH_DEPENDENT = {
    "dynamodb:Query",
    "dynamodb:DescribeTable",  # only while the table is CREATING
    "iam:CreateServiceLinkedRole",
    "autoscaling:DeleteTags",
    "cloudwatch:DescribeAlarms",
    "autoscaling:AttachLoadBalancerTargetGroups",
    "autoscaling:UpdateAutoScalingGroup",
    "elasticloadbalancing:DescribeLoadBalancerAttributes",
    "elasticloadbalancing:DescribeTargetGroupAttributes",
}


@pytest.mark.parametrize(
    ("strategy", "kind"),
    [("rolling", "classic"), ("rolling", "alb"), ("weighted", "classic"), ("weighted", "alb")],
)
def test_other_strategies_cycles_are_covered(
    aws: str, tmp_path: Path, strategy: str, kind: str
) -> None:
    (tmp_path / "bluegreen.toml").write_text(
        f'strategy = "{strategy}"\nload_balancer = "{kind}"\ntimeout = "120s"\ninterval = "0s"\n'
    )
    assert run("init").code == 0
    register_images(aws, "v1", "v2")
    calls = [
        c
        for args in [*CYCLE[:4], ("rollback",), ("clean", "--yes"), ("status",)]
        for c in record(*args)
    ]
    operate = json.loads(run("iam-policy").out)
    requests = sim.requests(calls)
    denied = [q for q in requests if not sim.allowed(operate, q)]
    assert denied == [], "\n".join(map(str, denied))
    unused = policies.actions(operate) - {q.action for q in requests}
    print(
        f"\n{strategy} {kind}: {len(calls)} calls, {len(requests)} authorizations, unused {unused}"
    )
    # used only on some paths: history's Query, the first group's service-linked
    # role, rolling's untagging of a version-less release, alarms when configured
    assert unused <= PATH_DEPENDENT


@pytest.mark.parametrize("kind", ["classic", "alb"])
def test_lb_strategy_init_and_cycle_are_covered(aws: str, tmp_path: Path, kind: str) -> None:
    (tmp_path / "bluegreen.toml").write_text(
        f'strategy = "lb"\nload_balancer = "{kind}"\ntimeout = "120s"\n'
    )
    init_calls = record("init")
    register_images(aws, "v1", "v2")
    calls = [
        c
        for args in [*CYCLE[:4], ("rollback",), ("clean", "--yes"), ("status",)]
        for c in record(*args)
    ]
    operate = json.loads(run("iam-policy").out)
    init = json.loads(run("iam-policy", "--for", "init", "--account-id", sim.ACCOUNT).out)
    world = sim.World()
    init_requests = sim.requests(init_calls, world)
    requests = sim.requests(calls, world)
    denied = [q for q in init_requests if not sim.allowed(init, q)]
    denied += [q for q in requests if not sim.allowed(operate, q)]
    assert denied == [], "\n".join(map(str, denied))
    unused = policies.actions(operate) - {q.action for q in requests}
    print(f"\nlb {kind}: {len(calls)} calls, {len(requests)} authorizations, unused {unused}")
    assert unused <= PATH_DEPENDENT


@pytest.mark.parametrize(("strategy", "kind"), [("dns", "classic"), ("dns", "alb"), ("lb", "alb")])
def test_staging_cidrs_init_and_cycle_are_covered(
    aws: str, tmp_path: Path, strategy: str, kind: str
) -> None:
    """With staging_cidrs the restriction moves with the roles (security groups)
    or sits in the staging rule (one ALB): every call is allowed, and each action
    the setting adds is used."""
    (tmp_path / "bluegreen.toml").write_text(
        f'strategy = "{strategy}"\nload_balancer = "{kind}"\nstaging_cidrs = ["203.0.113.0/24"]\n'
    )
    init_calls = record("init")
    register_images(aws, "v1", "v2")
    calls = [c for args in CYCLE for c in record(*args)]
    operate = json.loads(run("iam-policy").out)
    init = json.loads(run("iam-policy", "--for", "init", "--account-id", sim.ACCOUNT).out)
    world = sim.World()
    init_requests = sim.requests(init_calls, world)
    requests = sim.requests(calls, world)
    denied = [q for q in init_requests if not sim.allowed(init, q)]
    denied += [q for q in requests if not sim.allowed(operate, q)]
    assert denied == [], "\n".join(map(str, denied))
    plain = dataclasses.replace(settings(strategy=strategy, load_balancer=kind), staging_cidrs=())
    added_operate = policies.actions(operate) - policies.actions(policies.build(plain))
    added_init = policies.actions(init) - policies.actions(policies.build(plain, "init"))
    assert added_operate <= {q.action for q in requests}, added_operate
    # init reads the draining time only when a switch left staging open, and
    # revokes rules only on a site set up before (or with other ranges)
    drain_reads = {
        "elasticloadbalancing:DescribeLoadBalancerAttributes",
        "elasticloadbalancing:DescribeTargetGroupAttributes",
        "ec2:RevokeSecurityGroupIngress",
    }
    assert added_init - drain_reads <= {q.action for q in init_requests}, added_init
    if strategy == "dns":
        assert added_operate  # the balancers' security groups move


@pytest.mark.parametrize("kind", ["classic", "alb"])
def test_teardown_is_covered(aws: str, tmp_path: Path, kind: str) -> None:
    """init, a cycle, then teardown: every authorization teardown needs is
    allowed by the teardown policy, on the site's resources only."""
    (tmp_path / "bluegreen.toml").write_text(f'load_balancer = "{kind}"\nkey_pair = true\n')
    world = sim.World()
    sim.requests(record("init"), world)
    register_images(aws, "v1", "v2")
    for args in CYCLE[:4]:
        sim.requests(record(*args), world)
    calls = record("teardown", "--yes")
    teardown = build("teardown", zones=False, load_balancer=kind, key_pair=True)
    requests = sim.requests(calls, world)
    denied = [q for q in requests if not sim.allowed(teardown, q)]
    assert denied == [], "\n".join(map(str, denied))
    unused = policies.actions(teardown) - {q.action for q in requests}
    print(f"\nteardown {kind}: {len(calls)} calls, {len(requests)} authorizations, unused {unused}")
    # only when someone attached a managed policy to the role
    assert unused <= {"iam:DetachRolePolicy"}


# -- bake: Packer's writes only on what carries the site's tags ------------------------
def bake_policy() -> dict[str, Any]:
    s = settings()
    t = policies.Target(
        s.names(), "us-east-1", sim.ACCOUNT, "Z1PUBLIC", "Z2PRIVATE", vpc_id="vpc-1"
    )
    return policies.build(s, "bake", t)


MINE = {"aws:ResourceTag/bluegreen:domain": [DOMAIN]}
THEIRS = {"aws:ResourceTag/bluegreen:domain": ["other.com"]}
ASKED = {"aws:RequestTag/bluegreen:domain": [DOMAIN]}
INSTANCE = sim.arn("ec2", "instance/i-1")
SNAPSHOT = "arn:aws:ec2:us-east-1::snapshot/snap-1"
IMAGE = "arn:aws:ec2:us-east-1::image/ami-1"
ASKED_OTHER = {"aws:RequestTag/bluegreen:domain": ["other.com"]}
SITE_VPC = {"ec2:Vpc": [sim.arn("ec2", "vpc/vpc-1")]}
OTHER_VPC = {"ec2:Vpc": [sim.arn("ec2", "vpc/vpc-9")]}


@pytest.mark.parametrize(
    ("request_", "allowed"),
    [
        (req("ec2:RunInstances", sim.arn("ec2", "instance/*"), **ASKED), True),
        (req("ec2:RunInstances", sim.arn("ec2", "instance/*")), False),
        (req("ec2:RunInstances", sim.arn("ec2", "instance/*"), **ASKED_OTHER), False),
        (req("ec2:RunInstances", sim.arn("ec2", "subnet/subnet-1"), **MINE), True),
        (req("ec2:RunInstances", sim.arn("ec2", "subnet/subnet-9")), False),
        (req("ec2:CreateTags", INSTANCE, **ASKED, **{"ec2:CreateAction": ["RunInstances"]}), True),
        (req("ec2:CreateTags", INSTANCE, **ASKED), False),  # only while launching
        (req("ec2:TerminateInstances", INSTANCE, **MINE), True),
        (req("ec2:TerminateInstances", INSTANCE), False),
        (req("ec2:TerminateInstances", INSTANCE, **THEIRS), False),
        (req("ec2:StopInstances", INSTANCE, **MINE), True),
        (req("ec2:StopInstances", INSTANCE), False),
        (req("ec2:ModifyInstanceAttribute", INSTANCE), False),
        (req("ec2:CreateImage", INSTANCE, **MINE), True),
        (req("ec2:CreateImage", INSTANCE), False),
        (req("ec2:CreateTags", IMAGE, **ASKED), True),
        (req("ec2:CreateTags", SNAPSHOT, **{"aws:RequestTag/bluegreen:domain": ["x.com"]}), False),
        (req("ec2:DeleteSnapshot", SNAPSHOT, **MINE), True),
        (req("ec2:DeleteSnapshot", SNAPSHOT), False),
        (req("ec2:DeregisterImage", IMAGE, **THEIRS), False),
        (req("ec2:DeleteSecurityGroup", sim.arn("ec2", "security-group/sg-1"), **SITE_VPC), True),
        (req("ec2:DeleteSecurityGroup", sim.arn("ec2", "security-group/sg-1"), **OTHER_VPC), False),
        (req("ec2:CreateSecurityGroup", sim.arn("ec2", "vpc/vpc-1"), **MINE), True),
        (req("ec2:CreateSecurityGroup", sim.arn("ec2", "vpc/vpc-9")), False),
        (req("ec2:DeleteKeyPair", sim.arn("ec2", "key-pair/packer_6e0a")), True),
        (req("ec2:DeleteKeyPair", sim.arn("ec2", "key-pair/production")), False),
        (
            req(
                "iam:PassRole",
                sim.arn("iam", "role/londontamed-com-webserver", regional=False),
                **{"iam:PassedToService": ["ec2.amazonaws.com"]},
            ),
            True,
        ),
        (req("ec2:DeleteVolume", sim.arn("ec2", "volume/vol-1"), **MINE), False),
    ],
)
def test_bake_writes_need_the_sites_tags(request_: sim.Request, allowed: bool) -> None:
    assert sim.allowed(bake_policy(), request_) is allowed


def test_bake_policy_has_no_write_on_everything() -> None:
    writes = [st for st in bake_policy()["Statement"] if not st["Sid"].startswith("Read")]
    assert writes
    assert [st["Sid"] for st in writes if st["Resource"] == "*"] == []
