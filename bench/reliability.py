"""The reliability report: crashes, API faults, concurrent commands, bad input.

    make reliability                       # .venv/bin/python bench/reliability.py
    .venv/bin/python bench/reliability.py --quick   # fewer seeds and races
    .venv/bin/python bench/reliability.py --only init --init-kinds alb-lb
        # some sections alone (input, lock, faults, init, crash_again, crash);
        # init's kinds: classic, alb, alb-lb (the lb strategy's single ALB),
        # adopted-classic, adopted-alb (infrastructure made beforehand, adopted)
    .venv/bin/python bench/reliability.py --only init --fidelity
        # init's sweeps on the emulator behind the AWS-fidelity layer (AWS's
        # answers: client tokens, AlreadyExists, Local Zones, zone ids), its
        # delays set to zero

Starts its own moto server on 127.0.0.1 (stopped by pid) and prints:

- crash points: deploy, clean, rollback and switch killed with SIGKILL before
  each of their AWS calls (every k), each then run again: how many kill points
  converged to the state of an uninterrupted run, with no live name ever
  pointing at a load balancer without healthy instances;
- API faults: throttling, 503s, connection timeouts and lost responses at a
  20% rate in every call of release cycles (deploy, switch, clean) with
  several seeds, a cycle losing the first response of every change, and a
  permanent AccessDenied on each changing operation: faults injected and
  survived (the cycle ended in the same state as without faults);
- concurrent commands: every changing command against a lock held by another
  host and by a live process of this host, status while locked, deploys racing
  at the same instant, a dead local holder, unlock with a wrong id: tried and
  handled correctly;
- bad input: malformed domains, AMI ids, CIDRs, regions, capacities, timeouts
  and configuration files through the command line, with a hook that records
  any AWS call: tried and rejected before any AWS call.

The machinery is shared with the tests (``tests/chaos.py``, ``tests/conftest.py``).
"""

from __future__ import annotations

import contextlib
import io
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH), str(BENCH.parent / "tests")]

import adopt_infra  # noqa: E402
import chaos  # noqa: E402
import init_chaos  # noqa: E402
from benchlib import emulator, quick, reset, save, table  # noqa: E402
from bluegreen import api  # noqa: E402
from bluegreen.clock import FakeClock  # noqa: E402
from bluegreen.errors import AwsError, LockedError  # noqa: E402
from bluegreen.lifecycle import lock  # noqa: E402
from bluegreen.model.settings import load  # noqa: E402
from bluegreen.ui import Reporter  # noqa: E402
from conftest import DOMAIN, register_images, run  # noqa: E402

CYCLE = (("deploy", "--version", "v2"), ("switch",), ("clean", "--yes", "--force"))
BACK = (("deploy", "--version", "v1"), ("switch",), ("clean", "--yes", "--force"))
CHANGING = (
    ("deploy", "--version", "v2"),
    ("switch",),
    ("rollback",),
    ("clean", "--yes", "--force"),
)


def ok(*args: str, hooks: Sequence[Any] = ()) -> None:
    r = run(*args, hooks=hooks)
    if r.code != 0:
        raise RuntimeError(f"{' '.join(args)}: exit {r.code}\n{r.err}")


def fresh_site(url: str, *, live: bool = True) -> None:
    """A reset emulator with the site set up and v1 live (staging empty)."""
    reset(url)
    ok("init")
    register_images(url, "v1", "v2", "v3")
    if live:
        ok("deploy", "--version", "v1")
        ok("switch")


def rerun(argv: Sequence[str]) -> tuple[int, str]:
    r = run(*argv)
    return r.code, r.err


# -- crashes ---------------------------------------------------------------------
def crashes(url: str) -> tuple[list[list[Any]], dict[str, Any]]:
    fresh_site(url)
    results = chaos.crash_pair(
        url, DOMAIN, ("deploy", "--version", "v2"), ("clean", "--yes", "--force"), rerun
    )
    ok("deploy", "--version", "v2")
    ok("switch")  # v2 live, v1 staging: rollback can go back to v1
    results.update(chaos.crash_pair(url, DOMAIN, ("rollback",), ("switch",), rerun))
    rows = [
        [cmd, r.calls, r.tried, r.converged, r.failures[0].splitlines()[0] if r.failures else ""]
        for cmd, r in results.items()
    ]
    data = {cmd: vars(r) for cmd, r in results.items()}
    return rows, data


