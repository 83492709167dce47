"""The steps of a weighted (canary) shift: refuse to start while an alarm
fires, and hold each weight for an interval while watching the new
environment's instance health, CloudWatch alarms and the checks; trouble
returns all traffic to the old environment (``RolledBack``, exit 7).
"""

from __future__ import annotations

from dataclasses import dataclass

from bluegreen.errors import BluegreenError, RollbackFailed, RolledBack, StateError
from bluegreen.model import HEALTHY
from bluegreen.plan.steps import Context, Step, balancer_health


@dataclass(frozen=True)
class RequireAlarmsOk(Step):
    """Refuse (before anything changes) when a gating alarm does not exist or
    is in ALARM already."""

    alarms: tuple[str, ...]

    def describe(self) -> str:
        return f"check that alarms {', '.join(self.alarms)} exist and are not in ALARM"

    def apply(self, ctx: Context) -> str:
        states = ctx.gw.alarm_states(self.alarms)
        missing = [a for a in self.alarms if a not in states]
        if missing:
            raise StateError(
                f"CloudWatch alarm(s) {', '.join(missing)} do not exist",
                found=f"existing: {', '.join(sorted(states)) or 'none of those asked for'}",
                fix="create them, or fix the --alarm names (or `alarms` in bluegreen.toml)",
            )
        firing = [a for a in self.alarms if states[a] == "ALARM"]
        if firing:
            raise StateError(
                f"alarm(s) {', '.join(firing)} are in ALARM already: not starting the shift",
                fix="find out why they fire and wait until they are OK, then switch again",
            )
        return ", ".join(f"{a}={states[a]}" for a in self.alarms)


@dataclass(frozen=True)
class HoldWeight(Step):
    """Hold the current weights for ``seconds``, watching every ``every``
    seconds (through the clock): each instance of ``group`` must stay healthy
    in ``balancer`` and no alarm may be in ALARM. At the end the ``checks``
    run. On trouble, ``undo`` returns all traffic to ``old`` and the command
    fails with ``RolledBack`` (exit 7); if that fails too, ``RollbackFailed``."""

    percent: int
    seconds: float
    group: str
    balancer: str
    kind: str
    target_group_arn: str | None
    old: str
    alarms: tuple[str, ...] = ()
    checks: tuple[Step, ...] = ()
    undo: tuple[Step, ...] = ()
    every: float = 10.0

    def describe(self) -> str:
        watch = [f"instances of {self.group} healthy"]
        if self.alarms:
            watch.append(f"alarms {', '.join(self.alarms)} not in ALARM")
        if self.checks:
            watch.append(f"{len(self.checks)} check step(s) pass")
        return (
            f"hold {self.percent}% on {self.balancer} for {self.seconds:.0f}s while "
            f"{', '.join(watch)}; else return all traffic to {self.old}"
        )

    def trouble(self, ctx: Context) -> str | None:
        groups = ctx.gw.groups_named([self.group])
        if not groups:
            return f"autoscaling group {self.group} disappeared"
        members = groups[0].get("Instances", [])
        health = balancer_health(ctx, self.kind, self.balancer, self.target_group_arn)
        bad = sorted(
            f"{i['InstanceId']}={health.get(i['InstanceId'], 'not registered')}"
            for i in members
            if i["LifecycleState"] != "InService" or health.get(i["InstanceId"]) != HEALTHY
        )
        if bad or not members:
            return (
                f"{len(bad)} of {len(members)} instances of {self.group} are not healthy in "
                f"{self.balancer}: {', '.join(bad)}"
            )
        if self.alarms:
            states = ctx.gw.alarm_states(self.alarms)
            firing = [a for a in self.alarms if states.get(a) == "ALARM"]
            if firing:
                return f"alarm(s) {', '.join(firing)} in ALARM"
            gone = [a for a in self.alarms if a not in states]
            if gone:
                return f"alarm(s) {', '.join(gone)} no longer exist"
        return None

    def apply(self, ctx: Context) -> str:
        clock = ctx.gw.clock
        start = clock.monotonic()
        end = start + self.seconds
        looks = 0
        with ctx.reporter.progress(f"holding {self.percent}% on {self.balancer}") as bar:
            while True:
                looks += 1
                reason = self.trouble(ctx)
                if reason:
                    self._abort(ctx, reason)
                left = end - clock.monotonic()
                bar.update(self.seconds - max(left, 0), self.seconds, f"{max(left, 0):.0f}s left")
                if left <= 0:
                    break
                clock.sleep(min(self.every, left))
        for check in self.checks:
            try:
                ctx.reporter.detail(check.apply(ctx))
            except BluegreenError as e:
                self._abort(ctx, f"a check failed: {e.message}")
        return (
            f"held {self.percent}% for {clock.monotonic() - start:.0f}s ({looks} looks): "
            "healthy, no alarm"
        )

    def _abort(self, ctx: Context, reason: str) -> None:
        ctx.reporter.warn(f"stopping the shift at {self.percent}%: {reason}")
        try:
            for step in self.undo:
                ctx.reporter.step(step.describe())
                ctx.reporter.detail(step.apply(ctx))
        except BluegreenError as e:
            raise RollbackFailed(
                f"the shift stopped at {self.percent}% ({reason}) and returning all traffic to "
                f"{self.old} failed: {e.message}",
                found=e.found,
                fix="act now: `bluegreen rollback` returns all traffic to the old environment; "
                "`bluegreen status` shows the weights",
            ) from None
        raise RolledBack(
            f"the shift stopped at {self.percent}%: {reason}; all traffic is back on {self.old}",
            found=reason,
            fix=f"the new release stays in staging ({self.balancer}): find the cause, deploy a "
            "fixed release, and switch again",
        )
