"""The web servers' identity: the IAM role (EC2 trust policy, one inline
policy: Session Manager, their own logs, parameters and secrets), the
instance profile holding that role, and, when asked, the EC2 key pair."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from bluegreen.aws.ec2 import has_tags
from bluegreen.aws.iam import EC2_TRUST
from bluegreen.site.outcome import Ctx

LOG_GROUP = "/bluegreen/{domain}"
POLICY_NAME = "webserver"


def instance_policy(names: Any, region: str) -> dict[str, Any]:
    """What a web server needs: Session Manager (instead of SSH), its own logs,
    and its own parameters and secrets (instead of secrets in user data).

    No wildcard action, no managed full-access policy."""
    log_group = LOG_GROUP.format(domain=names.domain)
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "SessionManager",
                "Effect": "Allow",
                "Action": [
                    "ssm:UpdateInstanceInformation",
                    "ssmmessages:CreateControlChannel",
                    "ssmmessages:CreateDataChannel",
                    "ssmmessages:OpenControlChannel",
                    "ssmmessages:OpenDataChannel",
                    "ec2messages:AcknowledgeMessage",
                    "ec2messages:DeleteMessage",
                    "ec2messages:FailMessage",
                    "ec2messages:GetEndpoint",
                    "ec2messages:GetMessages",
                    "ec2messages:SendReply",
                ],
                "Resource": "*",
            },
            {
                # the way to give a server a secret: SecureString parameters
                # under /bluegreen/DOMAIN/ (the aws/ssm key needs no grant) or
                # secrets under bluegreen/DOMAIN/, read at boot; never user data
                "Sid": "OwnParametersAndSecrets",
                "Effect": "Allow",
                "Action": [
                    "ssm:GetParameter",
                    "ssm:GetParameters",
                    "ssm:GetParametersByPath",
                    "secretsmanager:GetSecretValue",
                ],
                "Resource": [
                    f"arn:aws:ssm:{region}:*:parameter/bluegreen/{names.domain}/*",
                    f"arn:aws:secretsmanager:{region}:*:secret:bluegreen/{names.domain}/*",
                ],
            },
            {
                "Sid": "OwnLogs",
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                "Resource": f"arn:aws:logs:{region}:*:log-group:{log_group}:*",
            },
        ],
    }


def _document(doc: Any) -> Any:
    """A policy document as IAM returns it (a dict, or URL-encoded JSON text)."""
    if isinstance(doc, str):
        from urllib.parse import unquote

        doc = json.loads(unquote(doc))
    return json.loads(json.dumps(doc, sort_keys=True))


def reconcile(c: Ctx) -> None:
    gw, n = c.gw, c.n
    what = f"IAM role {n.role} (Session Manager, own logs, parameters and secrets only)"
    policy = instance_policy(n, gw.region)
    role = gw.role(n.role)
    new = role is None
    if role is None:
        c.rec.create(what, lambda: gw.create_role(n.role, c.tags))
        if c.rec.dry_run:
            _profile(c)
            return
    diffs: list[str] = []
    fixes: list[Any] = []
    if role is not None and _document(role.get("AssumeRolePolicyDocument")) != _document(EC2_TRUST):
        diffs.append("its trust policy was not EC2's")
        fixes.append(lambda: gw.set_trust_policy(n.role))
    have = gw.inline_policy(n.role, POLICY_NAME) if role is not None else None
    if have is None or _document(have) != _document(policy):
        diffs.append(
            f"inline policy {POLICY_NAME} was missing"
            if have is None
            else f"inline policy {POLICY_NAME} differed"
        )
        fixes.append(lambda: gw.put_role_policy(n.role, POLICY_NAME, policy))
    c.rec.check(what, diffs, lambda: [f() for f in fixes], new=new)
    _profile(c)


def _profile(c: Ctx) -> None:
    gw, n = c.gw, c.n
    what = f"instance profile {n.instance_profile} (role {n.role})"
    profile = gw.instance_profile(n.instance_profile)
    new = profile is None
    if profile is None:
        c.rec.create(what, lambda: gw.create_instance_profile(n.instance_profile, c.tags))
        if c.rec.dry_run:
            return
        profile = {"Roles": []}
    roles = [r["RoleName"] for r in profile.get("Roles", [])]
    diffs: list[str] = []
    fixes: list[Any] = []
    for other in roles:
        if other != n.role:
            diffs.append(f"it held role {other}")
            fixes.append(lambda other=other: gw.remove_role_from_profile(n.instance_profile, other))
    if n.role not in roles:
        diffs.append(f"role {n.role} was not in it")
        fixes.append(lambda: gw.add_role_to_profile(n.instance_profile, n.role))
    c.rec.check(what, diffs, lambda: [f() for f in fixes], new=new)


def key_pair(c: Ctx) -> None:
    """The site's key pair, and its private key in ``key_dir``. AWS hands out a
    private key once, at creation: a marker file written before CreateKeyPair
    and removed once the key file is written tells a run killed in between
    (the pair is then deleted and made again) from a key file that is simply
    not on this machine (the pair is left alone, with a warning)."""
    gw, n = c.gw, c.n
    what = f"key pair {n.key_pair}"
    path = Path(c.s.key_dir) / f"{n.key_pair}.pem"
    pending = path.with_name(path.name + ".pending")

    def make() -> str:
        path.parent.mkdir(parents=True, exist_ok=True)
        pending.touch()
        material = gw.create_key_pair(n.key_pair, c.tags)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(material)
        os.chmod(path, 0o600)
        pending.unlink(missing_ok=True)
        c.rec.report.key_file = str(path.resolve())
        c.rec.reporter.info(f"private key written to {path.resolve()} (mode 0600)")
        return str(n.key_pair)

    pair = gw.key_pair(n.key_pair)
    if pair is None:
        c.rec.create(what, make)
        return
    ours = has_tags(pair.get("Tags"), c.tags)
    lost = ours and not path.exists() and pending.exists()
    c.rec.check(
        what,
        ["private key file missing (a run stopped before writing it)"] if lost else [],
        lambda: (gw.delete_key_pair(n.key_pair), make()),
    )
    if ours and not path.exists() and not lost:
        c.rec.warn(
            f"key pair {n.key_pair}: its private key is not in {path.parent.resolve()} (made "
            "on another machine?). bluegreen never replaces it on its own: copy the key file "
            f"here, or, if it is lost, `aws ec2 delete-key-pair --key-name {n.key_pair}` and "
            "run init again"
        )
