"""What every strategy shares: the intents it plans for, and the deploy of a new
autoscaling group behind the staging load balancer (used by ``dns``, ``lb`` and
``weighted``).

A strategy turns (site, assessment, intent) into a ``Plan``. Planners are pure:
they read the snapshot and the settings and call nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bluegreen.clock import iso, parse_iso
from bluegreen.errors import InputError, StateError
from bluegreen.model import Balancer, Group, Site
from bluegreen.model.naming import (
    TAG_AMI,
    TAG_DESIRED_WHEN_LIVE,
    TAG_OUT_OF_TRAFFIC,
    TAG_PINNED_MIN,
    TAG_VERSION,
)
from bluegreen.model.settings import Settings
from bluegreen.observe.checks import Assessment, healthy_count, refuse_if, unhealthy
from bluegreen.plan.executor import Plan
from bluegreen.plan.steps import (
    AliasTarget,
    CreateGroup,
    CreateLaunchConfiguration,
    CreateLaunchTemplate,
    DeleteGroup,
    DeleteLaunchConfiguration,
    DeleteLaunchTemplate,
    DetachGroup,
    MarkOutOfTraffic,
    PinMinSize,
    RestoreMinSize,
    RunChecks,
    SetGroupSize,
    Step,
    Wait,
    WaitHealthy,
    client_token,
)

DEFAULT_CAPACITY = 2


@dataclass(frozen=True)
class Release:
    """A release to deploy: the image and its version."""

    ami: str
    version: str | None
    name: str  # of its autoscaling group and launch template or configuration
    root_device: str = "/dev/xvda"
    root_size: int = 8  # GiB, the image's own root volume size
    tested: str | None = field(default=None, compare=False)  # its bluegreen:tested tag


@dataclass(frozen=True)
class DeployIntent:
    release: Release
    replace: bool = False
    capacity: int | None = None
    # Unique to this intended deploy, kept across its resumptions (it is in the
    # lock's intent): the launch template's client token is made from it, so a
    # template deleted and made again later is a new request to EC2.
    nonce: str = ""


@dataclass(frozen=True)
class CleanIntent:
    in_use_elsewhere: frozenset[str]  # launch template/configuration names other groups use
    force: bool = False
    now: float = 0.0  # the clock's time when planning (for the drain wait)
    drain: float = 0.0  # the staging load balancer's connection-draining timeout, seconds


def release_tags(names_tags: dict[str, str], release: Release) -> dict[str, str]:
    tags = dict(names_tags)
    tags[TAG_AMI] = release.ami
    if release.version:
        tags[TAG_VERSION] = release.version
    tags["Name"] = release.name
    return tags


def require_site(
    site: Site, a: Assessment, command: str, *, allow_orphans: bool = False
) -> tuple[Balancer, Balancer]:
    """Both environments must be identifiable, and nothing may run outside
    bluegreen's knowledge (``require_no_drift``); returns (live, staging)."""
    basic = [p for p in a.problems if "does not exist" in p or "without an alias" in p]
    refuse_if(
        basic,
        f"{command}: the site {site.names.domain} is not set up",
        "run `bluegreen init` to create what is missing",
    )
    refuse_if(
        [p for p in a.problems if "split" in p or "not a load balancer of the site" in p],
        f"{command}: cannot tell which environment is live",
        "make every live name point at one load balancer and every staging name at the "
        "other (or run `bluegreen init`, which repairs records to their initial state only "
        "when no release runs); `bluegreen status` lists the records",
    )
    if a.live is None or a.staging is None:
        raise StateError(
            f"{command}: cannot tell which environment is live and which is staging",
            found="; ".join(a.problems) or "no records found",
            fix="run `bluegreen status` to see the records, then fix them",
        )
    require_no_drift(site, a, command, allow_orphans=allow_orphans)
    return a.live, a.staging


