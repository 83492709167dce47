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
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bluegreen.aws import Gateway
from bluegreen.errors import (
    BluegreenError,
    BuildFailed,
    InputError,
)
from bluegreen.images import bake_security as security
from bluegreen.images import imagetests
from bluegreen.images.bake_plan import find_packer, plan
from bluegreen.images.packer import run_packer_cleanly
from bluegreen.images.template import template, user_data
from bluegreen.model.naming import Names
from bluegreen.model.settings import Settings
from bluegreen.ui import Reporter


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
