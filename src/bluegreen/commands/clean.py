"""``clean``: delete the release in staging (its group, then its launch
template or configuration), after the draining time of the last switch; with
nothing in staging, what an interrupted command left behind."""

from __future__ import annotations

import dataclasses
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bluegreen.commands.additions import completed
from bluegreen.lifecycle import lock, run
from bluegreen.lifecycle.session import Session, snapshot
from bluegreen.model.naming import TAG_DOMAIN, TAG_OUT_OF_TRAFFIC
from bluegreen.observe.checks import Assessment
from bluegreen.plan.access import draining_timeout
from bluegreen.plan.executor import Plan
from bluegreen.plan.steps import DeleteLaunchConfiguration, DeleteLaunchTemplate, Step
from bluegreen.plan.strategies import CleanIntent, get


def clean(sess: Session, *, force: bool = False) -> dict[str, Any]:
    return run.run(sess, "clean", lambda: plan_clean(sess, force=force))


def launch_sources(group: dict[str, Any]) -> set[str]:
    """The launch template and configuration names an Auto Scaling group uses."""
    lt = (group.get("LaunchTemplate") or {}).get("LaunchTemplateName")
    return {str(src) for src in (lt, group.get("LaunchConfigurationName")) if src}


def in_use_elsewhere(sess: Session, doomed: set[str]) -> frozenset[str]:
    """Launch templates and configurations used by groups other than ``doomed``."""
    if not doomed:
        return frozenset()
    return frozenset(
        src
        for g in sess.gw.all_groups()
        if g["AutoScalingGroupName"] not in doomed
        for src in launch_sources(g)
    )


def plan_clean(sess: Session, *, force: bool = False) -> tuple[Plan, Assessment]:
    """Observe, check and plan the clean."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        # AWS has no "groups using template X" filter: every group, read while observing
        f_groups = pool.submit(sess.gw.all_groups)
        site, a = snapshot(sess)
        groups = f_groups.result()
    doomed = {a.staging_group.name} if a.staging_group else set()
    if force:  # clean --force also deletes every group behind staging or behind no balancer
        doomed = {g.name for g in site.groups if not (a.live is not None and g.attached_to(a.live))}
    used = {g["AutoScalingGroupName"]: launch_sources(g) for g in groups}
    in_use = frozenset(src for name, srcs in used.items() if name not in doomed for src in srcs)
    intent = CleanIntent(
        in_use, force, now=sess.gw.clock.now(), drain=_draining_timeout(sess, a, force)
    )
    plan = get(sess.settings.strategy).clean(site, a, sess.settings, intent)
    if not plan.steps:  # nothing in staging: what did an interrupted run leave?
        plan = _with_leftovers(sess, plan, sess.lock, frozenset().union(*used.values()))
    return completed(sess, site, a, plan, restrict=True), a


def _with_leftovers(
    sess: Session, plan: Plan, lk: lock.DomainLock | None, used: frozenset[str]
) -> Plan:
    """With staging empty, add the deletion of launch templates (and
    configurations) of the site that no group uses: what a clean killed
    between deleting a group and its template leaves, or a deploy abandoned
    after creating its template. (Not looked for when staging holds a
    release: that clean costs no extra call.)

    Launch templates are found by the site's tag. Launch configurations carry
    no tags: on a site that uses them (``launch_configuration``), every one
    whose name is a release name of the site (``SLUG-VERSION-AMI`` with its
    own image) and whose instance profile is the site's is found (one page
    per 100 configurations: AWS has no filter); elsewhere, the one named in
    the intent of a killed clean."""

    planned = {
        getattr(s, "name", None)
        for s in plan.steps
        if isinstance(s, DeleteLaunchTemplate | DeleteLaunchConfiguration)
    }
    extra: list[Step] = [
        DeleteLaunchTemplate(name)
        for name in sorted(sess.gw.launch_templates_tagged(TAG_DOMAIN, sess.names.domain))
        if name not in used and name not in planned
    ]
    meant = lk.resumes("clean").get("release") if lk else None
    configurations = _site_configurations(sess) if sess.settings.launch_configuration else []
    if (
        isinstance(meant, str)
        and meant not in configurations
        and sess.gw.launch_configurations([meant])
    ):
        configurations.append(meant)
    extra += [
        DeleteLaunchConfiguration(name)
        for name in sorted(configurations)
        if name not in used and name not in planned
    ]
    if not extra:
        return plan
    names = ", ".join(getattr(s, "name", "") for s in extra)
    summary = f"delete what no group uses any more: {names}"
    if plan.steps:
        summary = f"{plan.summary}; {summary}"
    return dataclasses.replace(plan, steps=plan.steps + tuple(extra), summary=summary)


def _site_configurations(sess: Session) -> list[str]:
    """The launch configurations of the site's releases: a release name of the
    site after their own image, for the site's instance profile."""
    n = sess.names
    return [
        str(lc["LaunchConfigurationName"])
        for lc in sess.gw.all_launch_configurations()
        if n.is_release(str(lc["LaunchConfigurationName"]), str(lc.get("ImageId", "")))
        and str(lc.get("IamInstanceProfile") or "").rsplit("/", 1)[-1] == n.instance_profile
    ]


def _draining_timeout(sess: Session, a: Assessment, force: bool) -> float:
    """The staging load balancer's connection-draining time (classic) or its
    target group's deregistration delay (ALB), or the ``drain`` setting when
    given. Read only when clean may have to wait for it."""
    g, b = a.staging_group, a.staging
    if force or g is None or b is None or TAG_OUT_OF_TRAFFIC not in g.tags:
        return 0.0
    return draining_timeout(sess.gw, sess.settings, b)
