"""The least-privilege IAM policy bluegreen needs, built from the settings.

Pure: no AWS call. ``build`` takes the settings, the account id and the ids of
the domain's two hosted zones (``"*"`` and ``None`` where unknown) and returns
a policy document. The command line (``bluegreen iam-policy``) looks the
account and zones up when it can.

The policy is a table (``NEEDS``): each row is one IAM action, the statement
it belongs to and when it is needed (``purpose``: init, operate, teardown or
bake; and a predicate on the settings: strategy, load-balancer kind, launch
configurations, key pair, alarms). A statement (``STATEMENTS``) says what the
actions may touch: a Resource (ARN patterns built from the domain's names) and
a Condition (tags, record names...). To support a new call, add a row; to
support a new kind of resource, add a statement. Rules the tests enforce:

* no wildcard in any action;
* read actions (``Describe*``, ``List*``, ``Get*``, DynamoDB ``Query`` and ``Scan``) only
  in statements whose Sid starts with ``Read``, and no write there;
* every write is limited by ARN to the domain's own names, or by a tag
  condition on ``bluegreen:domain``, or both.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from bluegreen.model.naming import TAG_DOMAIN, TAG_PREFIX, Names, short_base
from bluegreen.model.settings import Settings

PURPOSES = ("operate", "init", "teardown", "bake")
READ_PREFIXES = ("Describe", "List", "Get", "Query", "Scan")
# AWS's limit on a customer managed policy, not counting white space.
MANAGED_POLICY_LIMIT = 6144

When = Callable[[Settings], bool]


def always(s: Settings) -> bool:
    return True


def classic(s: Settings) -> bool:
    return s.load_balancer == "classic"


def alb(s: Settings) -> bool:
    return s.load_balancer == "alb"


def adopts_albs(s: Settings) -> bool:
    """Adopted application load balancers (``load_balancers``)."""
    return alb(s) and bool(s.load_balancers)


def launch_configurations(s: Settings) -> bool:
    return s.launch_configuration


def launch_templates(s: Settings) -> bool:
    return not s.launch_configuration


def key_pair(s: Settings) -> bool:
    return s.key_pair


def alarms(s: Settings) -> bool:
    """``weighted`` gates each step on CloudWatch alarms (``--alarm`` or ``alarms``)."""
    return bool(s.alarms) or s.strategy == "weighted"


def resizes(s: Settings) -> bool:
    """Strategies that change a group in place (rolling repoints it)."""
    return s.strategy == "rolling"


def moves_records(s: Settings) -> bool:
    """dns and weighted (with rolling and lb the alias records never move)."""
    return s.strategy in ("dns", "weighted")


def deletes_releases(s: Settings) -> bool:
    """``rolling`` keeps one group and template per environment for good."""
    return s.strategy != "rolling"


def attaches_classic(s: Settings) -> bool:
    """``lb`` moves groups between classic load balancers."""
    return s.strategy == "lb" and classic(s)


def attaches_target_groups(s: Settings) -> bool:
    return s.strategy == "lb" and alb(s)


def modifies_listener(s: Settings) -> bool:
    """``lb`` on an ALB switches by changing the listeners' and rules' forward actions."""
    return s.strategy == "lb" and alb(s)


def limits_staging(s: Settings) -> bool:
    """``staging_cidrs`` on two load balancers: security groups move with the roles."""
    return bool(s.staging_cidrs) and not modifies_listener(s)


def limits_shared_staging(s: Settings) -> bool:
    """``staging_cidrs`` on one ALB: a source-ip condition on the staging rule."""
    return bool(s.staging_cidrs) and modifies_listener(s)


def rolling(s: Settings) -> bool:
    return s.strategy == "rolling"


def both(*preds: When) -> When:
    return lambda s: all(p(s) for p in preds)


@dataclass(frozen=True)
class Need:
    action: str
    statement: str
    purposes: tuple[str, ...]
    when: When = always


OPERATE = ("operate",)
INIT = ("init",)
TEARDOWN = ("teardown",)
BAKE = ("bake",)

# fmt: off
NEEDS: tuple[Need, ...] = (
    # -- reading the site (every command observes before it acts) -------------------
    Need("autoscaling:DescribeAutoScalingGroups", "Read", (*OPERATE, *TEARDOWN)),
    # a deploy's health wait reads why launches fail (they fail nowhere else)
    Need("autoscaling:DescribeScalingActivities", "Read", OPERATE),
    Need("autoscaling:DescribeLaunchConfigurations", "Read", OPERATE, launch_configurations),
    # teardown looks for the site's launch configurations, target groups and key
    # pair whatever the settings say (they may have changed since init)
    Need("autoscaling:DescribeLaunchConfigurations", "Read", TEARDOWN),
    Need("ec2:DescribeImages", "Read", (*OPERATE, *TEARDOWN, *BAKE)),
    Need("ec2:DescribeLaunchTemplates", "Read", (*OPERATE, *TEARDOWN)),
    Need("ec2:DescribeLaunchTemplateVersions", "Read", OPERATE, rolling),
    Need("ec2:DescribeInstances", "Read", OPERATE, rolling),
    Need("elasticloadbalancing:DescribeLoadBalancers", "Read", (*OPERATE, *INIT, *TEARDOWN)),
    Need("elasticloadbalancing:DescribeInstanceHealth", "Read", OPERATE, classic),
    # clean reads the connection-draining timeout it waits for (docs/SAFETY.md)
    Need("elasticloadbalancing:DescribeLoadBalancerAttributes", "Read", OPERATE, classic),
    Need("elasticloadbalancing:DescribeTargetGroups", "Read", (*OPERATE, *INIT), alb),
    Need("elasticloadbalancing:DescribeTargetGroups", "Read", TEARDOWN),
    Need("elasticloadbalancing:DescribeTargetHealth", "Read", OPERATE, alb),
    # clean reads the target groups' deregistration delay it waits for (docs/SAFETY.md)
    Need("elasticloadbalancing:DescribeTargetGroupAttributes", "Read", OPERATE, alb),
    Need("elasticloadbalancing:DescribeListeners", "Read", INIT, alb),
    Need("elasticloadbalancing:DescribeListeners", "Read", OPERATE, modifies_listener),
    # adopted ALBs: an environment is the target group their listeners forward to
    Need("elasticloadbalancing:DescribeListeners", "Read", OPERATE, adopts_albs),
    Need("elasticloadbalancing:DescribeRules", "Read", OPERATE, modifies_listener),
    Need("route53:ListHostedZonesByName", "Read", (*OPERATE, *INIT, *TEARDOWN)),
    Need("route53:GetChange", "Read", INIT),
    Need("route53:GetChange", "Read", OPERATE, moves_records),
    Need("cloudwatch:DescribeAlarms", "Read", OPERATE, alarms),
    Need("route53:ListResourceRecordSets", "ReadRecords", (*OPERATE, *INIT, *TEARDOWN)),
    Need("dynamodb:GetItem", "ReadLockAndHistory", (*OPERATE, *BAKE)),
    Need("dynamodb:Query", "ReadLockAndHistory", (*OPERATE, *TEARDOWN)),
    # -- the lock and the history --------------------------------------------------
    Need("dynamodb:PutItem", "LockAndHistory", (*OPERATE, *TEARDOWN, *BAKE)),
    Need("dynamodb:DeleteItem", "LockAndHistory", (*OPERATE, *TEARDOWN, *BAKE)),
    # teardown deletes the domain's history items, 25 to a batch
    Need("dynamodb:BatchWriteItem", "LockAndHistory", TEARDOWN),
    # -- Route 53: only the site's names, only alias A records ----------------------
    Need("route53:ChangeResourceRecordSets", "ChangeLiveRecords", OPERATE, moves_records),
    Need("route53:ChangeResourceRecordSets", "ChangeStagingRecords", OPERATE, moves_records),
    Need("route53:ChangeResourceRecordSets", "CreateRecords", INIT),
    Need("route53:ChangeResourceRecordSets", "DeleteRecords", TEARDOWN),
    # -- releases: launch templates ---------------------------------------------------
    Need("ec2:CreateLaunchTemplate", "CreateLaunchTemplates", OPERATE, launch_templates),
    Need("ec2:CreateTags", "TagOnCreate", OPERATE, launch_templates),
    Need("ec2:DeleteLaunchTemplate", "OwnLaunchTemplates", TEARDOWN),
    Need("ec2:DeleteLaunchTemplate", "OwnLaunchTemplates", OPERATE, deletes_releases),
    Need("ec2:CreateLaunchTemplateVersion", "OwnLaunchTemplates", OPERATE, rolling),
    # launching from a template: AWS checks RunInstances on the template too
    Need("ec2:RunInstances", "OwnLaunchTemplates", OPERATE, launch_templates),
    Need("ec2:RunInstances", "LaunchResources", OPERATE, launch_templates),
    Need("iam:PassRole", "PassWebServerRole", OPERATE),
    # -- releases: launch configurations (only with launch_configuration = true) -------
    Need("autoscaling:CreateLaunchConfiguration", "OwnLaunchConfigurations", OPERATE,
         launch_configurations),
    Need("autoscaling:DeleteLaunchConfiguration", "OwnLaunchConfigurations",
         (*OPERATE, *TEARDOWN), launch_configurations),
    # -- releases: autoscaling groups ---------------------------------------------------
    Need("autoscaling:CreateAutoScalingGroup", "CreateReleaseGroups", OPERATE),
    Need("autoscaling:CreateOrUpdateTags", "CreateReleaseGroups", OPERATE),
    Need("iam:CreateServiceLinkedRole", "AutoScalingServiceRole", OPERATE),
    Need("autoscaling:DeleteAutoScalingGroup", "ChangeOwnGroups", TEARDOWN),
    Need("autoscaling:DeleteAutoScalingGroup", "ChangeOwnGroups", OPERATE, deletes_releases),
    # every strategy: deploy pins the live min size (tag bluegreen:pinned-min), a
    # switch tags the group leaving traffic, rollback scales the old release back up
    Need("autoscaling:UpdateAutoScalingGroup", "ChangeOwnGroups", OPERATE),
    Need("autoscaling:CreateOrUpdateTags", "RetagOwnGroups", OPERATE),
    Need("autoscaling:DeleteTags", "UntagOwnGroups", OPERATE, rolling),
    Need("autoscaling:TerminateInstanceInAutoScalingGroup", "ChangeOwnGroups", OPERATE, rolling),
    Need("autoscaling:AttachLoadBalancers", "ChangeOwnGroups", OPERATE, attaches_classic),
    Need("autoscaling:DetachLoadBalancers", "ChangeOwnGroups", OPERATE, attaches_classic),
    Need("autoscaling:AttachLoadBalancerTargetGroups", "ChangeOwnGroups", OPERATE,
         attaches_target_groups),
    # a release leaves its target group before its group is deleted (ALB, all but rolling)
    Need("autoscaling:DetachLoadBalancerTargetGroups", "ChangeOwnGroups", OPERATE,
         both(alb, deletes_releases)),
    # -- ALB listeners (lb and weighted strategies switch there) ----------------------------
    Need("elasticloadbalancing:ModifyListener", "OwnListeners", OPERATE, modifies_listener),
    Need("elasticloadbalancing:ModifyRule", "OwnListeners", OPERATE, modifies_listener),
    # rolling on an ALB takes an instance out of its target group before terminating it
    Need("elasticloadbalancing:DeregisterTargets", "OwnTargetGroups", OPERATE, both(rolling, alb)),
    # -- staging_cidrs: the restriction moves with the roles (bluegreen.plan.access) -------------
    Need("ec2:DescribeSecurityGroups", "Read", OPERATE, limits_staging),
    Need("elasticloadbalancing:ApplySecurityGroupsToLoadBalancer", "OwnLoadBalancers",
         (*OPERATE, *INIT), both(limits_staging, classic)),
    Need("elasticloadbalancing:SetSecurityGroups", "OwnLoadBalancers", (*OPERATE, *INIT),
         both(limits_staging, alb)),
    Need("ec2:RevokeSecurityGroupIngress", "ChangeOwnNetwork", INIT, limits_staging),
    # init reads the site to know which balancer is live, and when staging was last
    # left by the live names (then the draining time it waits for)
    Need("autoscaling:DescribeAutoScalingGroups", "Read", INIT, limits_staging),
    Need("elasticloadbalancing:DescribeInstanceHealth", "Read", INIT,
         both(limits_staging, classic)),
    Need("elasticloadbalancing:DescribeTargetHealth", "Read", INIT, both(limits_staging, alb)),
    Need("elasticloadbalancing:DescribeLoadBalancerAttributes", "Read", INIT,
         both(limits_staging, classic)),
    Need("elasticloadbalancing:DescribeTargetGroupAttributes", "Read", INIT,
         both(limits_staging, alb)),
    Need("elasticloadbalancing:ModifyRule", "OwnLoadBalancers", INIT, limits_shared_staging),
    # -- init: network ------------------------------------------------------------------
    Need("ec2:DescribeVpcs", "Read", (*INIT, *TEARDOWN)),
    Need("ec2:DescribeSubnets", "Read", (*INIT, *TEARDOWN, *BAKE)),
    Need("ec2:DescribeAvailabilityZones", "Read", INIT),
    Need("ec2:DescribeInternetGateways", "Read", (*INIT, *TEARDOWN)),
    Need("ec2:DescribeRouteTables", "Read", (*INIT, *TEARDOWN)),
    Need("ec2:DescribeSecurityGroups", "Read", (*INIT, *TEARDOWN, *BAKE)),
    Need("ec2:DescribeKeyPairs", "Read", INIT, key_pair),
    Need("ec2:DescribeKeyPairs", "Read", TEARDOWN),
    Need("ec2:CreateVpc", "CreateTaggedNetwork", INIT),
    Need("ec2:CreateSubnet", "CreateTaggedNetwork", INIT),
    Need("ec2:CreateInternetGateway", "CreateTaggedNetwork", INIT),
    Need("ec2:CreateRouteTable", "CreateTaggedNetwork", INIT),
    Need("ec2:CreateSecurityGroup", "CreateTaggedNetwork", INIT),
    Need("ec2:CreateKeyPair", "CreateTaggedNetwork", INIT, key_pair),
    Need("ec2:CreateTags", "TagNetworkOnCreate", INIT),
    Need("ec2:ModifyVpcAttribute", "ChangeOwnNetwork", INIT),
    Need("ec2:ModifySubnetAttribute", "ChangeOwnNetwork", INIT),
    Need("ec2:AttachInternetGateway", "ChangeOwnNetwork", INIT),
    Need("ec2:CreateRoute", "ChangeOwnNetwork", INIT),
    Need("ec2:AssociateRouteTable", "ChangeOwnNetwork", INIT),
    # a pair of the site's whose private key was lost is made again
    Need("ec2:DeleteKeyPair", "ChangeOwnNetwork", INIT, key_pair),
    Need("ec2:AuthorizeSecurityGroupIngress", "ChangeOwnNetwork", INIT),
    # init repairs what differs: rules, routes, associations
    Need("ec2:DescribeVpcAttribute", "Read", INIT),
    Need("ec2:RevokeSecurityGroupIngress", "ChangeOwnNetwork", INIT),
    Need("ec2:ReplaceRoute", "ChangeOwnNetwork", INIT),
    Need("ec2:ReplaceRouteTableAssociation", "ChangeOwnNetwork", INIT),
    # deploy launches in the instances' security group, looked up by name
    Need("ec2:DescribeSecurityGroups", "Read", OPERATE),
    # -- init: the web servers' role ------------------------------------------------------
    Need("iam:GetRole", "ReadRole", (*INIT, *TEARDOWN)),
    Need("iam:GetInstanceProfile", "ReadRole", (*INIT, *TEARDOWN)),
    Need("iam:CreateRole", "OwnRole", INIT),
    Need("iam:TagRole", "OwnRole", INIT),
    Need("iam:PutRolePolicy", "OwnRole", INIT),
    Need("iam:CreateInstanceProfile", "OwnRole", INIT),
    Need("iam:TagInstanceProfile", "OwnRole", INIT),
    Need("iam:AddRoleToInstanceProfile", "OwnRole", INIT),
    Need("iam:GetRolePolicy", "ReadRole", INIT),
    Need("iam:UpdateAssumeRolePolicy", "OwnRole", INIT),
    Need("iam:RemoveRoleFromInstanceProfile", "OwnRole", INIT),
    Need("iam:PassRole", "OwnRole", INIT),
    Need("iam:CreateServiceLinkedRole", "LoadBalancingServiceRole", INIT),
    # -- init: load balancers ---------------------------------------------------------------
    Need("elasticloadbalancing:CreateLoadBalancer", "OwnLoadBalancers", INIT),
    Need("elasticloadbalancing:AddTags", "OwnLoadBalancers", INIT),
    Need("elasticloadbalancing:ConfigureHealthCheck", "OwnLoadBalancers", INIT, classic),
    Need("elasticloadbalancing:ModifyLoadBalancerAttributes", "OwnLoadBalancers", INIT),
    Need("elasticloadbalancing:CreateTargetGroup", "OwnLoadBalancers", INIT, alb),
    Need("elasticloadbalancing:ModifyTargetGroupAttributes", "OwnLoadBalancers", INIT, alb),
    Need("elasticloadbalancing:CreateListener", "OwnLoadBalancers", INIT, alb),
    Need("elasticloadbalancing:CreateRule", "OwnLoadBalancers", INIT, alb),
    Need("elasticloadbalancing:DescribeRules", "Read", INIT, alb),
    # init repairs listeners, TLS policies, security groups, health checks
    Need("elasticloadbalancing:DescribeLoadBalancerAttributes", "Read", INIT, classic),
    Need("elasticloadbalancing:CreateLoadBalancerPolicy", "OwnLoadBalancers", INIT, classic),
    Need("elasticloadbalancing:SetLoadBalancerPoliciesOfListener", "OwnLoadBalancers", INIT,
         classic),
    Need("elasticloadbalancing:CreateLoadBalancerListeners", "OwnLoadBalancers", INIT, classic),
    Need("elasticloadbalancing:DeleteLoadBalancerListeners", "OwnLoadBalancers", INIT, classic),
    Need("elasticloadbalancing:ApplySecurityGroupsToLoadBalancer", "OwnLoadBalancers", INIT,
         classic),
    Need("elasticloadbalancing:DescribeTargetGroupAttributes", "Read", INIT, alb),
    Need("elasticloadbalancing:DescribeTags", "Read", INIT, alb),
    # teardown: a load balancer or target group is bluegreen's when it carries the tag
    Need("elasticloadbalancing:DescribeTags", "Read", TEARDOWN),
    Need("elasticloadbalancing:SetSecurityGroups", "OwnLoadBalancers", INIT, alb),
    Need("elasticloadbalancing:ModifyListener", "OwnLoadBalancers", INIT, alb),
    Need("elasticloadbalancing:ModifyTargetGroup", "OwnLoadBalancers", INIT, alb),
    Need("elasticloadbalancing:DeleteRule", "OwnLoadBalancers", INIT, alb),
    # -- init: lock table and hosted zones ----------------------------------------------------
    # init waits for the new table to be ACTIVE; a command meeting one still
    # CREATING waits for it too
    Need("dynamodb:DescribeTable", "ReadTable", (*OPERATE, *INIT, *TEARDOWN)),
    # teardown deletes the shared table only when no other site has items in it:
    # a Scan of the partition keys (no dynamodb:LeadingKeys: it reads every site's)
    Need("dynamodb:Scan", "ReadTable", TEARDOWN),
    Need("dynamodb:CreateTable", "OwnTable", INIT),
    Need("dynamodb:TagResource", "OwnTable", INIT),
    Need("route53:CreateHostedZone", "CreateZones", INIT),
    Need("route53:GetHostedZone", "ReadRecords", INIT),
    # a private zone not bound to the site's VPC is bound (CreateZones: AWS wants "*")
    Need("route53:AssociateVPCWithHostedZone", "CreateZones", INIT),
    # -- teardown: everything init made, found by its tag or name -----------------------------
    Need("elasticloadbalancing:DeleteLoadBalancer", "OwnLoadBalancers", TEARDOWN),
    Need("dynamodb:DeleteTable", "OwnTable", TEARDOWN),
    Need("elasticloadbalancing:DeleteTargetGroup", "OwnLoadBalancers", TEARDOWN, alb),
    Need("route53:DeleteHostedZone", "DeleteZones", TEARDOWN),
    Need("ec2:DeleteSecurityGroup", "DeleteOwnNetwork", TEARDOWN),
    Need("ec2:DeleteSubnet", "DeleteOwnNetwork", TEARDOWN),
    Need("ec2:DisassociateRouteTable", "DeleteOwnNetwork", TEARDOWN),
    Need("ec2:DeleteRouteTable", "DeleteOwnNetwork", TEARDOWN),
    Need("ec2:DetachInternetGateway", "DeleteOwnNetwork", TEARDOWN),
    Need("ec2:DeleteInternetGateway", "DeleteOwnNetwork", TEARDOWN),
    Need("ec2:DeleteVpc", "DeleteOwnNetwork", TEARDOWN),
    Need("ec2:DeleteKeyPair", "DeleteOwnNetwork", TEARDOWN, key_pair),
    Need("iam:ListRolePolicies", "ReadRole", TEARDOWN),
    Need("iam:ListAttachedRolePolicies", "ReadRole", TEARDOWN),
    Need("iam:DeleteRolePolicy", "OwnRole", TEARDOWN),
    # only when someone attached a managed policy to the role after init
    Need("iam:DetachRolePolicy", "OwnRole", TEARDOWN),
    Need("iam:RemoveRoleFromInstanceProfile", "OwnRole", TEARDOWN),
    Need("iam:DeleteInstanceProfile", "OwnRole", TEARDOWN),
    Need("iam:DeleteRole", "OwnRole", TEARDOWN),
    # -- bake: the base image's id (a public SSM parameter); images prune ------------------------
    Need("ssm:GetParameter", "ReadPublicParameters", BAKE),
    Need("ec2:DescribeVpcs", "Read", BAKE),
    # images prune, and a failed bake's clean-up: the site's images and snapshots
    Need("ec2:DeregisterImage", "OwnImages", BAKE),
    Need("ec2:DeleteSnapshot", "OwnImages", BAKE),
    # -- bake: what Packer's amazon-ebs builder calls, on what carries the tags the
    # generated template gives it (run_tags, run_volume_tags, tags, snapshot_tags) --------
    Need("ec2:DescribeInstances", "Read", BAKE),
    Need("ec2:DescribeInstanceStatus", "Read", BAKE),
    Need("ec2:DescribeImageAttribute", "Read", BAKE),
    Need("ec2:DescribeRegions", "Read", BAKE),
    Need("ec2:DescribeSnapshots", "Read", BAKE),
    Need("ec2:DescribeVolumes", "Read", BAKE),
    Need("ec2:DescribeTags", "Read", BAKE),
    Need("ec2:RunInstances", "BakeLaunchTagged", BAKE),
    Need("ec2:RunInstances", "BakeLaunchInOwnSubnet", BAKE),
    Need("ec2:RunInstances", "BakeLaunchResources", BAKE),
    Need("ec2:CreateTags", "BakeTagOnLaunch", BAKE),
    Need("ec2:StopInstances", "BakeOwnInstances", BAKE),
    Need("ec2:TerminateInstances", "BakeOwnInstances", BAKE),
    Need("ec2:ModifyInstanceAttribute", "BakeOwnInstances", BAKE),
    Need("ec2:CreateImage", "BakeOwnInstances", BAKE),
    Need("ec2:CreateImage", "BakeNewImages", BAKE),
    Need("ec2:CreateTags", "BakeTagImages", BAKE),
    # Session Manager (bake_security): the build instance gets the web-server profile
    Need("iam:PassRole", "PassWebServerRole", BAKE),
    # Packer's temporary key pair and security group (SSH against AWS): Packer
    # 1.6 cannot tag them; named packer_*, in the site's VPC
    Need("ec2:CreateKeyPair", "BakeTemporaryKeys", BAKE),
    Need("ec2:DeleteKeyPair", "BakeTemporaryKeys", BAKE),
    Need("ec2:CreateSecurityGroup", "BakeInOwnVpc", BAKE),
    Need("ec2:CreateSecurityGroup", "BakeTemporaryGroups", BAKE),
    Need("ec2:AuthorizeSecurityGroupIngress", "BakeTemporaryGroups", BAKE),
    Need("ec2:DeleteSecurityGroup", "BakeTemporaryGroups", BAKE),
)
# fmt: on


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


def _statements(t: Target, s: Settings) -> dict[str, Scope]:
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


def needs(s: Settings, purpose: str) -> list[Need]:
    if purpose not in PURPOSES:
        raise ValueError(f"unknown purpose {purpose!r}")
    return [
        x
        for x in NEEDS
        if purpose in x.purposes and x.when(s) and not _adopted_away(s, purpose, x.statement)
    ]


def _adopted_away(s: Settings, purpose: str, statement: str) -> bool:
    """init and teardown never write on what is adopted (``bluegreen.model.adoption``),
    and bluegreen then has none of its own of that kind to make or delete."""
    if purpose not in ("init", "teardown"):
        return False
    return (
        (statement in ("OwnLoadBalancers", "OwnTargetGroups") and bool(s.load_balancers))
        or (statement == "OwnRole" and bool(s.instance_profile))
        or (
            statement in ("CreateZones", "DeleteZones")
            and bool(s.public_zone_id and s.private_zone_id)
        )
    )


def build(s: Settings, purpose: str = "operate", target: Target | None = None) -> dict[str, Any]:
    """The policy document for ``purpose`` under settings ``s``."""
    t = target or Target(s.names(), s.region)
    a = t.names.adopted  # adopted zones: their ids, whatever a lookup by name found
    t = replace(
        t,
        public_zone=a.public_zone_id or t.public_zone,
        private_zone=a.private_zone_id or t.private_zone,
    )
    scopes = _statements(t, s)
    by_sid: dict[str, list[str]] = {}
    for need in needs(s, purpose):
        actions = by_sid.setdefault(need.statement, [])
        if need.action not in actions:
            actions.append(need.action)
    statements = []
    for sid, actions in by_sid.items():
        resource, condition = scopes[sid]
        st: dict[str, Any] = {
            "Sid": sid,
            "Effect": "Allow",
            "Action": sorted(actions),
            "Resource": resource if len(resource) > 1 else resource[0],
        }
        if condition:
            st["Condition"] = condition
        statements.append(st)
    statements.sort(key=lambda st: (not st["Sid"].startswith("Read"), st["Sid"]))
    return {"Version": "2012-10-17", "Statement": statements}


def actions(policy: Mapping[str, Any]) -> set[str]:
    """Every action a policy document names."""
    out: set[str] = set()
    for st in policy["Statement"]:
        a = st["Action"]
        out.update([a] if isinstance(a, str) else a)
    return out


def size(policy: Mapping[str, Any]) -> int:
    """Characters as AWS counts them against its policy size limits (no white space)."""
    return len(json.dumps(policy, separators=(",", ":")))


def documents(policy: Mapping[str, Any], limit: int = MANAGED_POLICY_LIMIT) -> list[dict[str, Any]]:
    """``policy`` as one document when it fits ``limit``, else as the fewest
    documents that each fit (whole statements, first fit by decreasing size,
    each document keeping the statements' order). Attached together they
    allow exactly what ``policy`` allows: IAM takes the union of a principal's
    policies. Raises ValueError when one statement alone does not fit."""
    if size(policy) <= limit:
        return [dict(policy)]
    empty = size({"Version": policy["Version"], "Statement": []})
    order = {id(st): i for i, st in enumerate(policy["Statement"])}
    bins: list[list[dict[str, Any]]] = []
    room: list[int] = []
    for st in sorted(policy["Statement"], key=lambda st: -size(st)):
        need = size(st) + 1  # and the comma between statements
        if empty + need > limit:
            raise ValueError(f"statement {st.get('Sid')} alone is {size(st)} characters")
        for i, left in enumerate(room):
            if need <= left:
                bins[i].append(st)
                room[i] -= need
                break
        else:
            bins.append([st])
            room.append(limit - empty - need)
    return [
        {"Version": policy["Version"], "Statement": sorted(b, key=lambda st: order[id(st)])}
        for b in bins
    ]


def render(policy: Mapping[str, Any]) -> str:
    return json.dumps(policy, indent=2)
