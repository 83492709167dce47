"""The commands as a library: observe, check, plan, then act.

Each changing operation:

1. takes the domain's lock (not in ``--dry-run``);
2. observes the site (``observe``) and assesses it (``checks``);
3. asks the strategy for a plan; the planner refuses (``StateError``) when the
   world is not in the shape the command needs, before anything changes;
4. runs the plan with an ``Executor`` (or prints it with ``DryRunExecutor``);
5. records the outcome in the site's history.

The command line (``cli``) is a thin layer over these functions; library users
call them directly and handle ``BluegreenError``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from bluegreen import history, lock
from bluegreen.aws import Gateway
from bluegreen.aws.base import Hook
from bluegreen.checks import Assessment, assess, healthy_count
from bluegreen.clock import Clock, iso
from bluegreen.config import Settings
from bluegreen.errors import BluegreenError, PermissionDenied
from bluegreen.executor import DryRunExecutor, Executor, Plan
from bluegreen.model import Balancer, Group, Site
from bluegreen.naming import TAG_OUT_OF_TRAFFIC, Names
from bluegreen.observe import layout, observe
from bluegreen.steps import Context
from bluegreen.strategies import CleanIntent, DeployIntent, get
from bluegreen.strategies.base import with_pin_repairs
from bluegreen.ui import Reporter


@dataclass
class Session:
    """Everything one command needs: settings, names, the gateway, the reporter."""

    settings: Settings
    names: Names
    gw: Gateway
    reporter: Reporter
    dry_run: bool = False

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


def snapshot(sess: Session) -> tuple[Site, Assessment]:
    s = sess.settings
    shared = layout(s.strategy, s.load_balancer) == "shared"
    # Not configured: classic load balancers, else application ones if the site has those.
    kind = "auto" if s.sources.get("load_balancer", "default") == "default" else s.load_balancer
    site = observe(sess.gw, sess.names, kind, shared=shared)
    return site, assess(site)


# -- status ---------------------------------------------------------------------
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
    with ThreadPoolExecutor(max_workers=1) as pool:
        f_lock = pool.submit(lock.read, sess.gw, sess.names)  # while observing
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
    return {
        "domain": sess.names.domain,
        "strategy": sess.settings.strategy,
        "live": _env(site, a.live, a.live_group),
        "staging": _env(site, a.staging, a.staging_group),
        "weights": dict(a.weights),
        "lock": held,
        "problems": problems,
    }


# -- changing commands ----------------------------------------------------------
@contextmanager
def _locked(sess: Session, command: str) -> Iterator[lock.DomainLock | None]:
    if sess.dry_run:
        yield None
        return
    lk = lock.DomainLock(sess.gw, sess.names, command, sess.reporter)
    with lk:
        yield lk


def _execute(
    sess: Session, plan: Plan, before: Assessment, lk: lock.DomainLock | None = None
) -> dict[str, Any]:
    r = sess.reporter
    r.info(plan.summary)
    for note in plan.notes:
        r.info(f"note: {note}")
    if not plan.steps:
        return _result(plan, "nothing to do", [])
    if lk is not None and not sess.dry_run:
        # Crash safety: a command that takes over this lock after a kill
        # finishes this plan instead of starting another (see ``lock``).
        lk.record_intent(
            {
                "command": plan.command,
                **plan.facts,
                "groups_before": {
                    "live": before.live_group.name if before.live_group else None,
                    "staging": before.staging_group.name if before.staging_group else None,
                },
            }
        )
    executor = DryRunExecutor(sess.ctx) if sess.dry_run else Executor(sess.ctx)
    started = sess.gw.clock.now()
    outcome = "dry run" if sess.dry_run else "succeeded"
    error: BluegreenError | None = None
    try:
        executor.run_plan(plan)
    except BluegreenError as e:
        outcome, error = "failed", e
        raise
    except BaseException:  # Ctrl-C
        outcome = "interrupted"
        raise
    finally:
        if not sess.dry_run:
            _record(sess, plan, before, started, outcome, error)
    return _result(plan, outcome, [o for _, o in executor.done])


def _result(plan: Plan, outcome: str, outcomes: list[str]) -> dict[str, Any]:
    return {
        "command": plan.command,
        "result": outcome,
        "summary": plan.summary,
        "steps": plan.describe(),
        "outcomes": outcomes,
        "notes": list(plan.notes),
        **{k: v for k, v in plan.facts.items()},
    }


def _record(
    sess: Session,
    plan: Plan,
    before: Assessment,
    started: float,
    outcome: str,
    error: BluegreenError | None,
) -> None:
    entry = {
        "command": plan.command,
        "who": lock.whoami(),
        "started": started,
        "when": iso(started),
        "duration": round(sess.gw.clock.now() - started, 3),
        "result": outcome,
        "summary": plan.summary,
        "live_before": before.live_group.version if before.live_group else None,
        "live_ami_before": before.live_group.ami if before.live_group else None,
        "strategy": sess.settings.strategy,
        "facts": plan.facts,
        "error": error.message if error else None,
    }
    try:
        history.record(sess.gw, sess.names, entry)
    except BluegreenError as e:  # history must never fail a deployment
        sess.reporter.warn(f"could not record history: {e.message}")


def deploy(
    sess: Session,
    *,
    ami: str | None = None,
    version: str | None = None,
    replace: bool = False,
    capacity: int | None = None,
) -> dict[str, Any]:
    from bluegreen import images

    release = images.resolve(sess.gw, sess.names, ami=ami, version=version)
    with _locked(sess, "deploy") as lk:
        site, a = snapshot(sess)
        strategy = get(sess.settings.strategy)
        plan = strategy.deploy(site, a, sess.settings, DeployIntent(release, replace, capacity))
        return _execute(sess, with_pin_repairs(site, plan), a, lk)


GATED_STRATEGIES = ("dns", "lb", "weighted")  # strategies whose switch runs --check/--check-url


def switch(sess: Session, *, rollback: bool = False) -> dict[str, Any]:
    command = "rollback" if rollback else "switch"
    s = sess.settings
    if (s.checks or s.check_urls) and s.strategy not in GATED_STRATEGIES:
        from bluegreen.errors import InputError

        raise InputError(  # a gate that would be skipped must not look as if it ran
            f"checks (--check, --check-url) are not supported by the {s.strategy} strategy",
            fix=f"use the {' or '.join(GATED_STRATEGIES)} strategy, or remove the checks",
        )
    with _locked(sess, command) as lk:
        site, a = snapshot(sess)
        done = _finished_before_kill(lk, command, a)
        if done is not None:
            return _execute(sess, done, a)
        plan = get(sess.settings.strategy).switch(site, a, sess.settings, rollback=rollback)
        return _execute(sess, with_pin_repairs(site, plan), a, lk)


def _finished_before_kill(lk: lock.DomainLock | None, command: str, a: Assessment) -> Plan | None:
    """An empty plan when this lock replaced the lock of the same command,
    killed after its work was done: the release that was in staging when it
    planned is live now and the one that was live is in staging. Running it
    again must not swap back. A switch stopped half way (for any strategy) does
    not look like that and is finished by the strategy's own plan."""
    prev = lk.taken_over if lk else None
    if prev is None or prev.command != command:
        return None
    before = prev.intended().get("groups_before")
    if not isinstance(before, dict) or before.get("staging") is None:
        return None
    if a.live is None or a.staging is None or a.live_group is None:
        return None
    now_staging = a.staging_group.name if a.staging_group else None
    if a.live_group.name != before["staging"] or now_staging != before.get("live"):
        return None
    return Plan(
        command,
        (),
        summary=f"the interrupted {command} had finished: {a.live_group.name} is live "
        f"({a.live.name}) and {now_staging or 'nothing'} is in staging ({a.staging.name})",
        facts={"live": a.live.name, "staging": a.staging.name, "resumed": True},
    )


