"""Traffic moves: the private zone's live names (split-horizon DNS) move with
every switch, rollback and undo; Route 53's conditional change batches refuse
a concurrent writer instead of overwriting it; a private live name that
disagrees with the public one is a split, refused like any other."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import pytest

from conftest import DOMAIN, client, records, run
from test_drift import point  # a name's alias set by hand to a load balancer

Unchanged = Callable[..., contextlib.AbstractContextManager[None]]
LB1 = "londontamed-com-production-1"  # live in ``both``
LB2 = "londontamed-com-production-2"  # staging in ``both``
LIVE = [f"www.{DOMAIN}.", f"api.{DOMAIN}."]
STAGING = [f"www-staging.{DOMAIN}.", f"api-staging.{DOMAIN}."]


def zone_id(aws: str, private: bool) -> str:
    r53 = client(aws, "route53")
    return str(
        next(
            z["Id"]
            for z in r53.list_hosted_zones()["HostedZones"]
            if z["Config"]["PrivateZone"] == private
        )
    )


def alias(aws: str, lb: str) -> dict[str, Any]:
    dns = client(aws, "elb").describe_load_balancers(LoadBalancerNames=[lb])[
        "LoadBalancerDescriptions"
    ][0]["DNSName"]
    return {
        "HostedZoneId": "Z35SXDOTRQ7X7K",
        "DNSName": "dualstack." + dns,
        "EvaluateTargetHealth": True,
    }


def points(aws: str, lb: str) -> bool:
    """Every live name, in both zones, at ``lb``; every staging name at the other."""
    pub, live = records(aws, private=False), records(aws, private=True, live=True)
    staging = records(aws, private=True)
    other = LB2 if lb == LB1 else LB1
    return (
        sorted(pub) == sorted(live) == sorted(LIVE)
        and sorted(staging) == sorted(STAGING)
        and all(lb in t for t in (*pub.values(), *live.values()))
        and all(other in t for t in staging.values())
    )


def test_private_live_names_follow_every_move(both: dict[str, str], aws: str) -> None:
    assert points(aws, LB1)
    assert run("rollback").code == 0
    assert points(aws, LB2)
    assert run("switch").code == 0
    assert points(aws, LB1)
    # a check that fails after the switch: the undo moves both zones back
    r = run("switch", "--check", 'test "$BLUEGREEN_PHASE" = before-switch')
    assert r.code == 7, r.err
    assert points(aws, LB1)


def test_a_switch_creates_private_live_names_that_are_missing(
    both: dict[str, str], aws: str
) -> None:
    """A site set up before the private zone held the live names."""
    r53 = client(aws, "route53")
    priv = zone_id(aws, True)
    found = r53.list_resource_record_sets(HostedZoneId=priv)["ResourceRecordSets"]
    mine = [r for r in found if r["Name"] in LIVE]
    assert len(mine) == 2
    r53.change_resource_record_sets(
        HostedZoneId=priv,
        ChangeBatch={"Changes": [{"Action": "DELETE", "ResourceRecordSet": r} for r in mine]},
    )
    assert run("--output", "json", "status").json()["problems"] == []
    assert run("switch").code == 0
    assert points(aws, LB2)


def test_private_live_names_elsewhere_are_a_split(
    both: dict[str, str], aws: str, unchanged: Unchanged
) -> None:
    point(aws, True, [f"www.{DOMAIN}."], LB2)
    problems = run("--output", "json", "status").json()["problems"]
    assert any("split between the public and the private zone" in p for p in problems)
    with unchanged():
        for args in (("switch",), ("rollback",), ("deploy", "--version", "v3", "--replace")):
            r = run(*args)
            assert r.code == 3, (args, r.err)
            assert "cannot tell which environment is live" in r.err, r.err


@pytest.mark.parametrize("writer", ["moves www", "deletes api"])
def test_a_concurrent_writer_is_refused_not_overwritten(
    both: dict[str, str], aws: str, writer: str
) -> None:
    """Another writer changes the public zone after the switch observed it and
    before its change batch arrives: Route 53 refuses the batch (the DELETE of
    the observed record no longer matches), nothing is overwritten."""
    r53 = client(aws, "route53")
    pub = zone_id(aws, False)

    def other_writer(**_: Any) -> None:
        if done:
            return
        done.append(1)
        if writer == "moves www":
            point(aws, False, [f"www.{DOMAIN}."], LB2)
        else:
            api = next(
                r
                for r in r53.list_resource_record_sets(HostedZoneId=pub)["ResourceRecordSets"]
                if r["Name"] == f"api.{DOMAIN}."
            )
            r53.change_resource_record_sets(
                HostedZoneId=pub,
                ChangeBatch={"Changes": [{"Action": "DELETE", "ResourceRecordSet": api}]},
            )

    done: list[int] = []
    private_before = (records(aws, True), records(aws, True, live=True))
    r = run("switch", hooks=[("before-send.route53.ChangeResourceRecordSets", other_writer)])
    assert r.code == 3, r.err
    # refused, with what is wrong now (the whole site is read after the refusal)
    said = "cannot tell which environment is live" if writer == "moves www" else "api.londontamed"
    assert said in r.err, r.err
    after = records(aws, private=False)
    if writer == "moves www":  # the other writer's record stands
        assert LB2 in after[f"www.{DOMAIN}."] and LB1 in after[f"api.{DOMAIN}."]
    else:
        assert list(after) == [f"www.{DOMAIN}."] and LB1 in after[f"www.{DOMAIN}."]
    assert (records(aws, True), records(aws, True, live=True)) == private_before
    assert run("status").code == 0


def test_the_emulator_refuses_a_delete_of_other_values(both: dict[str, str], aws: str) -> None:
    """The suite's emulator applies change batches as AWS does
    (bluegreen.emulator.server.route53_as_aws); moto alone would delete the record."""
    r53 = client(aws, "route53")
    change = {
        "Action": "DELETE",
        "ResourceRecordSet": {
            "Name": f"www.{DOMAIN}.",
            "Type": "A",
            "AliasTarget": alias(aws, LB2),
        },
    }
    with pytest.raises(r53.exceptions.InvalidChangeBatch):
        r53.change_resource_record_sets(
            HostedZoneId=zone_id(aws, False), ChangeBatch={"Changes": [change]}
        )
    assert LB1 in records(aws, private=False)[f"www.{DOMAIN}."]


def test_a_change_whose_response_was_lost_is_still_waited_for(
    both: dict[str, str], aws: str
) -> None:
    """Route 53 applied the batch but its answer was lost: the retry is refused
    (the records are already so), and the change may still be PENDING. The
    switch must not go on (out-of-traffic mark, checks) before it is INSYNC:
    it waits on an UPSERT of the same records."""
    from botocore.exceptions import ReadTimeoutError

    from chaos import _forward

    sent: list[str] = []

    def lose_first(request: Any, **_: Any) -> None:
        body = request.body.decode() if isinstance(request.body, bytes) else str(request.body)
        first = b"attempt=1;" in (request.headers.get("amz-sdk-request") or b"")
        sent.append(
            ("UPSERT " if "<Action>UPSERT" in body else "") + ("first" if first else "retry")
        )
        if first and "<Action>UPSERT" not in body:
            _forward(request)  # Route 53 acts; the client hears nothing
            raise ReadTimeoutError(endpoint_url=request.url)

    polls: list[str] = []
    r = run(
        "switch",
        hooks=[
            ("before-send.route53.ChangeResourceRecordSets", lose_first),
            ("before-call.route53.GetChange", lambda **_: polls.append("GetChange")),
        ],
    )
    assert r.code == 0, r.err
    assert points(aws, LB2)
    # both zones: the lost first attempt, the refused retry, then an UPSERT waited on
    assert sent.count("first") == 2 and sent.count("UPSERT first") == 2, sent
    assert len(polls) >= 2, polls
