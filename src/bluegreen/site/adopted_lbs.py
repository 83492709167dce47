"""Adopted load balancers (``load_balancers``): each must already have what
the workflow needs (the HTTP listener, HTTPS with ``certificate_arn``, a
health check matching the settings; for an ALB, a forward to one target group
of instances). bluegreen never changes them (see ``bluegreen.site.adopted``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bluegreen.aws.adopted import forwarded_target_groups
from bluegreen.site.classic import Target, zone_id
from bluegreen.site.outcome import Ctx
from bluegreen.site.security import INSTANCE_PORT

Problem = tuple[str, str]  # what was found, what to do


@dataclass
class Found:
    """What the adopted resources are, once checked."""

    vpc_id: str | None = None
    subnets: list[str] = field(default_factory=list)
    balancers: dict[str, Target] = field(default_factory=dict)  # adopted LB -> alias target
    lb_groups: list[str] = field(default_factory=list)  # the groups the adopted LBs carry


def _lb_vpc(lb: dict[str, Any]) -> str:
    return str(lb.get("VPCId") or lb.get("VpcId") or "")


def _lb_subnets(lb: dict[str, Any]) -> list[str]:
    if "Subnets" in lb:
        return list(lb["Subnets"])
    return [z["SubnetId"] for z in lb.get("AvailabilityZones", []) if z.get("SubnetId")]


# -- load balancers -----------------------------------------------------------------------
def read_balancers(c: Ctx) -> dict[str, tuple[str, dict[str, Any]]]:
    """Adopted name -> (kind, description), for those that exist."""
    names = c.n.adopted.load_balancers
    if not names:
        return {}
    gw = c.gw
    classic, albs = gw.parallel(lambda: gw.classic_load_balancers(names), lambda: gw.albs(names))
    out = {lb["LoadBalancerName"]: ("alb", lb) for lb in albs}
    out.update({lb["LoadBalancerName"]: ("classic", lb) for lb in classic})
    return out


def check_balancers(
    c: Ctx, lbs: dict[str, tuple[str, dict[str, Any]]], out: Found
) -> tuple[list[Problem], list[str], list[str]]:
    """Problems, the security groups the adopted balancers carry, their subnets."""
    a, gw = c.n.adopted, c.gw
    problems: list[Problem] = []
    groups: list[str] = []
    subnets: list[str] = []
    tgs: dict[str, str] = {}
    # each ALB's listeners, then its target group: the ALBs read at once
    albs = [n for n in a.load_balancers if n in lbs and lbs[n][0] == "alb"]
    alb_checks = dict(zip(albs, gw.parallel(*[(lambda n=n: _alb(c, n, lbs[n][1])) for n in albs])))
    for name in a.load_balancers:
        if name not in lbs:
            problems.append(
                (
                    f"load_balancers: {name} does not exist in {gw.region} (neither a classic "
                    "nor an application load balancer)",
                    "check the name and the region",
                )
            )
            continue
        kind, lb = lbs[name]
        if _lb_vpc(lb) != a.vpc_id:
            problems.append(
                (
                    f"load_balancers: {name} is in {_lb_vpc(lb) or 'no VPC'}, not in vpc_id "
                    f"{a.vpc_id}",
                    "adopt load balancers of the adopted VPC only",
                )
            )
        groups += [g for g in lb.get("SecurityGroups", []) if g not in groups]
        subnets += [sn for sn in _lb_subnets(lb) if sn not in subnets]
        if kind == "classic":
            problems += _classic(c, name, lb)
            target: Target = (f"dualstack.{lb['DNSName']}", zone_id(lb, gw.region))
        else:
            found, tg = alb_checks[name]
            problems += found
            if tg:
                if tg in tgs.values():
                    problems.append(
                        (
                            f"load_balancers: {name} forwards to the same target group as "
                            f"{next(k for k, v in tgs.items() if v == tg)}",
                            "each environment needs a target group of its own",
                        )
                    )
                tgs[name] = tg
            target = (str(lb["DNSName"]), zone_id(lb, gw.region, "CanonicalHostedZoneId"))
        out.balancers[name] = target
    kinds = {lbs[n][0] for n in a.load_balancers if n in lbs}
    if len(kinds) > 1:
        problems.append(
            (
                "load_balancers: one is a classic and one an application load balancer",
                "adopt two of the same kind",
            )
        )
    return problems, groups, subnets


def _health_fix(name: str, s: Any) -> str:
    return (
        f"set health_check_port and health_check_path to what {name} checks (the web servers' "
        "security group admits that port from the load balancers), or change its health "
        f"check to HTTP:{s.health_check_port}{s.health_check_path} where it is managed"
    )


def _classic(c: Ctx, name: str, lb: dict[str, Any]) -> list[Problem]:
    s = c.s
    out: list[Problem] = []
    listeners = [d["Listener"] for d in lb.get("ListenerDescriptions", [])]
    if not any(
        ls["Protocol"].upper() == "HTTP"
        and int(ls["LoadBalancerPort"]) == 80
        and int(ls["InstancePort"]) == INSTANCE_PORT
        for ls in listeners
    ):
        out.append(
            (
                f"load_balancers: {name} has no HTTP listener from port 80 to instance port "
                f"{INSTANCE_PORT}; bluegreen would have to add one",
                f"add the listener to {name} where it is managed, or leave load_balancers "
                "out and let bluegreen make its own",
            )
        )
    cert = s.certificate_arn
    if cert and not any(
        int(ls["LoadBalancerPort"]) == 443 and ls.get("SSLCertificateId") == cert
        for ls in listeners
    ):
        out.append(
            (
                f"load_balancers: {name} has no HTTPS listener on 443 with certificate_arn "
                f"{cert}; bluegreen would have to add one",
                f"add it to {name} where it is managed, or name the certificate it uses",
            )
        )
    want = f"{s.health_check_port}{s.health_check_path}"
    target = str(lb.get("HealthCheck", {}).get("Target", ""))
    proto, _, rest = target.partition(":")
    if proto.upper() not in ("HTTP", "HTTPS") or rest != want:
        out.append(
            (
                f"load_balancers: {name} checks health with {target or 'nothing'}, the "
                f"workflow needs HTTP:{want}",
                _health_fix(name, s),
            )
        )
    return out


def _alb(c: Ctx, name: str, lb: dict[str, Any]) -> tuple[list[Problem], str | None]:
    s, gw = c.s, c.gw
    listeners = gw.listeners(str(lb["LoadBalancerArn"]))
    out: list[Problem] = []
    tgs = forwarded_target_groups(listeners)
    cert = s.certificate_arn
    if cert and not any(
        int(ls["Port"]) == 443 and cert in [x["CertificateArn"] for x in ls.get("Certificates", [])]
        for ls in listeners
    ):
        out.append(
            (
                f"load_balancers: {name} has no HTTPS listener on 443 with certificate_arn "
                f"{cert}; bluegreen would have to add one",
                f"add it to {name} where it is managed, or name the certificate it uses",
            )
        )
    if not tgs:
        out.append(
            (
                f"load_balancers: {name} has no listener forwarding to a target group; "
                "bluegreen would have to add one",
                f"add an HTTP (or HTTPS) listener forwarding to a target group to {name} "
                "where it is managed",
            )
        )
        return out, None
    if len(tgs) > 1:
        out.append(
            (
                f"load_balancers: {name}'s listeners forward to {len(tgs)} target groups; an "
                "environment is one target group",
                f"make every listener of {name} forward to one target group",
            )
        )
        return out, None
    tg = gw.target_groups_by_arn(tgs)[0]
    port = str(tg.get("HealthCheckPort"))
    if port == "traffic-port":
        port = str(tg.get("Port"))
    if (
        tg.get("TargetType", "instance") != "instance"
        or int(tg.get("Port", 0)) != INSTANCE_PORT
        or tg.get("VpcId") != c.n.adopted.vpc_id
    ):
        out.append(
            (
                f"load_balancers: {name}'s target group {tg['TargetGroupName']} is not one of "
                f"instances on port {INSTANCE_PORT} in vpc_id {c.n.adopted.vpc_id}",
                "forward to a target group of instances on port 80 in the adopted VPC",
            )
        )
    if port != str(s.health_check_port) or tg.get("HealthCheckPath") != s.health_check_path:
        out.append(
            (
                f"load_balancers: {name}'s target group {tg['TargetGroupName']} checks health "
                f"on {port}{tg.get('HealthCheckPath') or ''}, the workflow needs "
                f"{s.health_check_port}{s.health_check_path}",
                _health_fix(name, s),
            )
        )
    return out, str(tg["TargetGroupArn"])


def balancers(c: Ctx, found: Found) -> dict[str, Target]:
    for name in found.balancers:
        c.rec.ok(f"adopted load balancer {name} (its listeners and health check as they are)")
    return dict(found.balancers)
