"""Who may reach the staging environment (``staging_cidrs``).

Both load balancers are internet-facing, so without a limit anyone who sends
``Host: www-staging.DOMAIN`` reaches staging. With ``staging_cidrs``:

- **Two load balancers** (every strategy but ``lb`` on ALB): two security
  groups, ``SLUG-web-public`` (80 and 443 from anywhere) and
  ``SLUG-web-staging`` (80 and 443 from the staging ranges only). The balancer
  in the live role carries the public one, the other the staging one, next to
  the site's own group (which then admits no web traffic from the world). The
  restriction moves with the roles, never ahead of the clients:

  - a balancer is **opened before** the live names move to it (``switch``,
    ``rollback``, a weighted shift's first step, the undo of a failed switch);
  - the balancer the live names left is **restricted only after** clients can
    no longer be using it: the alias TTL plus its connection draining (or
    deregistration delay) after the switch's ``bluegreen:out-of-traffic-since``
    mark on its group, the same wait as ``clean``'s. ``clean`` restricts it
    after its drain wait; ``deploy``, ``clean`` and ``init`` restrict it when
    that time has passed. Until then ``status`` says it is still open, and
    until when.

  Security groups rather than listener rules, so that the same mechanism works
  on classic and application load balancers, refuses before any listener sees
  the request, and the state sits in the balancers' descriptions that every
  command reads anyway (no extra call to know it).

- **One ALB** (``lb`` strategy on ALB): the roles never move between
  balancers. The staging rule (host ``*-staging.DOMAIN``) gets a ``source-ip``
  condition, and a rule right after it answers other sources asking for the
  staging names with 403. The live names take the default action: never
  affected.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bluegreen.clock import iso, parse_iso
from bluegreen.model import Access, Balancer, Group, Site
from bluegreen.model.naming import TAG_OUT_OF_TRAFFIC, Names
from bluegreen.plan.steps import Context, Step

if TYPE_CHECKING:
    from bluegreen.aws import Gateway
    from bluegreen.model.settings import Settings

WEB_PORTS = (80, 443)
ANYWHERE = ("0.0.0.0/0", "::/0")
REFUSAL_OFFSET = 1  # the refusal rule's priority: right after the staging rule's
REFUSAL_BODY = "staging is restricted to the site's staging_cidrs"


def web_rules(cidrs: tuple[str, ...], why: str) -> list[dict[str, Any]]:
    """Inbound rules admitting ports 80 and 443 from ``cidrs``."""
    v4 = [{"CidrIp": c, "Description": why} for c in cidrs if ":" not in c]
    v6 = [{"CidrIpv6": c, "Description": why} for c in cidrs if ":" in c]
    return [
        {"IpProtocol": "tcp", "FromPort": p, "ToPort": p, "IpRanges": v4, "Ipv6Ranges": v6}
        for p in WEB_PORTS
    ]


def admitted(group: dict[str, Any], port: int = 80) -> set[str]:
    """The CIDR ranges a described security group admits on ``port``."""
    out: set[str] = set()
    for perm in group.get("IpPermissions", []):
        proto = perm.get("IpProtocol")
        lo, hi = perm.get("FromPort", 0), perm.get("ToPort", 65535)
        if proto not in ("tcp", "-1") or (proto == "tcp" and not lo <= port <= hi):
            continue
        out |= {r["CidrIp"] for r in perm.get("IpRanges", [])}
        out |= {r["CidrIpv6"] for r in perm.get("Ipv6Ranges", [])}
    return out


def opened_groups(access: Access, groups: tuple[str, ...]) -> tuple[str, ...]:
    """The balancer's groups with the public group in place of the staging one."""
    assert access.public
    return (*(g for g in groups if g not in (access.staging, access.public)), access.public)


def restricted_groups(access: Access, groups: tuple[str, ...]) -> tuple[str, ...]:
    """The balancer's groups with the staging group in place of the public one."""
    assert access.staging
    return (*(g for g in groups if g not in (access.staging, access.public)), access.staging)


@dataclass(frozen=True)
class OpenBalancer(Step):
    """Let anyone reach a load balancer on the web ports: composed before the
    live names move to it. One call; the groups come from the snapshot taken
    under the lock (the public group in place of the staging one)."""

    balancer: str
    kind: str
    arn: str | None
    groups: tuple[str, ...]  # the security groups it gets

    def describe(self) -> str:
        return f"open {self.balancer} to everyone (it is about to take the live names)"

    def apply(self, ctx: Context) -> str:
        ctx.gw.set_balancer_security_groups(self.kind, self.balancer, self.arn, self.groups)
        return f"security groups {', '.join(self.groups)}"


