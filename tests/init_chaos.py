"""Lost responses and crashes of ``bluegreen init``, shared by the tests and
``bench/reliability.py``.

- ``setup_shape``: everything init makes, with generated ids replaced by
  names (security group sources by group name, records by the load balancer
  they point at), with every setting: VPC DNS attributes, subnets and their
  public-address setting, internet gateways and where they are attached,
  route tables with routes and associations, security groups and each rule,
  the role's trust and inline policy, the profile's role, load balancers with
  listeners, TLS policies, health checks, draining, cross-zone, security
  groups, target groups, the table, hosted zones and their VPCs, the records.
- ``lose_write(n)``: a ``before-send`` hook that lets the n-th changing
  request of init reach the server and then loses its response (a read
  timeout): the server acted, the client did not hear it.
- ``sweep_lost`` / ``sweep_killed``: for each changing call (each AWS call),
  a fresh emulator, init with that response lost (killed with SIGKILL just
  before that call, in a forked child), then plain re-runs; the state must
  equal an uninterrupted run's.
"""

from __future__ import annotations

import json
import re
import threading
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from chaos import MUTATING_PREFIXES, _forward, aws, count_calls, run_killed

DOMAIN = "londontamed.com"
# every changing call init makes (chaos.MUTATING_PREFIXES and the rest)
WRITES = (*MUTATING_PREFIXES, "Configure", "Apply", "Add", "Revoke", "Replace", "Remove")


def _reset(url: str) -> None:
    req = urllib.request.Request(url + "/moto-api/reset", method="POST")
    urllib.request.urlopen(req, timeout=30).read()


def _name(tags: Sequence[dict[str, str]] | None) -> str:
    return next((t["Value"] for t in tags or () if t["Key"] == "Name"), "")


