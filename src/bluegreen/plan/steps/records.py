"""The Route 53 step: alias records moved in one atomic, conditional change batch per zone."""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from bluegreen.errors import AwsError, StateError
from bluegreen.model import Alias
from bluegreen.model.naming import bare
from bluegreen.plan.steps.base import WITH_FIRST_CHANGE, Context, Step, run_pending


@dataclass(frozen=True)
class AliasTarget:
    dns_name: str
    zone_id: str
    weight: int | None = None
    set_id: str | None = None


Record = tuple[str, str, str, int | None, str | None, bool]  # a record set, compared exactly
Key = tuple[str, str, int | None, str | None]  # where a name points: what a switch decides


def _exact(rr: Mapping[str, Any]) -> Record:
    at = rr.get("AliasTarget") or {}
    return (
        str(rr["Name"]).lower().rstrip("."),
        str(at.get("DNSName", "")).lower().rstrip("."),
        str(at.get("HostedZoneId", "")),
        int(rr["Weight"]) if rr.get("Weight") is not None else None,
        rr.get("SetIdentifier"),
        bool(at.get("EvaluateTargetHealth")),
    )


def _key(rr: Mapping[str, Any]) -> Key:
    name, dns, _, weight, set_id, _ = _exact(rr)
    return (name, bare(dns), weight, set_id)


class RecordsChanged(StateError):
    """Route 53 refused a conditional change batch: the records are not as
    observed. Nothing was changed by that batch."""


