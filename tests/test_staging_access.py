"""``staging_cidrs``: who may reach the staging environment.

moto does not evaluate security groups or listener rule conditions, so these
tests read what the emulator holds (the load balancers' security groups and
those groups' rules, the listener rules' conditions) and evaluate it the way
AWS would for a request from a given source address (``admits``)."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest

from bluegreen.clock import FakeClock
from conftest import TWO_RELEASES, client, records, register_images, run

INSIDE = "203.0.113.7"  # in the staging range
OUTSIDE = "198.51.100.9"  # anyone else
RANGE = "203.0.113.0/24"


def balancer_groups(url: str) -> dict[str, list[dict[str, Any]]]:
    """load balancer name -> its security groups, described."""
    ec2 = client(url, "ec2")
    out: dict[str, list[str]] = {}
    for lb in client(url, "elb").describe_load_balancers()["LoadBalancerDescriptions"]:
        out[lb["LoadBalancerName"]] = lb.get("SecurityGroups", [])
    for lb in client(url, "elbv2").describe_load_balancers()["LoadBalancers"]:
        out[lb["LoadBalancerName"]] = lb.get("SecurityGroups", [])
    groups = {g["GroupId"]: g for g in ec2.describe_security_groups()["SecurityGroups"]}
    return {name: [groups[g] for g in ids] for name, ids in out.items()}


def admits(groups: list[dict[str, Any]], source: str, port: int = 80) -> bool:
    """Whether a request from ``source`` to ``port`` passes any of ``groups``."""
    ip = ipaddress.ip_address(source)
    for g in groups:
        for perm in g.get("IpPermissions", []):
            if perm.get("IpProtocol") not in ("tcp", "-1"):
                continue
            if perm.get("IpProtocol") == "tcp" and not perm["FromPort"] <= port <= perm["ToPort"]:
                continue
            cidrs = [r["CidrIp"] for r in perm.get("IpRanges", [])]
            cidrs += [r["CidrIpv6"] for r in perm.get("Ipv6Ranges", [])]
            if any(
                ip in ipaddress.ip_network(c)
                for c in cidrs
                if ip.version == ipaddress.ip_network(c).version
            ):
                return True
    return False


def roles(url: str) -> tuple[str, str]:
    """(live, staging) load balancer names, from the records."""
    live = {v for k, v in records(url, private=False).items() if k.startswith(("www.", "api."))}
    staging = set(records(url, private=True).values())
    assert len(live) == 1 and len(staging) == 1, (live, staging)
    names = {
        **{
            lb["DNSName"].lower(): lb["LoadBalancerName"]
            for lb in client(url, "elb").describe_load_balancers()["LoadBalancerDescriptions"]
        },
        **{
            lb["DNSName"].lower(): lb["LoadBalancerName"]
            for lb in client(url, "elbv2").describe_load_balancers()["LoadBalancers"]
        },
    }

    def name(dns: str) -> str:
        d = dns.lower().rstrip(".")
        return str(names[d[len("dualstack.") :] if d.startswith("dualstack.") else d])

    return name(live.pop()), name(staging.pop())


def reach(url: str) -> dict[str, tuple[bool, bool]]:
    """role -> (an outside client gets in, a staging-range client gets in)."""
    live, staging = roles(url)
    groups = balancer_groups(url)
    return {
        role: (admits(groups[lb], OUTSIDE), admits(groups[lb], INSIDE))
        for role, lb in (("live", live), ("staging", staging))
    }


OPEN_AND_LIMITED = {"live": (True, True), "staging": (False, True)}


@pytest.fixture
def limited(kind: str, aws: str, tmp_path: Path) -> dict[str, str]:
    """A site with staging_cidrs, images v1..v3 registered."""
    cfg = tmp_path / "bluegreen.toml"
    cfg.write_text(cfg.read_text() if cfg.exists() else "")
    cfg.write_text(cfg.read_text() + f'staging_cidrs = ["{RANGE}"]\n')
    r = run("init")
    assert r.code == 0, r.err
    return register_images(aws, "v1", "v2", "v3")


def test_init_limits_staging_and_keeps_live_open(
    kind: str, limited: dict[str, str], aws: str
) -> None:
    assert reach(aws) == OPEN_AND_LIMITED
    status = run("--output", "json", "status").json()
    assert status["staging_access"]["state"] == "restricted to staging_cidrs"
    again = run("--output", "json", "init").json()
    assert again["created"] == []  # already right


def test_switch_opens_before_and_restricts_only_after_the_drain(
    kind: str, limited: dict[str, str], aws: str
) -> None:
    clock = FakeClock()
    for args in (("deploy", "--version", "v1"), ("switch",), ("deploy", "--version", "v2")):
        assert run(*args, clock=clock).code == 0
    before = roles(aws)
    assert run("switch", clock=clock).code == 0
    assert roles(aws) == (before[1], before[0])
    # the old live balancer still takes everyone: its clients may not have left
    assert reach(aws) == {"live": (True, True), "staging": (True, True)}
    status = run("--output", "json", "status", clock=clock).json()
    assert "open to everyone since the switch" in status["staging_access"]["state"]
    # a deploy before the alias TTL and draining have passed leaves it open
    clock.advance(30)
    r = run("--output", "json", "deploy", "--version", "v3", "--replace", clock=clock)
    assert r.code == 0, r.err
    assert reach(aws)["staging"] == (True, True)
    clock.advance(60 + 30)
    assert run("clean", "--yes", clock=clock).code == 0
    assert reach(aws) == OPEN_AND_LIMITED


def test_clean_restricts_after_its_drain_wait(kind: str, limited: dict[str, str], aws: str) -> None:
    clock = FakeClock()
    for args in (*TWO_RELEASES,):
        assert run(*args, clock=clock).code == 0
    assert reach(aws)["staging"] == (True, True)
    started = clock.now()
    assert run("clean", "--yes", clock=clock).code == 0
    assert clock.now() - started >= 60  # it waited for the clients to leave
    assert reach(aws) == OPEN_AND_LIMITED


def test_rollback_opens_the_old_live_balancer_first(
    kind: str, limited: dict[str, str], aws: str
) -> None:
    clock = FakeClock()
    for args in (*TWO_RELEASES,):
        assert run(*args, clock=clock).code == 0
    clock.advance(3600)
    assert run("init", clock=clock).code == 0  # the drain has passed: init limits it
    assert reach(aws) == OPEN_AND_LIMITED
    assert run("rollback", clock=clock).code == 0
    assert reach(aws) == {"live": (True, True), "staging": (True, True)}


def test_switch_plan_opens_before_the_live_names_move(kind: str, limited: dict[str, str]) -> None:
    for args in (("deploy", "--version", "v1"), ("switch",), ("deploy", "--version", "v2")):
        assert run(*args).code == 0
    steps = run("--output", "json", "switch", "--dry-run").json()["steps"]
    opened = next(i for i, s in enumerate(steps) if s.startswith("open "))
    moved = next(i for i, s in enumerate(steps) if s.startswith("point www."))
    assert opened < moved, steps


@pytest.mark.parametrize(
    "value",
    ["203.0.113.0/33", "nonsense", "0.0.0.0/0", "::/0", "203.0.113.1/24"],
)
def test_a_bad_range_is_refused_and_changes_nothing(
    value: str, aws: str, tmp_path: Path, unchanged: Callable[..., AbstractContextManager[None]]
) -> None:
    assert run("init").code == 0
    with unchanged():
        r = run("init", "--staging-cidr", value)
        assert r.code == 2, r.err
        assert "staging_cidrs" in r.err
    (tmp_path / "bluegreen.toml").write_text(f'staging_cidrs = ["{value}"]\n')
    with unchanged():
        r = run("deploy", "--version", "v1")
        assert r.code == 2, r.err


def test_lifting_the_ranges_opens_staging_again(
    kind: str, limited: dict[str, str], aws: str, tmp_path: Path
) -> None:
    cfg = tmp_path / "bluegreen.toml"
    cfg.write_text(cfg.read_text().replace(f'staging_cidrs = ["{RANGE}"]\n', ""))
    assert run("init").code == 0
    assert reach(aws) == {"live": (True, True), "staging": (True, True)}


def test_setting_ranges_on_an_existing_site_never_closes_live(
    kind: str, aws: str, tmp_path: Path
) -> None:
    register_images(aws, "v1")
    assert run("init").code == 0
    for args in (("deploy", "--version", "v1"), ("switch",)):
        assert run(*args).code == 0
    assert run("init", "--staging-cidr", RANGE).code == 0
    assert reach(aws) == OPEN_AND_LIMITED


def test_setting_ranges_right_after_a_switch_keeps_staging_reachable(
    kind: str, aws: str, tmp_path: Path
) -> None:
    """The ranges are set while clients of the last switch may still use the
    old live balancer: it must keep admitting everyone (the site's own group
    stops admitting the web ports, so it gets the public group) until it may
    be limited, then is limited."""
    register_images(aws, "v1", "v2")
    clock = FakeClock()
    assert run("init", clock=clock).code == 0
    for args in (("deploy", "--version", "v1"), ("switch",), ("deploy", "--version", "v2")):
        assert run(*args, clock=clock).code == 0
    assert run("switch", clock=clock).code == 0
    clock.advance(30)
    assert run("init", "--staging-cidr", RANGE, clock=clock).code == 0
    assert reach(aws) == {"live": (True, True), "staging": (True, True)}
    clock.advance(60 + 300)
    assert run("init", "--staging-cidr", RANGE, clock=clock).code == 0
    assert reach(aws) == OPEN_AND_LIMITED


# -- one ALB (lb strategy) --------------------------------------------------------------
def _shared_rules(url: str) -> list[list[dict[str, Any]]]:
    v2 = client(url, "elbv2")
    lb = v2.describe_load_balancers()["LoadBalancers"][0]
    listeners = v2.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]
    assert listeners, "the ALB has no listener: nothing to check"
    return [v2.describe_rules(ListenerArn=ls["ListenerArn"])["Rules"] for ls in listeners]


def served(rules: list[dict[str, Any]], host: str, source: str) -> str:
    """What the listener does with a request: the first rule whose conditions
    all hold (host header, source address), else the default action."""
    import fnmatch

    ip = ipaddress.ip_address(source)
    for rule in sorted((r for r in rules if not r["IsDefault"]), key=lambda r: int(r["Priority"])):
        ok = True
        for c in rule["Conditions"]:
            if c["Field"] == "host-header":
                ok &= any(fnmatch.fnmatch(host, p) for p in c["HostHeaderConfig"]["Values"])
            elif c["Field"] == "source-ip":
                ok &= any(ip in ipaddress.ip_network(v) for v in c["SourceIpConfig"]["Values"])
        if ok:
            a = rule["Actions"][0]
            return a["Type"] if a["Type"] != "forward" else "staging"
    return "live"


def test_shared_alb_staging_rule_takes_only_the_ranges(aws: str, tmp_path: Path) -> None:
    """Both inits lose every write's first answer (AWS acted, the client
    retries): the rules' creates, changes and deletes each meet their own retry."""
    from chaos import Faults
    from init_chaos import WRITES

    lost = Faults(rate=0.0, lose_first_response=True, writes=WRITES)
    (tmp_path / "bluegreen.toml").write_text(
        f'load_balancer = "alb"\nstrategy = "lb"\nstaging_cidrs = ["{RANGE}"]\n'
    )
    assert run("init", hooks=[lost.hook()]).code == 0
    register_images(aws, "v1", "v2")
    for args in (*TWO_RELEASES,):
        assert run(*args).code == 0
    for rules in _shared_rules(aws):
        assert served(rules, "www-staging.londontamed.com", INSIDE) == "staging"
        assert served(rules, "www-staging.londontamed.com", OUTSIDE) == "fixed-response"
        assert served(rules, "www.londontamed.com", OUTSIDE) == "live"
    status = run("--output", "json", "status").json()
    assert status["staging_access"]["state"] == f"restricted to {RANGE}"
    # lifted: the condition goes, then the refusal
    (tmp_path / "bluegreen.toml").write_text('load_balancer = "alb"\nstrategy = "lb"\n')
    assert run("init", hooks=[lost.hook()]).code == 0
    for rules in _shared_rules(aws):
        assert served(rules, "www-staging.londontamed.com", OUTSIDE) == "staging"
        assert len([r for r in rules if not r["IsDefault"]]) == 1
    ops = {k.split(".")[-1] for k in lost.by_operation}
    assert {"CreateRule", "ModifyRule", "DeleteRule"} <= ops, ops