@dataclass(frozen=True)
class RestrictBalancer(Step):
    """Limit a load balancer in the staging role to the staging ranges, not
    before ``not_before`` (alias TTL plus draining after the live names left
    it). Before that time it changes nothing and says until when. Guard: it
    reads the live names first and leaves the balancer open if any of them
    points at it."""

    balancer: str
    kind: str
    arn: str | None
    groups: tuple[str, ...]  # the security groups it gets
    not_before: float
    target: str  # the balancer's bare DNS name, as alias records name it
    zone_id: str  # the public zone
    live_fqdns: tuple[str, ...]
    wait: bool = False  # sleep until ``not_before`` (clean, right after its own drain wait)

    def describe(self) -> str:
        return (
            f"limit {self.balancer} to the staging ranges (its clients are gone at "
            f"{iso(self.not_before)})"
        )

    def apply(self, ctx: Context) -> str:
        gw = ctx.gw
        now = gw.clock.now()
        if now < self.not_before and self.wait:
            gw.clock.sleep(self.not_before - now)
        elif now < self.not_before:
            return f"not yet: open to everyone until {iso(self.not_before)}"
        from bluegreen.model.naming import bare

        for per_name in gw.records_for(self.zone_id, self.live_fqdns):
            for r in per_name:
                at = r.get("AliasTarget")
                if at and bare(at["DNSName"]) == self.target and int(r.get("Weight", 1)) > 0:
                    ctx.reporter.warn(
                        f"{self.balancer} takes live names ({r['Name']}): left open to everyone"
                    )
                    return "left open: a live name points at it"
        gw.set_balancer_security_groups(self.kind, self.balancer, self.arn, self.groups)
        return f"security groups {', '.join(self.groups)}"


def draining_timeout(gw: Gateway, s: Settings, b: Balancer) -> float:
    """``drain`` when set, else the balancer's connection-draining timeout
    (classic) or its target group's deregistration delay (ALB)."""
    if s.drain is not None:
        return float(s.drain)
    if b.kind == "alb" and b.target_group_arn:
        value = gw.target_group_attribute(
            b.target_group_arn, "deregistration_delay.timeout_seconds"
        )
        return float(value) if value else 300.0
    return float(gw.classic_draining_timeout(b.name))


# -- planning (pure) ---------------------------------------------------------------
def open_before_traffic(site: Site, b: Balancer | None) -> tuple[Step, ...]:
    """Before the live names move to ``b``: open it, unless it is open already."""
    acc = site.access
    if b is None or acc is None or acc.public is None or site.layout != "pair":
        return ()
    if acc.opened(b):
        return ()
    return (OpenBalancer(b.name, b.kind, b.arn, opened_groups(acc, b.security_groups)),)


def out_of_traffic_since(groups: tuple[Group, ...]) -> float:
    """When the live names last left the newest of ``groups`` (0: never, or
    no group: nothing to drain)."""
    since = 0.0
    for g in groups:
        text = g.tags.get(TAG_OUT_OF_TRAFFIC)
        if text:
            try:
                since = max(since, parse_iso(text))
            except ValueError:
                since = float("inf")  # unreadable: never assume it is drained
    return since


def restriction_due(site: Site, staging: Balancer, drain: float) -> float | None:
    """When the staging balancer may be restricted (epoch seconds), or None
    when there is nothing to restrict (not configured, or restricted already)."""
    from bluegreen.plan.strategies.base import ALIAS_TTL

    acc = site.access
    if acc is None or acc.staging is None or site.layout != "pair" or acc.restricted(staging):
        return None
    if any(r.target == staging.target and r.weight != 0 for r in site.public):
        return None  # live names still point at it (a weighted shift)
    since = out_of_traffic_since(site.groups_behind(staging))
    return since + ALIAS_TTL + drain if since else 0.0


def restrict_when_drained(
    site: Site, live: Balancer | None, staging: Balancer | None, drain: float
) -> tuple[Step, ...]:
    due = None if staging is None or live is None else restriction_due(site, staging, drain)
    if due is None or staging is None or site.public_zone is None or site.access is None:
        return ()
    return (
        RestrictBalancer(
            staging.name,
            staging.kind,
            staging.arn,
            restricted_groups(site.access, staging.security_groups),
            due,
            staging.target,
            site.public_zone.id,
            site.names.live_fqdns,
        ),
    )


def describe(site: Site, live: Balancer | None, staging: Balancer | None) -> dict[str, Any]:
    """For ``status``: who may reach staging."""
    if site.layout == "shared":
        sources = sorted({c for r in site.routes for c in r.staging_sources})
        return {"state": f"restricted to {', '.join(sources)}" if sources else "open to everyone"}
    acc = site.access
    if acc is None or staging is None:
        return {"state": "open to everyone"}
    if acc.restricted(staging):
        state = "restricted to staging_cidrs"
    else:
        since = out_of_traffic_since(site.groups_behind(staging))
        state = (
            f"open to everyone since the switch at {iso(since)}: restricted once clients "
            "have left (alias TTL plus draining), by the next deploy, clean or init"
            if since
            else "open to everyone: restricted by the next deploy, clean or init"
        )
    out: dict[str, Any] = {"state": state}
    if live is not None and acc.restricted(live):
        out["state"] += (
            "; the LIVE balancer is limited to staging_cidrs: run any command to open it"
        )
    return out


def names_of(names: Names) -> tuple[str, str]:
    return names.public_web_group, names.staging_web_group
