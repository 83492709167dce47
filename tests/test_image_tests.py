"""Image tests (``bake --test``, ``tests`` in bluegreen.toml) with the real Packer
executable against the emulator: a passing test gives a tagged, deployable image;
a failing one stops the build before the image is registered.

On the emulator Packer runs each test with shell-local on this machine, after the
build instance is launched and before the image is created (docs/IMAGES.md). The
passing test below checks exactly that from inside the build, through the emulator.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bluegreen.images import bake_plan, bake_security, imagetests, template
from conftest import DOMAIN, client, register_images, run
from test_bake import own_images, packer_emulator, paws, source_image, tags_of

__all__ = ["packer_emulator", "paws"]  # fixtures shared with test_bake

# Runs inside the build: the build instance must be running and the image must not
# exist yet. Prints what it was told, for the test to read in the streamed output.
INSIDE_THE_BUILD = """#!{python}
import os, sys, boto3
ec2 = boto3.client("ec2", endpoint_url=os.environ["BLUEGREEN_ENDPOINT_URL"],
                   region_name="us-east-1", aws_access_key_id="testing",
                   aws_secret_access_key="testing")
name = os.environ["BLUEGREEN_IMAGE_NAME"]
running = [i["InstanceId"] for r in ec2.describe_instances(Filters=[
    {{"Name": "tag:Name", "Values": ["bluegreen bake " + name]}},
    {{"Name": "instance-state-name", "Values": ["running"]}}])["Reservations"]
    for i in r["Instances"]]
images = ec2.describe_images(Owners=["self"], Filters=[{{"Name": "name", "Values": [name]}}])
print("on", os.environ["BLUEGREEN_TEST_ON"], "version", os.environ["BLUEGREEN_VERSION"],
      "health port", os.environ["BLUEGREEN_HEALTH_PORT"], "instance port",
      os.environ["BLUEGREEN_INSTANCE_PORT"])
print("build instances running:", len(running), "images named", name + ":",
      len(images["Images"]))
