"""Every command line shown in the README and docs/ runs against the sandbox, so
the documents cannot drift from the tool.

Each document's fenced ``sh`` blocks (and the ``run:`` steps of its ``yaml``
workflows) are run in order, on a fresh emulator, with the environment the
document sets (its ``export`` lines; the sandbox's documented address stands
for the test's emulator). ``bluegreen`` lines run in this process and must
exit 0. A line that cannot run here is listed below with the reason (and,
where the lines after it depend on it, a stand-in that does its work); a new
line that is neither runnable nor listed fails the test, and so does a listed
line that no document shows any more. ``toml`` blocks must load as settings.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml  # type: ignore[import-untyped]

from bluegreen.model import settings as config
from conftest import DOMAIN, register_images, run

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = ["README.md", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md"))]
SANDBOX_URL = "http://127.0.0.1:5000"  # where the README's sandbox listens
SHA = "3f2c1e9a7b5d4c3e2f1a0b9c8d7e6f5a4b3c2d1e"  # ${{ github.sha }} in the CI workflow

StandIn = Callable[[str], None]  # given the emulator's URL


def key(text: str) -> str:
    """A line as its words: the same however it is quoted or commented."""
    return " ".join(shlex.split(text, comments=True))


def _site(url: str) -> None:
    r = run("init", domain=None)  # changes nothing where the site is set up
    assert r.code == 0, r.err


def _image(version: str) -> StandIn:
    def stand_in(url: str) -> None:
        _site(url)
        register_images(url, version)

    return stand_in


BAKE = "Packer builds on AWS (tests/test_bake.py bakes on the emulator)"
REAL_AWS = "on a real AWS account: the README's walk-through runs the same commands"
AWS_CLI = "the AWS CLI against a real account"
# line (as shlex splits it, joined by spaces) -> (why it does not run here, stand-in)
_NOT_RUN: dict[str, tuple[str, StandIn | None]] = {
    "make demo": ("runs `bluegreen demo` (tests/test_cli.py) after installing", None),
    "make test": ("this test suite itself", None),
    "make bench": ("the benchmarks (minutes)", None),
    ".venv/bin/bluegreen sandbox": (
        "runs until Ctrl-C: the test's own emulator stands in at the exported address",
        None,
    ),
    'cd my-site && printf \'domain = "londontamed.com"\\nregion = "eu-west-1"\\n\' > '
    "bluegreen.toml": (REAL_AWS, None),
    "bluegreen init --admin-cidr 203.0.113.0/24 --certificate-arn "
    "arn:aws:acm:eu-west-1:123456789012:certificate/...": (REAL_AWS, None),
    "bluegreen bake --base --provision install-runtime.sh": (BAKE, None),
    "bluegreen bake --version 1.0.0 --provision install-app.sh --test test-image.sh": (
        REAL_AWS,
        None,
    ),
    "bluegreen release --version 1.0.0": (REAL_AWS, None),
    "bluegreen bake --version 1.4.2 --provision install-app.sh --test test-image.sh": (
        BAKE,
        _image("1.4.2"),
    ),
    "bluegreen bake --base --provision install-nginx-node.sh": (BAKE, None),
    f"bluegreen bake --version {SHA} --provision deploy/install-app.sh": (BAKE, _image(SHA)),
    "apt-get install packer": ("installs a system package", None),
    "aws iam create-policy --policy-name bluegreen-londontamed-com --policy-document "
    "file://operate.json": (AWS_CLI, None),
    "aws iam attach-role-policy --role-name deployer --policy-arn "
    "arn:aws:iam::123456789012:policy/bluegreen-londontamed-com": (AWS_CLI, None),
    "aws ssm start-session --target i-0123456789abcdef0": (AWS_CLI, None),
    "bluegreen iam-policy --part 2 > operate-2.json": (
        "only a domain of more than about 60 characters has a second part "
        "(tests/test_iam_policy.py prints both of the longest domain's)",
        None,
    ),
    "aws iam create-policy --policy-name bluegreen-mysite-1 --policy-document "
    "file://operate-1.json": (AWS_CLI, None),
    "aws iam create-policy --policy-name bluegreen-mysite-2 --policy-document "
    "file://operate-2.json": (AWS_CLI, None),
    "aws autoscaling describe-auto-scaling-groups --filters "
    "Name=tag:bluegreen:domain,Values=londontamed.com --query "
    "AutoScalingGroups[].Instances[].InstanceId": (AWS_CLI, None),
    "bluegreen -v COMMAND ...": ("a pattern, not a command", None),
    'pip install "$BLUEGREEN"': ("installs bluegreen: the test runs this checkout", None),
    "packer plugins install github.com/hashicorp/amazon v1.3.3": (
        "installs a Packer plugin from the internet",
        None,
    ),
}
# Lines that ask on a terminal: the test answers with --yes.
ASKS = {"bluegreen clean", "bluegreen teardown"}
# Lines whose checks reach the load balancer's address, which the emulator does
# not serve: run with --dry-run (the flags parse and the plan is made).
_DRY_RUN = {
    'bluegreen switch --check \'curl -fsS -H "Host: ${BLUEGREEN_HOST}" '
    "\"http://${BLUEGREEN_LB_DNS}/health\"' --check-url 'http://{lb_dns}/health'"
}
NOT_RUN = {key(k): v for k, v in _NOT_RUN.items()}
DRY_RUN = {key(k) for k in _DRY_RUN}
# What a document assumes before its first line (the README sets up its own).
SET_UP: dict[str, tuple[tuple[str, ...], ...]] = {
    "docs/SAFETY.md": (("init",), ("deploy", "--version", "v1")),
    "docs/TROUBLESHOOTING.md": (("init",),),
    "docs/CI.md": (("init",),),
}


@dataclass
class Line:
    text: str  # as written, continuation lines joined
    heredoc: str = ""  # the rows of a here-document, terminator included

    @property
    def key(self) -> str:
        return key(self.text)


def fenced(text: str, *langs: str) -> Iterator[str]:
    for m in re.finditer(r"^```(\w*)\n(.*?)^```", text, re.S | re.M):
        if m.group(1) in langs:
            yield m.group(2)


def lines(script: str) -> Iterator[Line]:
    """The shell lines of ``script``: continuations and open quotes joined,
    here-documents attached, comment-only lines dropped."""
    rows = script.splitlines()
    buf = ""
    i = 0
    while i < len(rows):
        row = rows[i]
        i += 1
        buf = f"{buf}\n{row}" if buf else row
        if buf.endswith("\\"):
            buf = buf[:-1].rstrip() + " "
            continue
        try:
            words = shlex.split(buf, comments=True)
        except ValueError:  # a quote is still open
            continue
        heredoc = ""
        m = re.search(r"<<-?'?(\w+)'?", buf)
        if m:
            start = i
            while i < len(rows) and rows[i].strip() != m.group(1):
                i += 1
            i += 1
            heredoc = "\n".join(rows[start:i]) + "\n"
        if words:
            yield Line(buf, heredoc)
        buf = ""


def workflow_lines(block: str) -> Iterator[tuple[Line, dict[str, str]]]:
    """The ``run:`` steps of a GitHub Actions workflow, with each step's env."""
    doc = yaml.safe_load(block)
    env = {k: str(v) for k, v in (doc.get("env") or {}).items()}
    for job in doc.get("jobs", {}).values():
        for step in job.get("steps", []):
            if "run" in step:
                script = step["run"].replace("${{ github.sha }}", SHA)
                step_env = {**env, **{k: str(v) for k, v in (step.get("env") or {}).items()}}
                for line in lines(script):
                    yield line, step_env


