"""An independent observer of what the live names serve, for tests that prove a
switch never leaves them without healthy capacity.

It reads the emulator with its own boto3 clients (no bluegreen code), the way
traffic would flow:

    live names (public zone alias records, weight > 0)
      -> load balancer (classic: describe_instance_health, InService)
         or application load balancer (the HTTP listener's rules matched on the
         host name, else its default action; forward target groups with
         weight > 0: describe_target_health, healthy)
      -> instances -> their autoscaling group -> its release
         (tag ``bluegreen:version``, else the group's name).

Usage, from any test::

    from observer import Observer

    with Observer(aws) as obs:          # polls in a thread until the block ends
        assert run("switch").code == 0
    obs.assert_always_serving()          # every observation: >= 1 healthy instance per name
    obs.assert_one_release()             # never two releases at once (dns, lb on ALB)
    obs.report("dns switch on classic")  # prints and lists the count in the test summary

``Observer(aws, latency=0.02)`` also gives the hooks (``obs.hooks``) to pass to
``run(..., hooks=obs.hooks)``: they delay every AWS call the command makes, so
that a switch the fake clock would finish in a few milliseconds lasts long
enough to be observed many times. Each observation is a full resolution; the
count is how many completed while the block ran.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from conftest import DOMAIN, client

# Every report of the session, printed in pytest's terminal summary (conftest).
REPORTS: list[str] = []


@dataclass(frozen=True)
class Observation:
    at: float
    healthy: dict[str, int] = field(default_factory=dict)  # live fqdn -> healthy instances
    releases: frozenset[str] = frozenset()  # releases of those instances, over all names
    path: str = ""  # how the names resolved, for messages
    error: str | None = None
    # With ``source``: the live names whose load balancer refuses that address
    # (its security groups), and who may reach each balancer (name -> admits source).
    refused: frozenset[str] = frozenset()
    admits: tuple[tuple[str, bool], ...] = ()


def _bare(name: str) -> str:
    n = name.lower().rstrip(".")
    return n[len("dualstack.") :] if n.startswith("dualstack.") else n


def _in_any(address: str, cidrs: list[str]) -> bool:
    ip = ipaddress.ip_address(address)
    nets = [ipaddress.ip_network(c) for c in cidrs]
    return any(ip.version == n.version and ip in n for n in nets)


def _admits(group: dict[str, Any], address: str, port: int = 80) -> bool:
    """Whether a security group's inbound rules admit ``address`` on ``port``."""
    for perm in group.get("IpPermissions", []):
        proto = perm.get("IpProtocol")
        if proto == "tcp" and not perm.get("FromPort", 0) <= port <= perm.get("ToPort", 0):
            continue
        if proto not in ("tcp", "-1"):
            continue
        cidrs = [r["CidrIp"] for r in perm.get("IpRanges", [])]
        cidrs += [r["CidrIpv6"] for r in perm.get("Ipv6Ranges", [])]
        if _in_any(address, cidrs):
            return True
    return False


def _forwards(actions: list[dict[str, Any]]) -> list[str]:
    for a in actions:
        if a.get("Type") != "forward":
            continue
        groups = (a.get("ForwardConfig") or {}).get("TargetGroups")
        if groups:
            return [g["TargetGroupArn"] for g in groups if int(g.get("Weight", 1)) > 0]
        if a.get("TargetGroupArn"):
            return [a["TargetGroupArn"]]
    return []


