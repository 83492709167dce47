"""``history`` and ``unlock``: the site's record, and breaking the lock of a
command that died (saying what it had planned)."""

from __future__ import annotations

from typing import Any

from bluegreen.lifecycle import history, lock
from bluegreen.lifecycle.session import Session


def history_entries(sess: Session, limit: int) -> list[dict[str, Any]]:
    return history.entries(sess.gw, sess.names, limit)


_BOOKKEEPING = ("groups_before", "before", "started", "history_key", "target")


def unlock(sess: Session, lock_id: str) -> dict[str, Any]:
    info = lock.break_lock(sess.gw, sess.names, lock_id)
    doing = info.intended()
    if doing:  # the intent goes with the lock: say what the killed command was doing
        sess.reporter.warn(
            f"the {info.command} that held it had planned: "
            + ", ".join(f"{k}={v}" for k, v in sorted(doing.items()) if k not in _BOOKKEEPING)
            + "; run `bluegreen status` before running it again"
        )
    return {
        "unlocked": info.lock_id,
        "holder": info.describe(sess.gw.clock.now()),
        "was_doing": doing,
    }
