"""API calls per command: reads, writes and bookkeeping (the lock and history
in DynamoDB) counted apart, with the operations behind each figure.

Sequence on a fresh site: deploy v1 and switch it live (set-up, not counted),
then status, deploy v2, switch, rollback, clean, each counted.
"""

from __future__ import annotations

from typing import Any

from benchlib import Calls, Timeline, bluegreen, emulator, prepare_site, save, table

COMMANDS: list[tuple[str, tuple[str, ...]]] = [
    ("status", ("status",)),
    ("deploy", ("deploy", "--version", "v2")),
    ("switch", ("switch",)),
    ("rollback", ("rollback",)),
    ("clean", ("clean",)),
]
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
        for label, args in COMMANDS:
            calls, timeline = Calls(), Timeline()
            r = bluegreen(url, *args, hooks=[calls.hook(), *timeline.hooks()])
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
                    timeline.sequential(),
                    f"{r.seconds:.2f}",
                    TARGETS.get(label, ""),
                ]
            )
            data[label] = {
                **k,
                "route53_writes": r53w,
                "sequential": timeline.sequential(),
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
        "\n\nin sequence: the most calls of which none overlapped another (the critical "
        "path; independent reads run concurrently).\n\nCalls by operation:\n\n" + detail
    )
    save("calls", "API calls per command", text, data)


def calls_line(calls: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(calls.items()))


if __name__ == "__main__":
    main()
