"""Start-up: wall time of ``bluegreen --help`` and ``bluegreen --version``
against ``aws --version`` (the AWS CLI, installed by ``make bench`` in a
venv of its own) and a bare ``python -c pass``, medians over repeated runs,
the commands interleaved. Also the modules ``--help`` imports, with
``python -X importtime``.
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchlib import BENCH, median, quick, save, table

ROOT = BENCH.parent
BIN = Path(sys.executable).parent


def aws_cli() -> str | None:
    for candidate in (ROOT / ".venv-awscli" / "bin" / "aws", shutil.which("aws")):
        if candidate and Path(candidate).exists():
            r = subprocess.run([str(candidate), "--version"], capture_output=True, text=True)
            if r.returncode == 0:
                return str(candidate)
    return None


def timed(argv: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds: user + system of the child)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def heavy_imports() -> list[str]:
    """Which of boto3, botocore, rich, moto ``bluegreen --help`` imports."""
    r = subprocess.run(
        [
            sys.executable,
            "-X",
            "importtime",
            "-c",
            "from bluegreen.cli import main; main(['--help'], standalone=False)",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    mods = {line.split("|")[-1].strip() for line in r.stderr.splitlines() if "|" in line}
    return sorted(m for m in mods if m.split(".")[0] in ("boto3", "botocore", "rich", "moto"))


def main() -> None:
    runs = 5 if quick() else 31
    env = dict(os.environ)
    commands: dict[str, list[str]] = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "bluegreen --help": [str(BIN / "bluegreen"), "--help"],
        "bluegreen --version": [str(BIN / "bluegreen"), "--version"],
    }
    aws = aws_cli()
    if aws:
        commands["aws --version"] = [aws, "--version"]
    for argv in commands.values():  # warm the page cache and .pyc files
        subprocess.run(argv, capture_output=True, env=env)
    times: dict[str, list[float]] = {k: [] for k in commands}
    cpu: dict[str, list[float]] = {k: [] for k in commands}
    for _ in range(runs):
        for label, argv in commands.items():
            wall, used = timed(argv)
            times[label].append(wall)
            cpu[label].append(used)
    rows: list[list[Any]] = []
    for label, ts in times.items():
        rows.append(
            [
                label,
                runs,
                f"{median(ts) * 1000:.0f}",
                f"{min(ts) * 1000:.0f}",
                f"{max(ts) * 1000:.0f}",
                f"{median(cpu[label]) * 1000:.0f}",
            ]
        )
    text = table(["command", "runs", "median ms", "min ms", "max ms", "median CPU ms"], rows)
    text += (
        "\n\nWall time is what the operator waits; CPU time (user + system of the process) "
        "depends less on what else the machine runs."
    )
    if not aws:
        text += "\n\n`aws` not found: run `make bench` (it installs the AWS CLI in .venv-awscli)."
    heavy = heavy_imports()
    text += (
        "\n\nTarget: `bluegreen --help` median <= 150 ms. Heavy modules imported by --help: "
        + (", ".join(heavy) if heavy else "none (no boto3, botocore, rich or moto)")
    )
    save(
        "startup",
        "Start-up time",
        text,
        {
            "runs": runs,
            "ms": {k: [t * 1000 for t in v] for k, v in times.items()},
            "cpu_ms": {k: [t * 1000 for t in v] for k, v in cpu.items()},
            "heavy_imports": heavy,
        },
    )


if __name__ == "__main__":
    main()
