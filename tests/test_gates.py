"""Health gates: checks before a switch refuse; checks after it undo the switch.

URL checks go to a small HTTP server on 127.0.0.1 that this module starts and
stops; command checks are small shell commands.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse

from bluegreen.clock import FakeClock
from conftest import client, records, run

Unchanged = Callable[..., contextlib.AbstractContextManager[None]]
LB1 = "londontamed-com-production-1"
LB2 = "londontamed-com-production-2"


class Server:
    """Answers ``/ok`` 200, ``/status/N`` N, and ``/only-staging/...`` 200 only
    when the path names a staging host. Records every path it was asked for."""

    def __init__(self) -> None:
        paths: list[str] = []
        self.paths = paths

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                paths.append(self.path)
                if self.path == "/ok":
                    code = 200
                elif self.path.startswith("/status/"):
                    code = int(self.path.split("/")[2])
                elif self.path.startswith("/only-staging/"):
                    code = 200 if "-staging." in self.path else 503
                else:
                    code = 404
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return None

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> Server:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


@pytest.fixture
def http() -> Iterator[Server]:
    with Server() as s:
        yield s


@pytest.fixture
def staged(live_v1: dict[str, str]) -> dict[str, str]:
    """v1 live behind LB2, v2 deployed to staging behind LB1."""
    r = run("deploy", "--version", "v2")
    assert r.code == 0, r.err
    return live_v1


def dns_of(aws: str, lb: str) -> str:
    d = client(aws, "elb").describe_load_balancers(LoadBalancerNames=[lb])
    return str(d["LoadBalancerDescriptions"][0]["DNSName"])


def live_lb(aws: str) -> str:
    targets = set(records(aws, private=False).values())
    assert len(targets) == 1, targets
    t = targets.pop()
    return LB1 if LB1 in t else LB2


def test_check_commands_get_the_names_of_each_environment(
    staged: dict[str, str], aws: str, tmp_path: Path
) -> None:
    out = tmp_path / "env"
    out.mkdir()
    cmd = f'env | grep ^BLUEGREEN_ | sort > "{out}/$BLUEGREEN_PHASE"'
    r = run("switch", "--check", cmd, "--check", "true")
    assert r.code == 0, r.err
    assert live_lb(aws) == LB1
    before = dict(line.split("=", 1) for line in (out / "before-switch").read_text().splitlines())
    after = dict(line.split("=", 1) for line in (out / "after-switch").read_text().splitlines())
    assert before["BLUEGREEN_ENVIRONMENT"] == "staging"
    assert before["BLUEGREEN_HOSTS"] == "www-staging.londontamed.com api-staging.londontamed.com"
    assert before["BLUEGREEN_HOST"] == "www-staging.londontamed.com"
    assert before["BLUEGREEN_LB_NAME"] == LB1
    assert before["BLUEGREEN_LB_DNS"] == dns_of(aws, LB1)
    assert before["BLUEGREEN_VERSION"] == "v2"
    assert before["BLUEGREEN_AMI"] == staged["v2"]
    assert before["BLUEGREEN_DOMAIN"] == "londontamed.com"
    assert after["BLUEGREEN_ENVIRONMENT"] == "live"
    assert after["BLUEGREEN_HOSTS"] == "www.londontamed.com api.londontamed.com"
    assert after["BLUEGREEN_LB_DNS"] == dns_of(aws, LB1)  # the same balancer, now live


def test_failing_check_before_the_switch_refuses(
    staged: dict[str, str], aws: str, unchanged: Unchanged
) -> None:
    with unchanged(history=True):
        r = run("switch", "--check", "echo no database >&2; exit 3")
    assert r.code == 3, r.err
    assert "1 of 1 checks failed against staging" in r.err
    assert "exited with 3: no database" in r.err
    assert live_lb(aws) == LB2


def test_failing_check_after_the_switch_undoes_it(
    staged: dict[str, str], aws: str, unchanged: Unchanged
) -> None:
    """The brief's example: a check that only passes against staging."""
    pub, priv = records(aws, private=False), records(aws, private=True)
    with unchanged(history=True):
        r = run("--output", "json", "switch", "--check", 'test "$BLUEGREEN_ENVIRONMENT" = staging')
    assert r.code == 7, r.err
    assert "rolled back" in r.err and "after the switch" in r.err
    assert r.json()["exit_code"] == 7
    assert records(aws, private=False) == pub and records(aws, private=True) == priv
    assert live_lb(aws) == LB2
    hist = run("--output", "json", "history").json()
    assert any(h["command"] == "switch" and h["result"] == "failed" for h in hist)