# -- init: lost responses and crashes ------------------------------------------------
@contextlib.contextmanager
def layered() -> Iterator[tuple[str, Any]]:
    """The emulator behind the AWS-fidelity layer, in this process (the layer's
    answers, none of its delays: killed children run on clocks of their own)."""
    import moto_fixed  # noqa: F401  (AWS's Route 53 change batches, as the tests use)
    from bluegreen.emulator import server
    from bluegreen.emulator.fidelity import Timings

    emu = server.start(realistic=True)
    emu.layer.timings = Timings().scaled(0)
    try:
        yield emu.url, emu.layer
    finally:
        emu.stop()


def _init_args(kind: str, layer: Any = None) -> Callable[[str], tuple[str, ...]]:
    def prepare(url: str) -> tuple[str, ...]:
        if layer is not None:  # the emulator was reset: the layer's memory too
            layer.reset()
        if kind.startswith("adopted-"):  # infrastructure made beforehand, adopted by flags
            lb = kind.removeprefix("adopted-")
            ids = adopt_infra.build(url, lb)
            return ("--load-balancer", lb, *adopt_infra.flags(ids, groups=lb == "classic"))
        acm = chaos.aws(url, "acm")
        cert = acm.request_certificate(DomainName="*.londontamed.com")["CertificateArn"]
        if kind == "alb":
            return ("--load-balancer", "alb", "--certificate-arn", cert)
        if kind == "alb-lb":
            return ("--load-balancer", "alb", "--strategy", "lb", "--certificate-arn", cert)
        return ("--certificate-arn", cert, "--admin-cidr", "203.0.113.0/24")

    return prepare


def _run_init(*args: str, hooks: Sequence[Any] = ()) -> tuple[int, str]:
    r = run("init", *args, hooks=hooks)
    return r.code, r.err


def init_faults(
    url: str, kinds: Sequence[str], layer: Any = None
) -> tuple[list[list[Any]], dict[str, Any]]:
    """Every changing request of init with its response lost, and a SIGKILL
    before every AWS call of init, for each kind of site: plain re-runs must
    leave exactly the state of an uninterrupted run. ``layer``: the emulator
    at ``url`` is behind the fidelity layer."""
    rows: list[list[Any]] = []
    data: dict[str, Any] = {}
    on = " under the fidelity layer" if layer is not None else ""
    for kind in kinds:
        lost = init_chaos.sweep_lost(url, _init_args(kind, layer), _run_init)
        killed = init_chaos.sweep_killed(url, _init_args(kind, layer), _run_init)
        for label, res in (("lost response", lost), ("SIGKILL", killed)):
            rows.append(
                [
                    f"init ({kind}){on}: {label}",
                    res.points,
                    res.converged,
                    res.reruns,
                    res.failures[0].splitlines()[0] if res.failures else "",
                ]
            )
            data[f"{kind} {label}"] = vars(res)
    return rows, data


# -- crashes of re-runs -------------------------------------------------------------
# history and the lock's release are one transaction: the moment before exit
BEFORE_EXIT: chaos.KillPoint = ("TransactWriteItems", 1)
BEFORE_HISTORY: chaos.KillPoint = BEFORE_EXIT
# How the re-run (and the one after it) is killed in the sampled chains
# (--quick: the last two; triples: the first with --quick, each then killed before exit).
RERUN_KILLS: tuple[chaos.KillPoint, ...] = (3, BEFORE_HISTORY, BEFORE_EXIT)


def _site_for(setup: str, url: str) -> None:
    if setup == "torn down":
        reset(url)
        register_images(url, "v1", "v2", "v3")
        ok("init")
        return
    fresh_site(url, live=setup != "rolling")
    if setup == "both":
        ok("deploy", "--version", "v2")
        ok("switch")
    elif setup == "staged":
        ok("deploy", "--version", "v2")
    elif setup == "rolling":
        ok("--strategy", "rolling", "deploy", "--version", "v1")
        ok("--strategy", "rolling", "switch")


