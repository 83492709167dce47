"""What one command works with: its settings, names, the gateway and the
reporter; and the snapshot of the site every command starts from."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bluegreen.aws import Gateway
from bluegreen.aws.base import Hook
from bluegreen.clock import Clock
from bluegreen.lifecycle.lock import DomainLock
from bluegreen.model import Site
from bluegreen.model.naming import Names
from bluegreen.model.settings import Settings
from bluegreen.observe import layout, observe
from bluegreen.observe.checks import Assessment, assess
from bluegreen.plan.executor import Plan
from bluegreen.plan.steps import Context
from bluegreen.ui import Reporter


@dataclass
class Session:
    """Everything one command needs: settings, names, the gateway, the reporter."""

    settings: Settings
    names: Names
    gw: Gateway
    reporter: Reporter
    dry_run: bool = False
    # Asked before a destructive plan runs (clean, teardown); None: no question.
    confirm: Callable[[Plan], bool] | None = None
    entries: list[dict[str, Any]] = field(default_factory=list)  # recorded this run
    # The domain's lock while a changing command holds it (crash-safety intent).
    lock: DomainLock | None = None

    @property
    def ctx(self) -> Context:
        return Context(self.gw, self.reporter, self.gw.region)


def open_session(
    settings: Settings,
    reporter: Reporter | None = None,
    *,
    dry_run: bool = False,
    clock: Clock | None = None,
    hooks: Sequence[Hook] = (),
) -> Session:
    names = settings.names()
    gw = Gateway(
        region=settings.region,
        profile=settings.profile,
        endpoint_url=settings.endpoint_url,
        clock=clock,
        hooks=hooks,
        region_from_profile=settings.sources.get("region", "default") == "default",
        endpoint_credentials=settings.endpoint_credentials,
    )
    return Session(settings, names, gw, reporter or Reporter(), dry_run)


def snapshot(sess: Session, *, moving: bool = False) -> tuple[Site, Assessment]:
    """The site and its assessment. ``moving``: only what a traffic move of
    the ``dns`` strategy decides on (``observe``)."""
    s = sess.settings
    shared = layout(s.strategy, s.load_balancer) == "shared"
    # Not configured: classic load balancers, else application ones if the site has those.
    kind = "auto" if s.sources.get("load_balancer", "default") == "default" else s.load_balancer
    # weighted: a shift in progress resumes at the public zone's weight, so
    # that zone is read then (the strategy asks for it when the private zone
    # shows weights), and after a killed run (whose first batch may have
    # reached the public zone only).
    taken_over = sess.lock is not None and sess.lock.taken_over is not None
    moving = (
        moving
        and not shared
        and (s.strategy == "dns" or (s.strategy == "weighted" and not taken_over))
    )
    # Not configured: the layout too is read from what exists (one ALB: the lb strategy's).
    site = observe(
        sess.gw, sess.names, kind, shared=None if kind == "auto" else shared, moving=moving
    )
    return site, assess(site)
