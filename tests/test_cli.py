"""The command line's habits, as the AWS CLI has them: global options before or
after the command's name, with one precedence (flag > environment > settings
file > default), for every command; a composite command takes every setting
its phases use."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest

from bluegreen.cli import Runtime, cli
from bluegreen.cli.flags import FLAGS, GLOBAL
from chaos import answer
from conftest import DOMAIN, _free_port, run
from test_input import NoAws, Unchanged

# What each command needs on the line besides the global options.
REQUIRED: dict[str, tuple[str, ...]] = {
    "deploy": ("--version", "v1"),
    "release": ("--version", "v1"),
    "clean": ("--yes",),
    "teardown": ("--yes",),
    "unlock": ("--lock-id", "x"),
    "bake": ("--version", "v1"),
    "images prune": ("--keep", "1"),
}
# Commands that do not read the settings: tested on their own below.
NO_SETTINGS = {"sandbox", "demo"}


def leaf_commands(cmd: click.Command = cli, path: str = "") -> Iterator[str]:
    if isinstance(cmd, click.Group):
        if path:  # a group that acts on its own (images)
            yield path
        for name, sub in cmd.commands.items():
            yield from leaf_commands(sub, f"{path} {name}".strip())
    else:
        yield path


COMMANDS = sorted(leaf_commands())


def test_every_command_takes_every_global_option() -> None:
    glob = {o for k, f in FLAGS.items() if GLOBAL in f.commands for o in [f.flag(k)]}
    glob |= {"--config", "--output", "-q", "--quiet", "-v", "--verbose"}
    assert len(COMMANDS) >= 17
    for path in COMMANDS:
        cmd: click.Command = cli
        for name in path.split():
            assert isinstance(cmd, click.Group)
            cmd = cmd.commands[name]
        opts = {o for p in cmd.params for o in p.opts}
        assert glob <= opts, (path, glob - opts)


def test_global_options_after_the_command(aws: str, unchanged: Unchanged) -> None:
    """``bluegreen CMD ... --output json --domain D --region R``, for every command
    that reads the settings: the options after the command are read, as before
    it (a bad region is refused, as JSON, with no AWS call)."""
    Path("site.toml").write_text('domain = "londontamed.com"\ncapacity = "two"\n')
    with unchanged():
        for path in (c for c in COMMANDS if c not in NO_SETTINGS):
            args = (*path.split(), *REQUIRED.get(path, ()))
            for line in (
                (*args, "--output", "json", "--domain", DOMAIN, "--region", "mars-north-9x"),
                ("--output", "json", *args, "--domain", DOMAIN, "--region", "mars-north-9x"),
                ("--region", "mars-north-9x", *args, "--output=json", "--domain", DOMAIN),
            ):
                spy = NoAws()
                r = run(*line, hooks=spy.hook, domain=None)
                assert r.code == 2, (line, r.err)
                assert spy.calls == [], line
                doc = json.loads(r.out)
                assert "is not an AWS region" in doc["message"], (line, doc)
            # --config after the command names the settings file
            r = run(*args, "--config", "site.toml", "--output", "json", domain=None)
            assert r.code == 2 and "capacity" in json.loads(r.out)["message"], (path, r.err)


def test_precedence_is_the_same_before_and_after(
    aws: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """flag > environment > settings file > default, wherever the flag is."""
    (tmp_path / "bluegreen.toml").write_text(
        'domain = "londontamed.com"\nregion = "eu-west-1"\nstrategy = "lb"\n'
    )

    def setting(*args: str) -> dict[str, Any]:
        r = run("config", *args, domain=None)
        assert r.code == 0, r.err
        s = json.loads(r.out)["settings"]
        return {k: s[k]["value"] for k in ("region", "strategy", "domain", "hosts")}

    assert setting("--output", "json")["region"] == "eu-west-1"  # the file
    monkeypatch.setenv("AWS_REGION", "eu-west-2")
    assert setting("--output", "json")["region"] == "eu-west-2"  # environment over file
    for args in (
        ("--output", "json", "--region", "eu-central-1"),
        ("--region", "eu-central-1", "--output", "json"),
    ):
        assert setting(*args)["region"] == "eu-central-1"  # flag over environment
    r = run("--region", "ap-south-1", "config", "--region", "eu-central-1", "--output", "json")
    assert json.loads(r.out)["settings"]["region"]["value"] == "eu-central-1"  # the later one
    got = setting("--output", "json", "--strategy", "weighted", "--hosts", "www,shop")
    assert got["strategy"] == "weighted" and got["hosts"] == ["www", "shop"]
    assert got["domain"] == DOMAIN


def test_quiet_verbose_and_output_after_the_command(site: dict[str, str]) -> None:
    q = run("deploy", "--version", "v1", "-q")
    # Only warnings: this image was registered without image tests (docs/IMAGES.md).
    assert q.code == 0 and "never tested" in q.err
    assert all(line.split(" ", 1)[1].startswith("warning: ") for line in q.err.splitlines())
    v = run("switch", "--verbose")
    assert v.code == 0, v.err
    assert "changed, in sync" in v.err  # each step's outcome
    assert "botocore" in v.err  # and botocore's debug log
    st = run("status", "--output", "json")
    assert json.loads(st.out)["live"]["version"] == "v1"
    text = run("status", "--output", "text")
    assert "v1" in text.out and not text.out.startswith("{")


@pytest.mark.parametrize("path", COMMANDS)
def test_every_command_records_global_options_after_its_name(path: str) -> None:
    """Parsing alone (nothing runs): each global option after the command's name
    lands in the Runtime, as it does before it. demo (a minute with Packer) and
    sandbox (runs until stopped) are proven here; the others also below, run."""
    *parents, name = path.split()
    cmd: click.Command = cli
    for p in parents:
        assert isinstance(cmd, click.Group)
        cmd = cmd.commands[p]
    assert isinstance(cmd, click.Group)
    rt = Runtime()
    cmd.commands[name].make_context(
        name,
        [
            *REQUIRED.get(path, ()),
            *("--output", "json", "-q", "-v", "--config", "site.toml"),
            *("--domain", DOMAIN, "--region", "eu-west-1", "--profile", "ops"),
            *("--endpoint-url", "http://127.0.0.1:9", "--strategy", "lb"),
            *("--load-balancer", "alb", "--notify-url", "http://127.0.0.1:9/h"),
            *("--hosts", "www,shop", "--endpoint-credentials"),
        ],
        obj=rt,
    )
    assert (rt.output, rt.quiet, rt.verbose, str(rt.config_file)) == (
        "json",
        True,
        True,
        "site.toml",
    )
    assert rt.flags == {
        "domain": DOMAIN,
        "region": "eu-west-1",
        "profile": "ops",
        "endpoint_url": "http://127.0.0.1:9",
        "strategy": "lb",
        "load_balancer": "alb",
        "notify_url": "http://127.0.0.1:9/h",
        "hosts": ["www", "shop"],
        "endpoint_credentials": True,
    }


def test_sandbox_takes_global_options_after_the_command() -> None:
    """``sandbox --output json``: one JSON document with its address (a process of
    its own, stopped by its pid)."""
    port = _free_port()
    proc = subprocess.Popen(
        [
            *(sys.executable, "-c", "from bluegreen.cli import main; main()"),
            *("sandbox", "--port", str(port), "--output", "json"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if line.rstrip() == "}":
                break
        doc = json.loads("".join(lines))
        assert doc["url"] == f"http://127.0.0.1:{port}"
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)


# -- release takes what its phases take --------------------------------------------------
def test_release_takes_every_setting_of_deploy_switch_and_clean() -> None:
    def keys(name: str) -> set[str]:
        return {getattr(p, "key", "") for p in cli.commands[name].params} - {""}

    assert keys("deploy") | keys("switch") | keys("clean") <= keys("release")


def test_release_runs_the_checks_given_on_its_line(live_v1: dict[str, str]) -> None:
    """``release --check``: a check that fails after the switch rolls the release
    back (exit 7), as ``switch --check`` undoes the switch."""
    r = run("release", "--version", "v2", "--check", "test $BLUEGREEN_ENVIRONMENT = staging")
    assert r.code == 7, r.err
    st = run("--output", "json", "status").json()
    assert st["live"]["version"] == "v1" and st["staging"]["asg"] is None
    ok = run(
        "release",
        "--version",
        "v2",
        "--check",
        "true",
        "--check-timeout",
        "30s",
        "--output",
        "json",
    )
    assert ok.code == 0, ok.err
    assert json.loads(ok.out)["live_after"] == "v2"


def test_release_refuses_checks_its_strategy_would_skip(
    live_v1: dict[str, str], unchanged: Unchanged
) -> None:
    with unchanged():
        r = run("release", "--version", "v2", "--strategy", "rolling", "--check", "true")
    assert r.code == 2 and "not supported by the rolling strategy" in r.err


# -- the Route 53 INSYNC wait -------------------------------------------------------------
def _pending_changes() -> tuple[str, Any]:
    """GetChange answers PENDING, whatever the change: Route 53 slow to propagate."""
    return answer(
        "route53.GetChange",
        b'<?xml version="1.0" encoding="UTF-8"?>\n<GetChangeResponse xmlns="https://'
        b'route53.amazonaws.com/doc/2013-04-01/"><ChangeInfo><Id>/change/C1</Id>'
        b"<Status>PENDING</Status><SubmittedAt>2026-11-30T00:00:00Z</SubmittedAt>"
        b"</ChangeInfo></GetChangeResponse>",
    )


def test_dns_timeout_flag_bounds_the_insync_wait_and_shows_progress(
    live_v1: dict[str, str],
) -> None:
    assert run("deploy", "--version", "v2").code == 0
    r = run("switch", "--dns-timeout", "45s", hooks=[_pending_changes()])
    assert r.code == 5, r.err
    assert "was not in sync after 45s" in r.err
    assert "--dns-timeout" in r.err and "dns_timeout" in r.err  # a flag that exists
    progress = [line for line in r.err.splitlines() if "Route 53 applying the change" in line]
    assert len(progress) >= 3, r.err  # one line per poll, off a terminal
    assert "/45 PENDING" in progress[-1]
    # the same setting from the file
    Path("bluegreen.toml").write_text('dns_timeout = "20s"\n')
    r = run("rollback", hooks=[_pending_changes()])
    assert r.code == 5 and "not in sync after 20s" in r.err, r.err


def test_insync_progress_when_route53_is_quick(live_v1: dict[str, str]) -> None:
    assert run("deploy", "--version", "v2").code == 0
    r = run("switch")
    assert r.code == 0, r.err
    assert any(
        "Route 53 applying the change to the public zone" in line and "INSYNC" in line
        for line in r.err.splitlines()
    ), r.err
