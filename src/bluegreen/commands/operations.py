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
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any

from bluegreen.aws import Gateway
from bluegreen.aws.base import Hook
from bluegreen.clock import Clock, iso
from bluegreen.errors import (
    BluegreenError,
    InputError,
    Interrupted,
    PermissionDenied,
    RollbackFailed,
    RolledBack,
    StateError,
)
from bluegreen.lifecycle import history, lock
from bluegreen.lifecycle.notify import Notifier
from bluegreen.model import Balancer, Group, Site
from bluegreen.model.adoption import ownership
from bluegreen.model.naming import TAG_DOMAIN, TAG_OUT_OF_TRAFFIC, Names
from bluegreen.model.settings import Settings
from bluegreen.observe import layout, observe
from bluegreen.observe.checks import Assessment, assess, healthy_count
from bluegreen.plan.executor import DryRunExecutor, Executor, Plan
from bluegreen.plan.steps import WITH_FIRST_CHANGE, Context, RecordsChanged, SetAliases, Step
from bluegreen.plan.strategies import CleanIntent, DeployIntent, Release, get
from bluegreen.plan.strategies.base import with_pin_repairs
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
    # True while a composite command (release) runs the others: they neither
    # record history nor notify; the composite does both, once.
    inner: bool = False
    entries: list[dict[str, Any]] = field(default_factory=list)  # recorded this run
    # The domain's lock while a changing command holds it (crash-safety intent).
    lock: lock.DomainLock | None = None

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
    # weighted: a shift stopped between the public and the private batch of a
    # step is resumed at the public zone's weight, so it reads that zone.
    moving = moving and not shared and s.strategy == "dns"
    # Not configured: the layout too is read from what exists (one ALB: the lb strategy's).
    site = observe(
        sess.gw, sess.names, kind, shared=None if kind == "auto" else shared, moving=moving
    )
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
    with ThreadPoolExecutor(max_workers=2) as pool:
        f_lock = pool.submit(lock.read, sess.gw, sess.names)  # while observing
        f_templates = pool.submit(sess.gw.launch_templates_tagged, TAG_DOMAIN, sess.names.domain)
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
    recent = _recent(sess)
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


# -- changing commands ----------------------------------------------------------
@contextmanager
def _locked(sess: Session, command: str) -> Iterator[lock.DomainLock | None]:
    if sess.dry_run:
        yield None
        return
    lk = lock.DomainLock(sess.gw, sess.names, command, sess.reporter)
    with lk:
        sess.lock = lk
        try:
            yield lk
        finally:
            sess.lock = None


def _notifier(sess: Session) -> Notifier:
    import socket

    return Notifier(
        sess.settings.notify_url,
        sess.reporter,
        domain=sess.names.domain,
        who=lock.whoami(),
        host=socket.gethostname(),
    )


@contextmanager
def _notified(sess: Session, command: str, **start: Any) -> Iterator[Notifier]:
    """Send start, then success or failure (and rollback, for a check that
    undid a switch) events of ``command``. Silent in dry runs and inside a
    composite command."""
    n = _notifier(sess)
    if sess.dry_run or sess.inner:
        n.url = None

    def now() -> str:
        return iso(sess.gw.clock.now())

    n.send("start", command, now(), versions=start)
    try:
        yield n
    except BaseException as e:
        err = e if isinstance(e, BluegreenError) else None
        entry = sess.entries[-1] if sess.entries else {}
        result = "rolled back" if isinstance(e, RolledBack) else "failed"
        if entry.get("command") == command and entry.get("result") != "succeeded":
            result = entry["result"]
        if isinstance(e, RolledBack):
            n.send("rollback", command, now(), result=result, error=err and err.message)
        n.send(
            "failure",
            command,
            now(),
            result=result,
            error=err.message if err else type(e).__name__,
            summary=entry.get("summary"),
            versions={**start, **_versions_of(entry)},
        )
        raise
    entry = sess.entries[-1] if sess.entries else {}
    n.send(
        "success",
        command,
        now(),
        result=entry.get("result", "succeeded"),
        summary=entry.get("summary"),
        versions={**start, **_versions_of(entry)},
    )


_VERSION_KEYS = (
    "live_before",
    "live_ami_before",
    "staging_before",
    "staging_ami_before",
    "live_after",
    "live_ami_after",
    "staging_after",
    "staging_ami_after",
)


def _versions_of(entry: dict[str, Any]) -> dict[str, Any]:
    return {k: entry.get(k) for k in _VERSION_KEYS if k in entry}


def _side(a: Assessment | None, when: str) -> dict[str, Any]:
    """Versions, AMIs and group names of both environments, for history."""
    out: dict[str, Any] = {}
    for role in ("live", "staging"):
        g = getattr(a, f"{role}_group") if a else None
        out[f"{role}_{when}"] = g.version if g else None
        out[f"{role}_ami_{when}"] = g.ami if g else None
        out[f"{role}_group_{when}"] = g.name if g else None
    return out


