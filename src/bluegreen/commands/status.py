"""``status``: what is live, what is in staging, since when and by whom, the
lock, and every problem found (drift, leftovers of an interrupted command)."""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from bluegreen.clock import iso
from bluegreen.errors import BluegreenError, PermissionDenied
from bluegreen.lifecycle import history, lock
from bluegreen.lifecycle.session import Session, snapshot
from bluegreen.model import Balancer, Group, Site
from bluegreen.model.adoption import ownership
from bluegreen.model.naming import TAG_DOMAIN, TAG_OUT_OF_TRAFFIC
from bluegreen.observe.checks import Assessment, healthy_count


def _env(site: Site, b: Balancer | None, g: Group | None) -> dict[str, Any] | None:
    if b is None:
        return None
    tg = b.target_group_arn.split("/")[-2] if b.target_group_arn else None
    return {
        "load_balancer": site.shared.name if site.shared else b.name,
        "target_group": tg,
        "dns_name": b.dns_name,
        "asg": g.name if g else None,
        "ami": g.ami if g else None,
        "version": g.version if g else None,
        "desired": g.desired if g else 0,
        "instances": len(g.instances) if g else 0,
        "healthy": healthy_count(b, g),
        "launch": g.launch_source if g else None,
        "out_of_traffic_since": g.tags.get(TAG_OUT_OF_TRAFFIC) if g else None,
    }


def status(sess: Session) -> dict[str, Any]:
    with ThreadPoolExecutor(max_workers=3) as pool:
        # while observing: the lock, the site's launch templates, its history
        f_lock = pool.submit(lock.read, sess.gw, sess.names)
        f_templates = pool.submit(sess.gw.launch_templates_tagged, TAG_DOMAIN, sess.names.domain)
        f_recent = pool.submit(_recent, sess)
        site, a = snapshot(sess)
    problems = list(a.problems)
    held = None
    try:
        info = f_lock.result()
    except PermissionDenied:
        raise
    except BluegreenError:
        info = None
        problems.append(f"the lock table {sess.names.lock_table} is missing: run `bluegreen init`")
    if info is not None:
        now = sess.gw.clock.now()
        held = {
            "lock_id": info.lock_id,
            "who": info.who,
            "host": info.host,
            "pid": info.pid,
            "command": info.command,
            "since": iso(info.since),
        }
        if info.stale(now):
            problems.append(f"a stale lock is held: {info.describe(now)}")
    recent = f_recent.result()
    since = _made_live(recent, a)
    if info is None:  # else the holder may be creating them right now
        problems += _leftovers(sess, site, f_templates, recent)
    return {
        "domain": sess.names.domain,
        "strategy": sess.settings.strategy,
        "live_since": since.get("when"),
        "made_live_by": since.get("who"),
        "made_live_with": since.get("command"),
        "live": _env(site, a.live, a.live_group),
        "staging": _env(site, a.staging, a.staging_group),
        "weights": dict(a.weights),
        "staging_access": _staging_access(site, a),
        "lock": held,
        "problems": problems,
        "resources": ownership(sess.names),  # adopted or bluegreen's
    }


def _recent(sess: Session) -> list[dict[str, Any]]:
    """The newest history entries (none when they cannot be read)."""
    try:
        return history.entries(sess.gw, sess.names, 100)
    except BluegreenError:
        return []


def _staging_access(site: Site, a: Assessment) -> dict[str, Any]:
    from bluegreen.plan import access

    return access.describe(site, a.live, a.staging)


def _made_live(entries: list[dict[str, Any]], a: Assessment) -> dict[str, Any]:
    """The newest successful switch, rollback or release that left the current
    live release live: when, by whom, with which command. Empty if unknown."""
    if a.live_group is None:
        return {}
    for e in entries:
        if (
            e.get("command") in ("switch", "rollback", "release")
            and e.get("result") == "succeeded"
            and e.get("live_group_after") == a.live_group.name
        ):
            return e
    return {}


def _leftovers(
    sess: Session, site: Site, templates: Future[list[str]], entries: list[dict[str, Any]]
) -> list[str]:
    """Launch templates and configurations of the site that no group of it
    uses: what a command stopped half way (a clean killed between deleting a
    group and its launch template) leaves. Templates are found by the site's
    tag; configurations carry no tags, so those named in history are looked
    up (at most 50, the API's limit per call) when the site is set up for
    launch configurations."""
    used = {g.launch_template[0] for g in site.groups if g.launch_template} | {
        g.launch_configuration for g in site.groups if g.launch_configuration
    }
    try:
        unused = [t for t in templates.result() if t not in used]
        named = {
            str(v)
            for e in entries
            for k, v in e.items()
            if v and (k.endswith(("_group_before", "_group_after")) or k == "release")
        }
        candidates = sorted(named - used - {g.name for g in site.groups})[:50]
        if not sess.settings.launch_configuration:  # (the operator's policy has no
            candidates = []  # autoscaling:DescribeLaunchConfigurations then: docs/SECURITY.md)
        configs = sess.gw.launch_configurations(candidates) if candidates else []
    except BluegreenError as e:
        return [f"could not look for launch templates left over: {e.message}"]
    out = [
        f"launch template {t} is left over, used by no group (a command was stopped half "
        "way): `bluegreen clean` deletes it"
        for t in sorted(unused)
    ]
    out += [
        f"launch configuration {name} is left over, used by no group (a command was stopped "
        "half way): delete it with `aws autoscaling delete-launch-configuration "
        f"--launch-configuration-name {name}`"
        for name in sorted(str(c["LaunchConfigurationName"]) for c in configs)
    ]
    return out
