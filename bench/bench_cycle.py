"""Wall time of a full release cycle (deploy + switch + clean) against the
baseline script (bench/baseline.py: the seed's three steps by hand, with only
the waits safety needs), run alternately in the same process on the same
emulator, without and with 50 ms of injected latency per API call. Each
round is a pair (a bluegreen cycle, a baseline cycle); the ratios are given
pair by pair, for the whole cycle and for each step.

Two sites share the emulator: londontamed.com for bluegreen, example.org for
the baseline (both set up by ``bluegreen init``), so neither sees the other's
groups. ``clean --force`` because the baseline does not wait for draining
either. Waits use the real clock.
"""

from __future__ import annotations

import sys
from typing import Any

import baseline
from benchlib import (
    Calls,
    Hook,
    Timeline,
    bluegreen,
    emulator,
    latency_hook,
    median,
    prepare_site,
    quick,
    register_images,
    save,
    table,
)

BASE_DOMAIN = "example.org"
LATENCY = 0.050


class BaselineSite:
    def __init__(self, url: str) -> None:
        from bluegreen.model.naming import Names

        self.url = url
        bluegreen(url, "init", domain=BASE_DOMAIN)
        self.ami = register_images(url, "b1", domain=BASE_DOMAIN)["b1"]
        self.target = baseline.discover(url, BASE_DOMAIN)
        n = Names.for_domain(BASE_DOMAIN)
        self.live, self.staging = n.load_balancers
        self.current: str | None = None
        self.serial = 0
        self.sequential = 0

    def cycle(self, hooks: list[Hook]) -> dict[str, float]:
        tl = Timeline()
        hooks = [*hooks, *tl.hooks()]
        self.serial += 1
        new = f"example-org-release-{self.serial}"
        times = baseline.release_cycle(
            self.url,
            self.target,
            new=new,
            old=self.current,
            ami=self.ami,
            staging_lb=self.staging,
            live_lb=self.live,
            hooks=hooks,
        )
        self.current = new
        self.live, self.staging = self.staging, self.live
        self.sequential = tl.sequential()
        return times


def bluegreen_cycle(url: str, version: str, hooks: list[Hook]) -> dict[str, float]:
    out = {}
    depth = 0
    for label, args in (
        ("deploy", ("deploy", "--version", version)),
        ("switch", ("switch",)),
        ("clean", ("clean", "--force", "--yes")),
    ):
        tl = Timeline()
        out[label] = bluegreen(url, *args, hooks=[*hooks, *tl.hooks()]).seconds
        out[f"{label}_sequential"] = tl.sequential()
        depth += tl.sequential()
    out["cycle"] = out["deploy"] + out["switch"] + out["clean"]
    out["cycle_sequential"] = depth
    return out


LIVE = ["v1"]  # the version live on the bluegreen site


def next_version() -> str:
    LIVE[0] = "v2" if LIVE[0] == "v1" else "v1"
    return LIVE[0]


STEPS = ("deploy", "switch", "clean", "cycle")


def measure(url: str, base: BaselineSite, rounds: int, latency: float) -> dict[str, Any]:
    bg: list[dict[str, float]] = []
    bl: list[dict[str, float]] = []
    bg_calls, bl_calls = Calls(), Calls()
    for i in range(rounds + 1):  # round 0 warms both up and is not counted
        bg_hooks: list[Hook] = [bg_calls.hook()]
        bl_hooks: list[Hook] = [bl_calls.hook()]
        if latency:
            bg_hooks.append(latency_hook(latency))
            bl_hooks.append(latency_hook(latency))
        bg_calls.reset()
        bl_calls.reset()
        version = next_version()
        if i % 2 == 0:
            b = bluegreen_cycle(url, version, bg_hooks)
            s = base.cycle(bl_hooks)
        else:
            s = base.cycle(bl_hooks)
            b = bluegreen_cycle(url, version, bg_hooks)
        if i == 0:
            continue
        bg.append(b)
        bl.append(s)
    pairs = [{k: b[k] / s[k] for k in STEPS} for b, s in zip(bg, bl)]
    return {
        "latency": latency,
        "rounds": rounds,
        "bluegreen_cycle": median([b["cycle"] for b in bg]),
        "deploy": median([b["deploy"] for b in bg]),
        "switch": median([b["switch"] for b in bg]),
        "clean": median([b["clean"] for b in bg]),
        "baseline": {k: median([x[k] for x in bl]) for k in STEPS},
        "baseline_cycle": median([x["cycle"] for x in bl]),
        "ratio": median([r["cycle"] for r in pairs]),
        "ratios": {k: median([r[k] for r in pairs]) for k in STEPS},
        "pairs": pairs,
        "sequential": {
            k: median([b[f"{k}_sequential"] for b in bg])
            for k in ("deploy", "switch", "clean", "cycle")
        },
        "baseline_sequential": base.sequential,
        "bluegreen_calls": bg_calls.by_kind(),
        "baseline_calls": bl_calls.by_kind(),
        "raw": {"bluegreen": bg, "baseline": bl},
    }


