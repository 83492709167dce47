"""Secure defaults, asserted on what the emulator holds after init and deploy;
and nothing secret in the output or logs, at any verbosity (canary values)."""

from __future__ import annotations

import base64
import contextlib
import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bluegreen.secrets import REDACTED, redact, scan_user_data
from conftest import client, run

Unchanged = Callable[..., contextlib.AbstractContextManager[None]]
ADMIN_PORTS = (22, 3389)


# -- no SSH or RDP from the internet ------------------------------------------------
@pytest.mark.parametrize(
    "cidrs",
    [
        ["0.0.0.0/0"],
        ["::/0"],
        ["0.0.0.0/1", "128.0.0.0/1"],  # the whole internet in two halves
        ["10.0.0.0/7"],
        ["2000::/3"],
        ["203.0.113.0/24", "::/1"],
    ],
)
def test_admin_ranges_open_to_the_internet_are_refused(
    aws: str, unchanged: Unchanged, cidrs: list[str]
) -> None:
    args = [a for c in cidrs for a in ("--admin-cidr", c)]
    with unchanged():
        r = run("init", *args)
    assert r.code == 2, r.err
    assert "SSH and RDP" in r.err
    assert "Session Manager" in r.err


def test_admin_range_in_the_config_file_is_refused_too(aws: str, tmp_path: Path) -> None:
    (tmp_path / "bluegreen.toml").write_text('admin_cidrs = ["::/0"]\n')
    r = run("init")
    assert r.code == 2
    assert "bluegreen.toml" in r.err


def test_narrow_admin_ranges_are_accepted(aws: str) -> None:
    r = run("init", "--admin-cidr", "10.0.0.0/8", "--admin-cidr", "2001:db8::/32")
    assert r.code == 0, r.err
    for perm in security_group(aws)["IpPermissions"]:
        if perm.get("FromPort") in ADMIN_PORTS:
            assert [x["CidrIp"] for x in perm["IpRanges"]] == ["10.0.0.0/8"]
            assert [x["CidrIpv6"] for x in perm["Ipv6Ranges"]] == ["2001:db8::/32"]


def security_group(url: str) -> dict[str, Any]:
    groups = client(url, "ec2").describe_security_groups(
        Filters=[{"Name": "group-name", "Values": ["londontamed-com-production"]}]
    )["SecurityGroups"]
    assert len(groups) == 1
    g: dict[str, Any] = groups[0]
    return g


def template_data(url: str) -> dict[str, Any]:
    ec2 = client(url, "ec2")
    (lt,) = ec2.describe_launch_templates()["LaunchTemplates"]
    versions = ec2.describe_launch_template_versions(LaunchTemplateId=lt["LaunchTemplateId"])
    data: dict[str, Any] = versions["LaunchTemplateVersions"][0]["LaunchTemplateData"]
    return data


def covers(perm: dict[str, Any], port: int) -> bool:
    if perm.get("IpProtocol") == "-1":
        return True
    lo, hi = int(perm.get("FromPort", 0)), int(perm.get("ToPort", 65535))
    return lo <= port <= hi


# -- what init and deploy leave behind -------------------------------------------------
def test_defaults_after_init_and_deploy(site: dict[str, str], aws: str) -> None:
    r = run("deploy", "--version", "v1")
    assert r.code == 0, r.err
    # no SSH or RDP at all without --admin-cidr, never from anywhere
    for perm in security_group(aws)["IpPermissions"]:
        if any(covers(perm, p) for p in ADMIN_PORTS):
            raise AssertionError(f"admin port open: {perm}")
        world_v4 = [x for x in perm.get("IpRanges", []) if x["CidrIp"] == "0.0.0.0/0"]
        world_v6 = [x for x in perm.get("Ipv6Ranges", []) if x["CidrIpv6"] == "::/0"]
        if world_v4 or world_v6:
            assert perm["FromPort"] in (80, 443), perm
    # no key pair, and none in the launch template
    assert client(aws, "ec2").describe_key_pairs()["KeyPairs"] == []
    data = template_data(aws)
    assert "KeyName" not in data
    # IMDSv2 only, one hop; the root volume encrypted
    assert data["MetadataOptions"]["HttpTokens"] == "required"
    assert data["MetadataOptions"]["HttpPutResponseHopLimit"] == 1
    (root,) = data["BlockDeviceMappings"]
    assert root["Ebs"]["Encrypted"] is True
    assert "KmsKeyId" not in root["Ebs"]
    # the instance role: no wildcard action, no managed policy, Session Manager
    iam = client(aws, "iam")
    role = "londontamed-com-webserver"
    assert iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"] == []
    names = iam.list_role_policies(RoleName=role)["PolicyNames"]
    assert names
    actions: list[str] = []
    for name in names:
        doc = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
        doc = json.loads(doc) if isinstance(doc, str) else doc
        for st in doc["Statement"]:
            assert st["Effect"] == "Allow"
            assert "NotAction" not in st
            a = st["Action"]
            actions += [a] if isinstance(a, str) else a
    assert actions and not [a for a in actions if "*" in a]
    assert "ssm:UpdateInstanceInformation" in actions
    assert "ssmmessages:OpenDataChannel" in actions
    profile = iam.get_instance_profile(InstanceProfileName=role)["InstanceProfile"]
    assert [r["RoleName"] for r in profile["Roles"]] == [role]


