"""``bluegreen bake``: build the image of a release (or the site's base image) with Packer.

The pipeline mirrors the other commands: decide everything first, then act.

1. **Check** (nothing changes): the ``packer`` executable exists; the site is set
   up (its VPC and first public subnet, found by name like ``init`` creates them);
   no image of this version exists yet (release images are immutable: ``deploy
   --version V`` must find exactly the image that was baked for V); the source
   image exists and is available.
2. **Write** a Packer template (or take the operator's, ``--template``) and a
   variable file with the site's convention (``VARIABLES``) into a temporary
   directory.
3. **Run** ``packer build -machine-readable``; every line Packer prints goes
   through the reporter as it arrives.
4. **Finish**: on success the image gets the convention's tags (again: an
   operator's template may have tagged it differently); on failure every image
   this bake registered (tag ``bluegreen:bake-id``, or its name without any bake
   id) is deregistered and its snapshots are deleted, then ``BuildFailed``
   (exit 10) carries Packer's own reason.

Source images: a release is baked on the newest base image of the site (tag
``bluegreen:role=base``) unless ``--base-ami`` names another; a base image is
baked on ``--base-ami`` or the latest Amazon Linux 2023 image, read from the
public SSM parameter ``AL2023_PARAMETER``.

Against an emulator (``endpoint_url`` set) nothing runs, so there is nothing to
connect to: the template uses ``communicator = "none"`` and the provisioning
scripts go in as user data (a cloud-init multi-part document, one part per
script, in order). Against AWS the SSH communicator and ``shell`` provisioners
run the scripts on the build instance with sudo. Image tests (``--test``,
``imagetests.py``) are the template's last provisioners, so a failing test
stops Packer before it creates the image; the image is tagged tested only then.

Bake takes no lock: it changes no environment of the site, and a bake can last
many minutes. Two bakes of the same version race on the image name, and AWS
lets only one register it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from pathlib import Path
from typing import Any

from bluegreen.aws import Gateway
from bluegreen.aws.ec2 import tag_value
from bluegreen.errors import (
    BluegreenError,
    BuildFailed,
    InputError,
    Interrupted,
    MissingProgram,
    StateError,
)
from bluegreen.images import bake_security as security
from bluegreen.images import catalog as images
from bluegreen.images import imagetests
from bluegreen.model.naming import TAG_DOMAIN, TAG_ROLE, TAG_VERSION, Names, validate_ami
from bluegreen.model.settings import Settings
from bluegreen.ui import Reporter

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


# -- running Packer ------------------------------------------------------------------
@dataclass
class PackerRun:
    code: int = 0
    artifacts: list[str] = field(default_factory=list)  # image ids
    errors: list[str] = field(default_factory=list)  # each build's error
    registered: list[str] = field(default_factory=list)  # images Packer said it created
    ui_errors: list[str] = field(default_factory=list)
    said: list[tuple[str, str]] = field(default_factory=list)  # (ui kind, text), in order
    lines: int = 0

    def reason(self) -> str:
        for source in (self.errors, self.ui_errors):
            text = "; ".join(e.strip() for e in source if e.strip())
            if text:
                return text
        return f"packer exited with code {self.code}"


def _unescape(s: str) -> str:
    return s.replace("%!(PACKER_COMMA)", ",").replace("\\n", "\n").replace("\\r", "")


def parse_line(line: str, run: PackerRun) -> list[str]:
    """Fold one ``-machine-readable`` line into ``run``; returns the text to show."""
    parts = line.rstrip("\n").split(",")
    if len(parts) < 4 or not parts[0].isdigit():
        return [line.rstrip()] if line.strip() else []
    kind, data = parts[2], [_unescape(p) for p in parts[3:]]
    if kind == "ui" and len(data) >= 2:
        text = ",".join(data[1:])
        run.said.append((data[0], text))
        if data[0] == "error":
            run.ui_errors.append(text)
        run.registered += re.findall(r"\bAMI: (ami-[0-9a-f]+)", text)
        return [t for t in text.split("\n") if t.strip()]
    if kind == "artifact" and len(data) >= 3 and data[1] == "id":
        for item in ",".join(data[2:]).split(","):
            ami = item.split(":")[-1].strip()
            if ami.startswith("ami-"):
                run.artifacts.append(ami)
    elif kind == "error" and data:
        run.errors.append(",".join(data))
    return []


def run_packer(
    argv: Sequence[str], env: dict[str, str], cwd: Path, reporter: Reporter
) -> PackerRun:
    """Run Packer, showing its progress line by line; never raises for a failed build."""
    run = PackerRun()
    try:
        proc = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
        )
    except OSError as e:
        raise MissingProgram(f"cannot run {argv[0]}: {e}", fix=INSTALL_HINT) from None
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            run.lines += 1
            for text in parse_line(line, run):
                if ": Adding tag: " in text:  # one line per tag and resource: only with -v
                    reporter.detail(f"packer: {text}")
                else:
                    reporter.info(f"packer: {text}")
        run.code = proc.wait()
    except (KeyboardInterrupt, Interrupted) as e:
        # Ctrl-C on a terminal reaches Packer too (same process group); SIGTERM reached
        # only us, so pass it on. Either way Packer stops and cleans up before we go on.
        if isinstance(e, Interrupted) and proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=600)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        raise
    return run


# -- cleaning up after a failure ---------------------------------------------------------
def leftovers(gw: Gateway, spec: BakeSpec) -> list[dict[str, Any]]:
    """Images this bake registered: tagged with its bake id, or carrying its name and
    no bake id at all (registered but not yet tagged when Packer stopped). The name
    was free when the bake started, so an untagged image of that name is this bake's."""
    mine = {str(i["ImageId"]): i for i in gw.images_tagged({TAG_BAKE_ID: spec.bake_id})}
    for i in gw.images_named(spec.image_name):
        if tag_value(i.get("Tags"), TAG_BAKE_ID) in (None, spec.bake_id):
            mine[str(i["ImageId"])] = i
    return list(mine.values())


