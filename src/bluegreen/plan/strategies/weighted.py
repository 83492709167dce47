"""``weighted``: canary shifting over two load balancers.

Deploys are the ``dns`` strategy's (a new group behind the staging load
balancer). ``switch`` turns the live names into weighted alias records over
both load balancers (one set identifier per balancer, its name) and moves
traffic in steps (``steps``, e.g. 10,50,100). Each weight is held for
``interval`` while the new environment's instances must stay healthy, the
CloudWatch ``alarms`` out of ALARM, and the checks pass; otherwise all weight
returns to the old environment and the command exits 7. At 100% the live
names become simple aliases of the new balancer and the staging names point
at the old one: the end state is exactly that of a ``dns`` switch.

Roles during a shift: "live" is the environment the shift started from until
the shift completes (the staging names still point at the new one), so
``status`` says live = old, staging = new, and shows the weights.

Crash safety: the weights are the progress. ``switch`` run again mid-shift
holds the current weight once more, then continues with the steps above it;
``rollback`` mid-shift returns all traffic to the old environment.
"""

from __future__ import annotations

import dataclasses

from bluegreen.errors import StateError
from bluegreen.model import Balancer, Group, Site
from bluegreen.model.settings import Settings
from bluegreen.observe.checks import Assessment
from bluegreen.plan.access import open_before_traffic
from bluegreen.plan.canary import HoldWeight, RequireAlarmsOk
from bluegreen.plan.executor import Plan
from bluegreen.plan.steps import AliasTarget, Step
from bluegreen.plan.strategies.base import (
    CleanIntent,
    DeployIntent,
    alias_to,
    deploy_new_group,
    gate,
    groups_behind_one,
    mark_out_of_traffic,
    require_serving,
    require_site,
)
from bluegreen.plan.strategies.dns import (
    DnsStrategy,
    _interrupted_switch,
    point_private,
    point_public,
)


def _weighted(old: Balancer, new: Balancer, percent: int) -> tuple[AliasTarget, ...]:
    out = []
    for b, w in ((old, 100 - percent), (new, percent)):
        t = alias_to(b)
        out.append(AliasTarget(t.dns_name, t.zone_id, weight=w, set_id=b.name))
    return tuple(out)


def current_percent(a: Assessment, old: Balancer, new: Balancer) -> int:
    """The new environment's share of the live names' weight, 0-100."""
    w_old, w_new = a.weights.get(old.name, 0), a.weights.get(new.name, 0)
    return round(100 * w_new / (w_old + w_new)) if w_old + w_new else 0


def _check_steps(site: Site, s: Settings, new: Balancer, g: Group) -> tuple[Step, ...]:
    """The operator's checks (``--check``/``--check-url``), given the staging
    names: they test the new environment directly, not the weighted mix."""
    return gate(site, s, new, g, "staging", after_switch=False)


