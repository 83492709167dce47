"""Instances take time, and launches can fail.

- A new instance is ``pending`` (Auto Scaling: Pending) while it boots, then
  OutOfService in a classic load balancer / ``initial`` in a target group until
  it has passed the health check HealthyThreshold times.
- A launch that EC2 refuses (an instance type not offered, no capacity, a KMS
  key the Auto Scaling service-linked role cannot use) never shows as an
  error of any call: the group stays without instances and the reason is only
  in its scaling activities, as a Failed activity. A group with running
  instances pointed at such a launch keeps them; each instance it launches
  from then on (a replacement of one terminated) fails the same way.
- Auto Scaling tries a failed launch again, by itself, for as long as the
  group is below its desired capacity: a Failed activity per attempt while the
  cause lasts, then the instances. EC2's capacity for an instance type comes
  back after a while; an image or a key it may not use does not.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from xml.sax.saxutils import escape

from bluegreen.clock import iso
from bluegreen.emulator.fidelity.layer import Behaviour, Faults
from bluegreen.emulator.fidelity.registry import Launch, registry
from bluegreen.emulator.fidelity.wire import Call, Reply, set_params, sub_request, tag, xml_reply

_INNER_MEMBER = re.compile(r"<member>((?:(?!<member>).)*?)</member>", re.S)
_RESIZING = ("CreateAutoScalingGroup", "UpdateAutoScalingGroup", "SetDesiredCapacity")
_LAUNCHING = (*_RESIZING, "TerminateInstanceInAutoScalingGroup", "AttachLoadBalancers")


class Boot(Behaviour):
    """Instance lifecycle: pending, then running
    https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/ec2-instance-lifecycle.html
    the group's Pending -> InService
    https://docs.aws.amazon.com/autoscaling/ec2/userguide/ec2-auto-scaling-lifecycle.html
    OutOfService / "Instance registration is still in progress" in a classic
    load balancer until HealthyThreshold checks passed
    https://docs.aws.amazon.com/elasticloadbalancing/latest/classic/elb-healthchecks.html
    and ``initial`` / Elb.RegistrationInProgress in a target group
    https://docs.aws.amazon.com/elasticloadbalancing/latest/application/target-group-health-checks.html
    """

    def reset(self) -> None:
        self.launched: dict[str, float] = {}

    def _age(self, instance: str) -> float:
        now = self.layer.now()
        return now - self.launched.setdefault(instance, now)

    def _note(self, text: str) -> None:
        for i in tag(text, "InstanceId"):
            self._age(i)

    def after(self, call: Call, reply: Reply) -> Reply:
        if not reply.ok:
            return reply
        t = self.layer.timings
        if call.service == "autoscaling" and call.action in _LAUNCHING:
            params = {"Action": "DescribeAutoScalingGroups", "Version": "2011-01-01"}
            if call.get("AutoScalingGroupName"):
                params["AutoScalingGroupNames.member.1"] = call.get("AutoScalingGroupName")
            self._note(sub_request(self.layer.app, call, params=params).text)
        elif call.service == "autoscaling" and call.action == "DescribeAutoScalingGroups":

            def group_member(block: str, i: str) -> str:
                if self._age(i) < t.boot:
                    return block.replace(
                        "<LifecycleState>InService</LifecycleState>",
                        "<LifecycleState>Pending</LifecycleState>",
                    )
                return block

            return reply.with_text(_members(reply.text, "InstanceId", group_member))
        elif call.classic_elb and call.action == "DescribeInstanceHealth":

            def classic(block: str, i: str) -> str:
                if self._age(i) < t.boot + t.health_checks:
                    block = block.replace("<State>InService</State>", "<State>OutOfService</State>")
                    block = re.sub(
                        r"<ReasonCode>[^<]*</ReasonCode>", "<ReasonCode>ELB</ReasonCode>", block
                    )
                    return re.sub(
                        r"<Description>[^<]*</Description>",
                        "<Description>Instance registration is still in progress.</Description>",
                        block,
                    )
                return block

            return reply.with_text(_members(reply.text, "InstanceId", classic))
        elif call.service == "elasticloadbalancing" and call.action == "DescribeTargetHealth":

            def target(block: str, i: str) -> str:
                if self._age(i) < t.boot + t.health_checks:
                    return block.replace(
                        "<State>healthy</State>",
                        "<State>initial</State><Reason>Elb.RegistrationInProgress</Reason>"
                        "<Description>Target registration is in progress</Description>",
                    )
                return block

            return reply.with_text(_members(reply.text, "Id", target))
        elif call.service == "ec2" and call.action == "DescribeInstances":

            def booting(m: re.Match[str]) -> str:
                at = self.launched.get(m.group(2))
                if at is not None and self.layer.now() - at < t.boot:
                    return m.group(1) + "<code>0</code><name>pending</name>"
                return m.group(0)

            return reply.with_text(_EC2_STATE.sub(booting, reply.text))
        return reply


_EC2_STATE = re.compile(
    r"(<instanceId>(i-[0-9a-f]+)</instanceId>(?:(?!<instanceId>).)*?<instanceState>\s*)"
    r"<code>16</code>\s*<name>running</name>",
    re.S,
)


def _members(text: str, id_tag: str, fn: object) -> str:
    """Apply ``fn(block, instance id)`` to every innermost ``<member>`` holding
    ``<id_tag>i-...</id_tag>``."""
    assert callable(fn)
    pattern = re.compile(rf"<{id_tag}>(i-[0-9a-f]+)</{id_tag}>")

    def one(m: re.Match[str]) -> str:
        found = pattern.search(m.group(0))
        return str(fn(m.group(0), found.group(1))) if found else m.group(0)

    return _INNER_MEMBER.sub(one, text)


@dataclass
class Failing:
    min_size: int
    desired: int
    message: str
    description: str
    running: int = 0  # instances it had when pointed at the failing launch, still running
    launch: Launch | None = None  # what it launches with (judged again at each retry)
    attempt: float = 0.0  # when it last tried to launch (the layer's clock)


def _failure(launch: Launch, faults: Faults, now: float, region: str) -> tuple[str, str] | None:
    """(StatusMessage, Description) AWS gives for this launch, or None if it succeeds.
    https://docs.aws.amazon.com/autoscaling/ec2/userguide/ts-as-instancelaunchfailure.html"""
    if faults.short_of_capacity(launch.instance_type, now):
        # InsufficientInstanceCapacity, as a scaling activity ("ts-as-capacity-1"
        # on the page above): Auto Scaling retries, in the group's other zones too
        t, zone = launch.instance_type, f"{region or 'us-east-1'}a"
        msg = (
            f"We currently do not have sufficient {t} capacity in the Availability Zone you "
            f"requested ({zone}). Our system will be working on provisioning additional "
            f"capacity. You can currently get {t} capacity by not specifying an Availability "
            "Zone in your request or choosing other zones. Launching EC2 instance failed."
        )
        return msg, f"Launching a new EC2 instance.  Status Reason: {msg}"
    if launch.instance_type in faults.instance_types:
        msg = (
            "The requested configuration is currently not supported. Please check the "
            "documentation for supported configurations. Launching EC2 instance failed."
        )
        return msg, f"Launching a new EC2 instance.  Status Reason: {msg}"
    if set(launch.kms_keys) & faults.kms_keys or launch.image in faults.images:
        # "Client.InternalError: Client error on launch": the Auto Scaling
        # service-linked role may not use the customer managed key of the
        # volume (or of the image's encrypted snapshots)
        # https://docs.aws.amazon.com/autoscaling/ec2/userguide/key-policy-requirements-EBS-encryption.html
        msg = (
            "Instance became unhealthy while waiting for instance to be in InService state. "
            "Termination Reason: Client.InternalError: Client error on launch"
        )
        return (
            msg,
            f"Launching a new EC2 instance: i-{uuid.uuid4().hex[:17]}.  Status Reason: {msg}",
        )
    return None


