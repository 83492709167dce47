"""``init``'s part of ``staging_cidrs`` (see ``bluegreen.plan.access``): bring the
site to the setting, in an order that never cuts a live client.

With ranges set, on two load balancers:

1. the groups ``SLUG-web-public`` (web ports from anywhere) and
   ``SLUG-web-staging`` (web ports from the ranges; extra ranges revoked);
2. the live balancer gets the public group **first**;
3. only then does the site's own group stop admitting the web ports from
   anywhere (the load balancers still reach the instances: the group admits
   the instance port from itself);
4. the staging balancer gets the staging group, once clients can no longer be
   using it (``access.restriction_due``); before that init says until when.

Without ranges, on a site that had them: the site's own group admits the web
ports from anywhere again, then both balancers drop the two groups (which are
kept, empty of members, until ``teardown``).

On one ALB (``lb``): the refusal rule (403 for the staging names) is created
before the staging rule gets its ``source-ip`` condition, and removed after the
condition is.

Every step reads what exists first, so a crash or a lost response anywhere is
finished by running init again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bluegreen.aws import Gateway
from bluegreen.aws.elb import forward_targets, rule_hosts
from bluegreen.errors import InputError
from bluegreen.model import Access, Balancer, Site
from bluegreen.model.naming import Names
from bluegreen.model.settings import Settings
from bluegreen.observe import layout
from bluegreen.plan import access

Ensure = Callable[[str, object, Callable[[], object]], object]

# Condition values per ALB rule: 5, one of them the staging host pattern.
# https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-limits.html
SHARED_ALB_RANGES_MAX = 4


def check_settings(s: Settings) -> None:
    """Refuse before init changes anything (exit 2)."""
    if (
        layout(s.strategy, s.load_balancer) == "shared"
        and len(s.staging_cidrs) > SHARED_ALB_RANGES_MAX
    ):
        raise InputError(
            f"staging_cidrs: {len(s.staging_cidrs)} ranges; with the lb strategy on an "
            f"application load balancer at most {SHARED_ALB_RANGES_MAX} fit in the staging rule",
            found="AWS allows 5 condition values per listener rule, one is the staging host name",
            fix="merge neighbouring ranges into wider ones",
        )


class AccessSetup:
    def __init__(
        self,
        gw: Gateway,
        s: Settings,
        names: Names,
        ensure: Ensure,
        *,
        dry_run: bool,
        drain: Callable[[Site, Balancer], float],
    ) -> None:
        self.gw, self.s, self.n = gw, s, names
        self.ensure = ensure
        self.dry_run = dry_run
        self.drain = drain

    # -- two load balancers ----------------------------------------------------------
    def run_pair(self, vpc_id: str | None, base_group: str | None, site: Site | None) -> None:
        gw, n, s = self.gw, self.n, self.s
        found = (
            {g["GroupName"]: g for g in gw.security_groups_named(vpc_id, access.names_of(n))}
            if vpc_id
            else {}
        )
        if not s.staging_cidrs:
            if found and site is not None:
                self._lift(site, base_group, found)
            return
        tags = n.tags()
        ids: dict[str, str | None] = {}
        for name, cidrs, why in (
            (n.public_web_group, access.ANYWHERE, "live: anyone"),
            (n.staging_web_group, s.staging_cidrs, "staging: staging_cidrs"),
        ):
            g = found.get(name)

            def make(name: str = name, cidrs: tuple[str, ...] = cidrs, why: str = why) -> str:
                # a retry after a lost response finds the group (create_security_group)
                gid = gw.create_security_group(
                    str(vpc_id),
                    name,
                    f"bluegreen {why} on the web ports, for {n.domain}",
                    {**tags, "Name": name},
                )
                gw.authorize_ingress(gid, access.web_rules(cidrs, why))  # duplicates are fine
                return gid

            gid = self.ensure(
                f"security group {name} (80, 443 from {', '.join(cidrs)})",
                g and g["GroupId"],
                make,
            )
            ids[name] = str(gid) if gid else None
            if g:
                self._ranges(g, cidrs, why)
        if site is None or (self.dry_run and None in ids.values()):
            return
        acc = Access(ids[n.public_web_group], ids[n.staging_web_group])
        live, staging = self._roles(site)
        if live is not None and not acc.opened(live):
            self.ensure(
                f"{live.name} (live) open to everyone: group {n.public_web_group}",
                None,
                lambda: gw.set_balancer_security_groups(
                    live.kind, live.name, live.arn, access.opened_groups(acc, live.security_groups)
                ),
            )
        if base_group is not None and live is not None:
            # Once the site's own group stops admitting the web ports, every
            # balancer must carry the public or the staging group: one not
            # limited yet (staging whose clients may still use it, or roles
            # unclear) gets the public group first.
            for b in site.balancers:
                if b.name != live.name and not acc.opened(b) and not acc.restricted(b):

                    def open_(b: Balancer = b) -> None:
                        groups = access.opened_groups(acc, b.security_groups)
                        gw.set_balancer_security_groups(b.kind, b.name, b.arn, groups)

                    self.ensure(
                        f"{b.name} open to everyone until it is limited: group "
                        f"{n.public_web_group}",
                        None,
                        open_,
                    )
            self._close_base(base_group)
        if staging is None or acc.restricted(staging):
            if staging is not None:
                self.ensure(f"{staging.name} (staging) limited to staging_cidrs", True, lambda: 0)
            return
        site = _with_access(site, acc)
        due = access.restriction_due(site, staging, 0.0)
        if due:
            due = access.restriction_due(site, staging, self.drain(site, staging))
        now = gw.clock.now()
        if due is not None and due > now:
            from bluegreen.clock import iso

            self.ensure(
                f"{staging.name} (staging) limited to staging_cidrs: not before {iso(due)} "
                "(clients of the last switch may still use it); run init again after that, "
                "or deploy or clean",
                True,
                lambda: 0,
            )
            return
        self.ensure(
            f"{staging.name} (staging) limited to staging_cidrs: group {n.staging_web_group}",
            None,
            lambda: gw.set_balancer_security_groups(
                staging.kind,
                staging.name,
                staging.arn,
                access.restricted_groups(acc, staging.security_groups),
            ),
        )

    def _roles(self, site: Site) -> tuple[Balancer | None, Balancer | None]:
        from bluegreen.observe.checks import assess

        a = assess(site)
        if a.live is not None and a.staging is not None and a.live.name != a.staging.name:
            return a.live, a.staging
        return a.live, None  # roles unclear: open the live one only

    def _ranges(self, group: dict[str, Any], want: tuple[str, ...], why: str) -> None:
        """The group admits exactly ``want`` on the web ports."""
        have = access.admitted(group, 80) & access.admitted(group, 443)
        extra = tuple(
            sorted((access.admitted(group, 80) | access.admitted(group, 443)) - set(want))
        )
        missing = tuple(c for c in want if c not in have)
        gid = str(group["GroupId"])
        if missing:
            self.ensure(
                f"{group['GroupName']} admits {', '.join(missing)}",
                None,
                lambda: self.gw.authorize_ingress(gid, access.web_rules(missing, why)),
            )
        if extra:
            self.ensure(
                f"{group['GroupName']} no longer admits {', '.join(extra)}",
                None,
                lambda: self.gw.revoke_ingress(gid, _revocations(group, set(extra))),
            )

    def _close_base(self, base_group: str) -> None:
        """The site's own group stops admitting the web ports from anywhere,
        after the live balancer holds the public group (the caller's order)."""
        g = next(iter(self.gw.security_groups_by_id([base_group])), None)
        if g is None:
            return
        world = set(access.ANYWHERE)
        if not (access.admitted(g, 80) | access.admitted(g, 443)) & world:
            return

        def close() -> None:
            # the load balancers (members of this group) still reach the instances' port
            self.gw.authorize_ingress(base_group, instance_port_from_self(base_group))
            self.gw.revoke_ingress(base_group, _revocations(g, world))

        self.ensure(
            f"{g['GroupName']} no longer admits 80, 443 from anywhere (the live balancer's "
            f"{self.n.public_web_group} does)",
            None,
            close,
        )

    def _lift(self, site: Site, base_group: str | None, found: dict[str, Any]) -> None:
        """No ranges any more: everyone reaches both balancers again."""
        ids = {g["GroupId"] for g in found.values()}
        if base_group is not None:
            gid = base_group
            self.ensure(
                f"site group admits 80, 443 from anywhere ({gid})",
                None,
                lambda: self.gw.authorize_ingress(
                    gid, access.web_rules(access.ANYWHERE, "web from anywhere")
                ),
            )
        for b in site.balancers:
            keep = tuple(g for g in b.security_groups if g not in ids)
            if keep != b.security_groups and keep:
                self.ensure(
                    f"{b.name} without the staging_cidrs groups",
                    None,
                    lambda b=b, keep=keep: self.gw.set_balancer_security_groups(  # type: ignore[misc]
                        b.kind, b.name, b.arn, keep
                    ),
                )

    # -- one ALB -----------------------------------------------------------------------
    def run_shared(self, listener_arns: tuple[str, ...]) -> None:
        for arn in listener_arns:
            self._listener(arn)

    def _listener(self, listener_arn: str) -> None:
        from bluegreen.site.alb import STAGING_RULE_PRIORITY

        gw, n, want = self.gw, self.n, self.s.staging_cidrs
        pattern = n.staging_host_pattern
        rules = [r for r in gw.rules(listener_arn) if not r.get("IsDefault")]
        mine = [r for r in rules if pattern in rule_hosts(r)]
        rule = next((r for r in mine if forward_targets(r.get("Actions", []))), None)
        refusal = next((r for r in mine if refuses(r)), None)
        if rule is None:
            return  # init's own staging rule comes first (dry run, or a missing listener)
        from bluegreen.observe import source_ips

        host = {"Field": "host-header", "HostHeaderConfig": {"Values": [pattern]}}
        conditions: list[dict[str, Any]] = [host]
        if want:
            conditions.append({"Field": "source-ip", "SourceIpConfig": {"Values": list(want)}})
            self.ensure(
                f"listener rule: other sources asking for {pattern} get 403",
                refusal and refusal["RuleArn"],
                lambda: gw.create_rule(
                    listener_arn,
                    STAGING_RULE_PRIORITY + access.REFUSAL_OFFSET,
                    [host],
                    [refusal_action()],
                ),
            )
        rule_arn = str(rule["RuleArn"])
        have = set(source_ips(rule))
        self.ensure(
            f"staging rule {pattern}: "
            + (f"only from {', '.join(want)}" if want else "from anywhere"),
            have == set(want) or None,
            lambda: gw.set_rule_conditions(rule_arn, conditions),
        )
        if not want and refusal is not None:
            arn = str(refusal["RuleArn"])
            self.ensure(
                f"listener rule refusing {pattern} removed", None, lambda: gw.delete_rule(arn)
            )


def refusal_action() -> dict[str, Any]:
    return {
        "Type": "fixed-response",
        "FixedResponseConfig": {
            "StatusCode": "403",
            "ContentType": "text/plain",
            "MessageBody": access.REFUSAL_BODY,
        },
    }


def instance_port_from_self(group_id: str) -> list[dict[str, Any]]:
    """The instance port (80) from the group's own members: the load balancers."""
    return [
        {
            "IpProtocol": "tcp",
            "FromPort": 80,
            "ToPort": 80,
            "UserIdGroupPairs": [{"GroupId": group_id, "Description": "load balancers"}],
        }
    ]


def refuses(rule: dict[str, Any]) -> bool:
    """Whether a listener rule answers by itself (fixed-response: the rule
    refusing other sources) rather than forwarding."""
    return any(a.get("Type") == "fixed-response" for a in rule.get("Actions", []))


def _revocations(group: dict[str, Any], cidrs: set[str]) -> list[dict[str, Any]]:
    """The group's rules on the web ports that admit any of ``cidrs``, as
    ``revoke_security_group_ingress`` wants them."""
    out = []
    for perm in group.get("IpPermissions", []):
        if perm.get("IpProtocol") != "tcp" or perm.get("FromPort") not in access.WEB_PORTS:
            continue
        v4 = [{"CidrIp": r["CidrIp"]} for r in perm.get("IpRanges", []) if r["CidrIp"] in cidrs]
        v6 = [
            {"CidrIpv6": r["CidrIpv6"]}
            for r in perm.get("Ipv6Ranges", [])
            if r["CidrIpv6"] in cidrs
        ]
        if v4 or v6:
            out.append(
                {
                    "IpProtocol": "tcp",
                    "FromPort": perm["FromPort"],
                    "ToPort": perm["ToPort"],
                    "IpRanges": v4,
                    "Ipv6Ranges": v6,
                }
            )
    return out


def _with_access(site: Site, acc: Access) -> Site:
    from dataclasses import replace

    return replace(site, access=acc)
