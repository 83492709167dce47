"""Baking with image tests: the real Packer against bluegreen's embedded emulator.

Release bakes without tests, with one and with three passing shell tests, and with
a failing test (exit 10, nothing registered): Packer's own time (``packer_seconds``,
failing bakes: the whole command) and the whole command's, medians of N bakes each.
On the emulator each test is one ``shell-local`` run on this machine, so the figures
show what bluegreen and Packer add per test, not what a test costs on AWS.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.append(str(Path(__file__).resolve().parent.parent / "tests"))

from benchlib import bluegreen, emulator, median, quick, save, table
from test_bake import source_image


def main() -> None:
    if not shutil.which("packer"):
        raise SystemExit("bench_bake needs packer on PATH (apt-get install packer)")
    n = 2 if quick() else 5
    work = Path(tempfile.mkdtemp(prefix="bluegreen-bench-bake-"))
    tests = []
    for i in range(3):
        t = work / f"test-{i}.sh"
        t.write_text(f'#!/bin/sh\necho "test {i} of $BLUEGREEN_IMAGE_NAME"\n')
        tests.append(str(t))
    failing = work / "failing.sh"
    failing.write_text("#!/bin/sh\necho 'nginx is not answering' >&2\nexit 1\n")
    cases: list[tuple[str, list[str], int]] = [
        ("no tests", [], 0),
        ("1 test", tests[:1], 0),
        ("3 tests", tests, 0),
        ("1 failing test", [str(failing)], 10),
    ]
    rows: list[list[Any]] = []
    data: dict[str, Any] = {}
    with emulator(sandbox=True) as url:
        bluegreen(url, "init")
        src = source_image(url)
        bluegreen(url, "bake", "--version", "warm-up", "--base-ami", src)
        k = 0
        for label, scripts, code in cases:
            packer_s, whole_s = [], []
            for _ in range(n):
                k += 1
                args = ["--output", "json", "bake", "--version", f"b{k}", "--base-ami", src]
                for test in scripts:
                    args += ["--test", test]
                r = bluegreen(url, *args, check=False)
                assert r.code == code, r.err
                whole_s.append(r.seconds)
                if code == 0:
                    packer_s.append(float(json.loads(r.out)["packer_seconds"]))
            pm = median(packer_s) if packer_s else None
            rows.append(
                [label, n, f"{pm:.2f}" if pm is not None else "-", f"{median(whole_s):.2f}"]
            )
            data[label] = {"packer_seconds": packer_s, "command_seconds": whole_s}
    base = data["no tests"]["command_seconds"]
    three = data["3 tests"]["command_seconds"]
    text = table(["bake", "runs", "packer s (median)", "command s (median)"], rows)
    text += (
        f"\n\nThree tests add {median(three) - median(base):.2f} s to a bake on the emulator "
        f"({median(three) / median(base):.2f}x)."
    )
    save("bake", "Baking with image tests (Packer, emulator)", text, data)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
