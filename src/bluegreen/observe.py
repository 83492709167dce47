"""Read the world: one ``Site`` snapshot from as few AWS calls as possible.

Calls (classic load balancers, two host names): one zone lookup, one record
read per zone (a page starting at the site's names, never a zone scan: see
``Route53Calls.records_for``), one describe of both load balancers, one health
read per load balancer, and one tag-filtered read of the site's autoscaling
groups. Independent reads run concurrently.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bluegreen.aws import Gateway
from bluegreen.aws.elb import CLASSIC_ELB_ZONE_IDS
from bluegreen.errors import StateError
from bluegreen.model import HEALTHY, Alias, Balancer, Group, Instance, Site, Zone
from bluegreen.naming import TAG_AMI, TAG_DOMAIN, TAG_VERSION, Names, bare

_CLASSIC_HEALTH = {"InService": HEALTHY, "OutOfService": "unhealthy", "Unknown": "unknown"}


def observe(gw: Gateway, names: Names, load_balancer_kind: str = "classic") -> Site:
    with ThreadPoolExecutor(max_workers=3) as pool:
        f_records = pool.submit(_zones_and_records, gw, names)
        f_balancers = pool.submit(_balancers, gw, names, load_balancer_kind)
        f_groups = pool.submit(_groups, gw, names)
        public_zone, private_zone, public, private = f_records.result()
        balancers, groups = f_balancers.result(), f_groups.result()
    return Site(
        names=names,
        public_zone=public_zone,
        private_zone=private_zone,
        public=public,
        private=private,
        balancers=balancers,
        groups=groups,
        observed_at=gw.clock.now(),
    )


def _zones_and_records(
    gw: Gateway, names: Names
) -> tuple[Zone | None, Zone | None, tuple[Alias, ...], tuple[Alias, ...]]:
    zones = gw.find_zones(names.zone_name)
    public = [z for z in zones if not z.get("Config", {}).get("PrivateZone")]
    private = [z for z in zones if z.get("Config", {}).get("PrivateZone")]
    if len(public) > 1 or len(private) > 1:
        raise StateError(
            f"there are {len(public)} public and {len(private)} private hosted zones "
            f"named {names.zone_name}",
            found=", ".join(z["Id"] for z in zones),
            fix="keep one public and one private zone for the domain and delete the others "
            "(after moving any records you need)",
        )
    pz = _zone(public[0]) if public else None
    sz = _zone(private[0]) if private else None
    lookups: list[tuple[str, tuple[str, ...]]] = []
    if pz:
        lookups.append((pz.id, names.live_fqdns))
    if sz:
        lookups.append((sz.id, names.staging_fqdns))
    results = gw.parallel(*[(lambda z=z, fs=fs: gw.records_for(z, fs)) for z, fs in lookups])
    pub: list[Alias] = []
    priv: list[Alias] = []
    for (zone_id, _), per_name in zip(lookups, results):
        target = pub if pz and zone_id == pz.id else priv
        for records in per_name:
            target.extend(_alias(r) for r in records)
    return pz, sz, tuple(pub), tuple(priv)


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
    )


def _balancers(gw: Gateway, names: Names, kind: str) -> tuple[Balancer, ...]:
    if kind == "alb":
        return _albs(gw, names)
    found = gw.classic_load_balancers(names.load_balancers)
    healths = gw.parallel(
        *[(lambda n=lb["LoadBalancerName"]: gw.classic_health(n)) for lb in found]
    )
    out = []
    for lb, health in zip(found, healths):
        zone = lb.get("CanonicalHostedZoneNameID") or CLASSIC_ELB_ZONE_IDS.get(gw.region, "")
        out.append(
            Balancer(
                name=lb["LoadBalancerName"],
                kind="classic",
                dns_name=lb["DNSName"],
                zone_id=zone,
                health={i: _CLASSIC_HEALTH.get(s, s) for i, s in health.items()},
                vpc_id=lb.get("VPCId", ""),
                subnets=tuple(lb.get("Subnets", [])),
                security_groups=tuple(lb.get("SecurityGroups", [])),
            )
        )
    return tuple(sorted(out, key=lambda b: b.name))


def _albs(gw: Gateway, names: Names) -> tuple[Balancer, ...]:
    albs, tgs = gw.parallel(
        lambda: gw.albs(names.load_balancers),
        lambda: gw.target_groups([names.target_group(1), names.target_group(2)]),
    )
    tg_by_name = {tg["TargetGroupName"]: tg for tg in tgs}
    healths = gw.parallel(*[(lambda a=tg["TargetGroupArn"]: gw.target_health(a)) for tg in tgs])
    health_by_arn = {tg["TargetGroupArn"]: h for tg, h in zip(tgs, healths)}
    out = []
    for lb in albs:
        n = 1 if lb["LoadBalancerName"] == names.load_balancer(1) else 2
        tg = tg_by_name.get(names.target_group(n))
        arn = tg["TargetGroupArn"] if tg else None
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
    return tuple(sorted(out, key=lambda b: b.name))


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
