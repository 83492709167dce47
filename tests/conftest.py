"""Test fixtures: one real moto server on loopback for the whole run, reset
between tests; helpers to run the command line in-process with a fake clock;
a reader of the emulator's whole state, to prove that a refusal changed nothing.

No test patches boto3 or bluegreen: faults are injected with botocore event
hooks passed to the gateway.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from bluegreen import api
from bluegreen.aws.base import Hook
from bluegreen.cli import main
from bluegreen.clock import FakeClock
from bluegreen.images import catalog as images
from bluegreen.model import settings as config
from bluegreen.ui import Reporter

DOMAIN = "londontamed.com"
REGION = "us-east-1"
# v1 released, then v2: v2 live, v1 on staging
TWO_RELEASES: tuple[tuple[str, ...], ...] = (
    ("deploy", "--version", "v1"),
    ("switch",),
    ("deploy", "--version", "v2"),
    ("switch",),
)

# The emulator behind the AWS-fidelity layer: fixtures ``layered_emulator`` and ``real``.
pytest_plugins = ["layered"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def emulator_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    # moto with the fixes of tests/moto_fixed.py (AWS's Route 53 change batches among them)
    yield from start_emulator(
        tmp_path_factory, [sys.executable, str(Path(__file__).parent / "moto_fixed.py")]
    )


def start_emulator(
    tmp_path_factory: pytest.TempPathFactory,
    program: list[str],
    *,
    env: dict[str, str] | None = None,
    port_args: Callable[[int], list[str]] = lambda port: ["-H", "127.0.0.1", "-p", str(port)],
) -> Generator[str, None, None]:
    """Run ``program`` with ``port_args(PORT)`` (a moto server on loopback) until
    the generator closes; ``env`` adds to its environment. Stopped by its pid."""
    port = _free_port()
    # No built-in AMI catalogue: tests register their own images, and a reset
    # then costs milliseconds instead of reloading the catalogue.
    amis = tmp_path_factory.mktemp("moto") / "amis.json"
    amis.write_text("[]")
    full_env = dict(
        os.environ, MOTO_ENABLE_AMI_VALIDATION="true", MOTO_AMIS_PATH=str(amis), **(env or {})
    )
    proc = subprocess.Popen(
        [*program, *port_args(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=full_env,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(url + "/moto-api/", timeout=1)
            break
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise RuntimeError("moto_server did not start") from None
            time.sleep(0.05)
    try:
        yield url
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)


def reset(url: str) -> None:
    req = urllib.request.Request(url + "/moto-api/reset", method="POST")
    urllib.request.urlopen(req, timeout=30).read()


@pytest.fixture
def aws(emulator_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """A clean emulator; the working directory is an empty temporary folder."""
    reset(emulator_url)
    monkeypatch.chdir(tmp_path)
    for var in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "BLUEGREEN_DOMAIN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("BLUEGREEN_ENDPOINT_URL", emulator_url)
    return emulator_url


def client(url: str, service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=url,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


def run(
    *args: str,
    hooks: Sequence[Hook] = (),
    clock: FakeClock | None = None,
    domain: str | None = DOMAIN,
) -> Result:
    """Run ``bluegreen ARGS`` in this process; never raises for a non-zero exit."""
    out, err = io.StringIO(), io.StringIO()
    argv = (["--domain", domain] if domain else []) + list(args)
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv, hooks=hooks, clock=clock or FakeClock(), standalone=False)
    return Result(code, out.getvalue(), err.getvalue())


def session(url: str, clock: FakeClock | None = None, **flags: Any) -> api.Session:
    s = config.load({"domain": DOMAIN, "endpoint_url": url, **flags}, env={})
    return api.open_session(s, Reporter(stream=io.StringIO()), clock=clock or FakeClock())


def register_images(url: str, *versions: str) -> dict[str, str]:
    sess = session(url)
    return {v: images.register_demo_image(sess.gw, sess.names, v) for v in versions}


@pytest.fixture(params=["classic", "alb"])
def kind(request: pytest.FixtureRequest, aws: str, tmp_path: Path) -> str:
    """Run the test on classic load balancers, then on application ones (a
    ``bluegreen.toml`` in the working directory says ``load_balancer = "alb"``).
    List it before ``site`` in a test's arguments so init sees the file."""
    if request.param == "alb":
        (tmp_path / "bluegreen.toml").write_text('load_balancer = "alb"\n')
    return str(request.param)


