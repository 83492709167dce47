"""The table of IAM actions bluegreen calls (``NEEDS``): one row per action,
with the statement it belongs to and when it is needed (the purpose and a
predicate on the settings). See ``bluegreen.policy.iam_policy``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

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
    # init takes the lock once the table exists (it changes what a switch
    # changes): in the table's own statement, at a tenth of the size of a
    # key-scoped one (the init policy already creates the table and the role)
    Need("dynamodb:PutItem", "OwnTable", INIT),
    Need("dynamodb:DeleteItem", "OwnTable", INIT),
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
