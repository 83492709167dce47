"""The lock table, the hosted zones and the alias records.

The public zone holds the live names; the private zone (bound to the site's
VPC, same name) holds the staging names and, since inside the VPC it answers
for the whole domain, the live names too, pointing where the public ones do
(split-horizon DNS: docs/SECURITY.md). init creates missing records (the live
names at load balancer 1, the staging names at load balancer 2, the seed's
initial order) and repairs a record's alias hosted zone id; it never moves
the public live names or the staging names (switch does), and it points the
private live names where the public ones point.
"""

from __future__ import annotations

from typing import Any

from bluegreen.errors import AwsError
from bluegreen.model.naming import bare
from bluegreen.site.classic import Target
from bluegreen.site.outcome import Ctx


def table(c: Ctx) -> None:
    gw, name = c.gw, c.n.lock_table
    what = f"DynamoDB table {name} (locks and history)"
    if gw.table_exists(name):
        c.rec.ok(what)
        return
    c.rec.create(what, lambda: gw.create_table(name, {"bluegreen:purpose": "locks-and-history"}))


def _zone_id(z: dict[str, Any]) -> str:
    return str(z["Id"]).split("/")[-1]


Zones = tuple[dict[str, Any] | None, dict[str, Any] | None]


def zones(c: Ctx, vpc_id: str | None, found: Zones) -> tuple[str | None, str | None]:
    """``found``: the site's public and private zone as read before init
    changed anything (``bluegreen.observe.site_zones``, which refuses several
    of a kind)."""
    gw, n = c.gw, c.n
    public, private = found
    # One CallerReference per intended zone: the site's VPC tells apart a zone
    # made again after a teardown from a retry of the same creation.
    incarnation = vpc_id or "new"
    pub_what = f"public hosted zone {n.zone_name}" + (
        " (adopted)" if n.adopted.public_zone_id else ""
    )
    if public:
        c.rec.ok(pub_what)
        pub_id: str | None = _zone_id(public)
    else:
        made = c.rec.create(
            pub_what,
            lambda: gw.create_zone(n.zone_name, n.caller_reference("public", incarnation)),
        )
        pub_id = str(made).split("/")[-1] if made else None
    priv_what = f"private hosted zone {n.zone_name} (bound to {vpc_id or n.vpc})" + (
        " (adopted)" if n.adopted.private_zone_id else ""
    )
    priv_id: str | None = None
    if private:
        priv_id = _zone_id(private)
        bound = gw.zone_vpcs(priv_id) if vpc_id else []
        zid, vpc = priv_id, vpc_id
        c.rec.check(
            priv_what,
            [] if vpc is None or vpc in bound else [f"it was not bound to {vpc}"],
            lambda: gw.associate_zone(zid, str(vpc), gw.region),
        )
    elif vpc_id is None:
        c.rec.create(priv_what, lambda: None)
    else:
        made = c.rec.create(
            priv_what,
            lambda: gw.create_zone(
                n.zone_name,
                n.caller_reference("private", vpc_id),
                vpc_id=vpc_id,
                region=gw.region,
            ),
        )
        priv_id = str(made).split("/")[-1] if made else None
    return pub_id, priv_id


def records(
    c: Ctx, pub_id: str | None, priv_id: str | None, lbs: dict[str, Target], shared: bool
) -> None:
    n = c.n
    lb1, lb2 = n.load_balancers
    staging_lb = lb1 if shared else lb2
    by_target = {bare(dns): (dns, zone) for dns, zone in lbs.values()}
    public_now = _read(c, pub_id, n.live_fqdns)
    live = _main_target(public_now) or (bare(lbs[lb1][0]) if lb1 in lbs else None)
    live_target = by_target.get(live) if live else None
    _zone_records(
        c, pub_id, "public", {f: lbs.get(lb1) for f in n.live_fqdns}, by_target, public_now
    )
    want_private: dict[str, Target | None] = {f: live_target for f in n.private_live_fqdns}
    want_private.update({f: lbs.get(staging_lb) for f in n.staging_fqdns})
    _zone_records(
        c,
        priv_id,
        "private",
        want_private,
        by_target,
        _read(c, priv_id, n.private_fqdns),
        follow=set(n.private_live_fqdns),
    )


