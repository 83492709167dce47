"""Read the world: one ``Site`` snapshot from as few AWS calls as possible.

Calls (classic load balancers, two host names): one zone lookup, one record
read per zone (a page starting at the site's names, never a zone scan: see
``Route53Calls.records_for``), one describe of both load balancers, one health
read per load balancer, and one tag-filtered read of the site's autoscaling
groups. Independent reads run concurrently.

The private zone holds the staging names and, for split-horizon DNS, the live
names too (pointing where the public zone's do). A command that moves traffic
observes with ``moving``: what its decision needs and nothing more, before the
first change. It reads the private zone only (its live names say where the
public ones point; the change batch of the public zone then deletes exactly
those records, so Route 53 refuses it if the public zone says otherwise:
``steps.SetAliases``), and the health only of the balancer the staging names
point at (the other one's registered instances come with its description, for
the drift check). Classic: 5 reads instead of 7.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bluegreen.aws import Gateway
from bluegreen.aws.adopted import forwarded_target_groups
from bluegreen.aws.elb import CLASSIC_ELB_ZONE_IDS, forward_targets
from bluegreen.errors import NotFound, StateError
from bluegreen.model import (
    HEALTHY,
    NOT_READ,
    Access,
    Alias,
    Balancer,
    Group,
    Instance,
    Route,
    Site,
    Zone,
)
from bluegreen.model.adoption import pick_zones
from bluegreen.model.naming import TAG_AMI, TAG_DOMAIN, TAG_VERSION, Names, bare

_CLASSIC_HEALTH = {"InService": HEALTHY, "OutOfService": "unhealthy", "Unknown": "unknown"}


def layout(strategy: str, load_balancer_kind: str) -> str:
    """``shared`` (one ALB, two target groups) for the ``lb`` strategy on ALB;
    ``pair`` (two load balancers) otherwise."""
    return "shared" if strategy == "lb" and load_balancer_kind == "alb" else "pair"


def observe(
    gw: Gateway,
    names: Names,
    load_balancer_kind: str = "classic",
    *,
    shared: bool | None = False,
    moving: bool = False,
) -> Site:
    """With ``shared``, the site is one application load balancer whose two
    target groups are the environments (``lb`` strategy on ALB). With
    ``shared=None`` (the kind not configured) the layout is read from what
    exists: application load balancer 1 without a second one is that layout.
    With ``moving``, only what a traffic move decides on (see the module's text)."""
    pre: tuple[tuple[Balancer, ...], Access | None] | None = None
    with ThreadPoolExecutor(max_workers=3) as pool:
        # the records and the groups are read whatever the layout: while the
        # balancers (which tell the layout when it is not configured) are read
        f_records = pool.submit(_zones_and_records, gw, names, not moving)
        f_groups = pool.submit(_groups, gw, names)
        if shared is None:
            pre = _balancers(gw, names, load_balancer_kind, not moving)
            found = pre[0]
            shared = (
                bool(found)
                and all(b.kind == "alb" for b in found)
                and not any(b.name == names.load_balancer(2) for b in found)
            )
        if shared:
            f_shared = pool.submit(_shared_alb, gw, names)
        elif pre is None:
            f_balancers = pool.submit(_balancers, gw, names, load_balancer_kind, not moving)
        public_zone, private_zone, public, private, private_live, read_public = f_records.result()
        alb: Balancer | None = None
        routes: tuple[Route, ...] = ()
        access: Access | None = None
        if shared:
            balancers, alb, routes = f_shared.result()
        else:
            balancers, access = pre if pre is not None else f_balancers.result()
            if moving:
                balancers = _health_of_staging(gw, balancers, private)
        groups = f_groups.result()
    return Site(
        private_live=private_live,
        public_observed=read_public,
        layout="shared" if shared else "pair",
        shared=alb,
        routes=routes,
        names=names,
        public_zone=public_zone,
        private_zone=private_zone,
        public=public,
        private=private,
        balancers=balancers,
        groups=groups,
        observed_at=gw.clock.now(),
        access=access,
    )


def _zones_and_records(
    gw: Gateway, names: Names, read_public: bool = True
) -> tuple[Zone | None, Zone | None, tuple[Alias, ...], tuple[Alias, ...], tuple[Alias, ...], bool]:
    """(public zone, private zone, public live records, private staging
    records, private live records, whether the public zone was read).
    Without ``read_public`` the public zone is read only when the private zone
    lacks a live name (a site set up before the private zone held them); else
    the public records returned are the private live ones."""
    public, private = site_zones(gw, names)
    pz = _zone(public) if public else None
    sz = _zone(private) if private else None
    live, staging = names.live_fqdns, names.staging_fqdns
    reads: list[Callable[[], list[list[dict[str, Any]]]]] = []
    if pz and (read_public or not sz):
        reads.append(lambda: gw.records_for(pz.id, live))
    if sz:
        reads.append(lambda: gw.records_for(sz.id, (*live, *staging)))
    results = gw.parallel(*reads)
    pub_pages = results.pop(0) if pz and (read_public or not sz) else None
    priv_pages = results.pop(0) if sz else [[] for _ in (*live, *staging)]
    priv_live = tuple(_alias(r) for records in priv_pages[: len(live)] for r in records)
    priv = tuple(_alias(r) for records in priv_pages[len(live) :] for r in records)
    complete = {r.fqdn for r in priv_live} >= {f.lower() for f in live}
    if pub_pages is None and pz and not complete:
        pub_pages = gw.records_for(pz.id, live)
    if pub_pages is None:
        return pz, sz, priv_live if pz else (), priv, priv_live, False
    pub = tuple(_alias(r) for records in pub_pages for r in records)
    return pz, sz, pub, priv, priv_live, True


def site_zones(
    gw: Gateway, names: Names, then: str = ""
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """The site's public and private hosted zone as described (None: there is
    none); refuses when there are several of a kind. ``then``: what to run
    after deleting the extra ones."""
    zones = gw.find_zones(names.zone_name)
    public, private = pick_zones(zones, names.adopted)
    if len(public) > 1 or len(private) > 1:
        raise StateError(
            f"there are {len(public)} public and {len(private)} private hosted zones "
            f"named {names.zone_name}",
            found=", ".join(str(z["Id"]).split("/")[-1] for z in zones),
            fix="keep one public and one private zone for the domain and delete the others "
            f"(after moving any records you need){then}",
        )
    return (public[0] if public else None), (private[0] if private else None)


def _zone(z: dict[str, Any]) -> Zone:
    return Zone(
        id=z["Id"].split("/")[-1],
        name=z["Name"],
        private=bool(z.get("Config", {}).get("PrivateZone")),
    )


def _alias(r: dict[str, Any]) -> Alias:
    at = r.get("AliasTarget")
    return Alias(
        fqdn=r["Name"].lower(),
        target=bare(at["DNSName"]) if at else "",
        target_zone_id=at["HostedZoneId"] if at else "",
        weight=int(r["Weight"]) if "Weight" in r else None,
        set_id=r.get("SetIdentifier"),
        evaluate_health=bool(at and at.get("EvaluateTargetHealth")),
        dns_name=at["DNSName"] if at else "",
    )


def _access_lookup(
    gw: Gateway, names: Names, described: list[dict[str, Any]]
) -> list[Callable[[], Access | None]]:
    """The read of the staging-access groups (``staging_cidrs``), to run with
    the health reads: only when a balancer carries more than one security group
    (a site without staging_cidrs costs no call)."""
    if not any(len(lb.get("SecurityGroups", [])) > 1 for lb in described):
        return []
    vpc = next((lb.get("VPCId") or lb.get("VpcId") for lb in described), None)
    if not vpc:
        return []

    def read() -> Access | None:
        found = {
            g["GroupName"]: g["GroupId"]
            for g in gw.security_groups_named(
                str(vpc), [names.public_web_group, names.staging_web_group]
            )
        }
        if not found:
            return None
        return Access(found.get(names.public_web_group), found.get(names.staging_web_group))

    return [read]


def _balancers(
    gw: Gateway, names: Names, kind: str, health: bool = True
) -> tuple[tuple[Balancer, ...], Access | None]:
    """Without ``health``, classic balancers come with their registered
    instances (``NOT_READ``) only; ``_health_of_staging`` then reads one."""
    if kind == "alb":
        return _albs(gw, names)
    ahead: dict[str, dict[str, str] | None] = {}
    # Not configured ("auto"): the pair is described once; when not both are
    # classic, the site's application load balancers are read, and only if it
    # has none is each classic one described by its name (a site missing one).
    each = kind != "auto"
    if health:
        # DescribeInstanceHealth needs only a balancer's name: both are read
        # while the balancers are described (one step in sequence, not two)
        wanted = tuple(names.load_balancers)
        got: list[Any] = gw.parallel(
            lambda: gw.classic_load_balancers(wanted, each=each),
            *[(lambda n=n: _classic_health_if_any(gw, n)) for n in wanted],
        )
        found: list[dict[str, Any]] = got[0]
        ahead = dict(zip(wanted, got[1:]))
    else:
        found = gw.classic_load_balancers(names.load_balancers, each=each)
    if not each and not found:  # not configured: the site may have ALBs
        albs = _albs(gw, names)
        if albs[0]:
            return albs
        found = gw.classic_load_balancers(names.load_balancers)
    lookup = _access_lookup(gw, names, found)
    # a balancer described but not there a moment before: its health once more
    again = [
        str(lb["LoadBalancerName"])
        for lb in found
        if health and ahead.get(lb["LoadBalancerName"]) is None
    ]
    results: list[Any] = gw.parallel(*[(lambda n=n: gw.classic_health(n)) for n in again], *lookup)
    ahead.update(zip(again, results[: len(again)]))
    access: Access | None = results[-1] if lookup else None
    if health:
        healths = [ahead[lb["LoadBalancerName"]] or {} for lb in found]
    else:
        healths = [{i["InstanceId"]: NOT_READ for i in lb.get("Instances", [])} for lb in found]
    out = []
    for lb, states in zip(found, healths):
        zone = lb.get("CanonicalHostedZoneNameID") or CLASSIC_ELB_ZONE_IDS.get(gw.region, "")
        out.append(
            Balancer(
                name=lb["LoadBalancerName"],
                kind="classic",
                dns_name=lb["DNSName"],
                zone_id=zone,
                health={i: _CLASSIC_HEALTH.get(s, s) for i, s in states.items()},
                vpc_id=lb.get("VPCId", ""),
                subnets=tuple(lb.get("Subnets", [])),
                security_groups=tuple(lb.get("SecurityGroups", [])),
            )
        )
    return tuple(sorted(out, key=lambda b: b.name)), access


def _classic_health_if_any(gw: Gateway, name: str) -> dict[str, str] | None:
    """The balancer's instance health; None when there is no such balancer
    (its description then says so too)."""
    try:
        return gw.classic_health(name)
    except NotFound:
        return None


def _health_of_staging(
    gw: Gateway, balancers: tuple[Balancer, ...], staging: tuple[Alias, ...]
) -> tuple[Balancer, ...]:
    """Read the health of the classic balancers observed without it: of the
    one the staging names point at (the one a switch sends traffic to), or of
    all when that is not one balancer of the site (the command refuses then)."""
    classic = [b for b in balancers if b.kind == "classic"]
    if not classic:  # application load balancers: both target groups were read
        return balancers
    targets = {r.target for r in staging}
    wanted = [b for b in classic if b.target in targets]
    if len(wanted) != 1:
        wanted = classic
    healths = gw.parallel(*[(lambda n=b.name: gw.classic_health(n)) for b in wanted])
    fresh = {
        b.name: {i: _CLASSIC_HEALTH.get(st, st) for i, st in h.items()}
        for b, h in zip(wanted, healths)
    }
    return tuple(
        dataclasses.replace(b, health=fresh[b.name]) if b.name in fresh else b for b in balancers
    )


def _albs(gw: Gateway, names: Names) -> tuple[tuple[Balancer, ...], Access | None]:
    if names.adopted.load_balancers:
        albs, tg_of = adopted_albs(gw, names)
    else:
        albs, tgs = gw.parallel(
            lambda: gw.albs(names.load_balancers),
            lambda: gw.target_groups([names.target_group(1), names.target_group(2)]),
        )
        tg_by_name = {tg["TargetGroupName"]: tg["TargetGroupArn"] for tg in tgs}
        tg_of = {
            lb["LoadBalancerName"]: tg_by_name.get(
                names.target_group(1 if lb["LoadBalancerName"] == names.load_balancer(1) else 2)
            )
            for lb in albs
        }
    arns = sorted({a for a in tg_of.values() if a})
    lookup = _access_lookup(gw, names, albs)
    results: list[Any] = gw.parallel(*[(lambda a=a: gw.target_health(a)) for a in arns], *lookup)
    access: Access | None = results[-1] if lookup else None
    health_by_arn = dict(zip(arns, results[: len(arns)]))
    out = []
    for lb in albs:
        arn = tg_of.get(lb["LoadBalancerName"])
        out.append(
            Balancer(
                name=lb["LoadBalancerName"],
                kind="alb",
                dns_name=lb["DNSName"],
                zone_id=lb.get("CanonicalHostedZoneId", ""),
                arn=lb["LoadBalancerArn"],
                target_group_arn=arn,
                health=dict(health_by_arn.get(arn, {})) if arn else {},
                vpc_id=lb.get("VpcId", ""),
                subnets=tuple(z["SubnetId"] for z in lb.get("AvailabilityZones", [])),
                security_groups=tuple(lb.get("SecurityGroups", [])),
            )
        )
    return tuple(sorted(out, key=lambda b: b.name)), access


def adopted_albs(gw: Gateway, names: Names) -> tuple[list[dict[str, Any]], dict[str, str | None]]:
    """Adopted application load balancers and the target group each one's
    listeners forward to (its environment; None when not exactly one)."""
    albs = gw.albs(names.load_balancers)
    listeners = gw.parallel(*[(lambda a=lb["LoadBalancerArn"]: gw.listeners(a)) for lb in albs])
    tg_of: dict[str, str | None] = {}
    for lb, ls in zip(albs, listeners):
        tgs = forwarded_target_groups(ls)
        tg_of[lb["LoadBalancerName"]] = tgs[0] if len(tgs) == 1 else None
    return albs, tg_of


def _shared_alb(
    gw: Gateway, names: Names
) -> tuple[tuple[Balancer, ...], Balancer | None, tuple[Route, ...]]:
    """The shared ALB, its two target groups (as the two environments) and
    where each listener forwards the live and the staging names."""
    albs, tgs = gw.parallel(
        lambda: gw.albs([names.load_balancer(1)]),
        lambda: gw.target_groups([names.target_group(1), names.target_group(2)]),
    )
    lb = albs[0] if albs else None
    listeners: list[dict[str, Any]] = gw.listeners(lb["LoadBalancerArn"]) if lb else []
    reads: list[Callable[[], Any]] = [
        *[(lambda a=tg["TargetGroupArn"]: gw.target_health(a)) for tg in tgs],
        *[(lambda a=ls["ListenerArn"]: gw.rules(a)) for ls in listeners],
    ]
    found: list[Any] = gw.parallel(*reads)
    healths, rule_lists = found[: len(tgs)], found[len(tgs) :]
    alb = None
    common: dict[str, Any] = {}
    if lb is not None:
        common = {
            "kind": "alb",
            "dns_name": lb["DNSName"],
            "zone_id": lb.get("CanonicalHostedZoneId", ""),
            "arn": lb["LoadBalancerArn"],
            "listener_arns": tuple(ls["ListenerArn"] for ls in listeners),
            "vpc_id": lb.get("VpcId", ""),
            "subnets": tuple(z["SubnetId"] for z in lb.get("AvailabilityZones", [])),
            "security_groups": tuple(lb.get("SecurityGroups", [])),
        }
        alb = Balancer(name=lb["LoadBalancerName"], **common)
    envs = tuple(
        sorted(
            (
                Balancer(
                    name=tg["TargetGroupName"],
                    target_group_arn=tg["TargetGroupArn"],
                    health=dict(h),
                    **(common or {"kind": "alb", "dns_name": "", "zone_id": ""}),
                )
                for tg, h in zip(tgs, healths)
            ),
            key=lambda b: b.name,
        )
    )
    pattern = names.staging_host_pattern
    routes = []
    for ls, rules in zip(listeners, rule_lists):
        if any(a.get("Type") == "redirect" for a in ls.get("DefaultActions", [])):
            continue  # HTTP redirecting to HTTPS: no environment behind it
        rule = next(
            (
                r
                for r in rules
                if not r.get("IsDefault")
                and forward_targets(r.get("Actions", []))  # not the refusal (staging_cidrs)
                and any(
                    pattern in (c.get("HostHeaderConfig", {}).get("Values") or c.get("Values", []))
                    for c in r.get("Conditions", [])
                )
            ),
            None,
        )
        routes.append(
            Route(
                listener_arn=ls["ListenerArn"],
                port=int(ls["Port"]),
                live=forward_targets(ls.get("DefaultActions", [])),
                rule_arn=rule["RuleArn"] if rule else None,
                staging=forward_targets(rule.get("Actions", [])) if rule else (),
                staging_sources=source_ips(rule) if rule else (),
            )
        )
    return envs, alb, tuple(sorted(routes, key=lambda r: r.port))


def source_ips(rule: dict[str, Any]) -> tuple[str, ...]:
    """The CIDR ranges of a listener rule's source-ip condition (none: any source)."""
    return tuple(
        v
        for c in rule.get("Conditions", [])
        if c.get("Field") == "source-ip"
        for v in (c.get("SourceIpConfig") or {}).get("Values", [])
    )


def _groups(gw: Gateway, names: Names) -> tuple[Group, ...]:
    return tuple(
        sorted(
            (group_from_aws(g) for g in gw.groups_tagged(TAG_DOMAIN, names.domain)),
            key=lambda g: (g.created, g.name),
        )
    )


def group_from_aws(g: dict[str, Any]) -> Group:
    tags = {t["Key"]: t["Value"] for t in g.get("Tags", [])}
    lt = g.get("LaunchTemplate") or (
        g.get("MixedInstancesPolicy", {})
        .get("LaunchTemplate", {})
        .get("LaunchTemplateSpecification")
    )
    created = g.get("CreatedTime")
    return Group(
        name=g["AutoScalingGroupName"],
        ami=tags.get(TAG_AMI),
        version=tags.get(TAG_VERSION),
        desired=int(g["DesiredCapacity"]),
        min_size=int(g["MinSize"]),
        max_size=int(g["MaxSize"]),
        launch_template=(lt["LaunchTemplateName"], str(lt.get("Version", "$Default")))
        if lt
        else None,
        launch_configuration=g.get("LaunchConfigurationName"),
        load_balancers=tuple(g.get("LoadBalancerNames", [])),
        target_groups=tuple(g.get("TargetGroupARNs", [])),
        instances=tuple(
            Instance(i["InstanceId"], i["LifecycleState"], i.get("HealthStatus", "Healthy"))
            for i in g.get("Instances", [])
        ),
        tags=tags,
        created=float(created.timestamp()) if created is not None else 0.0,
    )
