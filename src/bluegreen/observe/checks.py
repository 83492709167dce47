"""Invariants on a ``Site``: which environment is live, which is staging, and
everything that is not in the shape bluegreen expects.

``assess`` is pure. ``status`` prints its problems; every changing command
refuses when a problem it cares about is present (see ``require_*``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from bluegreen.errors import StateError
from bluegreen.model import Alias, Balancer, Group, Site
from bluegreen.model.naming import TAG_PINNED_MIN

# Target states of instances on their way out of a target group (ALB).
LEAVING = frozenset({"draining", "unused"})


@dataclass(frozen=True)
class Assessment:
    live: Balancer | None
    staging: Balancer | None
    live_group: Group | None
    staging_group: Group | None
    problems: tuple[str, ...]
    weights: Mapping[str, int] = field(default_factory=dict)  # balancer name -> weight

    @property
    def shifting(self) -> bool:
        """True while weighted records send traffic to both environments."""
        return sum(1 for w in self.weights.values() if w > 0) > 1


def _targets(site: Site, records: tuple[Alias, ...], fqdns: tuple[str, ...]) -> dict[str, set[str]]:
    """fqdn -> names of balancers (or raw targets) its records point at (weight > 0)."""
    out: dict[str, set[str]] = {f: set() for f in fqdns}
    for r in records:
        if r.fqdn not in out or (r.weight is not None and r.weight == 0):
            continue
        b = site.balancer_for_target(r.target) if r.target else None
        out[r.fqdn].add(b.name if b else (r.target or "<not an alias>"))
    return out


def _single(targets: dict[str, set[str]]) -> str | None:
    all_targets = set().union(*targets.values()) if targets else set()
    if len(all_targets) == 1 and all(len(t) == 1 for t in targets.values()):
        return next(iter(all_targets))
    return None


def _missing_zones(site: Site) -> list[str]:
    zone = site.names.zone_name
    return [
        f"the {label} hosted zone {zone} does not exist"
        for label, found in (("public", site.public_zone), ("private", site.private_zone))
        if found is None
    ]


def assess(site: Site) -> Assessment:
    if site.layout == "shared":
        return _with_groups(site, *_shared_roles(site))
    n = site.names
    problems = _missing_zones(site)
    for lb in n.load_balancers:
        if site.balancer(lb) is None:
            problems.append(f"load balancer {lb} does not exist")

    live_t = _targets(site, site.public, n.live_fqdns)
    stage_t = _targets(site, site.private, n.staging_fqdns)
    weights: dict[str, int] = {}
    for r in site.public:
        if r.weight is not None:
            b = site.balancer_for_target(r.target)
            if b and r.fqdn == n.live_fqdns[0]:
                weights[b.name] = weights.get(b.name, 0) + r.weight

    live_name = _single(live_t)
    if weights and sum(1 for w in weights.values() if w > 0) > 1:
        # Weighted shift in progress: "live" is the environment the shift started from.
        live_name = next((k for k in sorted(weights) if k != _single(stage_t)), None)
    stage_name = _single(stage_t)

    if site.public_zone is not None:
        missing = [f for f, t in live_t.items() if not t]
        if missing:
            problems.append(f"live names without an alias record: {', '.join(missing)}")
        elif live_name is None and not weights:
            split = "; ".join(f"{f} -> {', '.join(sorted(t))}" for f, t in live_t.items())
            problems.append(f"live names are split between load balancers: {split}")
    if site.private_zone is not None:
        missing = [f for f, t in stage_t.items() if not t]
        if missing:
            problems.append(f"staging names without an alias record: {', '.join(missing)}")
        elif stage_name is None:
            split = "; ".join(f"{f} -> {', '.join(sorted(t))}" for f, t in stage_t.items())
            problems.append(f"staging names are split between load balancers: {split}")

    live = site.balancer(live_name) if live_name else None
    staging = site.balancer(stage_name) if stage_name else None
    problems += _private_live_problems(site, live_t, stage_name)
    for label, name, b in (("live", live_name, live), ("staging", stage_name, staging)):
        if name and b is None:
            problems.append(
                f"{label} names point at {name}, which is not a load balancer of the site"
            )
    if live and staging and live.name == staging.name and not weights:
        problems.append(
            f"staging names point at the live load balancer {live.name} "
            "(an interrupted switch, or a manual change)"
        )
        staging = None
    return _with_groups(site, live, staging, problems, weights)


def _private_live_problems(
    site: Site, live_t: dict[str, set[str]], stage_name: str | None
) -> list[str]:
    """The private zone's live names must point where the public zone's do
    (split-horizon DNS). A name the private zone lacks is no problem here
    (``init`` adds it, and a switch creates it); one that points elsewhere is
    a split, as between two public names. One pattern is no split: a switch
    stopped between its public and its private change batch (the public names
    moved to the balancer the staging names still point at, the private live
    names still at the other one); "staging names point at the live load
    balancer" reports it, and ``switch`` finishes it."""
    if not site.public_observed or not site.private_live:
        return []
    n = site.names
    private_t = _targets(site, site.private_live, n.live_fqdns)
    # A weighted step moves the public zone, then the private one: between
    # the two, one zone's targets include the other's. That is no split.
    differ = {
        f: t
        for f, t in private_t.items()
        if t
        and t != live_t.get(f)
        and not (len(t | live_t.get(f, set())) > 1 and (t <= live_t[f] or live_t[f] <= t))
    }
    if not differ:
        return []
    public = {t for f in differ for t in live_t.get(f, set())}
    if public == {stage_name} and len({x for t in differ.values() for x in t}) == 1:
        return []  # an interrupted switch, reported by the staging names' problem
    split = "; ".join(
        f"{f} -> {', '.join(sorted(live_t.get(f, set())) or ['nothing'])} (public), "
        f"{', '.join(sorted(t))} (private)"
        for f, t in sorted(differ.items())
    )
    return [f"live names are split between the public and the private zone: {split}"]


