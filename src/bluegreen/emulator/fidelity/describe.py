"""Descriptions that AWS gives and the emulator leaves out."""

from __future__ import annotations

import hashlib
import re

from bluegreen.aws.elb import CLASSIC_ELB_ZONE_IDS
from bluegreen.emulator.fidelity.layer import Behaviour
from bluegreen.emulator.fidelity.wire import Call, Reply

# Opted-in Local and Wavelength Zones of a region: (name, id, type, group,
# parent zone). Real names for the regions that have them; elsewhere one of
# each, named after the region, so every region shows the behaviour.
_EXTRA = {
    "us-east-1": [
        ("us-east-1-bos-1a", "use1-bos1-az1", "local-zone", "us-east-1-bos-1", "us-east-1a"),
        (
            "us-east-1-wl1-bos-wlz-1",
            "use1-wl1-bos-wlz1",
            "wavelength-zone",
            "us-east-1-wl1-bos-wlz-1",
            "us-east-1a",
        ),
    ],
    "us-west-2": [
        ("us-west-2-lax-1a", "usw2-lax1-az1", "local-zone", "us-west-2-lax-1", "us-west-2a"),
        (
            "us-west-2-wl1-sea-wlz-1",
            "usw2-wl1-sea-wlz1",
            "wavelength-zone",
            "us-west-2-wl1-sea-wlz-1",
            "us-west-2a",
        ),
    ],
}


def _extra(region: str) -> list[tuple[str, str, str, str, str]]:
    return _EXTRA.get(
        region,
        [
            (
                f"{region}-loc-1a",
                f"{region}-loc1-az1",
                "local-zone",
                f"{region}-loc-1",
                f"{region}a",
            ),
            (
                f"{region}-wl1-loc-wlz-1",
                f"{region}-wl1-loc-wlz1",
                "wavelength-zone",
                f"{region}-wl1-loc-wlz-1",
                f"{region}a",
            ),
        ],
    )


def _filters(call: Call) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for k, v in call.params.items():
        m = re.fullmatch(r"Filter\.(\d+)\.Name", k)
        if m:
            n = m.group(1)
            out[v] = {
                val for key, val in call.params.items() if key.startswith(f"Filter.{n}.Value.")
            }
    return out


class OptInZones(Behaviour):
    """DescribeAvailabilityZones lists the opted-in Local and Wavelength Zones
    with the ordinary ones (their names sort before them); ``zone-type``
    tells them apart
    https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeAvailabilityZones.html
    https://docs.aws.amazon.com/local-zones/latest/ug/how-local-zones-work.html
    """

    def after(self, call: Call, reply: Reply) -> Reply:
        if call.service != "ec2" or call.action != "DescribeAvailabilityZones" or not reply.ok:
            return reply
        filters = _filters(call)
        names = set(call.suffixed("ZoneName.1")) | {
            v for k, v in call.params.items() if re.fullmatch(r"ZoneName\.\d+", k)
        }
        items = []
        for name, zid, kind, group, parent in _extra(call.region):
            attrs = {
                "zone-type": kind,
                "zone-name": name,
                "zone-id": zid,
                "region-name": call.region,
                "state": "available",
                "opt-in-status": "opted-in",
                "group-name": group,
            }
            if any(f not in attrs or attrs[f] not in vals for f, vals in filters.items()):
                continue
            if names and name not in names:
                continue
            items.append(
                f"<item><optInStatus>opted-in</optInStatus><messageSet/>"
                f"<regionName>{call.region}</regionName><zoneName>{name}</zoneName>"
                f"<zoneId>{zid}</zoneId><groupName>{group}</groupName>"
                f"<networkBorderGroup>{group}</networkBorderGroup><zoneType>{kind}</zoneType>"
                f"<parentZoneName>{parent}</parentZoneName><zoneState>available</zoneState>"
                "</item>"
            )
        if not items:
            return reply
        return reply.with_text(
            reply.text.replace(
                "<availabilityZoneInfo>", "<availabilityZoneInfo>" + "".join(items), 1
            )
        )


def classic_zone_id(region: str) -> str:
    """The region's hosted zone id for classic load balancers, as AWS lists it
    https://docs.aws.amazon.com/general/latest/gr/elb.html
    (regions outside that table get a stable made-up id of the same form)."""
    known = CLASSIC_ELB_ZONE_IDS.get(region)
    if known:
        return known
    return "Z" + hashlib.sha256(region.encode()).hexdigest().upper()[:13]


class CanonicalZoneIds(Behaviour):
    """Classic load balancers are described with CanonicalHostedZoneNameID,
    the alias target's hosted zone
    https://docs.aws.amazon.com/elasticloadbalancing/2012-06-01/APIReference/API_LoadBalancerDescription.html
    """

    def after(self, call: Call, reply: Reply) -> Reply:
        if not (call.classic_elb and call.action == "DescribeLoadBalancers" and reply.ok):
            return reply
        if "<CanonicalHostedZoneNameID>" in reply.text:
            return reply
        zid = classic_zone_id(call.region)
        return reply.with_text(
            reply.text.replace(
                "</CanonicalHostedZoneName>",
                f"</CanonicalHostedZoneName><CanonicalHostedZoneNameID>{zid}"
                "</CanonicalHostedZoneNameID>",
            )
        )
