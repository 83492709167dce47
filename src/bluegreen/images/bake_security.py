"""What the generated Packer template does for the build instance's security.

Against AWS, Packer reaches the build instance over SSH. Left to itself it
opens port 22 of a temporary security group to 0.0.0.0/0 for the length of the
build. bluegreen never lets it: the first of these that works is used, and
when none does, ``bake`` refuses before anything starts (exit 9):

1. the site's admin ranges (``admin_cidrs``, ``init --admin-cidr``):
   ``temporary_security_group_source_cidrs`` (every Packer from 1.6);
2. this machine's own public address, as AWS sees it:
   ``temporary_security_group_source_public_ip`` (the Amazon plugin 1.1.2 and
   later, https://github.com/hashicorp/packer-plugin-amazon/pull/250; not
   Debian's Packer 1.6.6);
3. Session Manager: ``ssh_interface = "session_manager"`` (Packer 1.6 and
   later; needs ``session-manager-plugin`` on this machine). The build instance
   gets the site's web-server instance profile, which allows Session Manager,
   and the temporary group allows SSH from the site's own VPC only.

The build instance requires IMDSv2 (``metadata_options``: tokens required,
hop limit 1; Packer 1.7 and later, https://github.com/hashicorp/packer/issues/9338).
With an older Packer, a source image whose ``ImdsSupport`` is ``v2.0`` (Amazon
Linux 2023's) gives the same (AWS applies the image's default when the launch
request says nothing); any other source image is refused.

The root volume of the build instance is encrypted from launch
(``launch_block_device_mappings``, with ``kms_key`` when set), so its snapshot
and the image are encrypted, with no unencrypted copy ever registered.

Which keys the installed Packer knows is asked of Packer itself: ``packer
validate`` of a small template names every unknown key (this holds for
HashiCorp's builds with any Amazon plugin version, and for Debian's).
Against an emulator (``endpoint_url``) there is no SSH at all
(``communicator = "none"``), and IMDSv2 is set only where Packer knows it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bluegreen.errors import MissingProgram

#: The optional keys bluegreen uses when the installed Packer knows them.
PROBED = ("metadata_options", "temporary_security_group_source_public_ip")
IMDS_V2 = {"http_endpoint": "enabled", "http_tokens": "required", "http_put_response_hop_limit": 1}
SESSION_MANAGER_PLUGIN = "session-manager-plugin"
UPGRADE = (
    "install HashiCorp's Packer (https://developer.hashicorp.com/packer/install) with "
    "the Amazon plugin 1.1.2 or later (`packer plugins install github.com/hashicorp/amazon`)"
)


@dataclass(frozen=True)
class PackerCaps:
    """The installed Packer: its version and which of ``PROBED`` it knows."""

    version: str
    known: frozenset[str]

    def knows(self, key: str) -> bool:
        return key in self.known


def probe(exe: str) -> PackerCaps:
    """Ask ``exe`` which of ``PROBED`` its amazon-ebs builder knows (no AWS call:
    validation only parses the template)."""
    env = dict(os.environ, CHECKPOINT_DISABLE="1", AWS_EC2_METADATA_DISABLED="true")
    try:
        out = subprocess.run(
            [exe, "version"], capture_output=True, text=True, env=env, timeout=60
        ).stdout
    except (OSError, subprocess.TimeoutExpired) as e:
        raise MissingProgram(f"cannot run {exe}: {e}", fix=UPGRADE) from None
    m = re.search(r"v?(\d+\.\d+\.\d+)", out)
    version = m.group(1) if m else "unknown"
    builder: dict[str, Any] = {
        "type": "amazon-ebs",
        "region": "us-east-1",
        "source_ami": "ami-12345678",
        "instance_type": "t3.micro",
        "ami_name": "bluegreen-probe",
        "ssh_username": "ec2-user",
        "access_key": "probe",
        "secret_key": "probe",
        "skip_region_validation": True,
        "skip_credential_validation": True,
        "metadata_options": IMDS_V2,
        "temporary_security_group_source_public_ip": True,
    }
    with tempfile.TemporaryDirectory(prefix="bluegreen-probe-") as tmp:
        path = Path(tmp) / "probe.json"
        path.write_text(json.dumps({"builders": [builder]}))
        try:
            r = subprocess.run(
                [exe, "validate", str(path)],
                capture_output=True,
                text=True,
                env=env,
                timeout=60,
                cwd=tmp,
            )
        except (OSError, subprocess.TimeoutExpired) as e:
            raise MissingProgram(f"cannot run {exe} validate: {e}", fix=UPGRADE) from None
    text = r.stdout + r.stderr
    if r.returncode != 0 and "unknown configuration key" not in text:
        # e.g. a Packer without the Amazon plugin ("The builder amazon-ebs is unknown")
        raise MissingProgram(
            f"Packer {version} cannot validate an amazon-ebs template",
            found=" ".join(text.split())[:300],
            fix="install the Amazon plugin: `packer plugins install github.com/hashicorp/amazon`",
        )
    unknown = set(re.findall(r"unknown configuration key: '\"?([a-z_]+)\"?'", text))
    return PackerCaps(version, frozenset(k for k in PROBED if k not in unknown))


@dataclass(frozen=True)
class Build:
    """What the template's security settings depend on."""

    admin_cidrs: tuple[str, ...]
    vpc_cidr: str
    root_device: str
    root_size: int | None  # GiB; None: the source image's (AWS fills it in)
    source_imds: str | None  # the source image's ImdsSupport ("v2.0" or None)
    kms_key: str | None
    instance_profile: str
    emulator: bool


