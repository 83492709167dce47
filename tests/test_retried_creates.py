"""init's creates meeting their own earlier success (a response lost on the
way, then a retry) or what an interrupted run left behind: each converges,
or is refused with what was found and nothing changed. Lost responses are
injected with a botocore ``before-send`` hook; nothing is patched."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bluegreen.aws.base import Hook
from chaos import _forward
from conftest import client, run
from layered import Real


def lose(operation: str, *, body: str = "", times: int = 1) -> tuple[Hook, list[str]]:
    """A hook that lets the first ``times`` requests of ``operation`` (whose
    body matches the pattern ``body``) reach the server and then loses their
    responses."""
    from botocore.exceptions import ReadTimeoutError

    lost: list[str] = []
    mutex = threading.Lock()

    def before_send(request: Any, event_name: str, **_: Any) -> None:
        if event_name.split(".")[-1] != operation:
            return
        text = request.body.decode() if isinstance(request.body, bytes) else str(request.body)
        with mutex:
            if not re.search(body, text) or len(lost) >= times:
                return
            lost.append(text)
        _forward(request)
        raise ReadTimeoutError(endpoint_url=request.url)

    return ("before-send", before_send), lost


def answer_with(operation: str, edit: Callable[[dict[str, Any]], None]) -> Hook:
    """An ``after-call`` hook editing the parsed response of ``operation``."""

    def after_call(parsed: dict[str, Any], **_: Any) -> None:
        edit(parsed)

    return (f"after-call.{operation}", after_call)


# -- hosted zones: a caller reference is never accepted again ---------------------------
def _delete_zones(real: Real) -> None:
    """What a teardown that stopped before deleting the VPC left: no zones."""
    r53 = client(real.url, "route53")
    real.settle()
    for z in r53.list_hosted_zones()["HostedZones"]:
        real.settle()
        sets = r53.list_resource_record_sets(HostedZoneId=z["Id"])["ResourceRecordSets"]
        changes = [
            {"Action": "DELETE", "ResourceRecordSet": rr}
            for rr in sets
            if rr["Type"] not in ("SOA", "NS")
        ]
        if changes:
            r53.change_resource_record_sets(
                HostedZoneId=z["Id"], ChangeBatch={"Changes": changes}
            )
        r53.delete_hosted_zone(Id=z["Id"])


def _zones(url: str) -> list[tuple[str, bool]]:
    return sorted(
        (z["Name"], bool(z["Config"].get("PrivateZone")))
        for z in client(url, "route53").list_hosted_zones()["HostedZones"]
    )


def test_zones_deleted_while_the_vpc_stayed_are_made_again(real: Real) -> None:
    assert real.run("init").code == 0
    _delete_zones(real)
    real.settle()
    # the creates with fresh references lose their responses: found, not made twice
    hook, lost = lose("CreateHostedZone", body=r"-[0-9a-f]{32}</CallerReference>", times=2)
    r = real.run("init", hooks=[hook])
    assert r.code == 0, r.err
    assert len(lost) == 2
    want = [("londontamed.com.", False), ("londontamed.com.", True)]
    real.settle()
    assert _zones(real.url) == want
    real.settle()
    again = real.run("--output", "json", "init")
    assert again.code == 0, again.err
    real.settle()
    assert again.json()["created"] == [] and _zones(real.url) == want


# -- the key pair: AWS hands out the private key once ------------------------------------
KEY = "londontamed-com-production"


def _pairs(url: str) -> list[dict[str, Any]]:
    return list(client(url, "ec2").describe_key_pairs()["KeyPairs"])


def test_key_pair_whose_response_was_lost_is_made_again(aws: str, tmp_path: Path) -> None:
    hook, lost = lose("CreateKeyPair")
    r = run("--output", "json", "init", "--key-pair", hooks=[hook])
    assert r.code == 0, r.err
    assert lost
    (pair,) = _pairs(aws)
    pem = tmp_path / f"{KEY}.pem"
    assert pem.read_text().startswith("-----BEGIN")
    assert r.json()["key_file"] == str(pem.resolve())


def test_key_pair_without_its_key_file_is_made_again(aws: str, tmp_path: Path) -> None:
    assert run("init", "--key-pair").code == 0
    (before,) = _pairs(aws)
    pem = tmp_path / f"{KEY}.pem"
    pem.unlink()  # a run killed between CreateKeyPair and writing the file
    r = run("--output", "json", "init", "--key-pair")
    assert r.code == 0, r.err
    assert f"key pair {KEY}: private key file missing" in r.json()["repaired"]
    (after,) = _pairs(aws)
    assert after["KeyPairId"] != before["KeyPairId"]
    assert pem.read_text().startswith("-----BEGIN")
    again = run("--output", "json", "init", "--key-pair")
    assert again.json()["repaired"] == [] and f"key pair {KEY}" in again.json()["unchanged"]


def test_a_key_pair_not_of_the_site_is_left_alone(aws: str) -> None:
    ec2 = client(aws, "ec2")
    ec2.create_key_pair(KeyName=KEY)  # someone else's, no file here
    r = run("--output", "json", "init", "--key-pair")
    assert r.code == 0, r.err
    assert f"key pair {KEY}" in r.json()["unchanged"]
    (pair,) = _pairs(aws)
    assert not pair.get("Tags")
