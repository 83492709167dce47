"""API calls per command: reads, writes and bookkeeping (the lock and history
in DynamoDB) counted apart, with the operations behind each figure.

Sequence on a fresh site: deploy v1 and switch it live (set-up, not counted),
then status, deploy v2, switch, rollback, clean, each counted.
"""

from __future__ import annotations

from typing import Any

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

LATENCY = 0.050

COMMANDS = COMMANDS_MEASURED
TARGETS = {
    "status": "<= 10 calls",
    "switch": "<= 6 reads, <= 1 Route 53 write per zone",
    "rollback": "as switch",
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
        for label, args in COMMANDS:
            calls = Calls()
            r = bluegreen(url, *args, hooks=[calls.hook()])
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
                    f"{r.seconds:.2f}",
                    TARGETS.get(label, ""),
                ]
            )
            data[label] = {
                **k,
                "route53_writes": r53w,
                "sequential": depth[label],
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
    save("calls", "API calls per command", text, data)


def calls_line(calls: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(calls.items()))


if __name__ == "__main__":
    main()
