"""The steps of a rolling update (the ``rolling`` strategy): pin a group to a
new launch template version (or configuration), then replace its instances one
at a time.

What remains to do is read from AWS each time, never remembered: an instance
is done when it runs the release's image. (AWS also reports each instance's
launch template version, but the emulator reports the version the group had
when it was created, so the image is the signal both agree on; for a release
tool the image is the release anyway.) A rolling update interrupted at any
point is therefore finished by running the same command again.

The group's tags say which release it is being rolled to (``bluegreen:ami``,
``bluegreen:version``) and which one it held before (``bluegreen:previous-*``),
so that ``rollback`` and the put-back after a failed replacement know where to
return.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bluegreen.errors import (
    BluegreenError,
    LaunchFailed,
    RollbackFailed,
    RolledBack,
    StateError,
    WaitTimeout,
)
from bluegreen.model import HEALTHY, Group
from bluegreen.model.naming import TAG_AMI, TAG_VERSION
from bluegreen.plan.steps import (
    Context,
    LaunchWatch,
    Step,
    StillRetrying,
    balancer_health,
    client_token,
    poll,
    retry_while_refused,
)

TAG_PREVIOUS_LAUNCH = "bluegreen:previous-launch"
TAG_PREVIOUS_AMI = "bluegreen:previous-ami"
TAG_PREVIOUS_VERSION = "bluegreen:previous-version"


def launch_key(template: tuple[str, str] | None, configuration: str | None) -> str:
    """``lt:NAME:VERSION`` or ``lc:NAME``: one string for a group's launch source."""
    if template is not None:
        return f"lt:{template[0]}:{template[1]}"
    return f"lc:{configuration}"


def parse_launch(key: str) -> tuple[tuple[str, str] | None, str | None]:
    if key.startswith("lt:"):
        name, version = key[3:].rsplit(":", 1)
        return (name, version), None
    if key.startswith("lc:"):
        return None, key[3:]
    raise ValueError(f"not a launch key: {key!r}")


def _group(ctx: Context, name: str) -> Group:
    from bluegreen.observe import group_from_aws

    found = ctx.gw.groups_named([name])
    if not found:
        raise StateError(
            f"autoscaling group {name} disappeared",
            fix="run `bluegreen status` to see what changed, then the command again",
        )
    return group_from_aws(found[0])


def request_data(data: dict[str, Any]) -> dict[str, Any]:
    """Launch template data as described, made fit to create a version with
    (AWS adds read-only fields to what it describes)."""
    out = dict(data)
    if "MetadataOptions" in out:
        out["MetadataOptions"] = {k: v for k, v in out["MetadataOptions"].items() if k != "State"}
    return out


