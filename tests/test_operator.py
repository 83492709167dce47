"""The operator's everyday experience: history, status's "live since",
``bluegreen config``, output (one JSON document on stdout, no control
characters off a terminal, --quiet), confirmation, notifications."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import click
import pytest

from bluegreen.cli import cli
from bluegreen.cli.flags import FLAGS, GLOBAL, SettingOption, command_names
from bluegreen.model import settings as config
from chaos import answer
from conftest import run


# -- history ------------------------------------------------------------------------
def test_history_newest_first_with_versions_before_and_after(both: dict[str, str]) -> None:
    assert run("rollback").code == 0
    r = run("--output", "json", "history")
    assert r.code == 0, r.err
    h = r.json()
    assert [e["command"] for e in h] == ["rollback", "switch", "deploy", "switch", "deploy"]
    rb = h[0]
    assert rb["result"] == "succeeded"
    assert (rb["live_before"], rb["live_after"]) == ("v2", "v1")
    assert (rb["staging_before"], rb["staging_after"]) == ("v1", "v2")
    assert rb["live_ami_before"] == both["v2"] and rb["live_ami_after"] == both["v1"]
    for e in h:
        assert {"who", "when", "command", "result", "duration", "host"} <= set(e)
    deploy = h[2]
    assert deploy["staging_after"] == "v2" and deploy["staging_before"] is None

    r = run("--output", "json", "history", "--limit", "2")
    assert [e["command"] for e in r.json()] == ["rollback", "switch"]
    text = run("history", "--limit", "1")
    assert text.code == 0
    assert "rollback" in text.out and "live v2 -> v1" in text.out


def test_failed_command_is_recorded(live_v1: dict[str, str]) -> None:
    r = run("deploy", "--version", "v2", "--timeout", "10s", hooks=[_unhealthy_hook()])
    assert r.code == 5
    e = run("--output", "json", "history", "--limit", "1").json()[0]
    assert e["command"] == "deploy" and e["result"] == "failed"
    assert "not done after" in e["error"]
    assert e["staging_after"] == "v2"  # read again after the failure


def _unhealthy_hook() -> tuple[str, Any]:
    """The classic load balancer lists no instance at all: none is ever healthy."""
    return answer(
        "elb.DescribeInstanceHealth",
        b'<DescribeInstanceHealthResponse xmlns="http://elasticloadbalancing.amazonaws'
        b'.com/doc/2012-06-01/"><DescribeInstanceHealthResult><InstanceStates/>'
        b"</DescribeInstanceHealthResult><ResponseMetadata><RequestId>1</RequestId>"
        b"</ResponseMetadata></DescribeInstanceHealthResponse>",
    )


def test_status_says_when_and_by_whom_the_live_release_went_live(both: dict[str, str]) -> None:
    st = run("--output", "json", "status").json()
    last_switch = run("--output", "json", "history", "--limit", "1").json()[0]
    assert last_switch["command"] == "switch"
    assert st["live_since"] == last_switch["when"]
    assert st["made_live_by"] == last_switch["who"]
    assert st["made_live_with"] == "switch"
    assert "live since" in run("status").out
    assert run("rollback").code == 0
    st = run("--output", "json", "status").json()
    assert st["made_live_with"] == "rollback"


def test_status_before_any_release_has_no_live_since(site: dict[str, str]) -> None:
    st = run("--output", "json", "status").json()
    assert st["live_since"] is None and st["made_live_by"] is None


# -- config -------------------------------------------------------------------------
def test_config_shows_each_setting_and_its_source(
    aws: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "bluegreen.toml").write_text(
        'domain = "londontamed.com"\ncapacity = 3\nclean_after = "10m"\n'
        'notify_url = "http://127.0.0.1:9/hook"\n'
    )
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    r = run("--output", "json", "--strategy", "rolling", "config", domain=None)
    assert r.code == 0, r.err
    data = r.json()
    s = data["settings"]
    assert data["config_file"].endswith("bluegreen.toml")
    assert s["capacity"] == {"value": 3, "source": f"file {tmp_path / 'bluegreen.toml'}"}
    assert s["clean_after"]["value"] == 600.0
    assert s["region"] == {"value": "eu-west-1", "source": "environment AWS_REGION"}
    assert s["strategy"] == {"value": "rolling", "source": "flag"}
    assert s["instance_type"] == {"value": "t3.micro", "source": "default"}
    assert s["endpoint_url"]["source"] == "environment BLUEGREEN_ENDPOINT_URL"
    assert set(s) == set(config.KEYS)
    text = run("config", domain=None)
    assert text.code == 0
    assert any(
        line.split()[:2] == ["capacity", "3"] and "bluegreen.toml" in line
        for line in text.out.splitlines()
    )


def test_config_file_errors_name_the_key_and_the_file(aws: str, tmp_path: Path) -> None:
    f = tmp_path / "site.toml"
    f.write_text('domain = "londontamed.com"\ncapacity = "many"\n')
    r = run("--config", str(f), "config", domain=None)
    assert r.code == 2
    assert "capacity" in r.err and str(f) in r.err
    f.write_text('domain = "londontamed.com"\ncolour = "blue"\n')
    r = run("--config", str(f), "status", domain=None)
    assert r.code == 2
    assert "'colour'" in r.err and str(f) in r.err


# Flags that are per invocation, not settings: they have no key in bluegreen.toml.
NOT_SETTINGS = {
    "config_file",
    "output",
    "quiet",
    "verbose",
    "dry_run",
    "yes",
    "force",
    "replace",
    "ami",
    "version",
    "limit",
    "lock_id",
    "port",
    "realistic",  # sandbox --realistic: how this emulator behaves, not a site's setting
    "help",
    "base",
    "keep",
    "purpose",  # iam-policy --for
    "account_id",
    "offline",
    "part",  # iam-policy --part: which document of a split policy
}


def _commands(cmd: click.Command, path: str = "") -> Iterator[tuple[str, click.Command]]:
    yield path, cmd
    if isinstance(cmd, click.Group):
        for name, sub in cmd.commands.items():
            yield from _commands(sub, f"{path} {name}".strip())


def test_every_flag_is_a_setting_or_a_per_run_choice() -> None:
    """Each option is generated from the settings table (its name is the key),
    or is a choice that only makes sense for one run (listed above)."""
    for path, cmd in _commands(cli):
        for p in cmd.params:
            if not isinstance(p, click.Option) or p.name in NOT_SETTINGS:
                continue
            assert isinstance(p, SettingOption), f"{path}: {p.opts} is declared by hand"
            assert p.name == p.key and p.key in config.KEYS, (path, p.opts)


def test_every_setting_has_a_flag_on_the_commands_that_use_it() -> None:
    """The table covers every setting, and names only commands that exist."""
    assert set(FLAGS) == set(config.KEYS)
    names = {path for path, _ in _commands(cli)}
    assert command_names() <= names
    for path, cmd in _commands(cli):
        keys = {getattr(p, "key", None) for p in cmd.params}
        for key, flag in FLAGS.items():
            if GLOBAL in flag.commands or path in flag.commands:
                assert key in keys, (path, key)
        opts = [o for p in cmd.params for o in p.opts]
        assert len(opts) == len(set(opts)), (path, opts)  # no flag declared twice


def test_every_setting_has_a_file_type() -> None:
    """Settings files are typed from Settings' annotations: every key has one."""
    for key in config.KEYS:
        assert config.file_type(key)