def script_parses(name: str, script: str) -> None:
    """A block that starts with ``#!`` shows a script file (an image test, say), not
    lines to type: it is not run, but it must be valid shell."""
    p = subprocess.run(["sh", "-n"], input=script, text=True, capture_output=True)
    assert p.returncode == 0, f"{name}: a script does not parse: {p.stderr}\n{script}"


def document_lines(name: str) -> Iterator[tuple[Line, dict[str, str]]]:
    text = (ROOT / name).read_text()
    for m in re.finditer(r"^```(\w*)\n(.*?)^```", text, re.S | re.M):
        if m.group(1) in ("sh", "bash", "shell") and m.group(2).startswith("#!"):
            script_parses(name, m.group(2))
        elif m.group(1) in ("sh", "bash", "shell"):
            for line in lines(m.group(2)):
                yield line, {}
        elif m.group(1) == "yaml" and "jobs:" in m.group(2):
            yield from workflow_lines(m.group(2))


class Runner:
    def __init__(self, url: str, doc: str, monkeypatch: pytest.MonkeyPatch, summary: Path) -> None:
        self.url = url
        self.doc = doc
        self.mp = monkeypatch
        self.summary = summary
        self.ran: list[str] = []

    def __call__(self, line: Line, env: dict[str, str]) -> None:
        for k, v in env.items():
            self.mp.setenv(k, self._expand(v))
        words = shlex.split(line.text, comments=True)
        commands: list[list[str]] = [[]]
        for w in words:
            if w == "&&":
                commands.append([])
            else:
                commands[-1].append(w)
        if line.key in NOT_RUN:
            _, stand_in = NOT_RUN[line.key]
            if stand_in is not None:
                stand_in(self.url)
            return
        for argv in commands:
            self.one(line, argv)

    def _expand(self, value: str) -> str:
        return os.path.expandvars(value).replace(SANDBOX_URL, self.url)

    def one(self, line: Line, argv: list[str]) -> None:
        where = f"{self.doc}: {line.text!r}"
        words = shlex.join(argv)
        if key(words) in NOT_RUN:
            stand_in = NOT_RUN[key(words)][1]
            if stand_in is not None:
                stand_in(self.url)
            return
        prog, args = argv[0], argv[1:]
        if prog in ("bluegreen", ".venv/bin/bluegreen"):
            out = None
            if ">" in args:
                out = args[args.index(">") + 1]
                args = args[: args.index(">")]
            if key(words) in ASKS:
                args.append("--yes")
            if line.key in DRY_RUN:
                args.append("--dry-run")
            r = run(*(self._expand(a) for a in args), domain=None)
            assert r.code == 0, f"{where} exited {r.code}: {r.err}"
            if out is not None:
                Path(out).write_text(r.out)
            self.ran.append(key(words))
        elif prog == "export":
            for assignment in args:
                k, _, v = assignment.partition("=")
                self.mp.setenv(k, self._expand(v))
        elif prog == "printf":
            subprocess.run(["sh", "-c", line.text], check=True)
        elif prog == "python" and args[:1] == ["-c"]:
            with contextlib.redirect_stdout(io.StringIO()):
                exec(args[1], {"__name__": "__docs__"})
        elif prog == "python" and args[:1] == ["-"] and line.heredoc:
            env = {**os.environ, "GITHUB_STEP_SUMMARY": str(self.summary)}
            script = line.text.replace("python", shlex.quote(sys.executable), 1)
            p = subprocess.run(
                ["sh", "-c", f"{script}\n{line.heredoc}"], env=env, text=True, capture_output=True
            )
            assert p.returncode == 0, f"{where}: {p.stderr}"
        else:
            raise AssertionError(
                f"{where}: cannot run {prog!r} here: list the line in NOT_RUN with the reason"
            )


