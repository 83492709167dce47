"""Bring your own infrastructure: the resources a site adopts instead of creating.

A team that already has a VPC, subnets, hosted zones, load balancers, an
instance profile or security groups (made by Terraform, CloudFormation or by
hand) names them in ``bluegreen.toml``: ``vpc_id``, ``subnet_ids``,
``public_zone_id``, ``private_zone_id``, ``load_balancers``,
``instance_profile``, ``security_groups`` (and ``certificate_arn``, which
bluegreen never creates). ``Adopted`` carries them on ``Names``, so every
command finds the adopted resource where it would otherwise look for the
conventional name.

Ownership is decided by the settings and by the ``bluegreen:domain`` tag that
bluegreen writes on everything it creates, never by a name alone: an adopted
resource is never changed beyond the records and attachments the workflow
needs (``bluegreen.site.adopted`` checks that before ``init`` changes
anything) and never deleted by ``teardown``.

This module holds the value validators (``config`` uses them) and the
description of who owns what (``status`` and ``config`` show it); it calls no AWS.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from typing import Any

from bluegreen.errors import InputError

_VPC = re.compile(r"^vpc-[0-9a-f]{8}([0-9a-f]{9})?$")
_SUBNET = re.compile(r"^subnet-[0-9a-f]{8}([0-9a-f]{9})?$")
_SG = re.compile(r"^sg-[0-9a-f]{8}([0-9a-f]{9})?$")
# Route 53 hosted zone ids: up to 32 upper-case letters and digits (Z... in AWS)
_ZONE = re.compile(r"^[A-Z0-9]{1,32}$")
# Load balancer names: 1-32 letters, digits and hyphens, not starting or ending
# with a hyphen (https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_CreateLoadBalancer.html)
_LB = re.compile(r"^(?!-)[A-Za-z0-9-]{1,32}(?<!-)$")
# Instance profile names: 1-128 of [\w+=,.@-] (IAM), or its ARN
_PROFILE = re.compile(r"^[\w+=,.@-]{1,128}$")
_PROFILE_ARN = re.compile(
    r"^arn:aws[a-z-]*:iam::\d{12}:instance-profile/(?:[\w+=,.@/-]*/)?([\w+=,.@-]{1,128})$"
)


def _one(pattern: re.Pattern[str], what: str, example: str) -> Any:
    def check(v: object, key: str) -> str | None:
        if v is None or v == "":
            return None
        if not isinstance(v, str) or not pattern.match(v):
            raise InputError(f"{key}: {v!r} is not {what}", fix=f"use an id such as {example}")
        return v

    return check


def _many(pattern: re.Pattern[str], what: str, example: str) -> Any:
    def check(v: object, key: str) -> tuple[str, ...]:
        if isinstance(v, str):
            v = [x.strip() for x in v.split(",") if x.strip()]
        if not isinstance(v, (list, tuple)) or not all(isinstance(x, str) for x in v):
            raise InputError(f"{key}: expected a list of strings, got {v!r}")
        for x in v:
            if not pattern.match(x):
                raise InputError(f"{key}: {x!r} is not {what}", fix=f"use ids such as {example}")
        if len(set(v)) != len(v):
            raise InputError(f"{key}: {', '.join(v)} names one twice", fix="list each once")
        return tuple(v)

    return check


vpc_id = _one(_VPC, "a VPC id", "vpc-0123456789abcdef0")
subnet_ids = _many(_SUBNET, "a subnet id", "subnet-0123456789abcdef0")
security_groups = _many(_SG, "a security group id", "sg-0123456789abcdef0")


def zone_id(v: object, key: str) -> str | None:
    if isinstance(v, str) and v.startswith("/hostedzone/"):
        v = v[len("/hostedzone/") :]
    return _one(_ZONE, "a Route 53 hosted zone id", "Z0123456789ABCDEFGHIJ")(v, key)  # type: ignore[no-any-return]


def load_balancers(v: object, key: str) -> tuple[str, ...]:
    names = _many(_LB, "a load balancer name", "shop-blue, shop-green")(v, key)
    if names and len(names) != 2:
        raise InputError(
            f"{key}: {len(names)} load balancers given, the site needs two",
            found="one load balancer per environment (the live one and the staging one)",
            fix='name both: load_balancers = ["shop-blue", "shop-green"]',
        )
    return names  # type: ignore[no-any-return]


def instance_profile(v: object, key: str) -> str | None:
    if v is None or v == "":
        return None
    if isinstance(v, str):
        m = _PROFILE_ARN.match(v)
        if m:
            return m.group(1)
        if _PROFILE.match(v):
            return v
    raise InputError(
        f"{key}: {v!r} is not an instance profile name or ARN",
        fix="use the profile's name (web-servers) or its ARN",
    )


VALIDATORS = {
    "vpc_id": vpc_id,
    "subnet_ids": subnet_ids,
    "public_zone_id": zone_id,
    "private_zone_id": zone_id,
    "load_balancers": load_balancers,
    "instance_profile": instance_profile,
    "security_groups": security_groups,
}


@dataclass(frozen=True)
class Adopted:
    """The resources a site adopts (each empty: bluegreen makes its own)."""

    vpc_id: str | None = None
    subnet_ids: tuple[str, ...] = ()
    public_zone_id: str | None = None
    private_zone_id: str | None = None
    load_balancers: tuple[str, ...] = ()
    instance_profile: str | None = None
    security_groups: tuple[str, ...] = ()
    certificate_arn: str | None = None

    @classmethod
    def from_settings(cls, s: Any) -> Adopted:
        return cls(**{f.name: getattr(s, f.name) for f in fields(cls)})

    def checked(self) -> Adopted:
        """Refuse combinations init could not honour without changing what is
        adopted: every adopted network resource lives in the adopted VPC, so it
        is named with it (and the subnets with the VPC, and the VPC with them)."""
        needs_vpc = [
            key
            for key in ("subnet_ids", "private_zone_id", "load_balancers", "security_groups")
            if getattr(self, key)
        ]
        if needs_vpc and not self.vpc_id:
            raise InputError(
                f"{', '.join(needs_vpc)} given without vpc_id",
                found="adopted subnets, load balancers, security groups and a private zone "
                "belong to a VPC, and bluegreen would make the site a VPC of its own",
                fix='name the VPC they are in: vpc_id = "vpc-..." in bluegreen.toml',
            )
        if self.vpc_id and not self.subnet_ids:
            raise InputError(
                "vpc_id given without subnet_ids",
                found="bluegreen does not carve subnets out of a VPC it does not own",
                fix="name the subnets the load balancers and web servers use: "
                'subnet_ids = ["subnet-...", "subnet-..."]',
            )
        return self

    @property
    def any(self) -> bool:
        return any(getattr(self, f.name) for f in fields(self) if f.name != "certificate_arn")

    @property
    def network(self) -> bool:
        return bool(self.vpc_id)


NOTHING_ADOPTED = Adopted()

# What each resource family is called, and the key that adopts it.
FAMILIES = (
    ("vpc", "vpc_id", "VPC"),
    ("subnets", "subnet_ids", "subnets"),
    ("public_zone", "public_zone_id", "public hosted zone"),
    ("private_zone", "private_zone_id", "private hosted zone"),
    ("load_balancers", "load_balancers", "load balancers"),
    ("instance_profile", "instance_profile", "instance profile"),
    ("security_groups", "security_groups", "web servers' security groups"),
    ("certificate", "certificate_arn", "certificate"),
)


def ownership(names: Any) -> dict[str, dict[str, Any]]:
    """Who owns each resource family of the site: ``adopted`` (named in the
    settings; never changed beyond records and attachments, never deleted) or
    ``bluegreen`` (made by init under the conventional name, tagged
    ``bluegreen:domain``, deleted by teardown). No AWS call."""
    a: Adopted = names.adopted
    own: dict[str, Any] = {
        "vpc": names.vpc,
        "subnets": [names.subnet(1), names.subnet(2)],
        "public_zone": f"{names.zone_name} (public)",
        "private_zone": f"{names.zone_name} (private)",
        "load_balancers": [names.own_load_balancer(1), names.own_load_balancer(2)],
        "instance_profile": names.role,
        "security_groups": [names.security_group],
        "certificate": None,
    }
    out: dict[str, dict[str, Any]] = {}
    for family, key, _label in FAMILIES:
        value = getattr(a, key)
        if value:
            out[family] = {
                "owner": "adopted",
                "setting": key,
                "id": list(value) if isinstance(value, tuple) else value,
            }
        elif own[family] is not None:
            out[family] = {"owner": "bluegreen", "setting": key, "id": own[family]}
        else:
            out[family] = {"owner": "none", "setting": key, "id": None}
    return out


def ownership_lines(resources: dict[str, dict[str, Any]]) -> list[str]:
    """``ownership`` as two lines of text: what is adopted, what bluegreen owns."""
    labels = {family: label for family, _k, label in FAMILIES}

    def show(v: Any) -> str:
        return ", ".join(v) if isinstance(v, list) else str(v)

    adopted = [
        f"{labels[f]} {show(r['id'])}" for f, r in resources.items() if r["owner"] == "adopted"
    ]
    owned = [labels[f] for f, r in resources.items() if r["owner"] == "bluegreen"]
    return [
        "adopted (never changed or deleted): " + ("; ".join(adopted) or "nothing"),
        "made and owned by bluegreen: " + (", ".join(owned) or "nothing"),
    ]


def _zone_id(z: Any) -> str:
    return str(z["Id"]).split("/")[-1]


def pick_zones(zones: list[Any], adopted: Adopted) -> tuple[list[Any], list[Any]]:
    """(public, private) of the hosted zones named after the domain: the
    adopted ones when ``public_zone_id`` / ``private_zone_id`` name them (other
    zones of the same name are then not the site's), else every one of each kind."""
    public = [z for z in zones if not z.get("Config", {}).get("PrivateZone")]
    private = [z for z in zones if z.get("Config", {}).get("PrivateZone")]
    if adopted.public_zone_id:
        public = [z for z in public if _zone_id(z) == adopted.public_zone_id]
    if adopted.private_zone_id:
        private = [z for z in private if _zone_id(z) == adopted.private_zone_id]
    return public, private