class FailedLaunches(Behaviour):
    """Launches of a group whose instance type or KMS key is marked failing
    (``Layer.faults``) fail: the group keeps its desired capacity and no
    instances; DescribeScalingActivities shows a Failed activity with AWS's
    StatusMessage per attempt. Auto Scaling attempts the launch again every
    ``Timings.launch_retry`` seconds ("Amazon EC2 Auto Scaling continues to
    automatically make the launch request until capacity becomes available"):
    another Failed activity while the cause lasts, else the group fills up.
    The retries happen when someone looks (a describe of the groups or of
    their activities), as if they had happened in the background.
    https://docs.aws.amazon.com/autoscaling/ec2/userguide/ts-as-instancelaunchfailure.html
    https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_DescribeScalingActivities.html
    """

    def reset(self) -> None:
        self.failing: dict[str, Failing] = {}
        self.activities: dict[str, list[str]] = {}  # group -> activity XML, newest first

    def _activity(self, group: str, f: Failing, before: int, *, ok: bool = False) -> None:
        """A launch activity, newest first: Failed with AWS's reason, or (``ok``)
        Successful, when a group that failed is pointed at a launch that works."""
        f.attempt = self.layer.now()
        now = iso(f.attempt)
        if ok:
            status = "<StatusCode>Successful</StatusCode>"
            description = f"Launching a new EC2 instance: i-{uuid.uuid4().hex[:17]}"
        else:
            status = (
                f"<StatusCode>Failed</StatusCode><StatusMessage>{escape(f.message)}</StatusMessage>"
            )
            description = f.description
        self.activities.setdefault(group, []).insert(
            0,
            "<member>"
            f"<ActivityId>{uuid.uuid4()}</ActivityId>"
            f"<AutoScalingGroupName>{escape(group)}</AutoScalingGroupName>"
            f"<Description>{escape(description)}</Description>"
            f"<Cause>At {now} an instance was started in response to a difference between "
            f"desired and actual capacity, increasing the capacity from {before} to "
            f"{f.desired}.</Cause>"
            f"<StartTime>{now}</StartTime><EndTime>{now}</EndTime>"
            f"{status}<Progress>100</Progress><Details>{{}}</Details>"
            "</member>",
        )

    def _group_size(self, call: Call, group: str) -> tuple[int, int]:
        """(MinSize, DesiredCapacity) of ``group`` as the emulator holds it."""
        params = {
            "Action": "DescribeAutoScalingGroups",
            "Version": "2011-01-01",
            "AutoScalingGroupNames.member.1": group,
        }
        text = sub_request(self.layer.app, call, params=params).text
        sizes = [int(v) for v in tag(text, "MinSize")[:1] + tag(text, "DesiredCapacity")[:1]]
        return (sizes[0], sizes[1]) if len(sizes) == 2 else (0, 0)

    def _terminate(self, call: Call) -> None:
        """TerminateInstanceInAutoScalingGroup in a group whose launches fail:
        the instance goes, its replacement fails (a Failed activity)."""
        params = {
            "Action": "DescribeAutoScalingInstances",
            "Version": "2011-01-01",
            "InstanceIds.member.1": call.get("InstanceId"),
        }
        groups = tag(sub_request(self.layer.app, call, params=params).text, "AutoScalingGroupName")
        f = self.failing.get(groups[0]) if groups else None
        if f is None:
            return
        if (
            f.launch
            and _failure(f.launch, self.layer.faults, self.layer.now(), call.region) is None
        ):
            self._recover(call, groups[0], f)  # the cause is gone: the replacement launches
            return
        f.running = max(f.running - 1, 0)
        if call.get("ShouldDecrementDesiredCapacity").lower() == "true":
            f.desired = max(f.desired - 1, 0)
            return
        # the emulator would launch the replacement: it may not
        set_params(call, ShouldDecrementDesiredCapacity="true")
        self._activity(groups[0], f, f.running)

    def _retry(self, call: Call) -> None:
        """Every failing group's launch attempt that is due, judged again by
        what it launches with: it fails again (a Failed activity), or the
        group fills up (a Successful one)."""
        now = self.layer.now()
        for group, f in list(self.failing.items()):
            if f.launch is None or now - f.attempt < self.layer.timings.launch_retry:
                continue
            reason = _failure(f.launch, self.layer.faults, now, call.region)
            if reason is None:
                self._recover(call, group, f)
            elif f.desired > f.running:
                f.message, f.description = reason
                self._activity(group, f, f.running)

    def _recover(self, call: Call, group: str, f: Failing) -> None:
        """The cause of ``group``'s failed launches is gone: it launches what it lacks."""
        self.failing.pop(group, None)
        params = {
            "Action": "UpdateAutoScalingGroup",
            "Version": "2011-01-01",
            "AutoScalingGroupName": group,
            "MinSize": str(f.min_size),
            "DesiredCapacity": str(f.desired),
        }
        if sub_request(self.layer.app, call, params=params).ok and f.desired > f.running:
            self._activity(group, f, f.running, ok=True)

    def before(self, call: Call) -> Reply | None:
        if call.service != "autoscaling":
            return None
        if self.failing and call.action in (
            "DescribeAutoScalingGroups",
            "DescribeScalingActivities",
        ):
            self._retry(call)
        group = call.get("AutoScalingGroupName")
        if call.action == "DescribeScalingActivities" and group in self.activities:
            return xml_reply(
                '<DescribeScalingActivitiesResponse xmlns="http://autoscaling.amazonaws.com/'
                'doc/2011-01-01/"><DescribeScalingActivitiesResult><Activities>'
                + "".join(self.activities[group])
                + "</Activities></DescribeScalingActivitiesResult><ResponseMetadata>"
                f"<RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata>"
                "</DescribeScalingActivitiesResponse>"
            )
        if call.action == "TerminateInstanceInAutoScalingGroup":
            self._terminate(call)
            return None
        if call.action not in _RESIZING:
            return None
        f = self.failing.get(group)
        if (
            call.action == "CreateAutoScalingGroup"
            or call.get("LaunchTemplate.Version")
            or call.get("LaunchConfigurationName")
        ):
            launch = registry(self.layer.behaviours).launch_of(call)
            now = self.layer.now()
            reason = _failure(launch, self.layer.faults, now, call.region) if launch else None
            if reason is None:
                if f is not None:  # a launch setting that works: the group fills up
                    self.failing.pop(group)
                    wanted = call.get("DesiredCapacity") or str(f.desired)
                    set_params(
                        call,
                        MinSize=call.get("MinSize") or str(f.min_size),
                        DesiredCapacity=wanted,
                    )
                    if int(wanted) > f.running:
                        self._activity(group, f, f.running, ok=True)
                return None
            if f is None and call.action != "CreateAutoScalingGroup":
                # a group with instances: they keep running, what it launches fails
                min_size, size = self._group_size(call, group)
                f = Failing(min_size, size, *reason, running=size)
            elif f is None:
                f = Failing(0, 0, *reason)
            else:
                f = Failing(f.min_size, f.desired, *reason, running=f.running)
            f.launch, f.attempt = launch, now
            self.failing[group] = f
        if f is None:
            return None
        f.min_size = int(call.get("MinSize") or f.min_size)
        f.desired = int(call.get("DesiredCapacity") or max(f.desired, f.min_size))
        f.running = min(f.running, f.desired)
        set_params(call, MinSize=str(min(f.min_size, f.running)), DesiredCapacity=str(f.running))
        if f.desired > f.running:
            self._activity(group, f, f.running)
        return None

    def after(self, call: Call, reply: Reply) -> Reply:
        if call.service != "autoscaling" or not reply.ok:
            return reply
        if call.action == "DeleteAutoScalingGroup":
            self.failing.pop(call.get("AutoScalingGroupName"), None)
            self.activities.pop(call.get("AutoScalingGroupName"), None)
        elif call.action == "DescribeAutoScalingGroups" and self.failing:
            text = reply.text
            for group, f in self.failing.items():
                for field, value in (("MinSize", f.min_size), ("DesiredCapacity", f.desired)):
                    text = re.sub(
                        rf"(<AutoScalingGroupName>{re.escape(escape(group))}</AutoScalingGroupName>"
                        rf"(?:(?!<AutoScalingGroupName>).)*?<{field}>)\d+(</{field}>)",
                        rf"\g<1>{value}\g<2>",
                        text,
                        flags=re.S,
                    )
            return reply.with_text(text)
        return reply
