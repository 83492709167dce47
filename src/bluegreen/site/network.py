"""The site's network: one VPC (DNS support and host names on), two public
subnets in ordinary availability zones, an internet gateway attached to the
VPC, and a route table with the default route to it, associated with both
subnets."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bluegreen.aws.ec2 import tag_value
from bluegreen.errors import StateError
from bluegreen.model.naming import TAG_DOMAIN
from bluegreen.site.outcome import Ctx

VPC_CIDR = "10.0.0.0/16"
SUBNET_CIDRS = ("10.0.0.0/20", "10.0.16.0/20")


@dataclass
class Network:
    vpc_id: str | None = None
    subnets: list[str] = field(default_factory=list)
    igw: str | None = None


@dataclass
class Found:
    """What ``survey`` read: the site's VPC (None: none yet), its subnets by
    CIDR block, and the ordinary availability zones (read only when a subnet
    is to be made)."""

    vpc_id: str | None = None
    subnets: dict[str, dict[str, Any]] = field(default_factory=dict)
    zones: list[str] = field(default_factory=list)


def survey(c: Ctx) -> Found:
    """Reads only, before init changes anything: the VPC, its subnets and,
    when a subnet is missing, the zones to put it in. Refuses (exit 3) a
    region that lists no ordinary availability zone then, so that such a
    region is refused with nothing made. A complete site's zones are not read."""
    gw, n = c.gw, c.n
    vpcs = gw.vpcs_named(TAG_DOMAIN, n.domain, n.vpc)
    found = Found()
    if len(vpcs) > 1:
        found.vpc_id, subnets = _pick(c, vpcs)
    elif vpcs:
        found.vpc_id = str(vpcs[0]["VpcId"])
        subnets = gw.find_subnets(found.vpc_id)
    else:
        subnets = []
    found.subnets = {str(sn["CidrBlock"]): sn for sn in subnets}
    if all(cidr in found.subnets for cidr in SUBNET_CIDRS):
        return found
    found.zones = gw.availability_zones()
    if not found.zones:
        # Local and Wavelength Zones are listed with ZoneType local-zone /
        # wavelength-zone and cannot hold a load balancer's subnets
        # https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_AvailabilityZone.html
        listed = gw.zones_listed()
        raise StateError(
            f"region {gw.region} lists no ordinary availability zone",
            found="available zones: "
            + (", ".join(f"{name} ({kind})" for name, kind in listed) or "none"),
            fix="run init in a region with ordinary availability zones (ZoneType "
            "availability-zone) with --region (e.g. --region us-east-1): Local and "
            "Wavelength Zones cannot hold a load balancer's subnets; nothing was changed",
        )
    return found


def reconcile(c: Ctx, found: Found) -> Network:
    """The network as it should be, from what ``survey`` read."""
    net = Network(vpc_id=_vpc(c, found.vpc_id))
    net.subnets = _subnets(c, net.vpc_id, found)
    net.igw = _internet_gateway(c, net.vpc_id)
    _route_table(c, net)
    return net


def _vpc(c: Ctx, vpc_id: str | None) -> str | None:
    gw, n = c.gw, c.n
    what = f"VPC {n.vpc} ({VPC_CIDR})"
    new = False
    if vpc_id is None:
        made = c.rec.create(what, lambda: gw.create_vpc(VPC_CIDR, c.named(n.vpc)))
        if made is None:
            return None
        vpc_id, new = str(made), True
    dns = gw.vpc_dns(vpc_id)
    off = [k for k, v in dns.items() if not v]
    c.rec.check(
        what,
        [f"{k} was off" for k in off],
        lambda: [gw.set_vpc_dns(vpc_id, k) for k in off],
        new=new,
    )
    return vpc_id


