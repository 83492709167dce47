"""Strategies: how a release reaches the live names. One small module each.

Every strategy plans with the same steps (``bluegreen.plan.steps``):

- ``dns``: alias record updating (the seed's approach, the default).
- ``rolling``: autoscaling group updating (a new launch template version, instances
  replaced one at a time).
- ``weighted``: canary shifting with weighted alias records, gated by health and alarms.
- ``lb``: autoscaling group switching behind fixed load balancers (or, on ALB,
  listener switching between two target groups).
"""

from __future__ import annotations

from typing import Protocol

from bluegreen.errors import InputError
from bluegreen.model import Site
from bluegreen.model.settings import Settings
from bluegreen.observe.checks import Assessment
from bluegreen.plan.executor import Plan
from bluegreen.plan.strategies.base import CleanIntent, DeployIntent, Release
from bluegreen.plan.strategies.dns import DnsStrategy
from bluegreen.plan.strategies.lb import LbStrategy
from bluegreen.plan.strategies.rolling import RollingStrategy
from bluegreen.plan.strategies.weighted import WeightedStrategy


class Strategy(Protocol):
    name: str

    def deploy(self, site: Site, a: Assessment, s: Settings, intent: DeployIntent) -> Plan: ...

    def switch(self, site: Site, a: Assessment, s: Settings, *, rollback: bool = False) -> Plan: ...

    def clean(self, site: Site, a: Assessment, s: Settings, intent: CleanIntent) -> Plan: ...


_STRATEGIES: dict[str, type[Strategy]] = {"dns": DnsStrategy}
_STRATEGIES["rolling"] = RollingStrategy
_STRATEGIES["weighted"] = WeightedStrategy
_STRATEGIES["lb"] = LbStrategy


def get(name: str) -> Strategy:
    cls = _STRATEGIES.get(name)
    if cls is None:
        raise InputError(
            f"strategy {name!r} is not available",
            fix=f"use one of: {', '.join(sorted(_STRATEGIES))}",
        )
    return cls()


__all__ = ["CleanIntent", "DeployIntent", "Release", "Strategy", "get"]