class Observer:
    def __init__(
        self,
        url: str,
        *,
        domain: str = DOMAIN,
        hosts: tuple[str, ...] = ("www", "api"),
        latency: float = 0.0,
        source: str | None = None,
    ) -> None:
        """``source``: an address outside every ``staging_cidrs`` range, a client
        of the live names. Each observation then also evaluates the load
        balancers' security groups for it, and listener rules' ``source-ip``
        conditions (moto evaluates neither: the observer does, as AWS would)."""
        self.url = url
        self.source = source
        self.domain = domain
        self.fqdns = tuple(f"{h}.{domain}." for h in hosts)
        self.observations: list[Observation] = []
        self.latency = latency
        self._stop = threading.Event()
        self._first = threading.Event()
        self._thread: threading.Thread | None = None
        self.started = 0.0
        self.stopped = 0.0
        self._classic: dict[str, str] = {}  # DNS name -> classic load balancer name
        self._albs: dict[str, str] = {}  # DNS name -> application load balancer ARN
        self._release_of: dict[str, str] = {}  # instance id -> release

    # -- what tests use -------------------------------------------------------
    @property
    def hooks(self) -> list[tuple[str, Callable[..., Any]]]:
        """Hooks for ``run``: delay each AWS call of the command by ``latency``."""
        if not self.latency:
            return []

        def slow(**_: Any) -> None:
            time.sleep(self.latency)

        return [("before-send", slow)]

    @property
    def count(self) -> int:
        return len(self.observations)

    def __enter__(self) -> Observer:
        self._thread = threading.Thread(target=self._loop, name="observer", daemon=True)
        self._thread.start()
        if not self._first.wait(30):
            raise RuntimeError("the observer made no observation in 30s")
        self.started = time.monotonic()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)
        self.stopped = time.monotonic()

    def without_healthy(self) -> list[Observation]:
        """Observations where some live name had no healthy instance (or did not resolve)."""
        return [
            o for o in self.observations if o.error or not o.healthy or min(o.healthy.values()) < 1
        ]

    def cut(self) -> list[Observation]:
        """Observations where a live name's load balancer refused ``source``."""
        return [o for o in self.observations if o.refused]

    def assert_live_open(self) -> None:
        assert self.source, "Observer(source=...) evaluates who the balancers admit"
        assert self.count >= 3, f"only {self.count} observations"
        bad = self.cut()
        assert not bad, f"{len(bad)} of {self.count} observations: live names refused " + (
            f"{self.source}: " + "; ".join(f"{sorted(o.refused)} via {o.path}" for o in bad[:3])
        )

    def admission_in_order(self) -> list[tuple[tuple[str, bool], ...]]:
        """The distinct (balancer, admits source) states seen, in order."""
        out: list[tuple[tuple[str, bool], ...]] = []
        for o in self.observations:
            if not o.error and (not out or out[-1] != o.admits):
                out.append(o.admits)
        return out

    def mixed(self) -> list[Observation]:
        """Observations where the live names served two releases or more at once."""
        return [o for o in self.observations if len(o.releases) > 1]

    def releases_in_order(self) -> list[frozenset[str]]:
        """The distinct release sets seen, in order (e.g. {v1}, {v1, v2}, {v2})."""
        out: list[frozenset[str]] = []
        for o in self.observations:
            if not o.error and (not out or out[-1] != o.releases):
                out.append(o.releases)
        return out

    def assert_always_serving(self, minimum: int = 3) -> None:
        assert self.count >= minimum, f"only {self.count} observations"
        bad = self.without_healthy()
        assert not bad, f"{len(bad)} of {self.count} observations without healthy capacity: " + (
            "; ".join(f"{o.path} {o.healthy} {o.error or ''}" for o in bad[:3])
        )

    def assert_one_release(self) -> None:
        bad = self.mixed()
        assert not bad, f"{len(bad)} of {self.count} observations saw two releases: " + (
            "; ".join(f"{sorted(o.releases)} via {o.path}" for o in bad[:3])
        )

    def report(self, label: str) -> str:
        seen = " -> ".join("+".join(sorted(r)) or "none" for r in self.releases_in_order())
        line = (
            f"{label}: {self.count} observations in {self.stopped - self.started:.2f}s, "
            f"{len(self.without_healthy())} without healthy capacity, "
            f"{len(self.mixed())} with two releases; served {seen}"
        )
        if self.source:
            line += f"; {len(self.cut())} with live names refusing {self.source}"
        print(line)
        REPORTS.append(line)
        return line

    # -- the polling thread ---------------------------------------------------
    def _loop(self) -> None:
        r53 = client(self.url, "route53")
        elb = client(self.url, "elb")
        v2 = client(self.url, "elbv2")
        asg = client(self.url, "autoscaling")
        self._ec2 = client(self.url, "ec2")
        zone = next(
            z["Id"]
            for z in r53.list_hosted_zones_by_name(DNSName=self.domain + ".")["HostedZones"]
            if z["Name"] == self.domain + "." and not z.get("Config", {}).get("PrivateZone")
        )
        while True:
            # Once stopped, one observation more: the state the command left,
            # whatever its last write came after the previous observation.
            last = self._stop.is_set()
            try:
                obs = self._observe(r53, elb, v2, asg, zone)
            except Exception as e:  # a read that fails is an observation that failed
                obs = Observation(time.monotonic(), error=f"{type(e).__name__}: {e}")
            self.observations.append(obs)
            self._first.set()
            if last:
                return

    def _observe(self, r53: Any, elb: Any, v2: Any, asg: Any, zone: str) -> Observation:
        at = time.monotonic()
        rrs = r53.list_resource_record_sets(HostedZoneId=zone, MaxItems="1000")
        targets: dict[str, list[str]] = {f: [] for f in self.fqdns}
        for rr in rrs["ResourceRecordSets"]:
            name = rr["Name"].lower()
            if name in targets and "AliasTarget" in rr and int(rr.get("Weight", 1)) > 0:
                targets[name].append(_bare(rr["AliasTarget"]["DNSName"]))
        wanted = {d for ds in targets.values() for d in ds}
        if not wanted <= set(self._classic) | set(self._albs):  # names never change: cache
            self._classic = {
                _bare(lb["DNSName"]): lb["LoadBalancerName"]
                for lb in elb.describe_load_balancers()["LoadBalancerDescriptions"]
            }
            self._albs = {
                _bare(lb["DNSName"]): lb["LoadBalancerArn"]
                for lb in v2.describe_load_balancers()["LoadBalancers"]
            }
        classic, albs = self._classic, self._albs
        refusing: set[str] = set()  # DNS names of balancers refusing the source
        admits: tuple[tuple[str, bool], ...] = ()
        if self.source:
            admits, refusing = self._admission(elb, v2)
        healthy_by_target: dict[tuple[str, str], tuple[set[str], str]] = {}
        listeners: dict[str, tuple[dict[str, Any] | None, list[dict[str, Any]]]] = {}
        for fqdn, dns_names in targets.items():
            for dns in dns_names:
                key = (fqdn, dns)
                if dns in classic:
                    states = elb.describe_instance_health(LoadBalancerName=classic[dns])
                    in_service = {
                        s["InstanceId"]
                        for s in states["InstanceStates"]
                        if s["State"] == "InService"
                    }
                    healthy_by_target[key] = (in_service, classic[dns])
                elif dns in albs:
                    if dns not in listeners:  # one read per observation for every name
                        listeners[dns] = self._listener(v2, albs[dns])
                    healthy_by_target[key] = self._alb(v2, listeners[dns], fqdn)
                else:
                    healthy_by_target[key] = (set(), f"{dns} (no load balancer)")
        seen = {i for ids, _ in healthy_by_target.values() for i in ids}
        if not seen <= set(self._release_of):  # an instance's group never changes: cache
            for g in asg.describe_auto_scaling_groups()["AutoScalingGroups"]:
                tags = {t["Key"]: t["Value"] for t in g.get("Tags", [])}
                rel = tags.get("bluegreen:version") or g["AutoScalingGroupName"]
                for i in g.get("Instances", []):
                    self._release_of[i["InstanceId"]] = rel
        release_of = self._release_of
        refused = frozenset(f for f, ds in targets.items() if any(d in refusing for d in ds))
        healthy: dict[str, int] = {}
        releases: set[str] = set()
        paths = []
        for fqdn in self.fqdns:
            ids: set[str] = set()
            for (f, _), (found, via) in healthy_by_target.items():
                if f == fqdn:
                    ids |= found
                    paths.append(f"{fqdn.split('.')[0]}->{via}")
            healthy[fqdn] = len(ids)
            releases |= {release_of.get(i, f"unknown instance {i}") for i in ids}
        return Observation(
            at, healthy, frozenset(releases), ", ".join(paths), refused=refused, admits=admits
        )

    def _admission(self, elb: Any, v2: Any) -> tuple[tuple[tuple[str, bool], ...], set[str]]:
        """Whether each load balancer's security groups admit ``source`` on
        port 80: ((name, admits), ...) and the DNS names of those refusing."""
        lbs = [
            (lb["LoadBalancerName"], _bare(lb["DNSName"]), lb.get("SecurityGroups", []))
            for lb in elb.describe_load_balancers()["LoadBalancerDescriptions"]
        ] + [
            (lb["LoadBalancerName"], _bare(lb["DNSName"]), lb.get("SecurityGroups", []))
            for lb in v2.describe_load_balancers()["LoadBalancers"]
        ]
        groups = {g["GroupId"]: g for g in self._ec2.describe_security_groups()["SecurityGroups"]}
        states = []
        refusing = set()
        for name, dns, ids in sorted(lbs):
            ok = any(_admits(groups.get(i, {}), str(self.source)) for i in ids)
            states.append((name, ok))
            if not ok:
                refusing.add(dns)
        return tuple(states), refusing

    @staticmethod
    def _listener(v2: Any, arn: str) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        """The ALB's HTTP listener and its rules."""
        listeners = v2.describe_listeners(LoadBalancerArn=arn)["Listeners"]
        http = next((ls for ls in listeners if ls["Port"] == 80), None)
        if http is None:
            return None, []
        return http, v2.describe_rules(ListenerArn=http["ListenerArn"])["Rules"]

    def _alb(
        self, v2: Any, listener: tuple[dict[str, Any] | None, list[dict[str, Any]]], fqdn: str
    ) -> tuple[set[str], str]:
        host = fqdn.rstrip(".")
        http, rules = listener
        if http is None:
            return set(), "no HTTP listener"
        actions = http["DefaultActions"]
        for rule in sorted(
            (r for r in rules if not r.get("IsDefault")), key=lambda r: int(r["Priority"])
        ):
            patterns = [
                v
                for c in rule.get("Conditions", [])
                if c.get("Field") == "host-header"
                for v in (c.get("HostHeaderConfig", {}).get("Values") or c.get("Values", []))
            ]
            sources = [
                v
                for c in rule.get("Conditions", [])
                if c.get("Field") == "source-ip"
                for v in (c.get("SourceIpConfig") or {}).get("Values", [])
            ]
            if sources and not (self.source and _in_any(self.source, sources)):
                continue  # a source-ip condition this client does not meet
            if any(fnmatch.fnmatch(host, p.lower()) for p in patterns):
                actions = rule["Actions"]
                break
        ids: set[str] = set()
        tg_names = []
        for tg in _forwards(actions):
            health = v2.describe_target_health(TargetGroupArn=tg)["TargetHealthDescriptions"]
            ids |= {d["Target"]["Id"] for d in health if d["TargetHealth"]["State"] == "healthy"}
            tg_names.append(tg.split("/")[-2])
        return ids, "+".join(tg_names) or "no target group"
