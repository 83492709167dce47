"""Application load balancers: target groups (health check, deregistration
delay), the load balancers (their security group), listeners (HTTP, and
HTTPS with a certificate under a TLS 1.2+ policy; HTTP then redirects to
HTTPS unless ``https_redirect`` is off) and, on the ``lb`` strategy's single
ALB, the rule sending the staging names to the staging target group.

Which target group a listener forwards the live names to is the switch's
business on the single ALB: init sets it only on a listener it creates."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bluegreen.aws.elb import (
    forward_action,
    forward_targets,
    priority_taken,
    redirect_to_https,
    rule_hosts,
    target_group_health,
)
from bluegreen.plan.access import REFUSAL_OFFSET
from bluegreen.site.access import refuses
from bluegreen.site.classic import Target, zone_id
from bluegreen.site.outcome import Ctx
from bluegreen.site.security import balancer_groups

DEREGISTRATION_DELAY = 30  # seconds an ALB target drains (classic: connection draining)
STAGING_RULE_PRIORITY = 10
ALB_TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"


def tls_policy(s: Any) -> str:
    return str(s.tls_policy or ALB_TLS_POLICY)


@dataclass
class Seen:
    """The site's ALBs (by name), their listeners (by ALB arn) and, on the lb
    strategy's single ALB, the rules of the listeners init keeps (by
    listener arn): read before init changes anything (``survey``)."""

    albs: dict[str, dict[str, Any]] = field(default_factory=dict)
    listeners: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    rules: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


def _ports(s: Any) -> dict[int, bool]:
    """The listeners' ports, each with whether it forwards (False: HTTP
    redirecting to HTTPS)."""
    redirect = bool(s.certificate_arn) and s.https_redirect
    return {80: not redirect, **({443: True} if s.certificate_arn else {})}


def survey(c: Ctx, *, shared: bool) -> Seen:
    """Reads only, before init's first change: the load balancers, their
    listeners and (single ALB) the listeners' rules, the same requests
    ``reconcile`` would send. Refuses (exit 3) another rule at a priority one
    of bluegreen's rules still to be made needs: the staging rule (10) and,
    with ``staging_cidrs``, the rule refusing other sources (11)."""
    gw, n = c.gw, c.n
    wanted = (n.load_balancer(1),) if shared else n.load_balancers
    seen = Seen(albs={lb["LoadBalancerName"]: lb for lb in gw.albs(wanted)})
    arns = [str(lb["LoadBalancerArn"]) for lb in seen.albs.values()]  # their listeners, at once
    seen.listeners = dict(zip(arns, gw.parallel(*[(lambda a=a: gw.listeners(a)) for a in arns])))
    if not shared:
        return seen
    ports = _ports(c.s)
    kept = [ls for lss in seen.listeners.values() for ls in lss if int(ls["Port"]) in ports]
    found = gw.parallel(*[(lambda a=str(ls["ListenerArn"]): gw.rules(a)) for ls in kept])
    seen.rules = {str(ls["ListenerArn"]): rules for ls, rules in zip(kept, found, strict=True)}
    for ls in kept:
        if ports[int(ls["Port"])]:
            _priorities_free(c, seen.rules[str(ls["ListenerArn"])])
    return seen


def _priorities_free(c: Ctx, rules: list[dict[str, Any]]) -> None:
    """Refuse a rule of someone else's where the staging rule or the refusal
    rule is to be made (``create_rule_at`` refuses the same when it meets one)."""
    pattern = c.n.staging_host_pattern
    mine = [r for r in rules if pattern in rule_hosts(r)]
    needed: list[tuple[int, str]] = []
    if not [r for r in mine if not refuses(r)]:  # as ``_staging_rule`` tells
        needed.append((STAGING_RULE_PRIORITY, f"the rule for {pattern}"))
    if c.s.staging_cidrs and not [r for r in mine if refuses(r)]:
        needed.append((STAGING_RULE_PRIORITY + REFUSAL_OFFSET, f"the rule refusing {pattern}"))
    for priority, wanted in needed:
        there = next((r for r in rules if r.get("Priority") == str(priority)), None)
        if there is not None:
            raise priority_taken(there, wanted)


def reconcile(
    c: Ctx,
    vpc_id: str | None,
    subnets: list[str],
    lb_group: str | None,
    *,
    shared: bool,
    seen: Seen,
    access: frozenset[str] | set[str] = frozenset(),
) -> dict[str, Target]:
    """``seen``: what ``survey`` read before init changed anything."""
    gw, n = c.gw, c.n
    tgs = _target_groups(c, vpc_id)
    wanted = (n.load_balancer(1),) if shared else n.load_balancers
    found, listeners = seen.albs, seen.listeners
    out: dict[str, Target] = {}
    for i, name in enumerate(wanted, 1):
        what = f"application load balancer {name}"
        lb = found.get(name)
        new = lb is None
        if lb is None:
            if not subnets or lb_group is None:
                c.rec.create(what, lambda: None)
                continue
            group = lb_group
            lb = c.rec.create(
                what,
                lambda name=name, group=group: gw.create_alb(  # type: ignore[misc]
                    name,
                    subnets,
                    group,
                    {**c.named(name), "bluegreen:layout": "shared" if shared else "pair"},
                ),
            )
            if lb is None:
                continue
        out[name] = (str(lb["DNSName"]), zone_id(lb, gw.region, "CanonicalHostedZoneId"))
        groups = list(lb.get("SecurityGroups", []))
        arn = str(lb["LoadBalancerArn"])
        want_groups = balancer_groups(groups, lb_group, set(access)) if lb_group else None
        c.rec.check(
            what,
            [] if want_groups is None else [f"security groups were {', '.join(groups)}"],
            lambda arn=arn, g=want_groups: gw.set_alb_security_groups(arn, g),  # type: ignore[misc]
            new=new,
        )
        _listeners(c, name, arn, listeners.get(arn, []), tgs, i, shared, seen.rules)
    if shared and n.load_balancer(1) in out:
        out[n.load_balancer(2)] = out[n.load_balancer(1)]
    return out


def _target_groups(c: Ctx, vpc_id: str | None) -> dict[int, str | None]:
    gw, n, s = c.gw, c.n, c.s
    found = {
        tg["TargetGroupName"]: tg for tg in gw.target_groups([n.target_group(1), n.target_group(2)])
    }
    health = target_group_health(s.health_check_port, s.health_check_path)
    arns = [str(tg["TargetGroupArn"]) for tg in found.values()]  # their attributes, at once
    attributes = dict(
        zip(arns, gw.parallel(*[(lambda a=a: gw.target_group_attributes(a)) for a in arns]))
    )
    out: dict[int, str | None] = {}
    for i in (1, 2):
        name = n.target_group(i)
        what = (
            f"target group {name} (HTTP 80, health check HTTP:{s.health_check_port}"
            f"{s.health_check_path}, deregistration delay {DEREGISTRATION_DELAY}s)"
        )
        tg = found.get(name)
        if tg is None:
            out[i] = None
            if vpc_id is None:
                c.rec.create(what, lambda: None)
                continue
            vpc = vpc_id
            out[i] = c.rec.create(
                what,
                lambda name=name, vpc=vpc: gw.create_target_group(  # type: ignore[misc]
                    name,
                    vpc,
                    health_port=s.health_check_port,
                    health_path=s.health_check_path,
                    deregistration_delay=DEREGISTRATION_DELAY,
                    tags=c.named(name),
                ),
            )
            continue
        arn = str(tg["TargetGroupArn"])
        out[i] = arn
        diffs: list[str] = []
        fixes: list[Any] = []
        off = [k for k, v in health.items() if tg.get(k) != v]
        if off:
            diffs.append(
                "health check differed (" + ", ".join(f"{k} was {tg.get(k)}" for k in off) + ")"
            )
            fixes.append(lambda arn=arn: gw.set_target_group_health(arn, health))
        delay = attributes[arn].get("deregistration_delay.timeout_seconds")
        if delay != str(DEREGISTRATION_DELAY):
            diffs.append(f"deregistration delay was {delay}s")
            fixes.append(lambda arn=arn: gw.set_deregistration_delay(arn, DEREGISTRATION_DELAY))
        c.rec.check(what, diffs, lambda fixes=fixes: [f() for f in fixes])  # type: ignore[misc]
    return out


def _listeners(
    c: Ctx,
    lb_name: str,
    lb_arn: str,
    listeners: list[dict[str, Any]],
    tgs: dict[int, str | None],
    i: int,
    shared: bool,
    rules: dict[str, list[dict[str, Any]]],
) -> None:
    """``listeners``: the load balancer's, as described (none when it is new);
    ``rules``: the rules of those listeners, by arn (single ALB only: ``survey``
    read them for every listener kept, the only ones whose rules are used)."""
    gw, s = c.gw, c.s
    cert = s.certificate_arn
    have = {int(ls["Port"]): ls for ls in listeners}
    own_tg = tgs[1] if shared else tgs[i]
    for port, forwards in _ports(s).items():
        https = port == 443
        label = f"{'HTTPS' if https else 'HTTP'} listener {lb_name}:{port}"
        what = label + ("" if forwards else " -> HTTPS")
        ls = have.get(port)
        actions = None if forwards else [redirect_to_https()]
        if ls is None:
            if own_tg is None:
                c.rec.create(what, lambda: None)
                continue
            tg = own_tg
            arn = c.rec.create(
                what,
                lambda port=port, tg=tg, actions=actions, https=https: gw.create_listener(  # type: ignore[misc]
                    lb_arn,
                    port,
                    tg,
                    cert if https else None,
                    ssl_policy=tls_policy(s),
                    actions=actions,
                ),
            )
            if arn is not None and shared and actions is None:
                _staging_rule(c, str(arn), lb_name, port, None, tgs, [])
            continue
        diffs: list[str] = []
        change: dict[str, Any] = {}
        if ls["Protocol"] != ("HTTPS" if https else "HTTP"):
            diffs.append(f"protocol was {ls['Protocol']}")
            change["Protocol"] = "HTTPS" if https else "HTTP"
        if https:
            certs = [x["CertificateArn"] for x in ls.get("Certificates", [])]
            if certs != [cert]:
                diffs.append("certificate differed")
                change["Certificates"] = [{"CertificateArn": cert}]
            if ls.get("SslPolicy") != tls_policy(s):
                diffs.append(f"TLS policy was {ls.get('SslPolicy') or 'none'}")
                change["SslPolicy"] = tls_policy(s)
        current = ls.get("DefaultActions", [])
        redirecting = any(a.get("Type") == "redirect" for a in current)
        if actions is not None and not redirecting:
            diffs.append("HTTP did not redirect to HTTPS")
            change["DefaultActions"] = actions
        elif actions is None and (redirecting or not forward_targets(current)):
            if own_tg is not None:
                diffs.append("it did not forward to a target group")
                change["DefaultActions"] = [forward_action(((own_tg, 1),))]
        elif (
            actions is None and not shared and own_tg and forward_targets(current) != ((own_tg, 1),)
        ):
            diffs.append("it forwarded to another target group")
            change["DefaultActions"] = [forward_action(((own_tg, 1),))]
        arn = str(ls["ListenerArn"])
        if shared and actions is not None:
            # redirecting: the staging rule an HTTP listener had goes (the
            # staging names are served over HTTPS, where switch moves them)
            for rule in rules[arn]:
                if not rule.get("IsDefault"):
                    diffs.append(f"rule {rule.get('Priority')} forwarded plain HTTP")
                    change.setdefault("_delete", []).append(str(rule["RuleArn"]))
        c.rec.check(label, diffs, lambda arn=arn, change=change: _modify(gw, arn, change))  # type: ignore[misc]
        if shared and actions is None:
            _staging_rule(c, arn, lb_name, port, ls, tgs, rules[arn])


def _modify(gw: Any, arn: str, change: dict[str, Any]) -> None:
    for rule_arn in change.pop("_delete", []):
        gw.delete_rule(rule_arn)
    if change:
        gw.modify_listener(arn, **change)


def _staging_rule(
    c: Ctx,
    listener_arn: str,
    lb_name: str,
    port: int,
    listener: dict[str, Any] | None,
    tgs: dict[int, str | None],
    rules: list[dict[str, Any]],
) -> None:
    """The single ALB's rule sending the staging names to the staging target
    group: the target group its default action does not forward to.
    ``rules``: the listener's (none when it is new)."""
    gw, n = c.gw, c.n
    pattern = n.staging_host_pattern
    what = f"listener rule {lb_name}:{port} host {pattern} -> staging target group"
    # the forwarding rule: the one refusing other sources (staging_cidrs) is not it
    rule = next((r for r in rules if pattern in rule_hosts(r) and not refuses(r)), None)
    if rule is not None:
        c.rec.ok(what)
        return
    live = {a for a, _ in forward_targets((listener or {}).get("DefaultActions", []))}
    other = tgs[2] if tgs[1] in live or not live else tgs[1]
    c.rec.create(
        what,
        lambda: gw.create_host_rule(listener_arn, [pattern], str(other), STAGING_RULE_PRIORITY),
    )
