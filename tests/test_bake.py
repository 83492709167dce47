"""Baking images with the real Packer executable against the emulator, and listing
and pruning the site's images.

These tests need ``packer`` on PATH (``make test`` installs Debian's package when
it is missing); without it they fail, they do not skip. They run against an
emulator of their own (``python -m bluegreen.emulator.server``), which makes images
EBS-backed as AWS does: Packer refuses any other source image.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import re
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bluegreen.errors import MissingProgram
from bluegreen.images import bake_plan, packer, template
from bluegreen.images import bake_security as security
from bluegreen.images.catalog import Image, prune_plan
from conftest import DOMAIN, client, register_images, reset, run, start_emulator

PACKER_MISSING = (
    "these tests run the real packer executable: install it "
    "(`apt-get install packer`; `make test` does so when it is missing)"
)


@pytest.fixture(scope="module")
def packer_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    assert shutil.which("packer"), PACKER_MISSING
    yield from start_emulator(
        tmp_path_factory,
        [sys.executable, "-m", "bluegreen.emulator.server"],
        port_args=lambda port: [str(port)],
    )


@pytest.fixture
def paws(packer_emulator: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """A clean emulator for Packer; the working directory an empty temporary folder."""
    reset(packer_emulator)
    monkeypatch.chdir(tmp_path)
    for var in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "BLUEGREEN_DOMAIN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("BLUEGREEN_ENDPOINT_URL", packer_emulator)
    return packer_emulator


def source_image(url: str) -> str:
    """An image to build on, standing in for Amazon Linux."""
    r = client(url, "ec2").register_image(
        Name="al2023-stand-in",
        Architecture="x86_64",
        RootDeviceName="/dev/xvda",
        BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 8}}],
        VirtualizationType="hvm",
    )
    return str(r["ImageId"])


def tags_of(image: dict[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in image.get("Tags", [])}


def own_images(url: str) -> list[dict[str, Any]]:
    return list(client(url, "ec2").describe_images(Owners=["self"])["Images"])


def bake_json(*args: str) -> dict[str, Any]:
    r = run("--output", "json", "bake", *args)
    assert r.code == 0, r.err
    data = r.json()
    assert isinstance(data, dict)
    return data


def test_bake_base_then_release_then_deploy_and_switch(paws: str, tmp_path: Path) -> None:
    assert run("init").code == 0
    src = source_image(paws)
    base_sh = tmp_path / "base.sh"
    base_sh.write_text("#!/bin/sh\ndnf install -y nginx nodejs\n")
    app_sh = tmp_path / "app.sh"
    app_sh.write_text("#!/bin/bash\necho 'release v1' > /srv/www/VERSION\n")

    base = bake_json("--base", "--base-ami", src, "--provision", str(base_sh))
    assert base["result"] == "succeeded"
    base_tags = tags_of(client(paws, "ec2").describe_images(ImageIds=[base["image"]])["Images"][0])
    assert base_tags["bluegreen:domain"] == DOMAIN
    assert base_tags["bluegreen:role"] == "base"
    assert base_tags["bluegreen:source-ami"] == src
    assert "bluegreen:version" not in base_tags

    r = run("--output", "json", "bake", "--version", "v1", "--provision", str(app_sh))
    assert r.code == 0, r.err
    rel = r.json()
    assert "packer: ==> amazon-ebs: Creating AMI londontamed-com-v1 from instance" in r.err
    image = client(paws, "ec2").describe_images(ImageIds=[rel["image"]])["Images"][0]
    assert image["Name"] == "londontamed-com-v1"
    tags = tags_of(image)
    assert tags["bluegreen:version"] == "v1"
    assert tags["bluegreen:source-ami"] == base["image"]  # the newest base image by default
    assert tags["bluegreen:built-at"].endswith("Z")
    assert tags["bluegreen:bake-id"] == rel["bake_id"]

    # The scripts went in as user data of the build instance (no SSH against the emulator).
    ec2 = client(paws, "ec2")
    builders = [
        i["InstanceId"]
        for res in ec2.describe_instances(
            Filters=[{"Name": "tag:bluegreen:bake-id", "Values": [rel["bake_id"]]}]
        )["Reservations"]
        for i in res["Instances"]
    ]
    assert len(builders) == 1
    ud = ec2.describe_instance_attribute(InstanceId=builders[0], Attribute="userData")
    assert "release v1" in base64.b64decode(ud["UserData"]["Value"]).decode()

    for args in (("deploy", "--version", "v1"), ("switch",)):
        r = run(*args)
        assert r.code == 0, r.err
    st = run("--output", "json", "status").json()
    assert st["live"]["ami"] == rel["image"]
    assert st["live"]["version"] == "v1"

    listed = {row["image"]: row for row in run("--output", "json", "images").json()}
    assert listed[rel["image"]]["environment"] == "live"
    assert listed[rel["image"]]["version"] == "v1"
    assert listed[rel["image"]]["source_ami"] == base["image"]
    assert listed[base["image"]]["role"] == "base"
    assert listed[base["image"]]["environment"] == "none"
    text = run("images").out
    assert "v1" in text and "live" in text and rel["image"] in text

    # The same version is never baked twice: refused before Packer runs.
    again = run("bake", "--version", "v1")
    assert again.code == 3
    assert "exists already" in again.err
    print(f"\npacker: base {base['packer_seconds']}s, release {rel['packer_seconds']}s")


FAILING_TEMPLATE = {
    "variables": {name: "" for name in bake_plan.VARIABLES},
    "builders": [
        {
            "type": "amazon-ebs",
            "region": "{{user `bluegreen_region`}}",
            "custom_endpoint_ec2": "{{user `bluegreen_endpoint_url`}}",
            "access_key": "testing",
            "secret_key": "testing",
            "skip_credential_validation": True,
            "skip_metadata_api_check": True,
            "skip_region_validation": True,
            "communicator": "none",
            "source_ami": "{{user `bluegreen_source_ami`}}",
            "instance_type": "{{user `bluegreen_instance_type`}}",
            "vpc_id": "{{user `bluegreen_vpc_id`}}",
            "subnet_id": "{{user `bluegreen_subnet_id`}}",
            "ami_name": "{{user `bluegreen_image_name`}}",
            "tags": {"bluegreen:bake-id": "{{user `bluegreen_bake_id`}}"},
        }
    ],
    # The image is registered, then the build fails: the worst case for leftovers.
    "post-processors": [
        {"type": "shell-local", "inline": ["echo smoke test failed >&2", "exit 3"]}
    ],
}


def test_failed_build_leaves_no_image_and_says_why(paws: str, tmp_path: Path) -> None:
    assert run("init").code == 0
    src = source_image(paws)
    tpl = tmp_path / "release.json"
    tpl.write_text(json.dumps(FAILING_TEMPLATE))
    before = {i["ImageId"] for i in own_images(paws)}
    snaps_before = {
        s["SnapshotId"]
        for s in client(paws, "ec2").describe_snapshots(OwnerIds=["self"])["Snapshots"]
    }

    r = run("bake", "--version", "v2", "--base-ami", src, "--template", str(tpl))

    assert r.code == 10, r.err
    assert "build failed: Packer could not build londontamed-com-v2" in r.err
    assert "Post-processor failed" in r.err
    assert "smoke test failed" in r.err  # Packer's own output, shown as it ran
    assert {i["ImageId"] for i in own_images(paws)} == before
    snaps_after = {
        s["SnapshotId"]
        for s in client(paws, "ec2").describe_snapshots(OwnerIds=["self"])["Snapshots"]
    }
    assert snaps_after == snaps_before
    assert run("deploy", "--version", "v2").code == 3  # nothing to deploy


KILLER = """#!{python}
# Runs the real Packer and kills it (SIGKILL) as soon as the image is registered:
# Packer gets no chance to clean up, as when a machine dies mid-build.
import subprocess, sys
proc = subprocess.Popen([{packer!r}] + sys.argv[1:], stdout=subprocess.PIPE, text=True)
for line in proc.stdout:
    print(line, end="", flush=True)
    if "Waiting for AMI to become ready" in line:
        proc.kill()
        proc.wait()
        sys.exit(137)
