"""Elastic Load Balancing: classic load balancers (the seed's) and ELBv2."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from bluegreen.aws.base import BaseGateway
from bluegreen.errors import AwsError, NotFound, StateError

# AWS publishes one fixed hosted zone id per region for classic load balancers
# (the alias target zone). describe_load_balancers returns it as
# CanonicalHostedZoneNameID; this table covers endpoints that omit it.
CLASSIC_ELB_ZONE_IDS = {
    "us-east-1": "Z35SXDOTRQ7X7K",
    "us-east-2": "Z3AADJGX6KTTL2",
    "us-west-1": "Z368ELLRRE2KJ0",
    "us-west-2": "Z1H1FL5HABSF5",
    "ca-central-1": "ZQSVJUPU6J1EY",
    "eu-west-1": "Z32O12XQLNTSW2",
    "eu-west-2": "ZHURV8PSTC4K8",
    "eu-west-3": "Z3Q77PNBQS71R4",
    "eu-central-1": "Z215JYRZR1TBD5",
    "ap-southeast-1": "Z1LMS91P8CMLE5",
    "ap-southeast-2": "Z1GM3OXH4ZPM65",
    "ap-northeast-1": "Z14GRHDCWA56QT",
    "ap-northeast-2": "ZWKZPGTI48KDX",
    "ap-south-1": "ZP97RAFLXTNZK",
    "sa-east-1": "Z2P70J7HTTTPLU",
}


class ElbCalls(BaseGateway):
    # -- classic ------------------------------------------------------------
    def classic_load_balancers(
        self, names: Sequence[str], *, each: bool = True
    ) -> list[dict[str, Any]]:
        """The named classic load balancers that exist (missing ones are left
        out). One missing fails the whole describe (LoadBalancerNotFound): then
        each is described by its name, unless ``each`` is False (a probe for
        the site's kind: none, when not all of them are classic)."""
        try:
            r = self.call("elb", "describe_load_balancers", LoadBalancerNames=list(names))
            return list(r.get("LoadBalancerDescriptions", []))
        except NotFound:
            if len(names) == 1 or not each:
                return []
            return [lb for n in names for lb in self.classic_load_balancers([n])]

    def classic_health(self, name: str) -> dict[str, str]:
        """Instance id -> InService / OutOfService / Unknown."""
        r = self.call("elb", "describe_instance_health", LoadBalancerName=name)
        return {s["InstanceId"]: s["State"] for s in r.get("InstanceStates", [])}

    def classic_draining_timeout(self, name: str) -> int:
        r = self.call("elb", "describe_load_balancer_attributes", LoadBalancerName=name)
        cd = r.get("LoadBalancerAttributes", {}).get("ConnectionDraining", {})
        return int(cd.get("Timeout", 300)) if cd.get("Enabled") else 0

    def classic_attributes(self, name: str) -> dict[str, Any]:
        r = self.call("elb", "describe_load_balancer_attributes", LoadBalancerName=name)
        return dict(r.get("LoadBalancerAttributes", {}))

    def set_classic_attributes(self, name: str, draining_timeout: int) -> None:
        self.call(
            "elb",
            "modify_load_balancer_attributes",
            LoadBalancerName=name,
            LoadBalancerAttributes={
                "ConnectionDraining": {"Enabled": True, "Timeout": draining_timeout},
                "CrossZoneLoadBalancing": {"Enabled": True},
            },
        )

    def set_classic_health_check(self, name: str, check: dict[str, Any]) -> None:
        self.call("elb", "configure_health_check", LoadBalancerName=name, HealthCheck=check)

    def set_classic_security_groups(self, name: str, groups: Sequence[str]) -> None:
        self.call(
            "elb",
            "apply_security_groups_to_load_balancer",
            LoadBalancerName=name,
            SecurityGroups=list(groups),
        )

    def create_classic_listeners(self, name: str, listeners: Sequence[dict[str, Any]]) -> None:
        try:
            self.call(
                "elb",
                "create_load_balancer_listeners",
                LoadBalancerName=name,
                Listeners=list(listeners),
            )
        except AwsError as e:
            # a retry of a create AWS made (same settings are accepted by AWS)
            if e.code != "DuplicateListener":
                raise

    def delete_classic_listeners(self, name: str, ports: Sequence[int]) -> None:
        self.call(
            "elb",
            "delete_load_balancer_listeners",
            LoadBalancerName=name,
            LoadBalancerPorts=list(ports),
        )

    def create_tls_policy(self, name: str, policy_name: str, reference: str) -> None:
        """An SSLNegotiationPolicyType policy referring to an ELB predefined
        security policy (https://docs.aws.amazon.com/elasticloadbalancing/latest/classic/ssl-config-update.html)."""
        try:
            self.call(
                "elb",
                "create_load_balancer_policy",
                LoadBalancerName=name,
                PolicyName=policy_name,
                PolicyTypeName="SSLNegotiationPolicyType",
                PolicyAttributes=[
                    {"AttributeName": "Reference-Security-Policy", "AttributeValue": reference}
                ],
            )
        except AwsError as e:
            if e.code != "DuplicatePolicyName":
                raise

    def set_listener_policies(self, name: str, port: int, policies: Sequence[str]) -> None:
        self.call(
            "elb",
            "set_load_balancer_policies_of_listener",
            LoadBalancerName=name,
            LoadBalancerPort=port,
            PolicyNames=list(policies),
        )

    def create_classic(
        self,
        name: str,
        subnets: Sequence[str],
        security_group: str,
        listeners: Sequence[dict[str, Any]],
        tags: dict[str, str],
    ) -> str:
        """Create a classic load balancer. AWS answers a repeated create with the
        same settings with the original; the emulator says
        DuplicateLoadBalancerName: both mean it exists, and it is then described."""
        try:
            r = self.call(
                "elb",
                "create_load_balancer",
                LoadBalancerName=name,
                Listeners=list(listeners),
                Subnets=list(subnets),
                SecurityGroups=[security_group],
                Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
            )
        except AwsError as e:
            found = self.classic_load_balancers([name]) if "Duplicate" in e.code else []
            if not found:
                raise
            return str(found[0]["DNSName"])
        return str(r["DNSName"])

    # -- application load balancers (ELBv2) ---------------------------------
    def albs(self, names: Sequence[str]) -> list[dict[str, Any]]:
        try:
            r = self.call("elbv2", "describe_load_balancers", Names=list(names))
            return list(r.get("LoadBalancers", []))
        except NotFound:
            if len(names) == 1:
                return []
            return [lb for n in names for lb in self.albs([n])]

    def target_groups(self, names: Sequence[str]) -> list[dict[str, Any]]:
        try:
            r = self.call("elbv2", "describe_target_groups", Names=list(names))
            return list(r.get("TargetGroups", []))
        except NotFound:
            if len(names) == 1:
                return []
            return [tg for n in names for tg in self.target_groups([n])]

    def target_health(self, target_group_arn: str) -> dict[str, str]:
        """Instance id -> healthy / unhealthy / unused / initial / draining."""
        r = self.call("elbv2", "describe_target_health", TargetGroupArn=target_group_arn)
        return {
            d["Target"]["Id"]: d["TargetHealth"]["State"]
            for d in r.get("TargetHealthDescriptions", [])
        }

    def listeners(self, load_balancer_arn: str) -> list[dict[str, Any]]:
        r = self.call("elbv2", "describe_listeners", LoadBalancerArn=load_balancer_arn)
        return list(r.get("Listeners", []))

    def target_group_attribute(self, arn: str, key: str) -> str | None:
        r = self.call("elbv2", "describe_target_group_attributes", TargetGroupArn=arn)
        for a in r.get("Attributes", []):
            if a["Key"] == key:
                return str(a["Value"])
        return None

    def rules(self, listener_arn: str) -> list[dict[str, Any]]:
        r = self.call("elbv2", "describe_rules", ListenerArn=listener_arn)
        return list(r.get("Rules", []))

    def alb_tags(self, arn: str) -> dict[str, str]:
        r = self.call("elbv2", "describe_tags", ResourceArns=[arn])
        descs = r.get("TagDescriptions", [])
        return {t["Key"]: t["Value"] for d in descs for t in d.get("Tags", [])}

    def delete_rule(self, rule_arn: str) -> None:
        try:
            self.call("elbv2", "delete_rule", RuleArn=rule_arn)
        except NotFound:
            return  # a retry of a delete AWS made

    def set_alb_security_groups(self, arn: str, groups: Sequence[str]) -> None:
        self.call("elbv2", "set_security_groups", LoadBalancerArn=arn, SecurityGroups=list(groups))

    def target_group_attributes(self, arn: str) -> dict[str, str]:
        r = self.call("elbv2", "describe_target_group_attributes", TargetGroupArn=arn)
        return {str(a["Key"]): str(a["Value"]) for a in r.get("Attributes", [])}

    def set_deregistration_delay(self, arn: str, seconds: int) -> None:
        self.call(
            "elbv2",
            "modify_target_group_attributes",
            TargetGroupArn=arn,
            Attributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": str(seconds)}],
        )

    def set_target_group_health(self, arn: str, check: dict[str, Any]) -> None:
        self.call("elbv2", "modify_target_group", TargetGroupArn=arn, **check)

    def modify_listener(self, listener_arn: str, **params: Any) -> None:
        self.call("elbv2", "modify_listener", ListenerArn=listener_arn, **params)

    def create_alb(
        self, name: str, subnets: Sequence[str], security_group: str, tags: dict[str, str]
    ) -> dict[str, Any]:
        """An internet-facing application load balancer; returns its description."""

        def find() -> dict[str, Any] | None:
            found = self.albs([name])
            return dict(found[0]) if found else None

        try:
            r = self.call_once(
                "elbv2",
                "create_load_balancer",
                find,
                Name=name,
                Subnets=list(subnets),
                SecurityGroups=[security_group],
                Scheme="internet-facing",
                Type="application",
                IpAddressType="ipv4",
                Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
            )
        except AwsError as e:
            # AWS answers a repeated create with the same settings with the
            # original; an endpoint that says "duplicate" means the same
            existing = find() if "Duplicate" in e.code else None
            if existing is None:
                raise
            return existing
        if "LoadBalancerArn" in r:  # found after a lost response
            return dict(r)
        return dict(r["LoadBalancers"][0])

    def create_target_group(
        self,
        name: str,
        vpc_id: str,
        *,
        health_port: int,
        health_path: str,
        deregistration_delay: int,
        tags: dict[str, str],
    ) -> str:
        """An HTTP:80 instance target group with its health check; returns its ARN.
        AWS answers a repeated create with the same settings with the original."""
        try:
            r = self.call(
                "elbv2",
                "create_target_group",
                Name=name,
                Protocol="HTTP",
                Port=80,
                VpcId=vpc_id,
                TargetType="instance",
                **target_group_health(health_port, health_path),
                Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
            )
            arn = str(r["TargetGroups"][0]["TargetGroupArn"])
        except AwsError as e:
            found = self.target_groups([name]) if "Duplicate" in e.code else []
            if not found:
                raise
            arn = str(found[0]["TargetGroupArn"])
        self.set_deregistration_delay(arn, deregistration_delay)
        return arn

    def create_listener(
        self,
        load_balancer_arn: str,
        port: int,
        target_group_arn: str,
        certificate_arn: str | None = None,
        *,
        ssl_policy: str = "ELBSecurityPolicy-TLS13-1-2-2021-06",
        actions: Sequence[dict[str, Any]] | None = None,
    ) -> str:
        """HTTP (or HTTPS with a certificate and a TLS policy) listener forwarding
        to one target group, or doing ``actions``. AWS answers a repeated create
        with the same settings with the original; DuplicateListener means the port
        is taken, and the listener there is returned for the caller to compare."""
        params: dict[str, Any] = {
            "LoadBalancerArn": load_balancer_arn,
            "Protocol": "HTTPS" if certificate_arn else "HTTP",
            "Port": port,
            "DefaultActions": list(actions or [forward_action(((target_group_arn, 1),))]),
        }
        if certificate_arn:
            params["Certificates"] = [{"CertificateArn": certificate_arn}]
            params["SslPolicy"] = ssl_policy

        def find() -> str | None:
            for ls in self.listeners(load_balancer_arn):
                if int(ls["Port"]) == port:
                    return str(ls["ListenerArn"])
            return None

        try:
            # AWS makes a repeated create with the same settings idempotent; the
            # emulator adds a second listener on the port: looked up, never resent
            r = self.call_once("elbv2", "create_listener", find, **params)
        except AwsError as e:
            existing = find() if e.code == "DuplicateListener" else None
            if existing is None:
                raise
            return existing
        return r if isinstance(r, str) else str(r["Listeners"][0]["ListenerArn"])

    def create_host_rule(
        self, listener_arn: str, hosts: Sequence[str], target_group_arn: str, priority: int
    ) -> str:
        """A listener rule forwarding requests for ``hosts`` (wildcards allowed);
        a retry finds it (``create_rule_at``) by its hosts and target group."""
        target = {target_group_arn}
        return create_rule_at(
            self,
            listener_arn,
            priority,
            [{"Field": "host-header", "HostHeaderConfig": {"Values": list(hosts)}}],
            [forward_action(((target_group_arn, 1),))],
            same=lambda rule: (
                set(hosts) <= set(rule_hosts(rule))
                and {a for a, _ in forward_targets(rule.get("Actions", []))} == target
            ),
            wanted=f"the rule for {', '.join(hosts)}",
        )

    def set_listener_forward(self, listener_arn: str, targets: Sequence[tuple[str, int]]) -> None:
        """Replace the listener's default action: one atomic change."""
        self.call(
            "elbv2",
            "modify_listener",
            ListenerArn=listener_arn,
            DefaultActions=[forward_action(targets)],
        )

    def set_rule_forward(self, rule_arn: str, targets: Sequence[tuple[str, int]]) -> None:
        self.call("elbv2", "modify_rule", RuleArn=rule_arn, Actions=[forward_action(targets)])

    def listener_forward(self, listener_arn: str) -> tuple[tuple[str, int], ...]:
        r = self.call("elbv2", "describe_listeners", ListenerArns=[listener_arn])
        return forward_targets(r["Listeners"][0].get("DefaultActions", []))

    def rule_forward(self, rule_arn: str) -> tuple[tuple[str, int], ...]:
        r = self.call("elbv2", "describe_rules", RuleArns=[rule_arn])
        return forward_targets(r["Rules"][0].get("Actions", []))

    def deregister_targets(self, target_group_arn: str, instance_ids: Sequence[str]) -> None:
        self.call(
            "elbv2",
            "deregister_targets",
            TargetGroupArn=target_group_arn,
            Targets=[{"Id": i} for i in instance_ids],
        )


def target_group_health(port: int, path: str) -> dict[str, Any]:
    """The target groups' health check, as create_target_group and
    modify_target_group take it."""
    return {
        "HealthCheckProtocol": "HTTP",
        "HealthCheckPort": str(port),
        "HealthCheckPath": path,
        "HealthCheckIntervalSeconds": 10,
        "HealthCheckTimeoutSeconds": 5,
        "HealthyThresholdCount": 2,
        "UnhealthyThresholdCount": 2,
        "Matcher": {"HttpCode": "200"},
    }


def redirect_to_https() -> dict[str, Any]:
    """The HTTP listener's action on an ALB with a certificate."""
    return {
        "Type": "redirect",
        "RedirectConfig": {"Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_301"},
    }


def forward_action(targets: Sequence[tuple[str, int]]) -> dict[str, Any]:
    """A forward action to (target group ARN, weight) pairs."""
    if len(targets) == 1:
        return {"Type": "forward", "TargetGroupArn": targets[0][0]}
    return {
        "Type": "forward",
        "ForwardConfig": {"TargetGroups": [{"TargetGroupArn": a, "Weight": w} for a, w in targets]},
    }


def forward_targets(actions: Sequence[dict[str, Any]]) -> tuple[tuple[str, int], ...]:
    """(target group ARN, weight) pairs of the forward action among ``actions``."""
    for a in actions:
        if a.get("Type") != "forward":
            continue
        groups = (a.get("ForwardConfig") or {}).get("TargetGroups")
        if groups:
            return tuple((g["TargetGroupArn"], int(g.get("Weight", 1))) for g in groups)
        if a.get("TargetGroupArn"):
            return ((str(a["TargetGroupArn"]), 1),)
    return ()


def create_rule_at(
    gw: BaseGateway,
    listener_arn: str,
    priority: int,
    conditions: Sequence[dict[str, Any]],
    actions: Sequence[dict[str, Any]],
    *,
    same: Callable[[dict[str, Any]], bool],
    wanted: str,
) -> str:
    """A listener rule at ``priority``. Priorities are unique per listener:
    a retry of a create AWS made answers PriorityInUse
    (https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_CreateRule.html),
    and the rule at that priority is returned when ``same`` says it is this
    one; another rule there is refused, naming it and ``wanted``."""
    try:
        r = gw.call(
            "elbv2",
            "create_rule",
            ListenerArn=listener_arn,
            Priority=priority,
            Conditions=list(conditions),
            Actions=list(actions),
        )
    except AwsError as e:
        if e.code != "PriorityInUse":
            raise
        listed = gw.call("elbv2", "describe_rules", ListenerArn=listener_arn).get("Rules", [])
        rule = next((x for x in listed if x.get("Priority") == str(priority)), None)
        if rule is None:
            raise
        if same(rule):
            return str(rule["RuleArn"])
        raise priority_taken(rule, wanted) from None
    return str(r["Rules"][0]["RuleArn"])


def rule_hosts(rule: dict[str, Any]) -> list[str]:
    """The host-header values of a listener rule's conditions."""
    return [
        v
        for c in rule.get("Conditions", [])
        if c.get("Field") == "host-header"
        for v in (c.get("HostHeaderConfig", {}).get("Values") or c.get("Values", []))
    ]


def priority_taken(rule: dict[str, Any], wanted: str) -> StateError:
    """A listener rule that is not bluegreen's holds the priority bluegreen's needs."""
    actions = ", ".join(
        str(a.get("Type"))
        + (
            f" {a['FixedResponseConfig'].get('StatusCode')}"
            if a.get("FixedResponseConfig")
            else "".join(f" to {t}" for t, _ in forward_targets([a]))
        )
        for a in rule.get("Actions", [])
    )
    priority = rule.get("Priority")
    return StateError(
        f"priority {priority} of the listener, where {wanted} goes, is taken by another rule",
        found=f"rule {rule.get('RuleArn')}: priority {priority}, hosts "
        f"{', '.join(rule_hosts(rule)) or 'any'}, {actions or 'no action'}",
        fix=f"move that rule to another priority (`aws elbv2 set-rule-priorities "
        f"--rule-priorities RuleArn={rule.get('RuleArn')},Priority=N`) or delete it, "
        "then run `bluegreen init` again",
    )