# -- output -------------------------------------------------------------------------
ESC = "\x1b"


def _one_json(r: Any) -> Any:
    assert ESC not in r.out and ESC not in r.err
    return json.loads(r.out)  # exactly one document: json.loads refuses trailing data


def test_json_output_of_every_command(aws: str) -> None:
    from conftest import register_images

    j = ("--output", "json")
    assert _one_json(run(*j, "init"))["domain"] == "londontamed.com"
    register_images(aws, "v1", "v2")
    assert _one_json(run(*j, "deploy", "--version", "v1"))["command"] == "deploy"
    assert _one_json(run(*j, "switch"))["command"] == "switch"
    assert _one_json(run(*j, "release", "--version", "v2"))["command"] == "release"
    assert _one_json(run(*j, "rollback"))["command"] == "rollback"
    assert _one_json(run(*j, "status"))["live"]["version"] == "v1"
    assert _one_json(run(*j, "history"))[0]["command"] == "rollback"
    assert "settings" in _one_json(run(*j, "config"))
    assert _one_json(run(*j, "clean", "--yes"))["command"] == "clean"
    err = run(*j, "unlock", "--lock-id", "nope")
    assert err.code == 3 and _one_json(err)["exit_code"] == 3
    assert _one_json(run(*j, "teardown", "--yes"))["result"] == "succeeded"
    usage = run(*j, "deploy")
    assert usage.code == 2 and _one_json(usage)["exit_code"] == 2


def test_plain_lines_off_a_terminal(live_v1: dict[str, str]) -> None:
    r = run("release", "--version", "v2", "--clean-after", "30s")
    assert r.code == 0, r.err
    assert ESC not in r.err and ESC not in r.out
    assert all(c == "\n" or c >= " " for c in r.err + r.out)
    lines = r.err.splitlines()
    assert lines and all(line[:4].isdigit() and line[10] == "T" for line in lines)
    assert any("waiting: the previous release stays ready" in line for line in lines)
    for args in (("status",), ("history",), ("config",)):
        out = run(*args)
        assert out.code == 0 and ESC not in out.out + out.err