sys.exit(proc.wait())
"""


def test_packer_killed_mid_build_leaves_no_image(paws: str, tmp_path: Path) -> None:
    assert run("init").code == 0
    src = source_image(paws)
    killer = tmp_path / "packer-killed"
    killer.write_text(KILLER.format(python=sys.executable, packer=shutil.which("packer")))
    killer.chmod(0o755)

    r = run("bake", "--version", "v3", "--base-ami", src, "--packer", str(killer))

    assert r.code == 10, r.err
    assert "packer exited with code 137" in r.err
    assert "removed what it had registered: ami-" in r.err
    assert [i["ImageId"] for i in own_images(paws)] == [src]
    snaps = client(paws, "ec2").describe_snapshots(OwnerIds=["self"])["Snapshots"]
    assert [s["SnapshotId"] for s in snaps] == [
        own_images(paws)[0]["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
    ]
    states = {
        i["State"]["Name"]
        for res in client(paws, "ec2").describe_instances(
            Filters=[{"Name": "tag:bluegreen:domain", "Values": [DOMAIN]}]
        )["Reservations"]
        for i in res["Instances"]
    }
    assert states <= {"terminated", "shutting-down"}  # the build instance was stopped


HCL_TEMPLATE = """
variable "bluegreen_region" { type = string }
variable "bluegreen_endpoint_url" { type = string }
variable "bluegreen_source_ami" { type = string }
variable "bluegreen_subnet_id" { type = string }
variable "bluegreen_image_name" { type = string }
variable "bluegreen_bake_id" { type = string }

