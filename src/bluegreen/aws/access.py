"""Calls that limit who reaches the staging environment (``staging_cidrs``):
security groups on the load balancers, and listener rule conditions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bluegreen.aws.base import BaseGateway
from bluegreen.aws.elb import priority_taken, rule_hosts
from bluegreen.errors import AwsError


class AccessCalls(BaseGateway):
    # security_groups_named and revoke_ingress: in NetworkCalls; security_groups_by_id
    # in AdoptedCalls; delete_rule in ElbCalls (init uses them too)
    def set_balancer_security_groups(
        self, kind: str, name: str, arn: str | None, group_ids: Sequence[str]
    ) -> None:
        """Replace the load balancer's security groups, in one call (idempotent).

        Classic: https://docs.aws.amazon.com/elasticloadbalancing/2012-06-01/APIReference/API_ApplySecurityGroupsToLoadBalancer.html
        ALB: https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_SetSecurityGroups.html
        """
        if kind == "classic":
            self.call(
                "elb",
                "apply_security_groups_to_load_balancer",
                LoadBalancerName=name,
                SecurityGroups=list(group_ids),
            )
        else:
            self.call(
                "elbv2", "set_security_groups", LoadBalancerArn=arn, SecurityGroups=list(group_ids)
            )

    def set_rule_conditions(self, rule_arn: str, conditions: Sequence[dict[str, Any]]) -> None:
        self.call("elbv2", "modify_rule", RuleArn=rule_arn, Conditions=list(conditions))

    def create_rule(
        self,
        listener_arn: str,
        priority: int,
        conditions: Sequence[dict[str, Any]],
        actions: Sequence[dict[str, Any]],
    ) -> str:
        """A fixed-response rule for hosts (the staging refusal). Priorities are
        unique per listener: a retry of a create AWS made answers PriorityInUse
        (https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_CreateRule.html),
        and the rule at that priority is returned when it is that rule (the same
        hosts, the same fixed response); another rule there is refused."""
        try:
            r = self.call(
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
            listed = self.call("elbv2", "describe_rules", ListenerArn=listener_arn)
            at = [x for x in listed.get("Rules", []) if x.get("Priority") == str(priority)]
            if not at:
                raise
            if sorted(rule_hosts(at[0])) == sorted(rule_hosts({"Conditions": conditions})) and [
                _response(a) for a in at[0].get("Actions", [])
            ] == [_response(a) for a in actions]:
                return str(at[0]["RuleArn"])
            hosts = ", ".join(rule_hosts({"Conditions": conditions}))
            raise priority_taken(at[0], f"the rule refusing {hosts}") from None
        return str(r["Rules"][0]["RuleArn"])


def _response(action: dict[str, Any]) -> tuple[Any, ...]:
    fixed = action.get("FixedResponseConfig") or {}
    return (action.get("Type"), str(fixed.get("StatusCode")), fixed.get("MessageBody"))