W, R = ("--strategy", "weighted"), ("--strategy", "rolling")
AGAIN: tuple[tuple[str, str, tuple[str, ...], tuple[str, ...], bool], ...] = (
    # (label, set-up, command, the command that undoes it, every pair in full)
    ("dns", "live", ("deploy", "--version", "v2"), ("clean", "--yes", "--force"), True),
    ("dns", "both", ("rollback",), ("switch",), True),
    (
        "launch configurations",
        "live",
        ("deploy", "--version", "v2", "--launch-configuration"),
        ("clean", "--yes", "--force"),
        True,
    ),
    ("weighted", "staged", (*W, "switch", "--steps", "10,50,100"), (*W, "rollback"), True),
    (
        "rolling",
        "rolling",
        (*R, "deploy", "--version", "v2"),
        (*R, "deploy", "--version", "v1"),
        True,
    ),
    (
        "dns",
        "live",
        ("release", "--version", "v2", "--clean-after", "0"),
        ("release", "--version", "v1", "--clean-after", "0"),
        False,
    ),
    ("init and teardown", "torn down", ("teardown", "--yes"), ("init",), False),
)


def crashes_again(url: str, q: bool) -> tuple[list[list[Any]], dict[str, Any]]:
    """Double kills (every kill point of a command x every kill point of its
    re-run, or the sampled re-run kills for the slow pairs and --quick), then
    triple kills (every kill point x the sampled kills of the two re-runs),
    each followed by a plain run."""
    rows: list[list[Any]] = []
    data: dict[str, Any] = {}
    for label, setup, first, second, full in AGAIN:
        state = chaos.inventory if setup == "torn down" else chaos.shape
        for depth in (2, 3):
            _site_for(setup, url)
            calls: dict[Any, int] = {}
            for c in (first, second):
                code, seq = chaos.count_calls(["--domain", DOMAIN, *c])
                if code != 0:
                    raise RuntimeError(f"{' '.join(c)}: exit {code}")
                calls[c] = len(seq)

            def chains(
                c: tuple[str, ...], depth: int = depth, calls: dict[Any, int] = calls
            ) -> list[list[chaos.KillPoint]]:
                kills = RERUN_KILLS[1:] if q else RERUN_KILLS
                tails: list[list[chaos.KillPoint]] = (
                    [[j] for j in kills]
                    if depth == 2
                    else [[j, BEFORE_EXIT] for j in kills[: 1 if q else None]]
                )
                return [[i, *t] for i in range(1, calls[c] + 1) for t in tails]

            every = depth == 2 and full and not q
            t = time.monotonic()
            results = chaos.chains_pair(
                url, DOMAIN, first, second, rerun, None if every else chains, depth, state
            )
            how = "every pair" if every else "sampled re-run kills"
            for cmd, r in results.items():
                rows.append(
                    [
                        f"{cmd} ({label})",
                        "double" if depth == 2 else "triple",
                        how,
                        r.tried,
                        r.converged,
                        r.failures[0].splitlines()[0] if r.failures else "",
                    ]
                )
                data[f"{cmd} ({label}) x{depth}"] = {**vars(r), "time": time.monotonic() - t}
    return rows, data


# -- API faults --------------------------------------------------------------------
def _cycle(steps: Sequence[Sequence[str]], hooks: Sequence[Any] = ()) -> tuple[int, str]:
    for args in steps:
        r = run(*args, hooks=hooks)
        if r.code != 0:
            return r.code, f"{' '.join(args)}: {r.err.strip().splitlines()[-3:]}"
    return 0, ""