def clean_up(gw: Gateway, spec: BakeSpec, reporter: Reporter) -> tuple[list[str], str | None]:
    """Remove everything of a failed bake; (removed ids, problem or None)."""
    removed: list[str] = []
    try:
        for image in leftovers(gw, spec):
            removed += images.remove(gw, images.Image.from_aws(image), reporter)
        for snap in gw.snapshots_tagged({TAG_BAKE_ID: spec.bake_id}):
            if snap not in removed and gw.delete_snapshot(snap):
                removed.append(snap)
        # A Packer that was killed leaves its build instance too (tagged by run_tags).
        builders = gw.instances_tagged({TAG_BAKE_ID: spec.bake_id})
        if builders:
            gw.terminate_instances(builders)
            reporter.step(f"terminated build instance {', '.join(builders)}")
            removed += builders
    except BluegreenError as e:
        return removed, e.message
    return removed, None


# -- the command ------------------------------------------------------------------------
def bake(
    gw: Gateway,
    settings: Settings,
    reporter: Reporter,
    *,
    version: str | None = None,
    base: bool = False,
    base_ami: str | None = None,
    scripts: Sequence[str] = (),
    template_file: str | None = None,
    packer: str | None = None,
    dry_run: bool = False,
    tests: Sequence[str] = (),
) -> dict[str, Any]:
    exe = find_packer(packer)
    caps = security.probe(exe) if template_file is None else None
    if template_file is not None and not Path(template_file).exists():
        raise InputError(
            f"Packer template {template_file} does not exist",
            fix="pass the path of a .json or .pkr.hcl template",
        )
    if template_file is not None and tests:
        raise InputError(
            "image tests run in bluegreen's generated template only, not in your own",
            found=f"--template {template_file} and tests {', '.join(tests)} "
            "(from --test or `tests` in bluegreen.toml)",
            fix="bake without --template, or run the tests as the last provisioners of "
            "your template and leave them out of this bake",
        )
    started = gw.clock.now()
    spec = plan(
        gw,
        settings,
        version=version,
        base=base,
        base_ami=base_ami,
        scripts=scripts,
        now=time.time(),
        tests=tests,
    )
    what = f"{spec.role} image {spec.image_name} on {spec.source_ami}"
    result: dict[str, Any] = {
        "command": "bake",
        "role": spec.role,
        "version": spec.version,
        "name": spec.image_name,
        "source_ami": spec.source_ami,
        "bake_id": spec.bake_id,
        "template": str(Path(template_file).resolve()) if template_file else "generated",
        "variables": spec.variables(),
        "tests": [t.name for t in spec.tests],
    }
    with tempfile.TemporaryDirectory(prefix="bluegreen-bake-") as tmp:
        work = Path(tmp)
        ud = None
        staged = imagetests.stage(spec.tests, work)
        if spec.endpoint_url and (spec.scripts or staged):
            # The tests follow the provisioning in the user data, as they follow it on AWS.
            ud = work / "user-data.mime"
            ud.write_text(user_data([*spec.scripts, *staged]))
        cwd = work
        if template_file:
            # Packer resolves a template's relative paths (scripts, files) from
            # its working directory: run it where the operator's template lives.
            tpl_path = Path(template_file).resolve()
            cwd = tpl_path.parent
            result["packer_cwd"] = str(cwd)
        else:
            tpl_path = work / "template.json"
            generated = template(spec, ud, caps, staged_tests=staged)
            tpl_path.write_text(json.dumps(generated, indent=2, sort_keys=True))
            result["generated_template"] = generated
            if caps is not None:
                result["packer_version"] = caps.version
        var_file = work / "bluegreen.vars.json"
        var_file.write_text(json.dumps(spec.variables(), indent=2, sort_keys=True))
        argv = [exe, "build", "-machine-readable", f"-var-file={var_file}", str(tpl_path)]
        if dry_run:
            reporter.info(f"would bake {what}")
            reporter.info(f"would run: {' '.join(argv)}")
            return {**result, "result": "dry run", "summary": f"would bake {what}"}
        reporter.step(f"bake {what} with Packer (bake id {spec.bake_id})")
        if template_file:
            reporter.info(f"running Packer in {cwd}: the template's relative paths start there")
        t0 = time.monotonic()
        try:
            run = run_packer_cleanly(gw, spec, argv, cwd, reporter, staged)
        except BuildFailed as e:
            _record(gw, settings.names(), started, {**result, "result": "failed"}, e)
            raise
        elapsed = round(time.monotonic() - t0, 3)
    ami = run.artifacts[-1]
    # The convention's tags, whatever the template did (idempotent when it tagged already).
    gw.create_tags([ami], spec.tags)
    got = gw.images([ami])
    if got and got[0].get("Name") != spec.image_name:
        reporter.warn(
            f"the template named the image {got[0].get('Name')!r}, not {spec.image_name!r}: "
            "bluegreen finds it by its tags all the same"
        )
    summary = f"baked {spec.role} image {ami} ({spec.image_name}) in {elapsed:.1f}s"
    reporter.info(summary)
    result.update(
        result="succeeded",
        image=ami,
        summary=summary,
        packer_seconds=elapsed,
        built_at=spec.built_at,
        tested=spec.tags.get(imagetests.TAG_TESTED),
    )
    _record(gw, settings.names(), started, result, None)
    return result