def _read(c: Ctx, zone_id: str | None, fqdns: tuple[str, ...]) -> dict[str, list[dict[str, Any]]]:
    if zone_id is None:
        return {f: [] for f in fqdns}
    return dict(zip(fqdns, c.gw.records_for(zone_id, list(fqdns))))


def _main_target(current: dict[str, list[dict[str, Any]]]) -> str | None:
    """Where the public live names send most traffic (the live load balancer)."""
    for recs in current.values():
        aliased = [r for r in recs if r.get("AliasTarget")]
        if aliased:
            best = max(aliased, key=lambda r: int(r.get("Weight", 1)))
            return bare(best["AliasTarget"]["DNSName"])
    return None


def _alias(fqdn: str, target: Target, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "Name": fqdn,
        "Type": "A",
        **(extra or {}),
        "AliasTarget": {
            "HostedZoneId": target[1],
            "DNSName": target[0],
            "EvaluateTargetHealth": True,
        },
    }


def _zone_records(
    c: Ctx,
    zone_id: str | None,
    label: str,
    want: dict[str, Target | None],
    by_target: dict[str, Target],
    current: dict[str, list[dict[str, Any]]],
    follow: set[str] = frozenset(),  # type: ignore[assignment]
) -> None:
    """Create the missing records; repair a wrong alias zone id, and for the
    names in ``follow`` (private live names) a target other than ``want``."""
    create: list[dict[str, Any]] = []
    upsert: list[dict[str, Any]] = []
    diffs: list[str] = []
    for fqdn, target in want.items():
        name = fqdn.rstrip(".")
        recs = current.get(fqdn, [])
        if not recs:
            if target is not None:
                create.append({"Action": "CREATE", "ResourceRecordSet": _alias(fqdn, target)})
            continue
        for r in recs:
            at = r.get("AliasTarget")
            if not at:
                continue
            extra: dict[str, Any] = {k: r[k] for k in ("SetIdentifier", "Weight") if k in r}
            pointed = by_target.get(bare(at["DNSName"]))
            if (
                fqdn in follow
                and target is not None
                and not extra
                and bare(at["DNSName"]) != bare(target[0])
            ):
                diffs.append(
                    f"{name} pointed at {bare(at['DNSName'])}, not where the public one does"
                )
                upsert.append({"Action": "UPSERT", "ResourceRecordSet": _alias(fqdn, target)})
            elif pointed is not None and at.get("HostedZoneId") != pointed[1]:
                diffs.append(
                    f"{name}'s alias hosted zone id was {at.get('HostedZoneId') or 'empty'}"
                )
                upsert.append(
                    {
                        "Action": "UPSERT",
                        "ResourceRecordSet": _alias(fqdn, (at["DNSName"], pointed[1]), extra),
                    }
                )
    if create:
        names = ", ".join(x["ResourceRecordSet"]["Name"].rstrip(".") for x in create)
        c.rec.create(
            f"{label} alias records {names}", lambda: _change(c, str(zone_id), create, label)
        )
    if zone_id is not None:
        what = f"{label} alias records in {c.n.zone_name}"
        c.rec.check(what, diffs, lambda: _change(c, zone_id, upsert, label))


def _change(c: Ctx, zone_id: str, changes: list[dict[str, Any]], label: str) -> None:
    """One atomic batch. A CREATE retried after AWS made it answers
    InvalidChangeBatch "already exists": converged when every record now exists."""
    gw = c.gw
    try:
        change = gw.change_records(zone_id, changes, f"bluegreen init: {label} records")
    except AwsError as e:
        if e.code != "InvalidChangeBatch" or "already exists" not in e.message:
            raise
        names = [x["ResourceRecordSet"]["Name"] for x in changes]
        if not all(gw.records_for(zone_id, names)):
            raise
        # Made by the first attempt, whose answer was lost: its change may
        # still be PENDING, so wait on an UPSERT of the same records instead
        # (https://docs.aws.amazon.com/Route53/latest/APIReference/API_GetChange.html).
        same = [{"Action": "UPSERT", "ResourceRecordSet": x["ResourceRecordSet"]} for x in changes]
        change = gw.change_records(zone_id, same, f"bluegreen init: {label} records")
    with c.rec.reporter.progress(f"Route 53 applying the {label} records") as bar:
        gw.wait_insync(change, c.s.dns_timeout, bar)
