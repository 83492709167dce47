"""``dns``: the seed's alias record updating (the default strategy).

Two load balancers, each with one release. The public zone's live names point
at one of them, the private zone's staging names at the other, and the private
zone's live names (split-horizon DNS: inside the VPC only the private zone
answers for the domain) where the public ones point. Switching moves all
public live names in one atomic change batch, then the private zone's live and
staging names together in another. Each batch is conditional: it deletes the
records exactly as observed (``SetAliases.expect``), so a concurrent writer
makes it fail instead of being overwritten.

Crash safety: the public zone changes first. If the process dies between the
two batches, the public live names and the staging names point at the new
live balancer; ``switch`` (or ``rollback``) run again sees that and only moves
the private zone's names, so the live names never flip back and forth.
"""

from __future__ import annotations

from bluegreen.errors import StateError
from bluegreen.model import Alias, Balancer, Site
from bluegreen.model.naming import bare
from bluegreen.model.settings import Settings
from bluegreen.observe.checks import Assessment
from bluegreen.plan.access import open_before_traffic
from bluegreen.plan.executor import Plan
from bluegreen.plan.steps import AliasTarget, SetAliases, Step
from bluegreen.plan.strategies.base import (
    CleanIntent,
    DeployIntent,
    alias_to,
    delete_release,
    deploy_new_group,
    drain_wait,
    gate,
    groups_behind_one,
    mark_out_of_traffic,
    orphan_groups,
    require_serving,
    require_site,
    restore_capacity,
)


class DnsStrategy:
    name = "dns"

    def deploy(self, site: Site, a: Assessment, s: Settings, intent: DeployIntent) -> Plan:
        return deploy_new_group(site, a, s, intent)

    def switch(self, site: Site, a: Assessment, s: Settings, *, rollback: bool = False) -> Plan:
        command = "rollback" if rollback else "switch"
        resumed = _interrupted_switch(site, a)
        if resumed is not None:
            live, staging = resumed
            left = tuple(st for g in site.groups_behind(staging) for st in mark_out_of_traffic(g))
            return Plan(
                command,
                (
                    *open_before_traffic(site, live),
                    *left,
                    point_private(site, s, live, staging, command),
                ),
                summary=f"finish an interrupted switch: staging names to {staging.name}",
                notes=(
                    f"the live names already point at {live.name}; only the private zone's "
                    "names are left to move",
                ),
                facts={"live": live.name, "staging": staging.name, "resumed": True},
            )
        live, staging = require_site(site, a, command)
        new_live = groups_behind_one(site, staging, command)
        old_live = groups_behind_one(site, live, command)
        if rollback:
            _require_rollback(staging, new_live, old_live)
        group = require_serving(staging, new_live, command)
        forward = (
            point_public(site, s, staging, command),
            point_private(site, s, staging, live, command),
        )
        steps: tuple[Step, ...] = (
            *restore_capacity(s, staging, group, old_live),
            *gate(site, s, staging, group, "staging", after_switch=False),
            # staging_cidrs: everyone may reach it before the live names move there
            *open_before_traffic(site, staging),
            forward[0],
            *mark_out_of_traffic(old_live),
            forward[1],
            *gate(site, s, staging, group, "live", after_switch=True),
        )
        return Plan(
            command,
            steps,
            summary=f"make {staging.name} ({group.version or group.ami}) live and "
            f"{live.name} ({(old_live.version or old_live.ami) if old_live else 'empty'}) staging",
            on_failure=(
                *open_before_traffic(site, live),
                point_public(site, s, live, command + " undo", after=forward[0]),
                *mark_out_of_traffic(group),
                point_private(site, s, live, staging, command + " undo", after=forward[1]),
            ),
            facts={
                "live": staging.name,
                "staging": live.name,
                "version": group.version,
                "previous_version": old_live.version if old_live else None,
            },
        )

    def clean(self, site: Site, a: Assessment, s: Settings, intent: CleanIntent) -> Plan:
        live, staging = require_site(site, a, "clean", allow_orphans=intent.force)
        # The staging release is the way back: keep it while the live side is in doubt.
        groups_behind_one(site, live, "clean")
        orphans = orphan_groups(site) if intent.force else ()
        staged = site.groups_behind(staging)
        if len(staged) > 1 and not intent.force:
            groups_behind_one(site, staging, "clean")  # refuses, naming them
        for g in staged:
            if g.attached_to(live):
                raise StateError(
                    f"clean: {g.name} is also behind the live load balancer {live.name}",
                    fix="refusing to remove capacity that serves live traffic",
                )
        if not staged and not orphans:
            return Plan(
                "clean", (), summary=f"staging {staging.name} holds no release: nothing to clean"
            )
        steps: list[Step] = []
        notes: list[str] = []
        for g in orphans:
            notes.append(f"--force: deleting {g.name}, which is behind no load balancer")
            steps += delete_release(g, intent.in_use_elsewhere)
        if len(staged) > 1:
            notes.append(
                f"--force: deleting all {len(staged)} groups behind staging {staging.name}: "
                "staging takes no live traffic"
            )
        for g in staged:
            wait, why = drain_wait(g, intent)
            steps = [*wait, *steps, *delete_release(g, intent.in_use_elsewhere)]
            notes += why
        what = ", ".join(f"{g.version or g.ami} ({g.name})" for g in staged)
        gone = ", ".join(g.name for g in orphans)
        summary = " and ".join(
            x
            for x in (
                f"delete release {what} from staging {staging.name}" if staged else "",
                f"delete {gone} (behind no load balancer)" if orphans else "",
            )
            if x
        )
        group = staged[0] if len(staged) == 1 else None
        return Plan(
            "clean",
            tuple(steps),
            summary=summary,
            notes=tuple(notes),
            facts={
                "release": group.name if group else None,
                "version": group.version if group else None,
                "deleted": [g.name for g in (*staged, *orphans)],
            },
        )


