"""``rolling``: the seed's autoscaling group updating.

Each environment keeps one autoscaling group for good: the group behind the
live load balancer and the group behind the staging one (created by the first
deploy and the first switch, named after their load balancer, as is their
launch template). The alias records never move.

- ``deploy`` points the staging group at the release (a new numbered version
  of its launch template with the new image, pinned, never ``$Latest``; or a
  new launch configuration), then replaces its instances one at a time, each
  replacement healthy in the staging load balancer before the next.
- ``switch`` validates staging (every instance runs the release and is
  healthy), then does the same to the live group, one instance at a time: the
  live load balancer never has fewer than ``desired - 1`` healthy instances,
  and never none (a live group of one instance is refused).
- When a replacement does not become healthy in time, the group is pointed
  back at its previous launch template version (or configuration) and the
  new instances are replaced back: exit 7.
- ``rollback`` rolls the live group back to the release it held before.

Crash safety: what remains is read from AWS (the instances' images against
the release), so running the same command again finishes the work.
"""

from __future__ import annotations

from dataclasses import replace

from bluegreen.errors import StateError
from bluegreen.model import Balancer, Group, Site
from bluegreen.model.naming import TAG_AMI
from bluegreen.model.settings import Settings
from bluegreen.observe.checks import Assessment
from bluegreen.plan.executor import Plan
from bluegreen.plan.rollout import (
    TAG_PREVIOUS_AMI,
    TAG_PREVIOUS_LAUNCH,
    TAG_PREVIOUS_VERSION,
    CreateTemplateFrom,
    PinLaunch,
    ReplaceInstances,
    RequireRelease,
    parse_launch,
)
from bluegreen.plan.steps import CreateGroup, CreateLaunchConfiguration, Step, WaitHealthy
from bluegreen.plan.strategies.base import (
    CleanIntent,
    DeployIntent,
    Release,
    deploy_new_group,
    groups_behind_one,
    release_tags,
    require_serving,
    require_site,
)


def env_group_name(b: Balancer) -> str:
    """The fixed group (and launch template) of an environment: its balancer's name."""
    return b.name


def _label(g: Group) -> str:
    return g.version or g.ami or g.name


def _instance_tags(site: Site, group: str, ami: str, version: str | None) -> dict[str, str]:
    tags = release_tags(site.names.tags(), Release(ami, version, group))
    return tags


def _revert(g: Group, new_ami: str) -> PinLaunch | None:
    """Where to return when a replacement fails: the group's current release,
    or (when an interrupted run already retagged it) the recorded previous one."""
    if g.ami != new_ami:
        key, ami, version = (
            f"lt:{g.launch_template[0]}:{g.launch_template[1]}"
            if g.launch_template
            else f"lc:{g.launch_configuration}",
            g.ami,
            g.version,
        )
    else:
        key = g.tags.get(TAG_PREVIOUS_LAUNCH, "")
        ami, version = g.tags.get(TAG_PREVIOUS_AMI), g.tags.get(TAG_PREVIOUS_VERSION)
    if not key or not ami:
        return None
    return _pin_to(g, key, ami, version)


def _pin_to(g: Group, key: str, ami: str, version: str | None) -> PinLaunch:
    template, configuration = parse_launch(key)
    return PinLaunch(
        g.name,
        ami,
        version,
        template=template[0] if template else None,
        template_version=template[1] if template else None,
        configuration=configuration,
    )


def _replace(
    g: Group,
    b: Balancer,
    ami: str,
    label: str,
    s: Settings,
    revert: PinLaunch | None,
    *,
    live: bool = True,
) -> ReplaceInstances:
    return ReplaceInstances(
        g.name,
        b.name,
        b.kind,
        b.target_group_arn,
        ami,
        label,
        s.timeout,
        revert=revert,
        keep_serving=live,
    )


