"""What a user feels on ``bluegreen sandbox --realistic``: the wall time of
each command of a release cycle (init, deploy, switch, second deploy, switch,
rollback, clean) on the emulator behind the AWS-fidelity layer at AWS's
timings, on the real clock. Takes several minutes: not part of ``make bench``.

``python bench/bench_realistic.py [--without Behaviour,...]`` (behaviour class
names of ``bluegreen.emulator.fidelity``, e.g. OptInZones while ``init`` predates its
zone filter).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

from benchlib import DOMAIN, bluegreen, register_images

CYCLE = (
    ("init",),
    ("deploy", "--version", "v1"),
    ("switch",),
    ("deploy", "--version", "v2"),
    ("switch",),
    ("rollback",),
    ("clean", "--yes", "--force"),
)


def main(argv: list[str]) -> int:
    amis = Path(tempfile.mkdtemp(prefix="bluegreen-realistic-")) / "amis.json"
    amis.write_text("[]")
    os.environ["MOTO_AMIS_PATH"] = str(amis)
    from bluegreen.emulator import server as sandbox

    emu = sandbox.start(realistic=True)
    if "--without" in argv:
        emu.layer.disabled = set(argv[argv.index("--without") + 1].split(","))
    total = 0.0
    try:
        print(f"{'command':<28} {'seconds':>8}")
        for args in CYCLE:
            r = bluegreen(emu.url, *args, domain=DOMAIN)
            total += r.seconds
            print(f"{' '.join(args):<28} {r.seconds:>8.1f}", flush=True)
            if args == ("init",):
                t0 = time.perf_counter()
                register_images(emu.url, "v1", "v2")
                total += time.perf_counter() - t0
        print(f"{'whole cycle':<28} {total:>8.1f}")
    finally:
        emu.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
