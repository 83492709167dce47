"""What a bake will do, decided before anything runs: the spec (source image,
version, scripts, tests, tags) and the checks that refuse a bake that cannot
succeed (see ``bluegreen.images.bake``)."""

from __future__ import annotations

import json
import shutil
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bluegreen.aws import Gateway
from bluegreen.aws.ec2 import tag_value
from bluegreen.errors import (
    InputError,
    MissingProgram,
    StateError,
)
from bluegreen.images import imagetests
from bluegreen.model.naming import TAG_DOMAIN, TAG_ROLE, TAG_VERSION, Names, validate_ami
from bluegreen.model.settings import Settings

AL2023_PARAMETER = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
TAG_SOURCE_AMI = "bluegreen:source-ami"
TAG_BUILT_AT = "bluegreen:built-at"
TAG_BAKE_ID = "bluegreen:bake-id"
TAG_BASE_VERSION = "bluegreen:base-version"
ROLE_BASE = "base"
ROLE_RELEASE = "release"
SSH_USERNAME = "ec2-user"  # Amazon Linux; an operator's own template decides otherwise

INSTALL_HINT = (
    "install Packer: `apt-get install packer` on Debian and Ubuntu, or HashiCorp's "
    "build from https://developer.hashicorp.com/packer/install (any 1.6 or later); "
    "or pass --packer PATH"
)

#: The variables bluegreen passes to every template (in a JSON variable file, so
#: a template declares only those it uses). Documented in docs/IMAGES.md.
VARIABLES = (
    "bluegreen_domain",
    "bluegreen_role",
    "bluegreen_version",
    "bluegreen_image_name",
    "bluegreen_source_ami",
    "bluegreen_built_at",
    "bluegreen_bake_id",
    "bluegreen_region",
    "bluegreen_vpc_id",
    "bluegreen_subnet_id",
    "bluegreen_instance_type",
    "bluegreen_scripts",
    "bluegreen_endpoint_url",
    "bluegreen_tags",
)


@dataclass(frozen=True)
class BakeSpec:
    """Everything one bake decided before Packer runs."""

    role: str  # ROLE_BASE or ROLE_RELEASE
    version: str  # the release version; for a base image its label
    image_name: str
    source_ami: str
    region: str
    vpc_id: str
    subnet_id: str
    instance_type: str
    scripts: tuple[Path, ...]
    bake_id: str
    built_at: str
    endpoint_url: str | None
    profile: str | None
    tags: dict[str, str] = field(default_factory=dict)
    ssh_from: tuple[str, ...] = ()  # who may reach the build instance's SSH port
    # what the template's security settings need (bake_security)
    vpc_cidr: str = "10.0.0.0/16"
    root_device: str = "/dev/xvda"
    root_size: int | None = None  # GiB, the source image's root volume
    source_imds: str | None = None  # the source image's ImdsSupport
    kms_key: str | None = None
    instance_profile: str = ""
    endpoint_credentials: bool = False  # an emulator that enforces IAM: the usual chain
    tests: tuple[imagetests.ImageTest, ...] = ()  # run after the provisioning
    test_facts: dict[str, str] = field(default_factory=dict)  # the tests' environment

    def variables(self) -> dict[str, str]:
        return {
            "bluegreen_domain": self.tags[TAG_DOMAIN],
            "bluegreen_role": self.role,
            "bluegreen_version": self.version,
            "bluegreen_image_name": self.image_name,
            "bluegreen_source_ami": self.source_ami,
            "bluegreen_built_at": self.built_at,
            "bluegreen_bake_id": self.bake_id,
            "bluegreen_region": self.region,
            "bluegreen_vpc_id": self.vpc_id,
            "bluegreen_subnet_id": self.subnet_id,
            "bluegreen_instance_type": self.instance_type,
            "bluegreen_scripts": ",".join(str(p) for p in self.scripts),
            "bluegreen_endpoint_url": self.endpoint_url or "",
            "bluegreen_tags": json.dumps(self.tags, sort_keys=True),
        }


# -- deciding -------------------------------------------------------------------
def find_packer(packer: str | None) -> str:
    exe = shutil.which(packer or "packer")
    if exe is None:
        raise MissingProgram(
            f"Packer is not installed: cannot run {packer or 'packer'}",
            found=f"no executable {packer or 'packer'!r} on PATH",
            fix=INSTALL_HINT,
        )
    return exe


def _stamp(now: float) -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))


def base_images(gw: Gateway, names: Names) -> list[dict[str, Any]]:
    """The site's base images, oldest first."""
    found = gw.images_tagged({TAG_DOMAIN: names.domain, TAG_ROLE: ROLE_BASE})
    return sorted(found, key=lambda i: (i.get("CreationDate", ""), i.get("Name", "")))


def _source_ami(gw: Gateway, names: Names, base: bool, base_ami: str | None) -> tuple[str, str]:
    """(image id, where it came from)."""
    if base_ami:
        return validate_ami(base_ami), "--base-ami"
    if base:
        ami = gw.parameter(AL2023_PARAMETER)
        if not ami:
            raise StateError(
                "cannot tell the latest Amazon Linux image: the public SSM parameter "
                f"{AL2023_PARAMETER} does not exist in {gw.region}",
                fix="pass --base-ami AMI_ID with the image to build the base image on",
            )
        return ami, f"SSM parameter {AL2023_PARAMETER}"
    bases = [i for i in base_images(gw, names) if i.get("State") == "available"]
    if not bases:
        raise StateError(
            f"{names.domain} has no base image to bake a release on",
            found=f"no available image owned by this account is tagged {TAG_DOMAIN}="
            f"{names.domain} and {TAG_ROLE}={ROLE_BASE} in {gw.region}",
            fix="bake one first (`bluegreen bake --base`), or pass --base-ami AMI_ID",
        )
    return str(bases[-1]["ImageId"]), f"the newest base image of {names.domain}"


