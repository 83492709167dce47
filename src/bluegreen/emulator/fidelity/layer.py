"""The layer itself: a WSGI middleware that runs each request past the
behaviours, which may answer it themselves (an AWS error, a state moto does
not have) or rewrite moto's answer (a status AWS would still report).

Time is read from a ``Clock``: the system clock for ``bluegreen sandbox
--realistic``, the tests' ``FakeClock`` otherwise, so that a 30-second
Route 53 propagation passes when the command under test sleeps 30 seconds on
that clock, in no wall-clock time.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from typing import Any

from bluegreen.clock import Clock, SystemClock
from bluegreen.emulator.fidelity.wire import (
    App,
    Call,
    Environ,
    Reply,
    StartResponse,
    forward,
    json_reply,
    read_call,
)


@dataclass(frozen=True)
class Timings:
    """AWS's delays, in seconds (each behaviour cites where AWS documents it)."""

    profile_propagation: float = 20.0  # new instance profile unusable by Auto Scaling
    table_creation: float = 10.0  # DynamoDB CreateTable: CREATING -> ACTIVE
    dns_propagation: float = 30.0  # Route 53 change: PENDING -> INSYNC
    boot: float = 30.0  # instance pending -> running (Pending -> InService in the group)
    health_checks: float = 20.0  # after boot: HealthyThreshold x Interval (2 x 10 s)
    launch_retry: float = 30.0  # Auto Scaling tries a failed launch again (not documented: a guess)
    route53_rate: float = 5.0  # requests per second per account

    def scaled(self, factor: float) -> Timings:
        """Every delay times ``factor`` (the request rate divided by it)."""
        out = {f.name: getattr(self, f.name) * factor for f in fields(self)}
        out["route53_rate"] = self.route53_rate / factor if factor else float("inf")
        return Timings(**out)


@dataclass
class Faults:
    """Launches that fail, as AWS's would: instance types, KMS keys, or images
    (whose snapshots are encrypted with a key the Auto Scaling service-linked
    role may not use), for good; and instance types EC2 has no capacity for
    (``capacity``: until that time on the layer's clock), for a while."""

    instance_types: set[str] = field(default_factory=set)
    kms_keys: set[str] = field(default_factory=set)
    images: set[str] = field(default_factory=set)
    capacity: dict[str, float] = field(default_factory=dict)

    def short_of_capacity(self, instance_type: str, now: float) -> bool:
        return now < self.capacity.get(instance_type, float("-inf"))


class Behaviour:
    """One documented AWS behaviour. ``before`` may answer the request itself;
    ``after`` may rewrite the wrapped application's answer."""

    def __init__(self, layer: Layer) -> None:
        self.layer = layer
        self.reset()

    def reset(self) -> None:
        """Forget everything (the emulator was reset)."""

    def before(self, call: Call) -> Reply | None:
        return None

    def after(self, call: Call, reply: Reply) -> Reply:
        return reply


class Layer:
    """WSGI middleware around the emulator's application."""

    def __init__(
        self,
        app: App,
        clock: Clock | None = None,
        timings: Timings | None = None,
    ) -> None:
        from bluegreen.emulator.fidelity import behaviours

        self.app = app
        self.clock: Clock = clock or SystemClock()
        self.timings = timings or Timings()
        self.faults = Faults()
        self.mutex = threading.RLock()
        self.behaviours: list[Behaviour] = [b(self) for b in behaviours.ALL]
        self.disabled: set[str] = set()  # class names of behaviours switched off

    def now(self) -> float:
        return self.clock.now()

    def reset(self) -> None:
        with self.mutex:
            self.faults = Faults()
            for b in self.behaviours:
                b.reset()

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        path = str(environ.get("PATH_INFO", ""))
        if path.startswith("/fidelity-api/"):
            reply = self._control(environ)
        else:
            if path.startswith("/moto-api/reset"):
                self.reset()
            reply = self.handle(environ)
        start_response(reply.status, reply.headers)
        return [reply.body]

    def handle(self, environ: Environ) -> Reply:
        call = read_call(environ)
        active = [b for b in self.behaviours if type(b).__name__ not in self.disabled]
        with self.mutex:
            for b in active:
                early = b.before(call)
                if early is not None:
                    return early
        reply = forward(self.app, call.environ)
        with self.mutex:
            for b in active:
                reply = b.after(call, reply)
        return reply

    def _control(self, environ: Environ) -> Reply:
        """``POST /fidelity-api/faults`` with ``{"instance_types": [...],
        "kms_keys": [...], "images": [...]}``: launches using them fail from now on;
        ``{"capacity": {"t3.micro": 120}}``: EC2 has no capacity for that instance
        type for the next 120 seconds. ``GET /fidelity-api/timings``: the delays in force."""
        path = str(environ.get("PATH_INFO", ""))
        if path == "/fidelity-api/faults" and environ.get("REQUEST_METHOD") == "POST":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            doc: Any = json.loads(environ["wsgi.input"].read(length) or b"{}")
            with self.mutex:
                self.faults.instance_types |= set(doc.get("instance_types", []))
                self.faults.kms_keys |= set(doc.get("kms_keys", []))
                self.faults.images |= set(doc.get("images", []))
                for kind, seconds in dict(doc.get("capacity", {})).items():
                    self.faults.capacity[str(kind)] = self.now() + float(seconds)
        return json_reply(
            {
                "timings": {f.name: getattr(self.timings, f.name) for f in fields(self.timings)},
                "faults": {
                    "instance_types": sorted(self.faults.instance_types),
                    "kms_keys": sorted(self.faults.kms_keys),
                    "images": sorted(self.faults.images),
                    "capacity": {
                        k: max(until - self.now(), 0.0)
                        for k, until in sorted(self.faults.capacity.items())
                    },
                },
            }
        )


def wrap(app: App, clock: Clock | None = None, scale: float = 1.0) -> Layer:
    """The layer around ``app`` with AWS's delays times ``scale``."""
    return Layer(app, clock, Timings().scaled(scale) if scale != 1.0 else Timings())


__all__ = ["Behaviour", "Faults", "Layer", "Timings", "wrap"]