def _with_groups(
    site: Site,
    live: Balancer | None,
    staging: Balancer | None,
    problems: list[str],
    weights: dict[str, int],
) -> Assessment:
    """Complete an assessment with the problems of the groups behind the balancers."""
    groups_of: dict[str, tuple[Group, ...]] = {
        b.name: site.groups_behind(b) for b in site.balancers
    }
    for b in site.balancers:
        gs = groups_of[b.name]
        if len(gs) > 1:
            problems.append(
                f"{len(gs)} autoscaling groups are behind {b.name}: {', '.join(g.name for g in gs)}"
            )
    attached = {g.name for gs in groups_of.values() for g in gs}
    for g in site.groups:
        if g.name not in attached:
            problems.append(f"autoscaling group {g.name} is behind no load balancer of the site")
    members = {i.id for g in site.groups for i in g.instances}
    for b in site.balancers:
        registered = {i for i, st in b.health.items() if st not in LEAVING}
        strays = sorted(registered - members)
        if strays:
            problems.append(
                f"{b.name} has instances that belong to no autoscaling group of the site: "
                f"{', '.join(strays)}"
            )

    for g in site.groups:
        pinned = g.tags.get(TAG_PINNED_MIN)
        if pinned:  # an empty value means "not pinned" (see steps.RestoreMinSize)
            problems.append(
                f"the min size of {g.name} is pinned at {g.min_size} by a deploy that is running "
                f"or was interrupted (its own min is {pinned}): the next changing command "
                "restores it"
            )

    def only(b: Balancer | None) -> Group | None:
        gs = groups_of.get(b.name, ()) if b else ()
        return gs[0] if len(gs) == 1 else None

    return Assessment(
        live=live,
        staging=staging,
        live_group=only(live),
        staging_group=only(staging),
        problems=tuple(problems),
        weights=weights,
    )


