"""Fault machinery shared by the reliability tests and ``bench/reliability.py``.

- ``run_killed``: run a command in a forked child that is killed with SIGKILL
  just before its k-th AWS call (a ``before-call`` botocore hook), so exactly
  k-1 calls completed: every point between two calls is reachable.
- ``shape``: the state of a site with ids normalised away (groups by name,
  size, load balancers and instance counts; launch templates and
  configurations by name; records by the load balancer they point at; the
  lock), to compare a run that was interrupted with one that was not.
- ``unserved_live_names``: the live names that point at a load balancer
  without a healthy instance (the one thing no crash may ever cause).
- ``Faults``: a seeded ``before-send`` hook that fails a share of all
  requests with throttling, HTTP 5xx or a connection timeout, and, for
  requests that change something, sometimes lets the request reach the
  server and then loses the response (a read timeout), so a retried create
  or delete meets its own earlier success.

Nothing here patches bluegreen or boto3: faults go in through event hooks.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
import signal
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import boto3

from bluegreen.cli import main
from bluegreen.clock import FakeClock

REGION = "us-east-1"
MUTATING_PREFIXES = (
    "Transact",
    "Create",
    "Delete",
    "Put",
    "Update",
    "Change",
    "Attach",
    "Detach",
    "Register",
    "Deregister",
    "Modify",
    "Set",
    "Terminate",
    "Authorize",
    "Revoke",
    "Apply",
    "Associate",
)

_clients: dict[tuple[str, str], Any] = {}


def aws(url: str, service: str) -> Any:
    key = (url, service)
    if key not in _clients:
        _clients[key] = boto3.client(
            service,
            endpoint_url=url,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
    return _clients[key]


# -- crashes -----------------------------------------------------------------
KillPoint = int | tuple[str, int]


def run_killed(argv: Sequence[str], k: KillPoint) -> bool:
    """Run ``bluegreen ARGV`` in a child process killed just before its k-th
    AWS call (k >= 1), or, with k = (OPERATION, n), just before its n-th call
    of OPERATION (e.g. ("TransactWriteItems", 1): before it records its history and
    releases its lock). True
    when it was killed; False when it finished first."""
    pid = os.fork()
    if pid == 0:  # the child: never returns
        code = 70
        try:
            count = 0
            mutex = threading.Lock()

            def kill_at_k(event_name: str, **_: Any) -> None:
                nonlocal count
                with mutex:
                    if isinstance(k, tuple) and event_name.split(".", 2)[2] != k[0]:
                        return
                    count += 1
                    if count == (k[1] if isinstance(k, tuple) else k):
                        os.kill(os.getpid(), signal.SIGKILL)

            sink = io.StringIO()
            with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
                code = main(
                    list(argv),
                    hooks=[("before-call", kill_at_k)],
                    clock=FakeClock(),
                    standalone=False,
                )
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        assert os.WTERMSIG(status) == signal.SIGKILL
        return True
    assert os.WEXITSTATUS(status) == 0, f"{argv} exited with {os.WEXITSTATUS(status)}"
    return False


def count_calls(argv: Sequence[str]) -> tuple[int, list[str]]:
    """Run ``bluegreen ARGV`` in this process: (exit code, the operations it
    called, in order; reads made concurrently may come in either order)."""
    calls: list[str] = []
    mutex = threading.Lock()

    def tally(event_name: str, **_: Any) -> None:
        with mutex:
            calls.append(event_name.split(".", 2)[2])

    sink = io.StringIO()
    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        code = main(list(argv), hooks=[("before-call", tally)], clock=FakeClock(), standalone=False)
    return code, calls


# -- state ---------------------------------------------------------------------
# Load balancers and zones do not change while a crash loop runs: it reads
# them once (``_fixed``), which keeps each kill point a few calls cheaper.
_fixed: dict[str, tuple[dict[str, str], list[dict[str, Any]]]] = {}


def _balancer_names(url: str) -> dict[str, str]:
    if url in _fixed:
        return _fixed[url][0]
    lbs = aws(url, "elb").describe_load_balancers()["LoadBalancerDescriptions"]
    return {lb["DNSName"].lower().rstrip("."): lb["LoadBalancerName"] for lb in lbs}


def _zones(url: str) -> list[dict[str, Any]]:
    if url in _fixed:
        return _fixed[url][1]
    return list(aws(url, "route53").list_hosted_zones()["HostedZones"])


def _records(url: str, by_dns: dict[str, str]) -> dict[str, dict[str, str]]:
    r53 = aws(url, "route53")
    out: dict[str, dict[str, str]] = {"public": {}, "private": {}}
    for z in _zones(url):
        which = "private" if z.get("Config", {}).get("PrivateZone") else "public"
        sets = r53.list_resource_record_sets(HostedZoneId=z["Id"], MaxItems="1000")
        for rr in sets["ResourceRecordSets"]:
            at = rr.get("AliasTarget")
            if at is None:
                continue
            dns = at["DNSName"].lower().rstrip(".").removeprefix("dualstack.")
            out[which][rr["Name"]] = by_dns.get(dns, dns)
    return out


def _healthy(url: str, lb: str) -> set[str]:
    states = aws(url, "elb").describe_instance_health(LoadBalancerName=lb)["InstanceStates"]
    return {s["InstanceId"] for s in states if s["State"] == "InService"}


def shape(url: str, table: str = "bluegreen") -> dict[str, Any]:
    """The site's state with every generated id normalised away."""
    by_dns = _balancer_names(url)
    groups = aws(url, "autoscaling").describe_auto_scaling_groups()["AutoScalingGroups"]
    healthy = {lb: _healthy(url, lb) for lb in sorted(by_dns.values())}
    lts = aws(url, "ec2").describe_launch_templates()["LaunchTemplates"]
    lcs = aws(url, "autoscaling").describe_launch_configurations()["LaunchConfigurations"]
    lock = aws(url, "dynamodb").get_item(
        TableName=table, Key={"pk": {"S": "site#londontamed.com"}, "sk": {"S": "lock"}}
    )
    return {
        "groups": sorted(
            (
                g["AutoScalingGroupName"],
                g["MinSize"],
                g["MaxSize"],
                g["DesiredCapacity"],
                tuple(sorted(g.get("LoadBalancerNames", []))),
                len(g["Instances"]),
                sum(
                    1
                    for i in g["Instances"]
                    if any(i["InstanceId"] in healthy[lb] for lb in g.get("LoadBalancerNames", []))
                ),
            )
            for g in groups
        ),
        "launch_templates": sorted(t["LaunchTemplateName"] for t in lts),
        "launch_configurations": sorted(c["LaunchConfigurationName"] for c in lcs),
        "records": _records(url, by_dns),
        "locked": "Item" in lock,
    }