def faults(url: str, seeds: Sequence[int]) -> tuple[list[list[Any]], dict[str, Any]]:
    fresh_site(url)
    start = chaos.shape(url)
    _cycle(CYCLE)
    expected = chaos.shape(url)
    _cycle(BACK)
    if chaos.shape(url) != start:
        raise RuntimeError("the release cycle and its way back do not meet")
    rows: list[list[Any]] = []
    data: dict[str, Any] = {}
    kinds = Counter[str]()

    def faulted(label: str, f: chaos.Faults) -> None:
        t0 = time.monotonic()
        code, err = _cycle(CYCLE, hooks=[f.hook()])
        same = code == 0 and chaos.shape(url) == expected
        rows.append(
            [
                label,
                f.requests,
                f.total,
                f.total if same else 0,
                "yes" if same else f"NO: exit {code} {err}",
                f"{time.monotonic() - t0:.1f}s",
            ]
        )
        data[label] = {"requests": f.requests, "injected": dict(f.injected), "same_state": same}
        kinds.update(f.injected)
        back, err = _cycle(BACK)
        if back != 0 or chaos.shape(url) != start:
            raise RuntimeError(f"could not return to the start after {label}: {err}")

    for seed in seeds:
        faulted(f"20% faults, seed {seed}", chaos.Faults(seed=seed, rate=0.2))
    faulted(
        "every change loses its first response", chaos.Faults(rate=0.0, lose_first_response=True)
    )

    # Permanent errors: AccessDenied on one operation; the next run (no fault) finishes.
    for op in (
        "ec2.CreateLaunchTemplate",
        "auto-scaling.CreateAutoScalingGroup",
        "route-53.ChangeResourceRecordSets",
        "auto-scaling.DeleteAutoScalingGroup",
        "ec2.DeleteLaunchTemplate",
    ):
        f = chaos.Faults(rate=0.0, denied=frozenset({op}))
        service, action = op.split(".")
        named = {"auto-scaling": "autoscaling", "route-53": "route53"}.get(service, service)
        verdict = "yes"
        code, err = 0, ""
        for args in CYCLE:
            r = run(*args, hooks=[f.hook()])
            if r.code != 0:
                code, err = r.code, r.err
                if r.code != 4 or f"{named}:{action} was denied" not in r.err:
                    verdict = f"NO: exit {r.code}, message {r.err.strip().splitlines()[-2:]}"
                if chaos.shape(url)["locked"]:
                    verdict = "NO: the lock was left held"
                r = run(*args)  # the next run, without the fault
                if r.code != 0:
                    verdict = f"NO: the next run failed: exit {r.code}"
        if code != 4:
            verdict = f"NO: the cycle did not stop (exit {code})"
        if chaos.shape(url) != expected:
            verdict = "NO: the next run did not reach the same state"
        rows.append(
            [
                f"AccessDenied on {op}",
                f.requests,
                f.total,
                1 if verdict == "yes" else 0,
                verdict,
                "",
            ]
        )
        data[f"denied {op}"] = {
            "exit": code,
            "message": err.strip().splitlines()[:1],
            "ok": verdict,
        }
        kinds["denied"] += 1
        back, err = _cycle(BACK)
        if back != 0 or chaos.shape(url) != start:
            raise RuntimeError(f"could not return to the start after denying {op}: {err}")
    data["by_kind"] = dict(kinds)
    return rows, data


# -- concurrency ---------------------------------------------------------------------
def _put_lock(url: str, host: str, pid: int, lock_id: str = "c0ffee") -> None:
    chaos.aws(url, "dynamodb").put_item(
        TableName="bluegreen",
        Item={
            "pk": {"S": f"site#{DOMAIN}"},
            "sk": {"S": "lock"},
            "lock_id": {"S": lock_id},
            "who": {"S": "alice"},
            "host": {"S": host},
            "pid": {"N": str(pid)},
            "command": {"S": "deploy"},
            "since": {"N": "1700000000.0"},
        },
    )


def _drop_lock(url: str) -> None:
    chaos.aws(url, "dynamodb").delete_item(
        TableName="bluegreen", Key={"pk": {"S": f"site#{DOMAIN}"}, "sk": {"S": "lock"}}
    )


def _writes() -> tuple[list[str], tuple[str, Callable[..., Any]]]:
    seen: list[str] = []

    def hook(event_name: str, **_: Any) -> None:
        op = event_name.rsplit(".", 1)[-1]
        if op.startswith(chaos.MUTATING_PREFIXES):
            seen.append(op)

    return seen, ("before-call", hook)


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def _session() -> api.Session:
    s = load({"domain": DOMAIN, "endpoint_url": os.environ["BLUEGREEN_ENDPOINT_URL"]}, env={})
    return api.open_session(s, Reporter(stream=io.StringIO()), clock=FakeClock())