class RollingStrategy:
    name = "rolling"

    # -- deploy ---------------------------------------------------------------
    def deploy(self, site: Site, a: Assessment, s: Settings, intent: DeployIntent) -> Plan:
        live, staging = require_site(site, a, "deploy")
        g = groups_behind_one(site, staging, "deploy")
        rel = intent.release
        if g is None:
            # The first deploy: the staging group, named after its balancer.
            fixed = replace(intent, release=replace(rel, name=env_group_name(staging)))
            plan = deploy_new_group(site, a, s, fixed)
            return replace(plan, notes=(*plan.notes, "rolling: creating the staging group"))
        if g.attached_to(live):
            raise StateError(
                f"deploy: {g.name} is behind both load balancers",
                fix="detach it from one of them (`bluegreen status` shows which is live)",
            )
        if g.desired < 1:
            raise StateError(
                f"deploy: {g.name} has desired capacity 0: there is nothing to roll",
                fix="set its desired capacity to 1 or more, then deploy again",
            )
        label = rel.version or rel.ami
        steps: list[Step] = []
        if g.launch_template:
            pin = PinLaunch(
                g.name,
                rel.ami,
                rel.version,
                template=g.launch_template[0],
                instance_tags=_instance_tags(site, g.name, rel.ami, rel.version),
                nonce=intent.nonce,
            )
        else:
            steps.append(
                CreateLaunchConfiguration(
                    rel.name,
                    rel.ami,
                    s.instance_type,
                    staging.security_groups[0] if staging.security_groups else "",
                    site.names.instance_profile,
                    site.names.key_pair if s.key_pair else None,
                    s.user_data,
                    instance_groups=site.names.instance_groups,
                    vpc_id=staging.vpc_id,
                )
            )
            pin = PinLaunch(g.name, rel.ami, rel.version, configuration=rel.name)
        steps += [pin, _replace(g, staging, rel.ami, label, s, _revert(g, rel.ami), live=False)]
        notes: list[str] = []
        if g.ami == rel.ami:
            notes.append(f"{g.name} is already tagged {label}: finishing its rolling update")
        if intent.capacity is not None and intent.capacity != g.desired:
            notes.append(f"--capacity is ignored: {g.name} keeps its {g.desired} instances")
        return Plan(
            "deploy",
            tuple(steps),
            summary=f"roll staging {g.name} ({staging.name}) from {_label(g)} to {label}, "
            f"{g.desired} instance(s) one at a time",
            notes=tuple(notes),
            facts={"release": g.name, "version": rel.version, "staging": staging.name},
        )

    # -- switch and rollback --------------------------------------------------
    def switch(self, site: Site, a: Assessment, s: Settings, *, rollback: bool = False) -> Plan:
        command = "rollback" if rollback else "switch"
        live, staging = require_site(site, a, command)
        lg = groups_behind_one(site, live, command)
        if rollback:
            return self._rollback(s, live, lg)
        sg = require_serving(staging, groups_behind_one(site, staging, command), command)
        if not sg.ami:
            raise StateError(
                f"switch: {sg.name} carries no {TAG_AMI} tag: cannot tell its release",
                fix="deploy the release to staging with `bluegreen deploy`",
            )
        label = _label(sg)
        validate = RequireRelease(sg.name, sg.ami, label)
        if lg is None:
            return self._create_live(site, s, live, sg, validate)
        if lg.attached_to(staging) or lg.name == sg.name:
            raise StateError(
                f"switch: {lg.name} is behind both load balancers",
                fix="detach it from one of them",
            )
        resuming = lg.ami == sg.ami
        if not resuming:
            require_serving(live, lg, command)
        _require_two(lg, live, command)
        if sg.launch_template:
            pin = PinLaunch(
                lg.name,
                sg.ami,
                sg.version,
                template=lg.launch_template[0] if lg.launch_template else env_group_name(live),
                source=sg.launch_template,
                instance_tags=_instance_tags(site, lg.name, sg.ami, sg.version),
            )
            if lg.launch_template is None:
                raise StateError(
                    f"switch: staging {sg.name} uses a launch template but live {lg.name} "
                    "uses a launch configuration",
                    fix="deploy with --launch-configuration, or move the live group to a "
                    "launch template",
                )
        else:
            pin = PinLaunch(lg.name, sg.ami, sg.version, configuration=sg.launch_configuration)
        steps: tuple[Step, ...] = (
            validate,
            pin,
            _replace(lg, live, sg.ami, label, s, _revert(lg, sg.ami)),
        )
        return Plan(
            command,
            steps,
            summary=f"roll live {lg.name} ({live.name}) from {_label(lg)} to {label}, "
            f"{lg.desired} instance(s) one at a time",
            notes=(f"{lg.name} is already tagged {label}: finishing its rolling update",)
            if resuming
            else (),
            facts={
                "live": live.name,
                "staging": staging.name,
                "version": sg.version,
                "previous_version": lg.tags.get(TAG_PREVIOUS_VERSION) if resuming else lg.version,
            },
        )

    def _create_live(
        self, site: Site, s: Settings, live: Balancer, sg: Group, validate: Step
    ) -> Plan:
        """The first switch: the live group does not exist yet; create it with
        the staging group's launch template version (or configuration)."""
        assert sg.ami
        name = env_group_name(live)
        tags = release_tags(site.names.tags(), Release(sg.ami, sg.version, name))
        steps: list[Step] = [validate]
        lt: tuple[str, str] | None = None
        if sg.launch_template:
            steps.append(CreateTemplateFrom(name, sg.launch_template, tags, tags))
            lt = (name, "1")
        steps += [
            CreateGroup(
                name,
                lt,
                None if lt else sg.launch_configuration,
                sg.desired,
                max(sg.max_size, sg.desired),
                live.subnets,
                (live.name,) if live.kind == "classic" else (),
                (live.target_group_arn,) if live.kind == "alb" and live.target_group_arn else (),
                s.grace_period,
                tags,
                instance_profile=site.names.instance_profile,
            ),
            WaitHealthy(name, live.name, live.kind, live.target_group_arn, sg.desired, s.timeout),
        ]
        return Plan(
            "switch",
            tuple(steps),
            summary=f"create live {name} behind {live.name} with {_label(sg)}, "
            f"{sg.desired} instance(s)",
            notes=("rolling: the live group does not exist yet; creating it",),
            facts={"live": live.name, "version": sg.version, "previous_version": None},
        )

    def _rollback(self, s: Settings, live: Balancer, lg: Group | None) -> Plan:
        if lg is None or not lg.tags.get(TAG_PREVIOUS_LAUNCH) or not lg.tags.get(TAG_PREVIOUS_AMI):
            raise StateError(
                f"rollback: the live group{' ' + lg.name if lg else ''} behind {live.name} "
                "records no previous release",
                found="it has held only one release",
                fix="deploy the release you want (`bluegreen deploy`), then `bluegreen switch`",
            )
        _require_two(lg, live, "rollback")
        ami = lg.tags[TAG_PREVIOUS_AMI]
        version = lg.tags.get(TAG_PREVIOUS_VERSION)
        pin = _pin_to(lg, lg.tags[TAG_PREVIOUS_LAUNCH], ami, version)
        return Plan(
            "rollback",
            (pin, _replace(lg, live, ami, version or ami, s, None)),
            summary=f"roll live {lg.name} ({live.name}) back from {_label(lg)} to "
            f"{version or ami}, {lg.desired} instance(s) one at a time",
            facts={"live": live.name, "version": version, "previous_version": lg.version},
        )

    # -- clean ----------------------------------------------------------------
    def clean(self, site: Site, a: Assessment, s: Settings, intent: CleanIntent) -> Plan:
        require_site(site, a, "clean")
        return Plan(
            "clean",
            (),
            summary="rolling keeps one group per environment for good: nothing to clean",
        )


def _require_two(g: Group, b: Balancer, command: str) -> None:
    """The traffic guard for the live group: replacing the only instance would
    leave the live names with nothing healthy."""
    if g.desired < 2:
        raise StateError(
            f"{command}: live {g.name} has {g.desired} instance(s); replacing them one at a "
            f"time would leave {b.name} with no healthy instance",
            fix=f"raise its desired capacity to 2 or more (aws autoscaling "
            f"update-auto-scaling-group --auto-scaling-group-name {g.name} --min-size 2 "
            "--desired-capacity 2), or use --strategy dns",
        )
