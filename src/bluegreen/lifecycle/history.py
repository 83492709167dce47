"""The release history, kept in AWS so that every operator sees the same one.

One DynamoDB item per changing command, in the table that holds the lock:
partition ``history#DOMAIN``, sort key the start time (ISO 8601), the wall
clock in nanoseconds when it was written (orders entries of the same second)
and a random suffix, so ``history`` reads the newest first with one query.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from bluegreen.aws import Gateway
from bluegreen.clock import iso
from bluegreen.model.naming import Names


def pk(names: Names) -> str:
    return f"history#{names.domain}"


def key(started: float) -> str:
    """A new entry's sort key. A command that may be resumed after a kill
    keeps it in its lock intent: every run of it writes the same item, so the
    command is in history once however many runs were killed."""
    return f"{iso(started)}#{time.time_ns():020d}#{uuid.uuid4().hex[:8]}"


def item(gw: Gateway, names: Names, entry: dict[str, Any], sk: str | None = None) -> dict[str, Any]:
    """The DynamoDB item of one entry, under ``sk`` (from ``key``) when given
    (``lock.DomainLock.release`` writes it with the lock's release, in one
    transaction)."""
    started = float(entry.get("started", gw.clock.now()))
    return {
        "pk": {"S": pk(names)},
        "sk": {"S": sk or key(started)},
        "entry": {"S": json.dumps(entry, sort_keys=True, default=str)},
    }


def record(gw: Gateway, names: Names, entry: dict[str, Any], sk: str | None = None) -> None:
    """Write ``entry``; under ``sk`` (from ``key``) when given, replacing an
    entry an earlier run of the same command wrote."""
    gw.put_item(names.lock_table, item(gw, names, entry, sk))


def entries(gw: Gateway, names: Names, limit: int = 20) -> list[dict[str, Any]]:
    items = gw.query(names.lock_table, pk(names), limit)
    out = []
    for it in items:
        e = json.loads(it["entry"]["S"])
        if isinstance(e, dict):
            out.append(e)
    return out
