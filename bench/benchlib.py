"""Shared by the benchmark scripts: an emulator per script, call counting and
latency injection with botocore event hooks, running the command line
in-process, preparing sites, printing tables and saving results.

Nothing here patches boto3 or bluegreen: counting and latency are botocore
event handlers passed to the gateway (``cli.main(..., hooks=...)``).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"
REGION = "us-east-1"
DOMAIN = "londontamed.com"
Hook = tuple[str, Callable[..., Any]]

READ_PREFIXES = ("Describe", "List", "Get", "Query", "Scan")
# The lock and the history live in DynamoDB: counted apart as "bookkeeping".
BOOKKEEPING_SERVICES = ("dynamodb",)


# -- the emulator -----------------------------------------------------------------
# The commands each measured in turn after a release (v1 live): they return the
# site to where it started. clean takes --force: without it, it waits out the
# drain, which is time, not calls.
COMMANDS_MEASURED: list[tuple[str, tuple[str, ...]]] = [
    ("status", ("status",)),
    ("deploy", ("deploy", "--version", "v2")),
    ("switch", ("switch",)),
    ("rollback", ("rollback",)),
    ("clean", ("clean", "--yes", "--force")),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def emulator(sandbox: bool = False) -> Iterator[str]:
    """A moto server on 127.0.0.1 (a free port) for this script; stopped by pid.
    ``sandbox``: bluegreen's embedded emulator instead (``python -m bluegreen.emulator.server``),
    whose images are EBS-backed as Packer needs."""
    port = free_port()
    tmp = Path(tempfile.mkdtemp(prefix="bluegreen-bench-"))
    amis = tmp / "amis.json"
    amis.write_text("[]")  # no catalogue: the benchmarks register their own images
    env = dict(os.environ, MOTO_ENABLE_AMI_VALIDATION="true", MOTO_AMIS_PATH=str(amis))
    # moto with the fixes the tests use (AWS's Route 53 change batches among them)
    fixed = BENCH.parent / "tests" / "moto_fixed.py"
    argv = [sys.executable, str(fixed), "-H", "127.0.0.1", "-p", str(port)]
    if sandbox:
        argv = [sys.executable, "-m", "bluegreen.emulator.server", str(port)]
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(url + "/moto-api/", timeout=1)
            break
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                os.kill(proc.pid, signal.SIGKILL)
                raise RuntimeError("moto_server did not start") from None
            time.sleep(0.05)
    try:
        yield url
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()


def reset(url: str) -> None:
    req = urllib.request.Request(url + "/moto-api/reset", method="POST")
    urllib.request.urlopen(req, timeout=60).read()


def client(url: str, service: str, hooks: Sequence[Hook] = ()) -> Any:
    import boto3

    c = boto3.client(
        service,
        endpoint_url=url,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    for event, handler in hooks:
        c.meta.events.register(event, handler)
    return c


# -- counting and latency -----------------------------------------------------------
def kind_of(service: str, operation: str) -> str:
    if service in BOOKKEEPING_SERVICES:
        return "bookkeeping"
    return "read" if operation.startswith(READ_PREFIXES) else "write"


@dataclass
class Calls:
    """API calls seen by a ``before-call`` hook (one per call, retries not
    counted twice), by (service, operation)."""

    counts: Counter[tuple[str, str]] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def hook(self) -> Hook:
        def on_call(event_name: str, **_: Any) -> None:
            service, op = event_name.split(".", 2)[1:]
            with self._lock:
                self.counts[(service, op)] += 1

        return ("before-call", on_call)

    def reset(self) -> None:
        with self._lock:
            self.counts.clear()

    def snapshot(self) -> Counter[tuple[str, str]]:
        with self._lock:
            return Counter(self.counts)

    def by_kind(self) -> dict[str, int]:
        out = {"read": 0, "write": 0, "bookkeeping": 0}
        for (service, op), n in self.snapshot().items():
            out[kind_of(service, op)] += n
        out["total"] = sum(out.values())
        return out

    def matching(self, service: str = "", prefix: str = "") -> int:
        return sum(
            n
            for (s, op), n in self.snapshot().items()
            if (not service or s == service) and op.startswith(prefix)
        )

    def detail(self) -> str:
        return ", ".join(f"{s}.{op}={n}" for (s, op), n in sorted(self.snapshot().items()))


class Timeline:
    """When each API call started and ended (``before-call`` to ``after-call``),
    to find how many calls ran one after another."""

    def __init__(self) -> None:
        self.spans: list[tuple[float, float]] = []
        self._lock = threading.Lock()
        self._local = threading.local()

    def hooks(self) -> list[Hook]:
        def start(**_: Any) -> None:
            self._local.__dict__.setdefault("stack", []).append(time.perf_counter())

        def end(**_: Any) -> None:
            t0 = self._local.stack.pop()
            with self._lock:
                self.spans.append((t0, time.perf_counter()))

        return [("before-call", start), ("after-call", end), ("after-call-error", end)]

    def sequential(self) -> int:
        """The most calls of which none overlapped another: with calls made
        concurrently wherever possible, the length of the critical path."""
        count, free_at = 0, float("-inf")
        for t0, t1 in sorted(self.spans, key=lambda s: s[1]):
            if t0 >= free_at:
                count, free_at = count + 1, t1
        return count


def latency_hook(seconds: float) -> Hook:
    """Sleep ``seconds`` before every HTTP request: a stand-in for the tens of
    milliseconds a real AWS call takes (the emulator answers in 2-5 ms)."""

    def on_send(**_: Any) -> None:
        time.sleep(seconds)

    return ("before-send", on_send)


# -- running bluegreen -------------------------------------------------------------
@dataclass
class Run:
    code: int
    out: str
    err: str
    seconds: float


def bluegreen(
    url: str, *args: str, hooks: Sequence[Hook] = (), domain: str = DOMAIN, check: bool = True
) -> Run:
    """``bluegreen --domain DOMAIN --endpoint-url URL ARGS`` in this process,
    with the real clock (waits really wait)."""
    from bluegreen.cli import main

    out, err = io.StringIO(), io.StringIO()
    argv = ["--domain", domain, "--endpoint-url", url, *args]
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv, hooks=hooks, standalone=False)
    seconds = time.perf_counter() - t0
    r = Run(code, out.getvalue(), err.getvalue(), seconds)
    if check and code != 0:
        raise RuntimeError(f"bluegreen {' '.join(args)} exited {code}:\n{r.err}\n{r.out}")
    return r


def register_images(url: str, *versions: str, domain: str = DOMAIN) -> dict[str, str]:
    from bluegreen import api
    from bluegreen.images import catalog as images
    from bluegreen.model import settings as config
    from bluegreen.ui import Reporter

    s = config.load({"domain": domain, "endpoint_url": url}, env={})
    sess = api.open_session(s, Reporter(stream=io.StringIO()))
    return {v: images.register_demo_image(sess.gw, sess.names, v) for v in versions}


def prepare_site(url: str, versions: Sequence[str] = ("v1", "v2"), domain: str = DOMAIN) -> None:
    """``init`` and an image per version."""
    bluegreen(url, "init", domain=domain)
    register_images(url, *versions, domain=domain)


# -- figures --------------------------------------------------------------------------
def median(xs: Sequence[float]) -> float:
    return float(statistics.median(xs))


def machine() -> dict[str, str]:
    cpu = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    load = ""
    with contextlib.suppress(OSError):
        load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    import boto3

    try:
        import moto

        moto_version = str(moto.__version__)
    except ImportError:  # pragma: no cover
        moto_version = "?"
    return {
        "nproc": str(os.cpu_count()),
        "cpu": cpu or platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()}",
        "boto3": str(boto3.__version__),
        "moto": moto_version,
        "load average at start": load,
    }


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A Markdown table (readable as plain text too)."""
    cells = [[str(h) for h in headers]] + [[_fmt(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = []
    for n, r in enumerate(cells):
        lines.append("| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |")
        if n == 0:
            lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def _fmt(c: Any) -> str:
    if isinstance(c, float):
        return f"{c:.3f}" if abs(c) < 10 else f"{c:.1f}"
    return str(c)


def save(name: str, title: str, text: str, data: Any) -> None:
    """Print ``text`` under ``title`` and keep it in bench/results/NAME.{md,json}."""
    print(f"\n## {title}\n")
    print(text)
    sys.stdout.flush()
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.md").write_text(f"## {title}\n\n{text}\n")
    (RESULTS / f"{name}.json").write_text(json.dumps(data, indent=2, sort_keys=True, default=str))


def quick() -> bool:
    """``BENCH_QUICK=1`` (or ``--quick``): fewer repetitions, for a smoke run."""
    return os.environ.get("BENCH_QUICK") == "1" or "--quick" in sys.argv