TARGET = 1.5  # the release cycle at most 1.5 times the baseline at 50 ms per call
# lock, one round of reads under it, release of the lock with the history record
FLOOR_PER_COMMAND = 3


def main() -> None:
    rounds = 2 if quick() else 7
    results = []
    with emulator() as url:
        prepare_site(url)
        bluegreen(url, "deploy", "--version", "v1")
        bluegreen(url, "switch")
        base = BaselineSite(url)
        base.cycle([])  # a first release live, as on the bluegreen site
        for latency in (0.0, LATENCY):
            results.append(measure(url, base, rounds, latency))
            print(f"latency {latency * 1000:.0f} ms: done", file=sys.stderr)
    rows = []
    for r in results:
        rows.append(
            [
                f"{r['latency'] * 1000:.0f} ms",
                r["rounds"],
                r["deploy"],
                r["switch"],
                r["clean"],
                r["bluegreen_cycle"],
                r["baseline_cycle"],
                f"{r['ratio']:.2f}x",
                f"{r['bluegreen_calls']['total']} ({r['bluegreen_calls']['bookkeeping']} bk)",
                r["baseline_calls"]["total"],
            ]
        )
    text = table(
        [
            "latency/call",
            "rounds",
            "deploy s",
            "switch s",
            "clean s",
            "bluegreen cycle s",
            "baseline cycle s",
            "median ratio",
            "bluegreen calls/cycle",
            "baseline calls/cycle",
        ],
        rows,
    )
    text += (
        "\n\nMedians over the rounds; the ratio is the median of each pair's (round's) "
        "bluegreen/baseline ratio. bk = bookkeeping calls (lock and history in DynamoDB)."
    )
    last = results[-1]
    text += (
        "\n\nPair by pair at 50 ms per call (bluegreen / baseline, each step and the cycle):\n\n"
    )
    text += table(
        ["pair", *STEPS],
        [[n, *(f"{p[k]:.2f}x" for k in STEPS)] for n, p in enumerate(last["pairs"], 1)]
        + [["median", *(f"{last['ratios'][k]:.2f}x" for k in STEPS)]]
        + [
            [
                "seconds (bg / baseline)",
                *(
                    f"{(last[k] if k != 'cycle' else last['bluegreen_cycle']):.2f} / "
                    f"{last['baseline'][k]:.2f}"
                    for k in STEPS
                ),
            ]
        ],
    )
    met = last["ratio"] <= TARGET
    text += (
        f"\n\nTarget: release cycle at most {TARGET}x the baseline at 50 ms per call: "
        f"{last['ratio']:.2f}x, {'met' if met else 'missed'}."
    )
    work = int(last["baseline_sequential"])
    floor = work + FLOOR_PER_COMMAND * 3
    text += (
        f"\n\nFloor of three commands that each take the lock, read under it and release it "
        f"with the history record ({FLOOR_PER_COMMAND} requests in sequence each, on top of "
        f"the baseline's {work}): {floor} in sequence, {floor / work:.2f}x when the requests' "
        f"time dominates; bluegreen: {int(last['sequential']['cycle'])} "
        "(docs/PERFORMANCE.md says what each request above the floor buys)."
    )
    seq = results[-1]["sequential"]
    depth = [[k, int(seq[k])] for k in ("deploy", "switch", "clean", "cycle")]
    depth.append(["baseline cycle", results[-1]["baseline_sequential"]])
    text += (
        "\n\nCalls in sequence (the critical path: the most calls of a command of which "
        "none overlapped another; independent reads run concurrently):\n\n"
        + table(["bluegreen", "calls in sequence"], depth)
    )
    save(
        "cycle",
        "Release cycle (deploy + switch + clean) against the baseline script",
        text,
        results,
    )


if __name__ == "__main__":
    main()
