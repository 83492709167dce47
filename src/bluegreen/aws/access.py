"""Calls that limit who reaches the staging environment (``staging_cidrs``):
security groups on the load balancers, and listener rule conditions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bluegreen.aws.base import BaseGateway
from bluegreen.aws.elb import create_rule_at, rule_hosts


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
        """A fixed-response rule for hosts (the staging refusal); a retry finds
        it (``create_rule_at``) by the same hosts and the same fixed response."""
        hosts = rule_hosts({"Conditions": conditions})
        return create_rule_at(
            self,
            listener_arn,
            priority,
            conditions,
            actions,
            same=lambda rule: (
                sorted(rule_hosts(rule)) == sorted(hosts)
                and [_response(a) for a in rule.get("Actions", [])]
                == [_response(a) for a in actions]
            ),
            wanted=f"the rule refusing {', '.join(hosts)}",
        )


def _response(action: dict[str, Any]) -> tuple[Any, ...]:
    fixed = action.get("FixedResponseConfig") or {}
    return (action.get("Type"), str(fixed.get("StatusCode")), fixed.get("MessageBody"))