def unserved_live_names(url: str) -> list[str]:
    """Live (public) names whose load balancer has no healthy instance."""
    records = _records(url, _balancer_names(url))["public"]
    return sorted(f"{name} -> {lb}" for name, lb in records.items() if not _healthy(url, lb))


# -- API faults ----------------------------------------------------------------
class _Body:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def stream(self, **_: Any) -> Any:
        yield self.data


def answer(operation: str, body: bytes) -> tuple[str, Callable[..., Any]]:
    """A ``before-send`` hook on ``operation`` ("service.Operation") answering
    HTTP 200 with ``body``: the server is not asked."""
    from botocore.awsrequest import AWSResponse

    def before_send(request: Any, **_: Any) -> Any:
        return AWSResponse(request.url, 200, {}, _Body(body))

    return (f"before-send.{operation}", before_send)


def answer_with(
    operation: str, edit: Callable[[dict[str, Any]], None]
) -> tuple[str, Callable[..., Any]]:
    """An ``after-call`` hook on ``operation`` editing its parsed response."""

    def after_call(parsed: dict[str, Any], **_: Any) -> None:
        edit(parsed)

    return (f"after-call.{operation}", after_call)


# Zones an account opted in to lists besides its ordinary availability zones.
LOCAL_ZONES: list[dict[str, str]] = [
    {"ZoneName": "us-east-1-bos-1a", "ZoneType": "local-zone", "State": "available"},
    {"ZoneName": "us-east-1-wl1-bos-wlz-1", "ZoneType": "wavelength-zone", "State": "available"},
]


