"""The two security groups (docs/SECURITY.md):

- the load balancers' group: 80 and 443 from anywhere (IPv4 and IPv6), nothing else;
- the instances' group: the instance port (80) and the health-check port only
  from the load balancers' group; 22, 3389 and ping only from ``admin_cidrs``
  (none by default); nothing from the world.

A site made before the split has one group (the instances' group's name) on
the load balancers and the instances, with 80/443 from the world and the
health-check port from itself. It moves without downtime, in this order:
``reconcile`` creates the load balancers' group and adds the instances'
group's new rules (the web port and the health-check port from the load
balancers' group) without removing any; the load balancer modules then put
the load balancers in their own group (the instances admit them through the
rules just added); ``finish``, last, removes what the instances' group must
no longer allow (the world, itself). Each part finds its work done on a re-run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bluegreen.site.outcome import Ctx

Rule = tuple[str, int, int, str, str]  # protocol, from, to, source kind, source
INSTANCE_PORT = 80
WORLD = (("v4", "0.0.0.0/0"), ("v6", "::/0"))


@dataclass
class Groups:
    lb: str | None = None
    instances: str | None = None
    extra: list[Rule] = field(default_factory=list)  # to remove from the instances' group
    # ``staging_cidrs``'s groups (bluegreen.site.access), which the load
    # balancers may carry besides their own
    access: set[str] = field(default_factory=set)


def lb_rules() -> set[Rule]:
    return {("tcp", p, p, kind, src) for p in (80, 443) for kind, src in WORLD}


def instance_rules(lb_group: str, s: Any) -> set[Rule]:
    rules = {("tcp", p, p, "sg", lb_group) for p in sorted({INSTANCE_PORT, s.health_check_port})}
    for cidr in s.admin_cidrs:
        kind = "v6" if ":" in cidr else "v4"
        rules |= {("tcp", 22, 22, kind, cidr), ("tcp", 3389, 3389, kind, cidr)}
        rules.add(("icmp", 8, -1, kind, cidr))
    return rules


def observed(group: dict[str, Any]) -> set[Rule]:
    out: set[Rule] = set()
    for p in group.get("IpPermissions", []):
        head = (str(p["IpProtocol"]), int(p.get("FromPort", -1)), int(p.get("ToPort", -1)))
        out |= {(*head, "v4", r["CidrIp"]) for r in p.get("IpRanges", [])}
        out |= {(*head, "v6", r["CidrIpv6"]) for r in p.get("Ipv6Ranges", [])}
        out |= {(*head, "sg", r["GroupId"]) for r in p.get("UserIdGroupPairs", [])}
        out |= {(*head, "pl", r["PrefixListId"]) for r in p.get("PrefixListIds", [])}
    return out


def permissions(rules: set[Rule] | list[Rule]) -> list[dict[str, Any]]:
    """One IpPermission per rule."""
    key = {"v4": ("IpRanges", "CidrIp"), "v6": ("Ipv6Ranges", "CidrIpv6")}
    key |= {"sg": ("UserIdGroupPairs", "GroupId"), "pl": ("PrefixListIds", "PrefixListId")}
    out = []
    for proto, lo, hi, kind, src in sorted(rules):
        perm: dict[str, Any] = {"IpProtocol": proto, "FromPort": lo, "ToPort": hi}
        if proto == "-1":
            perm = {"IpProtocol": proto}
        field_, sub = key[kind]
        perm[field_] = [{sub: src}]
        out.append(perm)
    return out


def describe(rule: Rule, names: dict[str, str]) -> str:
    proto, lo, hi, _kind, src = rule
    ports = "all" if proto == "-1" else (f"{lo}" if lo == hi or hi == -1 else f"{lo}-{hi}")
    return f"{proto}/{ports} from {names.get(src, src)}"


def reconcile(c: Ctx, vpc_id: str | None, *, shared: bool = False) -> Groups:
    """With ``staging_cidrs`` on two load balancers, the web ports' rules of the
    load balancers' group are the restriction's (``access_setup`` moves them
    to the live balancer's group in an order that cuts no client): left as
    they are here, as is the rule naming the group itself that it adds."""
    gw, n = c.gw, c.n
    restricted = bool(c.s.staging_cidrs) and not shared
    lb_what = f"security group {n.lb_security_group} (load balancers: 80, 443 from anywhere)"
    inst_what = (
        f"security group {n.security_group} (web servers: {INSTANCE_PORT} and "
        f"{c.s.health_check_port} from the load balancers only"
        f"{', admin ports from ' + ', '.join(c.s.admin_cidrs) if c.s.admin_cidrs else ''})"
    )
    access_names = [n.public_web_group, n.staging_web_group]
    found = (
        {
            g["GroupName"]: g
            for g in gw.security_groups_named(
                vpc_id, [n.lb_security_group, n.security_group, *access_names]
            )
        }
        if vpc_id
        else {}
    )
    out = Groups(access={str(found[a]["GroupId"]) for a in access_names if a in found})
    ids: dict[str, str | None] = {}
    for name, what, desc in (
        (n.lb_security_group, lb_what, f"bluegreen load balancers of {n.domain}"),
        (n.security_group, inst_what, f"bluegreen web servers of {n.domain}"),
    ):
        if name == n.security_group and n.adopted.security_groups:
            ids[name] = None  # the web servers' groups are adopted (site.adopted checked them)
            continue
        g = found.get(name)
        if g is None:
            made = c.rec.create(
                what,
                lambda name=name, desc=desc: gw.create_security_group(  # type: ignore[misc]
                    str(vpc_id), name, desc, c.named(name)
                ),
            )
            ids[name] = str(made) if made else None
        else:
            ids[name] = str(g["GroupId"])
    out.lb, out.instances = ids[n.lb_security_group], ids[n.security_group]
    labels = {out.lb or "?": n.lb_security_group, out.instances or "": n.security_group}
    for name, what, gid, want in (
        (n.lb_security_group, lb_what, out.lb, set() if restricted else lb_rules()),
        (n.security_group, inst_what, out.instances, instance_rules(out.lb or "?", c.s)),
    ):
        if gid is None:
            continue
        new = name not in found
        have = observed(found[name]) if not new else set()
        missing = sorted(want - have)
        extra = sorted(have - want)
        if restricted and name == n.lb_security_group:
            extra = [r for r in extra if r not in lb_rules() and r[4] != gid]
        if name == n.security_group and extra:
            out.extra = extra  # removed by ``finish``, after the load balancers moved
            extra = []
        diffs = [f"added {describe(r, labels)}" for r in missing]
        diffs += [f"removed {describe(r, labels)}" for r in extra]
        if not diffs and name == n.security_group and out.extra:
            continue  # what differs is removed, and reported, by ``finish``
        c.rec.check(
            what,
            diffs,
            lambda gid=gid, missing=missing, extra=extra: (  # type: ignore[misc]
                gw.authorize_ingress(gid, permissions(missing)),
                gw.revoke_ingress(gid, permissions(extra)),
            ),
            new=new,
        )
    return out


def finish(c: Ctx, groups: Groups) -> None:
    """Remove what the instances' group must no longer allow, once the load
    balancers are in their own group."""
    if not groups.extra or groups.instances is None:
        return
    gid, extra = groups.instances, groups.extra
    labels = {groups.lb or "": c.n.lb_security_group, gid: c.n.security_group}
    c.rec.check(
        f"security group {c.n.security_group}",
        [f"removed {describe(r, labels)}" for r in extra],
        lambda: c.gw.revoke_ingress(gid, permissions(extra)),
    )


def balancer_groups(current: list[str], lb_group: str, access: set[str]) -> list[str] | None:
    """The groups a load balancer should carry: its own, and ``staging_cidrs``'s
    group it has (which ``access_setup`` moves with the roles); None when it
    carries exactly those."""
    want = [lb_group, *sorted(g for g in current if g in access)]
    return None if sorted(current) == sorted(want) else want