def _shared_roles(
    site: Site,
) -> tuple[Balancer | None, Balancer | None, list[str], dict[str, int]]:
    """Live and staging target groups of the shared application load balancer
    (``lb`` strategy on ALB): the listeners' default action says what is live,
    their staging rule what is staging. Every live and staging name must be an
    alias of that one load balancer."""
    n = site.names
    problems = _missing_zones(site)
    alb = site.shared
    if alb is None:
        problems.append(f"load balancer {n.load_balancer(1)} does not exist")
    for i in (1, 2):
        if site.balancer(n.target_group(i)) is None:
            problems.append(f"load balancer {n.target_group(i)} does not exist (target group)")
    for label, zone, records, fqdns in (
        ("live", site.public_zone, site.public, n.live_fqdns),
        ("staging", site.private_zone, site.private, n.staging_fqdns),
        ("live (private zone)", site.private_zone, site.private_live, ()),
    ):
        if zone is None:
            continue
        have = {r.fqdn for r in records}
        missing = [f for f in fqdns if f not in have]
        if missing:
            problems.append(f"{label} names without an alias record: {', '.join(missing)}")
        if alb is not None:
            wrong = sorted({r.target for r in records if r.target != alb.target})
            if wrong:
                problems.append(
                    f"{label} names point at {', '.join(wrong)}, which is not a load balancer "
                    f"of the site (expected {alb.name})"
                )
    if alb is None or site.balancer(n.target_group(1)) is None:
        return None, None, problems, {}
    by_arn = {b.target_group_arn: b for b in site.balancers if b.target_group_arn}
    if not site.routes:
        problems.append(f"the listener of load balancer {alb.name} does not exist")
        return None, None, problems, {}
    unruled = [str(r.port) for r in site.routes if r.rule_arn is None]
    if unruled:
        problems.append(
            f"listener(s) {', '.join(unruled)} of {alb.name} have no staging rule: run "
            "`bluegreen init` to add it"
        )
    forwards = {r.live for r in site.routes}
    stagings = {r.staging for r in site.routes if r.rule_arn is not None}
    if len(forwards) > 1 or len(stagings) > 1:
        problems.append(
            f"the listeners of {alb.name} are split between target groups (an interrupted "
            "switch: run `bluegreen switch` to finish it)"
        )
        return None, None, problems, {}
    live_t = next(iter(forwards))
    live_arns = [a for a, w in live_t if w > 0]
    stage_arns = [a for a, w in next(iter(stagings), ()) if w > 0]
    weights: dict[str, int] = {}
    if len(live_t) > 1:
        weights = {by_arn[a].name: w for a, w in live_t if a in by_arn}
    stage = by_arn.get(stage_arns[0]) if len(stage_arns) == 1 else None
    live = None
    if len(live_arns) == 1:
        live = by_arn.get(live_arns[0])
    elif len(live_arns) > 1 and stage is not None:
        # weighted forward in progress: live is where the shift started from
        live = next(
            (by_arn[a] for a in live_arns if a in by_arn and a != stage.target_group_arn), None
        )
    for a in {*live_arns, *stage_arns} - set(by_arn):
        problems.append(f"{alb.name} forwards to {a}, which is not a target group of the site")
    if live is not None and stage is not None and live.name == stage.name:
        problems.append(
            f"the staging rule of {alb.name} forwards to the live target group {live.name} "
            "(an interrupted switch, or a manual change)"
        )
        stage = None
    return live, stage, problems, weights


def healthy_count(b: Balancer | None, g: Group | None) -> int:
    if b is None or g is None:
        return 0
    return len({i.id for i in g.instances} & b.healthy_ids())


def unhealthy(b: Balancer, g: Group) -> list[str]:
    """Instances of ``g`` that are not healthy in ``b`` (or not InService in the group)."""
    ok = b.healthy_ids()
    return sorted(i.id for i in g.instances if i.id not in ok or i.lifecycle != "InService")


def refuse_if(problems: tuple[str, ...] | list[str], what: str, fix: str) -> None:
    if problems:
        raise StateError(what, found="; ".join(problems), fix=fix)