def _derived_after(before: Assessment, plan: Plan) -> dict[str, Any] | None:
    """After a successful ``dns`` command the state follows from the plan, so
    history costs no extra AWS call: deploy puts the release in staging, a
    switch swaps the roles, clean empties staging. None when it does not follow."""
    Side = tuple[str | None, str | None, str | None]  # version, ami, group name

    def side(g: Group | None) -> Side:
        return (g.version, g.ami, g.name) if g else (None, None, None)

    live, staging = side(before.live_group), side(before.staging_group)
    f = plan.facts
    if plan.command == "deploy" and f.get("release"):
        staging = (_opt(f.get("version")), _opt(f.get("ami")), _opt(f["release"]))
    elif plan.command in ("switch", "rollback") and before.staging is not None:
        if f.get("live") != before.staging.name:
            return None
        live, staging = staging, live
    elif plan.command == "clean":
        staging = (None, None, None)
    else:
        return None
    out: dict[str, Any] = {}
    for role, (version, ami, name) in (("live", live), ("staging", staging)):
        out[f"{role}_after"] = version
        out[f"{role}_ami_after"] = ami
        out[f"{role}_group_after"] = name
    return out


def _opt(v: object) -> str | None:
    return None if v is None else str(v)


def _after(
    sess: Session, before: Assessment | None = None, plan: Plan | None = None
) -> dict[str, Any]:
    """The state after a command, for history: derived from the plan after a
    success of the ``dns`` strategy, else read again (after a failure that is
    when it matters most, and it is rare)."""
    if before is not None and plan is not None and sess.settings.strategy == "dns":
        derived = _derived_after(before, plan)
        if derived is not None:
            return derived
    try:
        _, a = snapshot(sess)
    except BluegreenError as e:
        sess.reporter.detail(f"could not read the state after the command: {e.message}")
        return _side(None, "after")
    return _side(a, "after")


def _check_confirmed(sess: Session, plan: Plan) -> None:
    if sess.dry_run or sess.confirm is None or not plan.steps:
        return
    if not sess.confirm(plan):
        raise InputError(
            f"{plan.command}: not confirmed; nothing was changed",
            fix="answer y to go ahead, or pass --yes",
        )


def _execute(
    sess: Session, plan: Plan, before: Assessment, lk: lock.DomainLock | None = None
) -> dict[str, Any]:
    r = sess.reporter
    r.info(plan.summary)
    for note in plan.notes:
        r.info(f"note: {note}")
    # The intent of an interrupted run of this command that this one resumes.
    if sess.inner:  # the composite command (release) keeps its own intent
        lk = None
    first = lk.resumes(plan.command, _target(plan)) if lk and not sess.dry_run else {}
    if not plan.steps:
        if first:  # killed before it recorded: the interrupted command is done now
            _record(sess, plan, before, first["started"], "succeeded", None, first, True)
        return _result(plan, "nothing to do", [])
    _check_confirmed(sess, plan)
    started = sess.gw.clock.now()
    intent: dict[str, Any] = {}
    ctx = sess.ctx
    if lk is not None and not sess.dry_run:
        # Crash safety: a command that takes over this lock after a kill
        # finishes this plan instead of starting another (see ``lock``); a
        # resumed run keeps the intent of the first one.
        mine = _intent(plan, before, started)
        if isinstance(plan.steps[0], SetAliases):
            # A traffic move: the intent matters only once the move is complete
            # (a takeover must not swap back a finished switch); one stopped
            # between its two change batches is recognised from the records.
            # So it is written while the first batch syncs, before the second:
            # no request before the first change but the lock and the reads.
            intent = first or mine
            held = lk
            ctx.facts[WITH_FIRST_CHANGE] = lambda: held.record_intent(mine)
        else:
            intent = lk.record_intent(mine)
        started = float(intent.get("started", started))
    executor = DryRunExecutor(ctx) if sess.dry_run else Executor(ctx)
    outcome = "dry run" if sess.dry_run else "succeeded"
    error: BluegreenError | None = None
    try:
        executor.run_plan(plan)
    except RecordsChanged as e:
        outcome, error = "failed", e
        if not executor.done:  # refused by Route 53 before anything changed
            outcome = "refused"
        raise
    except BluegreenError as e:
        outcome, error = "failed", e
        raise
    except BaseException as e:  # Ctrl-C, SIGTERM
        outcome, error = "interrupted", Interrupted(type(e).__name__)
        raise
    finally:
        if not sess.dry_run and outcome != "refused":
            _record(sess, plan, before, started, outcome, error, intent, bool(first))
    return _result(plan, outcome, [o for _, o in executor.done])


