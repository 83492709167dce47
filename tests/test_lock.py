"""Concurrency: one changing command per domain at a time.

The lock is a DynamoDB item written with a conditional put. These tests hold
it from "another process" (an item written directly, or a ``DomainLock`` held
by the test) and check that every changing command refuses at once with exit
6 naming the holder, that status never waits for it, that it is released on
success, on failure and on interruption, that ``unlock`` needs the right id,
that a dead process's lock on this host is taken over, and that two deploys
started at the same moment let exactly one through.
"""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from bluegreen import api
from bluegreen.clock import FakeClock
from bluegreen.errors import LockedError
from bluegreen.lifecycle import lock
from bluegreen.ui import Reporter
from chaos import aws as client
from chaos import shape
from conftest import DOMAIN, run, session

KEY = {"pk": {"S": f"site#{DOMAIN}"}, "sk": {"S": "lock"}}
CHANGING = (
    ("deploy", "--version", "v2"),
    ("switch",),
    ("rollback",),
    ("clean", "--yes", "--force"),
    ("init",),  # it changes security groups and records that a switch changes too
    ("teardown", "--yes"),
)


def put_lock(url: str, *, host: str = "build-7", pid: int = 4242, lock_id: str = "abc123") -> None:
    client(url, "dynamodb").put_item(
        TableName="bluegreen",
        Item={
            **KEY,
            "lock_id": {"S": lock_id},
            "who": {"S": "alice"},
            "host": {"S": host},
            "pid": {"N": str(pid)},
            "command": {"S": "deploy"},
            "since": {"N": "1700000000.0"},
        },
    )


def lock_item(url: str) -> dict[str, Any] | None:
    item = client(url, "dynamodb").get_item(TableName="bluegreen", Key=KEY).get("Item")
    return dict(item) if item else None


def dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def dynamo_writes() -> tuple[list[str], tuple[str, Callable[..., Any]]]:
    seen: list[str] = []

    def hook(event_name: str, **_: Any) -> None:
        seen.append(event_name.rsplit(".", 1)[-1])

    return seen, ("before-call", hook)


def test_every_changing_command_refuses_at_once_naming_the_holder(
    both: dict[str, str], aws: str
) -> None:
    put_lock(aws)
    before = shape(aws)
    for args in CHANGING:
        calls, hook = dynamo_writes()
        r = run(*args, hooks=[hook])
        assert r.code == 6, (args, r.err)
        assert "locked by another bluegreen command" in r.err
        assert "deploy by alice on build-7 (pid 4242)" in r.err
        assert "bluegreen unlock --lock-id abc123" in r.err
        # It asked once and gave up: no waiting, no change.
        assert calls.count("PutItem") == 1 and "DeleteItem" not in calls, (args, calls)
        assert not any(c.startswith(("Create", "Change", "Delete")) for c in calls)
    assert shape(aws) == before
    assert lock_item(aws) is not None and lock_item(aws)["lock_id"]["S"] == "abc123"  # type: ignore[index]


def test_held_by_a_live_process_of_this_host_refuses_too(live_v1: dict[str, str], aws: str) -> None:
    holder = session(aws)
    with lock.DomainLock(holder.gw, holder.names, "switch", holder.reporter) as info:
        r = run("deploy", "--version", "v2")
        assert r.code == 6
        assert f"switch by {info.who} on {socket.gethostname()} (pid {os.getpid()})" in r.err
    assert lock_item(aws) is None
    assert run("deploy", "--version", "v2").code == 0


def test_status_never_waits_and_shows_the_holder(live_v1: dict[str, str], aws: str) -> None:
    put_lock(aws)
    calls, hook = dynamo_writes()
    r = run("--output", "json", "status", hooks=[hook])
    assert r.code == 0, r.err
    held = r.json()["lock"]
    assert held["lock_id"] == "abc123" and held["who"] == "alice" and held["host"] == "build-7"
    assert held["pid"] == 4242 and held["command"] == "deploy"
    assert "PutItem" not in calls and "DeleteItem" not in calls
    text = run("status")
    assert "locked   by alice@build-7 pid 4242 (deploy)" in text.out


def test_released_on_success_and_on_refusal(live_v1: dict[str, str], aws: str) -> None:
    assert run("deploy", "--version", "v2").code == 0
    assert lock_item(aws) is None
    r = run("deploy", "--version", "v3")  # staging occupied: refused
    assert r.code == 3
    assert lock_item(aws) is None
    r = run("rollback")  # v2 never live: refused
    assert r.code == 3
    assert lock_item(aws) is None


def test_released_on_an_aws_failure(live_v1: dict[str, str], aws: str) -> None:
    from botocore.exceptions import EndpointConnectionError

    def down(**_: Any) -> None:
        raise EndpointConnectionError(endpoint_url="http://127.0.0.1:1")

    r = run(
        "deploy",
        "--version",
        "v2",
        hooks=[("before-call.auto-scaling.CreateAutoScalingGroup", down)],
    )
    assert r.code == 4, r.err
    assert lock_item(aws) is None


@pytest.mark.parametrize("how", ["keyboard", "sigterm"])
def test_released_on_interruption(live_v1: dict[str, str], aws: str, how: str) -> None:
    def interrupt(**_: Any) -> None:
        if how == "keyboard":
            raise KeyboardInterrupt
        os.kill(os.getpid(), signal.SIGTERM)  # cli.main turns it into an exception

    r = run(
        "deploy",
        "--version",
        "v2",
        hooks=[("before-call.auto-scaling.CreateAutoScalingGroup", interrupt)],
    )
    assert r.code == 130, r.err
    assert "run the same command again" in r.err
    assert lock_item(aws) is None
    assert run("deploy", "--version", "v2").code == 0


