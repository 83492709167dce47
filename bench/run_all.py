"""Run every benchmark script in bench/ (``bench_*.py``), one process each, in
name order; print the machine first and collect every table in
bench/results/SUMMARY.md.

    .venv/bin/python bench/run_all.py [--quick] [NAME ...]

``NAME`` (e.g. ``calls`` or ``bench_calls``) runs only those scripts.
``--quick`` (or BENCH_QUICK=1): fewer repetitions and a smaller fill, for a
smoke run. A script that fails is reported and the others still run; the exit
code is non-zero if any failed.
"""

from __future__ import annotations

import datetime
import os
import subprocess
import sys
import time

from benchlib import BENCH, RESULTS, machine, table


def main(argv: list[str]) -> int:
    quick = "--quick" in argv
    wanted = {a.removeprefix("bench_").removesuffix(".py") for a in argv if not a.startswith("-")}
    scripts = sorted(BENCH.glob("bench_*.py"))
    if wanted:
        scripts = [s for s in scripts if s.stem.removeprefix("bench_") in wanted]
    env = dict(os.environ, PYTHONPATH=str(BENCH))
    if quick:
        env["BENCH_QUICK"] = "1"
    m = machine()
    started = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    head = f"# Benchmark results, {started}\n\n" + table(["", ""], list(m.items()))
    head += "\n\nReproduce: `make bench` (`.venv/bin/python bench/run_all.py`)"
    head += " --quick" if quick else ""
    print(head)
    RESULTS.mkdir(exist_ok=True)
    for stale in RESULTS.glob("*.md"):
        stale.unlink()
    failed = []
    for script in scripts:
        print(f"\n# {script.name}", flush=True)
        t0 = time.monotonic()
        r = subprocess.run([sys.executable, str(script)], env=env, cwd=BENCH.parent)
        print(f"({script.name}: {time.monotonic() - t0:.0f}s, exit {r.returncode})", flush=True)
        if r.returncode != 0:
            failed.append(script.name)
    parts = [head] + [p.read_text() for p in sorted(RESULTS.glob("*.md")) if p.name != "SUMMARY.md"]
    (RESULTS / "SUMMARY.md").write_text("\n\n".join(parts) + "\n")
    print(f"\nall tables: {RESULTS / 'SUMMARY.md'}")
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
