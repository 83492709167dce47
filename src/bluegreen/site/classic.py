"""Two classic load balancers: HTTP 80 -> 80 (and HTTPS 443 -> 80 with a
certificate, under a TLS 1.2+ policy), the health check, connection
draining, cross-zone balancing, the load balancers' security group."""

from __future__ import annotations

from typing import Any

from bluegreen.aws.elb import CLASSIC_ELB_ZONE_IDS
from bluegreen.errors import StateError
from bluegreen.site.outcome import Ctx
from bluegreen.site.security import balancer_groups

DRAINING_TIMEOUT = 30
CLASSIC_TLS_POLICY = "ELBSecurityPolicy-TLS-1-2-2017-01"
Target = tuple[str, str]  # alias DNS name, hosted zone id


def tls_policy(s: Any) -> str:
    return str(s.tls_policy or CLASSIC_TLS_POLICY)


def listeners(s: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [
        {"Protocol": "HTTP", "LoadBalancerPort": 80, "InstanceProtocol": "HTTP", "InstancePort": 80}
    ]
    if s.certificate_arn:
        out.append(
            {
                "Protocol": "HTTPS",
                "LoadBalancerPort": 443,
                "InstanceProtocol": "HTTP",
                "InstancePort": 80,
                "SSLCertificateId": s.certificate_arn,
            }
        )
    return out


def health_check(s: Any) -> dict[str, Any]:
    return {
        "Target": f"HTTP:{s.health_check_port}{s.health_check_path}",
        "Interval": 10,
        "Timeout": 5,
        "UnhealthyThreshold": 2,
        "HealthyThreshold": 2,
    }


def zone_id(lb: dict[str, Any], region: str, field: str = "CanonicalHostedZoneNameID") -> str:
    """The alias target's hosted zone id, from the load balancer's own description;
    the published per-region table only where the description lacks it (the
    emulator). https://docs.aws.amazon.com/general/latest/gr/elb.html"""
    zone = lb.get(field) or CLASSIC_ELB_ZONE_IDS.get(region, "")
    if not zone:
        raise StateError(
            f"load balancer {lb.get('LoadBalancerName')} reports no {field}, and no hosted "
            f"zone id is known for region {region}",
            fix="the alias records cannot be made without it: check the endpoint and region "
            "(AWS always returns it), then run `bluegreen init` again",
        )
    return str(zone)


def _listener_key(ls: dict[str, Any]) -> tuple[Any, ...]:
    """What makes a listener (its instance protocol left out: the emulator
    reports the front protocol there, and a listener is re-made only when
    ports, protocol or certificate differ)."""
    return (
        ls["Protocol"].upper(),
        int(ls["LoadBalancerPort"]),
        int(ls["InstancePort"]),
        ls.get("SSLCertificateId") or None,
    )


def reconcile(
    c: Ctx,
    subnets: list[str],
    lb_group: str | None,
    access: set[str] = frozenset(),  # type: ignore[assignment]
) -> dict[str, Target]:
    gw, n, s = c.gw, c.n, c.s
    found = {lb["LoadBalancerName"]: lb for lb in gw.classic_load_balancers(n.load_balancers)}
    attributes = dict(  # draining and cross-zone of those that exist, at once
        zip(found, gw.parallel(*[(lambda x=x: gw.classic_attributes(x)) for x in found]))
    )
    want = listeners(s)
    out: dict[str, Target] = {}
    for name in n.load_balancers:
        what = (
            f"load balancer {name} (HTTP 80->80{', HTTPS 443->80' if s.certificate_arn else ''}, "
            f"health check HTTP:{s.health_check_port}{s.health_check_path})"
        )
        lb = found.get(name)
        new = lb is None
        if lb is None:
            if not subnets or lb_group is None:
                c.rec.create(what, lambda: None)
                continue
            group = lb_group
            made = c.rec.create(
                what,
                lambda name=name, group=group: gw.create_classic(  # type: ignore[misc]
                    name, subnets, group, want, c.named(name)
                ),
            )
            if made is None:
                continue
            lb = gw.classic_load_balancers([name])[0]
        out[name] = (f"dualstack.{lb['DNSName']}", zone_id(lb, gw.region))
        _settings(c, lb, want, lb_group, new, attributes.get(name, {}), set(access))
    return out


def _settings(
    c: Ctx,
    lb: dict[str, Any],
    want: list[dict[str, Any]],
    lb_group: str | None,
    new: bool,
    attrs: dict[str, Any],
    access: set[str],
) -> None:
    """``attrs``: the load balancer's attributes (none read when it is ``new``)."""
    gw, s = c.gw, c.s
    name = str(lb["LoadBalancerName"])
    diffs: list[str] = []
    fixes: list[Any] = []
    have = {int(d["Listener"]["LoadBalancerPort"]): d for d in lb.get("ListenerDescriptions", [])}
    wanted = {int(w["LoadBalancerPort"]): w for w in want}
    for port, ld in sorted(have.items()):
        if port not in wanted or _listener_key(ld["Listener"]) != _listener_key(wanted[port]):
            diffs.append(
                f"listener {port} differed" if port in wanted else f"extra listener {port}"
            )
            fixes.append(lambda port=port: gw.delete_classic_listeners(name, [port]))
    redo = [
        w
        for port, w in sorted(wanted.items())
        if port not in have or _listener_key(have[port]["Listener"]) != _listener_key(w)
    ]
    for w in redo:
        if int(w["LoadBalancerPort"]) not in have:
            diffs.append(f"listener {w['LoadBalancerPort']} was missing")
    if redo:
        fixes.append(lambda: gw.create_classic_listeners(name, redo))
    if s.certificate_arn:
        policy = tls_policy(s)
        pname = f"bluegreen-{policy}"
        names = (
            have.get(443, {}).get("PolicyNames", [])
            if 443 not in {int(w["LoadBalancerPort"]) for w in redo}
            else []
        )
        if names != [pname]:
            diffs.append(f"HTTPS listener's TLS policy was not {policy}")
            fixes.append(lambda: gw.create_tls_policy(name, pname, policy))
            fixes.append(lambda: gw.set_listener_policies(name, 443, [pname]))
    hc = health_check(s)
    have_hc = lb.get("HealthCheck", {})
    if any(have_hc.get(k) != v for k, v in hc.items()):
        diffs.append(f"health check was {have_hc.get('Target')} every {have_hc.get('Interval')}s")
        fixes.append(lambda: gw.set_classic_health_check(name, hc))
    cd = attrs.get("ConnectionDraining", {})
    cz = attrs.get("CrossZoneLoadBalancing", {})
    if (
        new
        or not cd.get("Enabled")
        or int(cd.get("Timeout", 0)) != DRAINING_TIMEOUT
        or not cz.get("Enabled")
    ):
        if not new:
            diffs.append(
                f"connection draining was {'on, ' + str(cd.get('Timeout')) + 's' if cd.get('Enabled') else 'off'}"
                f", cross-zone {'on' if cz.get('Enabled') else 'off'}"
            )
        fixes.append(lambda: gw.set_classic_attributes(name, DRAINING_TIMEOUT))
    groups = list(lb.get("SecurityGroups", []))
    want_groups = balancer_groups(groups, lb_group, access) if lb_group else None
    if want_groups is not None:
        diffs.append(f"security groups were {', '.join(groups) or 'none'}")
        fixes.append(lambda: gw.set_classic_security_groups(name, want_groups))
    c.rec.check(
        f"load balancer {name}",
        diffs or ([] if not new else ["new"]),
        lambda: [f() for f in fixes],
        new=new,
    )