def test_kms_key_for_the_root_volume(site: dict[str, str], aws: str) -> None:
    key = "arn:aws:kms:us-east-1:123456789012:key/0f3c7d2e-1111-4222-8333-944455556666"
    r = run("deploy", "--version", "v1", "--kms-key", key)
    assert r.code == 0, r.err
    (root,) = template_data(aws)["BlockDeviceMappings"]
    assert root["Ebs"]["Encrypted"] is True
    assert root["Ebs"]["KmsKeyId"] == key


def test_bad_kms_key_and_kms_key_with_launch_configuration_are_refused(
    site: dict[str, str], unchanged: Unchanged
) -> None:
    with unchanged():
        r = run("deploy", "--version", "v1", "--kms-key", "my key")
        assert r.code == 2
        r = run("deploy", "--version", "v1", "--kms-key", "alias/web", "--launch-configuration")
        assert r.code == 2
        assert "launch configuration cannot name a KMS key" in r.err


def test_launch_configuration_requires_imdsv2_and_encrypts(site: dict[str, str], aws: str) -> None:
    r = run("deploy", "--version", "v1", "--launch-configuration")
    assert r.code == 0, r.err
    (lc,) = client(aws, "autoscaling").describe_launch_configurations()["LaunchConfigurations"]
    assert lc["MetadataOptions"]["HttpTokens"] == "required"
    assert lc["MetadataOptions"]["HttpPutResponseHopLimit"] == 1
    assert not lc.get("KeyName")
    (root,) = lc["BlockDeviceMappings"]
    assert root["Ebs"]["Encrypted"] is True


def test_key_pair_only_when_asked(aws: str) -> None:
    r = run("init", "--key-pair")
    assert r.code == 0, r.err
    pairs = client(aws, "ec2").describe_key_pairs()["KeyPairs"]
    assert [p["KeyName"] for p in pairs] == ["londontamed-com-production"]


# -- user data that holds a secret is refused -----------------------------------------------
SECRETS = {
    "access key id": "export AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE\n",
    "session key id": "aws configure set aws_access_key_id ASIAIOSFODNN7EXAMPLE\n",
    "private key": "-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn\n",
    "password": "echo 'db_password=hunter2hunter2' >> /etc/app.env\n",
    "secret": 'SECRET="s3cr3t-value"\n',
    "json secret": '{"client_secret": "abc123"}\n',
}


@pytest.mark.parametrize("kind", sorted(SECRETS))
def test_user_data_with_a_secret_is_refused(
    site: dict[str, str], unchanged: Unchanged, tmp_path: Path, kind: str
) -> None:
    script = tmp_path / "boot.sh"
    script.write_text("#!/bin/sh\nset -e\n" + SECRETS[kind])
    with unchanged():
        r = run("deploy", "--version", "v1", "--user-data", str(script))
    assert r.code == 2, r.err
    assert "looks like it holds a secret" in r.err
    assert "line 3" in r.err
    assert "SSM Parameter Store" in r.err and "Secrets Manager" in r.err
    for word in ("AKIAIOSFODNN7EXAMPLE", "b3Blbn", "hunter2", "s3cr3t", "abc123"):
        assert word not in r.err + r.out


def test_user_data_in_the_config_file_is_scanned_too(site: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "bluegreen.toml").write_text(
        'user_data = """\n#!/bin/sh\npassword=letmein123\n"""\n'
    )
    r = run("deploy", "--version", "v1")
    assert r.code == 2
    assert "letmein123" not in r.err


def test_user_data_that_fetches_its_secrets_is_accepted(
    site: dict[str, str], aws: str, tmp_path: Path
) -> None:
    script = (
        "#!/bin/sh\n"
        "TOKEN=$(curl -s -X PUT http://169.254.169.254/latest/api/token "
        '-H "X-aws-ec2-metadata-token-ttl-seconds: 300")\n'
        "DB_PASSWORD=$(aws ssm get-parameter --with-decryption "
        "--name /bluegreen/londontamed.com/db-password --query Parameter.Value --output text)\n"
        'password: "${DB_PASSWORD}"\n'
        "echo started\n"
    )
    (tmp_path / "boot.sh").write_text(script)
    r = run("deploy", "--version", "v1", "--user-data", str(tmp_path / "boot.sh"))
    assert r.code == 0, r.err
    data = template_data(aws)
    assert base64.b64decode(data["UserData"]).decode() == script