def test_shared_alb_staging_rule_deleted_by_hand_is_made_again(aws: str, tmp_path: Path) -> None:
    """The rule that sends the staging names to staging deleted by hand, the
    one refusing other sources left: init makes the staging rule again (the
    refusal rule is not taken for it)."""
    (tmp_path / "bluegreen.toml").write_text(
        f'load_balancer = "alb"\nstrategy = "lb"\nstaging_cidrs = ["{RANGE}"]\n'
    )
    assert run("init").code == 0
    v2 = client(aws, "elbv2")
    for rules in _shared_rules(aws):
        forwarding = [
            r for r in rules if not r["IsDefault"] and r["Actions"][0]["Type"] == "forward"
        ]
        assert len(forwarding) == 1, rules
        v2.delete_rule(RuleArn=forwarding[0]["RuleArn"])
    for rules in _shared_rules(aws):
        assert served(rules, "www-staging.londontamed.com", INSIDE) != "staging"
    r = run("--output", "json", "init")
    assert r.code == 0, r.err
    assert any("listener rule" in x for x in r.json()["created"]), r.json()
    for rules in _shared_rules(aws):
        assert served(rules, "www-staging.londontamed.com", INSIDE) == "staging"
        assert served(rules, "www-staging.londontamed.com", OUTSIDE) == "fixed-response"
        assert served(rules, "www.londontamed.com", OUTSIDE) == "live"


