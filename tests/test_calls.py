"""API call counts: deterministic, so they are tests (timings are not: they
live in bench/). Each figure is a ceiling that the benchmarks showed met;
raising one needs a reason in docs/PERFORMANCE.md."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import pytest

from conftest import DOMAIN, Hooks, client, run


class Calls:
    """Counts API calls by (service, operation) with a ``before-call`` hook."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()

    def hooks(self) -> Hooks:
        def on_call(event_name: str, **_: Any) -> None:
            service, op = event_name.split(".", 2)[1:]
            with self._lock:
                self.counts[(service, op)] += 1

        return [("before-call", on_call)]

    def __call__(self, service: str = "", prefix: str = "") -> int:
        return sum(
            n
            for (s, op), n in self.counts.items()
            if (not service or s == service) and op.startswith(prefix)
        )

    @property
    def reads(self) -> int:
        return sum(
            n
            for (s, op), n in self.counts.items()
            if s != "dynamodb" and op.startswith(("Describe", "List", "Get"))
        )


def counted(*args: str) -> Calls:
    calls = Calls()
    r = run(*args, hooks=calls.hooks())
    assert r.code == 0, r.err
    return calls


class Order:
    """The operations in the order they were sent (``before-send``: what the
    server receives, one per request, retries included)."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self._lock = threading.Lock()

    def hooks(self) -> Hooks:
        def on_send(event_name: str, **_: Any) -> None:
            with self._lock:
                self.sent.append(event_name.split(".", 2)[2])

        return [("before-send", on_send)]

    def before_first(self, operation: str) -> int:
        return self.sent.index(operation)


def test_status_calls(live_v1: dict[str, str]) -> None:
    calls = counted("status")
    # the target in docs/PERFORMANCE.md: at most 10 (the tenth: the site's launch
    # templates, read while observing, for what an interrupted command left)
    assert calls() == 10
    # one page per zone: the public zone's live names; the private zone's live
    # and staging names (one page: they sort next to each other)
    assert calls("route-53", "ListResourceRecordSets") == 2
    # reading the lock, and the history for "live since ... made live by ..."
    assert calls("dynamodb") == 2


# What a switch (rollback) sends before its first change of the live names:
# the lock, the zones, the private zone's page, both balancers, the health of
# the one taking the live names, the site's groups (sorted: some go in parallel).
BEFORE_TRAFFIC_MOVES = sorted(
    [
        "PutItem",
        "ListHostedZonesByName",
        "ListResourceRecordSets",
        "DescribeLoadBalancers",
        "DescribeInstanceHealth",
        "DescribeAutoScalingGroups",
    ]
)


@pytest.mark.parametrize("command", ["switch", "rollback"])
def test_traffic_moves_after_six_requests(both: dict[str, str], command: str) -> None:
    """The lock, the zones, the private zone's page, both balancers, the
    health of the one that takes the live names, the site's groups: then the
    public zone's change. The intent goes into the lock while it syncs."""
    order, calls = Order(), Calls()
    r = run(command, hooks=[*order.hooks(), *calls.hooks()])
    assert r.code == 0, r.err
    assert order.before_first("ChangeResourceRecordSets") == 6  # the target: at most 6
    assert sorted(order.sent[:6]) == BEFORE_TRAFFIC_MOVES
    # the lock before anything of the site's state is read: only the zones'
    # ids (configuration) are read while it is taken
    lock_at = order.sent.index("PutItem")
    assert set(order.sent[:lock_at]) <= {"ListHostedZonesByName"}
    assert order.sent.index("ListResourceRecordSets") > lock_at
    assert calls.reads == 7  # the target: at most 8 (5 before the change, 2 GetChange)
    assert calls("route-53", "ChangeResourceRecordSets") == 2
    assert calls("route-53", "GetChange") == 2
    # the tag that records when the old release left traffic, which clean's
    # drain wait reads (docs/SAFETY.md, "Draining")
    assert calls("auto-scaling", "CreateOrUpdateTags") == 1
    # lock, intent, and the release of the lock with the history record in one transaction
    assert calls("dynamodb") == 3 and calls("dynamodb", "TransactWriteItems") == 1
    assert calls() == 13


