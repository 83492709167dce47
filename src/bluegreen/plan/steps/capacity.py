"""Steps that keep capacity during a deploy (the live group's pinned minimum) and mark a group out of traffic."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bluegreen.errors import NotFound
from bluegreen.plan.steps.base import Context, Step


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