def require_no_drift(
    site: Site, a: Assessment, command: str, *, allow_orphans: bool = False
) -> None:
    """Refuse when something serves (or could serve) the site that bluegreen
    does not manage: instances registered in a load balancer that belong to no
    group of the site, or a group of the site behind no load balancer.

    Strays are never deregistered automatically: bluegreen cannot tell whether
    someone registered them on purpose (a debugging host, a hand-made fix)
    and removing an instance that takes live traffic is exactly the outage a
    deployment tool must not cause. A group behind no load balancer serves
    none of the site's traffic, so ``clean --force`` may delete it
    (``allow_orphans``)."""
    strays = [p for p in a.problems if "belong to no autoscaling group" in p]
    if strays:
        members = {i.id for g in site.groups for i in g.instances}
        how = "; ".join(
            f"aws elb deregister-instances-from-load-balancer --load-balancer-name {b.name} "
            f"--instances {' '.join(sorted(set(b.health) - members))}"
            if b.kind == "classic"
            else f"aws elbv2 deregister-targets --target-group-arn {b.target_group_arn} "
            f"--targets {' '.join(f'Id={i}' for i in sorted(set(b.health) - members))}"
            for b in site.balancers
            if set(b.health) - members
        )
        raise StateError(
            f"{command}: a load balancer of the site serves instances bluegreen does not manage",
            found="; ".join(strays),
            fix="bluegreen does not deregister them itself: they may take live traffic on "
            "purpose. Check what they are; if they must go, deregister them by hand ("
            f"{how}), or put them in an autoscaling group of the site; then run the command again",
        )
    orphans = [p for p in a.problems if "is behind no load balancer" in p]
    if orphans and not allow_orphans:
        raise StateError(
            f"{command}: an autoscaling group of the site is behind no load balancer",
            found="; ".join(orphans),
            fix="it serves none of the site's traffic: `bluegreen clean --force` deletes it "
            "(with its launch template), or attach it to the staging load balancer by hand",
        )


def groups_behind_one(site: Site, b: Balancer, command: str) -> Group | None:
    gs = site.groups_behind(b)
    if len(gs) > 1:
        raise StateError(
            f"{command}: {len(gs)} autoscaling groups are behind {b.name}",
            found=", ".join(g.name for g in gs),
            fix="an environment holds one release; delete the extra group(s) with "
            "`bluegreen clean` or by hand after checking which one serves",
        )
    return gs[0] if gs else None


def deploy_new_group(site: Site, a: Assessment, s: Settings, intent: DeployIntent) -> Plan:
    """Create the release's launch template and ASG behind the staging load balancer."""
    live, staging = require_site(site, a, "deploy")
    n = site.names
    rel = intent.release
    staged = site.groups_behind(staging)
    others = [g for g in staged if g.name != rel.name]
    resuming = any(g.name == rel.name for g in staged)
    if others and not intent.replace:
        g = others[0]
        raise StateError(
            f"staging ({staging.name}) already holds release {g.version or g.ami} ({g.name})",
            fix="switch it live (`bluegreen switch`), remove it (`bluegreen clean`), or "
            "deploy with --replace to swap it for the new release",
        )
    live_group = groups_behind_one(site, live, "deploy")
    if live_group is not None and live_group.name == rel.name:
        raise StateError(
            f"release {rel.version or rel.ami} is already live ({rel.name})",
            fix="nothing to deploy; to redeploy the same image, give it a new --version",
        )
    capacity = intent.capacity
    if capacity is None:
        capacity = s.capacity if s.capacity is not None else None
    if capacity is None:
        capacity = live_group.desired if live_group else DEFAULT_CAPACITY
    if capacity < 1:
        raise StateError(
            "deploy: capacity would be 0",
            found="the live group has desired capacity 0",
            fix="pass --capacity N",
        )
    max_size = max(s.max_capacity or 0, capacity, live_group.max_size if live_group else 0)
    if not staging.subnets or not staging.security_groups:
        raise StateError(
            f"{staging.name} reports no subnets or security group",
            fix="run `bluegreen init` to repair the load balancer",
        )
    tags = release_tags(n.tags(), rel)
    if s.launch_configuration and s.kms_key:
        raise InputError(
            "deploy: a launch configuration cannot name a KMS key for the root volume",
            found=f"kms_key = {s.kms_key} and launch_configuration = true",
            fix="drop --launch-configuration (launch templates take --kms-key), or drop "
            "--kms-key (the root volume is then encrypted with the account's default EBS key)",
        )
    steps: list[Step] = []
    always: tuple[Step, ...] = ()
    if live_group is not None:
        # Capacity: the live group must not scale in under the deploy.
        if live_group.min_size < live_group.desired:
            steps.append(PinMinSize(live_group.name, live_group.desired))
        if live_group.min_size < live_group.desired or live_group.tags.get(TAG_PINNED_MIN):
            always = (RestoreMinSize(live_group.name),)
    if s.launch_configuration:
        steps.append(
            CreateLaunchConfiguration(
                rel.name,
                rel.ami,
                s.instance_type,
                staging.security_groups[0],
                n.instance_profile,
                n.key_pair if s.key_pair else None,
                s.user_data,
                rel.root_device,
                rel.root_size,
                instance_groups=n.instance_groups,
                vpc_id=staging.vpc_id,
            )
        )
        lt, lc = None, rel.name
    else:
        steps.append(
            CreateLaunchTemplate(
                rel.name,
                rel.ami,
                s.instance_type,
                staging.security_groups[0],
                n.instance_profile,
                n.key_pair if s.key_pair else None,
                s.user_data,
                s.kms_key,
                tags,
                rel.root_device,
                rel.root_size,
                token=client_token(rel.name, rel.ami, intent.nonce),
                instance_groups=n.instance_groups,
                vpc_id=staging.vpc_id,
            )
        )
        lt, lc = (rel.name, "1"), None
    steps.append(
        CreateGroup(
            rel.name,
            lt,
            lc,
            capacity,
            max_size,
            staging.subnets,
            (staging.name,) if staging.kind == "classic" else (),
            (staging.target_group_arn,)
            if staging.kind == "alb" and staging.target_group_arn
            else (),
            s.grace_period,
            tags,
            instance_profile=n.instance_profile,
        )
    )
    steps.append(
        WaitHealthy(
            rel.name, staging.name, staging.kind, staging.target_group_arn, capacity, s.timeout
        )
    )
    for g in others:
        steps += delete_release(g, frozenset())
    notes = ("resuming an interrupted deploy of this release",) if resuming else ()
    return Plan(
        "deploy",
        tuple(steps),
        summary=f"deploy {rel.version or rel.ami} ({rel.ami}) to staging {staging.name} "
        f"with {capacity} instances",
        notes=notes,
        facts={"release": rel.name, "capacity": capacity, "staging": staging.name},
        always=always,
    )


