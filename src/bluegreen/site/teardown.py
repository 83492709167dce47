"""``bluegreen teardown``: delete everything ``init`` and the deploys created
for a domain, in dependency order.

Find, then plan, then act, as every command does: ``discover`` reads what is
left of the site (by its conventional names and the ``bluegreen:domain`` tag,
never by scanning for look-alike names) and returns a plan of small steps,
each of which finds its work done when the thing is already gone. A teardown
that was interrupted is finished by running it again.

Order: autoscaling groups (and their instances), launch templates and
configurations, the site's alias records and the hosted zones init created,
load balancers and target groups, the key pair, security groups (the
instances' before the load balancers', which their rules name), subnets, the
route table, the internet gateway, the VPC, the instance profile, the role,
and last the domain's lock and history items. The shared ``bluegreen`` table
is deleted only when no other site has items in it.

Kept on purpose: release images (AMIs and their snapshots: build artefacts,
not infrastructure) and hosted zones that bluegreen did not create, or that
hold records it did not create (only its own alias records leave them).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bluegreen.aws import Gateway
from bluegreen.aws.ec2 import has_tags
from bluegreen.errors import AwsError
from bluegreen.lifecycle import history, lock
from bluegreen.model.adoption import pick_zones
from bluegreen.model.naming import TAG_DOMAIN, Names, bare
from bluegreen.plan.executor import Plan
from bluegreen.plan.steps import Context, DeleteGroup, Step, poll
from bluegreen.site import ownership

DEPENDENCY_TIMEOUT = 600.0  # ENIs of a deleted load balancer linger for minutes in AWS


def _retry_dependency(ctx: Context, label: str, delete: Callable[[], bool]) -> str:
    """Delete, retrying while AWS says something still depends on the thing."""
    result = {"outcome": ""}

    def attempt() -> tuple[bool, float, float, str]:
        try:
            result["outcome"] = "deleted" if delete() else "already gone"
        except AwsError as e:
            if "DependencyViolation" in e.code or "in use" in e.message.lower():
                return False, 0, 1, e.message
            raise
        return True, 1, 1, ""

    poll(
        ctx,
        label,
        attempt,
        timeout=DEPENDENCY_TIMEOUT,
        what_to_do="something outside bluegreen still uses it (an instance, a network "
        "interface, another security group's rule): remove that, then run teardown again",
    )
    return result["outcome"]


def _done(deleted: bool) -> str:
    return "deleted" if deleted else "already gone"


@dataclass(frozen=True)
class DeleteLaunchTemplates(Step):
    names: tuple[str, ...]

    def describe(self) -> str:
        return f"delete launch templates {', '.join(self.names)}"

    def apply(self, ctx: Context) -> str:
        n = 0
        for name in self.names:
            if ctx.gw.launch_template(name) is not None:
                ctx.gw.delete_launch_template(name)
                n += 1
        return f"deleted {n}"


@dataclass(frozen=True)
class DeleteLaunchConfigurations(Step):
    names: tuple[str, ...]

    def describe(self) -> str:
        return f"delete launch configurations {', '.join(self.names)}"

    def apply(self, ctx: Context) -> str:
        for name in self.names:
            ctx.gw.delete_launch_configuration(name)
        return "deleted"


@dataclass(frozen=True)
class DeleteRecords(Step):
    zone_id: str
    label: str
    records: tuple[str, ...]  # JSON of each record set, for a frozen dataclass

    def describe(self) -> str:
        import json

        names = sorted({json.loads(r)["Name"].rstrip(".") for r in self.records})
        return f"delete {self.label} records {', '.join(names)}"

    def apply(self, ctx: Context) -> str:
        import json

        wanted = [json.loads(r) for r in self.records]
        present = {_key(r) for r in ctx.gw.all_records(self.zone_id)}
        left = [r for r in wanted if _key(r) in present]
        if not left:
            return "already gone"
        ctx.gw.delete_record_sets(self.zone_id, left)
        return f"deleted {len(left)}"


def _key(record: dict[str, Any]) -> str:
    import json

    return json.dumps(record, sort_keys=True, default=str)


@dataclass(frozen=True)
class DeleteZone(Step):
    zone_id: str
    label: str

    def describe(self) -> str:
        return f"delete the {self.label} hosted zone {self.zone_id}"

    def apply(self, ctx: Context) -> str:
        return _done(ctx.gw.delete_hosted_zone(self.zone_id))


@dataclass(frozen=True)
class DeleteLoadBalancer(Step):
    name: str
    arn: str | None = None  # application load balancers

    def describe(self) -> str:
        return f"delete load balancer {self.name}"

    def apply(self, ctx: Context) -> str:
        if self.arn:
            return _done(ctx.gw.delete_alb(self.arn))
        if not ctx.gw.classic_load_balancers([self.name]):
            return "already gone"
        ctx.gw.delete_classic_lb(self.name)
        return "deleted"


@dataclass(frozen=True)
class DeleteTargetGroup(Step):
    name: str
    arn: str

    def describe(self) -> str:
        return f"delete target group {self.name}"

    def apply(self, ctx: Context) -> str:
        return _retry_dependency(
            ctx, f"deleting target group {self.name}", lambda: ctx.gw.delete_target_group(self.arn)
        )


@dataclass(frozen=True)
class DeleteKeyPair(Step):
    name: str

    def describe(self) -> str:
        return f"delete key pair {self.name} (the private key file is yours to delete)"

    def apply(self, ctx: Context) -> str:
        if not ctx.gw.key_pair_exists(self.name):
            return "already gone"
        ctx.gw.delete_key_pair(self.name)
        return "deleted"


@dataclass(frozen=True)
class DeleteNetworkThing(Step):
    """A security group, subnet, route table, internet gateway or the VPC,
    retried while AWS reports a dependency (load balancer interfaces linger)."""

    kind: str  # security-group | subnet | route-table | internet-gateway | vpc
    id: str
    name: str
    vpc_id: str = ""

    def describe(self) -> str:
        return f"delete {self.kind.replace('-', ' ')} {self.name} ({self.id})"

    def apply(self, ctx: Context) -> str:
        gw = ctx.gw
        delete: dict[str, Callable[[], bool]] = {
            "security-group": lambda: gw.delete_security_group(self.id),
            "subnet": lambda: gw.delete_subnet(self.id),
            "route-table": lambda: gw.delete_route_table(self.id),
            "internet-gateway": lambda: gw.delete_internet_gateway(self.id, self.vpc_id),
            "vpc": lambda: gw.delete_vpc(self.id),
        }
        return _retry_dependency(ctx, f"deleting {self.kind} {self.name}", delete[self.kind])


@dataclass(frozen=True)
class DeleteInstanceProfile(Step):
    name: str

    def describe(self) -> str:
        return f"delete instance profile {self.name}"

    def apply(self, ctx: Context) -> str:
        return _done(ctx.gw.delete_instance_profile(self.name))


@dataclass(frozen=True)
class DeleteRole(Step):
    name: str

    def describe(self) -> str:
        return f"delete IAM role {self.name} and its policies"

    def apply(self, ctx: Context) -> str:
        return _done(ctx.gw.delete_role(self.name))


@dataclass(frozen=True)
class DeleteHistory(Step):
    """The domain's history items (the lock goes when teardown releases it)."""

    table: str
    domain: str

    def describe(self) -> str:
        return f"delete the history of {self.domain} from table {self.table}"

    def apply(self, ctx: Context) -> str:
        if not ctx.gw.table_exists(self.table):
            return "already gone"
        keys = ctx.gw.item_keys(self.table, f"history#{self.domain}")
        ctx.gw.delete_items(self.table, keys)
        return f"deleted {len(keys)} entries"