def test_shared_alb_takes_at_most_four_ranges(
    aws: str, tmp_path: Path, unchanged: Callable[..., AbstractContextManager[None]]
) -> None:
    (tmp_path / "bluegreen.toml").write_text('load_balancer = "alb"\nstrategy = "lb"\n')
    assert run("init").code == 0
    ranges = [a for i in range(5) for a in ("--staging-cidr", f"203.0.{i}.0/24")]
    with unchanged():
        r = run("init", *ranges)
        assert r.code == 2 and "at most 4" in r.err, r.err


def test_teardown_removes_the_staging_groups(kind: str, limited: dict[str, str], aws: str) -> None:
    assert run("deploy", "--version", "v1").code == 0
    assert run("teardown", "--yes").code == 0
    left = client(aws, "ec2").describe_security_groups()["SecurityGroups"]
    assert [g["GroupName"] for g in left if g["GroupName"] != "default"] == []


def test_weighted_shift_opens_before_the_first_weight(aws: str, tmp_path: Path) -> None:
    (tmp_path / "bluegreen.toml").write_text(
        f'strategy = "weighted"\ninterval = "0s"\nstaging_cidrs = ["{RANGE}"]\n'
    )
    assert run("init").code == 0
    register_images(aws, "v1", "v2")
    clock = FakeClock()
    for args in (("deploy", "--version", "v1"), ("switch",), ("deploy", "--version", "v2")):
        assert run(*args, clock=clock).code == 0
    assert run("init", clock=FakeClock(clock.now() + 3600)).code == 0
    assert reach(aws) == OPEN_AND_LIMITED
    # (the plan's "steps" field is the percentages here: read the printed plan)
    steps = [ln for ln in run("switch", "--dry-run").err.splitlines() if "would [" in ln]
    opened = next(i for i, s in enumerate(steps) if "] open " in s)
    weighted = next(i for i, s in enumerate(steps) if "% and " in s)
    assert opened < weighted, steps
    assert run("switch", clock=clock).code == 0
    assert reach(aws) == {"live": (True, True), "staging": (True, True)}
    # the shift marked the group it left: clean waits for it, then limits staging
    started = clock.now()
    assert run("clean", "--yes", clock=clock).code == 0
    assert clock.now() - started >= 60
    assert reach(aws) == OPEN_AND_LIMITED


