"""Eventual consistency and rates: what AWS has accepted is not usable at once.

- IAM: a new instance profile (or a role just added to it) is not yet known to
  EC2 and Auto Scaling, which reject it.
- DynamoDB: a new table is CREATING; its items cannot be used until ACTIVE.
- Route 53: a change is PENDING until every authoritative server has it.
- Route 53 answers at most five requests per second per account.
"""

from __future__ import annotations

import json
import re

from bluegreen.emulator.fidelity.layer import Behaviour
from bluegreen.emulator.fidelity.registry import registry
from bluegreen.emulator.fidelity.wire import Call, Reply, error, tag


class ProfilePropagation(Behaviour):
    """IAM is eventually consistent: "changes ... can take some time to become
    visible ... an instance profile ... might not be usable immediately"
    https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_general.html#troubleshoot_general_eventual-consistency
    Auto Scaling then refuses the launch setting with "Invalid IamInstanceProfile"
    https://docs.aws.amazon.com/autoscaling/ec2/userguide/ts-as-launch-template.html
    and EC2 with "Value (...) for parameter iamInstanceProfile.name is invalid"
    https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_use_switch-role-ec2_instance-profiles.html
    """

    def reset(self) -> None:
        self.changed: dict[str, float] = {}  # profile name -> when created / role added

    def _fresh(self, profile: str) -> bool:
        at = self.changed.get(profile)
        return at is not None and self.layer.now() - at < self.layer.timings.profile_propagation

    def before(self, call: Call) -> Reply | None:
        if call.service == "autoscaling" and call.action == "CreateLaunchConfiguration":
            profile = call.get("IamInstanceProfile").rsplit("/", 1)[-1]
            if self._fresh(profile):
                return error(call, 400, "ValidationError", f"Invalid IamInstanceProfile: {profile}")
        elif call.service == "autoscaling" and call.action in (
            "CreateAutoScalingGroup",
            "UpdateAutoScalingGroup",
        ):
            launch = registry(self.layer.behaviours).launch_of(call)
            if launch is not None and self._fresh(launch.profile):
                if call.get("LaunchConfigurationName"):
                    msg = f"Invalid IamInstanceProfile: {launch.profile}"
                else:
                    msg = (
                        "You must use a valid fully-formed launch template. Value "
                        f"({launch.profile}) for parameter iamInstanceProfile.name is invalid. "
                        "Invalid IAM Instance Profile name"
                    )
                return error(call, 400, "ValidationError", msg)
        elif call.service == "ec2" and call.action == "RunInstances":
            profile = (
                call.get("IamInstanceProfile.Name")
                or call.get("IamInstanceProfile.Arn").rsplit("/", 1)[-1]
            )
            if self._fresh(profile):
                return error(
                    call,
                    400,
                    "InvalidParameterValue",
                    f"Value ({profile}) for parameter iamInstanceProfile.name is invalid. "
                    "Invalid IAM Instance Profile name",
                )
        return None

    def after(self, call: Call, reply: Reply) -> Reply:
        if (
            reply.ok
            and call.service == "iam"
            and call.action
            in (
                "CreateInstanceProfile",
                "AddRoleToInstanceProfile",
            )
        ):
            self.changed[call.get("InstanceProfileName")] = self.layer.now()
        return reply


_DATA_PLANE = {
    "GetItem",
    "PutItem",
    "DeleteItem",
    "UpdateItem",
    "Query",
    "Scan",
    "BatchGetItem",
    "BatchWriteItem",
}


class TableCreation(Behaviour):
    """CreateTable returns at once with TableStatus CREATING; the table is
    usable when DescribeTable says ACTIVE
    https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_CreateTable.html
    Item operations on a table that is not ACTIVE answer ResourceNotFoundException
    ("... or its status might not be ACTIVE"), and changing it answers
    ResourceInUseException
    https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Programming.Errors.html
    """

    def reset(self) -> None:
        self.created: dict[str, float] = {}

    def _creating(self, table: str) -> bool:
        at = self.created.get(table)
        return at is not None and self.layer.now() - at < self.layer.timings.table_creation

    def before(self, call: Call) -> Reply | None:
        if call.service != "dynamodb":
            return None
        table = str(call.doc.get("TableName", ""))
        if call.action in _DATA_PLANE and self._creating(table):
            return error(call, 400, "ResourceNotFoundException", "Requested resource not found")
        if call.action in ("DeleteTable", "UpdateTable") and self._creating(table):
            return error(
                call,
                400,
                "ResourceInUseException",
                f"Attempt to change a resource which is still in use: Table is being "
                f"created: {table}",
            )
        return None

    def after(self, call: Call, reply: Reply) -> Reply:
        if call.service != "dynamodb" or not reply.ok:
            return reply
        table = str(call.doc.get("TableName", ""))
        if call.action == "CreateTable":
            self.created[table] = self.layer.now()
        elif call.action == "DeleteTable":
            self.created.pop(table, None)
        if call.action in ("CreateTable", "DescribeTable") and self._creating(table):
            doc = json.loads(reply.body)
            for key in ("TableDescription", "Table"):
                if key in doc:
                    doc[key]["TableStatus"] = "CREATING"
            return reply.with_text(json.dumps(doc))
        return reply


_STATUS = re.compile(r"(<ChangeInfo>\s*<Id>([^<]+)</Id>\s*<Status>)INSYNC(</Status>)")


class ChangePropagation(Behaviour):
    """A Route 53 change is PENDING until it has reached every authoritative
    server, "generally within 60 seconds"; GetChange then says INSYNC
    https://docs.aws.amazon.com/Route53/latest/APIReference/API_GetChange.html
    https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/resource-record-sets-changing.html
    """

    def reset(self) -> None:
        self.submitted: dict[str, float] = {}  # change id (without /change/) -> when

    def after(self, call: Call, reply: Reply) -> Reply:
        if call.service != "route53" or not reply.ok:
            return reply
        if call.action in ("ChangeResourceRecordSets", "CreateHostedZone"):
            for cid in tag(reply.text, "Id"):
                if cid.startswith("/change/"):
                    self.submitted[cid.removeprefix("/change/")] = self.layer.now()
        if call.action in ("ChangeResourceRecordSets", "CreateHostedZone", "GetChange"):
            now = self.layer.now()

            def pending(m: re.Match[str]) -> str:
                at = self.submitted.get(m.group(2).removeprefix("/change/"))
                if at is not None and now - at < self.layer.timings.dns_propagation:
                    return m.group(1) + "PENDING" + m.group(3)
                return m.group(0)

            return reply.with_text(_STATUS.sub(pending, reply.text))
        return reply


class Route53Rate(Behaviour):
    """ "Five requests per second per AWS account"; above it Route 53 answers
    Throttling, and PriorRequestNotComplete for ChangeResourceRecordSets
    https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/DNSLimitations.html#limits-api-requests
    (a token bucket of one second's requests)."""

    def reset(self) -> None:
        self.tokens = self.layer.timings.route53_rate
        self.at = self.layer.now()

    def before(self, call: Call) -> Reply | None:
        if call.service != "route53":
            return None
        rate = self.layer.timings.route53_rate
        now = self.layer.now()
        self.tokens = min(rate, self.tokens + (now - self.at) * rate)
        self.at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return None
        if call.action == "ChangeResourceRecordSets":
            return error(
                call,
                400,
                "PriorRequestNotComplete",
                "The request was rejected because Route 53 was still processing a prior request.",
            )
        return error(call, 400, "Throttling", "Rate exceeded")