def clean(sess: Session, *, force: bool = False) -> dict[str, Any]:
    with _locked(sess, "clean") as lk:
        site, a = snapshot(sess)
        doomed = {a.staging_group.name} if a.staging_group else set()
        if force:  # clean --force also deletes every group behind staging or behind no balancer
            doomed = {
                g.name for g in site.groups if not (a.live is not None and g.attached_to(a.live))
            }
        groups = sess.gw.all_groups()  # AWS has no "groups using template X" filter
        used = {
            g["AutoScalingGroupName"]: {
                src
                for src in (
                    (g.get("LaunchTemplate") or {}).get("LaunchTemplateName"),
                    g.get("LaunchConfigurationName"),
                )
                if src
            }
            for g in groups
        }
        in_use = frozenset(src for name, srcs in used.items() if name not in doomed for src in srcs)
        intent = CleanIntent(
            in_use, force, now=sess.gw.clock.now(), drain=_draining_timeout(sess, a, force)
        )
        plan = get(sess.settings.strategy).clean(site, a, sess.settings, intent)
        if not plan.steps:  # nothing in staging: what did an interrupted run leave?
            plan = _with_leftovers(sess, plan, lk, frozenset().union(*used.values()))
        return _execute(sess, with_pin_repairs(site, plan), a, lk)


def _with_leftovers(
    sess: Session, plan: Plan, lk: lock.DomainLock | None, used: frozenset[str]
) -> Plan:
    """With staging empty, add the deletion of launch templates (and
    configurations) of the site that no group uses: what a clean killed
    between deleting a group and its template leaves, or a deploy abandoned
    after creating its template. (Not looked for when staging holds a
    release: that clean costs no extra call.)

    Launch templates are found by the site's tag; launch configurations carry
    no tags, so only the one named in the intent of a killed clean is found."""
    from bluegreen.naming import TAG_DOMAIN
    from bluegreen.steps import DeleteLaunchConfiguration, DeleteLaunchTemplate, Step

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
    prev = lk.taken_over if lk else None
    meant = prev.intended().get("release") if prev and prev.command == "clean" else None
    if (
        isinstance(meant, str)
        and meant not in used
        and meant not in planned
        and sess.gw.launch_configurations([meant])
    ):
        extra.append(DeleteLaunchConfiguration(meant))
    if not extra:
        return plan
    names = ", ".join(getattr(s, "name", "") for s in extra)
    summary = f"delete what no group uses any more: {names}"
    if plan.steps:
        summary = f"{plan.summary}; {summary}"
    return dataclasses.replace(plan, steps=plan.steps + tuple(extra), summary=summary)


