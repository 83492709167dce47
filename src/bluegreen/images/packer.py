"""Running Packer: its machine-readable output parsed as it arrives, stopped
cleanly on interrupt, and what a failed build left behind cleaned up."""

from __future__ import annotations

import re
import signal
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bluegreen.aws import Gateway
from bluegreen.aws.ec2 import tag_value
from bluegreen.errors import (
    BluegreenError,
    BuildFailed,
    Interrupted,
    MissingProgram,
)
from bluegreen.images import catalog as images
from bluegreen.images import imagetests
from bluegreen.images.bake_plan import INSTALL_HINT, TAG_BAKE_ID, BakeSpec
from bluegreen.images.template import packer_env
from bluegreen.ui import Reporter


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