source "amazon-ebs" "release" {
  region                     = var.bluegreen_region
  custom_endpoint_ec2        = var.bluegreen_endpoint_url
  access_key                 = "testing"
  secret_key                 = "testing"
  skip_credential_validation = true
  skip_metadata_api_check    = true
  skip_region_validation     = true
  communicator               = "none"
  source_ami                 = var.bluegreen_source_ami
  instance_type              = "t3.nano"
  subnet_id                  = var.bluegreen_subnet_id
  ami_name                   = var.bluegreen_image_name
  run_tags                   = { "bluegreen:bake-id" = var.bluegreen_bake_id }
}

build {
  sources = ["source.amazon-ebs.release"]
  # A path relative to the template: Packer runs where the template lives.
  provisioner "shell-local" { script = "scripts/smoke.sh" }
}
"""


def test_operators_hcl2_template_gets_the_convention(paws: str, tmp_path: Path) -> None:
    assert run("init").code == 0
    src = source_image(paws)
    (tmp_path / "packer" / "scripts").mkdir(parents=True)
    tpl = tmp_path / "packer" / "release.pkr.hcl"
    tpl.write_text(HCL_TEMPLATE)
    smoke = tmp_path / "packer" / "scripts" / "smoke.sh"
    smoke.write_text("#!/bin/sh\npwd > ran-in\n")
    smoke.chmod(0o755)
    r = run(
        *("--output", "json", "bake", "--version", "7.0", "--base-ami", src),
        *("--template", "packer/release.pkr.hcl"),  # relative to the working directory
    )
    assert r.code == 0, r.err
    data = r.json()
    assert data["template"] == str(tpl)
    assert (tmp_path / "packer" / "ran-in").read_text().strip() == str(tmp_path / "packer")
    assert f"running Packer in {tmp_path / 'packer'}" in r.err
    image = client(paws, "ec2").describe_images(ImageIds=[data["image"]])["Images"][0]
    assert image["Name"] == "londontamed-com-7.0"
    tags = tags_of(image)  # the template set none: bluegreen did
    assert tags["bluegreen:version"] == "7.0"
    assert tags["bluegreen:source-ami"] == src
    assert tags["bluegreen:bake-id"] == data["bake_id"]
    assert run("deploy", "--version", "7.0").code == 0


def test_bad_base_image_is_refused_before_packer_runs(paws: str) -> None:
    assert run("init").code == 0
    r = run("bake", "--version", "v1", "--base-ami", "ami-0123456789abcdef0")
    assert r.code == 3
    assert "source image ami-0123456789abcdef0 (--base-ami) does not exist" in r.err
    r = run("bake", "--version", "v1")
    assert r.code == 3
    assert "no base image" in r.err and "bluegreen bake --base" in r.err
    # The public SSM parameter names an image this emulator does not have.
    r = run("bake", "--base")
    assert r.code == 3
    assert "SSM parameter /aws/service/ami-amazon-linux-latest/al2023" in r.err
    assert "--base-ami" in r.err
    assert own_images(paws) == []


def test_bake_needs_a_set_up_site(paws: str) -> None:
    src = source_image(paws)
    r = run("bake", "--base", "--base-ami", src)
    assert r.code == 3
    assert "bluegreen init" in r.err


def test_missing_packer_is_exit_9_with_how_to_install(
    paws: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    r = run("bake", "--version", "v1")
    assert r.code == 9
    assert "missing program: Packer is not installed" in r.err
    assert "apt-get install packer" in r.err
    r = run("bake", "--version", "v1", "--packer", str(tmp_path / "nope"))
    assert r.code == 9


def test_dry_run_prints_the_template_and_runs_nothing(paws: str) -> None:
    assert run("init").code == 0
    src = source_image(paws)
    r = run("--output", "json", "bake", "--base", "--base-ami", src, "--dry-run")
    assert r.code == 0, r.err
    data = r.json()
    assert data["result"] == "dry run"
    builder = data["generated_template"]["builders"][0]
    assert builder["communicator"] == "none"
    assert builder["custom_endpoint_ec2"] == paws
    assert builder["source_ami"] == src
    assert data["variables"]["bluegreen_role"] == "base"
    assert [i["ImageId"] for i in own_images(paws)] == [src]


def test_prune_keeps_what_runs_and_what_templates_use(paws: str) -> None:
    assert run("init").code == 0
    amis = register_images(paws, "v1", "v2", "v3", "v4")
    for args in (("deploy", "--version", "v1"), ("switch",)):
        assert run(*args).code == 0
    # Another application's launch template used v2 in an old version.
    ec2 = client(paws, "ec2")
    ec2.create_launch_template(
        LaunchTemplateName="other-app", LaunchTemplateData={"ImageId": amis["v2"]}
    )
    ec2.create_launch_template_version(
        LaunchTemplateName="other-app", LaunchTemplateData={"ImageId": amis["v4"]}
    )
    ec2.create_launch_template_version(
        LaunchTemplateName="other-app", LaunchTemplateData={"ImageId": "ami-00000000"}
    )
    snaps = {
        i["ImageId"]: i["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"] for i in own_images(paws)
    }

    dry = run("--output", "json", "images", "prune", "--keep", "0", "--dry-run")
    assert dry.code == 0, dry.err
    assert sorted(p["version"] for p in dry.json()["pruned"]) == ["v3"]
    assert len(own_images(paws)) == 4

    r = run("--output", "json", "images", "prune", "--keep", "0")
    assert r.code == 0, r.err
    data = r.json()
    assert [p["image"] for p in data["pruned"]] == [amis["v3"]]
    assert data["in_use"][amis["v1"]] == "live"
    assert data["in_use"][amis["v2"]] == "launch template other-app v1"
    assert data["in_use"][amis["v4"]] == "launch template other-app v2"
    left = {i["ImageId"] for i in own_images(paws)}
    assert left == {amis["v1"], amis["v2"], amis["v4"]}
    remaining = {s["SnapshotId"] for s in ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]}
    assert snaps[amis["v3"]] not in remaining
    assert snaps[amis["v1"]] in remaining
    assert run("status").code == 0


def test_prune_keeps_the_newest_and_the_live_image(paws: str) -> None:
    assert run("init").code == 0
    amis = register_images(paws, "v1", "v2", "v3")
    for args in (("deploy", "--version", "v1"), ("switch",)):
        assert run(*args).code == 0
    r = run("--output", "json", "images", "prune", "--keep", "1")
    assert r.code == 0, r.err
    left = {i["ImageId"] for i in own_images(paws)}
    assert amis["v1"] in left  # older, but live
    assert len(left) == 2  # v1 and the newest other one
    again = run("--output", "json", "images", "prune", "--keep", "1")
    assert again.json()["result"] == "nothing to do"


# -- without AWS -----------------------------------------------------------------
def img(id: str, created: str, role: str = "release") -> Image:
    return Image(id, id, role, "v", created, None, "available", ())


def test_prune_plan_keeps_newest_per_role_and_what_runs() -> None:
    images = [
        img("r1", "2026-01-01"),
        img("r2", "2026-02-01"),
        img("r3", "2026-03-01"),
        img("r4", "2026-04-01"),
        img("b0", "2025-12-01", "base"),
        img("b1", "2026-01-01", "base"),
        img("b2", "2026-02-01", "base"),
    ]
    kept, doomed = prune_plan(images, 2, {"r1": "live"})
    assert [i.id for i in doomed] == ["b0", "r2"]  # oldest first
    assert {i.id for i in kept} == {"r1", "r3", "r4", "b1", "b2"}
    # In use does not count towards keep: r2 stays as one of the two newest unused.
    kept, doomed = prune_plan(images, 2, {"r4": "live"})
    assert [i.id for i in doomed] == ["b0", "r1"]
    pending = [
        img("r1", "2026-01-01"),
        Image("r0", "r0", "release", "v", "2025", None, "pending", ()),
    ]
    assert prune_plan(pending, 0, {})[1] == [pending[0]]


def test_machine_readable_lines() -> None:
    r = packer.PackerRun()
    assert packer.parse_line(
        "1795,,ui,say,==> amazon-ebs: No volumes%!(PACKER_COMMA) skipping\n", r
    ) == ["==> amazon-ebs: No volumes, skipping"]
    packer.parse_line("1795,amazon-ebs,artifact,0,id,us-east-1:ami-5a24813b7f4a707c4\n", r)
    assert r.artifacts == ["ami-5a24813b7f4a707c4"]
    packer.parse_line("1795,amazon-ebs,error,Post-processor failed:\\nexit 3\n", r)
    assert r.reason() == "Post-processor failed:\nexit 3"
    assert packer.parse_line("not machine readable\n", r) == ["not machine readable"]


def test_template_for_aws_uses_ssh_and_shell_provisioners(tmp_path: Path) -> None:
    script = tmp_path / "app.sh"
    script.write_text("#!/bin/sh\necho {{ not a template }}\n")
    s = spec(scripts=(script,), profile="prod")
    t = template.template(s, None)
    b = t["builders"][0]
    assert b["communicator"] == "ssh" and b["ssh_username"] == "ec2-user"
    assert b["profile"] == "prod"
    assert "temporary_security_group_source_cidrs" not in b
    narrow = template.template(dataclasses.replace(s, ssh_from=("203.0.113.0/24",)), None)
    assert narrow["builders"][0]["temporary_security_group_source_cidrs"] == ["203.0.113.0/24"]
    assert "custom_endpoint_ec2" not in b and "user_data_file" not in b
    assert t["provisioners"][0]["scripts"] == [str(script)]
    emu = template.template(
        dataclasses.replace(s, endpoint_url="http://127.0.0.1:1"),
        tmp_path / "ud",
    )
    eb = emu["builders"][0]
    assert eb["communicator"] == "none" and eb["user_data_file"] == str(tmp_path / "ud")
    assert "provisioners" not in emu
    ud = template.user_data([script, script])
    assert ud.count("Content-Type: text/x-shellscript") == 2
    assert "{{ not a template }}" in ud


# -- the build instance's security (bake_security) -----------------------------------
AWS_SPEC = bake_plan.BakeSpec(
    role="release",
    version="v1",
    image_name="londontamed-com-v1",
    source_ami="ami-0123456789abcdef0",
    region="eu-west-1",
    vpc_id="vpc-1",
    subnet_id="subnet-1",
    instance_type="t3.small",
    scripts=(),
    bake_id="abc",
    built_at="2026-11-26T08:00:00Z",
    endpoint_url=None,
    profile=None,
    tags={"bluegreen:domain": DOMAIN, "bluegreen:bake-id": "abc"},
    vpc_cidr="10.0.0.0/16",
    root_device="/dev/xvda",
    root_size=8,
    instance_profile="londontamed-com-webserver",
)
OLD = security.PackerCaps("1.6.6", frozenset())  # what Debian's Packer knows (measured)
NEW = security.PackerCaps("1.11.2", frozenset(security.PROBED))


def spec(**changes: Any) -> bake_plan.BakeSpec:
    return dataclasses.replace(AWS_SPEC, **changes)


def builder(s: bake_plan.BakeSpec, caps: security.PackerCaps, sm: bool = False) -> dict[str, Any]:
    b = template.template(s, None, caps, session_manager=sm)["builders"][0]
    assert "0.0.0.0/0" not in json.dumps(b) and "::/0" not in json.dumps(b)
    assert isinstance(b, dict)
    return b


def test_ssh_to_the_build_instance_is_never_open_to_the_world() -> None:
    # 1. the admin ranges, with any Packer
    for caps in (OLD, NEW):
        b = builder(spec(ssh_from=("203.0.113.0/24",), source_imds="v2.0"), caps)
        assert b["temporary_security_group_source_cidrs"] == ["203.0.113.0/24"]
        assert "temporary_security_group_source_public_ip" not in b
        assert "ssh_interface" not in b
    # 2. no ranges: this machine's public address, where Packer can
    b = builder(spec(), NEW)
    assert b["temporary_security_group_source_public_ip"] is True
    assert "temporary_security_group_source_cidrs" not in b
    # 3. an older Packer: Session Manager when its plugin is installed, with the
    # web-server profile (it allows Session Manager) and SSH only from the VPC
    b = builder(spec(source_imds="v2.0"), OLD, sm=True)
    assert b["ssh_interface"] == "session_manager"
    assert b["iam_instance_profile"] == "londontamed-com-webserver"
    assert b["temporary_security_group_source_cidrs"] == ["10.0.0.0/16"]
    # 4. else refused, exit 9, saying what would happen and the three ways out
    with pytest.raises(MissingProgram) as e:
        template.template(spec(source_imds="v2.0"), None, OLD, session_manager=False)
    assert e.value.exit_code == 9
    assert "Packer 1.6.6 cannot limit SSH" in e.value.message
    assert "0.0.0.0/0" in e.value.message
    text = e.value.render()
    assert "admin_cidrs" in text and "Session Manager plugin" in text and "1.1.2" in text


def test_the_build_instance_requires_imdsv2_and_its_image_is_encrypted() -> None:
    b = builder(spec(kms_key="alias/images"), NEW)
    assert b["metadata_options"] == {
        "http_endpoint": "enabled",
        "http_tokens": "required",
        "http_put_response_hop_limit": 1,
    }
    assert b["launch_block_device_mappings"] == [
        {
            "device_name": "/dev/xvda",
            "encrypted": True,
            "delete_on_termination": True,
            "volume_size": 8,
            "kms_key_id": "alias/images",
        }
    ]
    # a Packer without metadata_options: only on a source image that requires IMDSv2
    b = builder(spec(source_imds="v2.0", ssh_from=("203.0.113.0/24",)), OLD)
    assert "metadata_options" not in b
    with pytest.raises(MissingProgram, match="cannot require IMDSv2") as e:
        template.template(spec(ssh_from=("203.0.113.0/24",)), None, OLD)
    assert e.value.exit_code == 9
    # the tags the bake policy's conditions need, on everything Packer creates
    b = builder(spec(), NEW)
    for key in ("run_tags", "run_volume_tags", "snapshot_tags", "tags"):
        assert b[key]["bluegreen:domain"] == DOMAIN, key
        assert b[key]["bluegreen:bake-id"] == "abc", key


def test_the_installed_packer_is_asked_what_it_knows() -> None:
    exe = shutil.which("packer")
    assert exe, PACKER_MISSING
    caps = security.probe(exe)
    assert caps.version[0].isdigit()
    if caps.version.startswith("1.6."):  # Debian's: neither key (measured on 1.6.6)
        assert caps.known == frozenset()


def test_printed_template_against_the_emulator(paws: str) -> None:
    """The template bake prints (--dry-run): encrypted root volume, every
    resource tagged, IMDSv2 where the installed Packer knows it, no SSH."""
    assert run("init").code == 0
    src = source_image(paws)
    data = bake_json("--version", "v9", "--base-ami", src, "--dry-run")
    b = data["generated_template"]["builders"][0]
    assert data["packer_version"] == security.probe(str(shutil.which("packer"))).version
    assert b["communicator"] == "none"
    assert b["launch_block_device_mappings"][0]["encrypted"] is True
    root = client(paws, "ec2").describe_images(ImageIds=[src])["Images"][0]["RootDeviceName"]
    assert b["launch_block_device_mappings"][0]["device_name"] == root
    assert b["run_volume_tags"]["bluegreen:domain"] == DOMAIN
    assert b["run_tags"]["bluegreen:bake-id"] == data["bake_id"]
    known = security.probe(str(shutil.which("packer"))).known
    assert ("metadata_options" in b) == ("metadata_options" in known)
    assert "0.0.0.0/0" not in json.dumps(b)


def test_image_packer_removed_itself_is_reported_as_such(paws: str, tmp_path: Path) -> None:
    """Packer registers the image, a later step fails, and Packer deregisters it
    itself: the message says so, not that nothing was registered."""
    assert run("init").code == 0
    src = source_image(paws)
    tpl: dict[str, Any] = json.loads(json.dumps(FAILING_TEMPLATE))
    del tpl["post-processors"]
    tpl["builders"][0]["ami_groups"] = ["no-such-group"]  # fails after the image exists
    (tmp_path / "release.json").write_text(json.dumps(tpl))

    r = run("bake", "--version", "v4", "--base-ami", src, "--template", "release.json")

    assert r.code == 10, r.err
    ami = re.search(r"AMI: (ami-[0-9a-f]+)", r.err)
    assert ami, r.err
    assert f"Packer registered {ami.group(1)}, then deregistered it itself" in r.err
    assert "it had registered no image" not in r.err
    assert [i["ImageId"] for i in own_images(paws)] == [src]
