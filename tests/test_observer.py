"""Observer tests: while a switch or rollback runs, a second thread resolves the
live names continuously (records -> load balancer or target group -> healthy
instances -> release) and checks they always reach healthy capacity and, where
the strategy promises it, never two releases at once. Counts are printed in
the test summary ("observations during switches")."""

from __future__ import annotations

from pathlib import Path

from bluegreen.clock import FakeClock
from conftest import register_images, run
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


# -- staging_cidrs: the restriction moves with the roles, never ahead of the clients --------
STAGING_RANGE = "203.0.113.0/24"
OUTSIDE = "198.51.100.9"  # a client of the live names, outside every staging range
LATER = FakeClock(1_700_000_000.0 + 3600)  # after any alias TTL and draining


def _limit(tmp_path: Path, extra: str = "") -> None:
    cfg = tmp_path / "bluegreen.toml"
    text = cfg.read_text() if cfg.exists() else ""
    cfg.write_text(text + extra + f'staging_cidrs = ["{STAGING_RANGE}"]\n')


def _open_limited(obs: Observer) -> None:
    """Staging limited before the command, open to everyone after it (its
    live clients arrive), and never a live name refusing the outside client."""
    obs.assert_always_serving()
    obs.assert_live_open()
    states = obs.admission_in_order()
    assert [ok for _, ok in states[0]].count(False) == 1, states  # staging limited
    assert all(ok for _, ok in states[-1]), states  # both open: the old live one drains


def test_with_staging_cidrs_switch_and_rollback_cut_no_live_client(
    kind: str, aws: str, tmp_path: Path
) -> None:
    _limit(tmp_path)
    for args in (("init",), ("deploy", "--version", "v1"), ("switch",)):
        if args == ("deploy", "--version", "v1"):
            register_images(aws, "v1", "v2")
        assert run(*args).code == 0
    for args in (("deploy", "--version", "v2"), ("switch",)):
        assert run(*args).code == 0
    for command, before, after in (("rollback", "v2", "v1"), ("switch", "v1", "v2")):
        assert run("init", clock=LATER).code == 0  # the drain is over: staging limited
        with Observer(aws, latency=LATENCY, source=OUTSIDE) as obs:
            r = run(command, hooks=obs.hooks)
            assert r.code == 0, r.err
        obs.report(f"dns {command} on {kind} with staging_cidrs")
        _open_limited(obs)
        obs.assert_one_release()
        assert obs.releases_in_order() == [frozenset({before}), frozenset({after})]


def test_setting_staging_cidrs_on_a_live_site_cuts_no_live_client(
    kind: str, both: dict[str, str], aws: str, tmp_path: Path
) -> None:
    _limit(tmp_path)
    with Observer(aws, latency=LATENCY, source=OUTSIDE) as obs:
        r = run("init", hooks=obs.hooks, clock=LATER)
        assert r.code == 0, r.err
    obs.report(f"init adding staging_cidrs on {kind}")
    obs.assert_always_serving()
    obs.assert_live_open()
    states = obs.admission_in_order()
    assert all(ok for _, ok in states[0]) and [ok for _, ok in states[-1]].count(False) == 1


def test_with_staging_cidrs_on_one_alb_the_live_names_stay_open(aws: str, tmp_path: Path) -> None:
    _limit(tmp_path, 'load_balancer = "alb"\nstrategy = "lb"\n')
    assert run("init").code == 0
    register_images(aws, "v1", "v2")
    for args in (("deploy", "--version", "v1"), ("switch",), ("deploy", "--version", "v2")):
        assert run(*args).code == 0
    with Observer(aws, latency=LATENCY, source=OUTSIDE) as obs:
        r = run("switch", hooks=obs.hooks)
        assert r.code == 0, r.err
    obs.report("lb switch on one ALB with staging_cidrs")
    obs.assert_always_serving()
    obs.assert_live_open()
    obs.assert_one_release()
