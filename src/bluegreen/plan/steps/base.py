"""The base of every step (``Step``, its ``Context``), polling, client tokens and the fixed wait."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from bluegreen.aws import Gateway
from bluegreen.errors import AwsError, WaitTimeout
from bluegreen.ui import Reporter

T = TypeVar("T")


@dataclass
class Context:
    gw: Gateway
    reporter: Reporter
    region: str
    poll_interval: float = 5.0
    facts: dict[str, Any] = field(default_factory=dict)


class Step:
    """Base of all steps."""

    moves_traffic = False
    removes_capacity = False

    def describe(self) -> str:  # pragma: no cover - every step overrides
        raise NotImplementedError

    def apply(self, ctx: Context) -> str:  # pragma: no cover - every step overrides
        """Do the work (or find it done); return a short outcome for the log."""
        raise NotImplementedError


def poll(
    ctx: Context,
    label: str,
    check: Callable[[], tuple[bool, float, float, str]],
    *,
    timeout: float,
    what_to_do: str,
) -> float:
    """Call ``check`` until it reports done; returns seconds waited.

    ``check`` returns (done, progress done, progress total, detail).
    """
    clock = ctx.gw.clock
    start = clock.monotonic()
    delay = min(ctx.poll_interval, 2.0)
    with ctx.reporter.progress(label) as bar:
        while True:
            done, n, total, detail = check()
            bar.update(n, total, detail)
            waited = clock.monotonic() - start
            if done:
                return waited
            if waited >= timeout:
                raise WaitTimeout(
                    f"{label}: not done after {waited:.0f}s",
                    found=detail,
                    fix=what_to_do,
                )
            clock.sleep(min(delay, max(timeout - waited, 0.01)))
            delay = min(delay * 1.5, ctx.poll_interval)


def client_token(*parts: str) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:64]


def instance_groups(
    ctx: Context, fallback: str, groups: tuple[str, ...], vpc_id: str
) -> tuple[str, ...]:
    """The web servers' security groups (docs/SECURITY.md): the adopted groups
    (``security_groups``: their ids, ``sg-...``, which no group name may
    start with), or bluegreen's group named ``groups[0]`` in the VPC, or
    ``fallback`` (the load balancer's group) on a site still using one group
    for both, until ``bluegreen init`` moves it."""
    if groups and all(g.startswith("sg-") for g in groups):
        return groups
    if groups and vpc_id:
        found = ctx.gw.find_security_group(vpc_id, groups[0])
        if found is not None:
            return (str(found["GroupId"]),)
    return (fallback,)


PROFILE_WAIT = 300.0  # seconds a new instance profile may stay unknown to Auto Scaling


def _profile_not_yet_known(e: AwsError) -> bool:
    """Auto Scaling's answer while a new instance profile has not reached it:
    ValidationError "Invalid IamInstanceProfile: NAME" (launch configurations) or
    "... iamInstanceProfile.name is invalid" (launch templates)."""
    return e.code in ("ValidationError", "InvalidParameterValue") and (
        "iaminstanceprofile" in e.message.lower().replace(" ", "")
    )


def wait_out_profile_propagation(
    ctx: Context, profile: str, create: Callable[[], T], *, timeout: float = PROFILE_WAIT
) -> tuple[T, float]:
    """Run ``create``; while AWS refuses it because the instance profile is not
    usable yet, try again. IAM is eventually consistent: a profile made by
    ``init`` seconds ago can be refused for tens of seconds
    (https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_general.html#troubleshoot_general_eventual-consistency).
    Returns what ``create`` returned and the seconds waited."""
    return retry_while_refused(
        ctx,
        create,
        refused=_profile_not_yet_known,
        waiting=f"instance profile {profile} is not usable yet (IAM changes take a while "
        "to reach Auto Scaling)",
        gave_up=f"AWS still refuses instance profile {profile}",
        fix=f"check that instance profile {profile} exists and holds its role "
        "(`bluegreen init` repairs both), then run the command again",
        timeout=timeout,
    )


def retry_while_refused(
    ctx: Context,
    action: Callable[[], T],
    *,
    refused: Callable[[AwsError], bool],
    waiting: str,
    gave_up: str,
    fix: str,
    timeout: float,
) -> tuple[T, float]:
    """Run ``action``; while AWS refuses it with an answer ``refused`` takes
    for one that time will change (an eventually consistent service not yet
    caught up), say so once (``waiting``) and try again with a growing pause
    on the gateway's clock, for at most ``timeout`` seconds; then WaitTimeout
    (``gave_up``, AWS's last answer, ``fix``). Returns what ``action``
    returned and the seconds waited."""
    clock = ctx.gw.clock
    start = clock.monotonic()
    told = False
    delay = 5.0
    while True:
        try:
            return action(), clock.monotonic() - start
        except AwsError as e:
            if not refused(e):
                raise
            waited = clock.monotonic() - start
            if waited >= timeout:
                raise WaitTimeout(
                    f"{gave_up} after {waited:.0f}s", found=e.message, fix=fix
                ) from None
            if not told:
                ctx.reporter.info(f"{waiting}: trying again for up to {timeout:.0f}s")
                told = True
            clock.sleep(min(delay, max(timeout - waited, 0.01)))
            delay = min(delay * 1.5, 30.0)


# -- releases -----------------------------------------------------------------

WITH_FIRST_CHANGE = "with_first_change"  # ctx.facts: run while the first change syncs


def run_pending(ctx: Context) -> None:
    pending = ctx.facts.pop(WITH_FIRST_CHANGE, None)
    if pending is not None:
        pending()


@dataclass(frozen=True)
class Wait(Step):
    """Wait a fixed time (draining), showing a countdown."""

    seconds: float
    why: str

    def describe(self) -> str:
        return f"wait {self.seconds:.0f}s: {self.why}"

    def apply(self, ctx: Context) -> str:
        clock = ctx.gw.clock
        end = clock.monotonic() + self.seconds
        with ctx.reporter.progress(f"waiting: {self.why}") as bar:
            while (left := end - clock.monotonic()) > 0:
                bar.update(self.seconds - left, self.seconds, f"{left:.0f}s left")
                clock.sleep(min(left, 5.0))
            bar.update(self.seconds, self.seconds, "done")
        return f"waited {self.seconds:.0f}s"


# -- attachments (lb strategy, and detaching before a delete) ----------------------
