"""``deploy``: put a release (an image) in staging, as a new group behind the
staging load balancer (or, for ``rolling``, the staging group updated in place)."""

from __future__ import annotations

import dataclasses
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bluegreen.commands.additions import completed
from bluegreen.images import catalog as images
from bluegreen.lifecycle import lock, run
from bluegreen.lifecycle.session import Session, snapshot
from bluegreen.observe.checks import Assessment
from bluegreen.plan.executor import Plan
from bluegreen.plan.strategies import DeployIntent, Release, get


def deploy(
    sess: Session,
    *,
    ami: str | None = None,
    version: str | None = None,
    replace: bool = False,
    capacity: int | None = None,
) -> dict[str, Any]:
    with ThreadPoolExecutor(max_workers=1) as pool:
        # The image is looked up while the lock is taken; an unknown one is
        # refused once the lock is held (and released: nothing changed).
        found = pool.submit(images.resolve, sess.gw, sess.names, ami=ami, version=version)
        # and the instances' security group, which the launch template names
        # (adopted groups are given as their ids: nothing to look up)
        if not sess.names.adopted.security_groups:
            sess.gw.read_security_group_ahead(sess.names.security_group)

        def start() -> dict[str, Any]:
            release = found.result()
            say_if_untested(sess, release)
            return {"release": release.version or release.ami}

        result = run.run(
            sess,
            "deploy",
            lambda: plan_deploy(sess, found.result(), replace=replace, capacity=capacity),
            start=start,
        )
    result["image_tested"] = found.result().tested
    return result


def say_if_untested(sess: Session, release: Release) -> None:
    warning = images.untested_warning(release)
    if warning:
        sess.reporter.warn(warning)


def plan_deploy(
    sess: Session, release: Release, *, replace: bool = False, capacity: int | None = None
) -> tuple[Plan, Assessment]:
    """Observe, check and plan the deploy of ``release``."""
    site, a = snapshot(sess)
    strategy = get(sess.settings.strategy)
    nonce = deploy_nonce(sess.lock, release)
    plan = strategy.deploy(
        site, a, sess.settings, DeployIntent(release, replace, capacity, nonce=nonce)
    )
    facts = {"version": release.version, "ami": release.ami, **plan.facts, "nonce": nonce}
    return completed(sess, site, a, dataclasses.replace(plan, facts=facts), restrict=True), a


def deploy_nonce(lk: lock.DomainLock | None, release: Release) -> str:
    """The deploy's own nonce (its client tokens derive from it): the killed
    deploy's of the same release when this one took over its lock, so a
    creation it had sent is recognised by EC2 as the same request; else new."""
    prev = lk.taken_over if lk else None
    if prev is not None and prev.command == "deploy":
        intended = prev.intended()
        nonce = intended.get("nonce")
        if isinstance(nonce, str) and nonce and intended.get("ami") == release.ami:
            return nonce
    return uuid.uuid4().hex