def _instance_tags(tags: Mapping[str, str]) -> list[dict[str, Any]]:
    return [{"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}]


@dataclass(frozen=True)
class CreateTemplateFrom(Step):
    """Create launch template ``name`` whose version 1 copies ``source`` (a
    pinned version of another template), with this group's instance tags."""

    name: str
    source: tuple[str, str]
    instance_tags: Mapping[str, str]
    tags: Mapping[str, str]

    def describe(self) -> str:
        return f"create launch template {self.name} from {self.source[0]} version {self.source[1]}"

    def apply(self, ctx: Context) -> str:
        if ctx.gw.launch_template(self.name) is not None:
            return "already exists"
        source = ctx.gw.launch_template_version(*self.source)
        data = request_data(dict(source.get("LaunchTemplateData", {})))
        data["TagSpecifications"] = _instance_tags(self.instance_tags)
        # The token names this creation: the source template's id is new each
        # time that template is made, so a template made again (after a
        # teardown, or deleted by hand) is a new request to EC2, never the
        # first one's answer (https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-idempotency.html).
        token = client_token(self.name, str(source.get("LaunchTemplateId", "")), *self.source)
        ctx.gw.create_launch_template_from_data(self.name, data, dict(self.tags), token)
        return "created"


@dataclass(frozen=True)
class PinLaunch(Step):
    """Point ``group`` at the release running ``ami``.

    With a launch template: the template's newest version if it already runs
    ``ami``, else a new numbered version (a copy of ``source`` when given, else
    of the group's current version, with the new image). ``template_version``
    pins an existing version instead (rollback). With a launch configuration:
    ``configuration``, created by an earlier step. Instances keep running
    until replaced. The group's tags record the release and the one before.
    ``nonce``: the deploy's (kept in the lock's intent), part of the new
    version's client token.
    """

    group: str
    ami: str
    version: str | None
    template: str | None = None
    template_version: str | None = None
    source: tuple[str, str] | None = None
    configuration: str | None = None
    instance_tags: Mapping[str, str] = field(default_factory=dict)
    nonce: str = ""

    @property
    def label(self) -> str:
        return self.version or self.ami

    def describe(self) -> str:
        if self.configuration is not None:
            to = f"launch configuration {self.configuration}"
        elif self.template_version is not None:
            to = f"launch template {self.template} version {self.template_version}"
        else:
            to = f"a new version of launch template {self.template} running {self.ami}"
        return f"point {self.group} at {to} ({self.label})"

    def _template_version(self, ctx: Context, g: Group) -> str:
        assert self.template is not None
        if self.template_version is not None:
            return self.template_version
        versions = ctx.gw.launch_template_versions(self.template)
        latest = versions[0] if versions else None
        if latest is not None and latest["LaunchTemplateData"].get("ImageId") == self.ami:
            return str(latest["VersionNumber"])  # made by an interrupted run
        # The whole data of the version we start from, with the new image: the
        # emulator ignores SourceVersion, so the copy is made here, the same way
        # on AWS and off it.
        if self.source is not None:
            base = self.source
        else:
            current = g.launch_template[1] if g.launch_template else ""
            if not current.isdigit():
                current = str(latest["VersionNumber"]) if latest else "1"
            base = (self.template, current)
        data = request_data(ctx.gw.launch_template_data(*base))
        data["ImageId"] = self.ami
        if self.instance_tags:
            data["TagSpecifications"] = _instance_tags(self.instance_tags)
        # The token names this creation and no other: the template's id (new
        # each time a template of this name is made), the version it follows
        # and the deploy's nonce; the same across retries and a resumed run.
        # A name-based token would replay after the template was made again
        # (https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-idempotency.html).
        token = client_token(
            str(latest.get("LaunchTemplateId", "")) if latest else self.template,
            self.ami,
            str(latest["VersionNumber"]) if latest else "0",
            self.nonce,
        )
        n = ctx.gw.create_launch_template_version(
            self.template,
            data,
            source_version=None,
            description=f"bluegreen release {self.label}",
            client_token=token,
        )
        return str(n)

    def apply(self, ctx: Context) -> str:
        g = _group(ctx, self.group)
        if self.configuration is not None:
            target: tuple[tuple[str, str] | None, str | None] = (None, self.configuration)
        else:
            target = ((str(self.template), self._template_version(ctx, g)), None)
        current = launch_key(g.launch_template, g.launch_configuration)
        wanted = launch_key(*target)
        tagged = ""
        if g.ami != self.ami:
            if not g.version and TAG_PREVIOUS_VERSION in g.tags:
                # the release before this one has no version: the tag names the
                # one before it. Removed before the tags below, which a re-run
                # would skip (AWS cannot add and remove tags in one call).
                ctx.gw.untag_group(self.group, [TAG_PREVIOUS_VERSION])
            # Tags first, in one call: if the process dies before the group is
            # repointed, a re-run sees the new tags and keeps these previous-*.
            tags = {TAG_PREVIOUS_LAUNCH: current, TAG_AMI: self.ami}
            if g.ami:
                tags[TAG_PREVIOUS_AMI] = g.ami
            if g.version:
                tags[TAG_PREVIOUS_VERSION] = g.version
            if self.version:
                tags[TAG_VERSION] = self.version
            ctx.gw.tag_group(self.group, tags)
            tagged = f"; previous release {g.version or g.ami} recorded"
        if not self.version and g.version:
            # a release without version: the group's says the previous one's.
            # Also on a re-run that finds the tags above already written.
            ctx.gw.untag_group(self.group, [TAG_VERSION])
        if current == wanted:
            return f"already on {wanted}{tagged}"
        ctx.gw.set_group_launch(self.group, template=target[0], configuration=target[1])
        return f"now on {wanted} (was {current}){tagged}"


@dataclass(frozen=True)
class _Members:
    desired: int
    ids: tuple[str, ...]  # in the group and not leaving it
    images: Mapping[str, str]
    healthy: frozenset[str]  # InService in the group and healthy in the load balancer
    health: Mapping[str, str]

    def old(self, ami: str) -> list[str]:
        return [i for i in self.ids if self.images.get(i) != ami]

    def detail(self, ami: str) -> str:
        return ", ".join(
            f"{i} ({'new' if self.images.get(i) == ami else 'old'} image, "
            f"{self.health.get(i, 'not registered')})"
            for i in self.ids
        )


@dataclass(frozen=True)
class ReplaceInstances(Step):
    """Replace every instance of ``group`` that does not run ``ami``, one at a
    time: terminate it (the group launches a replacement from its launch
    template or configuration), wait until the replacement is InService and
    healthy in the load balancer, then the next.

    With ``keep_serving`` (live) it never terminates the last healthy
    instance. When a replacement is not
    healthy within ``timeout`` and ``revert`` is given, it puts the previous
    release back (``revert``, then the same replacement towards its image)
    and raises ``RolledBack``. When the replacement cannot launch (a Failed
    scaling activity newer than the roll: the image's or volume's KMS key, an
    instance type not supported) it stops at that poll, puts the previous
    release back the same way, and raises ``LaunchFailed`` (exit 5) with AWS's
    reason. A failure Auto Scaling retries past (no capacity for the instance
    type in a zone, a throttled launch) is shown and waited through
    (``bluegreen.plan.steps.launches``).
    """

    group: str
    balancer: str
    kind: str  # classic | alb
    target_group_arn: str | None
    ami: str
    label: str
    timeout: float
    revert: PinLaunch | None = None
    keep_serving: bool = True  # live: never terminate the last healthy instance
    removes_capacity = True

    def describe(self) -> str:
        back = f"; if one is not healthy, put {self.revert.label} back" if self.revert else ""
        return (
            f"replace the instances of {self.group} that do not run {self.label} ({self.ami}) "
            f"one at a time, each replacement healthy in {self.balancer} before the next "
            f"(at most {self.timeout:.0f}s each){back}"
        )

    def _read(self, ctx: Context) -> _Members:
        gw = ctx.gw
        read: list[Any] = gw.parallel(
            lambda: gw.groups_named([self.group]),
            lambda: balancer_health(ctx, self.kind, self.balancer, self.target_group_arn),
        )
        raw_group, health = read
        if not raw_group:
            raise StateError(
                f"autoscaling group {self.group} disappeared while replacing its instances",
                fix="run `bluegreen status` to see what changed",
            )
        g = raw_group[0]
        members = [
            i
            for i in g.get("Instances", [])
            if not str(i["LifecycleState"]).startswith(("Terminating", "Detach", "Standby"))
        ]
        images = gw.instance_images([i["InstanceId"] for i in members])
        ids = tuple(sorted(i["InstanceId"] for i in members if i["InstanceId"] in images))
        healthy = frozenset(
            i["InstanceId"]
            for i in members
            if i["LifecycleState"] == "InService" and health.get(i["InstanceId"]) == HEALTHY
        )
        return _Members(int(g["DesiredCapacity"]), ids, images, healthy & set(ids), health)

    def _settle(
        self,
        ctx: Context,
        ami: str,
        label: str,
        gone: str | None,
        what: str,
        launches: LaunchWatch,
    ) -> None:
        """Wait until ``gone`` has left the group, the group is at its desired
        size, and every instance running ``ami`` is healthy. A launch that
        failed since the roll began ends the wait at once, unless Auto
        Scaling's retries get past it (``launches``): AWS reports it nowhere else
        (https://docs.aws.amazon.com/autoscaling/ec2/userguide/ts-as-instancelaunchfailure.html)."""

        def check() -> tuple[bool, float, float, str]:
            m = self._read(ctx)
            new = [i for i in m.ids if m.images.get(i) == ami]
            ok = [i for i in new if i in m.healthy]
            done = (gone is None or gone not in m.ids) and len(m.ids) >= m.desired
            done = done and len(ok) == len(new)
            retrying = "" if done else launches.see(ctx.gw.failed_launch(self.group))
            detail = "; ".join(d for d in (m.detail(ami), retrying) if d)
            return done, len(ok), max(len(new), 1), detail

        try:
            poll(
                ctx,
                what,
                check,
                timeout=self.timeout,
                what_to_do=f"check the health-check endpoint of {label}; run the command again "
                "to keep going, or `bluegreen status` to see each instance",
            )
        except WaitTimeout as e:
            raise launches.timed_out(e) from None

    def _roll(self, ctx: Context, ami: str, label: str) -> int:
        start = self._read(ctx)
        # failures older than this roll (a put-back, an earlier release) are not its own
        launches = LaunchWatch(ctx, self.group, "run the command again", now=True)
        total = len(start.old(ami))
        replaced = 0
        while True:
            m = self._read(ctx)
            old = m.old(ami)
            if not old:
                self._settle(
                    ctx, ami, label, None, f"{self.group}: every instance on {label}", launches
                )
                return replaced
            sick = [i for i in old if i not in m.healthy]
            if sick:
                victim = sick[0]  # serves nothing: replacing it first costs no capacity
            else:
                self._settle(
                    ctx, ami, label, None, f"{self.group}: healthy before the next", launches
                )
                m = self._read(ctx)
                old = m.old(ami)
                if not old:
                    continue
                victim = old[0]
                if self.keep_serving and not (m.healthy - {victim}):
                    raise StateError(
                        f"{self.group}: replacing {victim} would leave {self.balancer} with no "
                        "healthy instance",
                        found=m.detail(ami),
                        fix="raise the group's desired capacity to at least 2, then run the "
                        "command again",
                    )
            ctx.reporter.info(
                f"{self.group}: replacing {victim} ({min(replaced + 1, max(total, 1))} of "
                f"{max(total, replaced + 1)}) with {label}"
            )
            if self.kind == "alb" and self.target_group_arn:
                # AWS deregisters an instance it terminates from the group's
                # target groups (with the deregistration delay); the emulator
                # leaves it there, reported healthy. Deregistering first makes
                # both behave alike.
                ctx.gw.deregister_targets(self.target_group_arn, [victim])
            # Auto Scaling refuses a termination while another of the group's
            # scaling activities runs (ScalingActivityInProgress: the previous
            # replacement's termination may still be draining): wait it out
            # (https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_TerminateInstanceInAutoScalingGroup.html)
            terminated, _ = retry_while_refused(
                ctx,
                lambda v=victim: ctx.gw.terminate_in_group(v),  # type: ignore[misc]
                refused=lambda e: e.code == "ScalingActivityInProgress",
                waiting=f"{self.group}: a scaling activity is still in progress",
                gave_up=f"{self.group}: Auto Scaling still has a scaling activity in progress",
                fix="`bluegreen status` shows the group; run the command again once its "
                "scaling activities are done: it carries on where it stopped",
                timeout=self.timeout,
            )
            if not terminated:
                ctx.reporter.info(f"{self.group}: {victim} is already leaving the group")
            self._settle(
                ctx, ami, label, victim, f"{self.group}: replacement of {victim}", launches
            )
            replaced += 1

    def apply(self, ctx: Context) -> str:
        try:
            n = self._roll(ctx, self.ami, self.label)
        except LaunchFailed as e:
            if self.revert is None:
                raise
            n = self._put_back(ctx, e)
            raise LaunchFailed(
                f"{e.message}; {self.revert.label} is back on every instance of "
                f"{self.group} ({n} replaced back)",
                found=e.found,
                fix=e.fix,
            ) from None
        except WaitTimeout as e:
            if self.revert is None:
                raise
            n = self._put_back(ctx, e)
            raise RolledBack(
                f"{self.group}: a replacement running {self.label} did not become healthy in "
                f"{self.balancer}; {self.revert.label} is back on every instance "
                f"({n} replaced back)",
                found=e.found,
                fix=e.fix
                if isinstance(e, StillRetrying)  # the replacement never launched
                else f"find out why {self.label} fails its health check (its logs, the AMI), "
                "then deploy a fixed release",
            ) from None
        return f"replaced {n} instance(s); every instance runs {self.label}"

    def _put_back(self, ctx: Context, cause: WaitTimeout) -> int:
        """Point the group back at ``revert`` and replace the instances back;
        the number replaced back."""
        assert self.revert is not None
        back = self.revert.label
        ctx.reporter.warn(f"{cause.message}: putting {back} back on {self.group}")
        try:
            ctx.reporter.step(self.revert.describe())
            ctx.reporter.detail(self.revert.apply(ctx))
            n = self._roll(ctx, self.revert.ami, back)
        except BluegreenError as e:
            raise RollbackFailed(
                f"{self.group}: a replacement running {self.label} did not become healthy, "
                f"and putting {back} back failed too: {e.message}",
                found=e.found or cause.found,
                fix=f"act now: `bluegreen status` shows each instance of {self.group}; run "
                "`bluegreen rollback` (rolling) or fix the instances by hand",
            ) from None
        return n


@dataclass(frozen=True)
class RequireRelease(Step):
    """Refuse unless every instance of ``group`` runs ``ami`` (validation
    before the live group is touched: staging must be wholly on the release)."""

    group: str
    ami: str
    label: str

    def describe(self) -> str:
        return f"check that every instance of {self.group} runs {self.label} ({self.ami})"

    def apply(self, ctx: Context) -> str:
        g = _group(ctx, self.group)
        images = ctx.gw.instance_images([i.id for i in g.instances])
        other = sorted(f"{i}={a}" for i, a in images.items() if a != self.ami)
        if other or not images:
            raise StateError(
                f"{self.group} is not wholly on {self.label}: a rolling deploy did not finish",
                found=", ".join(other) or "no running instances",
                fix="run the same `bluegreen deploy` again to finish it, then switch",
            )
        return f"{len(images)} instance(s) run {self.label}"