def settings(b: Build, caps: PackerCaps, *, session_manager: bool | None = None) -> dict[str, Any]:
    """The builder keys for ``b`` with Packer ``caps``; raises MissingProgram
    (exit 9) when this Packer cannot build safely against AWS."""
    out: dict[str, Any] = {
        "launch_block_device_mappings": [
            {
                "device_name": b.root_device,
                "encrypted": True,
                "delete_on_termination": True,
                **({"volume_size": b.root_size} if b.root_size else {}),
                **({"kms_key_id": b.kms_key} if b.kms_key else {}),
            }
        ],
    }
    if caps.knows("metadata_options"):
        out["metadata_options"] = dict(IMDS_V2)
    elif not b.emulator and b.source_imds != "v2.0":
        raise MissingProgram(
            f"Packer {caps.version} cannot require IMDSv2 on the build instance",
            found="it does not know metadata_options (Packer 1.7 and later do), and the "
            "source image does not require IMDSv2 itself (ImdsSupport is not v2.0)",
            fix=f"{UPGRADE}; or bake on an image that requires IMDSv2 (Amazon Linux 2023)",
        )
    if b.emulator:
        return out
    if b.admin_cidrs:
        out["temporary_security_group_source_cidrs"] = list(b.admin_cidrs)
        return out
    if caps.knows("temporary_security_group_source_public_ip"):
        out["temporary_security_group_source_public_ip"] = True
        return out
    has_plugin = (
        shutil.which(SESSION_MANAGER_PLUGIN) is not None
        if session_manager is None
        else session_manager
    )
    if has_plugin:
        out.update(
            {
                "ssh_interface": "session_manager",
                "iam_instance_profile": b.instance_profile,
                # Packer still makes its temporary group: SSH only from the VPC itself
                "temporary_security_group_source_cidrs": [b.vpc_cidr],
            }
        )
        return out
    raise MissingProgram(
        f"Packer {caps.version} cannot limit SSH to the build instance: it would open "
        "port 22 to 0.0.0.0/0",
        found="no admin ranges (admin_cidrs), this Packer does not know "
        "temporary_security_group_source_public_ip, and the Session Manager plugin "
        f"({SESSION_MANAGER_PLUGIN}) is not installed",
        fix="set admin_cidrs (`bluegreen init --admin-cidr CIDR`) to the ranges this "
        "machine connects from; or install the Session Manager plugin "
        "(https://docs.aws.amazon.com/systems-manager/latest/userguide/"
        f"session-manager-working-with-install-plugin.html); or {UPGRADE}",
    )
