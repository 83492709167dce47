"""``lb``: the seed's autoscaling group switching. The live names never move.

Classic load balancers (and any two-balancer site): the records stay as
``init`` made them, live names -> load balancer 1 (L), staging names -> load
balancer 2 (S). A release is deployed behind S. Switching it live (N the new
group, O the one live now):

1. attach N to L;
2. wait until every instance of N is InService in L;
3. detach O from L (refused by the step itself unless other instances are
   healthy in L);
4. attach O to S, where it stays for rollback;
5. detach N from S.

At no moment has L zero healthy instances. It does briefly serve both
releases (between 1 and 3): a classic load balancer cannot swap its
instances atomically. Rollback is the same towards the previous release.

Crash safety: every step finds its work done and skips it, so the plan can
simply be made again. The only thing to recognise is which group is the new
one: a group attached to both L and S can only be one whose switch began
(step 1) and did not finish (step 5); the other group of the site, wherever it
is attached (L, S or nowhere), is the old one. Running ``switch`` (or
``rollback``) again finishes that switch.

Application load balancer: one ALB with two target groups. Its listeners'
default action forwards the live names to the live target group; a
listener rule (host header ``*-staging.DOMAIN``) forwards the staging names,
which are aliases of the same ALB, to the other. Releases never move between
target groups: switching rewrites the default actions (``modify_listener``,
atomic per listener, after checking the target group is healthy), then the
staging rules. Live traffic therefore never reaches two releases at once.
A crash between the two leaves a rule forwarding to the live target group, or
listeners that disagree; running ``switch`` again finishes towards the
target group the move had begun for.
"""

from __future__ import annotations

from bluegreen.errors import StateError
from bluegreen.model import Balancer, Group, Site
from bluegreen.model.settings import Settings
from bluegreen.observe.checks import Assessment, refuse_if
from bluegreen.plan.executor import Plan
from bluegreen.plan.steps import AttachGroup, DetachGroup, SetForward, Step, WaitHealthy
from bluegreen.plan.strategies.base import (
    CleanIntent,
    DeployIntent,
    deploy_new_group,
    gate,
    groups_behind_one,
    mark_out_of_traffic,
    require_no_drift,
    require_serving,
    require_site,
)
from bluegreen.plan.strategies.dns import DnsStrategy, _require_rollback


def _label(g: Group | None) -> str:
    return (g.version or g.ami or g.name) if g else "empty"


class LbStrategy:
    name = "lb"

    # -- deploy and clean: as dns, once no switch is half done ----------------
    def deploy(self, site: Site, a: Assessment, s: Settings, intent: DeployIntent) -> Plan:
        _refuse_if_interrupted(site, a, "deploy")
        return deploy_new_group(site, a, s, intent)

    def clean(self, site: Site, a: Assessment, s: Settings, intent: CleanIntent) -> Plan:
        _refuse_if_interrupted(site, a, "clean")
        return DnsStrategy().clean(site, a, s, intent)

    # -- switch -------------------------------------------------------------------
    def switch(self, site: Site, a: Assessment, s: Settings, *, rollback: bool = False) -> Plan:
        if site.layout == "shared":
            return _switch_listeners(site, a, s, rollback)
        return _switch_groups(site, a, s, rollback)


# -- groups between two balancers (classic) ------------------------------------------
def _interrupted_group(site: Site, live: Balancer, staging: Balancer) -> Group | None:
    both = [g for g in site.groups_behind(live) if g.attached_to(staging)]
    if len(both) > 1:
        raise StateError(
            f"{len(both)} autoscaling groups are attached to both {live.name} and {staging.name}",
            found=", ".join(g.name for g in both),
            fix="detach all but one from the live load balancer by hand, then switch again",
        )
    return both[0] if both else None


