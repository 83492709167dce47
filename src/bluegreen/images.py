"""Release images: find the AMI of a version, or check a given AMI.

Convention: a release image is owned by the account and tagged
``bluegreen:domain=DOMAIN`` and ``bluegreen:version=V`` (``bake`` tags its
images so; tag your own Packer images the same way). ``deploy --version V``
looks it up by those tags; ``deploy --ami ID`` takes the image as given and
reads its version from the same tag when present.
"""

from __future__ import annotations

from typing import Any

from bluegreen.aws import Gateway
from bluegreen.aws.ec2 import tag_value
from bluegreen.errors import InputError, StateError
from bluegreen.naming import TAG_DOMAIN, TAG_VERSION, Names, validate_ami, validate_version
from bluegreen.strategies.base import Release


def register_demo_image(gw: Gateway, names: Names, version: str) -> str:
    """Register an image for ``version`` from the emulator's catalogue (demo only)."""
    r = gw.call(
        "ec2",
        "register_image",
        Name=names.image_name(version),
        Description=f"{names.domain} release {version}",
        Architecture="x86_64",
        RootDeviceName="/dev/xvda",
        BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 8}}],
        VirtualizationType="hvm",
    )
    image_id = str(r["ImageId"])
    # Tagged in a call of its own: not every endpoint applies TagSpecifications here.
    gw.call(
        "ec2",
        "create_tags",
        Resources=[image_id],
        Tags=[
            {"Key": TAG_DOMAIN, "Value": names.domain},
            {"Key": TAG_VERSION, "Value": version},
            {"Key": "Name", "Value": names.image_name(version)},
        ],
    )
    return image_id


def resolve(gw: Gateway, names: Names, *, ami: str | None, version: str | None) -> Release:
    if not ami and not version:
        raise InputError("deploy needs --ami AMI_ID or --version V", fix="pass one of them")
    if ami:
        validate_ami(ami)
    if version:
        validate_version(version)
    image: dict[str, Any] | None
    if ami:
        found = gw.images([ami])
        image = found[0] if found else None
        if image is None:
            raise StateError(
                f"image {ami} does not exist in {gw.region}",
                fix="check the id and the region (images are regional), or use --version",
            )
        tagged = tag_value(image.get("Tags"), TAG_VERSION)
        if version and tagged and tagged != version:
            raise StateError(
                f"image {ami} is tagged as version {tagged}, not {version}",
                fix="drop --version, or pass the image of that version",
            )
        version = version or tagged
    else:
        assert version
        found = gw.images_tagged({TAG_DOMAIN: names.domain, TAG_VERSION: version})
        if not found:
            raise StateError(
                f"no image of {names.domain} is tagged with version {version}",
                found=f"no image owned by this account has tags {TAG_DOMAIN}={names.domain} "
                f"and {TAG_VERSION}={version} in {gw.region}",
                fix="bake it (`bluegreen bake --version V`), tag your image that way, or pass --ami",
            )
        found.sort(key=lambda i: i.get("CreationDate", ""))
        image = found[-1]
        ami = str(image["ImageId"])
    if image.get("State", "available") != "available":
        raise StateError(
            f"image {ami} is {image.get('State')}, not available",
            fix="wait until the image is available, then deploy",
        )
    if version is not None:
        try:
            validate_version(version)
        except InputError:
            version = None
    name = names.release(version, ami) if version else f"{names.slug}-{ami}"
    root = str(image.get("RootDeviceName") or "/dev/xvda")
    size = next(
        (
            int(m["Ebs"]["VolumeSize"])
            for m in image.get("BlockDeviceMappings", [])
            if m.get("DeviceName") == root and m.get("Ebs", {}).get("VolumeSize")
        ),
        8,
    )
    return Release(ami=ami, version=version, name=name, root_device=root, root_size=size)
