"""The whole release cycle of every strategy and load-balancer kind, with
AWS's timing and answers (the fidelity layer): init, deploy, switch, a second
release, rollback, clean. Then a cycle including init with 20% of all
requests failing (throttling, HTTP 5xx, lost responses)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from bluegreen.emulator.fidelity import Timings
from chaos import Faults
from conftest import TWO_RELEASES, client
from layered import DOMAIN, Real, images

STRATEGIES = ["dns", "lb", "rolling", "weighted"]
CYCLE = (
    *TWO_RELEASES,
    ("rollback",),
    ("clean", "--yes", "--force"),
)


def configure(path: Path, strategy: str, kind: str) -> None:
    extra = {"weighted": 'steps = [50, 100]\ninterval = "10s"\n', "rolling": 'timeout = "600s"\n'}
    (path / "bluegreen.toml").write_text(
        f'strategy = "{strategy}"\nload_balancer = "{kind}"\n' + extra.get(strategy, "")
    )


def assert_ordinary_zones(real: Real) -> None:
    """The layer lists opted-in Local and Wavelength Zones (sorting first):
    the site's subnets are in ordinary availability zones only."""
    real.settle()
    ec2 = client(real.url, "ec2")
    zones = {
        z["ZoneName"]: z.get("ZoneType", "availability-zone")
        for z in ec2.describe_availability_zones()["AvailabilityZones"]
    }
    assert {"local-zone", "wavelength-zone"} <= set(zones.values()), zones
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "tag:bluegreen:domain", "Values": [DOMAIN]}])
    (vpc,) = vpcs["Vpcs"]
    subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])
    used = {sn["AvailabilityZone"] for sn in subnets["Subnets"]}
    assert len(used) >= 2 and {zones[z] for z in used} == {"availability-zone"}, used


@pytest.mark.parametrize("kind", ["classic", "alb"])
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_full_cycle_on_aws_timing(real: Real, tmp_path: Path, strategy: str, kind: str) -> None:
    configure(tmp_path, strategy, kind)
    # AWS's delays a tenth as long (fewer polls, same sequence of states); its rate.
    real.layer.timings = dataclasses.replace(Timings().scaled(0.1), route53_rate=5.0)
    r = real.run("init")
    assert r.code == 0, r.err
    assert_ordinary_zones(real)
    images(real, "v1", "v2")
    for args in CYCLE:
        r = real.run(*args)
        assert r.code == 0, f"{strategy}/{kind} {args}: exit {r.code}\n{r.err}"
    real.settle(60)  # every instance booted and health-checked: AWS's view settles
    r = real.run("--output", "json", "status")
    assert r.code == 0, r.err
    doc = r.json()
    assert doc["live"]["version"] == "v1" and doc["problems"] == [], doc


def test_cycle_from_init_survives_injected_faults(real: Real) -> None:
    """20% of all requests fail (seeded) over a cycle that starts with init,
    with the opted-in Local and Wavelength Zones listed: init and the release
    cycle meet all four kinds, lost responses (AWS acted, the client saw an
    error) included."""
    # The draw follows the order of init's requests: seed 6 loses five of its
    # answers (seed 4 lost none once init read its zones before its first write).
    faults = Faults(seed=6, rate=0.2)
    r = real.run("init", hooks=[faults.hook()])
    assert r.code == 0, r.err
    assert faults.total >= 0.1 * faults.requests, (faults.injected, faults.requests)
    assert faults.injected["lost-response"] >= 2, faults.injected
    assert_ordinary_zones(real)
    plan = real.run("init", "--dry-run")  # as an uninterrupted init left it
    assert plan.code == 0 and "would " not in plan.out + plan.err, plan.out + plan.err
    images(real, "v1", "v2")
    faults = Faults(seed=1, rate=0.2)
    kinds = {"throttle", "5xx", "connect-timeout", "lost-response"}
    # Concurrent reads draw the faults in either order: when the cycle met
    # fewer than the four kinds, a deploy and a clean more (at most eight
    # times), losing the first answer of every write while no loss was drawn.
    more = [(("deploy", "--version", "v2"), ("clean", "--yes", "--force"))] * 8
    for commands in (CYCLE, *more):
        if commands is not CYCLE and kinds <= set(faults.injected):
            break
        if commands is not CYCLE:  # no loss drawn yet: every write's first answer is lost
            faults.lose_first_response = "lost-response" not in faults.injected
        for args in commands:
            r = real.run(*args, hooks=[faults.hook()])
            assert r.code == 0, f"{args}: exit {r.code}\n{r.err}"
    assert faults.total >= 0.1 * faults.requests, (faults.injected, faults.requests)
    assert kinds <= set(faults.injected)