def _refuse_if_interrupted(site: Site, a: Assessment, command: str) -> None:
    if site.layout == "shared":
        unfinished = [p for p in a.problems if "interrupted switch" in p]
        if unfinished:
            raise StateError(
                f"{command}: a switch of the shared load balancer was interrupted",
                found="; ".join(unfinished),
                fix="run `bluegreen switch` to finish it first",
            )
        return
    if a.live is None or a.staging is None:
        return
    g = _interrupted_group(site, a.live, a.staging)
    if g is not None:
        raise StateError(
            f"{command}: a switch was interrupted: {g.name} is attached to both {a.live.name} "
            f"and {a.staging.name}",
            fix="run `bluegreen switch` to finish it first",
        )


def _moves(
    s: Settings, live: Balancer, staging: Balancer, new: Group, old: Group | None
) -> list[Step]:
    steps: list[Step] = [
        AttachGroup(new.name, live.name, live.kind, live.target_group_arn),
        WaitHealthy(
            new.name,
            live.name,
            live.kind,
            live.target_group_arn,
            max(new.desired, len(new.instances), 1),
            s.timeout,
        ),
    ]
    if old is not None:
        steps += [
            DetachGroup(old.name, live.name, live.kind, live.target_group_arn, guard=True),
            *mark_out_of_traffic(old),  # clean's drain wait starts here
            AttachGroup(old.name, staging.name, staging.kind, staging.target_group_arn),
        ]
    steps.append(DetachGroup(new.name, staging.name, staging.kind, staging.target_group_arn))
    return steps


def _switch_groups(site: Site, a: Assessment, s: Settings, rollback: bool) -> Plan:
    command = "rollback" if rollback else "switch"
    # between steps 3 and 4 the old group is behind no balancer: not drift here
    live, staging = require_site(site, a, command, allow_orphans=True)
    new = _interrupted_group(site, live, staging)
    if new is None:
        require_no_drift(site, a, command)
    notes: tuple[str, ...] = ()
    if new is not None:
        others = [g for g in site.groups if g.name != new.name]
        # the old group is behind live, behind staging, or (between steps 3 and 4) nowhere
        if len(others) > 1:
            others = [g for g in others if g.attached_to(live) or g.attached_to(staging)] or others
        if len(others) > 1:
            raise StateError(
                f"{command}: a switch to {new.name} was interrupted, and the site has "
                f"{len(others)} other groups",
                found=", ".join(g.name for g in others),
                fix="keep one group besides the new one (delete the others by hand), then "
                "switch again",
            )
        old = others[0] if others else None
        notes = (f"finishing an interrupted switch: {new.name} is attached to both load balancers",)
    else:
        new = groups_behind_one(site, staging, command)
        old = groups_behind_one(site, live, command)
        if rollback:
            _require_rollback(staging, new, old)
        new = require_serving(staging, new, command)
    steps = [
        *gate(site, s, staging, new, "staging", after_switch=False),
        *_moves(s, live, staging, new, old),
        *gate(site, s, live, new, "live", after_switch=True),
    ]
    undo = _moves(s, live, staging, old, new) if old is not None else []
    return Plan(
        command,
        tuple(steps),
        summary=f"put {_label(new)} ({new.name}) behind live {live.name}"
        + (f", then move {_label(old)} to staging {staging.name}" if old else ""),
        on_failure=tuple(undo),
        notes=notes,
        facts={
            "live": live.name,
            "staging": staging.name,
            "version": new.version,
            "previous_version": old.version if old else None,
            "resumed": bool(notes),
        },
    )