def run_packer_cleanly(
    gw: Gateway,
    spec: BakeSpec,
    argv: Sequence[str],
    work: Path,
    reporter: Reporter,
    staged_tests: Sequence[Path] = (),
) -> PackerRun:
    """Run Packer; when it fails or is stopped, remove what it registered, then raise."""
    try:
        run = run_packer(argv, packer_env(spec), work, reporter)
    except (KeyboardInterrupt, Interrupted):
        removed, problem = clean_up(gw, spec, reporter)
        if problem:
            reporter.warn(f"could not remove everything the bake made: {problem}")
        raise
    if run.code == 0 and run.artifacts:
        return run
    reason = run.reason() if run.code else "Packer finished but reported no image"
    removed, problem = clean_up(gw, spec, reporter)
    found = f"bake id {spec.bake_id}; " + _what_was_left(gw, run, removed)
    if problem:
        found += f"; cleaning up failed: {problem}"
    failed = imagetests.failure(run.said, staged_tests, [t.name for t in spec.tests], run.reason())
    if failed is not None:
        raise image_test_failed(spec, failed, found, problem)
    raise BuildFailed(
        f"Packer could not build {spec.image_name}: {reason}",
        found=found,
        fix="fix the cause Packer names (template, provisioning scripts, source image), "
        "then bake again"
        + (
            f"; and deregister any image tagged {TAG_BAKE_ID}={spec.bake_id} by hand"
            if problem
            else ""
        ),
    )


