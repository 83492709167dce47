"""Route 53: hosted zones, alias records, change batches."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from bluegreen.aws.base import BaseGateway
from bluegreen.errors import AwsError, WaitTimeout

if TYPE_CHECKING:
    from bluegreen.ui import Progress


class Route53Calls(BaseGateway):
    def find_zones(self, zone_name: str) -> list[dict[str, Any]]:
        """The hosted zones named exactly ``zone_name`` (public and private);
        the answer of ``read_zones_ahead`` when one is pending."""
        ahead = self.taken_ahead(f"zones:{zone_name.lower()}")
        if ahead is not None:
            found: list[dict[str, Any]] = ahead.result()
            return found
        return self._read_zones(zone_name)

    def read_zones_ahead(self, zone_name: str) -> None:
        """Start reading the zones named ``zone_name`` now, in the background:
        the next ``find_zones`` of that name takes the answer (its error too).
        The zones' ids are the site's configuration, not its state: a command
        reads them while it takes the domain's lock, and everything that
        depends on the state (records, balancers, groups) after."""
        self.read_ahead(f"zones:{zone_name.lower()}", lambda: self._read_zones(zone_name))

    def _read_zones(self, zone_name: str) -> list[dict[str, Any]]:
        r = self.call("route53", "list_hosted_zones_by_name", DNSName=zone_name, MaxItems="20")
        return [z for z in r.get("HostedZones", []) if z["Name"].lower() == zone_name.lower()]

    def records_named(self, zone_id: str, fqdn: str, rtype: str = "A") -> list[dict[str, Any]]:
        """Every record set of ``fqdn`` and ``rtype`` (several when weighted).

        A lookup by name, not a scan: cost does not grow with the zone's size.
        """
        r = self.call(
            "route53",
            "list_resource_record_sets",
            HostedZoneId=zone_id,
            StartRecordName=fqdn,
            StartRecordType=rtype,
            MaxItems="20",
        )
        want = fqdn.lower().rstrip(".")
        return [
            rr
            for rr in r.get("ResourceRecordSets", [])
            if rr["Name"].lower().rstrip(".") == want and rr["Type"] == rtype
        ]

    def records_for(
        self, zone_id: str, fqdns: Sequence[str], rtype: str = "A"
    ) -> list[list[dict[str, Any]]]:
        """``records_named`` of several names of one zone, in order, in one call
        when it can: a page of up to 300 record sets starting at the first of
        the names in Route 53's order. When other records sort between the
        names (the page ends before the last of them), one more page starts at
        the first name not shown in full: the names of a site sort in at most
        two runs (``api-staging``, ``api`` ... ``www-staging``, ``www``), so a
        zone of any size costs at most two reads. Only a name that is still
        missing then (records sorting between a site's own names, or a name
        with no record) is looked up by name, concurrently. Never a zone scan:
        the count does not grow with the zone's size
        (https://docs.aws.amazon.com/Route53/latest/APIReference/API_ListResourceRecordSets.html).
        """
        if len(fqdns) < 2:
            return [self.records_named(zone_id, f, rtype) for f in fqdns]
        found: dict[str, list[dict[str, Any]]] = {}
        for _ in range(2):  # the first page, then one from the first name it missed
            missing = sorted((f for f in fqdns if f not in found), key=route53_order)
            if not missing:
                break
            found.update(self._page(zone_id, missing, rtype))
        missing = [f for f in fqdns if f not in found]
        for f, records in zip(
            missing,
            self.parallel(*[(lambda f=f: self.records_named(zone_id, f, rtype)) for f in missing]),
        ):
            found[f] = records
        return [found[f] for f in fqdns]

    def _page(
        self, zone_id: str, fqdns: Sequence[str], rtype: str
    ) -> dict[str, list[dict[str, Any]]]:
        """One page of up to 300 record sets from ``fqdns[0]``: the names it
        shows in full. The first name is known even without a record (the page
        would begin with it); a name the page ends inside (weighted sets) is not."""
        r = self.call(
            "route53",
            "list_resource_record_sets",
            HostedZoneId=zone_id,
            StartRecordName=fqdns[0],
            MaxItems="300",
        )
        page = r.get("ResourceRecordSets", [])
        # The page may end inside the record sets of NextRecordName (weighted sets).
        cut = _name(r.get("NextRecordName", "")) if r.get("IsTruncated") else None
        out: dict[str, list[dict[str, Any]]] = {}
        for n, f in enumerate(fqdns):
            want = _name(f)
            mine = [rr for rr in page if _name(rr["Name"]) == want and rr["Type"] == rtype]
            if want != cut and (mine or n == 0):
                out[f] = mine
        return out

    def change_records(self, zone_id: str, changes: Sequence[dict[str, Any]], comment: str) -> str:
        """One atomic change batch; returns the change id."""
        r = self.call(
            "route53",
            "change_resource_record_sets",
            HostedZoneId=zone_id,
            ChangeBatch={"Comment": comment[:256], "Changes": list(changes)},
        )
        return str(r["ChangeInfo"]["Id"])

    def wait_insync(
        self, change_id: str, timeout: float, progress: Progress | None = None
    ) -> float:
        """Poll until the change is INSYNC; returns the seconds waited.

        INSYNC means the change has reached every Route 53 DNS server; AWS says
        that usually takes under 60 seconds
        (https://docs.aws.amazon.com/Route53/latest/APIReference/API_GetChange.html).
        ``progress`` shows the seconds waited out of ``timeout``.
        """
        start = self.clock.monotonic()
        delay = 1.0
        while True:
            r = self.call("route53", "get_change", Id=change_id)
            status = r["ChangeInfo"]["Status"]
            waited = self.clock.monotonic() - start
            if status == "INSYNC":
                if progress is not None:
                    progress.update(timeout, timeout, f"INSYNC after {waited:.0f}s")
                return waited
            if progress is not None:
                progress.update(min(waited, timeout), timeout, f"{status} for {waited:.0f}s")
            if waited >= timeout:
                raise WaitTimeout(
                    f"Route 53 change {change_id} was not in sync after {waited:.0f}s",
                    found=f"the change is {status}; the wait allows {timeout:.0f}s",
                    fix="the change was accepted and will propagate; run `bluegreen status` "
                    "to confirm, or give Route 53 longer with --dns-timeout (e.g. "
                    "--dns-timeout 10m) or dns_timeout in bluegreen.toml",
                )
            self.clock.sleep(min(delay, max(timeout - waited, 0)))
            delay = min(delay * 2, 10.0)

    def create_zone(
        self, zone_name: str, caller_ref: str, *, vpc_id: str | None = None, region: str = ""
    ) -> str:
        """Create a hosted zone. ``caller_ref`` is fixed per intended zone, so
        AWS answers a retry with HostedZoneAlreadyExists; the request is never
        sent again blindly (``call_once``) and the zone is found by the reference.
        Route 53 never accepts a reference again, even once its zone is deleted
        (https://docs.aws.amazon.com/Route53/latest/APIReference/API_CreateHostedZone.html):
        HostedZoneAlreadyExists without a zone of that reference means a zone
        made before and deleted since (a teardown that kept the VPC), and the
        zone is created with a fresh reference, as safely."""
        params: dict[str, Any] = {"Name": zone_name}
        if vpc_id:
            params["VPC"] = {"VPCRegion": region, "VPCId": vpc_id}
            params["HostedZoneConfig"] = {"Comment": "bluegreen staging", "PrivateZone": True}
        else:
            params["HostedZoneConfig"] = {"Comment": "bluegreen live", "PrivateZone": False}
        made = self._create_zone(zone_name, caller_ref, params)
        if made is None:
            fresh = f"{caller_ref[: 128 - 33]}-{uuid.uuid4().hex}"  # at most 128 characters
            made = self._create_zone(zone_name, fresh, params)
        if made is None:
            raise AwsError(
                f"Route 53 refused a new caller reference for hosted zone {zone_name}",
                operation="route53:CreateHostedZone",
                code="HostedZoneAlreadyExists",
                fix="run the command again: it resumes where it stopped",
            )
        return made

    def _create_zone(self, zone_name: str, caller_ref: str, params: dict[str, Any]) -> str | None:
        """The zone made with ``caller_ref`` (by this call or an earlier one);
        None when the reference was used by a zone that no longer exists."""

        def find() -> str | None:
            for z in self.find_zones(zone_name):
                if z.get("CallerReference") == caller_ref:
                    return str(z["Id"])
            return None

        try:
            r = self.call_once(
                "route53", "create_hosted_zone", find, CallerReference=caller_ref, **params
            )
        except AwsError as e:
            if e.code != "HostedZoneAlreadyExists":
                raise
            return find()
        return r if isinstance(r, str) else str(r["HostedZone"]["Id"])

    def associate_zone(self, zone_id: str, vpc_id: str, region: str) -> None:
        try:
            self.call(
                "route53",
                "associate_vpc_with_hosted_zone",
                HostedZoneId=zone_id,
                VPC={"VPCRegion": region, "VPCId": vpc_id},
            )
        except AwsError as e:
            if e.code != "ConflictingDomainExists" or vpc_id not in self.zone_vpcs(zone_id):
                raise

    def zone_vpcs(self, zone_id: str) -> list[str]:
        r = self.call("route53", "get_hosted_zone", Id=zone_id)
        return [v["VPCId"] for v in r.get("VPCs", [])]


def _name(fqdn: str) -> str:
    return fqdn.lower().rstrip(".")


def route53_order(fqdn: str) -> str:
    """Route 53 lists record sets by name with the labels reversed, in ASCII
    order, with a trailing dot (www.example.com -> com.example.www.)."""
    return ".".join(reversed(_name(fqdn).split("."))) + "."
