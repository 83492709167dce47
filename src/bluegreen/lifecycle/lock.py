"""The per-domain lock: one changing command at a time per site.

Built on a DynamoDB conditional put (``attribute_not_exists``) in the table
that ``init`` creates. The lock records who holds it (user, host, process),
which command and since when. It is released on success, on failure and on
Ctrl-C/SIGTERM (the command line turns SIGTERM into an exception). A lock left
by a process that was killed outright is broken with ``bluegreen unlock
--lock-id ID``; a lock held by a process of this same host that no longer
exists is taken over at once, with a warning.

Crash safety: once a command has planned, it writes what it is about to do
(its *intent*: the command, its target, the plan's facts, e.g. which load
balancer becomes live, and what the site looked like before) into its lock
item. A command that takes over the lock of a killed process carries that
intent over into its own lock item at once (``DomainLock.resumes``), and keeps
it when it plans the same operation: however many re-runs are killed in turn,
each one sees the intent of the first, interrupted run, so running the same
command again finishes that operation instead of, say, switching back a switch
that had completed just before the kill. The intent goes only when the lock is
released, which a command does once its effects are complete and recorded in
history.

Every write here is safe to retry after a lost response: a retried acquire
that finds its own lock id holds the lock; a retried release that finds no
lock has released it.
"""

from __future__ import annotations

import dataclasses
import getpass
import json
import os
import socket
import uuid
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from bluegreen.aws import ConditionFailed, Gateway
from bluegreen.clock import iso
from bluegreen.errors import LockedError, PermissionDenied, StateError
from bluegreen.model.naming import Names
from bluegreen.ui import Reporter

LOCK_SK = "lock"
STALE_AFTER = 6 * 3600.0  # no command runs this long: a lock this old is stale


@dataclass(frozen=True)
class LockInfo:
    lock_id: str
    who: str
    host: str
    pid: int
    command: str
    since: float
    intent: str = ""  # JSON: the plan's command and facts, once planned

    def intended(self) -> dict[str, Any]:
        """What the holder was doing: its plan's facts (empty before it planned)."""
        try:
            data = json.loads(self.intent) if self.intent else {}
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}

    def describe(self, now: float) -> str:
        return (
            f"{self.command} by {self.who} on {self.host} (pid {self.pid}) since {iso(self.since)} "
            f"({now - self.since:.0f}s ago), lock id {self.lock_id}"
        )

    def stale(self, now: float) -> bool:
        return now - self.since > STALE_AFTER


def pk(names: Names) -> str:
    return f"site#{names.domain}"


def whoami() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return str(os.getuid()) if hasattr(os, "getuid") else "unknown"


def _item(info: LockInfo, names: Names) -> dict[str, Any]:
    item: dict[str, Any] = {
        "pk": {"S": pk(names)},
        "sk": {"S": LOCK_SK},
        "lock_id": {"S": info.lock_id},
        "who": {"S": info.who},
        "host": {"S": info.host},
        "pid": {"N": str(info.pid)},
        "command": {"S": info.command},
        "since": {"N": repr(info.since)},
    }
    if info.intent:
        item["intent"] = {"S": info.intent}
    return item


def _from_item(item: dict[str, Any]) -> LockInfo:
    return LockInfo(
        lock_id=item["lock_id"]["S"],
        who=item["who"]["S"],
        host=item["host"]["S"],
        pid=int(item["pid"]["N"]),
        command=item["command"]["S"],
        since=float(item["since"]["N"]),
        intent=item.get("intent", {}).get("S", ""),
    )


def _no_table(names: Names) -> StateError:
    return StateError(
        f"the lock table {names.lock_table} does not exist",
        fix="run `bluegreen init` (it creates the table that holds locks and history)",
    )


