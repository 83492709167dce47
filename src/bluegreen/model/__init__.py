"""The site as observed: an immutable snapshot of everything bluegreen manages.

``observe.observe`` builds a ``Site`` from describe/list calls; ``checks``
derives roles (live, staging) and problems from it; planners turn a ``Site``
and an intent into steps. Nothing here talks to AWS.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from bluegreen.model.naming import Names, bare

HEALTHY = "healthy"
# An instance registered in a load balancer whose health was not read: a
# switch reads the health only of the balancer about to take the live names
# (``observe``, ``names_first``); the other one's registrations come with its
# description.
NOT_READ = "not read"


@dataclass(frozen=True)
class Instance:
    id: str
    lifecycle: str  # the ASG's lifecycle state: Pending, InService, Terminating...
    health: str  # the ASG's health status: Healthy or Unhealthy


@dataclass(frozen=True)
class Group:
    """An autoscaling group of the site: one release."""

    name: str
    ami: str | None
    version: str | None
    desired: int
    min_size: int
    max_size: int
    launch_template: tuple[str, str] | None  # (name, version)
    launch_configuration: str | None
    load_balancers: tuple[str, ...]
    target_groups: tuple[str, ...]
    instances: tuple[Instance, ...]
    tags: Mapping[str, str] = field(default_factory=dict)
    created: float = 0.0

    @property
    def launch_source(self) -> str:
        if self.launch_template:
            return f"launch template {self.launch_template[0]} v{self.launch_template[1]}"
        return f"launch configuration {self.launch_configuration}"

    def attached_to(self, balancer: Balancer) -> bool:
        if balancer.kind == "classic":
            return balancer.name in self.load_balancers
        return balancer.target_group_arn is not None and (
            balancer.target_group_arn in self.target_groups
        )


@dataclass(frozen=True)
class Balancer:
    """A load balancer of the site, classic or application, with its targets' health.

    For an application load balancer ``target_group_arn`` is the target group
    that carries this environment's instances.
    """

    name: str
    kind: str  # "classic" or "alb"
    dns_name: str
    zone_id: str
    arn: str | None = None
    target_group_arn: str | None = None
    health: Mapping[str, str] = field(default_factory=dict)  # instance id -> healthy/...
    listener_arns: tuple[str, ...] = ()
    vpc_id: str = ""
    subnets: tuple[str, ...] = ()
    security_groups: tuple[str, ...] = ()

    @property
    def target(self) -> str:
        return bare(self.dns_name)

    def healthy_ids(self) -> frozenset[str]:
        return frozenset(i for i, s in self.health.items() if s == HEALTHY)


@dataclass(frozen=True)
class Alias:
    """One alias A record."""

    fqdn: str
    target: str  # bare DNS name of the alias target
    target_zone_id: str
    weight: int | None = None
    set_id: str | None = None
    evaluate_health: bool = False
    dns_name: str = ""  # the alias target exactly as Route 53 holds it

    def record(self) -> dict[str, object]:
        """The record set as Route 53 holds it: what a conditional DELETE names."""
        rrs: dict[str, object] = {
            "Name": self.fqdn,
            "Type": "A",
            "AliasTarget": {
                "HostedZoneId": self.target_zone_id,
                "DNSName": self.dns_name or self.target,
                "EvaluateTargetHealth": self.evaluate_health,
            },
        }
        if self.set_id is not None:
            rrs["SetIdentifier"] = self.set_id
            rrs["Weight"] = self.weight
        return rrs


@dataclass(frozen=True)
class Zone:
    id: str
    name: str
    private: bool


@dataclass(frozen=True)
class Route:
    """One listener of the shared application load balancer (``lb`` strategy on
    ALB): where its default action forwards (the live names' traffic) and where
    its staging rule forwards (requests for the staging names).

    Target groups are given by ARN with their weights (one pair unless weighted).
    """

    listener_arn: str
    port: int
    live: tuple[tuple[str, int], ...]
    rule_arn: str | None = None
    staging: tuple[tuple[str, int], ...] = ()
    # the staging rule's source-ip condition (``staging_cidrs``); empty: anyone
    staging_sources: tuple[str, ...] = ()

    def live_arns(self) -> frozenset[str]:
        return frozenset(a for a, w in self.live if w > 0)

    def staging_arns(self) -> frozenset[str]:
        return frozenset(a for a, w in self.staging if w > 0)


@dataclass(frozen=True)
class Access:
    """The two security groups that limit who reaches staging
    (``staging_cidrs``, two load balancers): ``public`` admits the web ports
    from anywhere and goes on the balancer in the live role, ``staging`` admits
    them from the staging ranges only and goes on the other. Ids; None when
    the group does not exist."""

    public: str | None
    staging: str | None

    def opened(self, b: Balancer) -> bool:
        """``b`` carries the group admitting the web ports from anywhere."""
        return self.public is not None and self.public in b.security_groups

    def restricted(self, b: Balancer) -> bool:
        """``b`` admits the web ports from the staging ranges only."""
        return self.staging is not None and self.staging in b.security_groups and not self.opened(b)


@dataclass(frozen=True)
class Site:
    names: Names
    public_zone: Zone | None
    private_zone: Zone | None
    public: tuple[Alias, ...]  # alias records of the live host names
    private: tuple[Alias, ...]  # alias records of the staging host names
    balancers: tuple[Balancer, ...]
    groups: tuple[Group, ...]
    observed_at: float = 0.0
    extra: Mapping[str, str] = field(default_factory=dict)
    # The shared application load balancer (``lb`` strategy on ALB): its
    # description as a Balancer and its listeners. ``balancers`` then holds
    # one Balancer per target group, the two environments.
    layout: str = "pair"  # "pair": two load balancers; "shared": one ALB, two target groups
    shared: Balancer | None = None
    routes: tuple[Route, ...] = ()
    # The private zone's records of the live host names (split-horizon DNS:
    # inside the VPC the live names resolve in the private zone only). They
    # mirror the public zone's, and every traffic move moves them with it.
    private_live: tuple[Alias, ...] = ()
    # False when the public zone was not read (``observe``'s ``names_first``):
    # ``public`` then holds copies of ``private_live``, which the switch's
    # conditional change batch checks against the public zone itself.
    public_observed: bool = True
    # staging_cidrs on two load balancers: the groups that move with the roles
    access: Access | None = None

    def balancer(self, name: str) -> Balancer | None:
        return next((b for b in self.balancers if b.name == name), None)

    def balancer_for_target(self, target: str) -> Balancer | None:
        t = bare(target)
        return next((b for b in self.balancers if b.target == t), None)

    def groups_behind(self, balancer: Balancer) -> tuple[Group, ...]:
        return tuple(g for g in self.groups if g.attached_to(balancer))

    def group(self, name: str) -> Group | None:
        return next((g for g in self.groups if g.name == name), None)

    def other(self, balancer: Balancer) -> Balancer | None:
        return next((b for b in self.balancers if b.name != balancer.name), None)