def plan(
    gw: Gateway,
    settings: Settings,
    *,
    version: str | None,
    base: bool,
    base_ami: str | None,
    scripts: Sequence[str],
    now: float,
    tests: Sequence[str] = (),
) -> BakeSpec:
    """Check the world and decide the bake. Raises before anything changes."""
    names = settings.names()
    if not base and not version:
        raise InputError(
            "bake needs --version V (or --base for the base image)",
            fix="pass the release's version, e.g. --version 1.4.2",
        )
    paths = []
    for s in scripts:
        p = Path(s).expanduser()
        if not p.is_file():
            raise InputError(
                f"provisioning script {s} does not exist", fix="pass the path of a shell script"
            )
        paths.append(p.resolve())
    checks = imagetests.load(tests)
    built_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
    label = version or _stamp(now)
    name = names.image_name(f"base-{label}" if base else label)

    vpc = gw.find_vpc(TAG_DOMAIN, names.domain, names.vpc)
    subnet = None
    if names.adopted.vpc_id:  # an adopted network: its first subnet (bluegreen.model.adoption)
        found = gw.subnets_by_id(names.adopted.subnet_ids[:1])
        vpc = {"VpcId": names.adopted.vpc_id} if found else None
        subnet = found[0] if found else None
    elif vpc:
        subnet = next(
            (
                sn
                for sn in gw.find_subnets(vpc["VpcId"])
                if tag_value(sn.get("Tags"), "Name") == names.subnet(1)
            ),
            None,
        )
    if vpc is None or subnet is None:
        raise StateError(
            f"{names.domain} is not set up: no VPC {names.vpc} with subnet {names.subnet(1)}",
            fix="run `bluegreen init` first: images are built in the site's own network",
        )

    taken = gw.images_named(name)
    if not base and version:
        taken += gw.images_tagged({TAG_DOMAIN: names.domain, TAG_VERSION: version})
    if taken:
        ids = ", ".join(sorted({str(i["ImageId"]) for i in taken}))
        raise StateError(
            f"an image of {'base ' if base else ''}version {label} exists already: {ids}",
            found=f"image name {name} or tag {TAG_VERSION}={label} is taken",
            fix="release images are never rebuilt under the same version: bake a new "
            "version, or deregister the old image (`bluegreen images prune`) if no "
            "environment uses it",
        )

    ami, origin = _source_ami(gw, names, base, base_ami)
    found = gw.images([ami])
    if not found:
        raise StateError(
            f"source image {ami} ({origin}) does not exist in {gw.region}",
            fix="pass --base-ami with an image that exists in this region",
        )
    if found[0].get("State", "available") != "available":
        raise StateError(
            f"source image {ami} is {found[0].get('State')}, not available",
            fix="wait until it is available, or pass another --base-ami",
        )

    bake_id = uuid.uuid4().hex[:12]
    tags = {
        TAG_DOMAIN: names.domain,
        TAG_ROLE: ROLE_BASE if base else ROLE_RELEASE,
        TAG_SOURCE_AMI: ami,
        TAG_BUILT_AT: built_at,
        TAG_BAKE_ID: bake_id,
        "Name": name,
    }
    if base:
        tags[TAG_BASE_VERSION] = label
    else:
        tags[TAG_VERSION] = label
    if checks:
        # Applied when the image is created, which Packer does only after every test passed.
        tags[imagetests.TAG_TESTED] = imagetests.tag_value(checks)
    return BakeSpec(
        role=ROLE_BASE if base else ROLE_RELEASE,
        version=label,
        image_name=name,
        source_ami=ami,
        region=gw.region,
        vpc_id=str(vpc["VpcId"]),
        subnet_id=str(subnet["SubnetId"]),
        instance_type=settings.instance_type,
        scripts=tuple(paths),
        bake_id=bake_id,
        built_at=built_at,
        endpoint_url=settings.endpoint_url,
        profile=settings.profile,
        tags=tags,
        ssh_from=tuple(settings.admin_cidrs),
        vpc_cidr=str(vpc.get("CidrBlock", "10.0.0.0/16")),
        root_device=str(found[0].get("RootDeviceName") or "/dev/xvda"),
        root_size=_root_size(found[0]),
        source_imds=found[0].get("ImdsSupport"),
        kms_key=settings.kms_key,
        instance_profile=names.instance_profile,
        endpoint_credentials=settings.endpoint_credentials,
        tests=checks,
        test_facts={
            "BLUEGREEN_DOMAIN": names.domain,
            "BLUEGREEN_ROLE": ROLE_BASE if base else ROLE_RELEASE,
            "BLUEGREEN_VERSION": label,
            "BLUEGREEN_IMAGE_NAME": name,
            "BLUEGREEN_INSTANCE_PORT": "80",  # the load balancers' instance port (provision.py)
            "BLUEGREEN_HEALTH_PORT": str(settings.health_check_port),
            "BLUEGREEN_HEALTH_PATH": settings.health_check_path,
        },
    )


def _root_size(image: dict[str, Any]) -> int | None:
    root = image.get("RootDeviceName")
    for m in image.get("BlockDeviceMappings", []):
        if m.get("DeviceName") == root and m.get("Ebs", {}).get("VolumeSize"):
            return int(m["Ebs"]["VolumeSize"])
    return None