@pytest.fixture
def site(aws: str) -> dict[str, str]:
    """An initialised site with images v1, v2 and v3 registered."""
    r = run("init")
    assert r.code == 0, r.err
    return register_images(aws, "v1", "v2", "v3")


@pytest.fixture
def live_v1(site: dict[str, str]) -> dict[str, str]:
    """v1 deployed and switched live; staging empty."""
    for args in (("deploy", "--version", "v1"), ("switch",)):
        r = run(*args)
        assert r.code == 0, r.err
    return site


@pytest.fixture
def both(live_v1: dict[str, str]) -> dict[str, str]:
    """v2 live, v1 in staging (after two switches)."""
    for args in (("deploy", "--version", "v2"), ("switch",)):
        r = run(*args)
        assert r.code == 0, r.err
    return live_v1


def world(url: str) -> dict[str, Any]:
    """Everything bluegreen could change, normalised for comparison."""
    asg = client(url, "autoscaling")
    ec2 = client(url, "ec2")
    elb = client(url, "elb")
    r53 = client(url, "route53")
    ddb = client(url, "dynamodb")
    state: dict[str, Any] = {}
    state["groups"] = sorted(
        (
            g["AutoScalingGroupName"],
            g["MinSize"],
            g["MaxSize"],
            g["DesiredCapacity"],
            tuple(sorted(g.get("LoadBalancerNames", []))),
            tuple(sorted(g.get("TargetGroupARNs", []))),
            tuple(sorted(i["InstanceId"] for i in g.get("Instances", []))),
        )
        for g in asg.describe_auto_scaling_groups()["AutoScalingGroups"]
    )
    state["launch_configurations"] = sorted(
        c["LaunchConfigurationName"]
        for c in asg.describe_launch_configurations()["LaunchConfigurations"]
    )
    state["launch_templates"] = sorted(
        (t["LaunchTemplateName"], t["LatestVersionNumber"])
        for t in ec2.describe_launch_templates()["LaunchTemplates"]
    )
    state["instances"] = sorted(
        (i["InstanceId"], i["State"]["Name"])
        for r in ec2.describe_instances()["Reservations"]
        for i in r["Instances"]
    )
    lbs = elb.describe_load_balancers()["LoadBalancerDescriptions"]
    state["load_balancers"] = sorted(
        (
            lb["LoadBalancerName"],
            tuple(sorted(i["InstanceId"] for i in lb["Instances"])),
            tuple(sorted(lb.get("SecurityGroups", []))),
        )
        for lb in lbs
    )
    state["albs"] = _albs(client(url, "elbv2"))
    zones = r53.list_hosted_zones()["HostedZones"]
    recs = []
    for z in zones:
        for rr in r53.list_resource_record_sets(HostedZoneId=z["Id"], MaxItems="1000")[
            "ResourceRecordSets"
        ]:
            recs.append((z["Id"], json.dumps(rr, sort_keys=True, default=str)))
    state["records"] = sorted(recs)
    state["vpcs"] = sorted(v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"])
    state["security_groups"] = sorted(
        json.dumps(g, sort_keys=True, default=str)
        for g in ec2.describe_security_groups()["SecurityGroups"]
    )
    state["images"] = sorted(i["ImageId"] for i in ec2.describe_images(Owners=["self"])["Images"])
    state.update(_network(ec2))
    state["hosted_zones"] = sorted(
        (z["Id"], z["Name"], bool(z.get("Config", {}).get("PrivateZone"))) for z in zones
    )
    iam = client(url, "iam")
    state["roles"] = sorted(
        (r["RoleName"], tuple(iam.list_role_policies(RoleName=r["RoleName"])["PolicyNames"]))
        for r in iam.list_roles()["Roles"]
    )
    state["instance_profiles"] = sorted(
        (p["InstanceProfileName"], tuple(sorted(r["RoleName"] for r in p["Roles"])))
        for p in iam.list_instance_profiles()["InstanceProfiles"]
    )
    state["key_pairs"] = sorted(k["KeyName"] for k in ec2.describe_key_pairs()["KeyPairs"])
    tables = ddb.list_tables()["TableNames"]
    state["tables"] = sorted(tables)
    items = []
    for t in tables:
        items += [json.dumps(i, sort_keys=True) for i in ddb.scan(TableName=t)["Items"]]
    state["items"] = sorted(items)
    return state


def _network(ec2: Any) -> dict[str, Any]:
    """Subnets (with their public-address setting), internet gateways and
    route tables (routes and associations)."""

    def dumped(items: list[Any]) -> list[str]:
        return sorted(json.dumps(x, sort_keys=True, default=str) for x in items)

    return {
        "subnets": sorted(
            tuple(s.get(k) for k in ("SubnetId", "VpcId", "CidrBlock", "MapPublicIpOnLaunch"))
            for s in ec2.describe_subnets()["Subnets"]
        ),
        "internet_gateways": dumped(ec2.describe_internet_gateways()["InternetGateways"]),
        "route_tables": dumped(ec2.describe_route_tables()["RouteTables"]),
    }


def _albs(v2: Any) -> list[Any]:
    """Application load balancers: listeners, rules, target groups and their targets."""
    out: list[Any] = []
    for lb in v2.describe_load_balancers()["LoadBalancers"]:
        out.append(
            ("security groups", lb["LoadBalancerName"], sorted(lb.get("SecurityGroups", [])))
        )
        for ls in v2.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]:
            rules = v2.describe_rules(ListenerArn=ls["ListenerArn"])["Rules"]
            out.append(("listener", lb["LoadBalancerName"], ls["Port"], json.dumps(rules)))
    for tg in v2.describe_target_groups()["TargetGroups"]:
        health = v2.describe_target_health(TargetGroupArn=tg["TargetGroupArn"])
        targets = sorted(d["Target"]["Id"] for d in health["TargetHealthDescriptions"])
        out.append(("target group", tg["TargetGroupName"], json.dumps(targets)))
    return sorted(out)