def test_url_checks_fill_in_placeholders_and_undo_on_failure(
    staged: dict[str, str], aws: str, http: Server, tmp_path: Path
) -> None:
    (tmp_path / "bluegreen.toml").write_text(
        'domain = "londontamed.com"\n'
        f'check_urls = ["{http.url}/ok", "{http.url}/only-staging/{{host}}/{{lb_dns}}"]\n'
        'check_timeout = "20s"\n'
    )
    pub = records(aws, private=False)
    clock = FakeClock()
    r = run("switch", clock=clock, domain=None)
    assert r.code == 7, r.err
    assert records(aws, private=False) == pub
    lb1 = dns_of(aws, LB1)
    assert f"/only-staging/www-staging.londontamed.com/{lb1}" in http.paths
    assert f"/only-staging/api-staging.londontamed.com/{lb1}" in http.paths
    assert f"/only-staging/www.londontamed.com/{lb1}" in http.paths
    # each failing URL was retried through the clock until its 20 s deadline
    assert 40 <= sum(clock.slept) <= 45
    assert 8 <= http.paths.count(f"/only-staging/www.londontamed.com/{lb1}") <= 12


def test_url_check_that_never_answers_2xx_refuses_after_its_timeout(
    staged: dict[str, str], aws: str, http: Server, unchanged: Unchanged
) -> None:
    clock = FakeClock()
    start = clock.now()
    with unchanged(history=True):
        r = run(
            "switch",
            "--check-url",
            f"{http.url}/status/503",
            "--check-timeout",
            "30s",
            clock=clock,
        )
    assert r.code == 3, r.err
    assert "HTTP 503" in r.err and "in 30s" in r.err
    assert 30 <= clock.now() - start <= 35
    assert 10 <= http.paths.count("/status/503") <= 20


def test_url_check_passes(staged: dict[str, str], aws: str, http: Server) -> None:
    r = run("switch", "--check-url", f"{http.url}/ok")
    assert r.code == 0, r.err
    assert http.paths == ["/ok", "/ok"]  # once before, once after
    assert live_lb(aws) == LB1


class _Raw:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **kwargs: Any) -> Iterator[bytes]:
        yield self.body


def test_undo_that_fails_too_exits_8(staged: dict[str, str], aws: str) -> None:
    calls = {"n": 0}

    def deny_after_two(request: Any, **kwargs: Any) -> AWSResponse | None:
        calls["n"] += 1
        if calls["n"] <= 2:  # the switch's two batches go through; the undo is denied
            return None
        body = (
            b'<?xml version="1.0"?><ErrorResponse><Error><Type>Sender</Type>'
            b"<Code>AccessDenied</Code><Message>route53 is read-only now</Message></Error>"
            b"<RequestId>1</RequestId></ErrorResponse>"
        )
        return AWSResponse(request.url, 403, {}, _Raw(body))

    r = run(
        "switch",
        "--check",
        'test "$BLUEGREEN_PHASE" = before-switch',
        hooks=[("before-send.route53.ChangeResourceRecordSets", deny_after_two)],
    )
    assert r.code == 8, r.err
    assert "ROLLBACK FAILED" in r.err and "read-only" in r.err
    assert live_lb(aws) == LB1  # the failing release stayed live: the operator must act


def test_dry_run_shows_the_checks_and_the_undo(
    staged: dict[str, str], unchanged: Unchanged
) -> None:
    with unchanged():
        r = run(
            "switch", "--dry-run", "--check", "true", "--check-url", "http://127.0.0.1:9/{host}"
        )
    assert r.code == 0, r.err
    assert "would [1/5] check staging" in r.err
    assert "GET http://127.0.0.1:9/www-staging.londontamed.com" in r.err
    assert "would [5/5] check live" in r.err
    assert "if a check fails after the switch, would undo it with" in r.err


def test_rollback_runs_the_checks_too(staged: dict[str, str], aws: str) -> None:
    assert run("switch").code == 0
    assert live_lb(aws) == LB1
    r = run("rollback", "--check", 'test "$BLUEGREEN_VERSION" = v1')
    assert r.code == 0, r.err
    assert live_lb(aws) == LB2
    r = run("switch", "--check", 'test "$BLUEGREEN_ENVIRONMENT" = staging')
    assert r.code == 7
    assert live_lb(aws) == LB2
