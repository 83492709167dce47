"""The calls ``teardown`` needs: finding what is left of a site and deleting
it. Every delete treats "already gone" as success, so a teardown that was
interrupted finishes when it is run again."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bluegreen.aws.base import BaseGateway
from bluegreen.errors import AwsError, NotFound


def _gone(e: AwsError) -> bool:
    text = f"{e.code} {e.message}".lower()
    return (
        isinstance(e, NotFound)
        or e.code.startswith("NoSuch")  # Route 53: NoSuchHostedZone
        or "notfound" in text
        or "not found" in text
        or ("does not exist" in text)
    )


def _record_id(record: dict[str, Any]) -> tuple[str, str, str]:
    """What names a record set in its zone: name, type, set identifier."""
    name = str(record["Name"]).lower().rstrip(".")
    return name, str(record["Type"]), str(record.get("SetIdentifier", ""))


class TeardownCalls(BaseGateway):
    def _delete(self, service: str, operation: str, **params: Any) -> bool:
        """Call a delete; False when the thing was already gone."""
        try:
            self.call(service, operation, **params)
        except AwsError as e:
            if _gone(e):
                return False
            raise
        return True

    # -- finding ----------------------------------------------------------------
    def launch_template_names_tagged(self, key: str, value: str) -> list[str]:
        found = self.pages(
            "ec2",
            "describe_launch_templates",
            "LaunchTemplates",
            Filters=[{"Name": f"tag:{key}", "Values": [value]}],
        )
        return sorted(t["LaunchTemplateName"] for t in found)

    def all_records(self, zone_id: str) -> list[dict[str, Any]]:
        # One large page: moto's pagination breaks once weighted records exist.
        out: list[dict[str, Any]] = []
        params: dict[str, Any] = {"HostedZoneId": zone_id, "MaxItems": "300"}
        while True:
            r = self.call("route53", "list_resource_record_sets", **params)
            out += r.get("ResourceRecordSets", [])
            if not r.get("IsTruncated") or "NextRecordName" not in r:
                return out
            params["StartRecordName"] = r["NextRecordName"]
            params["StartRecordType"] = r.get("NextRecordType", "A")
            if r.get("NextRecordIdentifier"):
                params["StartRecordIdentifier"] = r["NextRecordIdentifier"]

    def security_groups_of(self, vpc_id: str) -> list[dict[str, Any]]:
        r = self.call(
            "ec2", "describe_security_groups", Filters=[{"Name": "vpc-id", "Values": [vpc_id]}]
        )
        return list(r.get("SecurityGroups", []))

    def item_keys(self, table: str, pk: str) -> list[tuple[str, str]]:
        keys: list[tuple[str, str]] = []
        params: dict[str, Any] = {
            "TableName": table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": pk}},
            "ProjectionExpression": "pk, sk",
        }
        while True:
            r = self.call("dynamodb", "query", **params)
            keys += [(i["pk"]["S"], i["sk"]["S"]) for i in r.get("Items", [])]
            if not r.get("LastEvaluatedKey"):
                return keys
            params["ExclusiveStartKey"] = r["LastEvaluatedKey"]

    def other_partitions(self, table: str, mine: Sequence[str], limit: int = 1000) -> list[str]:
        """Partition keys in ``table`` other than ``mine`` (other sites' items)."""
        found: set[str] = set()
        params: dict[str, Any] = {
            "TableName": table,
            "ProjectionExpression": "pk",
            "ConsistentRead": True,
        }
        while True:
            r = self.call("dynamodb", "scan", **params)
            found |= {i["pk"]["S"] for i in r.get("Items", [])} - set(mine)
            if found or not r.get("LastEvaluatedKey") or len(found) >= limit:
                return sorted(found)
            params["ExclusiveStartKey"] = r["LastEvaluatedKey"]

    # -- deleting ---------------------------------------------------------------
    def delete_items(self, table: str, keys: Sequence[tuple[str, str]]) -> None:
        for i in range(0, len(keys), 25):
            batch = [
                {"DeleteRequest": {"Key": {"pk": {"S": pk}, "sk": {"S": sk}}}}
                for pk, sk in keys[i : i + 25]
            ]
            pending: dict[str, Any] = {table: batch}
            for _ in range(8):
                r = self.call("dynamodb", "batch_write_item", RequestItems=pending)
                pending = r.get("UnprocessedItems") or {}
                if not pending:
                    break
                self.clock.sleep(0.5)

    def delete_table(self, table: str) -> bool:
        return self._delete("dynamodb", "delete_table", TableName=table)

    def delete_alb(self, arn: str) -> bool:
        return self._delete("elbv2", "delete_load_balancer", LoadBalancerArn=arn)

    def delete_target_group(self, arn: str) -> bool:
        return self._delete("elbv2", "delete_target_group", TargetGroupArn=arn)

    def delete_classic_lb(self, name: str) -> bool:
        # Deleting a classic load balancer that does not exist succeeds in AWS.
        return self._delete("elb", "delete_load_balancer", LoadBalancerName=name)

    def delete_key_pair(self, name: str) -> bool:
        return self._delete("ec2", "delete_key_pair", KeyName=name)

    def delete_security_group(self, group_id: str) -> bool:
        return self._delete("ec2", "delete_security_group", GroupId=group_id)

    def delete_subnet(self, subnet_id: str) -> bool:
        return self._delete("ec2", "delete_subnet", SubnetId=subnet_id)

    def delete_route_table(self, route_table_id: str) -> bool:
        r = self.call(
            "ec2",
            "describe_route_tables",
            Filters=[{"Name": "route-table-id", "Values": [route_table_id]}],
        )
        for t in r.get("RouteTables", []):
            for a in t.get("Associations", []):
                if not a.get("Main") and a.get("RouteTableAssociationId"):
                    self._delete(
                        "ec2",
                        "disassociate_route_table",
                        AssociationId=a["RouteTableAssociationId"],
                    )
        return self._delete("ec2", "delete_route_table", RouteTableId=route_table_id)

    def delete_internet_gateway(self, igw: str, vpc_id: str) -> bool:
        try:
            self.call("ec2", "detach_internet_gateway", InternetGatewayId=igw, VpcId=vpc_id)
        except AwsError as e:
            if not (_gone(e) or "Gateway.NotAttached" in e.code):
                raise
        return self._delete("ec2", "delete_internet_gateway", InternetGatewayId=igw)

    def delete_vpc(self, vpc_id: str) -> bool:
        return self._delete("ec2", "delete_vpc", VpcId=vpc_id)

    def delete_record_sets(self, zone_id: str, records: Sequence[dict[str, Any]]) -> None:
        """Delete ``records`` in one batch. A retry of a batch AWS applied (its
        response lost) is refused with InvalidChangeBatch, "... but it was not
        found"; a batch is all or nothing
        (https://docs.aws.amazon.com/Route53/latest/APIReference/API_ChangeResourceRecordSets.html),
        so the records still there, if any, are deleted again."""
        try:
            self._delete_records(zone_id, records)
        except AwsError as e:
            if e.code != "InvalidChangeBatch" or "not found" not in e.message:
                raise
            present = {_record_id(r) for r in self.all_records(zone_id)}
            self._delete_records(zone_id, [r for r in records if _record_id(r) in present])

    def _delete_records(self, zone_id: str, records: Sequence[dict[str, Any]]) -> None:
        if records:
            changes = [{"Action": "DELETE", "ResourceRecordSet": r} for r in records]
            self.call(
                "route53",
                "change_resource_record_sets",
                HostedZoneId=zone_id,
                ChangeBatch={"Comment": "bluegreen teardown", "Changes": changes},
            )

    def delete_hosted_zone(self, zone_id: str) -> bool:
        return self._delete("route53", "delete_hosted_zone", Id=zone_id)

    def delete_instance_profile(self, name: str) -> bool:
        try:
            prof = self.call("iam", "get_instance_profile", InstanceProfileName=name)
        except NotFound:
            return False
        for role in prof["InstanceProfile"].get("Roles", []):
            self._delete(
                "iam",
                "remove_role_from_instance_profile",
                InstanceProfileName=name,
                RoleName=role["RoleName"],
            )
        return self._delete("iam", "delete_instance_profile", InstanceProfileName=name)

    def delete_role(self, name: str) -> bool:
        try:
            inline = self.call("iam", "list_role_policies", RoleName=name).get("PolicyNames", [])
        except NotFound:
            return False
        for p in inline:
            self._delete("iam", "delete_role_policy", RoleName=name, PolicyName=p)
        attached = self.call("iam", "list_attached_role_policies", RoleName=name)
        for p in attached.get("AttachedPolicies", []):
            self._delete("iam", "detach_role_policy", RoleName=name, PolicyArn=p["PolicyArn"])
        return self._delete("iam", "delete_role", RoleName=name)
