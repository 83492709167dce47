"""IAM: the web servers' role and instance profile."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

from bluegreen.aws.base import BaseGateway
from bluegreen.errors import AwsError, NotFound

IAM_PROPAGATION = 60.0  # seconds a new role or profile may stay unknown to IAM itself
T = TypeVar("T")

EC2_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "ec2.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}


class IamCalls(BaseGateway):
    def role(self, name: str) -> dict[str, Any] | None:
        try:
            return dict(self.call("iam", "get_role", RoleName=name)["Role"])
        except NotFound:
            return None

    def create_role(self, name: str, tags: dict[str, str]) -> None:
        """A retry of a create AWS made answers EntityAlreadyExists: it exists."""
        try:
            self.call(
                "iam",
                "create_role",
                RoleName=name,
                AssumeRolePolicyDocument=json.dumps(EC2_TRUST),
                Description="bluegreen web servers",
                Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
            )
        except AwsError as e:
            if e.code != "EntityAlreadyExists":
                raise

    def set_trust_policy(self, name: str) -> None:
        self.call(
            "iam", "update_assume_role_policy", RoleName=name, PolicyDocument=json.dumps(EC2_TRUST)
        )

    def inline_policy(self, role: str, name: str) -> dict[str, Any] | None:
        try:
            return self.role_policy(role, name)
        except NotFound:
            return None

    def put_role_policy(self, role: str, policy_name: str, document: dict[str, Any]) -> None:
        self._once_known(
            lambda: self.call(
                "iam",
                "put_role_policy",
                RoleName=role,
                PolicyName=policy_name,
                PolicyDocument=json.dumps(document),
            )
        )

    def _once_known(self, change: Callable[[], T]) -> T:
        """Run ``change``; while IAM answers NoSuchEntity (a role or profile
        created moments ago has not reached every IAM server: IAM is eventually
        consistent,
        https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_general.html#troubleshoot_general_eventual-consistency),
        try again with a growing pause, for up to ``IAM_PROPAGATION`` seconds."""
        start, delay = self.clock.monotonic(), 1.0
        while True:
            try:
                return change()
            except NotFound:
                if self.clock.monotonic() - start >= IAM_PROPAGATION:
                    raise
            self.clock.sleep(delay)
            delay = min(delay * 2, 8.0)

    def role_policies(self, role: str) -> tuple[list[str], list[str]]:
        """(inline policy names, attached managed policy ARNs)."""
        inline = self.call("iam", "list_role_policies", RoleName=role).get("PolicyNames", [])
        attached = self.call("iam", "list_attached_role_policies", RoleName=role)
        return list(inline), [p["PolicyArn"] for p in attached.get("AttachedPolicies", [])]

    def role_policy(self, role: str, name: str) -> dict[str, Any]:
        doc = self.call("iam", "get_role_policy", RoleName=role, PolicyName=name)["PolicyDocument"]
        return json.loads(doc) if isinstance(doc, str) else dict(doc)

    def instance_profile(self, name: str) -> dict[str, Any] | None:
        try:
            return dict(
                self.call("iam", "get_instance_profile", InstanceProfileName=name)[
                    "InstanceProfile"
                ]
            )
        except NotFound:
            return None

    def create_instance_profile(self, name: str, tags: dict[str, str] | None = None) -> None:
        try:
            self.call(
                "iam",
                "create_instance_profile",
                InstanceProfileName=name,
                **({"Tags": [{"Key": k, "Value": v} for k, v in tags.items()]} if tags else {}),
            )
        except AwsError as e:
            if e.code != "EntityAlreadyExists":
                raise

    def add_role_to_profile(self, name: str, role: str) -> None:
        """A profile holds one role: a retry of an add AWS made answers
        LimitExceeded; converged when the role is the one asked for. A role or
        profile made moments ago may be unknown yet (``_once_known``)."""
        try:
            self._once_known(
                lambda: self.call(
                    "iam", "add_role_to_instance_profile", InstanceProfileName=name, RoleName=role
                )
            )
        except AwsError as e:
            if e.code not in ("LimitExceeded", "EntityAlreadyExists"):
                raise
            profile = self.instance_profile(name) or {}
            if [r["RoleName"] for r in profile.get("Roles", [])] != [role]:
                raise

    def remove_role_from_profile(self, name: str, role: str) -> None:
        """A retry of a remove AWS made answers NoSuchEntity: the role is out."""
        try:
            self.call(
                "iam", "remove_role_from_instance_profile", InstanceProfileName=name, RoleName=role
            )
        except NotFound:
            profile = self.instance_profile(name)
            if profile is None or role in [r["RoleName"] for r in profile.get("Roles", [])]:
                raise