def delete_release(g: Group, in_use_elsewhere: frozenset[str]) -> list[Step]:
    # Target groups first: their instances deregister (and drain) before they
    # are terminated, and no terminated instance lingers in a target group.
    steps: list[Step] = [
        DetachGroup(g.name, tg.split("/")[-2] if tg.count("/") >= 2 else tg, "alb", tg)
        for tg in g.target_groups
    ]
    steps.append(DeleteGroup(g.name))
    if g.launch_template and g.launch_template[0] not in in_use_elsewhere:
        steps.append(DeleteLaunchTemplate(g.launch_template[0]))
    if g.launch_configuration and g.launch_configuration not in in_use_elsewhere:
        steps.append(DeleteLaunchConfiguration(g.launch_configuration))
    return steps


def alias_to(b: Balancer) -> AliasTarget:
    dns = b.dns_name if b.kind == "alb" else f"dualstack.{b.dns_name}"
    return AliasTarget(dns_name=dns, zone_id=b.zone_id)


def require_serving(b: Balancer, g: Group | None, command: str) -> Group:
    """The traffic guard: ``b`` may take traffic only with a group whose every
    instance is InService and healthy in it."""
    if g is None:
        raise StateError(
            f"{command}: {b.name} has no release to send traffic to",
            fix="deploy one first: `bluegreen deploy --version V`",
        )
    if not g.instances:
        raise StateError(
            f"{command}: {g.name} behind {b.name} has no instances",
            fix="deploy again, or set its desired capacity above 0",
        )
    bad = unhealthy(b, g)
    if bad:
        raise StateError(
            f"{command}: {len(bad)} of {len(g.instances)} instances of {g.name} are not "
            f"healthy in {b.name}",
            found=", ".join(f"{i}={b.health.get(i, 'not registered')}" for i in bad),
            fix="wait for them (`bluegreen status`), or fix the release and deploy again",
        )
    assert healthy_count(b, g) > 0
    return g


def gate(
    site: Site, s: Settings, b: Balancer, g: Group | None, environment: str, *, after_switch: bool
) -> tuple[Step, ...]:
    """The health gate of one environment: the operator's checks (``--check``,
    ``--check-url``), or nothing when none are configured. ``environment`` says
    which host names the checks are given: ``staging`` (before a switch: the
    environment about to go live) or ``live`` (after it: the same balancer,
    now behind the live names)."""
    if not s.checks and not s.check_urls:
        return ()
    n = site.names
    fqdns = n.staging_fqdns if environment == "staging" else n.live_fqdns
    return (
        RunChecks(
            environment=environment,
            balancer=b.name,
            lb_dns=b.dns_name,
            hosts=tuple(f.rstrip(".") for f in fqdns),
            commands=s.checks,
            urls=s.check_urls,
            timeout=s.check_timeout,
            domain=n.domain,
            version=g.version if g else None,
            ami=g.ami if g else None,
            after_switch=after_switch,
        ),
    )