class WeightedStrategy:
    name = "weighted"

    def deploy(self, site: Site, a: Assessment, s: Settings, intent: DeployIntent) -> Plan:
        _refuse_while_shifting(a, "deploy")
        return deploy_new_group(site, a, s, intent)

    def clean(self, site: Site, a: Assessment, s: Settings, intent: CleanIntent) -> Plan:
        _refuse_while_shifting(a, "clean")
        return DnsStrategy().clean(site, a, s, intent)

    def switch(self, site: Site, a: Assessment, s: Settings, *, rollback: bool = False) -> Plan:
        command = "rollback" if rollback else "switch"
        if a.weights and not site.public_observed:
            # A shift in progress resumes at the public zone's weight (a step
            # may have reached that zone only): the caller reads it and plans again.
            raise StateError(
                f"{command}: a weighted shift in progress needs the public zone",
                found="live weights "
                + ", ".join(f"{b}={w}" for b, w in a.weights.items())
                + " (the private zone only was read)",
                fix=f"run `bluegreen {command}` again: it reads the public zone",
            )
        if _interrupted_switch(site, a) is not None:
            return DnsStrategy().switch(site, a, s, rollback=rollback)
        if not a.weights:
            if rollback:
                return DnsStrategy().switch(site, a, s, rollback=True)
            live, staging = require_site(site, a, command)
            old_group = groups_behind_one(site, live, command)
            if old_group is None:
                plan = DnsStrategy().switch(site, a, s)
                return Plan(
                    plan.command,
                    plan.steps,
                    summary=plan.summary,
                    notes=(
                        *plan.notes,
                        f"the live environment {live.name} holds no release: nothing to shift "
                        "from, switching at once",
                    ),
                    facts=plan.facts,
                )
            return self._shift(site, s, live, staging, old_group, 0)
        live, staging = require_site(site, a, command)
        if rollback:
            return self._return_all(site, s, live, staging, a)
        old_group = groups_behind_one(site, live, command)
        return self._shift(site, s, live, staging, old_group, current_percent(a, live, staging))

    def _shift(
        self,
        site: Site,
        s: Settings,
        live: Balancer,
        staging: Balancer,
        old_group: Group | None,
        at: int,
    ) -> Plan:
        assert site.public_zone
        new_group = require_serving(staging, groups_behind_one(site, staging, "switch"), "switch")
        label = new_group.version or new_group.ami or new_group.name
        # Back to the old environment from any weight: the records are read
        # first (expect None), as the hold that fails may be any of the steps.
        back = tuple(
            dataclasses.replace(step, expect=None)
            for step in (
                point_public(site, s, live, "weighted switch undo"),
                point_private(site, s, live, None, "weighted switch undo"),
            )
        )

        def hold(percent: int) -> HoldWeight:
            return HoldWeight(
                percent,
                s.interval,
                new_group.name,
                staging.name,
                staging.kind,
                staging.target_group_arn,
                live.name,
                s.alarms,
                _check_steps(site, s, staging, new_group),
                back,
            )

        steps: list[Step] = []
        if s.alarms:
            steps.append(RequireAlarmsOk(s.alarms))
        steps += open_before_traffic(site, staging)  # staging_cidrs: before any weight moves
        if at == 0:  # before any traffic moves: a failing check refuses (exit 3)
            steps += _check_steps(site, s, staging, new_group)
        if at > 0:
            steps.append(hold(at))
        public = private = None
        for p in (p for p in s.steps if p > at and p < 100):
            targets = _weighted(live, staging, p)
            label = f"{live.name} {100 - p}% and {staging.name} {p}%"
            why = f"weighted switch: {p}% -> {staging.name}"
            public = point_public(site, s, targets, why, label=label, after=public)
            private = point_private(site, s, targets, None, why, label=label, after=private)
            steps += [public, private, hold(p)]
        steps.append(point_public(site, s, staging, "weighted switch: 100%", after=public))
        steps += mark_out_of_traffic(old_group)  # clean's drain wait and staging_cidrs start here
        last = point_private(site, s, staging, live, "weighted switch", after=private)
        if private is not None:  # the staging names were not moved by the weighted steps
            last = dataclasses.replace(last, expect=(*(last.expect or ()), *site.private))
        steps.append(last)
        old_label = (old_group.version or old_group.ami) if old_group else "empty"
        return Plan(
            "switch",
            tuple(steps),
            summary=f"shift the live names from {live.name} ({old_label}) to {staging.name} "
            f"({label}) in steps {','.join(str(p) for p in s.steps if p > at)}%, "
            f"holding each {s.interval:.0f}s",
            notes=(f"resuming a shift at {at}% to {staging.name}",) if at else (),
            facts={
                "live": staging.name,
                "staging": live.name,
                "version": new_group.version,
                "previous_version": old_group.version if old_group else None,
                "steps": [p for p in s.steps if p > at],
                "resumed_at": at,
            },
        )

    def _return_all(
        self, site: Site, s: Settings, live: Balancer, staging: Balancer, a: Assessment
    ) -> Plan:
        at = current_percent(a, live, staging)
        canary = groups_behind_one(site, staging, "rollback")
        steps = (
            *open_before_traffic(site, live),
            point_public(site, s, live, "weighted rollback"),
            *mark_out_of_traffic(canary),
            point_private(site, s, live, None, "weighted rollback"),
        )
        return Plan(
            "rollback",
            steps,
            summary=f"stop the shift at {at}%: return all traffic to {live.name}",
            facts={"live": live.name, "staging": staging.name, "stopped_at": at},
        )


def _refuse_while_shifting(a: Assessment, command: str) -> None:
    if a.weights:
        shares = ", ".join(f"{k}={v}" for k, v in sorted(a.weights.items()))
        raise StateError(
            f"{command}: a weighted shift is in progress ({shares})",
            fix="finish it with `bluegreen switch` or return all traffic with "
            "`bluegreen rollback` first",
        )
