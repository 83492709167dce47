"""``iam-policy``: the least-privilege IAM policy for operating or baking a
site (see ``bluegreen.policy``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bluegreen.aws.base import Hook
from bluegreen.errors import BluegreenError
from bluegreen.lifecycle.session import open_session
from bluegreen.model.naming import TAG_DOMAIN
from bluegreen.model.settings import Settings
from bluegreen.ui import Reporter


def iam_policy(
    settings: Settings,
    purpose: str = "operate",
    *,
    account_id: str | None = None,
    lookup: bool = True,
    reporter: Reporter | None = None,
    hooks: Sequence[Hook] = (),
) -> dict[str, Any]:
    """The least-privilege policy for ``purpose``. With ``lookup``, the account
    (STS) and the hosted zone ids (Route 53) are read through the gateway; what
    cannot be read stays a wildcard, with a note."""
    from bluegreen.model.adoption import pick_zones
    from bluegreen.policy import iam_policy as policies
    from bluegreen.site import ownership as owned

    names = settings.names()
    r = reporter or Reporter()
    account, zones, region = account_id or "*", (None, None), settings.region
    vpc_id: str | None = None
    adopted: dict[str, Any] = {}
    if lookup:
        gw = open_session(settings, r, hooks=hooks).gw
        region = gw.region
        try:
            if account_id is None:
                account = gw.account_id()
            pub, priv = pick_zones(gw.find_zones(names.zone_name), names.adopted)
            zones = (
                next((z["Id"].split("/")[-1] for z in pub), None),
                next((z["Id"].split("/")[-1] for z in priv), None),
            )
            adopted = owned.policy_arns(gw, names)
            if purpose == "bake":  # Packer's temporary security group: in the site's VPC
                vpc = gw.find_vpc(TAG_DOMAIN, names.domain, names.vpc)
                vpc_id = names.adopted.vpc_id or (str(vpc["VpcId"]) if vpc else None)
        except BluegreenError as e:
            r.warn(f"could not look up the account and hosted zones ({e.message}): using wildcards")
    if account == "*":
        r.info("note: the account id is a wildcard; pass --account-id to pin it")
    if None in zones:
        r.info("note: a hosted zone id is a wildcard (not created yet, or not readable)")
    if purpose == "bake" and vpc_id is None:
        r.info("note: the site's VPC id is a wildcard (run init first, then print it again)")
    if names.adopted.instance_profile and not adopted.get("passed_role"):
        r.info("note: the adopted instance profile's role is a wildcard in iam:PassRole")
    target = policies.Target(names, region, account, zones[0], zones[1], vpc_id=vpc_id, **adopted)
    return policies.build(settings, purpose, target)
