"""Observer tests: while a switch or rollback runs, a second thread resolves the
live names continuously (records -> load balancer or target group -> healthy
instances -> release) and checks they always reach healthy capacity and, where
the strategy promises it, never two releases at once. Counts are printed in
the test summary ("observations during switches")."""

from __future__ import annotations

from conftest import run
from observer import Observer

LATENCY = 0.03  # seconds added to each AWS call of the command under observation


def _observed(aws: str, label: str, *args: str) -> Observer:
    with Observer(aws, latency=LATENCY) as obs:
        r = run(*args, hooks=obs.hooks)
        assert r.code == 0, r.err
    obs.report(label)
    obs.assert_always_serving()
    return obs


def test_dns_switch_and_rollback_are_never_without_capacity_nor_mixed(
    kind: str, both: dict[str, str], aws: str
) -> None:
    """v2 live, v1 staging: rollback to v1, then switch to v2 again."""
    for command, before, after in (("rollback", "v2", "v1"), ("switch", "v1", "v2")):
        obs = _observed(aws, f"dns {command} on {kind}", command)
        obs.assert_one_release()
        assert obs.releases_in_order() == [frozenset({before}), frozenset({after})]
