"""Steps on Auto Scaling groups and their launch templates and configurations: create, wait until healthy, resize, delete."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bluegreen.errors import StateError, WaitTimeout
from bluegreen.model import HEALTHY
from bluegreen.plan.steps.balancers import balancer_health
from bluegreen.plan.steps.base import (
    Context,
    Step,
    client_token,
    instance_groups,
    poll,
    retry_while_refused,
    wait_out_profile_propagation,
)
from bluegreen.plan.steps.launches import LaunchWatch, before_launching, group_created


@dataclass(frozen=True)
class CreateLaunchTemplate(Step):
    name: str
    ami: str
    instance_type: str
    security_group_id: str
    instance_profile: str
    key_name: str | None
    user_data: str | None = field(repr=False)
    kms_key: str | None
    tags: Mapping[str, str]
    root_device: str = "/dev/xvda"
    root_size: int = 8
    # the instances' security groups: the adopted groups' ids, or the name of
    # bluegreen's group in the VPC; security_group_id (the load balancer's)
    # when the site has not been moved to separate groups yet
    instance_groups: tuple[str, ...] = ()
    vpc_id: str = ""
    # EC2's client token: unique to this intended creation and the same on its
    # retries and resumptions (see DeployIntent.nonce). EC2 answers a token it
    # has seen with the first request's result, even after that template was
    # deleted (https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-idempotency.html).
    token: str = ""

    def describe(self) -> str:
        return (
            f"create launch template {self.name} ({self.ami}, {self.instance_type}, IMDSv2, "
            f"root volume encrypted{' with ' + self.kms_key if self.kms_key else ''})"
        )

    def apply(self, ctx: Context) -> str:
        # No look first: the create is idempotent by its client token, and a
        # template of that name made by an earlier run answers AlreadyExists
        # (ec2.create_launch_template_from_data), which is done too.
        ctx.gw.create_launch_template(
            self.name,
            ami=self.ami,
            instance_type=self.instance_type,
            security_group_ids=instance_groups(
                ctx, self.security_group_id, self.instance_groups, self.vpc_id
            ),
            instance_profile=self.instance_profile,
            key_name=self.key_name,
            user_data=self.user_data,
            kms_key=self.kms_key,
            tags=dict(self.tags),
            client_token=self.token or client_token(self.name, self.ami),
            root_device=self.root_device,
            root_size=self.root_size,
        )
        return "created"


@dataclass(frozen=True)
class CreateLaunchConfiguration(Step):
    name: str
    ami: str
    instance_type: str
    security_group_id: str
    instance_profile: str
    key_name: str | None
    user_data: str | None = field(repr=False)
    root_device: str = "/dev/xvda"
    root_size: int = 8
    instance_groups: tuple[str, ...] = ()  # as CreateLaunchTemplate's
    vpc_id: str = ""

    def describe(self) -> str:
        return (
            f"create launch configuration {self.name} ({self.ami}, {self.instance_type}, IMDSv2, "
            "encrypted root volume)"
        )

    def apply(self, ctx: Context) -> str:
        # No look first: a configuration of that name (an earlier run made it,
        # or this create's own first attempt whose response was lost) answers
        # AlreadyExists (https://docs.aws.amazon.com/autoscaling/ec2/
        # APIReference/API_CreateLaunchConfiguration.html), which is done.
        created, waited = wait_out_profile_propagation(
            ctx,
            self.instance_profile,
            lambda: ctx.gw.create_launch_configuration(
                self.name,
                ami=self.ami,
                instance_type=self.instance_type,
                security_groups=instance_groups(
                    ctx, self.security_group_id, self.instance_groups, self.vpc_id
                ),
                instance_profile=self.instance_profile,
                key_name=self.key_name,
                user_data=self.user_data,
                root_device=self.root_device,
                root_size=self.root_size,
            ),
        )
        if not created:
            return "already exists"
        return f"created after {waited:.0f}s" if waited else "created"


@dataclass(frozen=True)
class CreateGroup(Step):
    name: str
    launch_template: tuple[str, str] | None
    launch_configuration: str | None
    capacity: int
    max_size: int
    subnets: tuple[str, ...]
    load_balancers: tuple[str, ...]
    target_groups: tuple[str, ...]
    grace_period: int
    tags: Mapping[str, str]
    instance_profile: str = ""  # for messages while AWS does not know it yet

    def describe(self) -> str:
        behind = ", ".join(self.load_balancers or self.target_groups)
        return f"create autoscaling group {self.name}: {self.capacity} instances behind {behind}"

    def apply(self, ctx: Context) -> str:
        # No look first: AWS answers AlreadyExists for a group of that name (an
        # earlier run made it), which is done (https://docs.aws.amazon.com/
        # autoscaling/ec2/APIReference/API_CreateAutoScalingGroup.html).
        created, waited = wait_out_profile_propagation(
            ctx,
            self.instance_profile or "of the launch template",
            lambda: ctx.gw.create_group(
                self.name,
                launch_template=self.launch_template,
                launch_configuration=self.launch_configuration,
                capacity=self.capacity,
                max_size=self.max_size,
                subnets=self.subnets,
                load_balancers=self.load_balancers,
                target_groups=self.target_groups,
                grace_period=self.grace_period,
                tags=dict(self.tags),
            ),
        )
        if not created:
            # an earlier run's group (or this run's, whose create response was
            # lost): its failures count from the wait's first look, and Auto
            # Scaling's next attempt shows a cause that lasts again
            return "already exists"
        group_created(ctx, self.name)  # every failure it reports is this run's
        return f"created after {waited:.0f}s" if waited else "created"


@dataclass(frozen=True)
class WaitHealthy(Step):
    """Wait until ``expected`` instances of the group are InService in the group
    and healthy in the load balancer (classic) or target group (ALB)."""

    group: str
    balancer: str
    kind: str  # classic | alb
    target_group_arn: str | None
    expected: int
    timeout: float

    def describe(self) -> str:
        return (
            f"wait until {self.expected} instances of {self.group} are healthy in "
            f"{self.balancer} (at most {self.timeout:.0f}s)"
        )

    def apply(self, ctx: Context) -> str:
        # A failed launch of this run ends the wait at once, unless Auto
        # Scaling's retries get past it (bluegreen.plan.steps.launches).
        launches = LaunchWatch(
            ctx,
            self.group,
            then="run the command again: Auto Scaling keeps retrying the launches "
            "(or `bluegreen clean` staging to give up on this release)",
        )

        def check() -> tuple[bool, float, float, str]:
            read: list[Any] = ctx.gw.parallel(
                lambda: ctx.gw.groups_named([self.group]),
                lambda: ctx.gw.failed_launch(self.group),
                lambda: balancer_health(ctx, self.kind, self.balancer, self.target_group_arn),
            )
            groups, failed, health = read
            if not groups:
                raise StateError(
                    f"autoscaling group {self.group} disappeared while waiting for it",
                    fix="run `bluegreen status` to see what changed, then deploy again",
                )
            members = groups[0].get("Instances", [])
            ok = [
                i["InstanceId"]
                for i in members
                if i["LifecycleState"] == "InService" and health.get(i["InstanceId"]) == HEALTHY
            ]
            bad = sorted(
                f"{i['InstanceId']}={health.get(i['InstanceId'], i['LifecycleState'])}"
                for i in members
                if i["InstanceId"] not in ok
            )
            detail = "waiting for: " + ", ".join(bad) if bad else ""
            done = len(ok) >= self.expected and not bad
            retrying = "" if done else launches.see(failed)
            return done, len(ok), self.expected, "; ".join(d for d in (detail, retrying) if d)

        try:
            waited = poll(
                ctx,
                f"instances of {self.group} healthy in {self.balancer}",
                check,
                timeout=self.timeout,
                what_to_do="check the instances' health-check endpoint and the AMI; "
                "`bluegreen status` shows each environment's health. Run deploy again to "
                "keep waiting, or clean staging to give up on this release",
            )
        except WaitTimeout as e:
            raise launches.timed_out(e) from None
        return f"healthy after {waited:.0f}s"


@dataclass(frozen=True)
class SetGroupSize(Step):
    group: str
    min_size: int | None = None
    desired: int | None = None
    max_size: int | None = None
    why: str = ""

    def describe(self) -> str:
        parts = [
            f"{k}={v}"
            for k, v in (("min", self.min_size), ("desired", self.desired), ("max", self.max_size))
            if v is not None
        ]
        why = f" ({self.why})" if self.why else ""
        return f"set {self.group} {' '.join(parts)}{why}"

    def apply(self, ctx: Context) -> str:
        if self.desired:  # it may launch: what failed before is not this run's
            before_launching(ctx, self.group)
        ctx.gw.set_group_size(
            self.group, min_size=self.min_size, desired=self.desired, max_size=self.max_size
        )
        return "done"


@dataclass(frozen=True)
class DeleteGroup(Step):
    group: str
    timeout: float = 900.0
    removes_capacity = True

    def describe(self) -> str:
        return f"delete autoscaling group {self.group} and its instances, and wait until it is gone"

    def apply(self, ctx: Context) -> str:
        # No look first: a group that is not there answers ValidationError
        # (not found). Either way the wait below sees it gone (or still
        # terminating, when a delete was already in progress). Auto Scaling
        # refuses the delete while one of the group's scaling activities runs
        # (ScalingActivityInProgress, e.g. instances still launching after a
        # failed deploy) or its instances hold it (ResourceInUse)
        # (https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_DeleteAutoScalingGroup.html):
        # both pass, and are waited out.
        deleted, _ = retry_while_refused(
            ctx,
            lambda: ctx.gw.delete_group(self.group),
            refused=lambda e: e.code in ("ScalingActivityInProgress", "ResourceInUse"),
            waiting=f"{self.group}: a scaling activity is still in progress",
            gave_up=f"Auto Scaling still refuses to delete {self.group}",
            fix="`bluegreen status` shows the group; run the command again once its scaling "
            "activities are done",
            timeout=self.timeout,
        )

        def check() -> tuple[bool, float, float, str]:
            left = ctx.gw.groups_named([self.group])
            n = len(left[0].get("Instances", [])) if left else 0
            return not left, 0 if left else 1, 1, f"{n} instances terminating" if left else ""

        waited = poll(
            ctx,
            f"deleting {self.group}",
            check,
            timeout=self.timeout,
            what_to_do="AWS is still terminating the instances; run the command again later",
        )
        return f"deleted in {waited:.0f}s" if deleted or waited else "already gone"


@dataclass(frozen=True)
class DeleteLaunchTemplate(Step):
    name: str

    def describe(self) -> str:
        return f"delete launch template {self.name}"

    def apply(self, ctx: Context) -> str:
        # No look first: a template that is not there answers NotFound, which is done.
        return "deleted" if ctx.gw.delete_launch_template(self.name) else "already gone"


@dataclass(frozen=True)
class DeleteLaunchConfiguration(Step):
    name: str

    def describe(self) -> str:
        return f"delete launch configuration {self.name}"

    def apply(self, ctx: Context) -> str:
        # No look first: a configuration that is not there answers
        # ValidationError (not found), which is done. Plans delete only the
        # configurations no group uses, after the group that used one is gone;
        # Auto Scaling can still answer ResourceInUse ("attached to
        # AutoScalingGroup ...") for a while after that group's deletion (its
        # API is eventually consistent: https://docs.aws.amazon.com/autoscaling/
        # ec2/APIReference/API_DeleteLaunchConfiguration.html lists
        # ResourceInUse), so that answer is waited out, not taken as final.
        deleted, waited = retry_while_refused(
            ctx,
            lambda: ctx.gw.delete_launch_configuration(self.name),
            refused=lambda e: e.code == "ResourceInUse",
            waiting=f"Auto Scaling still counts launch configuration {self.name} as in use",
            gave_up=f"launch configuration {self.name} is still in use",
            fix="a group uses it: `bluegreen status` shows the site's groups; run clean "
            "again once no group uses it",
            timeout=CONFIGURATION_RELEASE_WAIT,
        )
        if not deleted:
            return "already gone"
        return f"deleted after {waited:.0f}s" if waited else "deleted"


# seconds Auto Scaling may still count a deleted group's launch configuration as in use
CONFIGURATION_RELEASE_WAIT = 120.0


# -- traffic ------------------------------------------------------------------
