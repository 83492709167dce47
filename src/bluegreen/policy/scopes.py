"""What each statement of the policy may touch: its Resource (ARN patterns
built from the domain's names) and its Condition (tags, record names, lock
keys). See ``bluegreen.policy.iam_policy``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bluegreen.model.naming import TAG_DOMAIN, TAG_PREFIX, Names, short_base
from bluegreen.model.settings import Settings


@dataclass(frozen=True)
class Target:
    """What the policy is for: the names plus what is known of the account."""

    names: Names
    region: str
    account: str = "*"
    public_zone: str | None = None  # hosted zone ids, when looked up
    private_zone: str | None = None
    partition: str = "aws"
    vpc_id: str | None = None  # the site's VPC, when looked up (bake's temporary groups)
    # adopted resources, when looked up: the instance profile's role (iam:PassRole)
    # and the target groups the adopted ALBs forward to
    passed_role: str | None = None
    target_groups: tuple[str, ...] = ()

    def arn(self, service: str, resource: str, *, regional: bool = True) -> str:
        region = self.region if regional else ""
        return f"arn:{self.partition}:{service}:{region}:{self.account}:{resource}"

    def zone_arn(self, zone_id: str | None) -> str:
        return f"arn:{self.partition}:route53:::hostedzone/{zone_id or '*'}"


def _norm(fqdn: str) -> str:
    """A record name as Route 53's NormalizedRecordNames condition key sees it."""
    return fqdn.lower().rstrip(".")


def _own_tags(t: Target) -> dict[str, Any]:
    """Conditions for a create: it must carry the domain's tag, and only
    bluegreen's own tag keys and Name."""
    return {
        "StringEquals": {f"aws:RequestTag/{TAG_DOMAIN}": t.names.domain},
        "ForAllValues:StringLike": {"aws:TagKeys": [f"{TAG_PREFIX}*", "Name"]},
    }


def _request_domain(t: Target) -> dict[str, Any]:
    return {"StringEquals": {f"aws:RequestTag/{TAG_DOMAIN}": t.names.domain}}


def _tagged(t: Target, key: str = "aws:ResourceTag") -> dict[str, Any]:
    return {"StringEquals": {f"{key}/{TAG_DOMAIN}": t.names.domain}}


def _records(
    t: Target, zones: tuple[str | None, ...], fqdns: tuple[str, ...], actions: tuple[str, ...]
) -> tuple[list[str], dict[str, Any]]:
    return sorted({t.zone_arn(z) for z in zones}), {
        "ForAllValues:StringEquals": {
            "route53:ChangeResourceRecordSetsNormalizedRecordNames": sorted(
                _norm(f) for f in fqdns
            ),
            "route53:ChangeResourceRecordSetsRecordTypes": ["A"],
            "route53:ChangeResourceRecordSetsActions": list(actions),
        }
    }


Scope = tuple[list[str], dict[str, Any] | None]


