"""Scale: every command on an empty account, then on one pre-filled with 1,000
unrelated autoscaling groups (desired capacity 0, so no instances), 1,000
launch templates, 1,000 launch configurations and 2,000 records (1,000 in each
of the site's two zones, names spread over the alphabet, so most of them sort
between the site's own names); API calls and wall time, and their ratio.

The sequence status, deploy v2, switch, rollback, clean returns the site to
where it started (v1 live, staging empty), so it is repeated and medians taken.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.append(str(Path(__file__).resolve().parent.parent / "tests"))

from benchlib import (
    COMMANDS_MEASURED,
    Calls,
    bluegreen,
    emulator,
    median,
    prepare_site,
    quick,
    save,
    table,
)
from test_scale import N, fill_groups, fill_records

SEQUENCE = COMMANDS_MEASURED


def run_sequence(url: str, repeats: int) -> dict[str, dict[str, Any]]:
    seconds: dict[str, list[float]] = {label: [] for label, _ in SEQUENCE}
    calls: dict[str, dict[str, Any]] = {}
    for _ in range(repeats):
        for label, args in SEQUENCE:
            c = Calls()
            r = bluegreen(url, *args, hooks=[c.hook()])
            seconds[label].append(r.seconds)
            calls[label] = {**c.by_kind(), "detail": c.detail()}
    return {label: {"seconds": median(seconds[label]), **calls[label]} for label, _ in SEQUENCE}


def main() -> None:
    repeats = 1 if quick() else 5
    n = 200 if quick() else N
    with emulator() as url:
        prepare_site(url)
        bluegreen(url, "deploy", "--version", "v1")
        bluegreen(url, "switch")
        run_sequence(url, 1)  # warm-up
        empty = run_sequence(url, repeats)
        print("empty account: done; adding groups", file=sys.stderr)
        fill_groups(url, n)
        groups = run_sequence(url, repeats)
        print("groups: done; adding records", file=sys.stderr)
        fill_records(url, n, "a")
        full = run_sequence(url, repeats)
    rows = []
    for label, _ in SEQUENCE:
        e, g, f = empty[label], groups[label], full[label]
        rows.append(
            [
                label,
                f"{e['total']} ({e['read']}/{e['write']}/{e['bookkeeping']})",
                f"{g['total']} ({g['read']}/{g['write']}/{g['bookkeeping']})",
                f"{(g['total'] - e['total']) / e['total'] * 100:+.0f}%",
                f"{f['total']} ({f['read']}/{f['write']}/{f['bookkeeping']})",
                f"{(f['total'] - e['total']) / e['total'] * 100:+.0f}%",
                e["seconds"],
                g["seconds"],
                f["seconds"],
                f"{f['seconds'] / e['seconds']:.2f}x",
            ]
        )
    text = table(
        [
            "command",
            "A: empty calls (r/w/bk)",
            "B: +groups calls",
            "B growth",
            "C: +records calls",
            "C growth",
            "A s",
            "B s",
            "C s",
            "C/A time",
        ],
        rows,
    )
    text += (
        f"\n\nA: the site alone. B: plus {n:,} unrelated autoscaling groups (desired 0), "
        f"{n:,} launch templates and {n:,} launch configurations (some tagged with another "
        f"domain). C: B plus {n:,} unrelated A records in each of the site's two zones, "
        "named aa0000, ba0001 and so on over the alphabet (most sort between the "
        "site's api and www). r/w/bk = reads/writes/bookkeeping (lock and history). Seconds "
        f"are medians of {repeats} runs. Target: call growth <= 10%.\n\nCalls in C:\n\n"
        + "\n".join(f"- {label}: {full[label]['detail']}" for label, _ in SEQUENCE)
    )
    growth = [
        [
            label,
            f"{(full[label]['total'] - empty[label]['total']) / empty[label]['total'] * 100:+.0f}%",
            "met"
            if full[label]["total"] <= empty[label]["total"] * 1.1
            else "missed (see docs/PERFORMANCE.md)",
        ]
        for label, _ in SEQUENCE
    ]
    text += "\n\nTarget: calls flat (at most +10%) from A to C:\n\n" + table(
        ["command", "growth A to C", "met"], growth
    )
    save(
        "scale",
        f"Scale: empty account against {n:,} unrelated groups and {2 * n:,} records",
        text,
        {"n": n, "empty": empty, "groups": groups, "full": full},
    )


if __name__ == "__main__":
    main()
