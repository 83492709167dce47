"""Elastic Load Balancing: classic load balancers (the seed's) and ELBv2."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bluegreen.aws.base import BaseGateway
from bluegreen.errors import NotFound

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
    def classic_load_balancers(self, names: Sequence[str]) -> list[dict[str, Any]]:
        """The named classic load balancers that exist (missing ones are left out)."""
        try:
            r = self.call("elb", "describe_load_balancers", LoadBalancerNames=list(names))
            return list(r.get("LoadBalancerDescriptions", []))
        except NotFound:
            if len(names) == 1:
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

    def create_classic(
        self,
        name: str,
        subnets: Sequence[str],
        security_group: str,
        listeners: Sequence[dict[str, Any]],
        tags: dict[str, str],
    ) -> str:
        r = self.call(
            "elb",
            "create_load_balancer",
            LoadBalancerName=name,
            Listeners=list(listeners),
            Subnets=list(subnets),
            SecurityGroups=[security_group],
            Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
        )
        return str(r["DNSName"])

    def configure_classic(self, name: str, health_target: str, draining_timeout: int) -> None:
        self.call(
            "elb",
            "configure_health_check",
            LoadBalancerName=name,
            HealthCheck={
                "Target": health_target,
                "Interval": 10,
                "Timeout": 5,
                "UnhealthyThreshold": 2,
                "HealthyThreshold": 2,
            },
        )
        self.call(
            "elb",
            "modify_load_balancer_attributes",
            LoadBalancerName=name,
            LoadBalancerAttributes={
                "ConnectionDraining": {"Enabled": True, "Timeout": draining_timeout},
                "CrossZoneLoadBalancing": {"Enabled": True},
            },
        )

    def delete_classic(self, name: str) -> None:
        self.call("elb", "delete_load_balancer", LoadBalancerName=name)

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

    def create_alb(
        self, name: str, subnets: Sequence[str], security_group: str, tags: dict[str, str]
    ) -> dict[str, Any]:
        """An internet-facing application load balancer; returns its description."""
        r = self.call(
            "elbv2",
            "create_load_balancer",
            Name=name,
            Subnets=list(subnets),
            SecurityGroups=[security_group],
            Scheme="internet-facing",
            Type="application",
            IpAddressType="ipv4",
            Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
        )
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
        """An HTTP:80 instance target group with its health check; returns its ARN."""
        r = self.call(
            "elbv2",
            "create_target_group",
            Name=name,
            Protocol="HTTP",
            Port=80,
            VpcId=vpc_id,
            TargetType="instance",
            HealthCheckProtocol="HTTP",
            HealthCheckPort=str(health_port),
            HealthCheckPath=health_path,
            HealthCheckIntervalSeconds=10,
            HealthCheckTimeoutSeconds=5,
            HealthyThresholdCount=2,
            UnhealthyThresholdCount=2,
            Matcher={"HttpCode": "200"},
            Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
        )
        arn = str(r["TargetGroups"][0]["TargetGroupArn"])
        self.call(
            "elbv2",
            "modify_target_group_attributes",
            TargetGroupArn=arn,
            Attributes=[
                {"Key": "deregistration_delay.timeout_seconds", "Value": str(deregistration_delay)}
            ],
        )
        return arn

    def create_listener(
        self,
        load_balancer_arn: str,
        port: int,
        target_group_arn: str,
        certificate_arn: str | None = None,
    ) -> str:
        """HTTP (or HTTPS with a certificate) listener forwarding to one target group."""
        params: dict[str, Any] = {
            "LoadBalancerArn": load_balancer_arn,
            "Protocol": "HTTPS" if certificate_arn else "HTTP",
            "Port": port,
            "DefaultActions": [forward_action(((target_group_arn, 1),))],
        }
        if certificate_arn:
            params["Certificates"] = [{"CertificateArn": certificate_arn}]
            params["SslPolicy"] = "ELBSecurityPolicy-TLS13-1-2-2021-06"
        r = self.call("elbv2", "create_listener", **params)
        return str(r["Listeners"][0]["ListenerArn"])

    def create_host_rule(
        self, listener_arn: str, hosts: Sequence[str], target_group_arn: str, priority: int
    ) -> str:
        """A listener rule forwarding requests for ``hosts`` (wildcards allowed)."""
        r = self.call(
            "elbv2",
            "create_rule",
            ListenerArn=listener_arn,
            Priority=priority,
            Conditions=[{"Field": "host-header", "HostHeaderConfig": {"Values": list(hosts)}}],
            Actions=[forward_action(((target_group_arn, 1),))],
        )
        return str(r["Rules"][0]["RuleArn"])

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
