"""One error hierarchy, one exit code per kind of failure.

Every error says what was being done, what was found and what to do about it.
Errors are rendered only by the command line (``cli.main``); library callers get
the exception itself.

Exit codes (documented in the README):

====  ===========================================================
0     success
1     unexpected internal error (a bug: please report it)
2     bad input: an option, argument or configuration value
3     the state of AWS is not what the command needs; nothing changed
4     an AWS call failed (after retries), or permission was denied
5     a wait ran out of time (instances never healthy, DNS not in sync), or
      the instances waited for cannot launch (AWS's reason is shown)
6     another bluegreen command holds the domain's lock
7     a check failed after the switch and the switch was undone
8     a check failed and undoing it failed too: act now
9     a required program is missing (for example ``packer``)
10    an image build (Packer) failed; what it had registered was removed
130   interrupted (Ctrl-C or SIGTERM)
====  ===========================================================
"""

from __future__ import annotations


class BluegreenError(Exception):
    """Base of every error bluegreen raises on purpose."""

    exit_code = 1
    kind = "error"

    def __init__(self, message: str, *, found: str | None = None, fix: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.found = found
        self.fix = fix

    def render(self) -> str:
        lines = [f"{self.kind}: {self.message}"]
        if self.found:
            lines.append(f"  found: {self.found}")
        if self.fix:
            lines.append(f"  to fix: {self.fix}")
        return "\n".join(lines)

    def to_json(self) -> dict[str, object]:
        return {
            "error": self.kind,
            "message": self.message,
            "found": self.found,
            "fix": self.fix,
            "exit_code": self.exit_code,
        }


class InputError(BluegreenError):
    """An option, argument or configuration value is malformed."""

    exit_code = 2
    kind = "bad input"


class StateError(BluegreenError):
    """AWS is not in the shape this command needs. Nothing was changed."""

    exit_code = 3
    kind = "refused"


class CheckFailed(StateError):
    """A health check (``--check`` or ``--check-url``) failed. Before a switch
    this is a refusal (nothing changed); after it, the executor undoes the
    switch and raises ``RolledBack`` or ``RollbackFailed`` instead."""

    kind = "check failed"


class AwsError(BluegreenError):
    """An AWS call failed after retries."""

    exit_code = 4
    kind = "AWS error"

    def __init__(
        self,
        message: str,
        *,
        operation: str = "",
        code: str = "",
        found: str | None = None,
        fix: str | None = None,
    ) -> None:
        super().__init__(message, found=found, fix=fix)
        self.operation = operation
        self.code = code


class PermissionDenied(AwsError):
    """The credentials lack a permission. The action is named."""

    kind = "permission denied"


class NotFound(AwsError):
    """A resource that was looked up by name or id does not exist."""

    kind = "not found"


class WaitTimeout(BluegreenError):
    """A bounded wait ran out of time."""

    exit_code = 5
    kind = "timed out"


class LaunchFailed(WaitTimeout):
    """The instances a wait was for cannot launch: AWS reported why."""

    kind = "launch failed"


class LockedError(BluegreenError):
    """Another command holds the domain's lock."""

    exit_code = 6
    kind = "locked"


class RolledBack(BluegreenError):
    """A post-switch check failed; the switch was undone."""

    exit_code = 7
    kind = "rolled back"


class RollbackFailed(BluegreenError):
    """A check failed and undoing the change failed as well."""

    exit_code = 8
    kind = "ROLLBACK FAILED"


class MissingProgram(BluegreenError):
    """A program bluegreen runs is not installed."""

    exit_code = 9
    kind = "missing program"


class BuildFailed(BluegreenError):
    """Packer could not build an image. Whatever the build had registered (image,
    snapshots) was removed; the message carries Packer's own reason."""

    exit_code = 10
    kind = "build failed"


class Interrupted(BluegreenError):
    """Ctrl-C or SIGTERM."""

    exit_code = 130
    kind = "interrupted"