def image_test_failed(
    spec: BakeSpec, failed: imagetests.Failure, found: str, problem: str | None
) -> BuildFailed:
    """The error of a bake whose image test failed: the test, its exit status, its output."""
    status = f" with exit status {failed.status}" if failed.status is not None else ""
    where = "on this machine (emulator)" if spec.endpoint_url else "on the build instance"
    output = "\n".join(f"    | {line}" for line in failed.output) or "    | (no output)"
    return BuildFailed(
        f"image test {failed.name} failed{status} {where}: {spec.image_name} was not "
        f"registered\n  output of {failed.name}:\n{output}",
        found=found,
        fix=f"fix the image's provisioning (or the test {failed.name}), then bake again"
        + (
            f"; deregister any image tagged {TAG_BAKE_ID}={spec.bake_id} by hand" if problem else ""
        ),
    )


def _what_was_left(gw: Gateway, run: PackerRun, removed: list[str]) -> str:
    """What became of the images of a failed build, as the operator needs to hear it."""
    if removed:
        return f"removed what it had registered: {', '.join(removed)}"
    if not run.registered:
        return "it had registered no image"
    # Packer deregisters the image it made when a later step of the build fails.
    gone = [ami for ami in run.registered if not gw.images([ami])]
    kept = [ami for ami in run.registered if ami not in gone]
    said = []
    if gone:
        said.append(
            f"Packer registered {', '.join(gone)}, then deregistered it itself "
            "when the build failed: no image is left"
        )
    if kept:
        said.append(
            f"Packer registered {', '.join(kept)}, still there and not tagged as this "
            "bake's: deregister it by hand (`aws ec2 deregister-image`) if you do not want it"
        )
    return "; ".join(said)


def record_history(
    gw: Gateway,
    names: Names,
    command: str,
    started: float,
    result: dict[str, Any],
    facts: dict[str, Any],
    error: BluegreenError | None,
) -> None:
    """One entry in the site's history (best effort: a missing table only loses the entry)."""
    from bluegreen.clock import iso
    from bluegreen.lifecycle import history, lock

    entry = {
        "command": command,
        "who": lock.whoami(),
        "started": started,
        "when": iso(started),
        "duration": round(gw.clock.now() - started, 3),
        "result": result.get("result", "failed"),
        "summary": result.get("summary", ""),
        "facts": facts,
        "error": error.message if error else None,
    }
    with contextlib.suppress(BluegreenError):
        history.record(gw, names, entry)


def _record(
    gw: Gateway,
    names: Names,
    started: float,
    result: dict[str, Any],
    error: BluegreenError | None,
) -> None:
    facts = {
        k: result.get(k) for k in ("role", "version", "image", "source_ami", "bake_id", "tested")
    }
    record_history(gw, names, "bake", started, result, facts, error)