def test_deploy_and_clean_read_one_record_page_per_zone(live_v1: dict[str, str]) -> None:
    deploy = counted("deploy", "--version", "v2")
    assert deploy("route-53", "ListResourceRecordSets") == 2
    assert deploy("route-53", "Change") == 0
    clean = counted("clean", "--yes")
    assert clean("route-53", "ListResourceRecordSets") == 2


def test_launch_configuration_create_and_delete_do_not_look_first(
    live_v1: dict[str, str],
) -> None:
    """The configuration's create and delete take their own answers
    (AlreadyExists, ValidationError "not found") as done, as the launch
    template's and the group's do: no DescribeLaunchConfigurations before
    them, one read fewer in each command than with the look (13 and 10)."""
    deploy = counted("deploy", "--version", "v2", "--launch-configuration")
    assert deploy("auto-scaling", "DescribeLaunchConfigurations") == 0
    assert deploy("auto-scaling", "CreateLaunchConfiguration") == 1
    assert (deploy.reads, deploy()) == (12, 17)
    clean = counted("clean", "--yes")
    assert clean("auto-scaling", "DescribeLaunchConfigurations") == 0
    assert clean("auto-scaling", "DeleteLaunchConfiguration") == 1
    assert (clean.reads, clean()) == (9, 14)


def test_a_health_poll_costs_the_same_for_any_fleet(site: dict[str, str]) -> None:
    polls = []
    for n in (1, 6):
        calls = counted("deploy", "--version", "v1", "--capacity", str(n))
        polls.append(calls("elastic-load-balancing", "DescribeInstanceHealth"))
        polls.append(calls("auto-scaling", "DescribeAutoScalingGroups"))
        assert run("clean", "--yes").code == 0
    assert polls[:2] == polls[2:]


def test_records_far_apart_are_still_found(both: dict[str, str], aws: str) -> None:
    """Hundreds of records between api and www: the one-page read does not
    reach www, which is then looked up by name."""
    r53 = client(aws, "route53")
    zone = next(
        z["Id"]
        for z in r53.list_hosted_zones()["HostedZones"]
        if not z.get("Config", {}).get("PrivateZone")
    )
    changes = [
        {
            "Action": "CREATE",
            "ResourceRecordSet": {
                "Name": f"m{i:03d}.{DOMAIN}",
                "Type": "A",
                "TTL": 60,
                "ResourceRecords": [{"Value": "192.0.2.1"}],
            },
        }
        for i in range(320)
    ]
    r53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": changes})
    calls = counted("--output", "json", "status")
    assert calls("route-53", "ListResourceRecordSets") == 3  # the public page, then www by name
    r = run("--output", "json", "status")
    data = r.json()
    assert data["problems"] == []
    assert data["live"]["version"] == "v2"
    assert data["staging"]["version"] == "v1"
    switch = counted("switch")
    assert switch("route-53", "Change") == 2
    after = run("--output", "json", "status").json()
    assert (after["live"]["version"], after["staging"]["version"]) == ("v1", "v2")
    assert after["problems"] == []


def test_an_alb_site_moves_traffic_after_eight_requests_nine_when_not_configured(
    aws: str,
) -> None:
    """Application load balancers: their target groups' membership and health
    are one DescribeTargetHealth each, and the target groups a describe of
    their own: 8 requests before the public zone's change. With the kind not
    configured, one classic describe of the pair finds none first (not one
    per name)."""
    from conftest import register_images

    assert run("init", "--load-balancer", "alb").code == 0
    register_images(aws, "v1", "v2")
    for args in (("deploy", "--version", "v1"), ("switch",), ("deploy", "--version", "v2")):
        r = run(*args)
        assert r.code == 0, r.err
    for args, before in ((("switch",), 9), (("rollback", "--load-balancer", "alb"), 8)):
        order = Order()
        r = run(*args, hooks=order.hooks())
        assert r.code == 0, r.err
        sent = order.sent[: order.before_first("ChangeResourceRecordSets")]
        assert len(sent) == before, sent
        assert sent.count("DescribeTargetHealth") == 2
        assert sent.count("DescribeLoadBalancers") == before - 7  # elbv2's, and classic's probe
