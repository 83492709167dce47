"""``init`` on adopted resources (``bluegreen.model.adoption``): check first, then
use them as they are.

``check`` reads every adopted resource before ``init`` changes anything and
refuses (exit 2, nothing changed) when one does not exist, or when the
workflow could only use it by changing its configuration: a load balancer
without the listener or the health check the workflow needs, a security group
that would need rules, subnets or load balancers in another VPC than
``vpc_id``, a zone of another name or kind, a private zone not bound to the
VPC, a site name in an adopted zone already held by a record bluegreen did
not make. What bluegreen may do to adopted resources is limited to the
records and attachments the workflow needs: its alias records in the
adopted zones, its instances behind the adopted load balancers (with the
adopted instance profile and security groups).

``instance_group`` is the one thing made for adopted load balancers: the web
servers' security group (unless ``security_groups`` are adopted too),
admitting the web and health-check ports from the groups the adopted load
balancers carry.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from bluegreen.errors import InputError
from bluegreen.model.naming import bare
from bluegreen.site import ownership
from bluegreen.site.adopted_lbs import Found, Problem, check_balancers, read_balancers
from bluegreen.site.network import Network
from bluegreen.site.outcome import Ctx
from bluegreen.site.security import (
    INSTANCE_PORT,
    Groups,
    describe,
    instance_rules,
    observed,
    permissions,
)


def check(c: Ctx, kind: str, shared: bool) -> Found:
    """Read the adopted resources; refuse (InputError, before any change) with
    every problem found at once."""
    a = c.n.adopted
    out = Found(vpc_id=a.vpc_id, subnets=list(a.subnet_ids))
    if not a.any:
        return out
    problems: list[Problem] = []
    if a.load_balancers and shared:
        problems.append(
            (
                "load_balancers: the lb strategy uses one application load balancer of "
                "bluegreen's with two target groups; adopted load balancers are one per "
                "environment",
                "use the dns, weighted or rolling strategy with adopted load balancers",
            )
        )
    if a.load_balancers and c.s.staging_cidrs:
        problems.append(
            (
                "staging_cidrs: limiting who reaches staging moves security groups between "
                "the load balancers, which would change the adopted ones",
                "limit access in the adopted load balancers' own security groups and leave "
                "staging_cidrs empty",
            )
        )
    gw = c.gw
    vpc, subnets, zones, lbs, profile, sgs = gw.parallel(
        lambda: gw.vpc_by_id(a.vpc_id) if a.vpc_id else None,
        lambda: gw.subnets_by_id(a.subnet_ids),
        lambda: {
            key: gw.zone_by_id(zid)
            for key, zid in (
                ("public_zone_id", a.public_zone_id),
                ("private_zone_id", a.private_zone_id),
            )
            if zid
        },
        lambda: read_balancers(c),
        lambda: gw.instance_profile(a.instance_profile) if a.instance_profile else None,
        lambda: gw.security_groups_by_id(a.security_groups),
    )
    problems += _network(c, vpc, subnets, adopted_lbs=bool(a.load_balancers))
    problems += _instance_profile(c, profile)
    lb_problems, lb_groups, lb_subnets = check_balancers(c, lbs, out)
    problems += lb_problems
    out.lb_groups = lb_groups
    problems += _security_groups(c, sgs, lb_groups, lb_subnets or list(a.subnet_ids))
    problems += _zones(c, zones, lbs)
    if problems:
        raise InputError(
            f"init cannot use the adopted resources of {c.n.domain} as they are "
            f"({len(problems)} problem{'s' if len(problems) > 1 else ''}); nothing was changed",
            found="".join(f"\n    - {p}" for p, _ in problems),
            fix="".join(f"\n    - {f}" for _, f in problems),
        )
    return out


# -- network ------------------------------------------------------------------------------
def _network(
    c: Ctx, vpc: dict[str, Any] | None, subnets: list[dict[str, Any]], *, adopted_lbs: bool
) -> list[Problem]:
    a, region = c.n.adopted, c.gw.region
    if not a.vpc_id:
        return []
    if vpc is None:
        return [
            (
                f"vpc_id: {a.vpc_id} does not exist in {region}",
                f"check the id and the region (`aws ec2 describe-vpcs --vpc-ids {a.vpc_id}`)",
            )
        ]
    out: list[Problem] = []
    off = [k for k, on in c.gw.vpc_dns(a.vpc_id).items() if not on]
    if off:
        # https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/hosted-zone-private-considerations.html
        out.append(
            (
                f"vpc_id: {a.vpc_id} has {' and '.join(off)} off; the private hosted zone "
                "needs DNS support and DNS host names, and bluegreen does not change an "
                "adopted VPC",
                f"turn them on where the VPC is managed (`aws ec2 modify-vpc-attribute --vpc-id "
                f"{a.vpc_id} --enable-dns-hostnames`, and --enable-dns-support)",
            )
        )
    by_id = {s["SubnetId"]: s for s in subnets}
    for sid in a.subnet_ids:
        sn = by_id.get(sid)
        if sn is None:
            out.append((f"subnet_ids: {sid} does not exist in {region}", "check the subnet id"))
        elif sn["VpcId"] != a.vpc_id:
            out.append(
                (
                    f"subnet_ids: {sid} is in {sn['VpcId']}, not in vpc_id {a.vpc_id}",
                    "name subnets of the adopted VPC only",
                )
            )
    zones = {sn["AvailabilityZone"] for sn in subnets}
    if not adopted_lbs and len(by_id) == len(a.subnet_ids) and len(zones) < 2:
        # https://docs.aws.amazon.com/elasticloadbalancing/latest/application/application-load-balancers.html#availability-zones
        out.append(
            (
                f"subnet_ids: the load balancers bluegreen makes need subnets in two "
                f"availability zones; these are all in {', '.join(sorted(zones)) or 'none'}",
                "name a subnet in a second availability zone",
            )
        )
    return out


def network(c: Ctx, found: Found) -> Network:
    """The adopted VPC and subnets, as they are: no internet gateway, route
    table or subnet setting is made or changed."""
    c.rec.ok(f"adopted VPC {found.vpc_id} and subnets {', '.join(found.subnets)}")
    return Network(vpc_id=found.vpc_id, subnets=list(found.subnets))


# -- identity -----------------------------------------------------------------------------
def _instance_profile(c: Ctx, profile: dict[str, Any] | None) -> list[Problem]:
    name = c.n.adopted.instance_profile
    if not name:
        return []
    if profile is None:
        return [
            (
                f"instance_profile: {name} does not exist",
                f"check the name (`aws iam get-instance-profile --instance-profile-name {name}`)",
            )
        ]
    if not profile.get("Roles"):
        return [
            (
                f"instance_profile: {name} holds no role; bluegreen would have to add one",
                f"add the web servers' role to it where it is managed "
                f"(`aws iam add-role-to-instance-profile --instance-profile-name {name} ...`)",
            )
        ]
    c.rec.ok(f"adopted instance profile {name} (role {profile['Roles'][0]['RoleName']})")
    return []


# -- security groups ----------------------------------------------------------------------
def _admits(
    rules: set[tuple[str, int, int, str, str]], port: int, groups: list[str], cidrs: list[str]
) -> bool:
    """Some rule lets TCP ``port`` in from one of ``groups`` or from a range
    holding every one of ``cidrs`` (the load balancers' subnets)."""
    nets = [ipaddress.ip_network(x) for x in cidrs]
    for proto, lo, hi, kind, src in rules:
        if proto not in ("tcp", "6", "-1"):
            continue
        if proto != "-1" and not (lo <= port <= hi):
            continue
        if kind == "sg" and src in groups:
            return True
        if kind == "v4" and nets:
            net = ipaddress.ip_network(src)
            if all(n.version == 4 and n.subnet_of(net) for n in nets):  # type: ignore[arg-type]
                return True
    return False


def _security_groups(
    c: Ctx, sgs: list[dict[str, Any]], lb_groups: list[str], lb_subnets: list[str]
) -> list[Problem]:
    a, s, gw = c.n.adopted, c.s, c.gw
    if not a.security_groups:
        return []
    out: list[Problem] = []
    by_id = {g["GroupId"]: g for g in sgs}
    for gid in a.security_groups:
        g = by_id.get(gid)
        if g is None:
            out.append((f"security_groups: {gid} does not exist in {gw.region}", "check the id"))
        elif g.get("VpcId") != a.vpc_id:
            out.append(
                (
                    f"security_groups: {gid} is in {g.get('VpcId')}, not in vpc_id {a.vpc_id}",
                    "adopt security groups of the adopted VPC only",
                )
            )
    if out:
        return out
    if not a.load_balancers:
        # bluegreen's own load balancers' group, when it exists already
        own = gw.find_security_group(a.vpc_id, c.n.lb_security_group) if a.vpc_id else None
        lb_groups = [str(own["GroupId"])] if own else []
    cidrs = [sn["CidrBlock"] for sn in gw.subnets_by_id(lb_subnets)]
    rules: set[tuple[str, int, int, str, str]] = set()
    for g in sgs:
        rules |= observed(g)
    for port in sorted({INSTANCE_PORT, s.health_check_port}):
        if not _admits(rules, port, lb_groups, cidrs):
            sources = ", ".join(lb_groups + cidrs) or "the load balancers"
            out.append(
                (
                    f"security_groups: none of {', '.join(a.security_groups)} admits tcp/{port} "
                    f"from the load balancers ({sources}); bluegreen would have to add that rule",
                    f"add an inbound rule for tcp/{port} from the load balancers' security group "
                    "or from the VPC's range to one of them where they are managed",
                )
            )
    return out


def instance_group(c: Ctx, vpc_id: str | None, found: Found) -> Groups:
    """Adopted load balancers: the web servers' group bluegreen owns (unless
    adopted), admitting the instance port and the health-check port from the
    groups the adopted balancers carry, and admin ports from ``admin_cidrs``."""
    gw, n = c.gw, c.n
    if n.adopted.security_groups or vpc_id is None:
        return Groups()
    name = n.security_group
    what = (
        f"security group {name} (web servers: {INSTANCE_PORT} and {c.s.health_check_port} "
        f"from the adopted load balancers' groups {', '.join(found.lb_groups)} only)"
    )
    want: set[tuple[str, int, int, str, str]] = set()
    for g in found.lb_groups:
        want |= instance_rules(g, c.s)
    existing = gw.find_security_group(vpc_id, name)
    if existing is None:
        made = c.rec.create(
            what,
            lambda: gw.create_security_group(
                vpc_id, name, f"bluegreen web servers of {n.domain}", c.named(name)
            ),
        )
        if made is None:
            return Groups()
        gid, have, new = str(made), set(), True
    else:
        gid, have, new = str(existing["GroupId"]), observed(existing), False
    missing, extra = sorted(want - have), sorted(have - want)
    labels = {gid: name}
    c.rec.check(
        what,
        [f"added {describe(r, labels)}" for r in missing]
        + [f"removed {describe(r, labels)}" for r in extra],
        lambda: (
            gw.authorize_ingress(gid, permissions(missing)) if missing else None,
            gw.revoke_ingress(gid, permissions(extra)) if extra else None,
        ),
        new=new,
    )
    return Groups(lb=None, instances=gid)


# -- zones --------------------------------------------------------------------------------
def _zones(
    c: Ctx, zones: dict[str, dict[str, Any] | None], lbs: dict[str, tuple[str, dict[str, Any]]]
) -> list[Problem]:
    n, gw = c.n, c.gw
    out: list[Problem] = []
    targets = {bare(lb["DNSName"]) for _k, lb in lbs.values()}
    if zones and not n.adopted.load_balancers:
        targets |= ownership.targets(gw, n)  # bluegreen's own load balancers
    for key, z in zones.items():
        zid = getattr(n.adopted, key)
        private = key == "private_zone_id"
        label = "private" if private else "public"
        if z is None:
            out.append(
                (
                    f"{key}: {zid} does not exist",
                    f"check the id (`aws route53 get-hosted-zone --id {zid}`)",
                )
            )
            continue
        if str(z["Name"]).lower() != n.zone_name:
            out.append(
                (
                    f"{key}: {zid} is the zone of {z['Name']}, not of {n.zone_name}",
                    f"name the {label} zone of {n.domain}",
                )
            )
            continue
        if bool(z.get("Config", {}).get("PrivateZone")) != private:
            out.append(
                (
                    f"{key}: {zid} is a {'public' if private else 'private'} zone",
                    f"name the {label} zone of {n.domain}",
                )
            )
            continue
        if private and n.adopted.vpc_id not in z.get("VPCs", []):
            out.append(
                (
                    f"private_zone_id: {zid} is not bound to vpc_id {n.adopted.vpc_id}; "
                    "bluegreen would have to bind it",
                    f"bind it where it is managed (`aws route53 associate-vpc-with-hosted-zone "
                    f"--hosted-zone-id {zid} --vpc VPCRegion={gw.region},VPCId="
                    f"{n.adopted.vpc_id}`)",
                )
            )
        fqdns = n.private_fqdns if private else n.live_fqdns
        a_records, cname_records = gw.parallel(
            lambda zid=zid, fqdns=fqdns: gw.records_for(zid, fqdns),
            lambda zid=zid, fqdns=fqdns: gw.records_for(zid, fqdns, "CNAME"),
        )
        for fqdn, a_recs, cnames in zip(fqdns, a_records, cname_records):
            foreign = [
                r
                for r in a_recs
                if not r.get("AliasTarget") or bare(r["AliasTarget"]["DNSName"]) not in targets
            ] + cnames
            if foreign:
                what = foreign[0].get("AliasTarget", {}).get("DNSName") or foreign[0]["Type"]
                out.append(
                    (
                        f"{key}: {fqdn.rstrip('.')} already exists in {zid} ({what}), not made "
                        "by bluegreen; bluegreen would have to replace it",
                        "remove or rename that record, or use other host names (hosts = [...])",
                    )
                )
    return out