@dataclass
class Refusal:
    """A ``before-send`` hook for ``service.Operation`` (as botocore's events
    name it, e.g. ``auto-scaling.DeleteAutoScalingGroup``) that answers the
    next ``left`` requests with AWS's error ``code`` (HTTP 400, query
    protocol) without sending them: an answer AWS gives while something
    passes. ``left`` is what has not been refused yet."""

    operation: str
    code: str
    message: str
    left: int = 1

    def hook(self) -> tuple[str, Callable[..., Any]]:
        def refuse(request: Any, **_: Any) -> Any:
            if self.left <= 0:
                return None
            self.left -= 1
            return _error_response(request, 400, self.code, self.message, "query")

        return (f"before-send.{self.operation}", refuse)


def _error_response(request: Any, status: int, code: str, message: str, protocol: str) -> Any:
    from botocore.awsrequest import AWSResponse

    if protocol == "json":
        body = json.dumps({"__type": code, "message": message}).encode()
        headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-RequestId": "fault"}
    elif protocol == "ec2":
        body = (
            f"<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message>"
            "</Error></Errors><RequestID>fault</RequestID></Response>"
        ).encode()
        headers = {"Content-Type": "text/xml"}
    else:
        body = (
            f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code>"
            f"<Message>{message}</Message></Error><RequestId>fault</RequestId></ErrorResponse>"
        ).encode()
        headers = {"Content-Type": "text/xml"}
    return AWSResponse(request.url, status, headers, _Body(body))


@dataclass
class Faults:
    """A ``before-send`` hook failing ``rate`` of all requests, seeded.

    Kinds: ``throttle`` (400 ``Throttling``, "Rate exceeded"), ``5xx`` (503),
    ``connect-timeout`` (no connection: the server never sees the request) and,
    for requests that change something, ``lost-response``: the request is sent
    to the server, which acts on it, and then the client sees a read timeout.
    ``denied`` names operations (``Service.Operation``) that always fail with
    AccessDenied (a permanent error)."""

    seed: int = 0
    rate: float = 0.2
    denied: frozenset[str] = frozenset()
    lose_first_response: bool = False  # of every request that changes something
    writes: tuple[str, ...] = MUTATING_PREFIXES  # what lose_first_response counts as a change
    lose_responses: bool = True  # False: only faults where AWS never saw the request
    injected: Counter[str] = field(default_factory=Counter)
    requests: int = 0
    by_operation: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)
        self._mutex = threading.Lock()

    @property
    def total(self) -> int:
        return sum(self.injected.values())

    def hook(self) -> tuple[str, Callable[..., Any]]:
        return ("before-send", self._before_send)

    def _before_send(self, request: Any, event_name: str, **_: Any) -> Any:
        from botocore.exceptions import ConnectTimeoutError, ReadTimeoutError

        service, operation = event_name.split(".", 2)[1:]
        with self._mutex:
            self.requests += 1
            first = b"attempt=1;" in (request.headers.get("amz-sdk-request") or b"")
            if f"{service}.{operation}" in self.denied:
                self.injected["denied"] += 1
                kind = "denied"
            elif self.lose_first_response and first and operation.startswith(self.writes):
                kind = "lost-response"
                self.injected[kind] += 1
                self.by_operation[f"{service}.{operation}"] += 1
            elif self._random.random() < self.rate:
                mutating = operation.startswith(MUTATING_PREFIXES)
                kinds = ["throttle", "5xx", "connect-timeout"]
                if mutating and self.lose_responses:
                    kinds.append("lost-response")
                kind = self._random.choice(kinds)
                self.injected[kind] += 1
                self.by_operation[f"{service}.{operation}"] += 1
            else:
                return None
        protocol = {"dynamodb": "json", "ec2": "ec2"}.get(service, "query")
        if kind == "denied":
            return _error_response(
                request, 403, "AccessDenied", "User is not authorized to perform this", protocol
            )
        if kind == "throttle":
            return _error_response(request, 400, "Throttling", "Rate exceeded", protocol)
        if kind == "5xx":
            return _error_response(
                request, 503, "ServiceUnavailable", "Service unavailable", protocol
            )
        if kind == "connect-timeout":
            raise ConnectTimeoutError(endpoint_url=request.url)
        _forward(request)  # lost-response: the server acts, the client hears nothing
        raise ReadTimeoutError(endpoint_url=request.url)


