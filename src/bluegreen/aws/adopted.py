"""The reads that find a site's adopted resources by id (``bluegreen.model.adoption``):
each returns None or leaves out what does not exist, so the caller can name
the setting and the id that is wrong."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bluegreen.aws.base import BaseGateway
from bluegreen.errors import AwsError, NotFound


class AdoptedCalls(BaseGateway):
    def vpc_by_id(self, vpc_id: str) -> dict[str, Any] | None:
        # A filter, not VpcIds: an unknown id is then an empty answer, not an error.
        r = self.call("ec2", "describe_vpcs", Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])
        vpcs = r.get("Vpcs", [])
        return dict(vpcs[0]) if vpcs else None

    def subnets_by_id(self, ids: Sequence[str]) -> list[dict[str, Any]]:
        if not ids:
            return []
        r = self.call(
            "ec2", "describe_subnets", Filters=[{"Name": "subnet-id", "Values": list(ids)}]
        )
        return list(r.get("Subnets", []))

    def security_groups_by_id(self, ids: Sequence[str]) -> list[dict[str, Any]]:
        if not ids:
            return []
        r = self.call(
            "ec2",
            "describe_security_groups",
            Filters=[{"Name": "group-id", "Values": list(ids)}],
        )
        return list(r.get("SecurityGroups", []))

    def zone_by_id(self, zone_id: str) -> dict[str, Any] | None:
        """The hosted zone (``HostedZone``) and, for a private zone, ``VPCs``."""
        try:
            r = self.call("route53", "get_hosted_zone", Id=zone_id)
        except AwsError as e:
            if isinstance(e, NotFound) or e.code == "NoSuchHostedZone":
                return None
            raise
        return {**r["HostedZone"], "VPCs": [v["VPCId"] for v in r.get("VPCs", [])]}

    def classic_tags(self, names: Sequence[str]) -> dict[str, dict[str, str]]:
        """Load balancer name -> its tags (classic)."""
        return self._tags("elb", "LoadBalancerNames", "LoadBalancerName", names)

    def elbv2_tags(self, arns: Sequence[str]) -> dict[str, dict[str, str]]:
        """ARN -> its tags (application load balancers and target groups)."""
        return self._tags("elbv2", "ResourceArns", "ResourceArn", arns)

    def _tags(
        self, service: str, param: str, key: str, ids: Sequence[str]
    ) -> dict[str, dict[str, str]]:
        """DescribeTags of both load balancing APIs: at most 20 resources a call."""
        out: dict[str, dict[str, str]] = {}
        ids = list(ids)
        for i in range(0, len(ids), 20):
            r = self.call(service, "describe_tags", **{param: ids[i : i + 20]})
            for d in r.get("TagDescriptions", []):
                out[d[key]] = {t["Key"]: t["Value"] for t in d.get("Tags", [])}
        return out

    def target_groups_by_arn(self, arns: Sequence[str]) -> list[dict[str, Any]]:
        if not arns:
            return []
        r = self.call("elbv2", "describe_target_groups", TargetGroupArns=list(arns))
        return list(r.get("TargetGroups", []))


def forwarded_target_groups(listeners: Sequence[dict[str, Any]]) -> list[str]:
    """The target groups the default actions of an application load balancer's
    listeners forward to (a listener redirecting to HTTPS forwards nowhere):
    an adopted ALB is one environment when this is exactly one group."""
    from bluegreen.aws.elb import forward_targets

    out: list[str] = []
    for ls in sorted(listeners, key=lambda x: -int(x.get("Port", 0))):
        for arn, _weight in forward_targets(ls.get("DefaultActions", [])):
            if arn not in out:
                out.append(arn)
    return out