def _pick(c: Ctx, vpcs: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """Two VPCs carry the site's name (a create whose response was lost, made
    before creates were looked up, or a copy by hand): keep the one holding the
    most subnets (the lowest id on a tie), build nothing in the others, and say
    so. init deletes nothing of the account. The kept one, and its subnets."""
    gw = c.gw
    subnets = {str(v["VpcId"]): gw.find_subnets(str(v["VpcId"])) for v in vpcs}
    keep = sorted(subnets, key=lambda v: (-len(subnets[v]), v))[0]
    for other in sorted(subnets):
        if other == keep:
            continue
        empty = not subnets[other] and not gw.internet_gateway_of(other)
        c.rec.warn(
            f"VPC {other} also carries the name {c.n.vpc}"
            + (" and is empty" if empty else f" and holds {len(subnets[other])} subnets")
            + f": the site uses {keep}; delete {other} (`aws ec2 delete-vpc --vpc-id {other}`) "
            "or remove its bluegreen:domain tag"
        )
    return keep, subnets[keep]


def _subnets(c: Ctx, vpc_id: str | None, found: Found) -> list[str]:
    gw, n = c.gw, c.n
    by_cidr = found.subnets
    azs = found.zones  # every ordinary zone when a subnet is missing (``survey``)
    out = []
    for i, cidr in enumerate(SUBNET_CIDRS):
        name = n.subnet(i + 1)
        what = f"subnet {name} ({cidr})"
        sn = by_cidr.get(cidr)
        if sn is None:
            az = azs[i % len(azs)] if azs else ""
            made = c.rec.create(
                what,
                lambda cidr=cidr, az=az, name=name: gw.create_subnet(  # type: ignore[misc]
                    str(vpc_id), cidr, az, c.named(name)
                ),
            )
            if made is None:
                continue
            sid, public, new = str(made), False, True
        else:
            sid, public, new = str(sn["SubnetId"]), bool(sn.get("MapPublicIpOnLaunch")), False
        c.rec.check(
            what,
            [] if public else ["instances got no public address (MapPublicIpOnLaunch off)"],
            lambda sid=sid: gw.set_public_ip_on_launch(sid, True),  # type: ignore[misc]
            new=new,
        )
        out.append(sid)
    return out


def _internet_gateway(c: Ctx, vpc_id: str | None) -> str | None:
    gw, n = c.gw, c.n
    what = f"internet gateway of {n.vpc}"
    attached = gw.internet_gateway_of(vpc_id) if vpc_id else None
    if attached:
        c.rec.ok(what)
        return str(attached)
    free = [
        g for g in gw.internet_gateways_tagged(TAG_DOMAIN, n.domain) if not g.get("Attachments")
    ]
    if free and vpc_id:
        igw = str(free[0]["InternetGatewayId"])
        c.rec.check(
            what, [f"{igw} was not attached"], lambda: gw.attach_internet_gateway(igw, vpc_id)
        )
        return igw
    made = c.rec.create(what, lambda: gw.create_internet_gateway(c.named(n.vpc)))
    if made is None or vpc_id is None:
        return None
    gw.attach_internet_gateway(str(made), vpc_id)
    return str(made)


def _route_table(c: Ctx, net: Network) -> None:
    gw, n = c.gw, c.n
    name = f"{n.slug}-public"
    what = f"route table {name} (default route to the internet gateway)"
    if net.vpc_id is None:
        c.rec.create(what, lambda: None)
        return
    vpc_id = net.vpc_id
    tables = gw.route_tables(vpc_id)
    rt = next((t for t in tables if tag_value(t.get("Tags"), "Name") == name), None)
    new = rt is None
    if rt is None:
        made = c.rec.create(what, lambda: gw.create_route_table(vpc_id, c.named(name)))
        if made is None:
            return
        rt = {"RouteTableId": str(made), "Routes": [], "Associations": []}
    rt_id = str(rt["RouteTableId"])
    diffs: list[str] = []
    fixes: list[Any] = []
    default = next(
        (r for r in rt.get("Routes", []) if r.get("DestinationCidrBlock") == "0.0.0.0/0"), None
    )
    if net.igw and (default is None or default.get("GatewayId") != net.igw):
        igw = net.igw
        diffs.append(
            "no default route"
            if default is None
            else f"default route went to {default.get('GatewayId') or 'elsewhere'}"
        )
        fixes.append(lambda: gw.add_default_route(rt_id, igw, replace=default is not None))
    mine = {a.get("SubnetId") for a in rt.get("Associations", [])}
    elsewhere = {
        a.get("SubnetId"): str(a["RouteTableAssociationId"])
        for t in tables
        if t["RouteTableId"] != rt_id
        for a in t.get("Associations", [])
        if a.get("SubnetId")
    }
    for sid in net.subnets:
        if sid in mine:
            continue
        if sid in elsewhere:
            assoc = elsewhere[sid]
            diffs.append(f"{sid} was associated with another route table")
            fixes.append(
                lambda assoc=assoc, sid=sid: gw.replace_route_table_association(assoc, rt_id, sid)
            )
        else:
            diffs.append(f"{sid} was not associated")
            fixes.append(lambda sid=sid: gw.associate_route_table(rt_id, sid))
    c.rec.check(what, diffs, lambda: [f() for f in fixes], new=new)