def test_quiet_and_verbose(live_v1: dict[str, str]) -> None:
    q = run("--quiet", "deploy", "--version", "v2")
    # Only warnings: this image was registered without image tests (docs/IMAGES.md).
    assert q.code == 0 and "never tested" in q.err
    assert all(line.split(" ", 1)[1].startswith("warning: ") for line in q.err.splitlines())
    v = run("--verbose", "switch")
    assert v.code == 0 and "changed, in sync" in v.err


def test_clean_needs_yes_off_a_terminal(both: dict[str, str], unchanged: Any) -> None:
    with unchanged():
        r = run("clean")
    assert r.code == 2
    assert "pass --yes" in r.err
    with unchanged():
        assert run("clean", "--dry-run").code == 0


# -- notifications -------------------------------------------------------------------
class _Hook(BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return None


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []
    handler = type("Handler", (_Hook,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hooks/secret-token", received
    finally:
        server.shutdown()
        server.server_close()


def test_notifications_on_start_and_success(
    live_v1: dict[str, str], webhook: tuple[str, list[dict[str, Any]]]
) -> None:
    url, got = webhook
    r = run("--notify-url", url, "release", "--version", "v2")
    assert r.code == 0, r.err
    assert [e["event"] for e in got] == ["start", "success"]
    ok = got[1]
    assert ok["domain"] == "londontamed.com" and ok["command"] == "release"
    assert ok["result"] == "succeeded" and ok["who"]
    assert ok["versions"]["live_before"] == "v1" and ok["versions"]["live_after"] == "v2"
    assert ok["versions"]["release"] == "v2"
    # per command too, and from the settings file
    got.clear()
    assert run("switch", "--notify-url", url).code == 0
    assert [e["event"] for e in got] == ["start", "success"]
    assert got[1]["command"] == "switch" and got[1]["versions"]["live_after"] == "v1"


def test_notifications_on_failure_and_automatic_rollback(
    live_v1: dict[str, str], webhook: tuple[str, list[dict[str, Any]]], tmp_path: Path
) -> None:
    url, got = webhook
    (tmp_path / "bluegreen.toml").write_text(f'notify_url = "{url}"\n')
    r = run("release", "--version", "v2", "--timeout", "10s", hooks=[_unhealthy_hook()])
    assert r.code == 5
    assert [e["event"] for e in got] == ["start", "rollback", "failure"]
    assert got[2]["result"] == "rolled back" and "not done after" in got[2]["error"]


def test_a_failing_notification_warns_and_never_fails_the_command(
    live_v1: dict[str, str],
) -> None:
    with socket.socket() as s:  # a port that was free and is now closed: refused at once
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/secret-path"
    r = run("--notify-url", url, "deploy", "--version", "v2")
    assert r.code == 0, r.err
    assert "could not send the start notification of deploy" in r.err
    assert "could not send the success notification" in r.err
    assert "secret-path" not in r.err  # webhook URLs carry secrets: only the host is named


# -- on a terminal -------------------------------------------------------------------
def _on_a_terminal(url: str, cwd: Path, *args: str, answer: bytes = b"") -> tuple[int, str]:
    """Run the installed ``bluegreen`` with a pseudo-terminal as stdin, stdout
    and stderr; answer the first question with ``answer``."""
    import os
    import pty
    import select
    import subprocess
    import sys

    exe = str(Path(sys.executable).parent / "bluegreen")
    env = dict(os.environ, BLUEGREEN_ENDPOINT_URL=url, COLUMNS="160")
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [exe, "--domain", "londontamed.com", *args],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        cwd=cwd,
        env=env,
        close_fds=True,
    )
    os.close(slave)
    out = b""
    answered = False
    while True:
        ready, _, _ = select.select([master], [], [], 60)
        if not ready:
            break
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
        if answer and not answered and b"Go ahead?" in out:
            os.write(master, answer)
            answered = True
    os.close(master)
    return proc.wait(timeout=60), out.decode(errors="replace")


def test_tables_and_a_question_on_a_terminal(
    both: dict[str, str], aws: str, tmp_path: Path, unchanged: Any
) -> None:
    code, out = _on_a_terminal(aws, tmp_path, "status")
    assert code == 0, out
    assert "┃" in out and "│ live" in out  # a rich table
    with unchanged():
        code, out = _on_a_terminal(aws, tmp_path, "clean", answer=b"n\n")
    assert code == 2, out
    assert "clean will:" in out and "delete autoscaling group" in out
    assert "not confirmed; nothing was changed" in out