def _forward(request: Any) -> None:
    from botocore.httpsession import URLLib3Session

    session = URLLib3Session()
    try:
        session.send(request)
    finally:
        session.close()


# -- the crash loop ----------------------------------------------------------------
@dataclass
class CrashResult:
    """Kill points of one command: how many were tried and converged."""

    calls: int = 0  # AWS calls of an uninterrupted run
    tried: int = 0
    converged: int = 0
    failures: list[str] = field(default_factory=list)


def _diff(got: dict[str, Any], want: dict[str, Any]) -> str:
    return "\n".join(
        f"  {key}: got {got.get(key)!r}\n  {' ' * len(key)}  want {want.get(key)!r}"
        for key in sorted(set(got) | set(want))
        if got.get(key) != want.get(key)
    )


def crash_pair(
    url: str,
    domain: str,
    first: Sequence[str],
    second: Sequence[str],
    rerun: Callable[[Sequence[str]], tuple[int, str]],
) -> dict[str, CrashResult]:
    """Kill ``first`` before its k-th AWS call, check that no live name lost
    its healthy instances, re-run it with ``rerun`` (argv without --domain ->
    exit code, stderr) and compare the site with an uninterrupted run's; then
    the same for ``second``, which must undo ``first``; for k = 1, 2, ...
    until neither is killed any more. Stops at the first failure."""
    cmds = [tuple(first), tuple(second)]
    argv = {c: ["--domain", domain, *c] for c in cmds}
    results = {" ".join(c): CrashResult() for c in cmds}
    start = shape(url)
    expected: dict[tuple[str, ...], dict[str, Any]] = {}
    for c in cmds:
        code, seq = count_calls(argv[c])
        if code != 0:
            raise RuntimeError(f"{' '.join(c)} failed without any fault: exit {code}")
        results[" ".join(c)].calls = len(seq)
        expected[c] = shape(url)
    if expected[cmds[1]] != start:
        raise RuntimeError(f"{cmds[1]} does not undo {cmds[0]}:\n{_diff(expected[cmds[1]], start)}")
    _fixed[url] = (_balancer_names(url), _zones(url))
    try:
        _kill_everywhere(url, cmds, argv, expected, results, rerun)
    finally:
        _fixed.pop(url, None)
    return results


def _kill_everywhere(
    url: str,
    cmds: list[tuple[str, ...]],
    argv: dict[tuple[str, ...], list[str]],
    expected: dict[tuple[str, ...], dict[str, Any]],
    results: dict[str, CrashResult],
    rerun: Callable[[Sequence[str]], tuple[int, str]],
) -> None:
    k = 1
    while True:
        killed_any = False
        for c in cmds:
            res = results[" ".join(c)]
            where = f"{' '.join(c)} killed before call {k}"
            killed = run_killed(argv[c], k)
            killed_any |= killed
            if killed:
                res.tried += 1
            unserved = unserved_live_names(url)
            if unserved:
                res.failures.append(f"{where}: live names without healthy instances: {unserved}")
                return
            if killed:
                code, err = rerun(c)
                if code != 0:
                    res.failures.append(f"{where}, then re-run: exit {code}\n{err}")
                    return
            got = shape(url)
            if got != expected[c]:
                res.failures.append(f"{where}: the state differs:\n{_diff(got, expected[c])}")
                return
            if killed:
                res.converged += 1
        if not killed_any:
            return
        k += 1


