"""The Packer template and variables a bake writes (or the operator's own
template), and the environment Packer runs with."""

from __future__ import annotations

import os
from collections.abc import Sequence
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from pathlib import Path
from typing import Any

from bluegreen.images import bake_security as security
from bluegreen.images import imagetests
from bluegreen.images.bake_plan import SSH_USERNAME, TAG_BAKE_ID, BakeSpec
from bluegreen.model.naming import TAG_DOMAIN


# -- the template -----------------------------------------------------------------
def user_data(scripts: Sequence[Path]) -> str:
    """The scripts as one cloud-init multi-part document, run in order at first boot."""
    doc = MIMEMultipart()
    for p in scripts:
        part = MIMEText(p.read_text(), "x-shellscript")
        part.add_header("Content-Disposition", "attachment", filename=p.name)
        doc.attach(part)
    return doc.as_string()


def template(
    spec: BakeSpec,
    user_data_file: Path | None,
    caps: security.PackerCaps | None = None,
    *,
    session_manager: bool | None = None,
    staged_tests: Sequence[Path] = (),
) -> dict[str, Any]:
    """The Packer template (JSON) for ``spec``: one amazon-ebs build, with the
    security settings Packer ``caps`` allow (default: a Packer that knows them
    all; see bake_security). Raises MissingProgram when this Packer cannot
    build safely against AWS."""
    caps = caps or security.PackerCaps("any", frozenset(security.PROBED))
    domain = spec.tags[TAG_DOMAIN]
    # The bake policy lets Packer act only on what carries these tags
    # (iam_policy: aws:RequestTag on create, ec2:ResourceTag afterwards).
    owned = {TAG_DOMAIN: domain, TAG_BAKE_ID: spec.bake_id}
    builder: dict[str, Any] = {
        "type": "amazon-ebs",
        "region": spec.region,
        "source_ami": spec.source_ami,
        "instance_type": spec.instance_type,
        "vpc_id": spec.vpc_id,
        "subnet_id": spec.subnet_id,
        "associate_public_ip_address": True,
        "ami_name": spec.image_name,
        # no ami_description: Packer would set it with ModifyImageAttribute on the
        # new, still untagged image, a write the bake policy cannot scope by tag
        "tags": dict(spec.tags),
        "snapshot_tags": {**owned, "Name": spec.image_name},
        "run_tags": {**owned, "Name": f"bluegreen bake {spec.image_name}"},
        "run_volume_tags": {**owned, "Name": f"bluegreen bake {spec.image_name}"},
    }
    builder.update(
        security.settings(
            security.Build(
                admin_cidrs=spec.ssh_from,
                vpc_cidr=spec.vpc_cidr,
                root_device=spec.root_device,
                root_size=spec.root_size,
                source_imds=spec.source_imds,
                kms_key=spec.kms_key,
                instance_profile=spec.instance_profile,
                emulator=bool(spec.endpoint_url),
            ),
            caps,
            session_manager=session_manager,
        )
    )
    provisioners: list[dict[str, Any]] = []
    if spec.endpoint_url:
        builder.update(
            {
                "communicator": "none",
                "custom_endpoint_ec2": spec.endpoint_url,
                "skip_credential_validation": True,
                "skip_metadata_api_check": True,
                "skip_region_validation": True,
            }
        )
        if not spec.endpoint_credentials:
            builder.update({"access_key": "testing", "secret_key": "testing"})
        if user_data_file is not None:
            builder["user_data_file"] = str(user_data_file)
    else:
        builder.update({"communicator": "ssh", "ssh_username": SSH_USERNAME})
        if spec.profile:
            builder["profile"] = spec.profile
        if spec.scripts:
            provisioners.append(
                {
                    "type": "shell",
                    "scripts": [str(p) for p in spec.scripts],
                    "execute_command": "chmod +x {{ .Path }}; {{ .Vars }} sudo -E {{ .Path }}",
                }
            )
    provisioners += image_tests_step(spec, staged_tests)
    out: dict[str, Any] = {"builders": [builder]}
    if provisioners:
        out["provisioners"] = provisioners
    return out


def image_tests_step(spec: BakeSpec, staged_tests: Sequence[Path]) -> list[dict[str, Any]]:
    """The image tests: the template's last provisioners, one per test (imagetests.py).
    On AWS each runs on the build instance over SSH; on an emulator each runs with
    shell-local on this machine. Either way after the provisioning and before Packer
    creates the image, so a failing test leaves no image."""
    emulator = bool(spec.endpoint_url)
    env = imagetests.environment(spec.test_facts, "emulator" if emulator else "instance")
    return imagetests.provisioners(staged_tests, env, emulator=emulator)


def packer_env(spec: BakeSpec) -> dict[str, str]:
    env = dict(os.environ)
    env["CHECKPOINT_DISABLE"] = "1"  # Packer must not call home for version checks
    if spec.endpoint_url and spec.endpoint_credentials:
        # An emulator that checks who calls (endpoint_credentials): the usual chain.
        env["AWS_EC2_METADATA_DISABLED"] = "true"
    elif spec.endpoint_url:
        # An emulator: never hand it real credentials, never ask for instance metadata.
        for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
            env.pop(var, None)
        env.update(
            AWS_ACCESS_KEY_ID="testing",
            AWS_SECRET_ACCESS_KEY="testing",
            AWS_EC2_METADATA_DISABLED="true",
        )
    elif spec.profile:
        env["AWS_PROFILE"] = spec.profile
    env["AWS_REGION"] = env["AWS_DEFAULT_REGION"] = spec.region
    return env