def read(gw: Gateway, names: Names) -> LockInfo | None:
    item = gw.get_item(names.lock_table, pk(names), LOCK_SK)
    return _from_item(item) if item else None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class DomainLock:
    def __init__(self, gw: Gateway, names: Names, command: str, reporter: Reporter) -> None:
        self.gw = gw
        self.names = names
        self.reporter = reporter
        self.info = LockInfo(
            lock_id=uuid.uuid4().hex[:16],
            who=whoami(),
            host=socket.gethostname(),
            pid=os.getpid(),
            command=command,
            since=gw.clock.now(),
        )
        self.held = False
        self.history_items: list[dict[str, Any]] = []  # written with the release
        self.taken_over: LockInfo | None = None  # the killed holder this lock replaced

    def acquire(self) -> LockInfo:
        table = self.names.lock_table
        try:
            self.gw.put_item(table, _item(self.info, self.names), "attribute_not_exists(pk)")
        except ConditionFailed:
            holder = read(self.gw, self.names)
            if holder is None:  # released in between: try once more
                return self.acquire()
            if holder.lock_id == self.info.lock_id:
                # Our own put succeeded, its response was lost and the retry
                # found the item: we hold the lock.
                self.held = True
                return self.info
            if holder.host == self.info.host and not _pid_alive(holder.pid):
                self.reporter.warn(
                    f"taking over the lock of {holder.command} (pid {holder.pid}), which is no "
                    "longer running on this host"
                )
                # The dead holder's intent (its own, or the one it carried
                # over from an earlier kill) stays in the lock item.
                self.info = dataclasses.replace(self.info, intent=holder.intent)
                self._replace(holder)
                self.taken_over = holder
            else:
                now = self.gw.clock.now()
                stale = " It looks stale." if holder.stale(now) else ""
                raise LockedError(
                    f"{self.names.domain} is locked by another bluegreen command.{stale}",
                    found=holder.describe(now),
                    fix="wait for it to finish; if that process is gone (killed), break the "
                    f"lock with `bluegreen unlock --lock-id {holder.lock_id}`",
                ) from None
        except StateError:
            raise
        except Exception as e:
            if getattr(e, "code", "") == "ResourceNotFoundException":
                raise _no_table(self.names) from None
            raise
        self.held = True
        return self.info

    def _replace(self, holder: LockInfo) -> None:
        try:
            self.gw.put_item(
                self.names.lock_table,
                _item(self.info, self.names),
                "lock_id = :old",
                {":old": {"S": holder.lock_id}},
            )
        except ConditionFailed:
            now = read(self.gw, self.names)
            if now is not None and now.lock_id == self.info.lock_id:
                return  # a retried put whose first attempt succeeded
            raise LockedError(
                f"{self.names.domain} was locked by another command at the same moment",
                fix="run `bluegreen status` and try again",
            ) from None

    def resumes(self, command: str, target: str | None = None) -> dict[str, Any]:
        """The intent of the first, interrupted run of the same operation
        (``command`` and ``target``, e.g. the release of a deploy) when this
        lock took over from it, directly or through killed re-runs; else {}."""
        carried = self.taken_over.intended() if self.taken_over else {}
        if carried.get("command") == command and carried.get("target") == target:
            return carried
        return {}

    def record_intent(self, intent: dict[str, Any]) -> dict[str, Any]:
        """Write what this command is about to do into its lock item, and
        return the intent in force: the first run's, when this lock carries on
        an interrupted run of the same operation (``intent["command"]`` and
        ``intent.get("target")``), which stays as it was. Keys other than
        those two are free for the callers (the plan's facts and whatever a
        resumed run needs)."""
        first = self.resumes(str(intent.get("command")), intent.get("target"))
        if first or not self.held:
            return first or intent
        text = json.dumps(intent, sort_keys=True, default=str)
        info = dataclasses.replace(self.info, intent=text)
        try:
            self.gw.put_item(
                self.names.lock_table,
                _item(info, self.names),
                "lock_id = :id",
                {":id": {"S": self.info.lock_id}},
            )
        except ConditionFailed:
            raise LockedError(
                f"the lock of {self.names.domain} was broken while this command held it",
                found=_holder_text(self.gw, self.names),
                fix="someone ran `bluegreen unlock`; nothing was changed yet: run "
                "`bluegreen status`, then the command again",
            ) from None
        self.info = info
        return intent

    def record_on_release(self, history_item: dict[str, Any]) -> None:
        """Write ``history_item`` (the command's history record) together with
        the release of the lock: one transaction instead of two calls."""
        self.history_items.append(history_item)

    def release(self) -> None:
        if not self.held:
            return
        items, self.history_items = self.history_items, []
        try:
            if items:
                try:
                    self._release_with(items)
                    items = []
                except PermissionDenied:
                    # AWS authorises each item of a transaction as its own
                    # PutItem/DeleteItem (https://docs.aws.amazon.com/amazondynamodb/
                    # latest/developerguide/transaction-apis-iam.html); an emulator
                    # enforcing IAM may ask for dynamodb:TransactWriteItems instead.
                    self._delete()
            else:
                self._delete()
            self._record_alone(items)
        except ConditionFailed:
            # Either a retried delete whose first attempt succeeded (no lock
            # left: released), or someone broke the lock and took it. The
            # history goes in on its own, unless the first attempt wrote it
            # (an emulator may not honour the transaction's request token).
            self._record_alone([i for i in items if not self._written(i)])
            if read(self.gw, self.names) is not None:
                self.reporter.warn("the lock had already been broken by someone else")
        except BaseException:
            self._record_alone(items)
            raise
        self.held = False

    def _condition(self) -> dict[str, Any]:
        return {
            "TableName": self.names.lock_table,
            "Key": {"pk": {"S": pk(self.names)}, "sk": {"S": LOCK_SK}},
            "ConditionExpression": "lock_id = :id",
            "ExpressionAttributeValues": {":id": {"S": self.info.lock_id}},
        }

    def _release_with(self, items: list[dict[str, Any]]) -> None:
        table = self.names.lock_table
        self.gw.transact_write(
            [
                {"Delete": self._condition()},
                *({"Put": {"TableName": table, "Item": i}} for i in items),
            ]
        )

    def _delete(self) -> None:
        c = self._condition()
        self.gw.delete_item(
            c["TableName"],
            pk(self.names),
            LOCK_SK,
            c["ConditionExpression"],
            c["ExpressionAttributeValues"],
        )

    def _written(self, item: dict[str, Any]) -> bool:
        try:
            found = self.gw.get_item(self.names.lock_table, item["pk"]["S"], item["sk"]["S"])
        except Exception:
            return False
        return found is not None

    def _record_alone(self, items: list[dict[str, Any]]) -> None:
        for i in items:
            try:
                self.gw.put_item(self.names.lock_table, i)
            except Exception as e:  # history must never fail a deployment
                self.reporter.warn(f"could not record history: {getattr(e, 'message', e)}")

    def __enter__(self) -> LockInfo:
        return self.acquire()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def _holder_text(gw: Gateway, names: Names) -> str:
    holder = read(gw, names)
    return holder.describe(gw.clock.now()) if holder else "no lock is held now"


def break_lock(gw: Gateway, names: Names, lock_id: str) -> LockInfo:
    holder = read(gw, names)
    if holder is None:
        raise StateError(f"{names.domain} is not locked", fix="nothing to unlock")
    if holder.lock_id != lock_id:
        raise StateError(
            f"the lock of {names.domain} has id {holder.lock_id}, not {lock_id}",
            found=holder.describe(gw.clock.now()),
            fix="pass the id shown by `bluegreen status`; make sure its process is gone first",
        )
    try:
        gw.delete_item(
            names.lock_table, pk(names), LOCK_SK, "lock_id = :id", {":id": {"S": lock_id}}
        )
    except ConditionFailed:
        if read(gw, names) is not None:  # else: a retried delete that had succeeded
            raise StateError("the lock changed while breaking it", fix="run status again") from None
    return holder
