"""A group's failed launches, as a wait for its instances sees them.

A launch EC2 refuses shows only as a Failed scaling activity of the group, and
Auto Scaling tries it again by itself for as long as the group is below its
desired capacity
(https://docs.aws.amazon.com/autoscaling/ec2/userguide/ts-as-instancelaunchfailure.html).
Some causes pass: EC2 lacks capacity for the instance type in one zone, or
throttles the launches; a later attempt, in that zone or another of the
group's, succeeds. The others stay until someone fixes them (an image or
instance profile that does not exist, a KMS key the Auto Scaling
service-linked role may not use, an instance type or configuration that is
not supported). A wait goes on through the first kind, showing it, and names
the last one if it runs out of time; it stops at once at the second kind.

Only a failure of this run counts. A group keeps its activities, so a deploy
that takes over a killed one, or runs again after the cause was fixed, finds
the old failure still the newest while Auto Scaling may be about to launch
successfully. What was there before is told apart by activity id, never by
comparing AWS's timestamps with the local clock: the id of the group's newest
failed activity before this run launched in it (none for a group this run
created, else remembered by the step that resized it, or by the wait's first
look) is not this run's, nor is anything older than it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from bluegreen.errors import LaunchFailed, WaitTimeout
from bluegreen.plan.steps.base import Context

# ctx.facts: group name -> id of its newest failed activity before this run
# launched in it ("" when it had none, or this run created it)
FAILED_BEFORE = "failed_launch_before"

# AWS's words for failures its own retries get past. EC2 lacks capacity for the
# instance type in a zone ("We currently do not have sufficient t3.micro capacity
# in the Availability Zone you requested (...)", InsufficientInstanceCapacity):
# "Wait a few minutes for Amazon EC2 Auto Scaling to find capacity for this
# instance type in other enabled Availability Zones"
# (https://docs.aws.amazon.com/autoscaling/ec2/userguide/ts-as-instancelaunchfailure.html#ts-as-capacity-1;
# a group tries another healthy zone when launches fail in one,
# https://docs.aws.amazon.com/autoscaling/ec2/userguide/ec2-auto-scaling-availability-zone-balanced.html),
# the same for Spot capacity (#ts-as-capacity-2). EC2 throttled the launch
# (RequestLimitExceeded: RunInstances' token buckets refill every second,
# https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-throttling.html).
_TRANSIENT = re.compile(
    r"InsufficientInstanceCapacity"
    r"|do not have sufficient \S+ capacity in the Availability Zone"
    r"|no Spot capacity available"
    r"|RequestLimitExceeded|Request limit exceeded",
    re.IGNORECASE,
)


def transient_failure(activity: Mapping[str, Any]) -> bool:
    """Whether Auto Scaling's own retries are expected to get past this failed
    activity (no capacity for the instance type in a zone, a throttled launch).
    Anything else, recognised or not, is taken to stay until someone fixes it."""
    if activity.get("StatusCode") != "Failed":
        return False
    text = f"{activity.get('StatusMessage') or ''} {activity.get('Description') or ''}"
    return _TRANSIENT.search(text) is not None


def reason(activity: Mapping[str, Any]) -> str:
    return str(activity.get("StatusMessage") or activity.get("Description") or "no reason given")


def _id(failed: Mapping[str, Any] | None) -> str:
    """The id of a failed activity (``failed_launch``'s answer), "" for none."""
    return str(failed.get("ActivityId", "")) if failed else ""


def group_created(ctx: Context, group: str) -> None:
    """This run created ``group``: every failure it reports is this run's."""
    ctx.facts.setdefault(FAILED_BEFORE, {})[group] = ""


def before_launching(ctx: Context, group: str) -> None:
    """Remember the newest failed activity of ``group`` before this run makes
    it launch (once per run: what this run did stays this run's)."""
    known: dict[str, str] = ctx.facts.setdefault(FAILED_BEFORE, {})
    if group not in known:
        known[group] = _id(ctx.gw.failed_launch(group))


class StillRetrying(WaitTimeout):
    """A wait ran out of time while the group's newest activity was a failed
    launch (its fix says what to do about that launch)."""


class LaunchWatch:
    """What one wait knows of ``group``'s failed launches: which are older
    than this run, and the last failure Auto Scaling is retrying."""

    def __init__(self, ctx: Context, group: str, then: str, *, now: bool = False) -> None:
        """``then``: what to do once the cause is fixed. ``now``: this run is
        about to make the group launch: read what failed before at once (else
        it was remembered by ``group_created`` / ``before_launching``, or the
        first ``see`` takes it)."""
        self.group = group
        self.then = then
        # the failure that was the group's newest activity at the last look:
        # a transient one of this run, or one from before it
        self.last: Mapping[str, Any] | None = None
        self.before: str | None = (
            _id(ctx.gw.failed_launch(group)) if now else ctx.facts.get(FAILED_BEFORE, {}).get(group)
        )

    def see(self, failed: Mapping[str, Any] | None) -> str:
        """Judge the group's newest activity when it failed (``failed_launch``):
        raise ``LaunchFailed`` for a failure of this run that will not pass;
        for one that will, the progress detail that says so; else ""."""
        newest = _id(failed)
        if self.before is None:  # the first look of a run that did not launch: all old
            self.before = newest
        self.last = failed  # None: the newest activity did not fail (a launch got through)
        if failed is None or newest == self.before:
            return ""
        if not transient_failure(failed):
            raise launch_failed(self.group, failed, then=self.then)
        return f"a launch failed, Auto Scaling is retrying: {reason(failed)}"

    def timed_out(self, e: WaitTimeout) -> WaitTimeout:
        """The wait's timeout, naming the launch failure that was still the
        group's newest activity (in what was found too, which a put-back's
        error keeps): one Auto Scaling was retrying, or one from before this
        run that it has not tried again since (it suspends the launches of a
        group whose launches have failed for a long time,
        https://docs.aws.amazon.com/autoscaling/ec2/userguide/as-suspend-resume-processes.html)."""
        if self.last is None or isinstance(e, LaunchFailed):
            return e
        why = reason(self.last)
        older = _id(self.last) == self.before
        said = (
            f"the last failed launch{' (before this run, not tried again since)' if older else ''}"
        )
        found = e.found or ""
        if why not in found:
            found = "; ".join(f for f in (found, f"{said}: {why}") if f)
        fix = (
            "Auto Scaling keeps retrying a launch that failed for want of capacity for "
            "the instance type (or was throttled): run the command again to keep waiting, "
            "or choose another --instance-type, offered in more of the site's availability "
            "zones"
        )
        if not transient_failure(self.last):
            fix = launch_failed(self.group, self.last, then=self.then).fix or fix
        return StillRetrying(f"{e.message}; {said}: {why}", found=found, fix=fix)


def launch_failed(
    group: str,
    activity: Mapping[str, Any],
    then: str = "`bluegreen clean` staging and deploy again",
    done: str = "",
) -> LaunchFailed:
    """The error for a group whose launches fail: AWS's reason, and what to do
    (``then``: after fixing the cause; ``done``: what was already put right)."""
    why = reason(activity)
    if "Client.InternalError" in why:
        fix = (
            "an encrypted volume's KMS key (--kms-key) the Auto Scaling service-linked role "
            "may not use is the usual cause: grant AWSServiceRoleForAutoScaling the key "
            "policy in README, 'KMS keys for root volumes' (for the volume's key, or the "
            f"key of the image's encrypted snapshots). Then {then}"
        )
    elif "capacity" in why.lower() or "not supported" in why.lower():
        fix = (
            "choose an instance type offered in the site's availability zones "
            f"(--instance-type), or try again later. Then {then}"
        )
    else:
        fix = f"fix the cause AWS names, then {then}"
    return LaunchFailed(
        f"instances of {group} cannot launch: {why}{'; ' + done if done else ''}",
        found=f"scaling activity {activity.get('StatusCode')}: "
        f"{activity.get('Description', '')} ({activity.get('Cause', '')})",
        fix=fix,
    )