# -- kills of re-runs ---------------------------------------------------------------
def inventory(url: str) -> dict[str, Any]:
    """What ``init`` sets up and ``teardown`` removes, by name and count (ids
    normalised away): the state compared for kills of those two."""
    ec2, iam = aws(url, "ec2"), aws(url, "iam")
    zones = aws(url, "route53").list_hosted_zones()["HostedZones"]
    return {
        "vpcs": len([v for v in ec2.describe_vpcs()["Vpcs"] if not v.get("IsDefault")]),
        "subnets": len([s for s in ec2.describe_subnets()["Subnets"] if not s.get("DefaultForAz")]),
        "security_groups": sorted(
            g["GroupName"] for g in ec2.describe_security_groups()["SecurityGroups"]
        ),
        "load_balancers": sorted(
            b["LoadBalancerName"]
            for b in aws(url, "elb").describe_load_balancers()["LoadBalancerDescriptions"]
        ),
        "zones": sorted((z["Name"], z["ResourceRecordSetCount"]) for z in zones),
        "roles": sorted(r["RoleName"] for r in iam.list_roles()["Roles"]),
        "profiles": sorted(
            p["InstanceProfileName"] for p in iam.list_instance_profiles()["InstanceProfiles"]
        ),
        "tables": sorted(aws(url, "dynamodb").list_tables()["TableNames"]),
        "groups": len(aws(url, "autoscaling").describe_auto_scaling_groups()["AutoScalingGroups"]),
    }


def history_count(url: str, domain: str, table: str = "bluegreen") -> int:
    """How many history entries the site has."""
    out = aws(url, "dynamodb").query(
        TableName=table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"history#{domain}"}},
        Select="COUNT",
    )
    return int(out["Count"])


def kill_chain(
    url: str,
    domain: str,
    command: Sequence[str],
    points: Sequence[KillPoint],
    expected: dict[str, Any],
    rerun: Callable[[Sequence[str]], tuple[int, str]],
    state: Callable[[str], dict[str, Any]] = shape,
) -> tuple[int, str]:
    """Kill ``command`` at ``points[0]``, its re-run at ``points[1]`` and so
    on, then run it plainly. After every kill no live name may lack healthy
    instances; at the end the site must be in the state ``expected`` (an
    uninterrupted run's) and history must hold one more entry. Returns (how
    many runs were killed, "" or what went wrong). A run that finished before
    its kill point ends the chain early (it was the plain run). With another
    ``state`` (``inventory``: init and teardown), history is not counted."""
    argv = ["--domain", domain, *command]
    name = " ".join(command)
    counted = state is shape
    entries = history_count(url, domain) if counted else 0
    killed = 0
    for k in points:
        where = f"{name} killed at {list(points[: killed + 1])}"
        if not run_killed(argv, k):
            break
        killed += 1
        unserved = unserved_live_names(url) if counted else []
        if unserved:
            return killed, f"{where}: live names without healthy instances: {unserved}"
    else:
        code, err = rerun(command)
        if code != 0:
            return killed, f"{name} killed at {list(points)}, then run again: exit {code}\n{err}"
    where = f"{name} killed at {list(points[:killed])}"
    got = state(url)
    if got != expected:
        return killed, f"{where}: the state differs:\n{_diff(got, expected)}"
    recorded = history_count(url, domain) - entries if counted else 1
    if recorded != 1:
        return killed, f"{where}: recorded in history {recorded} times, not once"
    return killed, ""


@dataclass
class ChainResult:
    """Chains of kills of one command: how many were tried and converged."""

    tried: int = 0
    converged: int = 0
    failures: list[str] = field(default_factory=list)