# -- capacity and draining ----------------------------------------------------------
ALIAS_TTL = 60.0  # seconds: resolvers may cache an ELB alias record this long


def with_pin_repairs(site: Site, plan: Plan) -> Plan:
    """Prepend a ``RestoreMinSize`` for every group of the site still carrying
    ``bluegreen:pinned-min`` (a deploy was killed before it could restore it),
    except groups the plan itself restores. Every changing command does this,
    so a crash never leaves a group's min size pinned for long."""
    own = {s.group for s in plan.always if isinstance(s, RestoreMinSize)}
    repairs = tuple(
        RestoreMinSize(g.name, "pinned by an interrupted deploy")
        for g in site.groups
        if g.tags.get(TAG_PINNED_MIN) and g.name not in own
    )
    if not repairs:
        return plan
    from dataclasses import replace

    return replace(
        plan,
        steps=repairs + plan.steps,
        notes=(*plan.notes, "a deploy was interrupted: restoring the min size it pinned"),
    )


def restore_capacity(
    s: Settings, b: Balancer, target: Group, current: Group | None
) -> tuple[Step, ...]:
    """Before traffic returns to ``target`` (a group that was live before):
    scale it to at least the desired capacity it had when it was live (tag
    ``bluegreen:desired-when-live``) and at least the live group's current
    desired (it may have scaled out since), then wait until that many are
    healthy. A release that was never live keeps the capacity it was deployed with."""
    was_live = TAG_OUT_OF_TRAFFIC in target.tags
    if not was_live:
        return ()
    want = max(
        _int(target.tags.get(TAG_DESIRED_WHEN_LIVE)),
        current.desired if current else 0,
    )
    if want <= target.desired:
        return ()
    return (
        SetGroupSize(
            target.name,
            desired=want,
            max_size=max(target.max_size, want),
            why="at least the capacity it had when it was live, and the live group has now",
        ),
        WaitHealthy(target.name, b.name, b.kind, b.target_group_arn, want, s.timeout),
    )


def _int(v: str | None) -> int:
    try:
        return int(v) if v is not None else 0
    except ValueError:
        return 0


def mark_out_of_traffic(g: Group | None) -> tuple[Step, ...]:
    return (MarkOutOfTraffic(g.name, g.desired),) if g is not None else ()


def drain_wait(g: Group, intent: CleanIntent) -> tuple[tuple[Step, ...], tuple[str, ...]]:
    """The wait before deleting ``g``: until it has been out of traffic for the
    alias TTL plus the load balancer's draining timeout. (steps, notes)

    "Out of traffic since" comes from the group's own tag, written by the
    switch right after the live names left it (``MarkOutOfTraffic``): it lives
    in AWS next to the group it describes, so every operator and machine sees
    the same value, a ``deploy --replace`` or a cleaned release cannot confuse
    it (as the newest history entry could), and reading it costs no extra call
    (the group is read anyway). A group without the tag never served the live
    names (deployed and not switched), so it has nothing to drain.
    """
    since_text = g.tags.get(TAG_OUT_OF_TRAFFIC)
    if since_text is None:
        return (), (f"{g.name} never served the live names: no draining to wait for",)
    try:
        since = parse_iso(since_text)
    except ValueError:
        since = intent.now  # unreadable: assume it just left traffic
    if intent.force:
        return (), (
            f"--force: not waiting for the alias TTL and connection draining ({g.name} out of "
            f"traffic since {iso(since)}, {intent.now - since:.0f}s ago)",
        )
    need = ALIAS_TTL + intent.drain
    left = since + need - intent.now
    why = (
        f"out of traffic since {iso(since)}; alias TTL {ALIAS_TTL:.0f}s + "
        f"connection draining {intent.drain:.0f}s"
    )
    if left <= 0:
        return (), (f"{g.name} has been {why}: drained",)
    return (Wait(round(left, 3), f"{g.name} {why}"),), (f"waiting {left:.0f}s: {why}",)


def orphan_groups(site: Site) -> tuple[Group, ...]:
    """Groups of the site attached to none of its load balancers."""
    return tuple(g for g in site.groups if not any(g.attached_to(b) for b in site.balancers))
