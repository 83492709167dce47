"""API calls per command: reads, writes and bookkeeping (the lock and history
in DynamoDB) counted apart, with the operations behind each figure.

Sequence on a fresh site: deploy v1 and switch it live (set-up, not counted),
then status, deploy v2, switch, rollback, clean, each counted.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.append(str(Path(__file__).resolve().parent.parent / "tests"))

from benchlib import (
    COMMANDS_MEASURED,
    Calls,
    Timeline,
    bluegreen,
    emulator,
    latency_hook,
    prepare_site,
    save,
    table,
)
from test_calls import Order  # the operations in the order the server receives them

LATENCY = 0.050

COMMANDS = COMMANDS_MEASURED
TARGETS = {
    "status": "<= 10 calls",
    "switch": "<= 6 requests before the first Route 53 change; <= 8 reads",
    "rollback": "<= 6 requests before the first Route 53 change",
}


def main() -> None:
    rows: list[list[Any]] = []
    data: dict[str, Any] = {}
    with emulator() as url:
        prepare_site(url)
        bluegreen(url, "deploy", "--version", "v1")
        bluegreen(url, "switch")
        # The sequence ends where it started (v1 live, staging empty). A first
        # pass with 50 ms per call finds the calls in sequence: with latency,
        # calls that are concurrent overlap whatever the local CPU does.
        depth = {}
        for label, args in COMMANDS:
            timeline = Timeline()
            bluegreen(url, *args, hooks=[*timeline.hooks(), latency_hook(LATENCY)])
            depth[label] = timeline.sequential()
        before_change: dict[str, int | None] = {}
        for label, args in COMMANDS:
            calls = Calls()
            order = Order()
            r = bluegreen(url, *args, hooks=[calls.hook(), *order.hooks()])
            first = "ChangeResourceRecordSets"
            before_change[label] = order.before_first(first) if first in order.sent else None
            k = calls.by_kind()
            r53w = calls.matching("route-53", "Change")
            rows.append(
                [
                    label,
                    k["read"],
                    k["write"],
                    k["bookkeeping"],
                    k["total"],
                    r53w,
                    depth[label],
                    "-" if before_change[label] is None else before_change[label],
                    f"{r.seconds:.2f}",
                    TARGETS.get(label, ""),
                ]
            )
            data[label] = {
                **k,
                "route53_writes": r53w,
                "sequential": depth[label],
                "before_first_change": before_change[label],
                "seconds": r.seconds,
                "calls": {f"{s}.{op}": n for (s, op), n in calls.snapshot().items()},
            }
        detail = "\n".join(
            f"- {label}: {calls_line(data[label]['calls'])}" for label, _ in COMMANDS
        )
    text = table(
        [
            "command",
            "reads",
            "writes",
            "bookkeeping",
            "total",
            "Route 53 writes",
            "in sequence",
            "requests before the first Route 53 change",
            "seconds",
            "target",
        ],
        rows,
    )
    text += (
        "\n\nin sequence: the most calls of which none overlapped another, in a run with "
        "50 ms of latency per call (the critical path; independent reads run concurrently).\n\nCalls by operation:\n\n"
        + detail
    )
    checks = [
        (
            "switch: requests before the first Route 53 change (lock included)",
            data["switch"]["before_first_change"],
            6,
        ),
        (
            "rollback: requests before the first Route 53 change (lock included)",
            data["rollback"]["before_first_change"],
            6,
        ),
        ("switch: reads", data["switch"]["read"], 8),
        ("status: calls", data["status"]["total"], 10),
    ]
    text += "\n\nTargets:\n\n" + table(
        ["target", "measured", "at most", "met"],
        [[t, v, most, "met" if v is not None and v <= most else "missed"] for t, v, most in checks],
    )
    save("calls", "API calls per command", text, data)


def calls_line(calls: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(calls.items()))


if __name__ == "__main__":
    main()
