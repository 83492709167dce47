"""``bluegreen init``: create whatever is missing of the site's set-up.

Every resource is found first (by its conventional name and the domain tag)
and created only when missing, so running init again changes nothing and says
so. Existing alias records are never moved: init only creates records that do
not exist, pointing the live names at load balancer 1 and the staging names at
load balancer 2, the seed's initial order.

With ``dry_run`` nothing is created: each missing resource is reported as
"would create".
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from bluegreen.aws import Gateway
from bluegreen.aws.elb import CLASSIC_ELB_ZONE_IDS, forward_targets
from bluegreen.config import Settings
from bluegreen.naming import TAG_DOMAIN, Names
from bluegreen.observe import layout
from bluegreen.ui import Reporter

T = TypeVar("T")
VPC_CIDR = "10.0.0.0/16"
SUBNET_CIDRS = ("10.0.0.0/20", "10.0.16.0/20")
LOG_GROUP = "/bluegreen/{domain}"
DEREGISTRATION_DELAY = 30  # seconds an ALB target drains (classic: connection draining)
STAGING_RULE_PRIORITY = 10


def instance_policy(names: Names, region: str) -> dict[str, Any]:
    """What a web server needs: Session Manager (instead of SSH), its own logs,
    and its own parameters and secrets (instead of secrets in user data).

    No wildcard action, no managed full-access policy."""
    log_group = LOG_GROUP.format(domain=names.domain)
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "SessionManager",
                "Effect": "Allow",
                "Action": [
                    "ssm:UpdateInstanceInformation",
                    "ssmmessages:CreateControlChannel",
                    "ssmmessages:CreateDataChannel",
                    "ssmmessages:OpenControlChannel",
                    "ssmmessages:OpenDataChannel",
                    "ec2messages:AcknowledgeMessage",
                    "ec2messages:DeleteMessage",
                    "ec2messages:FailMessage",
                    "ec2messages:GetEndpoint",
                    "ec2messages:GetMessages",
                    "ec2messages:SendReply",
                ],
                "Resource": "*",
            },
            {
                # the way to give a server a secret: SecureString parameters
                # under /bluegreen/DOMAIN/ (the aws/ssm key needs no grant) or
                # secrets under bluegreen/DOMAIN/, read at boot; never user data
                "Sid": "OwnParametersAndSecrets",
                "Effect": "Allow",
                "Action": [
                    "ssm:GetParameter",
                    "ssm:GetParameters",
                    "ssm:GetParametersByPath",
                    "secretsmanager:GetSecretValue",
                ],
                "Resource": [
                    f"arn:aws:ssm:{region}:*:parameter/bluegreen/{names.domain}/*",
                    f"arn:aws:secretsmanager:{region}:*:secret:bluegreen/{names.domain}/*",
                ],
            },
            {
                "Sid": "OwnLogs",
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                "Resource": f"arn:aws:logs:{region}:*:log-group:{log_group}:*",
            },
        ],
    }


@dataclass
class InitReport:
    created: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)
    key_file: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"created": self.created, "existing": self.existing, "key_file": self.key_file}


class Provisioner:
    def __init__(self, gw: Gateway, s: Settings, reporter: Reporter, *, dry_run: bool) -> None:
        self.gw = gw
        self.s = s
        self.n = s.names()
        self.reporter = reporter
        self.dry_run = dry_run
        self.report = InitReport()

    def _ensure(self, what: str, found: object, create: Callable[[], T]) -> T | None:
        if found:
            self.report.existing.append(what)
            self.reporter.detail(f"exists: {what}")
            return found  # type: ignore[return-value]
        if self.dry_run:
            self.report.created.append(what)
            self.reporter.info(f"would create {what}")
            return None
        self.reporter.step(f"create {what}")
        result = create()
        self.report.created.append(what)
        return result

    def run(self) -> InitReport:
        n, gw = self.n, self.gw
        tags = n.tags()
        vpc = gw.find_vpc(TAG_DOMAIN, n.domain, n.vpc)
        vpc_id = self._ensure(
            f"VPC {n.vpc} ({VPC_CIDR})",
            vpc["VpcId"] if vpc else None,
            lambda: gw.create_vpc(VPC_CIDR, {**tags, "Name": n.vpc}),
        )
        subnets = self._subnets(vpc_id, tags)
        sg_id = self._network_and_sg(vpc_id, subnets, tags)
        self._role(tags)
        if self.s.key_pair:
            self._key_pair(tags)
        if self.s.load_balancer == "alb":
            lbs = self._albs(vpc_id, subnets, sg_id, tags)
        else:
            lbs = self._load_balancers(subnets, sg_id, tags)
        self._lock_table(tags)
        self._zones(vpc_id, lbs)
        self._staging_access(vpc_id, sg_id)
        return self.report

    def _staging_access(self, vpc_id: str | None, base_group: str | None) -> None:
        """Who may reach staging (``staging_cidrs``, ``bluegreen.access_setup``):
        last, once the records say which balancer is live."""
        from bluegreen.access_setup import AccessSetup

        n, gw, s = self.n, self.gw, self.s
        setup = AccessSetup(gw, s, n, self._ensure, dry_run=self.dry_run, drain=self._drain)
        if layout(s.strategy, s.load_balancer) == "shared":
            albs = gw.albs([n.load_balancer(1)])
            if albs:
                setup.run_shared(
                    tuple(ls["ListenerArn"] for ls in gw.listeners(albs[0]["LoadBalancerArn"]))
                )
            return
        if not vpc_id:
            setup.run_pair(None, base_group, None)
            return
        from bluegreen.observe import observe

        if not s.staging_cidrs and not gw.security_groups_named(
            vpc_id, [n.public_web_group, n.staging_web_group]
        ):
            return  # never restricted: nothing to lift (one read)
        site = observe(gw, n, s.load_balancer)
        setup.run_pair(vpc_id, base_group, site)

    def _drain(self, site: Any, b: Any) -> float:
        from bluegreen.access import draining_timeout

        return draining_timeout(self.gw, self.s, b)

    def _subnets(self, vpc_id: str | None, tags: dict[str, str]) -> list[str]:
        n, gw = self.n, self.gw
        existing = {}
        if vpc_id:
            for sn in gw.find_subnets(vpc_id):
                name = next((t["Value"] for t in sn.get("Tags", []) if t["Key"] == "Name"), "")
                existing[name] = sn["SubnetId"]
        wanted = [n.subnet(i) for i in range(1, len(SUBNET_CIDRS) + 1)]
        azs = gw.availability_zones() if any(w not in existing for w in wanted) else []
        out: list[str] = []
        for i, cidr in enumerate(SUBNET_CIDRS, 1):
            name = n.subnet(i)

            def make(
                cidr: str = cidr, name: str = name, az: str = azs[(i - 1) % len(azs)] if azs else ""
            ) -> str:
                return gw.create_subnet(str(vpc_id), cidr, az, {**tags, "Name": name})

            sid = self._ensure(f"subnet {name} ({cidr})", existing.get(name), make)
            if sid:
                out.append(sid)
        return out

    def _network_and_sg(
        self, vpc_id: str | None, subnets: list[str], tags: dict[str, str]
    ) -> str | None:
        n, gw = self.n, self.gw
        igw = gw.internet_gateway_of(vpc_id) if vpc_id else None
        igw = self._ensure(
            f"internet gateway for {n.vpc}",
            igw,
            lambda: gw.create_internet_gateway(str(vpc_id), {**tags, "Name": n.vpc}),
        )
        rt_name = f"{n.slug}-public"
        tables = gw.route_tables(vpc_id) if vpc_id else []
        rt = next(
            (
                t
                for t in tables
                if any(x["Key"] == "Name" and x["Value"] == rt_name for x in t.get("Tags", []))
            ),
            None,
        )

        def make_rt() -> str:
            rt_id = gw.create_route_table(str(vpc_id), {**tags, "Name": rt_name})
            gw.add_default_route(rt_id, str(igw))
            for sid in subnets:
                gw.associate_route_table(rt_id, sid)
            return rt_id

        self._ensure(
            f"route table {rt_name} (default route to the internet gateway)",
            rt and rt["RouteTableId"],
            make_rt,
        )
        if rt and igw:
            self._finish_route_table(rt, str(igw), subnets)
        sg = gw.find_security_group(vpc_id, n.security_group) if vpc_id else None

        def make_sg() -> str:
            gid = gw.create_security_group(
                str(vpc_id),
                n.security_group,
                f"bluegreen web servers of {n.domain}",
                {**tags, "Name": n.security_group},
            )
            gw.authorize_ingress(gid, ingress_rules(gid, self.s))
            return gid

        return self._ensure(
            f"security group {n.security_group}", sg["GroupId"] if sg else None, make_sg
        )

    def _finish_route_table(self, rt: dict[str, Any], igw: str, subnets: list[str]) -> None:
        """An init stopped after creating the route table (a crash, a missing
        permission) left it without its route or associations: add them."""
        gw, rt_id = self.gw, str(rt["RouteTableId"])
        routes = rt.get("Routes", [])
        if not any(r.get("DestinationCidrBlock") == "0.0.0.0/0" for r in routes):
            self._ensure(
                f"default route of {rt_id} to {igw}", None, lambda: gw.add_default_route(rt_id, igw)
            )
        associated = {a.get("SubnetId") for a in rt.get("Associations", [])}
        for sid in subnets:
            if sid not in associated:
                self._ensure(
                    f"association of {sid} with {rt_id}",
                    None,
                    lambda sid=sid: gw.associate_route_table(rt_id, sid),  # type: ignore[misc]
                )

    def _role(self, tags: dict[str, str]) -> None:
        n, gw = self.n, self.gw

        def make_role() -> str:
            gw.create_role(n.role, tags)
            gw.put_role_policy(n.role, "webserver", instance_policy(n, gw.region))
            return n.role

        self._ensure(
            f"IAM role {n.role} (Session Manager, own logs, parameters and secrets only)",
            gw.role(n.role) and n.role,
            make_role,
        )

        def make_profile() -> str:
            gw.create_instance_profile(n.instance_profile, n.role)
            return n.instance_profile

        self._ensure(
            f"instance profile {n.instance_profile}",
            gw.instance_profile(n.instance_profile) and n.instance_profile,
            make_profile,
        )

    def _key_pair(self, tags: dict[str, str]) -> None:
        n, gw = self.n, self.gw
        path = Path(self.s.key_dir) / f"{n.key_pair}.pem"

        def make_key() -> str:
            material = gw.create_key_pair(n.key_pair, tags)
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(material)
            os.chmod(path, 0o600)
            self.report.key_file = str(path.resolve())
            self.reporter.info(f"private key written to {path.resolve()} (mode 0600)")
            return n.key_pair

        self._ensure(f"key pair {n.key_pair}", gw.key_pair_exists(n.key_pair) or None, make_key)

    def _load_balancers(
        self, subnets: list[str], sg_id: str | None, tags: dict[str, str]
    ) -> dict[str, tuple[str, str]]:
        """name -> (DNS name, hosted zone id) of both load balancers."""
        n, gw, s = self.n, self.gw, self.s
        found = {lb["LoadBalancerName"]: lb for lb in gw.classic_load_balancers(n.load_balancers)}
        listeners: list[dict[str, Any]] = [
            {
                "Protocol": "HTTP",
                "LoadBalancerPort": 80,
                "InstanceProtocol": "HTTP",
                "InstancePort": 80,
            }
        ]
        if s.certificate_arn:
            listeners.append(
                {
                    "Protocol": "HTTPS",
                    "LoadBalancerPort": 443,
                    "InstanceProtocol": "HTTP",
                    "InstancePort": 80,
                    "SSLCertificateId": s.certificate_arn,
                }
            )
        out: dict[str, tuple[str, str]] = {}
        zone = CLASSIC_ELB_ZONE_IDS.get(gw.region, "")
        for name in n.load_balancers:

            def make(name: str = name) -> str:
                dns = gw.create_classic(
                    name, subnets, str(sg_id), listeners, {**tags, "Name": name}
                )
                gw.configure_classic(
                    name, f"HTTP:{s.health_check_port}{s.health_check_path}", draining_timeout=30
                )
                return dns

            lb = found.get(name)
            dns = self._ensure(
                f"load balancer {name} (HTTP 80->80{', HTTPS 443->80' if s.certificate_arn else ''}, "
                f"health check HTTP:{s.health_check_port}{s.health_check_path})",
                lb["DNSName"] if lb else None,
                make,
            )
            if dns:
                out[name] = (
                    f"dualstack.{dns}",
                    (lb or {}).get("CanonicalHostedZoneNameID") or zone,
                )
        return out

    def _albs(
        self, vpc_id: str | None, subnets: list[str], sg_id: str | None, tags: dict[str, str]
    ) -> dict[str, tuple[str, str]]:
        """Application load balancers; name -> (alias DNS name, hosted zone id).

        ``dns`` and the other two-balancer strategies: one ALB per environment,
        each with its own target group. ``lb``: one ALB whose listeners forward
        the live names to target group 1 by default and the staging names
        (a host-header rule on ``*-staging.DOMAIN``) to target group 2.
        """
        n, gw, s = self.n, self.gw, self.s
        shared = layout(s.strategy, s.load_balancer) == "shared"
        tg_found = {
            tg["TargetGroupName"]: tg["TargetGroupArn"]
            for tg in gw.target_groups([n.target_group(1), n.target_group(2)])
        }
        tg_arns: dict[int, str | None] = {}
        health = f"HTTP:{s.health_check_port}{s.health_check_path}"
        for i in (1, 2):
            name = n.target_group(i)
            tg_arns[i] = self._ensure(
                f"target group {name} (HTTP 80, health check {health}, deregistration delay "
                f"{DEREGISTRATION_DELAY}s)",
                tg_found.get(name),
                lambda name=name: gw.create_target_group(  # type: ignore[misc]
                    name,
                    str(vpc_id),
                    health_port=s.health_check_port,
                    health_path=s.health_check_path,
                    deregistration_delay=DEREGISTRATION_DELAY,
                    tags={**tags, "Name": name},
                ),
            )
        wanted = (n.load_balancer(1),) if shared else n.load_balancers
        found = {lb["LoadBalancerName"]: lb for lb in gw.albs(wanted)}
        out: dict[str, tuple[str, str]] = {}
        ports = [(80, None)] + ([(443, s.certificate_arn)] if s.certificate_arn else [])
        for i, name in enumerate(wanted, 1):
            lb = self._ensure(
                f"application load balancer {name}",
                found.get(name),
                lambda name=name: gw.create_alb(  # type: ignore[misc]
                    name, subnets, str(sg_id), {**tags, "Name": name}
                ),
            )
            if not lb:
                continue
            out[name] = (lb["DNSName"], lb.get("CanonicalHostedZoneId", ""))
            lb_arn = str(lb["LoadBalancerArn"])
            have = {int(ls["Port"]): ls for ls in gw.listeners(lb_arn)}
            for port, cert in ports:
                tg = tg_arns[i]
                listener = self._ensure(
                    f"{'HTTPS' if cert else 'HTTP'} listener {name}:{port} -> {n.target_group(i)}",
                    have.get(port) and have[port]["ListenerArn"],
                    lambda port=port, cert=cert, tg=tg, lb_arn=lb_arn: gw.create_listener(  # type: ignore[misc]
                        lb_arn, port, str(tg), cert
                    ),
                )
                if shared and listener:
                    self._staging_rule(str(listener), name, port, have.get(port), tg_arns)
        if shared and n.load_balancer(1) in out:
            out[n.load_balancer(2)] = out[n.load_balancer(1)]
        return out

    def _staging_rule(
        self,
        listener_arn: str,
        lb_name: str,
        port: int,
        listener: dict[str, Any] | None,
        tg_arns: dict[int, str | None],
    ) -> None:
        """The shared ALB's rule sending the staging names to the staging target
        group: the target group its default action does not forward to."""
        n, gw = self.n, self.gw
        pattern = n.staging_host_pattern
        rules = gw.rules(listener_arn) if listener else []
        rule = next(
            (
                r
                for r in rules
                if any(
                    pattern in (c.get("HostHeaderConfig", {}).get("Values") or c.get("Values", []))
                    for c in r.get("Conditions", [])
                )
            ),
            None,
        )
        live = {a for a, _ in forward_targets((listener or {}).get("DefaultActions", []))}
        other = tg_arns[2] if tg_arns[1] in live or not live else tg_arns[1]
        self._ensure(
            f"listener rule {lb_name}:{port} host {pattern} -> staging target group",
            rule and rule["RuleArn"],
            lambda: gw.create_host_rule(listener_arn, [pattern], str(other), STAGING_RULE_PRIORITY),
        )

    def _lock_table(self, tags: dict[str, str]) -> None:
        table = self.n.lock_table
        self._ensure(
            f"DynamoDB table {table} (locks and history)",
            self.gw.table_exists(table) or None,
            lambda: self._create_table(table),
        )

    def _create_table(self, table: str) -> str:
        self.gw.create_table(table, {"bluegreen:purpose": "locks-and-history"})
        return table

    def _zones(self, vpc_id: str | None, lbs: dict[str, tuple[str, str]]) -> None:
        n, gw = self.n, self.gw
        zones = gw.find_zones(n.zone_name)
        public = next((z for z in zones if not z.get("Config", {}).get("PrivateZone")), None)
        private = next((z for z in zones if z.get("Config", {}).get("PrivateZone")), None)
        stamp = str(int(time.time() * 1000))
        pub_id = self._ensure(
            f"public hosted zone {n.zone_name}",
            public and public["Id"],
            lambda: gw.create_zone(n.zone_name, n.caller_reference("public", stamp)),
        )
        priv_id = self._ensure(
            f"private hosted zone {n.zone_name} (bound to {n.vpc})",
            private and private["Id"],
            lambda: gw.create_zone(
                n.zone_name,
                n.caller_reference("private", stamp),
                vpc_id=str(vpc_id),
                region=gw.region,
            ),
        )
        lb1, lb2 = n.load_balancers
        self._records(pub_id, n.live_fqdns, lbs.get(lb1), lb1, "public")
        if layout(self.s.strategy, self.s.load_balancer) == "shared":
            lb2 = lb1  # one ALB: a listener rule sends the staging names to staging
        self._records(priv_id, n.staging_fqdns, lbs.get(lb2), lb2, "private")

    def _records(
        self,
        zone_id: str | None,
        fqdns: tuple[str, ...],
        lb: tuple[str, str] | None,
        lb_name: str,
        label: str,
    ) -> None:
        gw = self.gw
        missing = list(fqdns)
        if zone_id:
            present = gw.parallel(*[(lambda f=f: gw.records_named(zone_id, f)) for f in fqdns])
            missing = [f for f, recs in zip(fqdns, present) if not recs]
        for f in fqdns:
            if f not in missing:
                self.report.existing.append(f"{label} record {f}")

        def make() -> str:
            assert zone_id and lb
            changes = [
                {
                    "Action": "CREATE",
                    "ResourceRecordSet": {
                        "Name": f,
                        "Type": "A",
                        "AliasTarget": {
                            "HostedZoneId": lb[1],
                            "DNSName": lb[0],
                            "EvaluateTargetHealth": True,
                        },
                    },
                }
                for f in missing
            ]
            change = gw.change_records(zone_id, changes, f"bluegreen init: {label} -> {lb_name}")
            with self.reporter.progress(f"Route 53 applying the {label} records") as bar:
                gw.wait_insync(change, self.s.dns_timeout, bar)
            return change

        if missing:
            self._ensure(
                f"{label} alias records {', '.join(f.rstrip('.') for f in missing)} -> {lb_name}",
                None,
                make,
            )


def ingress_rules(group_id: str, s: Settings) -> list[dict[str, Any]]:
    """The seed's inbound rules, locked down: web ports from anywhere, the
    health-check port only from the load balancers (this same group), admin
    ports only from ``admin_cidrs`` (none by default)."""
    anywhere = {"IpRanges": [{"CidrIp": "0.0.0.0/0"}], "Ipv6Ranges": [{"CidrIpv6": "::/0"}]}
    web: list[dict[str, Any]] = [
        {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, **anywhere},
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, **anywhere},
    ]
    if s.staging_cidrs and layout(s.strategy, s.load_balancer) == "pair":
        # the web ports from anywhere go on the live balancer only
        # (bluegreen.access); the load balancers still reach the instance port
        from bluegreen.access_setup import instance_port_from_self

        web = instance_port_from_self(group_id)
    rules: list[dict[str, Any]] = [
        *web,
        {
            "IpProtocol": "tcp",
            "FromPort": s.health_check_port,
            "ToPort": s.health_check_port,
            "UserIdGroupPairs": [
                {"GroupId": group_id, "Description": "load balancer health checks"}
            ],
        },
    ]
    v4 = [{"CidrIp": c, "Description": "admin"} for c in s.admin_cidrs if ":" not in c]
    v6 = [{"CidrIpv6": c, "Description": "admin"} for c in s.admin_cidrs if ":" in c]
    if v4 or v6:
        ranges = {"IpRanges": v4, "Ipv6Ranges": v6}
        rules += [
            {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, **ranges},
            {"IpProtocol": "tcp", "FromPort": 3389, "ToPort": 3389, **ranges},
            {"IpProtocol": "icmp", "FromPort": 8, "ToPort": -1, **ranges},
        ]
    return rules
