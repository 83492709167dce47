"""Repeated and missing: how AWS answers a create it has seen before or a
delete of something that is not there, where the emulator replaces,
duplicates or silently succeeds."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from bluegreen.emulator.fidelity.layer import Behaviour
from bluegreen.emulator.fidelity.wire import Call, Reply, error, sub_request

_R53 = "{https://route53.amazonaws.com/doc/2013-04-01/}"


class ClientTokens(Behaviour):
    """EC2 idempotency: a request repeating a client token with the same
    parameters gets the original request's result (even when that resource
    has since been deleted); with other parameters, IdempotentParameterMismatch
    https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-idempotency.html
    """

    def reset(self) -> None:
        self.seen: dict[tuple[str, str], tuple[str, Reply]] = {}

    def before(self, call: Call) -> Reply | None:
        token = call.get("ClientToken")
        if call.service != "ec2" or not token:
            return None
        seen = self.seen.get((call.action, token))
        if seen is None:
            return None
        fingerprint, reply = seen
        if fingerprint == call.fingerprint("ClientToken"):
            return reply
        return error(
            call,
            400,
            "IdempotentParameterMismatch",
            f"The client token {token} has already been used with different parameters.",
        )

    def after(self, call: Call, reply: Reply) -> Reply:
        token = call.get("ClientToken")
        if call.service == "ec2" and token and reply.ok:
            self.seen.setdefault((call.action, token), (call.fingerprint("ClientToken"), reply))
        return reply


def _exists(layer_app: object, call: Call, action: str, member: str, name: str) -> bool:
    params = {"Action": action, "Version": "2011-01-01", f"{member}.member.1": name}
    reply = sub_request(layer_app, call, params=params)  # type: ignore[arg-type]
    return reply.ok and f">{name}<" in reply.text


class AutoScalingNames(Behaviour):
    """CreateAutoScalingGroup and CreateLaunchConfiguration of a name in use
    answer AlreadyExists (the emulator replaces the original); deleting a
    launch configuration that does not exist answers ValidationError
    https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_CreateAutoScalingGroup.html
    https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_CreateLaunchConfiguration.html
    https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_DeleteLaunchConfiguration.html
    """

    def before(self, call: Call) -> Reply | None:
        if call.service != "autoscaling":
            return None
        app = self.layer.app
        group = call.get("AutoScalingGroupName")
        config = call.get("LaunchConfigurationName")
        if call.action == "CreateAutoScalingGroup" and _exists(
            app, call, "DescribeAutoScalingGroups", "AutoScalingGroupNames", group
        ):
            return error(
                call,
                400,
                "AlreadyExists",
                f"AutoScalingGroup by this name already exists - A group with the name "
                f"{group} already exists",
            )
        if call.action == "CreateLaunchConfiguration" and _exists(
            app, call, "DescribeLaunchConfigurations", "LaunchConfigurationNames", config
        ):
            return error(
                call,
                400,
                "AlreadyExists",
                f"Launch Configuration by this name already exists - A launch configuration "
                f"already exists with the name {config}",
            )
        if call.action == "DeleteLaunchConfiguration" and not _exists(
            app, call, "DescribeLaunchConfigurations", "LaunchConfigurationNames", config
        ):
            return error(
                call,
                400,
                "ValidationError",
                f"Launch configuration name not found - Launch configuration {config} not found",
            )
        return None


class HostedZones(Behaviour):
    """CreateHostedZone with a caller reference used before answers
    HostedZoneAlreadyExists (the emulator makes a second zone)
    https://docs.aws.amazon.com/Route53/latest/APIReference/API_CreateHostedZone.html
    A DELETE of a record that does not exist fails the batch with
    InvalidChangeBatch (the emulator succeeds)
    https://docs.aws.amazon.com/Route53/latest/APIReference/API_ChangeResourceRecordSets.html
    """

    def reset(self) -> None:
        self.references: set[str] = set()

    def before(self, call: Call) -> Reply | None:
        if call.service != "route53" or call.method != "POST":
            return None
        try:
            doc = ET.fromstring(call.body)
        except ET.ParseError:
            return None
        if call.action == "CreateHostedZone":
            ref = doc.findtext(f"{_R53}CallerReference") or ""
            if ref in self.references:
                return error(
                    call,
                    409,
                    "HostedZoneAlreadyExists",
                    "A hosted zone has already been created with the specified caller "
                    f"reference: {ref}",
                )
        elif call.action == "ChangeResourceRecordSets":
            deletes = [
                c.find(f"{_R53}ResourceRecordSet")
                for c in doc.iter(f"{_R53}Change")
                if c.findtext(f"{_R53}Action") == "DELETE"
            ]
            if deletes:
                return self._missing(call, [d for d in deletes if d is not None])
        return None

    def _missing(self, call: Call, deletes: list[ET.Element]) -> Reply | None:
        listing = sub_request(
            self.layer.app, call, method="GET", path=call.path, query="maxitems=1000"
        )
        existing = ET.fromstring(listing.body) if listing.ok else None
        have = set()
        if existing is not None:
            for r in existing.iter(f"{_R53}ResourceRecordSet"):
                have.add(_key(r))
        for d in deletes:
            if _key(d) not in have:
                name, kind, _ = _key(d)
                return error(
                    call,
                    400,
                    "InvalidChangeBatch",
                    f"[Tried to delete resource record set [name='{name}', type='{kind}'] but "
                    "it was not found]",
                )
        return None

    def after(self, call: Call, reply: Reply) -> Reply:
        if call.service == "route53" and call.action == "CreateHostedZone" and reply.ok:
            ref = re.search(r"<CallerReference>([^<]*)</CallerReference>", call.body.decode())
            if ref:
                self.references.add(ref.group(1))
        return reply


def _key(r: ET.Element) -> tuple[str, str, str]:
    name = (r.findtext(f"{_R53}Name") or "").lower().rstrip(".") + "."
    return name, r.findtext(f"{_R53}Type") or "", r.findtext(f"{_R53}SetIdentifier") or ""
