"""The printed policies, proven on an emulator that enforces IAM.

A second moto server, started here on 127.0.0.1 with
``INITIAL_NO_AUTH_ACTION_COUNT``: after that many unauthenticated calls (the
ones that create the first user and its key), every call must be signed by a
known access key and allowed by the user's policies. moto checks the action
only: it compares each statement's Resource with "*" (so a policy scoped by
ARN would be refused for everything) and skips identity-policy Conditions.
The users here therefore hold the printed policy with every Resource widened
to "*" (``for_moto``): same statements, same actions, same conditions. The
resources and conditions are proven by ``test_iam_policy`` (policy_sim).

* A user holding only the init policy runs ``init``; a user holding only the
  operate policy runs deploy, switch, deploy, switch, clean, status, history.
* Remove any one action a command calls: that command fails with exit 4 and a
  permission error naming the action. Every action each command calls is
  removed in turn (the list comes from recording the command).
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import os
import sys
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

import policy_sim as sim
from bluegreen import api
from bluegreen.images import catalog as images
from bluegreen.model import settings as config
from bluegreen.policy import iam_policy as policies
from conftest import TWO_RELEASES, Result, start_emulator
from conftest import run as run_cli

ADMIN_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
}
UNAUTHENTICATED = 3  # create_user, put_user_policy, create_access_key of the admin


@dataclass
class Keys:
    access_key: str
    secret_key: str


class IamEmulator:
    def __init__(self, url: str) -> None:
        self.url = url
        self.admin = Keys("", "")
        self.policy_arns: dict[str, str] = {}

    def _post(self, path: str, body: bytes = b"") -> None:
        req = urllib.request.Request(
            self.url + path, data=body, method="POST", headers={"Content-Type": "text/plain"}
        )
        urllib.request.urlopen(req, timeout=30).read()

    def client(self, service: str, keys: Keys | None = None) -> Any:
        k = keys or self.admin
        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name=sim.REGION,
            aws_access_key_id=k.access_key,
            aws_secret_access_key=k.secret_key,
        )

    def reset(self) -> None:
        """Empty state; an admin user made with the only unauthenticated calls."""
        self._post("/moto-api/reset")
        self._post("/moto-api/reset-auth", str(UNAUTHENTICATED).encode())
        iam = self.client("iam", Keys("bootstrap", "bootstrap"))
        iam.create_user(UserName="admin")
        iam.put_user_policy(
            UserName="admin", PolicyName="all", PolicyDocument=json.dumps(ADMIN_POLICY)
        )
        k = iam.create_access_key(UserName="admin")["AccessKey"]
        self.admin = Keys(k["AccessKeyId"], k["SecretAccessKey"])
        self.policy_arns = {}

    def user(self, name: str, policy: dict[str, Any]) -> Keys:
        iam = self.client("iam")
        iam.create_user(UserName=name)
        self.grant(name, policy)
        k = iam.create_access_key(UserName=name)["AccessKey"]
        return Keys(k["AccessKeyId"], k["SecretAccessKey"])

    def grant(self, name: str, policy: dict[str, Any]) -> None:
        """``name`` holds exactly ``policy`` (one managed policy, replaced in place)."""
        iam = self.client("iam")
        doc = json.dumps(policy)
        arn = self.policy_arns.get(name)
        if arn is None:
            arn = iam.create_policy(PolicyName=f"bluegreen-{name}", PolicyDocument=doc)["Policy"][
                "Arn"
            ]
            iam.attach_user_policy(UserName=name, PolicyArn=arn)
            self.policy_arns[name] = arn
            return
        iam.create_policy_version(PolicyArn=arn, PolicyDocument=doc, SetAsDefault=True)
        for v in iam.list_policy_versions(PolicyArn=arn)["Versions"]:
            if not v["IsDefaultVersion"]:
                iam.delete_policy_version(PolicyArn=arn, VersionId=v["VersionId"])


@pytest.fixture(scope="module")
def iam_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IamEmulator]:
    fixed = Path(__file__).parent / "moto_fixed.py"  # AWS's Route 53 change batches
    server = start_emulator(
        tmp_path_factory,
        [sys.executable, str(fixed)],
        env={"INITIAL_NO_AUTH_ACTION_COUNT": str(UNAUTHENTICATED)},
    )
    try:
        yield IamEmulator(next(server))
    finally:
        server.close()


@pytest.fixture
def iam(iam_server: IamEmulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> IamEmulator:
    iam_server.reset()
    monkeypatch.chdir(tmp_path)
    for var in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("BLUEGREEN_ENDPOINT_URL", iam_server.url)
    monkeypatch.setenv("BLUEGREEN_ENDPOINT_CREDENTIALS", "1")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    return iam_server


def _content_sha256(request: Any, **kwargs: Any) -> None:
    """moto re-signs a GET without a body as if its parameters were a form body
    (Route 53's signatures never match). botocore signs with the payload hash
    given in X-Amz-Content-SHA256 when present, and so does moto's check: send it.
    AWS accepts the header too; bluegreen itself does not need it."""
    body = request.body or b""
    request.headers["X-Amz-Content-SHA256"] = hashlib.sha256(
        body.encode() if isinstance(body, str) else body
    ).hexdigest()


EMULATOR_FIX = [("before-sign.route53", _content_sha256)]


def run(*args: str, hooks: Any = ()) -> Result:
    return run_cli(*args, hooks=[*EMULATOR_FIX, *hooks])


def use(keys: Keys) -> None:
    """Run the next commands with ``keys`` (bluegreen reads them from the environment)."""
    os.environ["AWS_ACCESS_KEY_ID"] = keys.access_key
    os.environ["AWS_SECRET_ACCESS_KEY"] = keys.secret_key


@pytest.fixture(autouse=True)
def _restore_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "unset")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "unset")


def for_moto(policy: dict[str, Any]) -> dict[str, Any]:
    """The same statements with every Resource "*": moto matches a statement's
    Resource against "*", so it can check the actions only."""
    out = copy.deepcopy(policy)
    for st in out["Statement"]:
        st["Resource"] = "*"
    assert policies.actions(out) == policies.actions(policy)
    return out


def without(policy: dict[str, Any], action: str) -> dict[str, Any]:
    out = copy.deepcopy(policy)
    for st in out["Statement"]:
        st["Action"] = [a for a in st["Action"] if a != action]
    out["Statement"] = [st for st in out["Statement"] if st["Action"]]
    assert action not in policies.actions(out)
    return out


def register(iam: IamEmulator, *versions: str) -> None:
    use(iam.admin)
    s = config.load(
        {"domain": "londontamed.com", "endpoint_url": iam.url, "endpoint_credentials": True},
        env={},
    )
    sess = api.open_session(s, hooks=EMULATOR_FIX)
    for v in versions:
        images.register_demo_image(sess.gw, sess.names, v)


def printed_policy(purpose: str) -> dict[str, Any]:
    """What ``bluegreen iam-policy`` prints, run by the admin (account and zones looked up)."""
    r = run("iam-policy", "--for", purpose)
    assert r.code == 0, r.err
    policy: dict[str, Any] = json.loads(r.out)
    return policy


def clear_lock(iam: IamEmulator) -> None:
    """A run denied dynamodb:DeleteItem leaves the lock held: the admin removes it."""
    ddb = iam.client("dynamodb")
    ddb.delete_item(
        TableName="bluegreen",
        Key={"pk": {"S": "site#londontamed.com"}, "sk": {"S": "lock"}},
    )


def test_moto_refuses_a_policy_scoped_by_arn(iam: IamEmulator) -> None:
    """Why the users below hold ``for_moto`` policies: moto compares the Resource with "*"."""
    use(iam.admin)
    scoped = iam.user("scoped", printed_policy("operate"))
    use(scoped)
    r = run("history")  # dynamodb:Query, allowed on table/bluegreen only
    assert r.code == 4
    assert "dynamodb:Query was denied" in r.err


def test_moto_ignores_conditions(iam: IamEmulator) -> None:
    """And why the conditions are proven by policy_sim instead: moto skips them."""
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "ec2:DescribeVpcs",
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:RequestTag/never": "present"}},
            }
        ],
    }
    keys = iam.user("conditional", policy)
    iam.client("ec2", keys).describe_vpcs()  # allowed although the condition cannot hold


# Every strategy and load-balancer kind, each with a key pair, launch
# configurations or staging_cidrs (the access groups moving with the roles, or
# the staging rule's condition on one ALB): the sweep (``make policies``);
# ``make test`` runs a sample that covers both kinds, both launch kinds, the
# key pair and two strategies.
EXTRAS = {
    "": "",
    "key_pair": "key_pair = true\n",
    "launch_configuration": "launch_configuration = true\n",
    "staging_cidrs": 'staging_cidrs = ["203.0.113.0/24"]\n',
}
FULL_RUNS = [
    (strategy, kind, extra)
    for strategy in ("dns", "lb", "rolling", "weighted")
    for kind in ("classic", "alb")
    for extra in EXTRAS
]
SAMPLE = [("dns", "classic", "key_pair"), ("lb", "alb", "launch_configuration")]
RUNS = FULL_RUNS if os.environ.get("BLUEGREEN_POLICY_SWEEP") == "1" else SAMPLE
RUN_CYCLE: list[tuple[str, ...]] = [
    *TWO_RELEASES,
    ("rollback",),
    ("clean", "--yes"),
    ("status",),
    ("history",),
]


def _left(iam: IamEmulator) -> dict[str, Any]:
    """What is left of the site, read by the admin."""
    tag = [{"Name": "tag:bluegreen:domain", "Values": ["londontamed.com"]}]
    ec2 = iam.client("ec2")
    r53 = iam.client("route53")
    r53.meta.events.register("before-sign.route53", _content_sha256)
    return {
        "groups": iam.client("autoscaling").describe_auto_scaling_groups()["AutoScalingGroups"],
        "vpcs": ec2.describe_vpcs(Filters=tag)["Vpcs"],
        "templates": ec2.describe_launch_templates()["LaunchTemplates"],
        "classic": iam.client("elb").describe_load_balancers()["LoadBalancerDescriptions"],
        "albs": iam.client("elbv2").describe_load_balancers()["LoadBalancers"],
        "zones": r53.list_hosted_zones()["HostedZones"],
        "keys": ec2.describe_key_pairs()["KeyPairs"],
        "tables": iam.client("dynamodb").list_tables()["TableNames"],
        "roles": iam.client("iam").list_roles()["Roles"],
    }


def _staging_limits(iam: IamEmulator) -> list[str]:
    """Where staging_cidrs took effect: the balancers holding the staging
    ranges' group (two load balancers), the rules with a source-ip condition
    (one ALB)."""
    ec2 = iam.client("ec2")
    names = {g["GroupId"]: g["GroupName"] for g in ec2.describe_security_groups()["SecurityGroups"]}
    out = [
        b["LoadBalancerName"]
        for b in iam.client("elb").describe_load_balancers()["LoadBalancerDescriptions"]
        if any(names.get(g, "").endswith("-web-staging") for g in b["SecurityGroups"])
    ]
    elbv2 = iam.client("elbv2")
    for b in elbv2.describe_load_balancers()["LoadBalancers"]:
        if any(names.get(g, "").endswith("-web-staging") for g in b.get("SecurityGroups", [])):
            out.append(b["LoadBalancerName"])
        for listener in elbv2.describe_listeners(LoadBalancerArn=b["LoadBalancerArn"])["Listeners"]:
            out += [
                r["RuleArn"]
                for r in elbv2.describe_rules(ListenerArn=listener["ListenerArn"])["Rules"]
                if any(c["Field"] == "source-ip" for c in r["Conditions"])
            ]
    return out


@pytest.mark.parametrize(("strategy", "kind", "extra"), RUNS)
def test_full_run_with_only_the_printed_policies(
    iam: IamEmulator, strategy: str, kind: str, extra: str
) -> None:
    """init with the init policy, a release cycle with the operate policy,
    teardown with the teardown policy: each user holds only its own."""
    Path("bluegreen.toml").write_text(
        f'strategy = "{strategy}"\nload_balancer = "{kind}"\ntimeout = "120s"\n'
        'interval = "0s"\n' + EXTRAS[extra]
    )
    use(iam.admin)
    initer = iam.user("initer", for_moto(printed_policy("init")))
    use(initer)
    r = run("init")
    assert r.code == 0, r.err
    use(iam.admin)
    assert "would create" not in run("init", "--dry-run").out  # init made everything
    # staging_cidrs limits the staging balancer (or the staging rule), nothing else
    assert len(_staging_limits(iam)) == (1 if extra == "staging_cidrs" else 0)
    register(iam, "v1", "v2")
    operator = iam.user("operator", for_moto(printed_policy("operate")))
    use(operator)
    for args in RUN_CYCLE:
        r = run(*args)
        assert r.code == 0, (args, r.err)
    # and the operator may not do what init does
    r = run("init")
    assert r.code == 4
    # init reads the site's kind first (the single ALB's layout tag), then the VPC
    assert any(
        f"{action} was denied" in r.err
        for action in ("ec2:DescribeVpcs", "elasticloadbalancing:DescribeTags")
    ), r.err
    use(iam.admin)
    teardown = iam.user("teardown", for_moto(printed_policy("teardown")))
    use(teardown)
    r = run("teardown", "--yes")
    assert r.code == 0, r.err
    use(iam.admin)
    assert {k: v for k, v in _left(iam).items() if k != "roles"} == {
        "groups": [],
        "vpcs": [],
        "templates": [],
        "classic": [],
        "albs": [],
        "zones": [],
        "tables": [],
        "keys": [],
    }
    assert {r["RoleName"] for r in _left(iam)["roles"]} <= {"admin"}


def _actions_in_order(calls: list[sim.Call]) -> list[str]:
    seen: list[str] = []
    for c in calls:
        actions = [c.action]
        if c.action == "dynamodb:TransactWriteItems":
            # AWS authorises each item as its own write; the emulator asks for
            # this action, which AWS does not have, and bluegreen then makes the
            # writes one by one (lock.DomainLock.release)
            actions = [
                f"dynamodb:{kind}Item" for item in c.params["TransactItems"] for kind in item
            ]
        for a in actions:
            if c.service != "sts" and a not in seen:
                seen.append(a)
    return seen


def _remove_each(
    iam: IamEmulator,
    user: str,
    keys: Keys,
    policy: dict[str, Any],
    args: tuple[str, ...],
    actions: list[str],
    report: list[tuple[str, str]],
    fresh: Callable[[dict[str, Any]], Keys] | None = None,
) -> Keys:
    """Run ``args`` once with each of ``actions`` removed, then with all.

    The runs follow each other on the same state: a run that fails part-way
    leaves its work done, and the next run resumes. When the state has moved
    past an action (the run succeeds without calling it), ``fresh`` rebuilds
    the state before the command and the action is tried again there."""
    for action in actions:
        reduced = for_moto(without(policy, action))
        iam.grant(user, reduced)
        use(keys)
        r = run(*args)
        use(iam.admin)
        if r.code == 0 and fresh is not None:
            keys = fresh(reduced)
            use(keys)
            r = run(*args)
            use(iam.admin)
            report.append((" ".join(args) + " (from scratch)", action))
        else:
            report.append((" ".join(args), action))
        assert r.code == 4, (args, action, r.code, r.err)
        assert f"{action} was denied" in r.err, (args, action, r.err)
        with contextlib.suppress(Exception):
            clear_lock(iam)
    iam.grant(user, for_moto(policy))
    if not actions or actions[-1] != "dynamodb:DeleteItem":
        # (a run denied only the lock's release has done its work already)
        use(keys)
        r = run(*args)
        assert r.code == 0, (args, r.err)
    return keys


CYCLE: list[tuple[str, ...]] = [
    *TWO_RELEASES,
    ("clean", "--yes"),
]


def _record_actions(iam: IamEmulator) -> list[list[str]]:
    """One recorded run of init and of every command of the cycle (as the
    admin): the actions each calls, in the order of their first call."""
    use(iam.admin)
    out = []
    register(iam, "v1", "v2")
    for args in [("init",), *CYCLE]:
        rec = sim.Recorder()
        r = run(*args, hooks=rec.hooks)
        assert r.code == 0, (args, r.err)
        out.append(_actions_in_order(rec.calls))
    return out


def test_removing_any_action_fails_the_command_that_needs_it(iam: IamEmulator) -> None:
    """Each action init and the cycle call is removed once, in the first command
    that calls it; that command must fail with exit 4 naming the action."""
    recorded = _record_actions(iam)
    iam.reset()
    report: list[tuple[str, str]] = []
    use(iam.admin)
    init_policy = printed_policy("init")
    initer = iam.user("initer", for_moto(init_policy))

    def from_scratch(policy: dict[str, Any]) -> Keys:
        iam.reset()
        return iam.user("initer", policy)

    _remove_each(iam, "initer", initer, init_policy, ("init",), recorded[0], report, from_scratch)
    register(iam, "v1", "v2")
    use(iam.admin)
    operate = printed_policy("operate")
    operator = iam.user("operator", for_moto(operate))
    done: set[str] = set()
    for args, actions in zip(CYCLE, recorded[1:]):
        new = [a for a in actions if a not in done]
        done.update(new)
        _remove_each(iam, "operator", operator, operate, args, new, report)
    removed = {a for _, a in report}
    print(f"\n{len(report)} runs with one action removed, {len(removed)} distinct actions:")
    for command, action in report:
        print(f"  {command}: without {action} -> exit 4, named")
    called = {a for acts in recorded for a in acts}
    assert called == removed
    assert {"autoscaling:DeleteAutoScalingGroup", "ec2:DeleteLaunchTemplate"} <= removed


@pytest.fixture(scope="module")
def bake_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IamEmulator]:
    """The sandbox (EBS-backed images, as Packer needs) enforcing IAM."""
    server = start_emulator(
        tmp_path_factory,
        [sys.executable, "-m", "bluegreen.emulator.server"],
        env={"INITIAL_NO_AUTH_ACTION_COUNT": str(UNAUTHENTICATED)},
        port_args=lambda port: [str(port)],
    )
    try:
        yield IamEmulator(next(server))
    finally:
        server.close()


def test_bake_with_only_the_printed_bake_policy(
    bake_server: IamEmulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """bluegreen's checks, the real Packer (signing with the user's key) and the
    tagging afterwards, all with the bake policy alone."""
    iam = bake_server
    iam.reset()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BLUEGREEN_ENDPOINT_URL", iam.url)
    monkeypatch.setenv("BLUEGREEN_ENDPOINT_CREDENTIALS", "1")
    use(iam.admin)
    assert run("init").code == 0
    src = iam.client("ec2").register_image(
        Name="al2023-stand-in",
        Architecture="x86_64",
        RootDeviceName="/dev/xvda",
        BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 8}}],
        VirtualizationType="hvm",
    )["ImageId"]
    policy = printed_policy("bake")
    assert "vpc/vpc-" in json.dumps(policy)  # the site's VPC, looked up
    baker = iam.user("baker", for_moto(policy))
    use(baker)
    r = run("--output", "json", "bake", "--version", "v1", "--base-ami", src)
    assert r.code == 0, r.err
    use(iam.admin)
    image = iam.client("ec2").describe_images(ImageIds=[r.json()["image"]])["Images"][0]
    assert {t["Key"]: t["Value"] for t in image["Tags"]}["bluegreen:version"] == "v1"
    # and the baker may not deploy it
    use(baker)
    r = run("deploy", "--version", "v1")
    assert r.code == 4