def _draining_timeout(sess: Session, a: Assessment, force: bool) -> float:
    """The staging load balancer's connection-draining time (classic) or its
    target group's deregistration delay (ALB), or the ``drain`` setting when
    given. Read only when clean may have to wait for it."""
    g, b = a.staging_group, a.staging
    if force or g is None or b is None or TAG_OUT_OF_TRAFFIC not in g.tags:
        return 0.0
    if sess.settings.drain is not None:
        return sess.settings.drain
    if b.kind == "alb" and b.target_group_arn:
        value = sess.gw.target_group_attribute(
            b.target_group_arn, "deregistration_delay.timeout_seconds"
        )
        return float(value) if value else 300.0
    return float(sess.gw.classic_draining_timeout(b.name))


def init(sess: Session) -> dict[str, Any]:
    from bluegreen.provision import Provisioner

    report = Provisioner(sess.gw, sess.settings, sess.reporter, dry_run=sess.dry_run).run()
    if not report.created:
        sess.reporter.info(f"{sess.names.domain} is set up already: nothing changed")
    return {"domain": sess.names.domain, "dry_run": sess.dry_run, **report.to_json()}


def history_entries(sess: Session, limit: int) -> list[dict[str, Any]]:
    return history.entries(sess.gw, sess.names, limit)


def unlock(sess: Session, lock_id: str) -> dict[str, Any]:
    info = lock.break_lock(sess.gw, sess.names, lock_id)
    doing = info.intended()
    if doing:  # the intent goes with the lock: say what the killed command was doing
        sess.reporter.warn(
            f"the {info.command} that held it had planned: "
            + ", ".join(f"{k}={v}" for k, v in sorted(doing.items()) if k != "groups_before")
            + "; run `bluegreen status` before running it again"
        )
    return {
        "unlocked": info.lock_id,
        "holder": info.describe(sess.gw.clock.now()),
        "was_doing": doing,
    }


# -- images (docs/IMAGES.md) -------------------------------------------------------
def bake(
    sess: Session,
    *,
    version: str | None = None,
    base: bool = False,
    base_ami: str | None = None,
    scripts: Sequence[str] = (),
    template: str | None = None,
    packer: str | None = None,
) -> dict[str, Any]:
    from bluegreen import bake as baking

    return baking.bake(
        sess.gw,
        sess.settings,
        sess.reporter,
        version=version,
        base=base,
        base_ami=base_ami,
        scripts=scripts,
        template_file=template,
        packer=packer,
        dry_run=sess.dry_run,
    )


def images_list(sess: Session) -> list[dict[str, Any]]:
    from bluegreen import images

    site, a = snapshot(sess)
    return images.listing(sess.gw, sess.names, site, a)


def images_prune(sess: Session, keep: int) -> dict[str, Any]:
    from bluegreen import images
    from bluegreen.bake import record_history

    with _locked(sess, "images prune"):
        started = sess.gw.clock.now()
        site, a = snapshot(sess)
        result = images.prune(
            sess.gw, sess.names, site, a, keep, sess.reporter, dry_run=sess.dry_run
        )
        if not sess.dry_run:
            facts = {"keep": keep, "removed": result["removed"]}
            record_history(sess.gw, sess.names, "prune", started, result, facts, None)
        return result


def iam_policy(
    settings: Settings,
    purpose: str = "operate",
    *,
    account_id: str | None = None,
    lookup: bool = True,
    reporter: Reporter | None = None,
    hooks: Sequence[Hook] = (),
) -> dict[str, Any]:
    """The least-privilege policy for ``purpose``. With ``lookup``, the account
    (STS) and the hosted zone ids (Route 53) are read through the gateway; what
    cannot be read stays a wildcard, with a note."""
    from bluegreen import iam_policy as policies

    names = settings.names()
    r = reporter or Reporter()
    account, zones, region = account_id or "*", (None, None), settings.region
    if lookup:
        gw = open_session(settings, r, hooks=hooks).gw
        region = gw.region
        try:
            if account_id is None:
                account = gw.account_id()
            found = gw.find_zones(names.zone_name)
            zones = (
                next((z["Id"].split("/")[-1] for z in found if not _private(z)), None),
                next((z["Id"].split("/")[-1] for z in found if _private(z)), None),
            )
        except BluegreenError as e:
            r.warn(f"could not look up the account and hosted zones ({e.message}): using wildcards")
    if account == "*":
        r.info("note: the account id is a wildcard; pass --account-id to pin it")
    if None in zones:
        r.info("note: a hosted zone id is a wildcard (not created yet, or not readable)")
    target = policies.Target(names, region, account, zones[0], zones[1])
    return policies.build(settings, purpose, target)


def _private(zone: dict[str, Any]) -> bool:
    return bool(zone.get("Config", {}).get("PrivateZone"))
