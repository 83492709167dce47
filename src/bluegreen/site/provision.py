"""``bluegreen init``: make the site's set-up what it should be, on every run.

A reconciler, not a create-if-missing script: for every resource of the site
(``bluegreen.site``: network, security groups, identity, load balancers, DNS)
it reads what exists by name and tag, compares it with the whole desired
state and makes the smallest change. A create whose response was lost, or a
run killed between two calls, is just another starting state: the next run
finds what was made and finishes it. The report says what was created, what
was repaired (and what was different) and what was already right; with
``dry_run`` the same lists say what would be, and nothing changes.

The site's kind (classic or application load balancers; for ALBs the ``lb``
strategy's single load balancer or two) is read from what exists: init never
adds a second kind, and refuses (exit 2, nothing changed) when asked for
another kind than the site has.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bluegreen.aws import Gateway
from bluegreen.errors import InputError, StateError
from bluegreen.model.settings import Settings
from bluegreen.observe import layout, site_zones
from bluegreen.site import adopted, adopted_lbs, alb, classic, dns, identity, network, security
from bluegreen.site.identity import instance_policy
from bluegreen.site.network import SUBNET_CIDRS, VPC_CIDR
from bluegreen.site.outcome import Ctx, InitReport, Recorder
from bluegreen.ui import Reporter

__all__ = ["SUBNET_CIDRS", "VPC_CIDR", "InitReport", "Provisioner", "instance_policy", "site_kind"]
LAYOUT_TAG = "bluegreen:layout"


def site_kind(gw: Gateway, names: Any) -> tuple[str, str] | None:
    """(kind, layout) of the site as it exists, or None when it has no load
    balancer yet: ``classic``/``pair``, ``alb``/``pair`` or ``alb``/``shared``."""
    found_classic, found_albs = gw.parallel(
        lambda: gw.classic_load_balancers(names.load_balancers),
        lambda: gw.albs(names.load_balancers),
    )
    if found_classic and found_albs:
        raise StateError(
            f"{names.domain} has both classic and application load balancers",
            found=", ".join(sorted(lb["LoadBalancerName"] for lb in [*found_classic, *found_albs])),
            fix="delete the kind the site does not use (`bluegreen status` shows which one "
            "the live names point at), then run `bluegreen init` again",
        )
    if found_classic:
        return "classic", "pair"
    if not found_albs:
        return None
    if any(lb["LoadBalancerName"] == names.load_balancer(2) for lb in found_albs):
        return "alb", "pair"
    # One ALB: the layout its creation recorded; a site made before the tag
    # existed with one ALB is the lb strategy's.
    tags = gw.alb_tags(str(found_albs[0]["LoadBalancerArn"]))
    return "alb", tags.get(LAYOUT_TAG, "shared")


class Provisioner:
    def __init__(self, gw: Gateway, s: Settings, reporter: Reporter, *, dry_run: bool) -> None:
        self.gw = gw
        self.s = s
        self.n = s.names()
        self.rec = Recorder(reporter, dry_run=dry_run)

    def _kind(self) -> tuple[str, bool]:
        """The kind and whether the layout is the single ALB: the site's own, or
        what the settings ask for when it has none. Refuses a change of kind."""
        s = self.s
        exists = site_kind(self.gw, self.n)
        asked_kind = (
            s.load_balancer if s.sources.get("load_balancer", "default") != "default" else None
        )
        asked_strategy = s.strategy if s.sources.get("strategy", "default") != "default" else None
        if exists is None:
            return s.load_balancer, layout(s.strategy, s.load_balancer) == "shared"
        kind, lay = exists
        described = {
            ("classic", "pair"): "two classic load balancers",
            ("alb", "pair"): "two application load balancers",
            ("alb", "shared"): "one application load balancer with two target groups "
            "(the lb strategy's)",
        }[exists]
        if asked_kind is not None and asked_kind != kind:
            raise InputError(
                f"{self.n.domain} has {described}; init does not change a site's kind "
                f"(asked: --load-balancer {asked_kind})",
                found=f"load_balancer = {asked_kind} ({s.sources.get('load_balancer')})",
                fix=f"run init without --load-balancer (or with --load-balancer {kind}); to "
                "change kinds, `bluegreen teardown` the site and init it again",
            )
        if kind == "alb" and asked_strategy is not None:
            wanted = layout(asked_strategy, "alb")
            if wanted != lay:
                raise InputError(
                    f"{self.n.domain} has {described}; the {asked_strategy} strategy needs "
                    + ("one ALB with two target groups" if wanted == "shared" else "two ALBs"),
                    found=f"strategy = {asked_strategy} ({s.sources.get('strategy')})",
                    fix="use a strategy that fits the site's layout (lb for one ALB; dns, "
                    "rolling or weighted for two), or tear the site down and init it again",
                )
        return kind, lay == "shared"

    def run(self) -> InitReport:
        kind, shared = self._kind()
        c = Ctx(self.gw, self.s, self.n, self.rec)
        # Reads only, and every refusal they allow, before the first change:
        # adopted resources unfit to use, a region with no ordinary
        # availability zone for a missing subnet, several hosted zones of the
        # domain. A refusal then leaves AWS as it was.
        found = adopted.check(c, kind, shared)
        ours = None if found.vpc_id else network.survey(c)
        zones = site_zones(self.gw, self.n, then=", then run `bluegreen init` again")
        net = adopted.network(c, found) if ours is None else network.reconcile(c, ours)
        if found.balancers:
            groups = adopted.instance_group(c, net.vpc_id, found)
        else:
            groups = security.reconcile(c, net.vpc_id, shared=shared)
        if not self.n.adopted.instance_profile:
            identity.reconcile(c)
        if self.s.key_pair:
            identity.key_pair(c)
        if found.balancers:
            lbs = adopted_lbs.balancers(c, found)
        elif kind == "alb":
            lbs = alb.reconcile(
                c, net.vpc_id, net.subnets, groups.lb, shared=shared, access=groups.access
            )
        else:
            lbs = classic.reconcile(c, net.subnets, groups.lb, groups.access)
        security.finish(c, groups)
        dns.table(c)
        pub, priv = dns.zones(c, net.vpc_id, zones)
        dns.records(c, pub, priv, lbs, shared)
        if not found.balancers:  # adopted ones: refused with staging_cidrs (site.adopted)
            self._staging_access(kind, shared, net.vpc_id, groups.lb)
        return self.rec.report

    def _ensure(self, what: str, found: object, create: Callable[[], object]) -> object:
        """``access_setup``'s way of asking: found, or create (with the recorder)."""
        if found:
            self.rec.ok(what)
            return found
        return self.rec.create(what, create)

    def _staging_access(
        self, kind: str, shared: bool, vpc_id: str | None, base_group: str | None
    ) -> None:
        """Who may reach staging (``staging_cidrs``, ``bluegreen.site.access``):
        last, once the records say which balancer is live. The load balancers'
        own group is the one whose world rules the restriction takes over."""
        from bluegreen.site.access import AccessSetup

        n, gw, s = self.n, self.gw, self.s
        setup = AccessSetup(gw, s, n, self._ensure, dry_run=self.rec.dry_run, drain=self._drain)
        if shared:
            albs = gw.albs([n.load_balancer(1)])
            if albs:
                setup.run_shared(
                    tuple(ls["ListenerArn"] for ls in gw.listeners(albs[0]["LoadBalancerArn"]))
                )
            return
        if not vpc_id:
            setup.run_pair(None, base_group, None)
            return
        from bluegreen.observe import observe

        if not s.staging_cidrs and not gw.security_groups_named(
            vpc_id, [n.public_web_group, n.staging_web_group]
        ):
            return  # never restricted: nothing to lift (one read)
        site = observe(gw, n, kind)
        setup.run_pair(vpc_id, base_group, site)

    def _drain(self, site: Any, b: Any) -> float:
        from bluegreen.plan.access import draining_timeout

        return draining_timeout(self.gw, self.s, b)