def chains_pair(
    url: str,
    domain: str,
    first: Sequence[str],
    second: Sequence[str],
    rerun: Callable[[Sequence[str]], tuple[int, str]],
    chains: Callable[[tuple[str, ...]], Sequence[Sequence[KillPoint]]] | None = None,
    depth: int = 2,
    state: Callable[[str], dict[str, Any]] = shape,
) -> dict[str, ChainResult]:
    """Kill chains of ``first`` then of ``second`` (which undoes ``first``),
    alternately. ``chains(command)`` gives the chains to try; by default every
    chain of ``depth`` kills: each kill point of the first run, then each of
    its re-run (until the re-run finishes before its kill point), and so on.
    Only chains in which every run was killed count as tried."""
    cmds = [tuple(first), tuple(second)]
    results = {" ".join(c): ChainResult() for c in cmds}
    start = state(url)
    expected: dict[tuple[str, ...], dict[str, Any]] = {}
    for c in cmds:
        code, _ = count_calls(["--domain", domain, *c])
        if code != 0:
            raise RuntimeError(f"{' '.join(c)} failed without any fault: exit {code}")
        expected[c] = state(url)
    if expected[cmds[1]] != start:
        raise RuntimeError(f"{cmds[1]} does not undo {cmds[0]}")
    if state is shape:  # balancers and zones stay as they are
        _fixed[url] = (_balancer_names(url), _zones(url))

    def one(c: tuple[str, ...], points: Sequence[KillPoint]) -> tuple[int, str]:
        return kill_chain(url, domain, c, points, expected[c], rerun, state)

    try:
        if chains is not None:
            lists = {c: list(chains(c)) for c in cmds}
            for n in range(max(len(x) for x in lists.values())):
                for c in cmds:
                    if n >= len(lists[c]):  # run plainly: the other starts from its end
                        code, err = rerun(c)
                        if code != 0 or state(url) != expected[c]:
                            results[" ".join(c)].failures.append(f"exit {code}\n{err}")
                            return results
                    elif not _one_chain(c, lists[c][n], one, results):
                        return results
        else:
            _every_chain(cmds, expected, rerun, results, depth, one, lambda: state(url))
    finally:
        _fixed.pop(url, None)
    return results


Chain = Callable[[tuple[str, ...], Sequence[KillPoint]], tuple[int, str]]


def _one_chain(
    c: tuple[str, ...],
    points: Sequence[KillPoint],
    one: Chain,
    results: dict[str, ChainResult],
) -> bool:
    res = results[" ".join(c)]
    killed, failure = one(c, points)
    if killed == len(points):
        res.tried += 1
    if failure:
        res.failures.append(failure)
        return False
    if killed == len(points):
        res.converged += 1
    return True


def _every_chain(
    cmds: list[tuple[str, ...]],
    expected: dict[tuple[str, ...], dict[str, Any]],
    rerun: Callable[[Sequence[str]], tuple[int, str]],
    results: dict[str, ChainResult],
    depth: int,
    one: Chain,
    state: Callable[[], dict[str, Any]],
) -> None:
    """Every chain of ``depth`` kills, in order: (1, 1, ...), (1, 1, ..., 2),
    ...; a prefix whose last run finished before its kill point is not
    extended further (nor is any longer kill point of that run tried)."""
    done = dict.fromkeys(cmds, False)
    prefix: dict[tuple[str, ...], list[int]] = {c: [1] * depth for c in cmds}
    while not all(done.values()):
        for c in cmds:
            if done[c]:  # still run, plainly: the other command starts from its end
                code, err = rerun(c)
                if code != 0 or state() != expected[c]:
                    results[" ".join(c)].failures.append(f"{' '.join(c)}: exit {code}\n{err}")
                    return
                continue
            points = list(prefix[c])
            res = results[" ".join(c)]
            killed, failure = one(c, points)
            if killed == depth:
                res.tried += 1
            if failure:
                res.failures.append(failure)
                return
            if killed == depth:
                res.converged += 1
                points[-1] += 1
            else:  # run number ``killed`` finished first: next kill point of the one before
                following = _advance(points, killed)
                if following is None:
                    done[c] = True
                    continue
                points = following
            prefix[c] = points


def _advance(points: list[int], finished: int) -> list[int] | None:
    """The next chain after run ``finished`` (0-based) finished before its
    kill point: the previous run's next kill point, the later runs from 1."""
    if finished == 0:
        return None  # the first run itself completes: every chain was tried
    out = points[:finished]
    out[-1] += 1
    return out + [1] * (len(points) - finished)