sys.exit(0 if len(running) == 1 and not images["Images"] else 1)
"""


def script(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


def state(url: str) -> dict[str, Any]:
    """What a bake could leave behind: images, snapshots, instances not terminated."""
    ec2 = client(url, "ec2")
    return {
        "images": sorted(i["ImageId"] for i in own_images(url)),
        "snapshots": sorted(
            s["SnapshotId"] for s in ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]
        ),
        "instances": sorted(
            i["InstanceId"]
            for r in ec2.describe_instances()["Reservations"]
            for i in r["Instances"]
            if i["State"]["Name"] not in ("terminated", "shutting-down")
        ),
    }


def test_passing_tests_tag_the_image_which_deploys_without_warning(
    paws: str, tmp_path: Path
) -> None:
    assert run("init").code == 0
    src = source_image(paws)
    app = script(tmp_path / "app.sh", "#!/bin/sh\necho 'release v1' > /srv/www/VERSION\n")
    inside = script(tmp_path / "inside.py", INSIDE_THE_BUILD.format(python=sys.executable))
    nginx = script(
        tmp_path / "nginx.sh", "#!/bin/sh\necho nginx answers on $BLUEGREEN_INSTANCE_PORT\n"
    )

    r = run(
        "--output", "json", "bake", "--version", "v1", "--base-ami", src,
        "--provision", app, "--test", inside, "--test", nginx,
    )  # fmt: skip

    assert r.code == 0, r.err
    data = r.json()
    assert data["tests"] == ["inside.py", "nginx.sh"]
    # Streamed as it ran, with the site's facts in the environment.
    assert "amazon-ebs: on emulator version v1 health port 3001 instance port 80" in r.err
    assert "build instances running: 1 images named londontamed-com-v1: 0" in r.err
    assert "amazon-ebs: nginx answers on 80" in r.err
    expected = imagetests.tag_value(imagetests.load([inside, nginx]))
    assert expected.startswith("sha256:") and expected.endswith(" inside.py nginx.sh")
    image = client(paws, "ec2").describe_images(ImageIds=[data["image"]])["Images"][0]
    assert tags_of(image)["bluegreen:tested"] == expected
    assert data["tested"] == expected

    # The tests follow the provisioning in the build instance's user data too.
    ec2 = client(paws, "ec2")
    builder = ec2.describe_instances(
        Filters=[{"Name": "tag:bluegreen:bake-id", "Values": [data["bake_id"]]}]
    )["Reservations"][0]["Instances"][0]["InstanceId"]
    ud = ec2.describe_instance_attribute(InstanceId=builder, Attribute="userData")
    text = base64.b64decode(ud["UserData"]["Value"]).decode()
    assert text.index('filename="app.sh"') < text.index('filename="inside.py"')
    assert text.index('filename="inside.py"') < text.index('filename="nginx.sh"')

    rows = {row["image"]: row for row in run("--output", "json", "images").json()}
    assert rows[data["image"]]["tested"] == expected
    assert "inside.py nginx.sh" in run("images").out

    d = run("--output", "json", "deploy", "--version", "v1")
    assert d.code == 0, d.err
    assert "never tested" not in d.err
    assert d.json()["image_tested"] == expected


def test_failing_test_means_no_image_no_snapshot_exit_10_with_its_output(
    paws: str, tmp_path: Path
) -> None:
    assert run("init").code == 0
    src = source_image(paws)
    ok = script(tmp_path / "node.sh", "#!/bin/sh\necho node v20.11.1\n")
    bad = script(
        tmp_path / "health.sh",
        "#!/bin/sh\necho 'GET http://localhost:3001/health'\n"
        "echo 'curl: (7) Failed to connect to localhost port 3001' >&2\nexit 7\n",
    )
    never = tmp_path / "never-ran"
    after = script(tmp_path / "after.sh", f"#!/bin/sh\ntouch {never}\n")
    before = state(paws)

    r = run("bake", "--version", "v2", "--base-ami", src,
            "--test", ok, "--test", bad, "--test", after)  # fmt: skip

    assert r.code == 10, r.err
    assert (
        "build failed: image test health.sh failed with exit status 7 on this machine "
        "(emulator): londontamed-com-v2 was not registered" in r.err
    )
    out = r.err.split("output of health.sh:")[1]
    assert "| GET http://localhost:3001/health" in out
    assert "| curl: (7) Failed to connect to localhost port 3001" in out
    assert "node v20.11.1" not in out  # the passing test's output is not the failure's
    assert "it had registered no image" in r.err
    assert not never.exists()  # the first failure stops the build
    assert state(paws) == before  # no image, no snapshot, no build instance left
    assert run("deploy", "--version", "v2").code == 3  # nothing to deploy


def test_tests_from_bluegreen_toml_and_untested_images_warn_on_deploy(
    paws: str, tmp_path: Path
) -> None:
    assert run("init").code == 0
    src = source_image(paws)
    (tmp_path / "checks").mkdir()
    script(tmp_path / "checks" / "ok.sh", "#!/bin/sh\nexit 0\n")
    (tmp_path / "bluegreen.toml").write_text(f'domain = "{DOMAIN}"\ntests = ["checks/ok.sh"]\n')

    cfg = run("--output", "json", "config").json()
    assert "checks/ok.sh" in str(cfg)
    r = run("--output", "json", "bake", "--version", "v3", "--base-ami", src)
    assert r.code == 0, r.err
    assert r.json()["tests"] == ["ok.sh"]
    assert r.json()["tested"].endswith(" ok.sh")

    # Tests cannot run in an operator's own template: refused before anything changes.
    tpl = tmp_path / "own.json"
    tpl.write_text("{}")
    before = state(paws)
    r = run("bake", "--version", "v4", "--base-ami", src, "--template", str(tpl))
    assert r.code == 2
    assert "image tests run in bluegreen's generated template only" in r.err
    assert state(paws) == before
    r = run("bake", "--version", "v4", "--test", "missing.sh")
    assert r.code == 2 and "image test missing.sh does not exist" in r.err

    # An image built elsewhere (no bluegreen:tested tag) still deploys, with a warning.
    amis = register_images(paws, "v9")
    d = run("--output", "json", "deploy", "--version", "v9")
    assert d.code == 0, d.err
    assert f"warning: image {amis['v9']} (version v9) was never tested" in d.err
    assert d.json()["image_tested"] is None
    rows = {row["image"]: row for row in run("--output", "json", "images").json()}
    assert rows[amis["v9"]]["tested"] is None


# -- without AWS -----------------------------------------------------------------
def test_aws_template_runs_the_tests_over_ssh_after_the_provisioning(tmp_path: Path) -> None:
    app = tmp_path / "app.sh"
    app.write_text("#!/bin/sh\n")
    t = tmp_path / "nginx.sh"
    t.write_text("#!/bin/sh\ncurl -fsS localhost\n")
    tests = imagetests.load([str(t)])
    spec = bake_plan.BakeSpec(
        role="release", version="v1", image_name="londontamed-com-v1",
        source_ami="ami-0123456789abcdef0", region="eu-west-1", vpc_id="vpc-1",
        subnet_id="subnet-1", instance_type="t3.small", scripts=(app,), bake_id="abc",
        built_at="2026-11-26T08:00:00Z", endpoint_url=None, profile=None,
        tags={"bluegreen:domain": DOMAIN}, tests=tests,
        test_facts={"BLUEGREEN_HEALTH_PORT": "3001"},
    )  # fmt: skip
    staged = imagetests.stage(tests, tmp_path / "work")
    provs = template.template(spec, None, staged_tests=staged)["provisioners"]
    assert [p["type"] for p in provs] == ["shell", "shell"]
    assert provs[0]["scripts"] == [str(app)]
    assert provs[1]["script"] == str(staged[0])
    assert "sudo -E" in provs[1]["execute_command"]
    assert provs[1]["environment_vars"] == [
        "BLUEGREEN_TEST_ON=instance",
        "BLUEGREEN_HEALTH_PORT=3001",
    ]
    assert staged[0].read_text() == t.read_text() and staged[0].stat().st_mode & 0o111
    # The installed Packer accepts the template it would build with (validate reads no
    # credentials it would use): admin ranges and an IMDSv2 image let any Packer build.
    safe = bake_plan.BakeSpec(
        **{**spec.__dict__, "ssh_from": ("203.0.113.0/24",), "source_imds": "v2.0"}
    )
    caps = bake_security.probe("packer")
    tpl = tmp_path / "aws.json"
    tpl.write_text(
        json.dumps(template.template(safe, None, caps, session_manager=False, staged_tests=staged))
    )
    env = {**template.packer_env(spec), "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y"}
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    v = subprocess.run(
        ["packer", "validate", str(tpl)], env=env, capture_output=True, text=True, timeout=120
    )
    assert v.returncode == 0, v.stdout + v.stderr


def test_failing_test_is_found_in_packers_ssh_output() -> None:
    """The shell provisioner's messages (AWS) attribute output to the failing test."""
    staged = [Path("/tmp/b/tests/1/nginx.sh"), Path("/tmp/b/tests/2/node.sh")]
    said = [
        ("say", "==> amazon-ebs: Provisioning with shell script: /tmp/app.sh"),
        ("message", "    amazon-ebs: installed"),
        ("say", "==> amazon-ebs: Provisioning with shell script: /tmp/b/tests/1/nginx.sh"),
        ("message", "    amazon-ebs: nginx ok"),
        ("say", "==> amazon-ebs: Provisioning with shell script: /tmp/b/tests/2/node.sh"),
        ("message", "    amazon-ebs: node is v18.0.0, expected v20.11.1"),
        ("error", "==> amazon-ebs: version mismatch"),
        ("say", "==> amazon-ebs: Provisioning step had errors: Running the cleanup provisioner"),
        ("say", "==> amazon-ebs: Terminating the source AWS instance..."),
    ]
    reason = "Script exited with non-zero exit status: 1.Allowed exit codes are: [0]"
    f = imagetests.failure(said, staged, ["nginx.sh", "node.sh"], reason)
    assert f == imagetests.Failure(
        "node.sh", 1, ("node is v18.0.0, expected v20.11.1", "version mismatch")
    )
    # A provisioning script that fails is not a test failure.
    failed_provisioning = [*said[:2], said[7]]
    assert imagetests.failure(failed_provisioning, staged, ["nginx.sh", "node.sh"], reason) is None
    # Tests that all passed, then a later failure (creating the image): not a test failure.
    assert imagetests.failure(said[:5] + said[8:], staged, ["nginx.sh", "node.sh"], "x") is None


@pytest.mark.parametrize("count", [1, 40])
def test_tested_tag_fits_in_a_tag_value(tmp_path: Path, count: int) -> None:
    paths = []
    for i in range(count):
        p = tmp_path / f"a rather-long,test-name-{i:03}.sh"
        p.write_text(f"#!/bin/sh\necho {i}\n")
        paths.append(str(p))
    value = imagetests.tag_value(imagetests.load(paths))
    assert len(value) <= 256
    assert re.fullmatch(r"[\w .:/=+@-]*", value)  # characters every service takes
    assert value.startswith("sha256:") and len(value.split(" ")[0]) == len("sha256:") + 16
    changed = Path(paths[0])
    before = imagetests.digest(imagetests.load(paths))
    changed.write_text("#!/bin/sh\nexit 1\n")
    assert imagetests.digest(imagetests.load(paths)) != before  # contents count