def test_scan_user_data_limits() -> None:
    assert scan_user_data("#!/bin/sh\necho hi\n") == "#!/bin/sh\necho hi\n"
    with pytest.raises(Exception, match="at most"):
        scan_user_data("x" * (16 * 1024 + 1))


# -- nothing secret in output or logs -----------------------------------------------------------
CANARY_KEY = "AKIACANARY0123456789"
CANARY_SECRET = "canary-secret-Zq8vT3mW1xY5bN7cD9fG2hJ4kL6pR0sU"
CANARY_TOKEN = "canary-session-token-IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3Qt"
CANARY_USER_DATA = "#!/bin/sh\necho canary-user-data-7f3e9a1c2b > /tmp/marker\n"


@contextlib.contextmanager
def root_records() -> Iterator[list[logging.LogRecord]]:
    """Every record that reaches the root logger (a library user's handler)."""
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Keep(logging.DEBUG)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield records
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def leaks(text: str) -> list[str]:
    b64 = base64.b64encode(CANARY_USER_DATA.encode()).decode()
    canaries = [CANARY_KEY, CANARY_SECRET, CANARY_TOKEN, "canary-user-data-7f3e9a1c2b", b64]
    canaries += ["BEGIN RSA PRIVATE KEY", "PRIVATE KEY-----"]
    return [c for c in canaries if c in text]


def test_no_credential_token_user_data_or_key_in_any_output(
    aws: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # the emulator does not check credentials: sign with the canaries
    monkeypatch.setenv("BLUEGREEN_ENDPOINT_CREDENTIALS", "1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", CANARY_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", CANARY_SECRET)
    monkeypatch.setenv("AWS_SESSION_TOKEN", CANARY_TOKEN)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    (tmp_path / "boot.sh").write_text(CANARY_USER_DATA)
    from conftest import register_images

    register_images(aws, "v1", "v2")
    said = []
    with root_records() as records:
        for verbosity in (["--verbose"], [], ["--quiet"]):
            for output in (["--output", "json"], []):
                for args in (
                    ("init", "--key-pair"),
                    ("deploy", "--version", "v1", "--user-data", "boot.sh"),
                    ("switch",),
                    ("deploy", "--version", "v2", "--user-data", "boot.sh"),
                    ("--strategy", "nope", "status"),  # an error
                    ("status",),
                    ("history",),
                    ("iam-policy",),
                ):
                    r = run(*verbosity, *output, *args)
                    said.append(r.out + r.err)
                    if verbosity:
                        break  # the rest once, verbose, is enough
    everything = "\n".join(said)
    # the debug log was on, and used the canaries
    assert "botocore" in everything and "Authorization" in everything
    assert REDACTED in everything
    assert leaks(everything) == []
    # no unredacted record reached other handlers either
    assert leaks("\n".join(r.getMessage() for r in records)) == []
    key_file = tmp_path / "londontamed-com-production.pem"
    assert "PRIVATE KEY" in key_file.read_text()  # the key went to its file only
    # and the history holds no user data
    assert leaks(run("--output", "json", "history").out) == []


def test_redact() -> None:
    lines = [
        "Authorization: AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20260101/us-east-1/ec2"
        "/aws4_request, SignedHeaders=host;x-amz-date, Signature=0a1b2c3d4e5f",
        "headers={'X-Amz-Security-Token': b'FwoGZXIvYXdzEJr//////////', 'User-Agent': b'x'}",
        "params: {'LaunchTemplateData': {'UserData': 'IyEvYmluL3No', 'ImageId': 'ami-1'}}",
        "body=b'Action=CreateLaunchConfiguration&UserData=IyEvYmluL3No&ImageId=ami-1'",
        "<keyMaterial>-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----</keyMaterial>",
        "{'SessionToken': \"it's a token\", 'SecretAccessKey': 'wJalrXUtnFEMI'}",
    ]
    out = redact("\n".join(lines))
    for secret in (
        "AKIAIOSFODNN7EXAMPLE",
        "0a1b2c3d4e5f",
        "FwoGZXIvYXdzEJr",
        "IyEvYmluL3No",
        "MIIE",
        "it's a token",
        "wJalrXUtnFEMI",
    ):
        assert secret not in out, secret
    assert "ami-1" in out and "SignedHeaders=host;x-amz-date" in out