def records(step: SetAliases) -> tuple[Alias, ...]:
    """The records ``step`` leaves: what the next step of the same zone expects."""
    out = []
    for names, targets in ((step.fqdns, step.targets), *step.more):
        for f in names:
            for t in targets:
                out.append(
                    Alias(
                        fqdn=f.lower(),
                        target=bare(t.dns_name),
                        target_zone_id=t.zone_id,
                        weight=t.weight,
                        set_id=t.set_id,
                        evaluate_health=True,
                        dns_name=t.dns_name,
                    )
                )
    return tuple(out)


def point_public(
    site: Site,
    s: Settings,
    b: Balancer | tuple[AliasTarget, ...],
    why: str,
    *,
    label: str | None = None,
    after: SetAliases | None = None,
    expect: tuple[Alias, ...] | None = None,
) -> SetAliases:
    """The public zone's live names to ``b`` (a balancer, or weighted targets),
    expecting the records as observed, or as step ``after`` leaves them."""
    assert site.public_zone
    targets = (alias_to(b),) if isinstance(b, Balancer) else b
    if expect is None:
        expect = records(after) if after is not None else site.public
    return SetAliases(
        site.public_zone.id,
        "public",
        site.names.live_fqdns,
        targets,
        label or (b.name if isinstance(b, Balancer) else "weighted"),
        s.dns_timeout,
        f"bluegreen {why}: live -> {label or (b.name if isinstance(b, Balancer) else 'weighted')}",
        expect=expect,
    )


def point_private(
    site: Site,
    s: Settings,
    live: Balancer | tuple[AliasTarget, ...],
    staging: Balancer | None,
    why: str,
    *,
    label: str | None = None,
    after: SetAliases | None = None,
    expect: tuple[Alias, ...] | None = None,
) -> SetAliases:
    """The private zone in one batch: its live names to ``live`` (as the public
    zone's) and, unless ``staging`` is None, its staging names to ``staging``."""
    assert site.private_zone
    live_targets = (alias_to(live),) if isinstance(live, Balancer) else live
    live_label = label or (live.name if isinstance(live, Balancer) else "weighted")
    if expect is None:
        if after is not None:
            expect = records(after)
        else:
            expect = site.private_live + (site.private if staging is not None else ())
    more = ((site.names.staging_fqdns, (alias_to(staging),)),) if staging is not None else ()
    return SetAliases(
        site.private_zone.id,
        "private",
        site.names.live_fqdns,
        live_targets,
        f"{live_label}" + (f", staging names at {staging.name}" if staging else ""),
        s.dns_timeout,
        f"bluegreen {why}: live -> {live_label}"
        + (f", staging -> {staging.name}" if staging else ""),
        more=more,
        expect=expect,
    )


def _interrupted_switch(site: Site, a: Assessment) -> tuple[Balancer, Balancer] | None:
    """(live, new staging) when the live and staging names point at the same
    balancer and the other balancer exists: a switch stopped between batches."""
    if a.live is None or a.staging is not None or len(site.balancers) != 2:
        return None
    other = site.other(a.live)
    staged = {r.target for r in site.private}
    if other is None or staged != {a.live.target}:
        return None
    return a.live, other


def _require_rollback(staging: Balancer, previous: object, current: object) -> None:
    from bluegreen.model import Group

    if not isinstance(previous, Group):
        raise StateError(
            f"rollback: there is nothing to roll back to: staging ({staging.name}) holds no "
            "release",
            found="the previous release was cleaned (or never existed)",
            fix="deploy the previous version again (`bluegreen deploy --version V`), then switch",
        )
    if isinstance(current, Group) and previous.created > current.created:
        raise StateError(
            f"rollback: staging holds {previous.version or previous.name}, which is newer than the "
            f"live {current.version or current.name} and has never been live",
            fix="use `bluegreen switch` to release it; rollback only returns to the release that "
            "was live before",
        )
