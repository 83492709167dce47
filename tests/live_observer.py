"""A second pair of eyes during a switch: a thread that polls the emulator
continuously and resolves the live names the way a client would (records ->
load balancer -> registered instances healthy in it), recording every
observation.

Kept small and self-contained so that a shared observer helper can replace it:
tests use only ``LiveObserver(url)``, ``with observer: ...``, ``count``,
``failures`` and ``releases``.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from conftest import DOMAIN, client


def _bare(dns: str) -> str:
    d = dns.lower().rstrip(".")
    return d[len("dualstack.") :] if d.startswith("dualstack.") else d


@dataclass
class LiveObserver:
    url: str
    hosts: tuple[str, ...] = ("www", "api")
    count: int = 0
    failures: list[str] = field(default_factory=list)
    releases: list[frozenset[str]] = field(default_factory=list)  # AMIs served, per observation
    weighted: int = 0  # observations where a live name had several weighted targets
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _errors: list[BaseException] = field(default_factory=list)

    def __enter__(self) -> LiveObserver:
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        # at least one observation before the command starts
        deadline = time.monotonic() + 10
        while self.count == 0 and not self._errors and time.monotonic() < deadline:
            time.sleep(0.005)
        return self

    def __exit__(
        self,
        et: type[BaseException] | None,
        ev: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        n = self.count
        deadline = time.monotonic() + 10
        while self.count < n + 1 and not self._errors and time.monotonic() < deadline:
            time.sleep(0.005)  # one full observation after the command ended
        self._stop.set()
        assert self._thread is not None
        self._thread.join(timeout=30)
        if self._errors:
            raise self._errors[0]

    @property
    def max_releases(self) -> int:
        return max((len(r) for r in self.releases), default=0)

    def _loop(self) -> None:
        try:
            r53 = client(self.url, "route53")
            elb = client(self.url, "elb")
            ec2 = client(self.url, "ec2")
            zone = next(
                z["Id"]
                for z in r53.list_hosted_zones()["HostedZones"]
                if not z.get("Config", {}).get("PrivateZone")
            )
            while not self._stop.is_set():
                self._observe(r53, elb, ec2, zone)
        except BaseException as e:
            self._errors.append(e)

    def _observe(self, r53: Any, elb: Any, ec2: Any, zone: str) -> None:
        by_dns = {
            _bare(lb["DNSName"]): lb["LoadBalancerName"]
            for lb in elb.describe_load_balancers()["LoadBalancerDescriptions"]
        }
        targets: dict[str, list[str]] = {}  # fqdn -> balancers with weight > 0
        for host in self.hosts:
            fqdn = f"{host}.{DOMAIN}."
            rrs = r53.list_resource_record_sets(
                HostedZoneId=zone, StartRecordName=fqdn, StartRecordType="A", MaxItems="20"
            )["ResourceRecordSets"]
            mine = [r for r in rrs if r["Name"] == fqdn and r["Type"] == "A"]
            targets[fqdn] = [
                by_dns.get(_bare(r["AliasTarget"]["DNSName"]), "?" + r["AliasTarget"]["DNSName"])
                for r in mine
                if "AliasTarget" in r and r.get("Weight", 1) > 0
            ]
        healthy: dict[str, list[str]] = {}
        for lb in sorted({t for ts in targets.values() for t in ts}):
            if lb.startswith("?"):
                healthy[lb] = []
                continue
            states = elb.describe_instance_health(LoadBalancerName=lb)["InstanceStates"]
            healthy[lb] = [s["InstanceId"] for s in states if s["State"] == "InService"]
        ids = sorted({i for v in healthy.values() for i in v})
        amis: set[str] = set()
        if ids:
            for res in ec2.describe_instances(InstanceIds=ids)["Reservations"]:
                amis.update(i["ImageId"] for i in res["Instances"])
        self.count += 1
        self.releases.append(frozenset(amis))
        if any(len(ts) > 1 for ts in targets.values()):
            self.weighted += 1
        for fqdn, ts in targets.items():
            if not ts:
                self.failures.append(f"#{self.count} {fqdn}: no record")
            for t in ts:
                if not healthy.get(t):
                    self.failures.append(f"#{self.count} {fqdn} -> {t}: no healthy instance")
