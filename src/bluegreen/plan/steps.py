"""The steps every strategy composes. Small, idempotent and observable.

Each step is a frozen dataclass: ``describe()`` says what it will do (that is
what ``--dry-run`` prints) and ``apply(ctx)`` does it. A step that finds its
work already done succeeds without acting, which is what makes running a
command again after a crash safe: it skips what was done and finishes the rest.

Waits are steps too. They poll with backoff, through the context's clock, until
a deadline; on timeout they raise ``WaitTimeout`` naming what they saw last.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from bluegreen.aws import Gateway
from bluegreen.errors import AwsError, LaunchFailed, NotFound, StateError, WaitTimeout
from bluegreen.model import HEALTHY, Alias
from bluegreen.model.naming import bare
from bluegreen.ui import Reporter


@dataclass
class Context:
    gw: Gateway
    reporter: Reporter
    region: str
    poll_interval: float = 5.0
    facts: dict[str, Any] = field(default_factory=dict)


class Step:
    """Base of all steps."""

    moves_traffic = False
    removes_capacity = False

    def describe(self) -> str:  # pragma: no cover - every step overrides
        raise NotImplementedError

    def apply(self, ctx: Context) -> str:  # pragma: no cover - every step overrides
        """Do the work (or find it done); return a short outcome for the log."""
        raise NotImplementedError


def poll(
    ctx: Context,
    label: str,
    check: Callable[[], tuple[bool, float, float, str]],
    *,
    timeout: float,
    what_to_do: str,
) -> float:
    """Call ``check`` until it reports done; returns seconds waited.

    ``check`` returns (done, progress done, progress total, detail).
    """
    clock = ctx.gw.clock
    start = clock.monotonic()
    delay = min(ctx.poll_interval, 2.0)
    with ctx.reporter.progress(label) as bar:
        while True:
            done, n, total, detail = check()
            bar.update(n, total, detail)
            waited = clock.monotonic() - start
            if done:
                return waited
            if waited >= timeout:
                raise WaitTimeout(
                    f"{label}: not done after {waited:.0f}s",
                    found=detail,
                    fix=what_to_do,
                )
            clock.sleep(min(delay, max(timeout - waited, 0.01)))
            delay = min(delay * 1.5, ctx.poll_interval)


def client_token(*parts: str) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:64]


def instance_group(ctx: Context, fallback: str, name: str, vpc_id: str) -> str:
    """The web servers' security group (docs/SECURITY.md): the group named
    ``name`` in the VPC, or ``fallback`` (the load balancer's group) on a site
    still using one group for both, until ``bluegreen init`` moves it. Adopted
    groups (``security_groups``) come as their ids, comma-separated."""
    if name.startswith("sg-"):
        return name
    if name and vpc_id:
        found = ctx.gw.find_security_group(vpc_id, name)
        if found is not None:
            return str(found["GroupId"])
    return fallback


PROFILE_WAIT = 300.0  # seconds a new instance profile may stay unknown to Auto Scaling


def _profile_not_yet_known(e: AwsError) -> bool:
    """Auto Scaling's answer while a new instance profile has not reached it:
    ValidationError "Invalid IamInstanceProfile: NAME" (launch configurations) or
    "... iamInstanceProfile.name is invalid" (launch templates)."""
    return e.code in ("ValidationError", "InvalidParameterValue") and (
        "iaminstanceprofile" in e.message.lower().replace(" ", "")
    )


def wait_out_profile_propagation(
    ctx: Context, profile: str, create: Callable[[], None], *, timeout: float = PROFILE_WAIT
) -> float:
    """Run ``create``; while AWS refuses it because the instance profile is not
    usable yet, say so once and try again, on the gateway's clock, for at most
    ``timeout`` seconds. IAM is eventually consistent: a profile made by
    ``init`` seconds ago can be refused for tens of seconds
    (https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_general.html#troubleshoot_general_eventual-consistency).
    Returns the seconds waited."""
    clock = ctx.gw.clock
    start = clock.monotonic()
    told = False
    delay = 5.0
    while True:
        try:
            create()
            return clock.monotonic() - start
        except AwsError as e:
            if not _profile_not_yet_known(e):
                raise
            waited = clock.monotonic() - start
            if waited >= timeout:
                raise WaitTimeout(
                    f"AWS still refuses instance profile {profile} after {waited:.0f}s",
                    found=e.message,
                    fix=f"check that instance profile {profile} exists and holds its role "
                    "(`bluegreen init` repairs both), then run the command again",
                ) from None
            if not told:
                ctx.reporter.info(
                    f"instance profile {profile} is not usable yet (IAM changes take a while "
                    f"to reach Auto Scaling): trying again for up to {timeout:.0f}s"
                )
                told = True
            clock.sleep(min(delay, max(timeout - waited, 0.01)))
            delay = min(delay * 1.5, 30.0)


# -- releases -----------------------------------------------------------------
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
    # the instances' security group, by name in the VPC; security_group_id (the
    # load balancer's) when the site has not been moved to separate groups yet
    instance_group: str = ""
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
        if ctx.gw.launch_template(self.name) is not None:
            return "already exists"
        ctx.gw.create_launch_template(
            self.name,
            ami=self.ami,
            instance_type=self.instance_type,
            security_group_id=instance_group(
                ctx, self.security_group_id, self.instance_group, self.vpc_id
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
    instance_group: str = ""  # as CreateLaunchTemplate's
    vpc_id: str = ""

    def describe(self) -> str:
        return (
            f"create launch configuration {self.name} ({self.ami}, {self.instance_type}, IMDSv2, "
            "encrypted root volume)"
        )

    def apply(self, ctx: Context) -> str:
        if ctx.gw.launch_configurations([self.name]):
            return "already exists"
        waited = wait_out_profile_propagation(
            ctx,
            self.instance_profile,
            lambda: ctx.gw.create_launch_configuration(
                self.name,
                ami=self.ami,
                instance_type=self.instance_type,
                security_group=instance_group(
                    ctx, self.security_group_id, self.instance_group, self.vpc_id
                ),
                instance_profile=self.instance_profile,
                key_name=self.key_name,
                user_data=self.user_data,
                root_device=self.root_device,
                root_size=self.root_size,
            ),
        )
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
        if ctx.gw.groups_named([self.name]):
            return "already exists"
        waited = wait_out_profile_propagation(
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
        def check() -> tuple[bool, float, float, str]:
            with ThreadPoolExecutor(max_workers=3) as pool:
                f_groups = pool.submit(ctx.gw.groups_named, [self.group])
                f_failed = pool.submit(ctx.gw.failed_launch, self.group)
                health = balancer_health(ctx, self.kind, self.balancer, self.target_group_arn)
                groups = f_groups.result()
                failed = f_failed.result()
            if not groups:
                raise StateError(
                    f"autoscaling group {self.group} disappeared while waiting for it",
                    fix="run `bluegreen status` to see what changed, then deploy again",
                )
            members = [i for i in groups[0].get("Instances", [])]
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
            if failed is not None and not done:
                raise launch_failed(self.group, failed)
            return done, len(ok), self.expected, detail

        waited = poll(
            ctx,
            f"instances of {self.group} healthy in {self.balancer}",
            check,
            timeout=self.timeout,
            what_to_do="check the instances' health-check endpoint and the AMI; "
            "`bluegreen status` shows each environment's health. Run deploy again to "
            "keep waiting, or clean staging to give up on this release",
        )
        return f"healthy after {waited:.0f}s"


def launch_failed(group: str, activity: Mapping[str, Any]) -> LaunchFailed:
    """The error for a group whose launches fail: AWS's reason, and what to do."""
    reason = str(activity.get("StatusMessage") or activity.get("Description") or "no reason given")
    if "Client.InternalError" in reason:
        fix = (
            "an encrypted volume's KMS key (--kms-key) the Auto Scaling service-linked role "
            "may not use is the usual cause: grant AWSServiceRoleForAutoScaling the key "
            "policy in README, 'KMS keys for root volumes'. Then `bluegreen clean` staging "
            "and deploy again"
        )
    elif "capacity" in reason.lower() or "not supported" in reason.lower():
        fix = (
            "choose an instance type offered in the site's availability zones "
            "(--instance-type), or try again later. Then `bluegreen clean` staging and "
            "deploy again"
        )
    else:
        fix = "fix the cause AWS names, then `bluegreen clean` staging and deploy again"
    return LaunchFailed(
        f"instances of {group} cannot launch: {reason}",
        found=f"scaling activity {activity.get('StatusCode')}: "
        f"{activity.get('Description', '')} ({activity.get('Cause', '')})",
        fix=fix,
    )


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
        if not ctx.gw.groups_named([self.group]):
            return "already gone"
        ctx.gw.delete_group(self.group)

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
        return f"deleted in {waited:.0f}s"


@dataclass(frozen=True)
class DeleteLaunchTemplate(Step):
    name: str

    def describe(self) -> str:
        return f"delete launch template {self.name}"

    def apply(self, ctx: Context) -> str:
        if ctx.gw.launch_template(self.name) is None:
            return "already gone"
        ctx.gw.delete_launch_template(self.name)
        return "deleted"


@dataclass(frozen=True)
class DeleteLaunchConfiguration(Step):
    name: str

    def describe(self) -> str:
        return f"delete launch configuration {self.name}"

    def apply(self, ctx: Context) -> str:
        if not ctx.gw.launch_configurations([self.name]):
            return "already gone"
        ctx.gw.delete_launch_configuration(self.name)
        return "deleted"


# -- traffic ------------------------------------------------------------------
@dataclass(frozen=True)
class AliasTarget:
    dns_name: str
    zone_id: str
    weight: int | None = None
    set_id: str | None = None


Record = tuple[str, str, str, int | None, str | None, bool]  # a record set, compared exactly
Key = tuple[str, str, int | None, str | None]  # where a name points: what a switch decides


def _exact(rr: Mapping[str, Any]) -> Record:
    at = rr.get("AliasTarget") or {}
    return (
        str(rr["Name"]).lower().rstrip("."),
        str(at.get("DNSName", "")).lower().rstrip("."),
        str(at.get("HostedZoneId", "")),
        int(rr["Weight"]) if rr.get("Weight") is not None else None,
        rr.get("SetIdentifier"),
        bool(at.get("EvaluateTargetHealth")),
    )


def _key(rr: Mapping[str, Any]) -> Key:
    name, dns, _, weight, set_id, _ = _exact(rr)
    return (name, bare(dns), weight, set_id)


class RecordsChanged(StateError):
    """Route 53 refused a conditional change batch: the records are not as
    observed. Nothing was changed by that batch."""


WITH_FIRST_CHANGE = "with_first_change"  # ctx.facts: run while the first change syncs


@dataclass(frozen=True)
class SetAliases(Step):
    """Point alias A records of one zone at load balancers in one atomic,
    conditional change batch; wait until Route 53 reports INSYNC.

    ``fqdns`` go to ``targets``; ``more`` gives other names of the same zone
    with their own targets (the private zone's live and staging names move in
    one batch). One target gives a simple alias; several give weighted aliases
    (``weight`` and ``set_id`` set).

    ``expect`` is the records as observed when planning (None: read them
    first). The batch DELETEs exactly those and CREATEs the new ones: Route 53
    applies a batch entirely or not at all, and refuses a DELETE of a record
    that does not exist with the same values, or a CREATE of one that does
    (InvalidChangeBatch), so a writer that changed the records since they were
    read makes the batch fail instead of being overwritten. No read before the
    change and none after it (https://docs.aws.amazon.com/Route53/latest/
    APIReference/API_ChangeResourceRecordSets.html: "To delete a resource
    record set, you must specify all the same values that you specified when
    you created it"). When the batch is refused, the records are read once:
    already as wanted (an earlier, interrupted run got there) is success;
    pointing where they were observed to point, with other attributes, gets
    one more batch from what was read; anything else refuses, nothing changed.
    """

    zone_id: str
    zone_label: str  # "public" or "private", for messages
    fqdns: tuple[str, ...]
    targets: tuple[AliasTarget, ...]
    balancer_label: str
    dns_timeout: float = 300.0
    comment: str = "bluegreen"
    more: tuple[tuple[tuple[str, ...], tuple[AliasTarget, ...]], ...] = ()
    expect: tuple[Alias, ...] | None = None
    moves_traffic = True

    def describe(self) -> str:
        return (
            f"point {', '.join(f.rstrip('.') for f in self.fqdns)} ({self.zone_label} zone) "
            f"at {self.balancer_label}"
        )

    def _names(self) -> tuple[str, ...]:
        return (*self.fqdns, *(f for names, _ in self.more for f in names))

    def _wanted(self) -> list[dict[str, Any]]:
        out = []
        for names, targets in ((self.fqdns, self.targets), *self.more):
            for f in names:
                for t in targets:
                    rrs: dict[str, Any] = {
                        "Name": f,
                        "Type": "A",
                        "AliasTarget": {
                            "HostedZoneId": t.zone_id,
                            "DNSName": t.dns_name,
                            "EvaluateTargetHealth": True,
                        },
                    }
                    if t.set_id is not None:
                        rrs["SetIdentifier"] = t.set_id
                        rrs["Weight"] = t.weight
                    out.append(rrs)
        return out

    def _read(self, ctx: Context) -> list[dict[str, Any]]:
        return [r for rs in ctx.gw.records_for(self.zone_id, self._names()) for r in rs]

    def _batch(
        self, have: list[Mapping[str, Any]], want: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        keep = {_exact(r) for r in want}
        there = {_exact(r) for r in have}
        changes: list[dict[str, Any]] = [
            {"Action": "DELETE", "ResourceRecordSet": dict(r)}
            for r in have
            if _exact(r) not in keep
        ]
        changes += [
            {"Action": "CREATE", "ResourceRecordSet": r} for r in want if _exact(r) not in there
        ]
        return changes

    def apply(self, ctx: Context) -> str:
        outcome = self._apply(ctx)
        _run_pending(ctx)  # when no change was made: still before the next one
        return outcome

    def _apply(self, ctx: Context) -> str:
        from bluegreen.errors import AwsError

        want = self._wanted()
        expect: list[Mapping[str, Any]] = (
            [a.record() for a in self.expect] if self.expect is not None else [*self._read(ctx)]
        )
        for attempt in (1, 2):
            changes = self._batch(expect, want)
            if not changes:
                return "already so"
            try:
                change_id = ctx.gw.change_records(self.zone_id, changes, self.comment)
                break
            except AwsError as e:
                if e.code != "InvalidChangeBatch":
                    raise
                have = self._read(ctx)
                if {_key(r) for r in have} == {_key(r) for r in want}:
                    return "already so (changed since it was observed)"
                if {_exact(r) for r in have} == {_exact(r) for r in expect}:
                    raise  # refused for another reason than a change of the records
                if attempt == 1 and {_key(r) for r in have} == {_key(r) for r in expect}:
                    expect = [*have]  # same targets, other attributes: once more from what is there
                    continue
                raise RecordsChanged(
                    f"the {self.zone_label} zone's records are not as observed, so bluegreen "
                    "cannot tell which environment is live: Route 53 refused the change "
                    "(nothing was changed)",
                    found="records now: "
                    + "; ".join(
                        f"{n} -> {d}" + (f" ({sid} weight {w})" if sid else "")
                        for n, d, w, sid in sorted(_key(r) for r in have)
                    )
                    + "; expected: "
                    + "; ".join(
                        f"{n} -> {d}" + (f" ({sid} weight {w})" if sid else "")
                        for n, d, w, sid in sorted(_key(r) for r in expect)
                    ),
                    fix="someone or something else changed the records (or the public and the "
                    "private zone disagree): run `bluegreen status`, make every live name point "
                    "at one load balancer, then run the command again",
                ) from None
        else:  # pragma: no cover - the loop breaks or returns
            raise AssertionError
        pending = ctx.facts.pop(WITH_FIRST_CHANGE, None)
        with ThreadPoolExecutor(max_workers=1) as pool:
            # Bookkeeping that must be done before the next change, not before
            # this one, runs while Route 53 syncs (see operations._execute).
            f = pool.submit(pending) if pending is not None else None
            label = f"Route 53 applying the change to the {self.zone_label} zone"
            with ctx.reporter.progress(label) as bar:
                waited = ctx.gw.wait_insync(change_id, self.dns_timeout, bar)
            if f is not None:
                f.result()
        return f"changed, in sync after {waited:.0f}s"


def _run_pending(ctx: Context) -> None:
    pending = ctx.facts.pop(WITH_FIRST_CHANGE, None)
    if pending is not None:
        pending()


@dataclass(frozen=True)
class Wait(Step):
    """Wait a fixed time (draining), showing a countdown."""

    seconds: float
    why: str

    def describe(self) -> str:
        return f"wait {self.seconds:.0f}s: {self.why}"

    def apply(self, ctx: Context) -> str:
        clock = ctx.gw.clock
        end = clock.monotonic() + self.seconds
        with ctx.reporter.progress(f"waiting: {self.why}") as bar:
            while (left := end - clock.monotonic()) > 0:
                bar.update(self.seconds - left, self.seconds, f"{left:.0f}s left")
                clock.sleep(min(left, 5.0))
            bar.update(self.seconds, self.seconds, "done")
        return f"waited {self.seconds:.0f}s"


# -- attachments (lb strategy, and detaching before a delete) ----------------------
def _attached(group: dict[str, Any], kind: str, balancer: str, tg_arn: str | None) -> bool:
    if kind == "alb":
        return tg_arn in group.get("TargetGroupARNs", [])
    return balancer in group.get("LoadBalancerNames", [])


def balancer_health(ctx: Context, kind: str, balancer: str, tg_arn: str | None) -> dict[str, str]:
    """Instance id -> healthy / ... in a classic load balancer or a target group."""
    if kind == "alb":
        assert tg_arn
        return ctx.gw.target_health(tg_arn)
    raw = ctx.gw.classic_health(balancer)
    return {i: HEALTHY if s == "InService" else s for i, s in raw.items()}


@dataclass(frozen=True)
class AttachGroup(Step):
    """Attach an autoscaling group to a classic load balancer or a target group:
    its instances are registered there and start taking that balancer's traffic."""

    group: str
    balancer: str  # the classic load balancer's name, or a label of the target group
    kind: str  # classic | alb
    target_group_arn: str | None = None
    moves_traffic = True

    def describe(self) -> str:
        return f"attach {self.group} to {self.balancer}"

    def apply(self, ctx: Context) -> str:
        groups = ctx.gw.groups_named([self.group])
        if not groups:
            raise StateError(
                f"autoscaling group {self.group} disappeared",
                fix="run `bluegreen status` to see what changed",
            )
        if _attached(groups[0], self.kind, self.balancer, self.target_group_arn):
            return "already attached"
        if self.kind == "alb":
            assert self.target_group_arn
            ctx.gw.attach_target_groups(self.group, [self.target_group_arn])
        else:
            ctx.gw.attach_load_balancers(self.group, [self.balancer])
        return "attached"


@dataclass(frozen=True)
class DetachGroup(Step):
    """Detach an autoscaling group from a classic load balancer or a target group
    (its instances drain and leave it; the group keeps running).

    With ``guard`` (the balancer takes live traffic) it first checks, in the
    balancer itself, that instances of other groups are healthy there: a detach
    never leaves live names without healthy capacity."""

    group: str
    balancer: str
    kind: str
    target_group_arn: str | None = None
    guard: bool = False
    removes_capacity = True

    def describe(self) -> str:
        live = " (only while other instances are healthy there)" if self.guard else ""
        return f"detach {self.group} from {self.balancer}{live}"

    def apply(self, ctx: Context) -> str:
        groups = ctx.gw.groups_named([self.group])
        if not groups or not _attached(groups[0], self.kind, self.balancer, self.target_group_arn):
            return "already detached"
        if self.guard:
            mine = {i["InstanceId"] for i in groups[0].get("Instances", [])}
            health = balancer_health(ctx, self.kind, self.balancer, self.target_group_arn)
            others = sorted(i for i, s in health.items() if s == HEALTHY and i not in mine)
            if not others:
                raise StateError(
                    f"refusing to detach {self.group} from {self.balancer}: no other healthy "
                    "instance would be left serving there",
                    found=", ".join(f"{i}={s}" for i, s in sorted(health.items())) or "none",
                    fix="run `bluegreen status`; run the command again once the new "
                    "release's instances are healthy there",
                )
        if self.kind == "alb":
            assert self.target_group_arn
            ctx.gw.detach_target_groups(self.group, [self.target_group_arn])
        else:
            ctx.gw.detach_load_balancers(self.group, [self.balancer])
        return "detached"


@dataclass(frozen=True)
class SetForward(Step):
    """Point a listener's default action (the live names) or a listener rule
    (the staging names) of the shared application load balancer at target
    groups: one atomic ``modify_listener`` or ``modify_rule``.

    With ``guard`` it first checks that every target group it forwards to has
    a healthy target."""

    arn: str  # listener ARN, or rule ARN with ``rule``
    targets: tuple[tuple[str, int], ...]  # (target group ARN, weight)
    label: str  # e.g. "londontamed-com-production-1:80 (live names) -> londontamed-com-tg-2"
    rule: bool = False
    guard: bool = False
    moves_traffic = True

    def describe(self) -> str:
        return f"forward {self.label}"

    def apply(self, ctx: Context) -> str:
        gw = ctx.gw
        now = gw.rule_forward(self.arn) if self.rule else gw.listener_forward(self.arn)
        if set(now) == set(self.targets):
            return "already so"
        if self.guard:
            for arn, weight in self.targets:
                health = gw.target_health(arn) if weight > 0 else {}
                if weight > 0 and HEALTHY not in health.values():
                    raise StateError(
                        f"refusing to forward {self.label}: the target group has no healthy target",
                        found=", ".join(f"{i}={s}" for i, s in sorted(health.items())) or "none",
                        fix="run `bluegreen status`; deploy a healthy release first",
                    )
        if self.rule:
            gw.set_rule_forward(self.arn, self.targets)
        else:
            gw.set_listener_forward(self.arn, self.targets)
        return "changed"


# -- health gates -------------------------------------------------------------
CHECK_RETRY_INTERVAL = 2.0  # seconds between attempts of a URL check


def expand_url(url: str, *, lb_dns: str, hosts: tuple[str, ...], domain: str) -> list[str]:
    """``{lb_dns}``, ``{domain}`` and ``{host}`` placeholders filled in; a URL
    with ``{host}`` gives one URL per host name of the environment."""
    base = url.replace("{lb_dns}", lb_dns).replace("{domain}", domain)
    if "{host}" not in base:
        return [base]
    return [base.replace("{host}", h) for h in hosts]


def _http_status(url: str, timeout: float) -> tuple[int, str]:
    """(status, detail); status 0 when no HTTP answer came."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=max(timeout, 0.1)) as resp:
            return int(resp.status), f"HTTP {resp.status}"
    except urllib.error.HTTPError as e:
        return int(e.code), f"HTTP {e.code}"
    except (urllib.error.URLError, OSError, ValueError) as e:
        reason = getattr(e, "reason", e)
        return 0, f"no answer ({reason})"


@dataclass(frozen=True)
class RunChecks(Step):
    """The health gate: run the operator's smoke tests against one environment.

    Each command runs once with ``sh -c`` and must exit 0 within ``timeout``
    seconds; its environment names what to test (``BLUEGREEN_*``, see
    docs/SAFETY.md). Each URL must answer HTTP 2xx within ``timeout`` seconds;
    it is retried every few seconds (through the clock) until then.

    ``after_switch`` marks the checks that run once traffic has moved: when
    they fail, the executor runs the plan's ``on_failure`` steps (the undo).
    """

    environment: str  # "staging" (before a switch) or "live" (after it)
    balancer: str
    lb_dns: str
    hosts: tuple[str, ...]  # the environment's host names, without the final dot
    commands: tuple[str, ...]
    urls: tuple[str, ...]
    timeout: float
    domain: str
    version: str | None = None
    ami: str | None = None
    after_switch: bool = False

    def _urls(self) -> list[str]:
        return [
            u
            for url in self.urls
            for u in expand_url(url, lb_dns=self.lb_dns, hosts=self.hosts, domain=self.domain)
        ]

    def describe(self) -> str:
        what = [f"`{c}`" for c in self.commands] + [f"GET {u}" for u in self._urls()]
        when = "after the switch" if self.after_switch else "before the switch"
        return (
            f"check {self.environment} ({self.balancer}) {when}, each within "
            f"{self.timeout:.0f}s: {', '.join(what)}"
        )

    def environ(self) -> dict[str, str]:
        """The variables every check command gets (on top of bluegreen's own environment)."""
        return {
            "BLUEGREEN_ENVIRONMENT": self.environment,
            "BLUEGREEN_PHASE": "after-switch" if self.after_switch else "before-switch",
            "BLUEGREEN_DOMAIN": self.domain,
            "BLUEGREEN_HOSTS": " ".join(self.hosts),
            "BLUEGREEN_HOST": self.hosts[0] if self.hosts else "",
            "BLUEGREEN_LB_NAME": self.balancer,
            "BLUEGREEN_LB_DNS": self.lb_dns,
            "BLUEGREEN_VERSION": self.version or "",
            "BLUEGREEN_AMI": self.ami or "",
        }

    def _command(self, ctx: Context, cmd: str) -> str | None:
        import os
        import subprocess

        env = {**os.environ, **self.environ()}
        try:
            p = subprocess.run(
                ["/bin/sh", "-c", cmd],
                env=env,
                capture_output=True,
                text=True,
                timeout=self.timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return f"`{cmd}` did not finish within {self.timeout:.0f}s"
        except OSError as e:
            return f"`{cmd}` could not run: {e}"
        if p.returncode == 0:
            ctx.reporter.detail(f"`{cmd}`: passed")
            return None
        tail = (p.stderr or p.stdout).strip().splitlines()[-3:]
        said = f": {' | '.join(tail)}" if tail else ""
        return f"`{cmd}` exited with {p.returncode}{said}"

    def _url(self, ctx: Context, url: str) -> str | None:
        clock = ctx.gw.clock
        start = clock.monotonic()
        attempts = 0
        while True:
            left = self.timeout - (clock.monotonic() - start)
            status, detail = _http_status(url, min(10.0, max(left, 0.1)))
            attempts += 1
            if 200 <= status < 300:
                ctx.reporter.detail(f"GET {url}: {detail}")
                return None
            left = self.timeout - (clock.monotonic() - start)
            if left <= 0:
                return f"GET {url}: {detail} (after {attempts} attempts in {self.timeout:.0f}s)"
            clock.sleep(min(CHECK_RETRY_INTERVAL, left))

    def apply(self, ctx: Context) -> str:
        from bluegreen.errors import CheckFailed

        failures = [f for c in self.commands if (f := self._command(ctx, c))]
        failures += [f for u in self._urls() if (f := self._url(ctx, u))]
        total = len(self.commands) + len(self._urls())
        if failures:
            when = "after the switch" if self.after_switch else "before the switch"
            raise CheckFailed(
                f"{len(failures)} of {total} checks failed against {self.environment} "
                f"({self.balancer}) {when}",
                found="; ".join(failures),
                fix="fix the release (or the check) and deploy again; nothing was switched"
                if not self.after_switch
                else "the switch is being undone",
            )
        return f"{total} checks passed"


# -- capacity and traffic bookkeeping -----------------------------------------
def _group(ctx: Context, name: str) -> dict[str, Any] | None:
    found = ctx.gw.groups_named([name])
    return found[0] if found else None


def _tag(g: dict[str, Any], key: str) -> str | None:
    return next((t["Value"] for t in g.get("Tags", []) if t["Key"] == key), None)


@dataclass(frozen=True)
class PinMinSize(Step):
    """Raise the live group's min size to ``min_size`` (its desired) while a
    deploy runs, so that it cannot scale in under the deploy. The original min
    is first kept in the group's tag ``bluegreen:pinned-min``: if bluegreen is
    killed, the next command finds the tag and restores it (``RestoreMinSize``)."""

    group: str
    min_size: int

    def describe(self) -> str:
        return f"pin the min size of {self.group} at {self.min_size} while the deploy runs"

    def apply(self, ctx: Context) -> str:
        from bluegreen.model.naming import TAG_PINNED_MIN

        g = _group(ctx, self.group)
        if g is None:
            return "group gone: nothing to pin"
        current = int(g["MinSize"])
        if not _tag(g, TAG_PINNED_MIN):
            ctx.gw.tag_group(self.group, {TAG_PINNED_MIN: str(current)}, propagate=False)
        if current >= self.min_size:
            return f"min already {current}"
        ctx.gw.set_group_size(self.group, min_size=self.min_size)
        return f"min {current} -> {self.min_size}"


@dataclass(frozen=True)
class RestoreMinSize(Step):
    """Give a group back the min size recorded in its ``bluegreen:pinned-min`` tag."""

    group: str
    why: str = "after the deploy"

    def describe(self) -> str:
        return f"restore the min size of {self.group} ({self.why})"

    def apply(self, ctx: Context) -> str:
        from bluegreen.model.naming import TAG_PINNED_MIN

        g = _group(ctx, self.group)
        if g is None:
            return "group gone"
        original = _tag(g, TAG_PINNED_MIN)
        if not original:
            return "not pinned"
        try:
            want = max(0, min(int(original), int(g["DesiredCapacity"])))
        except ValueError:
            want = int(g["MinSize"])  # a tag we did not write: leave the size alone
        if int(g["MinSize"]) != want:
            ctx.gw.set_group_size(self.group, min_size=want)
        # the tag is cleared last: killed before this line, the next command restores
        # again. Cleared, not deleted: an empty value means "not pinned", and the
        # credentials then need no autoscaling:DeleteTags (docs/SECURITY.md)
        ctx.gw.tag_group(self.group, {TAG_PINNED_MIN: ""}, propagate=False)
        return f"min {g['MinSize']} -> {want}"


@dataclass(frozen=True)
class MarkOutOfTraffic(Step):
    """Record on a group that the live names just left it: the time (for
    ``clean``'s drain wait) and its desired capacity (so a rollback to it
    restores at least that much). Composed right after the live names move,
    before the staging names do: a switch killed before this step leaves both
    zones on one balancer, which every command but ``switch``/``rollback``
    refuses, and their resumed plan writes the mark."""

    group: str
    desired: int  # its desired capacity, as observed before the switch

    def describe(self) -> str:
        return f"record on {self.group} that it is out of traffic from now"

    def apply(self, ctx: Context) -> str:
        from bluegreen.clock import iso
        from bluegreen.model.naming import TAG_DESIRED_WHEN_LIVE, TAG_OUT_OF_TRAFFIC

        now = iso(ctx.gw.clock.now())
        try:  # one write, no read: a switch stays at one call more than its record changes
            ctx.gw.tag_group(
                self.group,
                {TAG_OUT_OF_TRAFFIC: now, TAG_DESIRED_WHEN_LIVE: str(self.desired)},
                propagate=False,
            )
        except NotFound:
            return "group gone"
        return f"out of traffic since {now}, desired {self.desired}"