def setup_shape(url: str) -> dict[str, Any]:
    ec2, elb, v2 = aws(url, "ec2"), aws(url, "elb"), aws(url, "elbv2")
    iam, r53, ddb = aws(url, "iam"), aws(url, "route53"), aws(url, "dynamodb")
    out: dict[str, Any] = {}
    vpcs = [v for v in ec2.describe_vpcs()["Vpcs"] if not v.get("IsDefault")]
    ids: dict[str, str] = {}
    out["vpcs"] = []
    for v in vpcs:
        attrs = [
            ec2.describe_vpc_attribute(VpcId=v["VpcId"], Attribute=a)
            for a in ("enableDnsSupport", "enableDnsHostnames")
        ]
        out["vpcs"].append(
            (
                _name(v.get("Tags")),
                v["CidrBlock"],
                *(a[k]["Value"] for a, k in zip(attrs, ("EnableDnsSupport", "EnableDnsHostnames"))),
            )
        )
        ids[v["VpcId"]] = f"vpc:{_name(v.get('Tags'))}"
    out["vpcs"].sort()
    mine = list(ids)
    subnets = (
        ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": mine}])["Subnets"]
        if mine
        else []
    )
    for sn in subnets:
        ids[sn["SubnetId"]] = f"subnet:{sn['CidrBlock']}"
    out["subnets"] = sorted(
        (_name(s.get("Tags")), s["CidrBlock"], s["MapPublicIpOnLaunch"]) for s in subnets
    )
    igws = ec2.describe_internet_gateways()["InternetGateways"]
    for g in igws:
        ids[g["InternetGatewayId"]] = f"igw:{_name(g.get('Tags'))}"
    out["igws"] = sorted(
        (
            _name(g.get("Tags")),
            tuple(ids.get(a["VpcId"], a["VpcId"]) for a in g.get("Attachments", [])),
        )
        for g in igws
    )
    tables = (
        ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": mine}])["RouteTables"]
        if mine
        else []
    )
    out["route_tables"] = sorted(
        (
            _name(t.get("Tags")),
            tuple(
                sorted(
                    (
                        r.get("DestinationCidrBlock", ""),
                        ids.get(r.get("GatewayId", ""), r.get("GatewayId", "")),
                    )
                    for r in t.get("Routes", [])
                )
            ),
            tuple(
                sorted(ids.get(a.get("SubnetId", ""), "main") for a in t.get("Associations", []))
            ),
        )
        for t in tables
    )
    groups = (
        ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": mine}])["SecurityGroups"]
        if mine
        else []
    )
    names = {g["GroupId"]: g["GroupName"] for g in groups}
    out["security_groups"] = sorted(
        (
            g["GroupName"],
            tuple(
                sorted(
                    (p["IpProtocol"], p.get("FromPort"), p.get("ToPort"), src)
                    for p in g["IpPermissions"]
                    for src in [
                        *(r["CidrIp"] for r in p.get("IpRanges", [])),
                        *(r["CidrIpv6"] for r in p.get("Ipv6Ranges", [])),
                        *(
                            names.get(r["GroupId"], r["GroupId"])
                            for r in p.get("UserIdGroupPairs", [])
                        ),
                    ]
                )
            ),
        )
        for g in groups
    )
    roles = [r for r in iam.list_roles()["Roles"] if r["RoleName"].startswith("londontamed")]
    out["roles"] = sorted(
        (
            r["RoleName"],
            json.dumps(r["AssumeRolePolicyDocument"], sort_keys=True),
            tuple(
                (
                    p,
                    json.dumps(
                        iam.get_role_policy(RoleName=r["RoleName"], PolicyName=p)["PolicyDocument"],
                        sort_keys=True,
                    ),
                )
                for p in iam.list_role_policies(RoleName=r["RoleName"])["PolicyNames"]
            ),
        )
        for r in roles
    )
    out["profiles"] = sorted(
        (p["InstanceProfileName"], tuple(r["RoleName"] for r in p["Roles"]))
        for p in iam.list_instance_profiles()["InstanceProfiles"]
    )
    lbs = elb.describe_load_balancers()["LoadBalancerDescriptions"]
    dns_to_lb = {lb["DNSName"].lower(): lb["LoadBalancerName"] for lb in lbs}
    out["classic"] = []
    for lb in lbs:
        name = lb["LoadBalancerName"]
        attrs = elb.describe_load_balancer_attributes(LoadBalancerName=name)[
            "LoadBalancerAttributes"
        ]
        out["classic"].append(
            (
                name,
                tuple(sorted(ids.get(s, s) for s in lb["Subnets"])),
                tuple(names.get(g, g) for g in lb["SecurityGroups"]),
                json.dumps(
                    [
                        (d["Listener"], d.get("PolicyNames", []))
                        for d in sorted(
                            lb["ListenerDescriptions"],
                            key=lambda d: d["Listener"]["LoadBalancerPort"],
                        )
                    ],
                    sort_keys=True,
                ),
                json.dumps(lb["HealthCheck"], sort_keys=True),
                json.dumps(
                    {k: attrs.get(k) for k in ("ConnectionDraining", "CrossZoneLoadBalancing")},
                    sort_keys=True,
                ),
            )
        )
    out["classic"].sort()
    albs = v2.describe_load_balancers()["LoadBalancers"]
    tgs = v2.describe_target_groups()["TargetGroups"]
    tg_names = {t["TargetGroupArn"]: t["TargetGroupName"] for t in tgs}
    dns_to_lb |= {a["DNSName"].lower(): a["LoadBalancerName"] for a in albs}

    def arns(text: str) -> str:
        for arn, n in tg_names.items():
            text = text.replace(arn, n)
        return text

    out["albs"] = sorted(
        (
            a["LoadBalancerName"],
            tuple(names.get(g, g) for g in a.get("SecurityGroups", [])),
            tuple(
                (
                    ls["Port"],
                    ls["Protocol"],
                    ls.get("SslPolicy"),
                    arns(json.dumps(ls["DefaultActions"], sort_keys=True)),
                    arns(
                        json.dumps(
                            [
                                (r["Priority"], r["Conditions"], r["Actions"])
                                for r in v2.describe_rules(ListenerArn=ls["ListenerArn"])["Rules"]
                                if not r["IsDefault"]
                            ],
                            sort_keys=True,
                        )
                    ),
                )
                for ls in sorted(
                    v2.describe_listeners(LoadBalancerArn=a["LoadBalancerArn"])["Listeners"],
                    key=lambda x: x["Port"],
                )
            ),
        )
        for a in albs
    )
    out["target_groups"] = sorted(
        (
            t["TargetGroupName"],
            t["HealthCheckPort"],
            t["HealthCheckPath"],
            t["HealthCheckIntervalSeconds"],
            json.dumps(
                {
                    x["Key"]: x["Value"]
                    for x in v2.describe_target_group_attributes(
                        TargetGroupArn=t["TargetGroupArn"]
                    )["Attributes"]
                    if x["Key"].startswith("deregistration")
                }
            ),
        )
        for t in tgs
    )
    out["tables"] = sorted(ddb.list_tables()["TableNames"])
    zones = r53.list_hosted_zones()["HostedZones"]
    out["zones"] = []
    for z in zones:
        private = bool(z.get("Config", {}).get("PrivateZone"))
        vpcs_of = [
            ids.get(v["VPCId"], v["VPCId"]) for v in r53.get_hosted_zone(Id=z["Id"]).get("VPCs", [])
        ]
        recs = []
        for rr in r53.list_resource_record_sets(HostedZoneId=z["Id"], MaxItems="1000")[
            "ResourceRecordSets"
        ]:
            at = rr.get("AliasTarget")
            if at:
                dns = at["DNSName"].lower().rstrip(".").removeprefix("dualstack.")
                recs.append(
                    (
                        rr["Name"],
                        dns_to_lb.get(dns, dns),
                        at["HostedZoneId"],
                        at["EvaluateTargetHealth"],
                    )
                )
        out["zones"].append((z["Name"], private, tuple(vpcs_of), tuple(sorted(recs))))
    out["zones"].sort()
    return out