def test_every_change_survives_its_lost_response(kind: str, aws: str) -> None:
    """Security groups created, rules revoked, balancers' groups replaced: each
    such call's response lost once after AWS acted; the commands still finish.
    (Only these calls: others' lost responses are tested in test_faults.)"""
    from chaos import Faults

    mine = {
        "CreateSecurityGroup",
        "AuthorizeSecurityGroupIngress",
        "RevokeSecurityGroupIngress",
        "ApplySecurityGroupsToLoadBalancer",
        "SetSecurityGroups",
    }
    lost = Faults(rate=0.0, lose_first_response=True)

    def hook(request: Any, event_name: str, **kw: Any) -> Any:
        if event_name.split(".")[-1] in mine:
            return lost._before_send(request=request, event_name=event_name, **kw)
        return None

    register_images(aws, "v1", "v2")
    assert run("init").code == 0
    clock = FakeClock()
    for args in (
        ("deploy", "--version", "v1"),
        ("switch",),
        ("init", "--staging-cidr", RANGE),
        ("deploy", "--version", "v2"),
        ("switch",),
        ("clean", "--yes"),
    ):
        r = run(*args, hooks=[("before-send", hook)], clock=clock)
        assert r.code == 0, (args, r.err)
    lost_ops = {k.split(".")[-1] for k in lost.by_operation}
    assert {"CreateSecurityGroup", "RevokeSecurityGroupIngress"} <= lost_ops, lost_ops
    assert lost_ops & {"ApplySecurityGroupsToLoadBalancer", "SetSecurityGroups"}, lost_ops
    assert reach(aws) == OPEN_AND_LIMITED