def shown_lines(doc: str) -> int:
    """How many lines to run the document shows (shell blocks, workflows); a
    script file's block (``#!``) counts as one: it is checked, not run."""
    text = (ROOT / doc).read_text()
    scripts = [b for b in fenced(text, "sh", "bash", "shell") if b.startswith("#!")]
    return len(scripts) + sum(1 for _ in document_lines(doc))


@pytest.mark.parametrize("doc", [d for d in DOCUMENTS if shown_lines(d)])
def test_command_lines_of_the_document_run(
    doc: str, aws: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    if doc != "README.md":  # the environment the README's walk-through set up
        monkeypatch.setenv("BLUEGREEN_ENDPOINT_URL", aws)
        (tmp_path / "bluegreen.toml").write_text(f'domain = "{DOMAIN}"\n')
        register_images(aws, "v1", "v2")
    for args in SET_UP.get(doc, ()):
        r = run(*args, domain=None)
        assert r.code == 0, (doc, args, r.err)
    summary = tmp_path / "step-summary.md"
    runner = Runner(aws, doc, monkeypatch, summary)
    for line, env in document_lines(doc):
        runner(line, env)
    if doc == "docs/CI.md":  # the workflow's summary of the release it ran
        assert "**succeeded**" in summary.read_text()
        assert f"-> {SHA}" in summary.read_text()
    if doc == "README.md":
        assert "bluegreen release --version v3 --clean-after 30s" in runner.ran


def test_every_listed_line_is_still_shown() -> None:
    """A line listed as not run, asked or dry-run that no document shows any
    more is dropped from the lists (they stay true)."""
    shown = set()
    for doc in DOCUMENTS:
        for line, _ in document_lines(doc):
            shown.add(line.key)
            shown.update(p.strip() for p in line.key.split("&&"))
    assert (set(NOT_RUN) | ASKS | DRY_RUN) - shown == set()


def test_settings_examples_load(tmp_path: Path) -> None:
    """Every ``toml`` block of the documents is a valid settings file."""
    count = 0
    for doc in DOCUMENTS:
        for block in fenced((ROOT / doc).read_text(), "toml"):
            path = tmp_path / "bluegreen.toml"
            path.write_text(block)
            config.load({}, config_file=path, env={})
            count += 1
    assert count >= 1
