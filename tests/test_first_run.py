"""A first run on a real AWS account, reproduced by the fidelity layer: AWS's
eventual consistency, a table that is CREATING, launches that fail, and EC2's
client tokens. Each test fails on code that trusts moto's instant, forgiving
answers."""

from __future__ import annotations

import dataclasses
import json

from bluegreen.emulator.fidelity.duplicates import ClientTokens
from bluegreen.plan.steps import client_token
from chaos import run_killed
from conftest import DOMAIN, client
from layered import Real, images


def slow(real: Real, **delays: float) -> None:
    """Make AWS slower than ``init``'s own waits (which already let tens of
    seconds pass: Route 53 INSYNC), so the next command meets the delay."""
    real.layer.timings = dataclasses.replace(real.layer.timings, **delays)


def init(real: Real) -> None:
    r = real.run("init")
    assert r.code == 0, r.err


def test_first_deploy_waits_out_instance_profile_propagation(real: Real) -> None:
    """AWS refuses a profile made seconds ago ("Invalid IamInstanceProfile"):
    the deploy says so and tries again until AWS knows it, then succeeds."""
    slow(real, profile_propagation=180.0)
    start = real.clock.now()
    init(real)
    images(real, "v1")
    r = real.run("deploy", "--version", "v1")
    assert r.code == 0, r.err
    assert "is not usable yet" in r.err
    assert real.clock.now() - start >= 180  # it waited, on the clock


def test_deploy_right_after_init_waits_for_the_table(real: Real) -> None:
    """The lock table is CREATING after CreateTable; using it then is answered
    ResourceNotFoundException. That is "not ready", not "missing"."""
    slow(real, table_creation=120.0)
    init(real)
    images(real, "v1", "v2")
    r = real.run("deploy", "--version", "v1")
    assert r.code == 0, r.err
    assert "does not exist" not in r.err
    # A table that is missing is still reported missing ...
    ddb = client(real.url, "dynamodb")
    made = ddb.describe_table(TableName="bluegreen")["Table"]  # the keys init chose
    ddb.delete_table(TableName="bluegreen")
    real.settle()
    r = real.run("switch")
    assert r.code == 3 and "does not exist" in r.err, r.err
    # ... and one made again (CREATING for a minute) is waited for.
    slow(real, table_creation=60.0)
    ddb.create_table(
        TableName="bluegreen",
        AttributeDefinitions=made["AttributeDefinitions"],
        KeySchema=made["KeySchema"],
        BillingMode="PAY_PER_REQUEST",
    )
    start = real.clock.now()
    r = real.run("switch")
    assert r.code == 0, r.err
    assert real.clock.now() - start >= 60


def test_launches_that_fail_end_the_deploy_within_two_polls(real: Real) -> None:
    """EC2 refuses the instance type, or the volume's KMS key: the group stays
    empty and only its scaling activities say why. The deploy reads them and
    stops at once with AWS's reason and what to do. A profile AWS never
    accepts ends the deploy after a bounded wait."""
    init(real)
    images(real, "v1")
    real.layer.faults.instance_types.add("c9.nope")
    start = real.clock.now()
    r = real.run("deploy", "--version", "v1", "--instance-type", "c9.nope")
    waited = real.clock.now() - start
    assert r.code == 5, r.err
    assert "cannot launch" in r.err
    assert "The requested configuration is currently not supported" in r.err
    assert "--instance-type" in r.err
    assert waited < 2 * 5.0 + 1, waited  # within two polls, not the 15-minute timeout
    assert real.run("clean", "--yes", "--force").code == 0

    key = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    real.layer.faults.kms_keys.add(key)
    r = real.run("--output", "json", "deploy", "--version", "v1", "--kms-key", key)
    assert r.code == 5, r.err
    doc = json.loads(r.out)
    assert "Client.InternalError: Client error on launch" in doc["message"]
    assert "AWSServiceRoleForAutoScaling" in doc["fix"] and "key policy" in doc["fix"]
    assert real.run("clean", "--yes", "--force").code == 0

    slow(real, profile_propagation=1e6)  # the profile init made is never accepted
    start = real.clock.now()
    r = real.run("deploy", "--version", "v1", "--launch-configuration")
    assert r.code == 5, r.err
    assert "still refuses instance profile" in r.err and "Invalid IamInstanceProfile" in r.err
    assert 300 <= real.clock.now() - start < 400


def test_a_template_made_again_is_a_new_request_to_ec2(real: Real) -> None:
    """deploy, clean (the template is deleted), deploy the same release again:
    its template has the same name and data. With a client token made from
    them alone EC2 would answer with the first, deleted, template."""
    init(real)
    images(real, "v1", "v2")
    for args in (("deploy", "--version", "v1"), ("switch",), ("deploy", "--version", "v2")):
        assert real.run(*args).code == 0
    assert real.run("clean", "--yes", "--force").code == 0
    r = real.run("deploy", "--version", "v2")
    assert r.code == 0, r.err
    real.settle()
    names = [
        t["LaunchTemplateName"]
        for t in client(real.url, "ec2").describe_launch_templates()["LaunchTemplates"]
    ]
    assert sum("v2" in n for n in names) == 1, names


def test_a_resumed_deploy_keeps_its_client_token(real: Real) -> None:
    """The nonce the tokens derive from is in the lock's intent: a deploy killed
    before it creates its launch template, re-run, takes over the lock and
    sends the token the killed one would have sent (a fresh deploy, another)."""
    init(real)
    images(real, "v1")
    # the child: killed just before CreateLaunchTemplate
    assert run_killed(
        ["--domain", DOMAIN, "deploy", "--version", "v1"], ("CreateLaunchTemplate", 1)
    )
    real.settle()
    item = client(real.url, "dynamodb").get_item(
        TableName="bluegreen", Key={"pk": {"S": f"site#{DOMAIN}"}, "sk": {"S": "lock"}}
    )["Item"]
    nonce = json.loads(item["intent"]["S"])["nonce"]
    r = real.run("--output", "json", "deploy", "--version", "v1")
    assert r.code == 0, r.err
    assert "taking over the lock" in r.err
    assert r.json()["nonce"] == nonce
    seen = next(b for b in real.layer.behaviours if isinstance(b, ClientTokens)).seen
    tokens = [t for (action, t) in seen if action == "CreateLaunchTemplate"]
    real.settle()
    ec2 = client(real.url, "ec2")
    (template,) = ec2.describe_launch_templates()["LaunchTemplates"]
    (version,) = ec2.describe_launch_template_versions(
        LaunchTemplateName=template["LaunchTemplateName"]
    )["LaunchTemplateVersions"]
    name, ami = version["LaunchTemplateName"], version["LaunchTemplateData"]["ImageId"]
    assert tokens == [client_token(name, ami, nonce)]
