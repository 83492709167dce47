"""Steps that attach and detach groups to load balancers (the lb strategy, and detaching before a delete), and move an ALB listener."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bluegreen.errors import StateError
from bluegreen.model import HEALTHY
from bluegreen.plan.steps.base import Context, Step


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