def diff(got: dict[str, Any], want: dict[str, Any]) -> str:
    return "\n".join(
        f"  {k}:\n    got  {got.get(k)!r}\n    want {want.get(k)!r}"
        for k in sorted(set(got) | set(want))
        if got.get(k) != want.get(k)
    )


def lose_write(n: int) -> tuple[tuple[str, Callable[..., Any]], list[str]]:
    """A hook losing the response of the n-th changing request (n >= 1, first
    attempts and retries alike: each send counts); the list names the lost one."""
    from botocore.exceptions import ReadTimeoutError

    count = 0
    lost: list[str] = []
    mutex = threading.Lock()

    def before_send(request: Any, event_name: str, **_: Any) -> Any:
        nonlocal count
        operation = event_name.split(".")[-1]
        if not operation.startswith(WRITES):
            return None
        with mutex:
            count += 1
            if count != n:
                return None
            lost.append(operation)
        _forward(request)
        raise ReadTimeoutError(endpoint_url=request.url)

    return ("before-send", before_send), lost


@dataclass
class Sweep:
    points: int = 0
    converged: int = 0
    reruns: int = 0  # re-runs needed in all (a run that survived its lost response needs none)
    failures: list[str] = field(default_factory=list)
    operations: list[str] = field(default_factory=list)


RunInit = Callable[..., tuple[int, str]]
Prepare = Callable[[str], Sequence[str]]  # on a reset emulator: init's arguments


def _acm_free(shape: dict[str, Any]) -> dict[str, Any]:
    """Certificates get a new ARN after each reset: named by a placeholder."""
    out: dict[str, Any] = json.loads(
        re.sub(r"arn:aws:acm:[A-Za-z0-9:/_-]+", "CERT", json.dumps(shape))
    )
    return out


def baseline(url: str, prepare: Prepare) -> tuple[dict[str, Any], list[str]]:
    """The state of an uninterrupted init, and its AWS calls in order."""
    _reset(url)
    args = prepare(url)
    code, calls = count_calls(["--domain", DOMAIN, "init", *args])
    assert code == 0, f"init {args} failed without any fault: exit {code}"
    return _acm_free(setup_shape(url)), calls


def _judge(res: Sweep, where: str, code: int, err: str, want: dict[str, Any], url: str) -> None:
    """Count one point: converged if init ended with exit 0 in the state of an
    uninterrupted run, else a failure saying what differed."""
    if code != 0:
        res.failures.append(f"{where}: init still fails: {err}")
        return
    got = _acm_free(setup_shape(url))
    if got != want:
        res.failures.append(f"{where}: the state differs:\n{diff(got, want)}")
    else:
        res.converged += 1


def sweep_lost(
    url: str, prepare: Prepare, run_init: RunInit, points: Sequence[int] | None = None
) -> Sweep:
    """Lose the response of each changing request of init in turn (or of
    ``points``, 1-based), then re-run init plainly until it succeeds (at most
    twice); compare with an uninterrupted run. A point whose response was never
    lost (init made fewer changing requests) is a failure: it proved nothing."""
    want, calls = baseline(url, prepare)
    writes = [c for c in calls if c.split(".")[-1].startswith(WRITES)]
    res = Sweep()
    for n in points or range(1, len(writes) + 1):
        _reset(url)
        args = prepare(url)
        hook, lost = lose_write(n)
        code, err = run_init(*args, hooks=[hook])
        res.points += 1
        if not lost:
            res.failures.append(f"write {n}: init made only {len(writes)} changing requests")
            continue
        reruns = 0
        while code != 0 and reruns < 2:
            reruns += 1
            code, err = run_init(*args)
        res.reruns += reruns
        res.operations.append(lost[0])
        _judge(
            res, f"response of write {n} ({lost[0]}) lost, {reruns} re-runs", code, err, want, url
        )
    return res


def sweep_killed(
    url: str, prepare: Prepare, run_init: RunInit, points: Sequence[int] | None = None
) -> Sweep:
    """Kill init with SIGKILL before each of its AWS calls in turn (or before
    ``points``), then re-run it once; compare with an uninterrupted run. A point
    init never reached (it finished first) is a failure: it proved nothing."""
    want, calls = baseline(url, prepare)
    res = Sweep()
    for k in points or range(1, len(calls) + 1):
        _reset(url)
        args = prepare(url)
        res.points += 1
        if not run_killed(["--domain", DOMAIN, "init", *args], k):
            res.failures.append(f"call {k}: init finished after {len(calls)} calls, never killed")
            continue
        res.reruns += 1
        code, err = run_init(*args)
        _judge(res, f"killed before call {k}, then re-run", code, err, want, url)
    return res