def _target(plan: Plan) -> str | None:
    """What a command acts on, beyond the site: the image (and version) a
    deploy puts in staging. A re-run resumes an interrupted run only of the
    same command and target."""
    if plan.command != "deploy":
        return None
    return f"{plan.facts.get('version') or ''}:{plan.facts.get('ami') or ''}"


def _intent(plan: Plan, before: Assessment, started: float) -> dict[str, Any]:
    """What a command records in its lock before it changes anything: enough
    for any later run that takes over after a kill to finish it and to record
    it in history once (same entry, same state before)."""
    return {
        "command": plan.command,
        "target": _target(plan),
        **plan.facts,
        "groups_before": {
            "live": before.live_group.name if before.live_group else None,
            "staging": before.staging_group.name if before.staging_group else None,
        },
        "started": started,
        "history_key": history.key(started),
        "before": _side(before, "before"),
    }


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


def _entry(
    sess: Session,
    command: str,
    before: Assessment | None,
    started: float,
    outcome: str,
    error: BaseException | None,
    summary: str,
    plan: Plan | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """One history record: who, when, the command, versions and AMIs of both
    environments before and after, the result and the duration."""
    import socket

    entry: dict[str, Any] = {
        "command": command,
        "who": lock.whoami(),
        "host": socket.gethostname(),
        "started": started,
        "when": iso(started),
        "duration": round(sess.gw.clock.now() - started, 3),
        "result": outcome,
        "summary": summary,
        "strategy": sess.settings.strategy,
        "error": (error.message if isinstance(error, BluegreenError) else str(error))
        if error
        else None,
        **_side(before, "before"),
        **extra,
    }
    entry.update(_after(sess, before, plan if outcome == "succeeded" else None))
    entry["duration"] = round(sess.gw.clock.now() - started, 3)
    return entry


def _save(sess: Session, entry: dict[str, Any], sk: str | None = None) -> None:
    sess.entries.append(entry)
    if sess.inner:
        return
    if sess.lock is not None and sess.lock.held:
        # Written with the release of the lock, in one transaction.
        sess.lock.record_on_release(history.item(sess.gw, sess.names, entry, sk))
        return
    try:
        history.record(sess.gw, sess.names, entry, sk)
    except BluegreenError as e:  # history must never fail a deployment
        sess.reporter.warn(f"could not record history: {e.message}")


def _record(
    sess: Session,
    plan: Plan,
    before: Assessment,
    started: float,
    outcome: str,
    error: BluegreenError | None,
    intent: dict[str, Any] | None = None,
    resumed: bool = False,
) -> None:
    """Record the command in history. With the ``intent`` of its lock, under
    the intent's history key and with the state before the first run: a
    command finished by a re-run after a kill is recorded once, as itself."""
    if sess.inner:  # the composite command records itself
        return
    intent = intent or {}
    entry = _entry(
        sess, plan.command, before, started, outcome, error, plan.summary, plan, facts=plan.facts
    )
    _save_as_first(sess, entry, intent, resumed)


def _save_as_first(
    sess: Session, entry: dict[str, Any], intent: dict[str, Any], resumed: bool
) -> None:
    """Save ``entry`` under the history key of the lock ``intent``; for a run
    that resumed a killed one, with the state that the first run saw before."""
    if resumed and isinstance(intent.get("before"), dict):
        entry.update(intent["before"])
        entry["resumed"] = True
    key = intent.get("history_key")
    _save(sess, entry, key if isinstance(key, str) else None)


def deploy(
    sess: Session,
    *,
    ami: str | None = None,
    version: str | None = None,
    replace: bool = False,
    capacity: int | None = None,
) -> dict[str, Any]:
    from bluegreen.images import catalog as images

    release = images.resolve(sess.gw, sess.names, ami=ami, version=version)
    _say_if_untested(sess, release)
    with _locked(sess, "deploy"), _notified(sess, "deploy", release=release.version or release.ami):
        result = _deploy(sess, release, replace=replace, capacity=capacity)
    result["image_tested"] = release.tested
    return result


def _say_if_untested(sess: Session, release: Release) -> None:
    from bluegreen.images import catalog as images

    warning = images.untested_warning(release)
    if warning:
        sess.reporter.warn(warning)


def _deploy(
    sess: Session, release: Release, *, replace: bool = False, capacity: int | None = None
) -> dict[str, Any]:
    """deploy without the lock (the caller holds it)."""
    site, a = snapshot(sess)
    strategy = get(sess.settings.strategy)
    nonce = _deploy_nonce(sess.lock, release)
    plan = strategy.deploy(
        site, a, sess.settings, DeployIntent(release, replace, capacity, nonce=nonce)
    )
    facts = {"version": release.version, "ami": release.ami, **plan.facts, "nonce": nonce}
    plan = _with_access(sess, site, a, dataclasses.replace(plan, facts=facts), restrict=True)
    return _execute(sess, with_pin_repairs(site, plan), a, sess.lock)


def _deploy_nonce(lk: lock.DomainLock | None, release: Release) -> str:
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


GATED_STRATEGIES = ("dns", "lb", "weighted")  # strategies whose switch runs --check/--check-url


def _refuse_skipped_gates(s: Settings) -> None:
    if (s.checks or s.check_urls) and s.strategy not in GATED_STRATEGIES:
        from bluegreen.errors import InputError

        raise InputError(  # a gate that would be skipped must not look as if it ran
            f"checks (--check, --check-url) are not supported by the {s.strategy} strategy",
            fix=f"use the {' or '.join(GATED_STRATEGIES)} strategy, or remove the checks",
        )


def switch(sess: Session, *, rollback: bool = False) -> dict[str, Any]:
    command = "rollback" if rollback else "switch"
    _refuse_skipped_gates(sess.settings)
    with _locked(sess, command), _notified(sess, command):
        return _switch(sess, rollback=rollback)


def _switch_plan(sess: Session, *, rollback: bool = False) -> tuple[Plan, Assessment]:
    """Observe what the move decides on (``snapshot(moving=True)``: the public
    zone is checked by the change batch itself) and plan. Where that refuses,
    observe everything and plan again: a refusal always comes from the whole
    picture (e.g. a switch stopped between its two zones, which only the
    public zone shows, is finished rather than refused)."""
    command = "rollback" if rollback else "switch"
    strategy = get(sess.settings.strategy)
    site, a = snapshot(sess, moving=True)
    for full in (site.public_observed, True):
        if full and not site.public_observed:
            site, a = snapshot(sess)
        done = _finished_before_kill(sess.lock, command, a)
        if done is not None:
            return done, a
        try:
            plan = strategy.switch(site, a, sess.settings, rollback=rollback)
        except StateError:
            if full:
                raise
            continue
        return with_pin_repairs(site, _with_access(sess, site, a, plan, restrict=False)), a
    raise AssertionError("unreachable")  # pragma: no cover


def _switch(sess: Session, *, rollback: bool = False) -> dict[str, Any]:
    """switch without the lock (the caller holds it). When Route 53 refuses
    the first change batch (the public zone is not as the private zone said),
    the whole site is observed: the refusal then says what is wrong, as the
    planner says it."""
    plan, a = _switch_plan(sess, rollback=rollback)
    try:
        return _execute(sess, plan, a, sess.lock)
    except RecordsChanged as e:
        site, full = snapshot(sess)
        get(sess.settings.strategy).switch(site, full, sess.settings, rollback=rollback)
        raise e  # the site looks right now: someone changed the records meanwhile


def _finished_before_kill(lk: lock.DomainLock | None, command: str, a: Assessment) -> Plan | None:
    """An empty plan when this lock carries on a run of the same command,
    killed after its work was done (and maybe its re-runs too): the release
    that was in staging when the first run planned is live now and the one
    that was live is in staging. Running it again must not swap back. A switch
    stopped half way (for any strategy) does not look like that and is
    finished by the strategy's own plan."""
    before = lk.resumes(command).get("groups_before") if lk else None
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
    with _locked(sess, "clean"), _notified(sess, "clean"):
        return _clean(sess, force=force)


def _in_use_elsewhere(sess: Session, doomed: set[str]) -> frozenset[str]:
    """Launch templates and configurations used by groups other than ``doomed``."""
    if not doomed:
        return frozenset()
    return frozenset(
        src
        for g in sess.gw.all_groups()
        if g["AutoScalingGroupName"] not in doomed
        for src in (
            (g.get("LaunchTemplate") or {}).get("LaunchTemplateName"),
            g.get("LaunchConfigurationName"),
        )
        if src
    )


def _clean(sess: Session, *, force: bool = False) -> dict[str, Any]:
    """clean without the lock (the caller holds it)."""
    site, a = snapshot(sess)
    doomed = {a.staging_group.name} if a.staging_group else set()
    if force:  # clean --force also deletes every group behind staging or behind no balancer
        doomed = {g.name for g in site.groups if not (a.live is not None and g.attached_to(a.live))}
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
        plan = _with_leftovers(sess, plan, sess.lock, frozenset().union(*used.values()))
    plan = _with_access(sess, site, a, plan, restrict=True)
    return _execute(sess, with_pin_repairs(site, plan), a, sess.lock)


def _with_access(sess: Session, site: Site, a: Assessment, plan: Plan, *, restrict: bool) -> Plan:
    """``staging_cidrs`` (``bluegreen.plan.access``): a live balancer found limited
    to the staging ranges is opened first, whatever the command; with
    ``restrict`` (deploy, clean), a staging balancer still open after a switch
    is limited at the end, when clients can no longer be using it: now, or
    after the plan's own drain wait (clean's, which waits for the same time)."""
    from bluegreen.plan import access
    from bluegreen.plan.steps import Wait

    if site.access is None or site.layout != "pair":
        return plan
    first = access.open_before_traffic(site, a.live)
    last: tuple[Step, ...] = ()
    if restrict and a.staging is not None and a.live is not None and a.staging != a.live:
        due = access.restriction_due(site, a.staging, 0.0)
        if due is not None:
            drain = access.draining_timeout(sess.gw, sess.settings, a.staging) if due else 0.0
            last = access.restrict_when_drained(site, a.live, a.staging, drain)
            waits = any(isinstance(st, Wait) for st in plan.steps)
            if waits:  # clean: the same wait, to the second (tags keep whole seconds)
                last = tuple(
                    dataclasses.replace(st, wait=True)
                    if isinstance(st, access.RestrictBalancer)
                    else st
                    for st in last
                )
            elif any(
                isinstance(st, access.RestrictBalancer) and st.not_before > sess.gw.clock.now()
                for st in last
            ):
                sess.reporter.info(
                    f"note: {a.staging.name} stays open to everyone until clients of the last "
                    "switch have left; the next deploy, clean or init after that limits it"
                )
                last = ()
    if not first and not last:
        return plan
    summary = plan.summary if plan.steps else "limit staging to staging_cidrs"
    return dataclasses.replace(plan, steps=first + plan.steps + last, summary=summary)


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
    from bluegreen.plan.steps import DeleteLaunchConfiguration, DeleteLaunchTemplate

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


# -- release: deploy, checks, switch, [wait, clean] under one lock ---------------
def _checks_before_switch(sess: Session, release: Release) -> None:
    """Seam for the checks run against staging before traffic moves (none yet
    beyond the traffic guard that switch applies itself)."""


def _checks_after_switch(sess: Session, release: Release) -> None:
    """Seam for the checks run against the live names after the switch: the
    new release must be live and every instance of it healthy."""
    from bluegreen.plan.strategies.base import require_serving

    site, a = snapshot(sess)
    if a.live is None or a.live_group is None or not _runs(a.live_group, release):
        raise StateError(
            f"release: {release.name} is not live after the switch",
            found=f"live: {a.live_group.name if a.live_group else 'nothing'}",
            fix="someone may have changed the site at the same time; run `bluegreen status`",
        )
    require_serving(site, a.live, a.live_group, "release")


def release(
    sess: Session,
    *,
    ami: str | None = None,
    version: str | None = None,
    replace: bool = False,
    capacity: int | None = None,
    clean_after: float | None = None,
) -> dict[str, Any]:
    """deploy, check, switch and (with ``clean_after``) wait and clean, holding
    the domain's lock once for the whole release.

    Any failure before the point of no return puts the site back the way it
    was before the release (see README, "One-command releases"):

    - the switch is undone if it happened, even half way (the switch plan's own
      undo steps: the live names back to the old live load balancer, the
      staging names back to staging);
    - the new release is deleted if this release created it (a release that
      was already in staging before is left there);
    - a previous staging release that ``--replace`` deleted is deployed again
      (same image, version, capacity and launch kind), so the quick rollback
      path the operator had before is restored.

    The point of no return is the start of the clean: once the previous
    release is being deleted there is nothing to go back to, and a failure
    then leaves the new release live and says so.
    """
    from bluegreen.images import catalog as images
    from bluegreen.plan.steps import Wait

    _refuse_skipped_gates(sess.settings)
    if clean_after is None:
        clean_after = sess.settings.clean_after
    rel = images.resolve(sess.gw, sess.names, ami=ami, version=version)
    _say_if_untested(sess, rel)
    label = rel.version or rel.ami
    if sess.dry_run:
        result = _deploy(sess, rel, replace=replace, capacity=capacity)
        then = ["switch"]
        if clean_after is not None:
            then.append(f"wait {clean_after:.0f}s, then clean the previous release")
        result["command"] = "release"
        result["notes"] = [*result["notes"], "then: " + ", ".join(then)]
        return result

    with _locked(sess, "release"), _notified(sess, "release", release=label) as notifier:
        started = sess.gw.clock.now()
        site, before = snapshot(sess)
        # A release killed (maybe more than once) after its switch: finish it
        # from there (its intent says what it had created); one stopped between
        # the switch's two batches finishes the switch first.
        first = sess.lock.resumes("release", rel.name) if sess.lock else {}
        half = before.staging is None and before.live is not None
        switched = bool(first) and (
            half or (before.live_group is not None and _runs(before.live_group, rel))
        )
        # rolling keeps one group per environment for good and updates it in
        # place: there is no new group to delete, nor an old one to restore.
        fixed = sess.settings.strategy == "rolling"
        created = site.group(rel.name) is None and not fixed
        if first:
            created = bool(first.get("created"))
        old = before.staging_group
        old_staging = old if old is not None and old.name != rel.name and not fixed else None
        if switched:
            old_staging = None  # the release is live: nothing of staging to restore
        if old_staging is not None and not replace:
            raise StateError(
                f"release: staging ({before.staging.name if before.staging else '?'}) already "
                f"holds release {old_staging.version or old_staging.ami} ({old_staging.name})",
                fix="pass --replace to release over it (it is deployed again if the release "
                "fails), clean it first (`bluegreen clean`), or switch it live",
            )
        intent = first
        if sess.lock is not None and not first:
            intent = sess.lock.record_intent(
                {
                    **_intent(Plan("release", (), facts={"release": rel.name}), before, started),
                    "target": rel.name,
                    "created": created,
                }
            )
        started = float(intent.get("started", started))
        phases: list[dict[str, Any]] = []
        phase = "deploy"
        switch_plan: Plan | None = None
        sess.inner = True
        try:
            if not switched:
                phases.append(_deploy(sess, rel, replace=replace, capacity=capacity))
                phase = "checks before switch"
                _checks_before_switch(sess, rel)
            phase = "switch"
            if not switched or half:
                switch_plan, a = _switch_plan(sess)
                phases.append(_execute(sess, switch_plan, a))
            phase = "checks after switch"
            _checks_after_switch(sess, rel)
            if clean_after is not None:
                phase = "wait before clean"
                Executor(sess.ctx).run(
                    [Wait(clean_after, f"the previous release stays ready for {clean_after:.0f}s")]
                )
                phase = "checks before clean"
                _checks_after_switch(sess, rel)
        except BaseException as e:
            sess.inner = False
            undone = _undo_release(sess, rel, created, old_staging, switch_plan, notifier)
            _finish_release(
                sess, rel, before, started, phases, phase, e, undone, (intent, bool(first))
            )
            raise  # unreachable: _finish_release raises
        if clean_after is not None:
            phase = "clean"
            try:
                # Not forced: clean waits for whatever is left of the draining
                # time (none, after a --clean-after at least that long).
                phases.append(_clean(sess))
            except BaseException as e:
                sess.inner = False
                _save_as_first(
                    sess,
                    _entry(
                        sess,
                        "release",
                        before,
                        started,
                        "failed",
                        e,
                        _summary(rel, phases),
                        phase=phase,
                        release=rel.name,
                        version=rel.version,
                        ami=rel.ami,
                    ),
                    intent,
                    bool(first),
                )
                if isinstance(e, BluegreenError):
                    e.fix = (
                        f"{label} is live; only the clean of the previous release failed. "
                        f"Run `bluegreen clean` to finish. {e.fix or ''}"
                    ).strip()
                raise
        sess.inner = False
        entry = _entry(
            sess,
            "release",
            before,
            started,
            "succeeded",
            None,
            _summary(rel, phases),
            release=rel.name,
            version=rel.version,
            ami=rel.ami,
            cleaned=clean_after is not None,
        )
        _save_as_first(sess, entry, intent, bool(first))
        sess.reporter.info(f"release {label} is live")
        return {
            "command": "release",
            "result": "succeeded",
            "summary": entry["summary"],
            "release": rel.name,
            "version": rel.version,
            "ami": rel.ami,
            "phases": phases,
            **_side_public(entry),
        }


def _runs(g: Group, rel: Release) -> bool:
    """Whether group ``g`` holds release ``rel``: its own group (dns, weighted)
    or a long-lived group now on its image (rolling)."""
    return g.name == rel.name or (g.ami == rel.ami and g.version == rel.version)


def _summary(rel: Release, phases: list[dict[str, Any]]) -> str:
    done = [p["command"] for p in phases if p.get("result") != "nothing to do"]
    return f"release {rel.version or rel.ami} ({rel.ami}): {', '.join(done) or 'nothing done'}"


def _side_public(entry: dict[str, Any]) -> dict[str, Any]:
    return {k: entry.get(k) for k in _VERSION_KEYS}


def _undo_release(
    sess: Session,
    rel: Release,
    created: bool,
    old_staging: Group | None,
    switch_plan: Plan | None,
    notifier: Notifier,
) -> list[str] | BaseException:
    """Put the site back as it was before the release. Returns what was done,
    or the error that stopped the undo."""
    from bluegreen.images import catalog as images
    from bluegreen.plan.steps import DeleteLaunchConfiguration, DeleteLaunchTemplate
    from bluegreen.plan.strategies.base import delete_release

    r = sess.reporter
    r.warn(f"release of {rel.version or rel.ami} failed: rolling back to the state before it")
    notifier.send("rollback", "release", iso(sess.gw.clock.now()), release=rel.name)
    done: list[str] = []
    sess.inner = True
    try:
        site, a = snapshot(sess)
        moved = a.live_group is not None and _runs(a.live_group, rel)
        half = a.staging is None and a.live is not None  # a switch stopped between batches
        if switch_plan is not None and (moved or half) and switch_plan.on_failure:
            Executor(sess.ctx).run(switch_plan.on_failure)
            done.append("undid the switch")
        elif moved:
            _switch(sess, rollback=True)  # strategies without undo steps: their rollback
            done.append("rolled the switch back")
        site, a = snapshot(sess)
        g = site.group(rel.name)
        if created and g is not None:
            if a.live is not None and g.attached_to(a.live):
                raise StateError(
                    f"{g.name} still serves the live names: not deleting it",
                    fix="run `bluegreen status`, switch back by hand, then `bluegreen clean`",
                )
            Executor(sess.ctx).run(delete_release(g, _in_use_elsewhere(sess, {g.name})))
            done.append(f"deleted the new release {g.name}")
        elif created and rel.name not in _in_use_elsewhere(sess, {rel.name}):
            # The deploy stopped before its group existed: its launch template
            # (or configuration) may be there on its own.
            ex = Executor(sess.ctx)
            ex.run([DeleteLaunchTemplate(rel.name), DeleteLaunchConfiguration(rel.name)])
            if any(o == "deleted" for _, o in ex.done):
                done.append(f"deleted the launch template or configuration {rel.name}")
        if old_staging is not None and snapshot(sess)[0].group(old_staging.name) is None:
            if old_staging.ami is None:
                raise StateError(
                    f"cannot deploy the previous staging release {old_staging.name} again: "
                    "its image is not recorded on it",
                    fix="deploy it again by hand with `bluegreen deploy --ami ID`",
                )
            back = images.resolve(
                sess.gw, sess.names, ami=old_staging.ami, version=old_staging.version
            )
            saved = sess.settings
            try:
                sess.settings = dataclasses.replace(
                    saved, launch_configuration=old_staging.launch_configuration is not None
                )
                _deploy(sess, back, capacity=old_staging.desired)
            finally:
                sess.settings = saved
            done.append(f"deployed the previous staging release {old_staging.name} again")
    except BaseException as e:
        return e
    finally:
        sess.inner = False
    return done or ["nothing had changed"]


def _finish_release(
    sess: Session,
    rel: Release,
    before: Assessment,
    started: float,
    phases: list[dict[str, Any]],
    phase: str,
    error: BaseException,
    undone: list[str] | BaseException,
    resuming: tuple[dict[str, Any], bool] = ({}, False),
) -> None:
    ok = not isinstance(undone, BaseException)
    outcome = "rolled back" if ok else "rollback failed"
    _save_as_first(
        sess,
        _entry(
            sess,
            "release",
            before,
            started,
            outcome,
            error,
            _summary(rel, phases),
            phase=phase,
            release=rel.name,
            version=rel.version,
            ami=rel.ami,
            undo=undone if ok else f"failed: {getattr(undone, 'message', undone)}",
        ),
        *resuming,
    )
    what = getattr(error, "message", None) or type(error).__name__
    if isinstance(undone, BaseException):
        raise RollbackFailed(
            f"release of {rel.version or rel.ami} failed at {phase} ({what}), and rolling "
            f"back failed too: {getattr(undone, 'message', undone)}",
            found=getattr(error, "found", None),
            fix="run `bluegreen status` now: it shows what is live and what is in staging; "
            "switch or clean by hand to reach a safe state",
        ) from error
    note = "; ".join(undone)
    if isinstance(error, StateError) and phase.startswith("checks"):
        raise RolledBack(
            f"release of {rel.version or rel.ami}: {phase} failed: {error.message}",
            found=error.found,
            fix=f"the site is back as it was before the release ({note}). {error.fix or ''}",
        ) from error
    if isinstance(error, BluegreenError):
        error.message = f"release of {rel.version or rel.ami} failed at {phase}: {error.message}"
        error.fix = f"the site is back as it was before the release ({note}). {error.fix or ''}"
        error.fix = error.fix.strip()
        raise error
    raise Interrupted(
        f"release of {rel.version or rel.ami} interrupted at {phase}",
        fix=f"the site is back as it was before the release ({note}); run the release again",
    ) from error


# -- teardown -------------------------------------------------------------------
def teardown(sess: Session) -> dict[str, Any]:
    """Delete everything init and the deploys created for the domain (see
    ``bluegreen.site.teardown``). Idempotent: run it again to finish."""
    from bluegreen.site import teardown as td

    plan, kept = td.discover(sess.gw, sess.names)
    final = td.final_steps(sess.names)
    whole = dataclasses.replace(plan, steps=plan.steps + final)
    r = sess.reporter
    r.info(plan.summary)
    for note in plan.notes:
        r.info(f"note: {note}")
    result = {
        "command": "teardown",
        "domain": sess.names.domain,
        "summary": plan.summary,
        "steps": whole.describe(),
        "kept": kept,
    }
    if sess.dry_run:
        DryRunExecutor(sess.ctx).run(whole.steps)
        return {**result, "result": "dry run", "outcomes": []}
    _check_confirmed(sess, whole)
    has_table = sess.gw.table_exists(sess.names.lock_table)
    executor = Executor(sess.ctx)
    started = sess.gw.clock.now()
    with _notified(sess, "teardown"):
        try:
            with (
                lock.DomainLock(sess.gw, sess.names, "teardown", sess.reporter)
                if has_table
                else nullcontext()
            ):
                executor.run(plan.steps)
            executor.run(final)
        except BaseException as e:
            if sess.gw.table_exists(sess.names.lock_table):
                _save(sess, _entry(sess, "teardown", None, started, "failed", e, plan.summary))
            raise
        sess.entries.append({"command": "teardown", "result": "succeeded", "summary": plan.summary})
    r.info(f"{sess.names.domain} is torn down")
    return {**result, "result": "succeeded", "outcomes": [o for _, o in executor.done]}


def init(sess: Session) -> dict[str, Any]:
    from bluegreen.site.access import check_settings
    from bluegreen.site.provision import Provisioner

    check_settings(sess.settings)
    with _notified(sess, "init"):
        report = Provisioner(sess.gw, sess.settings, sess.reporter, dry_run=sess.dry_run).run()
    if not report.changed:
        sess.reporter.info(f"{sess.names.domain} is set up already: nothing changed")
    return {"domain": sess.names.domain, "dry_run": sess.dry_run, **report.to_json()}


def history_entries(sess: Session, limit: int) -> list[dict[str, Any]]:
    return history.entries(sess.gw, sess.names, limit)


_BOOKKEEPING = ("groups_before", "before", "started", "history_key", "target")


def unlock(sess: Session, lock_id: str) -> dict[str, Any]:
    info = lock.break_lock(sess.gw, sess.names, lock_id)
    doing = info.intended()
    if doing:  # the intent goes with the lock: say what the killed command was doing
        sess.reporter.warn(
            f"the {info.command} that held it had planned: "
            + ", ".join(f"{k}={v}" for k, v in sorted(doing.items()) if k not in _BOOKKEEPING)
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
    tests: Sequence[str] = (),
) -> dict[str, Any]:
    from bluegreen.images import bake as baking

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
        tests=tests,
    )