def test_unlock_needs_the_right_id(live_v1: dict[str, str], aws: str) -> None:
    put_lock(aws)
    r = run("unlock", "--lock-id", "wrong")
    assert r.code == 3
    assert "has id abc123, not wrong" in r.err
    assert lock_item(aws) is not None
    r = run("unlock", "--lock-id", "abc123")
    assert r.code == 0, r.err
    assert "deploy by alice on build-7" in r.out
    assert lock_item(aws) is None
    assert run("unlock", "--lock-id", "abc123").code == 3  # nothing left to unlock


def test_a_dead_process_lock_on_this_host_is_taken_over(live_v1: dict[str, str], aws: str) -> None:
    put_lock(aws, host=socket.gethostname(), pid=dead_pid())
    r = run("deploy", "--version", "v2")
    assert r.code == 0, r.err
    assert "taking over the lock of deploy" in r.err
    assert lock_item(aws) is None


def test_a_dead_looking_lock_of_another_host_is_not_taken_over(
    live_v1: dict[str, str], aws: str
) -> None:
    put_lock(aws, host="elsewhere", pid=dead_pid())
    assert run("switch").code == 6
    assert lock_item(aws) is not None


def test_two_deploys_at_the_same_moment_let_exactly_one_through(
    live_v1: dict[str, str], aws: str
) -> None:
    """Both threads reach the conditional put together (a barrier holds each
    one's PutItem until the other's is ready); DynamoDB lets one through."""
    barrier = threading.Barrier(2, timeout=30)
    results: dict[str, Any] = {}

    def at_once(**_: Any) -> None:
        with_barrier = getattr(threading.current_thread(), "race", False)
        if with_barrier:
            threading.current_thread().race = False  # type: ignore[attr-defined]
            barrier.wait()

    def deploy(version: str) -> None:
        threading.current_thread().race = True  # type: ignore[attr-defined]
        s = session(aws)
        sess = api.open_session(
            s.settings,
            Reporter(stream=io.StringIO()),
            clock=FakeClock(),
            hooks=[("before-call.dynamodb.PutItem", at_once)],
        )
        try:
            results[version] = api.deploy(sess, version=version)["result"]
        except LockedError as e:
            results[version] = e

    threads = [threading.Thread(target=deploy, args=(v,)) for v in ("v2", "v3")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    winners = [v for v, r in results.items() if r == "succeeded"]
    losers = [r for r in results.values() if isinstance(r, LockedError)]
    assert len(winners) == 1 and len(losers) == 1, results
    assert losers[0].exit_code == 6 and "deploy by" in (losers[0].found or "")
    groups = client(aws, "autoscaling").describe_auto_scaling_groups()["AutoScalingGroups"]
    versions = sorted(
        t["Value"] for g in groups for t in g["Tags"] if t["Key"] == "bluegreen:version"
    )
    assert versions == sorted(["v1", winners[0]])
    assert lock_item(aws) is None


def test_two_processes_at_the_same_moment(live_v1: dict[str, str], aws: str) -> None:
    """The same race between two real processes started together."""
    code = (
        "import sys, time; from bluegreen.cli import main; "
        "t = float(sys.argv[1]); time.sleep(max(0, t - time.time())); "
        "main(['--domain', 'londontamed.com', 'deploy', '--version', sys.argv[2]])"
    )
    start = time.time() + 2.0
    env = dict(os.environ, BLUEGREEN_ENDPOINT_URL=aws)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(start), v],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for v in ("v2", "v3")
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    codes = sorted(p.returncode for p in procs)
    assert codes in ([0, 6], [0, 3]), (codes, outs)
    assert lock_item(aws) is None


def test_unlock_says_what_the_killed_command_had_planned(live_v1: dict[str, str], aws: str) -> None:
    put_lock(aws)
    client(aws, "dynamodb").update_item(
        TableName="bluegreen",
        Key=KEY,
        UpdateExpression="SET intent = :i",
        ExpressionAttributeValues={
            ":i": {"S": '{"command": "switch", "live": "londontamed-com-production-1"}'}
        },
    )
    r = run("--output", "json", "unlock", "--lock-id", "abc123")
    assert r.code == 0, r.err
    assert "had planned: command=switch, live=londontamed-com-production-1" in r.err
    assert r.json()["was_doing"] == {"command": "switch", "live": "londontamed-com-production-1"}


def test_a_takeover_carries_the_dead_holders_intent_over(live_v1: dict[str, str], aws: str) -> None:
    """The intent stays in the lock item from the moment of the takeover; a
    run of the same operation keeps it, another command replaces it."""
    first = {"command": "switch", "target": None, "live": "lb-2", "started": 5.0}
    put_lock(aws, host=socket.gethostname(), pid=dead_pid())
    item = lock_item(aws)
    assert item is not None
    client(aws, "dynamodb").put_item(
        TableName="bluegreen", Item={**item, "intent": {"S": json.dumps(first)}}
    )
    sess = session(aws)
    lk = lock.DomainLock(sess.gw, sess.names, "switch", Reporter(stream=io.StringIO()))
    lk.acquire()
    try:
        held = lock_item(aws)
        assert held is not None and held["lock_id"]["S"] == lk.info.lock_id
        assert json.loads(held["intent"]["S"]) == first  # before this run planned anything
        assert lk.resumes("switch") == first and lk.resumes("rollback") == {}
        assert lk.record_intent({"command": "switch", "live": "lb-1", "started": 9.0}) == first
        assert json.loads(lock_item(aws)["intent"]["S"]) == first  # type: ignore[index]
        other = {"command": "clean", "started": 9.0}
        assert lk.record_intent(other) == other
        assert json.loads(lock_item(aws)["intent"]["S"]) == other  # type: ignore[index]
    finally:
        lk.release()
    assert lock_item(aws) is None