@pytest.fixture
def unchanged(aws: str) -> Callable[..., contextlib.AbstractContextManager[None]]:
    """``with unchanged(): ...`` fails if the emulator's state changed inside.

    ``unchanged(history=True)`` allows new history records (a command that
    found its work done still records that it ran)."""

    @contextlib.contextmanager
    def check(history: bool = False) -> Iterator[None]:
        before = world(aws)
        yield
        after = world(aws)
        if history:
            after["items"] = [i for i in after["items"] if '"history#' not in i]
            before["items"] = [i for i in before["items"] if '"history#' not in i]
        assert after == before, "a refused command changed AWS"

    return check


def records(url: str, private: bool, *, live: bool = False) -> dict[str, str]:
    """fqdn -> alias target DNS name, of the public zone, or of the private
    zone's staging names (with ``live``: of the private zone's live names,
    which mirror the public zone's)."""
    r53 = client(url, "route53")
    out = {}
    for z in r53.list_hosted_zones()["HostedZones"]:
        if z.get("Config", {}).get("PrivateZone") != private:
            continue
        for rr in r53.list_resource_record_sets(HostedZoneId=z["Id"], MaxItems="1000")[
            "ResourceRecordSets"
        ]:
            staging = rr["Name"].split(".")[0].endswith("-staging")
            if "AliasTarget" in rr and (not private or staging != live):
                out[rr["Name"]] = rr["AliasTarget"]["DNSName"]
    return out


Hooks = list[tuple[str, Callable[..., Any]]]


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """The observers' counts (tests/observer.py), so every run reports them."""
    from observer import REPORTS

    if REPORTS:
        terminalreporter.section("observations during switches")
        for line in REPORTS:
            terminalreporter.write_line(line)