@dataclass(frozen=True)
class DeleteTableIfUnused(Step):
    table: str
    domain: str

    def describe(self) -> str:
        return f"delete table {self.table} if no other site has items in it"

    def apply(self, ctx: Context) -> str:
        if not ctx.gw.table_exists(self.table):
            return "already gone"
        mine = [history.pk(Names(self.domain)), lock.pk(Names(self.domain))]
        others = ctx.gw.other_partitions(self.table, mine)
        if others:
            sites = sorted({p.split("#", 1)[-1] for p in others})
            return f"kept: it holds items of {', '.join(sites)}"
        ctx.gw.delete_table(self.table)
        return "deleted"


def _owned_zone(z: dict[str, Any], names: Names, label: str) -> bool:
    return str(z.get("CallerReference", "")).startswith(f"bluegreen-{names.slug}-{label}-")


def discover(gw: Gateway, names: Names) -> tuple[Plan, list[str]]:
    """What is left of the site, as a plan of deletions; and what is kept, and why."""
    steps: list[Step] = []
    kept: list[str] = []
    domain = names.domain

    # Releases: groups by tag, their launch templates (tagged) and configurations.
    groups = gw.groups_tagged(TAG_DOMAIN, domain)
    steps += [DeleteGroup(g["AutoScalingGroupName"]) for g in groups]
    lts = set(gw.launch_template_names_tagged(TAG_DOMAIN, domain))
    lts |= {g["LaunchTemplate"]["LaunchTemplateName"] for g in groups if g.get("LaunchTemplate")}
    if lts:
        steps.append(DeleteLaunchTemplates(tuple(sorted(lts))))

    adopted = names.adopted
    vpc = gw.find_vpc(TAG_DOMAIN, domain, names.vpc)
    vpc_id = vpc["VpcId"] if vpc and vpc["VpcId"] != adopted.vpc_id else None
    sgs = gw.security_groups_of(vpc_id) if vpc_id else []
    mine_in_adopted = ownership.groups_in_adopted_vpc(gw, names)
    sg_ids = {g["GroupId"] for g in [*sgs, *mine_in_adopted]} | set(adopted.security_groups)
    lcs = {g["LaunchConfigurationName"] for g in groups if g.get("LaunchConfigurationName")}
    for lc in gw.all_launch_configurations() if sg_ids else []:
        # Launch configurations carry no tags: a configuration is the site's when
        # it is named like a release of the site and uses the site's security group.
        name = lc["LaunchConfigurationName"]
        if names.is_release(name, lc.get("ImageId", "")) and sg_ids & set(
            lc.get("SecurityGroups", [])
        ):
            lcs.add(name)
    if lcs:
        steps.append(DeleteLaunchConfigurations(tuple(sorted(lcs))))

    # DNS: the alias records bluegreen made; the zones, when init made them and
    # nothing else lives in them.
    classic, albs, kept_lbs = ownership.balancers(gw, names)
    kept += kept_lbs
    ours = {f.lower() for f in (*names.live_fqdns, *names.staging_fqdns)}
    public, private_zones = pick_zones(gw.find_zones(names.zone_name), names.adopted)
    targets = ownership.targets(gw, names) if adopted.any else set()
    for z in [*public, *private_zones]:
        private = bool(z.get("Config", {}).get("PrivateZone"))
        label = "private" if private else "public"
        zid = z["Id"].split("/")[-1]
        records = [r for r in gw.all_records(zid) if r["Type"] not in ("SOA", "NS")]
        # The site's host names are bluegreen's by convention: their alias
        # records go even when the load balancer they point at is gone already.
        # In an adopted zone, only those pointing at the site's load balancers.
        mine = [r for r in records if r["Name"].lower() in ours and "AliasTarget" in r]
        if zid in (adopted.public_zone_id, adopted.private_zone_id):
            mine = [r for r in mine if bare(r["AliasTarget"]["DNSName"]) in targets]
        foreign = [r for r in records if r not in mine]
        if mine:
            steps.append(DeleteRecords(zid, label, tuple(_key(r) for r in mine)))
        if zid in (adopted.public_zone_id, adopted.private_zone_id):
            kept.append(f"{label} hosted zone {names.zone_name} ({zid}): adopted")
        elif not _owned_zone(z, names, label):
            kept.append(
                f"{label} hosted zone {names.zone_name} ({zid}): bluegreen did not create it"
            )
        elif foreign:
            kept.append(
                f"{label} hosted zone {names.zone_name} ({zid}): it holds {len(foreign)} records "
                "bluegreen did not create; delete them, then run teardown again"
            )
        else:
            steps.append(DeleteZone(zid, label))

    # Load balancers and target groups.
    steps += [DeleteLoadBalancer(lb["LoadBalancerName"]) for lb in classic]
    steps += [DeleteLoadBalancer(lb["LoadBalancerName"], lb["LoadBalancerArn"]) for lb in albs]
    tgs, kept_tgs = ownership.target_groups(gw, names)
    kept += kept_tgs
    steps += [DeleteTargetGroup(tg["TargetGroupName"], tg["TargetGroupArn"]) for tg in tgs]

    pair = gw.key_pair(names.key_pair)
    if pair is not None and has_tags(pair.get("Tags"), {TAG_DOMAIN: domain}):
        steps.append(DeleteKeyPair(names.key_pair))
    elif pair is not None:
        kept.append(f"key pair {names.key_pair}: not tagged {TAG_DOMAIN}={domain}")

    # Network, innermost first.
    if vpc_id:
        # The groups whose rules name the load balancers' group go first: AWS
        # refuses to delete a group another group's rule refers to.
        for g in sorted(
            sgs, key=lambda g: (g["GroupName"] == names.lb_security_group, g["GroupName"])
        ):
            if g["GroupName"] != "default":
                steps.append(DeleteNetworkThing("security-group", g["GroupId"], g["GroupName"]))
        for sn in gw.find_subnets(vpc_id):
            name = next((t["Value"] for t in sn.get("Tags", []) if t["Key"] == "Name"), "")
            steps.append(DeleteNetworkThing("subnet", sn["SubnetId"], name or sn["SubnetId"]))
        for t in gw.route_tables(vpc_id):
            if any(a.get("Main") for a in t.get("Associations", [])):
                continue  # the main route table goes with the VPC
            name = next((x["Value"] for x in t.get("Tags", []) if x["Key"] == "Name"), "")
            steps.append(
                DeleteNetworkThing("route-table", t["RouteTableId"], name or t["RouteTableId"])
            )
        igw = gw.internet_gateway_of(vpc_id)
        if igw:
            steps.append(DeleteNetworkThing("internet-gateway", igw, igw, vpc_id))
        steps.append(DeleteNetworkThing("vpc", vpc_id, names.vpc))
    # An adopted VPC: only the security groups bluegreen made in it go.
    steps += [
        DeleteNetworkThing("security-group", g["GroupId"], g["GroupName"]) for g in mine_in_adopted
    ]
    if adopted.vpc_id:
        kept.append(f"VPC {adopted.vpc_id} and subnets {', '.join(adopted.subnet_ids)}: adopted")
    if adopted.security_groups:
        kept.append(f"security groups {', '.join(adopted.security_groups)}: adopted")

    profile, role, kept_identity = ownership.identity(gw, names)
    kept += kept_identity
    if profile:
        steps.append(DeleteInstanceProfile(names.role))
    if role:
        steps.append(DeleteRole(names.role))

    if gw.table_exists(names.lock_table) and gw.item_keys(names.lock_table, history.pk(names)):
        steps.append(DeleteHistory(names.lock_table, domain))

    images = gw.images_tagged({TAG_DOMAIN: domain})
    if images:
        kept.append(
            f"{len(images)} release images ({', '.join(sorted(i['ImageId'] for i in images))}): "
            "deregister them yourself if you no longer need them"
        )
    summary = (
        f"delete what is left of {domain} in {len(steps)} steps"
        if steps
        else f"nothing of {domain} is left to delete"
    )
    return Plan(
        "teardown", tuple(steps), summary=summary, notes=tuple(f"kept: {k}" for k in kept)
    ), kept


def final_steps(names: Names) -> tuple[Step, ...]:
    """After the lock is released: the shared table, if no one else uses it."""
    return (DeleteTableIfUnused(names.lock_table, names.domain),)