def statements(t: Target, s: Settings) -> dict[str, Scope]:
    """Sid -> (Resource, Condition) of every statement the table refers to."""
    n = t.names
    base = short_base(n.domain)
    lt = t.arn("ec2", "launch-template/*")
    # groups are named after the release (SLUG-VERSION-AMI, shortened for long
    # domains) or, with rolling, after their load balancer (BASE-production-N):
    # one pattern for both, the prefix they share (every statement on groups
    # also needs the domain's tag, which is what keeps other sites' groups out)
    shared = _common_prefix([release_prefix(n), f"{base}-"])
    asg = [t.arn("autoscaling", f"autoScalingGroup:*:autoScalingGroupName/{shared}*")]
    lc = t.arn("autoscaling", f"launchConfiguration:*:launchConfigurationName/{release_prefix(n)}*")
    table = t.arn("dynamodb", f"table/{n.lock_table}")
    role = t.arn("iam", f"role/{n.role}", regional=False)
    profile = t.arn("iam", f"instance-profile/{n.instance_profile}", regional=False)
    # an adopted profile's role: as looked up, else any role (a note says so)
    passed = (
        role
        if not n.adopted.instance_profile
        else (t.passed_role or t.arn("iam", "role/*", regional=False))
    )
    ec2 = [
        t.arn("ec2", f"{kind}/*")
        for kind in ("vpc", "subnet", "internet-gateway", "route-table", "security-group")
    ]
    key = [t.arn("ec2", "key-pair/*")] if s.key_pair else []
    if s.load_balancer == "alb":
        lbs = [
            t.arn("elasticloadbalancing", f"loadbalancer/app/{base}-production-*/*"),
            t.arn("elasticloadbalancing", f"targetgroup/{base}-tg-*/*"),
            t.arn("elasticloadbalancing", f"listener/app/{base}-production-*/*"),
            t.arn("elasticloadbalancing", f"listener-rule/app/{base}-production-*/*"),
        ]
    else:
        lbs = [t.arn("elasticloadbalancing", f"loadbalancer/{base}-production-*")]
    adopted_tgs = [t.arn("elasticloadbalancing", f"targetgroup/{base}-tg-*/*")]
    if n.adopted.load_balancers:  # exactly the adopted ones, and their target groups
        kind = "app/" if s.load_balancer == "alb" else ""
        lbs = [
            t.arn("elasticloadbalancing", f"loadbalancer/{kind}{lb}" + ("/*" if kind else ""))
            for lb in n.adopted.load_balancers
        ]
        adopted_tgs = list(t.target_groups) or [t.arn("elasticloadbalancing", "targetgroup/*/*")]
    either = (t.public_zone, t.private_zone)
    all_names = tuple(dict.fromkeys(n.live_fqdns + n.private_fqdns))
    leading = {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": _leading_keys(n)}}
    return {
        "Read": (["*"], None),
        "ReadRecords": (sorted({t.zone_arn(z) for z in either}), None),
        "ReadLockAndHistory": ([table], leading),
        "ReadRole": ([role, profile], None),
        "ReadTable": ([table], None),
        "LockAndHistory": ([table], leading),
        # A traffic move DELETEs the records it observed and CREATEs the new
        # ones in one conditional batch (steps.SetAliases); the private zone
        # holds the staging names and the live names (split-horizon DNS).
        "ChangeLiveRecords": _records(t, (t.public_zone,), n.live_fqdns, ("CREATE", "DELETE")),
        "ChangeStagingRecords": _records(
            t, (t.private_zone,), (*n.live_fqdns, *n.staging_fqdns), ("CREATE", "DELETE")
        ),
        # init creates the records, and repairs an alias zone id or a private live
        # name pointing elsewhere than the public one (UPSERT)
        "CreateRecords": _records(t, either, all_names, ("CREATE", "UPSERT")),
        "DeleteRecords": _records(t, either, all_names, ("DELETE",)),
        "CreateLaunchTemplates": ([lt], _own_tags(t)),
        "TagOnCreate": (
            [lt, t.arn("ec2", "instance/*"), t.arn("ec2", "volume/*")],
            {
                "StringEquals": {
                    "ec2:CreateAction": ["CreateLaunchTemplate", "RunInstances"],
                    f"aws:RequestTag/{TAG_DOMAIN}": n.domain,
                }
            },
        ),
        "OwnLaunchTemplates": ([lt], _tagged(t)),
        "LaunchResources": (
            [
                t.arn("ec2", f"{kind}/*")
                for kind in (
                    "instance",
                    "volume",
                    "network-interface",
                    "subnet",
                    "security-group",
                )
            ]
            + [f"arn:{t.partition}:ec2:{t.region}::image/*"],
            {"ArnLike": {"ec2:LaunchTemplate": lt}},
        ),
        "PassWebServerRole": (
            [passed],
            {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}},
        ),
        "OwnLaunchConfigurations": ([lc], None),
        "CreateReleaseGroups": (asg, _own_tags(t)),
        "AutoScalingServiceRole": (
            [
                t.arn(
                    "iam",
                    "role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling",
                    regional=False,
                )
            ],
            {"StringEquals": {"iam:AWSServiceName": "autoscaling.amazonaws.com"}},
        ),
        "ChangeOwnGroups": (asg, _tagged(t, "autoscaling:ResourceTag")),
        # rolling records the release in the group's tags: never another domain's
        "RetagOwnGroups": (
            asg,
            {
                **_tagged(t, "autoscaling:ResourceTag"),
                "StringEqualsIfExists": {f"aws:RequestTag/{TAG_DOMAIN}": n.domain},
                "ForAllValues:StringLike": {"aws:TagKeys": [f"{TAG_PREFIX}*", "Name"]},
            },
        ),
        "UntagOwnGroups": (
            asg,
            {
                **_tagged(t, "autoscaling:ResourceTag"),
                "ForAllValues:StringLike": {"aws:TagKeys": [f"{TAG_PREFIX}*"]},
                "ForAllValues:StringNotEquals": {"aws:TagKeys": [TAG_DOMAIN]},
            },
        ),
        "OwnListeners": (
            [
                t.arn("elasticloadbalancing", f"listener/app/{base}-production-*/*"),
                t.arn("elasticloadbalancing", f"listener-rule/app/{base}-production-*/*"),
            ],
            None,
        ),
        "CreateTaggedNetwork": (ec2 + key, _own_tags(t)),
        "TagNetworkOnCreate": (
            ec2 + key,
            {
                "StringEquals": {
                    "ec2:CreateAction": [
                        "CreateVpc",
                        "CreateSubnet",
                        "CreateInternetGateway",
                        "CreateRouteTable",
                        "CreateSecurityGroup",
                        *(["CreateKeyPair"] if s.key_pair else []),
                    ],
                    f"aws:RequestTag/{TAG_DOMAIN}": n.domain,
                }
            },
        ),
        "ChangeOwnNetwork": (ec2 + key, _tagged(t)),
        "DeleteOwnNetwork": (ec2 + key, _tagged(t)),
        "OwnRole": ([role, profile], None),
        "LoadBalancingServiceRole": (
            [
                t.arn(
                    "iam",
                    "role/aws-service-role/elasticloadbalancing.amazonaws.com/"
                    "AWSServiceRoleForElasticLoadBalancing",
                    regional=False,
                )
            ],
            {"StringEquals": {"iam:AWSServiceName": "elasticloadbalancing.amazonaws.com"}},
        ),
        "OwnLoadBalancers": (lbs, None),
        "OwnTargetGroups": (adopted_tgs, None),
        "OwnTable": ([table], None),
        # CreateHostedZone has no resource-level permission: AWS accepts only "*".
        "CreateZones": (["*"], None),
        "DeleteZones": (sorted({t.zone_arn(z) for z in either}), None),
        # Packer's build instance and its volume are created with the domain's tag
        # (run_tags, run_volume_tags): every later write on them needs it.
        "BakeLaunchTagged": ([t.arn("ec2", "instance/*")], _request_domain(t)),
        "BakeLaunchInOwnSubnet": (
            [t.arn("ec2", f"subnet/{sn}") for sn in n.adopted.subnet_ids[:1]],
            None,
        )
        if n.adopted.subnet_ids
        else ([t.arn("ec2", "subnet/*")], _tagged(t)),
        # what RunInstances also names: the source image (public or the site's),
        # the network interface and root volume it creates, the security group
        # and key pair (the temporary ones below, scoped there)
        "BakeLaunchResources": (
            [
                f"arn:{t.partition}:ec2:{t.region}::image/*",
                t.arn("ec2", "volume/*"),
                t.arn("ec2", "network-interface/*"),
                t.arn("ec2", "security-group/*"),
                t.arn("ec2", "key-pair/*"),
            ],
            None,
        ),
        "BakeTagOnLaunch": (
            [t.arn("ec2", "instance/*"), t.arn("ec2", "volume/*")],
            {
                "StringEquals": {
                    "ec2:CreateAction": "RunInstances",
                    f"aws:RequestTag/{TAG_DOMAIN}": n.domain,
                }
            },
        ),
        "BakeOwnInstances": ([t.arn("ec2", "instance/*")], _tagged(t)),
        # CreateImage makes the image and its snapshots: new, not yet tagged
        "BakeNewImages": (
            [
                f"arn:{t.partition}:ec2:{t.region}::image/*",
                f"arn:{t.partition}:ec2:{t.region}::snapshot/*",
            ],
            None,
        ),
        # Packer then tags them (tags, snapshot_tags), as bluegreen does after the
        # build: only with the domain's tag
        "BakeTagImages": (
            [
                f"arn:{t.partition}:ec2:{t.region}::image/*",
                f"arn:{t.partition}:ec2:{t.region}::snapshot/*",
            ],
            _request_domain(t),
        ),
        "BakeTemporaryKeys": ([t.arn("ec2", "key-pair/packer_*")], None),
        "BakeInOwnVpc": ([t.arn("ec2", f"vpc/{n.adopted.vpc_id}")], None)
        if n.adopted.vpc_id
        else ([t.arn("ec2", "vpc/*")], _tagged(t)),
        "BakeTemporaryGroups": (
            [t.arn("ec2", "security-group/*")],
            {"ArnEquals": {"ec2:Vpc": t.arn("ec2", f"vpc/{t.vpc_id or '*'}")}},
        ),
        "ReadPublicParameters": (
            [f"arn:{t.partition}:ssm:{t.region}::parameter/aws/service/ami-amazon-linux-latest/*"],
            None,
        ),
        "OwnImages": (
            [
                f"arn:{t.partition}:ec2:{t.region}::image/*",
                f"arn:{t.partition}:ec2:{t.region}::snapshot/*",
            ],
            _tagged(t),
        ),
    }


def _common_prefix(strings: list[str]) -> str:
    """The longest string every one of ``strings`` starts with (by character)."""
    first, last = min(strings), max(strings)
    k = 0
    while k < min(len(first), len(last)) and first[k] == last[k]:
        k += 1
    return first[:k]


def release_prefix(n: Names) -> str:
    """What the name of every release of the site starts with (its groups and
    launch configurations): ``SLUG-``, or for a domain too long for that, the
    shortened slug's first characters (``Names.release`` shortens a name to 128
    characters by the length of its version and image id)."""
    amis = ("ami-" + "0" * 8, "ami-" + "0" * 17)
    names = [n.release(None, ami) for ami in amis]
    names += [n.release("v" * k, ami) for k in range(1, 64) for ami in amis]
    return _common_prefix(names)


def _leading_keys(n: Names) -> list[str]:
    from bluegreen.lifecycle import history, lock

    return [lock.pk(n), history.pk(n)]
