"""Image tests: programs that must pass on the build instance before an image exists.

As in the seed (which tested every AMI with ServerSpec), ``bake --test SCRIPT``
(repeatable; ``tests`` in ``bluegreen.toml``) runs each test after the
provisioning scripts and before the image is registered. A test is any
executable file (a shell script, or a script that runs Goss, InSpec or
ServerSpec); exit code 0 is a pass. Packer stops the build at the first test
that fails, so a failing test leaves no image and no snapshot, and ``bake``
exits with code 10 showing that test's output.

Where the tests run:

- **AWS** (SSH communicator): one ``shell`` provisioner per test, after the
  provisioning, uploaded to the build instance and run there with ``sudo -E``;
  Packer streams their output.
- **An emulator** (communicator ``none``): there is no machine to run anything
  on. The tests go into the build instance's user data after the provisioning
  scripts (the way the provisioning goes in there; nothing executes it), and
  Packer runs each one with ``shell-local`` on the machine that runs bluegreen,
  at the same point of the build: after the instance is launched, before the
  image is created. A failing test fails the build there exactly as on AWS.

Every test sees ``BLUEGREEN_TEST_ON`` (``instance`` or ``emulator``) and the
site's facts (``environment``). An image that passed is tagged ``TAG_TESTED``
with a digest of the tests' names and contents and their names.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bluegreen.errors import InputError

TAG_TESTED = "bluegreen:tested"
# Tag values: at most 256 characters; letters, digits, spaces and + - = . _ : / @ are
# the characters every service accepts.
# https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/Using_Tags.html#tag-restrictions
TAG_VALUE_MAX = 256
_NOT_IN_A_TAG = re.compile(r"[^\w .:/=+@-]")
# Packer 1.6+ says one of these before it runs a script (shell / shell-local).
_STARTS = ("Provisioning with shell script: ", "Running local shell script: ")
_EXIT = re.compile(r"non-zero exit status: (\d+)")
_PREFIX = re.compile(r"^\s*(?:==>\s*)?[\w.-]+: ?")
OUTPUT_LINES = 40  # the failing test's output shown in the error: its last lines


@dataclass(frozen=True)
class ImageTest:
    name: str  # the file's name, as shown and tagged
    source: Path  # the operator's file, absolute
    content: bytes


def load(paths: Sequence[str]) -> tuple[ImageTest, ...]:
    """Read the tests (before anything changes); a missing file is bad input."""
    out = []
    for s in paths:
        p = Path(s).expanduser()
        if not p.is_file():
            raise InputError(
                f"image test {s} does not exist",
                fix="pass the path of a script that exits 0 when the image is right",
            )
        out.append(ImageTest(p.name, p.resolve(), p.read_bytes()))
    return tuple(out)


def digest(tests: Sequence[ImageTest]) -> str:
    """sha256 of the tests' names and contents, in order (16 hex characters)."""
    h = hashlib.sha256()
    for t in tests:
        h.update(t.name.encode() + b"\0" + t.content + b"\0")
    return h.hexdigest()[:16]


def tag_value(tests: Sequence[ImageTest]) -> str:
    """``sha256:DIGEST name1 name2`` (other characters in names become ``_``; cut to
    the 256 characters a tag value holds)."""
    names = " ".join(_NOT_IN_A_TAG.sub("_", t.name.replace(" ", "_")) for t in tests)
    value = f"sha256:{digest(tests)} {names}"
    return value if len(value) <= TAG_VALUE_MAX else value[: TAG_VALUE_MAX - 3] + "..."


def names_of(tag: str | None) -> str | None:
    """The test names in a ``TAG_TESTED`` value (None when untested)."""
    if tag is None:
        return None
    return tag.split(" ", 1)[1] if " " in tag else tag


def stage(tests: Sequence[ImageTest], work: Path) -> list[Path]:
    """Copies of the tests under ``work``, executable (shell-local runs them directly),
    one folder each so that two tests of one name stay apart."""
    out = []
    for i, t in enumerate(tests, 1):
        d = work / "tests" / str(i)
        d.mkdir(parents=True, exist_ok=True)
        p = d / t.name
        shutil.copyfile(t.source, p)
        p.chmod(0o755)
        out.append(p)
    return out


def environment(facts: dict[str, str], on: str) -> list[str]:
    """``NAME=value`` for every test: ``BLUEGREEN_TEST_ON`` plus the site's facts."""
    return [f"BLUEGREEN_TEST_ON={on}"] + [f"{k}={v}" for k, v in sorted(facts.items())]


def provisioners(
    staged: Sequence[Path], env: Sequence[str], *, emulator: bool
) -> list[dict[str, Any]]:
    """One Packer provisioner per test, in order (the first failure stops the build)."""
    if emulator:
        return [
            {"type": "shell-local", "script": str(p), "environment_vars": list(env)} for p in staged
        ]
    return [
        {
            "type": "shell",
            "script": str(p),
            "environment_vars": list(env),
            "execute_command": "chmod +x {{ .Path }}; {{ .Vars }} sudo -E {{ .Path }}",
        }
        for p in staged
    ]


@dataclass(frozen=True)
class Failure:
    name: str
    status: int | None
    output: tuple[str, ...]


def failure(
    said: Sequence[tuple[str, str]], staged: Sequence[Path], names: Sequence[str], reason: str
) -> Failure | None:
    """The test that failed the build, from Packer's messages ``said`` ((kind, text) in
    order): the last test Packer started, when its run ended the provisioning with an
    error. A test's output is what Packer relayed after starting it (stdout as
    messages, stderr as errors) up to Packer's next step."""
    by_path = {str(p): n for p, n in zip(staged, names)}
    current: str | None = None
    output: list[str] = []
    ended_in_error = False
    for kind, text in said:
        body = _PREFIX.sub("", text, count=1)
        start = next((body[len(s) :].strip() for s in _STARTS if body.startswith(s)), None)
        if start is not None:
            current = by_path.get(start)
            output, ended_in_error = [], False
            continue
        if current is None or ended_in_error:
            continue
        if kind == "say":  # Packer's own next step: the test's run is over
            if body.startswith("Provisioning step had errors"):
                ended_in_error = True
            else:
                current = None
            continue
        output.append(body)
    if current is None or not ended_in_error:
        return None
    m = _EXIT.search(reason)
    return Failure(current, int(m.group(1)) if m else None, tuple(output[-OUTPUT_LINES:]))