def concurrency(url: str, races: int) -> tuple[list[list[Any]], dict[str, Any]]:
    fresh_site(url)
    ok("deploy", "--version", "v2")
    ok("switch")  # v2 live, v1 staging: every changing command could act
    rows: list[list[Any]] = []
    tally: dict[str, list[int]] = {}

    def count(what: str, good: bool) -> None:
        t = tally.setdefault(what, [0, 0])
        t[0] += 1
        t[1] += int(good)

    before = chaos.shape(url)
    # A holder on another host; a live holder on this host.
    _put_lock(url, "build-7", 4242)
    for args in CHANGING:
        writes, hook = _writes()
        r = run(*args, hooks=[hook])
        good = r.code == 6 and "alice on build-7 (pid 4242)" in r.err and writes == ["PutItem"]
        count("changing command, lock held by another host", good)
    writes, hook = _writes()
    r = run("--output", "json", "status", hooks=[hook])
    count(
        "status while locked (shows the holder, never waits)",
        r.code == 0 and not writes and r.json()["lock"]["host"] == "build-7",
    )
    r = run("unlock", "--lock-id", "wrong")
    count("unlock with a wrong id", r.code == 3 and chaos.shape(url)["locked"])
    _drop_lock(url)
    s = _session()
    with lock.DomainLock(s.gw, s.names, "switch", s.reporter):
        for args in CHANGING:
            writes, hook = _writes()
            r = run(*args, hooks=[hook])
            good = r.code == 6 and f"on {socket.gethostname()} (pid {os.getpid()})" in r.err
            count(
                "changing command, lock held by a live process here", good and writes == ["PutItem"]
            )
    count("no change made by any refused command", chaos.shape(url) == before)
    _put_lock(url, socket.gethostname(), _dead_pid())
    r = run("switch")
    count("lock of a dead process on this host taken over", r.code == 0 and "taking over" in r.err)
    ok("switch")  # back to v2 live, v1 staging
    ok("clean", "--yes", "--force")

    # Races: two deploys reach the conditional put at the same instant.
    for _ in range(races):
        barrier = threading.Barrier(2, timeout=30)
        results: dict[str, Any] = {}

        def deploy(version: str, out: dict[str, Any], b: threading.Barrier) -> None:
            armed = [True]

            def at_once(**_: Any) -> None:
                if armed[0]:
                    armed[0] = False
                    b.wait()

            base = _session()
            sess = api.open_session(
                base.settings,
                Reporter(stream=io.StringIO()),
                clock=FakeClock(),
                hooks=[("before-call.dynamodb.PutItem", at_once)],
            )
            try:
                out[version] = api.deploy(sess, version=version)["result"]
            except LockedError as e:
                out[version] = e

        threads = [
            threading.Thread(target=deploy, args=(v, results, barrier)) for v in ("v1", "v3")
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        won = [v for v, x in results.items() if x == "succeeded"]
        refused = [x for x in results.values() if isinstance(x, LockedError)]
        count(
            "deploy racing another deploy (exactly one proceeds)",
            len(won) == 1 and len(refused) == 1,
        )
        ok("clean", "--yes", "--force")
    rows = [[what, n, good] for what, (n, good) in tally.items()]
    return rows, {k: {"tried": n, "correct": g} for k, (n, g) in tally.items()}


# -- bad input -------------------------------------------------------------------------
BAD_ARGS: tuple[tuple[str, ...], ...] = (
    ("--domain", "not a domain", "status"),
    ("--domain", "-bad.example.com", "deploy", "--version", "v1"),
    ("--domain", "example..com", "switch"),
    ("--domain", "x" * 300 + ".com", "init"),
    ("--domain", "londontamed.com", "--region", "moon-1", "status"),
    ("--domain", "londontamed.com", "--region", "US-EAST-1", "init"),
    ("--domain", "londontamed.com", "deploy", "--ami", "ami-xyz"),
    ("--domain", "londontamed.com", "deploy", "--ami", "i-0123456789abcdef0"),
    ("--domain", "londontamed.com", "deploy", "--version", "v 1"),
    ("--domain", "londontamed.com", "deploy"),
    ("--domain", "londontamed.com", "deploy", "--version", "v1", "--capacity", "-1"),
    ("--domain", "londontamed.com", "deploy", "--version", "v1", "--capacity", "many"),
    ("--domain", "londontamed.com", "deploy", "--version", "v1", "--timeout", "soon"),
    ("--domain", "londontamed.com", "deploy", "--version", "v1", "--timeout", "-5m"),
    ("--domain", "londontamed.com", "init", "--admin-cidr", "10.0.0.0/33"),
    ("--domain", "londontamed.com", "init", "--admin-cidr", "300.1.1.1/24"),
    ("--domain", "londontamed.com", "init", "--admin-cidr", "0.0.0.0/0"),
    ("--domain", "londontamed.com", "unlock"),
    ("--domain", "londontamed.com", "history", "--limit", "0"),
    ("status",),  # no domain anywhere
)
BAD_FILES: tuple[str, ...] = (
    'domain = "londontamed.com"\ncolour = "blue"\n',
    'domain = "londontamed.com"\ncapacity = "four"\n',
    'domain = "londontamed.com"\ncapacity = 5000\n',
    'domain = "londontamed.com"\nhosts = ["www", "bad host"]\n',
    'domain = "londontamed.com"\nregion = 7\n',
    'domain = "londontamed.com"\nadmin_cidrs = ["10.0.0.1/8/2"]\n',
    'domain = "londontamed.com"\ntimeout = "forever"\n',
    'domain = "londontamed.com\n',  # not TOML
)


def _no_aws(calls: list[str]) -> Callable[..., None]:
    def hook(event_name: str, **_: Any) -> None:
        calls.append(event_name)
        raise AwsError("an AWS call was made for bad input")  # stop it there

    return hook


def bad_input() -> tuple[list[list[Any]], dict[str, Any]]:
    rows: list[list[Any]] = []
    rejected = 0
    tmp = Path(tempfile.mkdtemp(prefix="bluegreen-bad-"))
    cases: list[tuple[str, list[str]]] = [(" ".join(a)[:60], list(a)) for a in BAD_ARGS]
    for n, text in enumerate(BAD_FILES):
        f = tmp / f"bad{n}.toml"
        f.write_text(text)
        cases.append(
            (f"config: {text.strip().splitlines()[-1][:50]}", ["--config", str(f), "status"])
        )
    for label, argv in cases:
        calls: list[str] = []
        r = run(*argv, hooks=[("before-call", _no_aws(calls))], domain=None)
        good = r.code != 0 and not calls
        rejected += int(good)
        rows.append([label, r.code, len(calls), "yes" if good else "NO"])
    return rows, {"tried": len(cases), "rejected_before_aws": rejected, "cases": rows}


SECTIONS = ("input", "lock", "faults", "init", "crash_again", "crash")
INIT_KINDS = ("classic", "alb", "alb-lb", "adopted-classic", "adopted-alb")


def _option(name: str) -> list[str] | None:
    """``--name a,b`` (or ``--name=a,b``) from the command line, split at commas."""
    argv = sys.argv[1:]
    for i, arg in enumerate(argv):
        if arg == f"--{name}" and i + 1 < len(argv):
            return argv[i + 1].split(",")
        if arg.startswith(f"--{name}="):
            return arg.split("=", 1)[1].split(",")
    return None


def _sums(rows: Sequence[Sequence[Any]], tried: int, correct: int) -> tuple[int, int]:
    """The columns ``tried`` and ``correct`` of a section's table, summed."""
    return sum(r[tried] for r in rows), sum(r[correct] for r in rows)


def _section(
    summary: list[list[Any]],
    started: float,
    name: str,
    title: str,
    text: str,
    data: Any,
    *lines: tuple[str, int, int],
) -> None:
    """Keep a section's table in bench/results/NAME and its lines (what, tried,
    correct) in the summary, with the time since ``started``."""
    save(name, title, text, data)
    took = f"{time.monotonic() - started:.0f}s"
    summary.extend([what, tried, correct, took] for what, tried, correct in lines)


def main() -> int:
    q = quick()
    only = _option("only") or list(SECTIONS)
    kinds = _option("init-kinds") or (["classic"] if q else list(INIT_KINDS))
    unknown = sorted(set(only) - set(SECTIONS)) + sorted(set(kinds) - set(INIT_KINDS))
    if unknown:
        print(f"unknown section or init kind: {', '.join(unknown)}", file=sys.stderr)
        print(f"sections: {', '.join(SECTIONS)}; init kinds: {', '.join(INIT_KINDS)}")
        return 2
    t0 = time.monotonic()
    cwd = tempfile.mkdtemp(prefix="bluegreen-reliability-")
    os.chdir(cwd)
    for var in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "BLUEGREEN_DOMAIN"):
        os.environ.pop(var, None)
    summary: list[list[Any]] = []
    with emulator() as url:
        os.environ["BLUEGREEN_ENDPOINT_URL"] = url
        if "input" in only:
            t = time.monotonic()
            rows, data = bad_input()
            _section(
                summary, t, "reliability_input", "Bad input: rejected before any AWS call",
                table(["input", "exit", "AWS calls", "rejected"], rows), data,
                ("bad inputs rejected before any AWS call", data["tried"],
                 data["rejected_before_aws"]),
            )  # fmt: skip

        if "lock" in only:
            t = time.monotonic()
            rows, data = concurrency(url, races=3 if q else 10)
            _section(
                summary, t, "reliability_lock", "Concurrent commands",
                table(["situation", "tried", "handled correctly"], rows), data,
                ("concurrent commands refused or serialised correctly", *_sums(rows, 1, 2)),
            )  # fmt: skip

        if "faults" in only:
            t = time.monotonic()
            rows, data = faults(url, seeds=(1, 2) if q else (1, 2, 3, 4, 5))
            _section(
                summary, t, "reliability_faults",
                "API faults in release cycles (deploy, switch, clean)",
                table(["cycle", "requests", "faults injected", "survived", "same final state",
                       "time"], rows)
                + "\n\nfaults by kind: "
                + ", ".join(f"{k} {n}" for k, n in sorted(data["by_kind"].items())),
                data,
                ("faults injected / survived", *_sums(rows, 2, 3)),
            )  # fmt: skip

        if "init" in only:
            t = time.monotonic()
            if "--fidelity" in sys.argv:
                with layered() as (layer_url, layer):
                    os.environ["BLUEGREEN_ENDPOINT_URL"] = layer_url
                    try:
                        rows, data = init_faults(layer_url, kinds, layer)
                    finally:
                        os.environ["BLUEGREEN_ENDPOINT_URL"] = url
            else:
                rows, data = init_faults(url, kinds)
            _section(
                summary, t, "reliability_init",
                "init: each changing request's response lost, and SIGKILL before each AWS call",
                table(["what", "points", "converged", "plain re-runs", "first failure"], rows),
                data,
                ("init lost responses and kill points converged", *_sums(rows, 1, 2)),
            )  # fmt: skip

        if "crash_again" in only:
            t = time.monotonic()
            rows, data = crashes_again(url, q)
            _section(
                summary, t, "reliability_crash_again",
                "Kills of re-runs: a command killed, the run that takes over killed too, "
                "then a plain run",
                table(["command", "kills", "chains", "tried", "converged", "first failure"], rows),
                data,
                *[
                    (f"{depth} kills converged", *_sums([r for r in rows if r[1] == depth], 3, 4))
                    for depth in ("double", "triple")
                ],
            )  # fmt: skip

        if "crash" in only:
            t = time.monotonic()
            rows, data = crashes(url)
            _section(
                summary, t, "reliability_crash",
                "Crash points: SIGKILL before the k-th AWS call, then the same command again",
                table(
                    ["command", "AWS calls", "kill points tried", "converged", "first failure"],
                    rows,
                ),
                data,
                ("crash points converged", *_sums(rows, 2, 3)),
            )  # fmt: skip

    text = (
        table(["what", "tried", "correct", "time"], summary)
        + f"\n\nReproduce: `make reliability` ({time.monotonic() - t0:.0f}s here"
        + (", --quick" if q else "")
        + ")"
    )
    if set(only) == set(SECTIONS):
        save("reliability", "Reliability summary", text, summary)
    else:  # some sections: the full summary in bench/results stays as it was
        print(f"\n## Reliability summary ({', '.join(only)} only)\n\n{text}")
    return 0 if all(r[1] == r[2] for r in summary) else 1


if __name__ == "__main__":
    sys.exit(main())