@dataclass(frozen=True)
class SetAliases(Step):
    """Point alias A records of one zone at load balancers in one atomic,
    conditional change batch; wait until Route 53 reports INSYNC.

    ``fqdns`` go to ``targets``; ``more`` gives other names of the same zone
    with their own targets (the private zone's live and staging names move in
    one batch). One target gives a simple alias; several give weighted aliases
    (``weight`` and ``set_id`` set).

    ``expect`` is the records as observed when planning (None: read them
    first). The batch DELETEs exactly those and CREATEs the new ones: Route 53
    applies a batch entirely or not at all, and refuses a DELETE of a record
    that does not exist with the same values, or a CREATE of one that does
    (InvalidChangeBatch), so a writer that changed the records since they were
    read makes the batch fail instead of being overwritten. No read before the
    change and none after it (https://docs.aws.amazon.com/Route53/latest/
    APIReference/API_ChangeResourceRecordSets.html: "To delete a resource
    record set, you must specify all the same values that you specified when
    you created it"). When the batch is refused, the records are read once:
    already as wanted (an earlier, interrupted run got there) is success;
    pointing where they were observed to point, with other attributes, gets
    one more batch from what was read; anything else refuses, nothing changed.
    """

    zone_id: str
    zone_label: str  # "public" or "private", for messages
    fqdns: tuple[str, ...]
    targets: tuple[AliasTarget, ...]
    balancer_label: str
    dns_timeout: float = 300.0
    comment: str = "bluegreen"
    more: tuple[tuple[tuple[str, ...], tuple[AliasTarget, ...]], ...] = ()
    expect: tuple[Alias, ...] | None = None
    moves_traffic = True

    def describe(self) -> str:
        return (
            f"point {', '.join(f.rstrip('.') for f in self.fqdns)} ({self.zone_label} zone) "
            f"at {self.balancer_label}"
        )

    def _names(self) -> tuple[str, ...]:
        return (*self.fqdns, *(f for names, _ in self.more for f in names))

    def _wanted(self) -> list[dict[str, Any]]:
        out = []
        for names, targets in ((self.fqdns, self.targets), *self.more):
            for f in names:
                for t in targets:
                    rrs: dict[str, Any] = {
                        "Name": f,
                        "Type": "A",
                        "AliasTarget": {
                            "HostedZoneId": t.zone_id,
                            "DNSName": t.dns_name,
                            "EvaluateTargetHealth": True,
                        },
                    }
                    if t.set_id is not None:
                        rrs["SetIdentifier"] = t.set_id
                        rrs["Weight"] = t.weight
                    out.append(rrs)
        return out

    def _read(self, ctx: Context) -> list[dict[str, Any]]:
        return [r for rs in ctx.gw.records_for(self.zone_id, self._names()) for r in rs]

    def _batch(
        self, have: list[Mapping[str, Any]], want: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        keep = {_exact(r) for r in want}
        there = {_exact(r) for r in have}
        changes: list[dict[str, Any]] = [
            {"Action": "DELETE", "ResourceRecordSet": dict(r)}
            for r in have
            if _exact(r) not in keep
        ]
        changes += [
            {"Action": "CREATE", "ResourceRecordSet": r} for r in want if _exact(r) not in there
        ]
        return changes

    def apply(self, ctx: Context) -> str:
        outcome = self._apply(ctx)
        run_pending(ctx)  # when no change was made: still before the next one
        return outcome

    def _apply(self, ctx: Context) -> str:

        want = self._wanted()
        expect: list[Mapping[str, Any]] = (
            [a.record() for a in self.expect] if self.expect is not None else [*self._read(ctx)]
        )
        already = ""
        for attempt in (1, 2):
            changes = self._batch(expect, want)
            if not changes:
                return "already so"
            try:
                change_id = ctx.gw.change_records(self.zone_id, changes, self.comment)
                break
            except AwsError as e:
                if e.code != "InvalidChangeBatch":
                    raise
                have = self._read(ctx)
                if {_key(r) for r in have} == {_key(r) for r in want}:
                    # Already so: this batch's own first attempt, whose response
                    # was lost, or another writer. Either change may still be
                    # PENDING, and what follows (the out-of-traffic mark that
                    # clean's drain counts from, the checks on the live names)
                    # needs it INSYNC: an UPSERT of the same records gives a
                    # change id to wait on, which is INSYNC only once Route 53
                    # has propagated it (and so what came before it)
                    # (https://docs.aws.amazon.com/Route53/latest/APIReference/API_GetChange.html).
                    upsert = [{"Action": "UPSERT", "ResourceRecordSet": r} for r in want]
                    change_id = ctx.gw.change_records(self.zone_id, upsert, self.comment)
                    already = "already so (changed since it was observed), "
                    break
                if {_exact(r) for r in have} == {_exact(r) for r in expect}:
                    raise  # refused for another reason than a change of the records
                if attempt == 1 and {_key(r) for r in have} == {_key(r) for r in expect}:
                    expect = [*have]  # same targets, other attributes: once more from what is there
                    continue
                raise RecordsChanged(
                    f"the {self.zone_label} zone's records are not as observed, so bluegreen "
                    "cannot tell which environment is live: Route 53 refused the change "
                    "(nothing was changed)",
                    found="records now: "
                    + "; ".join(
                        f"{n} -> {d}" + (f" ({sid} weight {w})" if sid else "")
                        for n, d, w, sid in sorted(_key(r) for r in have)
                    )
                    + "; expected: "
                    + "; ".join(
                        f"{n} -> {d}" + (f" ({sid} weight {w})" if sid else "")
                        for n, d, w, sid in sorted(_key(r) for r in expect)
                    ),
                    fix="someone or something else changed the records (or the public and the "
                    "private zone disagree): run `bluegreen status`, make every live name point "
                    "at one load balancer, then run the command again",
                ) from None
        else:  # pragma: no cover - the loop breaks or returns
            raise AssertionError
        pending = ctx.facts.pop(WITH_FIRST_CHANGE, None)
        with ThreadPoolExecutor(max_workers=1) as pool:
            # Bookkeeping that must be done before the next change, not before
            # this one, runs while Route 53 syncs (see bluegreen.lifecycle.run.execute).
            f = pool.submit(pending) if pending is not None else None
            label = f"Route 53 applying the change to the {self.zone_label} zone"
            with ctx.reporter.progress(label) as bar:
                waited = ctx.gw.wait_insync(change_id, self.dns_timeout, bar)
            if f is not None:
                f.result()
        return f"{already or 'changed, '}in sync after {waited:.0f}s"