# -- one ALB, two target groups -------------------------------------------------------
def _switch_listeners(site: Site, a: Assessment, s: Settings, rollback: bool) -> Plan:
    command = "rollback" if rollback else "switch"
    n = site.names
    alb = site.shared
    refuse_if(
        [p for p in a.problems if "does not exist" in p or "without an alias" in p],
        f"{command}: the site {n.domain} is not set up",
        "run `bluegreen init --strategy lb --load-balancer alb` to create what is missing",
    )
    refuse_if(
        [p for p in a.problems if "not a load balancer of the site" in p or "no staging rule" in p],
        f"{command}: the shared load balancer is not in the shape bluegreen expects",
        "run `bluegreen init` (it adds missing rules) and point the records at the load "
        "balancer; `bluegreen status` lists the problems",
    )
    assert alb is not None and site.routes
    by_arn = {b.target_group_arn: b for b in site.balancers if b.target_group_arn}
    defaults = frozenset().union(*(r.live_arns() for r in site.routes))
    rules = frozenset().union(*(r.staging_arns() for r in site.routes))
    notes: tuple[str, ...] = ()
    if any(len(r.live_arns()) > 1 for r in site.routes):
        raise StateError(
            f"{command}: a weighted shift is in progress on {alb.name}",
            fix="finish or undo it with the weighted strategy first",
        )
    if defaults & rules:
        # interrupted: the move towards X had begun (some default, or some rule, moved)
        pick = rules if len(rules) == 1 else defaults
        if len(pick) != 1 or next(iter(pick)) not in by_arn:
            raise StateError(
                f"{command}: cannot tell where the listeners of {alb.name} should forward",
                found="; ".join(a.problems),
                fix="point every listener's default action at one target group and the "
                "staging rules at the other, then run the command again",
            )
        target = by_arn[next(iter(pick))]
        other = next(b for b in site.balancers if b.name != target.name)
        notes = (f"finishing an interrupted switch towards {target.name}",)
        new_group = groups_behind_one(site, target, command)
        old_group = groups_behind_one(site, other, command)
        require_serving(target, new_group, command)
    else:
        if a.live is None or a.staging is None:
            raise StateError(
                f"{command}: cannot tell which target group is live",
                found="; ".join(a.problems) or "no listener",
                fix="run `bluegreen status`, then `bluegreen init`",
            )
        target, other = a.staging, a.live
        new_group = groups_behind_one(site, target, command)
        old_group = groups_behind_one(site, other, command)
        if rollback:
            _require_rollback(target, new_group, old_group)
        require_serving(target, new_group, command)
    assert new_group is not None
    moves = _forwards(site, target, other)
    live_moves = len(site.routes)  # the listeners' default actions come first
    steps = [
        *(() if notes else gate(site, s, target, new_group, "staging", after_switch=False)),
        *moves[:live_moves],
        *mark_out_of_traffic(old_group),  # clean's drain wait starts here
        *moves[live_moves:],
        *(() if notes else gate(site, s, target, new_group, "live", after_switch=True)),
    ]
    return Plan(
        command,
        tuple(steps),
        summary=f"forward the live names of {alb.name} to {target.name} "
        f"({_label(new_group)}) and the staging names to {other.name} ({_label(old_group)})",
        on_failure=(
            *(back := _forwards(site, other, target))[:live_moves],
            *mark_out_of_traffic(new_group),
            *back[live_moves:],
        ),
        notes=notes,
        facts={
            "live": target.name,
            "staging": other.name,
            "load_balancer": alb.name,
            "version": new_group.version,
            "previous_version": old_group.version if old_group else None,
            "resumed": bool(notes),
        },
    )


def _forwards(site: Site, live: Balancer, staging: Balancer) -> list[Step]:
    """Every listener's default action to ``live``, then every staging rule to
    ``staging``: the live names move first, each listener atomically."""
    assert site.shared and live.target_group_arn and staging.target_group_arn
    alb = site.shared.name
    steps: list[Step] = [
        SetForward(
            r.listener_arn,
            ((live.target_group_arn, 1),),
            f"{alb}:{r.port} (live names) -> {live.name}",
            guard=True,
        )
        for r in site.routes
    ]
    steps += [
        SetForward(
            r.rule_arn,
            ((staging.target_group_arn, 1),),
            f"{alb}:{r.port} (staging names) -> {staging.name}",
            rule=True,
        )
        for r in site.routes
        if r.rule_arn
    ]
    return steps
