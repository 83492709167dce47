"""Fleet size: deploy of 1, 50 and 200 instances; API calls of one health
poll (one check of the deploy's wait), and of status with that fleet.

The poll is measured by running the deploy's own ``WaitHealthy`` step on the
group just deployed: its instances are healthy, so the step polls exactly once.
"""

from __future__ import annotations

import io
from typing import Any

from benchlib import DOMAIN, Calls, bluegreen, emulator, prepare_site, quick, save, table

SIZES = (1, 50, 200)


def one_poll(url: str, group: str, balancer: str, expected: int) -> Calls:
    from bluegreen import api
    from bluegreen.model import settings as config
    from bluegreen.plan.steps import WaitHealthy
    from bluegreen.ui import Reporter

    calls = Calls()
    s = config.load({"domain": DOMAIN, "endpoint_url": url}, env={})
    sess = api.open_session(s, Reporter(stream=io.StringIO()), hooks=[calls.hook()])
    step = WaitHealthy(group, balancer, "classic", None, expected, 60.0)
    step.apply(sess.ctx)
    return calls


def main() -> None:
    sizes = (1, 50) if quick() else SIZES
    rows: list[list[Any]] = []
    data: dict[str, Any] = {}
    with emulator() as url:
        prepare_site(url, ("v1",))
        bluegreen(url, "deploy", "--version", "v1", "--capacity", "1")  # warm-up
        bluegreen(url, "clean", "--yes", "--force")
        for n in sizes:
            deploy_calls, status_calls = Calls(), Calls()
            r = bluegreen(
                url, "deploy", "--version", "v1", "--capacity", str(n), hooks=[deploy_calls.hook()]
            )
            bluegreen(url, "status", hooks=[status_calls.hook()])
            import json

            st = json.loads(bluegreen(url, "--output", "json", "status").out)
            staging = st["staging"]
            assert staging["healthy"] == n, staging
            poll = one_poll(url, staging["asg"], staging["load_balancer"], n)
            bluegreen(url, "clean", "--yes", "--force")
            dk, pk, sk = deploy_calls.by_kind(), poll.by_kind(), status_calls.by_kind()
            rows.append(
                [n, dk["total"], f"{r.seconds:.2f}", pk["total"], poll.detail(), sk["total"]]
            )
            data[str(n)] = {
                "deploy": dk,
                "deploy_seconds": r.seconds,
                "poll": pk,
                "poll_detail": poll.detail(),
                "status": sk,
            }
    text = table(
        [
            "instances",
            "deploy calls",
            "deploy s",
            "calls per health poll",
            "poll calls",
            "status calls",
        ],
        rows,
    )
    text += "\n\nTarget: a health poll costs the same calls for 1 and 200 instances."
    save("fleet", "Fleet size: deploy and health polls", text, data)


if __name__ == "__main__":
    main()