def images_list(sess: Session) -> list[dict[str, Any]]:
    from bluegreen.images import catalog as images

    site, a = snapshot(sess)
    return images.listing(sess.gw, sess.names, site, a)


def images_prune(sess: Session, keep: int) -> dict[str, Any]:
    from bluegreen.images import catalog as images
    from bluegreen.images.bake import record_history

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
    from bluegreen.model.adoption import pick_zones
    from bluegreen.policy import iam_policy as policies
    from bluegreen.site import ownership as owned

    names = settings.names()
    r = reporter or Reporter()
    account, zones, region = account_id or "*", (None, None), settings.region
    vpc_id: str | None = None
    adopted: dict[str, Any] = {}
    if lookup:
        gw = open_session(settings, r, hooks=hooks).gw
        region = gw.region
        try:
            if account_id is None:
                account = gw.account_id()
            pub, priv = pick_zones(gw.find_zones(names.zone_name), names.adopted)
            zones = (
                next((z["Id"].split("/")[-1] for z in pub), None),
                next((z["Id"].split("/")[-1] for z in priv), None),
            )
            adopted = owned.policy_arns(gw, names)
            if purpose == "bake":  # Packer's temporary security group: in the site's VPC
                vpc = gw.find_vpc(TAG_DOMAIN, names.domain, names.vpc)
                vpc_id = names.adopted.vpc_id or (str(vpc["VpcId"]) if vpc else None)
        except BluegreenError as e:
            r.warn(f"could not look up the account and hosted zones ({e.message}): using wildcards")
    if account == "*":
        r.info("note: the account id is a wildcard; pass --account-id to pin it")
    if None in zones:
        r.info("note: a hosted zone id is a wildcard (not created yet, or not readable)")
    if purpose == "bake" and vpc_id is None:
        r.info("note: the site's VPC id is a wildcard (run init first, then print it again)")
    if names.adopted.instance_profile and not adopted.get("passed_role"):
        r.info("note: the adopted instance profile's role is a wildcard in iam:PassRole")
    target = policies.Target(names, region, account, zones[0], zones[1], vpc_id=vpc_id, **adopted)
    return policies.build(settings, purpose, target)


def _private(zone: dict[str, Any]) -> bool:
    return bool(zone.get("Config", {}).get("PrivateZone"))
