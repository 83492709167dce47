"""Keeping secrets out of user data, output and logs.

Two guards:

* ``scan_user_data`` refuses user data that looks like it holds a secret (an
  AWS access key id, a private key block, a literal ``password=`` or
  ``secret=`` value): user data is readable by anyone who can describe the
  launch template or reach the instance metadata service. Secrets belong in
  SSM Parameter Store or Secrets Manager, read at boot with the instance role.
* ``redact`` removes credentials, session tokens, signatures, user data and
  private keys from text. ``--verbose`` turns on botocore's debug log through
  ``enable_debug_log``, whose handler passes every record through ``redact``;
  the same function guards error messages and everything the reporter says.

Literal values (the credentials in use, the user data sent) are registered
with ``add_secret`` by the gateway when they enter botocore, so they are
removed wherever they appear; patterns catch the rest.
"""

from __future__ import annotations

import base64
import logging
import re
import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

from bluegreen.errors import InputError

REDACTED = "[REDACTED]"
USER_DATA_LIMIT = 16 * 1024  # AWS's limit on user data before base64 encoding

_ACCESS_KEY_ID = re.compile(r"\b(AKIA|ASIA)[A-Z0-9]{16}\b")
_PRIVATE_KEY = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----")
# A literal value after password=, secret= and the like. A value that is a
# shell expansion ($VAR, $(aws ssm ...), `...`) or a template ({{ ... }}) is
# fine: that is how a secret should be fetched.
_ASSIGNED = re.compile(
    r"(?i)\b[\w.-]*(password|passwd|secret|api[_-]?key|access[_-]?key)[\w.-]*[\"']?\s*[:=]\s*"
    r"[\"']?(?P<value>[^\s\"'$`{][^\s\"']*)"
)

_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    # a whole private key, also when newlines appear escaped (\n) in a repr
    (
        re.compile(
            r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?-----END [A-Z0-9 ]*PRIVATE KEY-----", re.S
        ),
        REDACTED,
    ),
    (_ACCESS_KEY_ID, REDACTED),
    (re.compile(r"(Credential=)[^/\s,'\"]+"), rf"\1{REDACTED}"),
    (re.compile(r"(Signature=)[0-9a-fA-F]+"), rf"\1{REDACTED}"),
    (
        re.compile(r"(?i)(x-amz-security-token['\"]?\s*[:=]\s*b?['\"]?)[^'\"\s,}&]+"),
        rf"\1{REDACTED}",
    ),
    # fields in a repr'd dict: 'UserData': '...', "SessionToken": "..."
    (
        re.compile(
            r"""(['"](?:UserData|SecretAccessKey|SessionToken|KeyMaterial|Password)['"]\s*:\s*)"""
            r"""(['"])(?:\\.|(?!\2).)*\2""",
            re.S,
        ),
        rf"\1'{REDACTED}'",
    ),
    # query-protocol bodies: ...&LaunchTemplateData.UserData=...&
    (re.compile(r"((?:UserData|KeyMaterial)=)[^&\s'\"]+"), rf"\1{REDACTED}"),
    # XML responses
    (
        re.compile(r"(?is)(<(userData|keyMaterial|SecretAccessKey|SessionToken)>).*?(</\2>)"),
        rf"\1{REDACTED}\3",
    ),
]

_lock = threading.Lock()
_secrets: set[str] = set()


def add_secret(value: str | None) -> None:
    """Remove ``value`` (and its base64 and URL-encoded forms) from all output."""
    if not value or len(value) < 6:
        return
    forms = {value, value.strip()}
    b64 = base64.b64encode(value.encode()).decode()
    forms |= {b64, urllib.parse.quote(b64, safe=""), urllib.parse.quote(value, safe="")}
    forms |= {line for line in value.splitlines() if len(line.strip()) >= 12}
    with _lock:
        _secrets.update(f for f in forms if len(f) >= 6)


def redact(text: str) -> str:
    with _lock:
        literals = sorted(_secrets, key=len, reverse=True)
    for lit in literals:
        if lit in text:
            text = text.replace(lit, REDACTED)
    for pattern, repl in _PATTERNS:
        text = pattern.sub(repl, text)
    return text


def scan_user_data(text: str, where: str = "user data") -> str:
    """``text`` unchanged, or an InputError (exit 2) if it looks like it holds
    a secret. The message names the line and the kind, never the value."""
    if len(text.encode()) > USER_DATA_LIMIT:
        raise InputError(
            f"{where} is {len(text.encode())} bytes; AWS accepts at most {USER_DATA_LIMIT}",
            fix="keep user data to a short boot script; put larger files in the image "
            "(bake them) or fetch them at boot",
        )
    kinds = (
        (_ACCESS_KEY_ID, "an AWS access key id"),
        (_PRIVATE_KEY, "a private key"),
        (_ASSIGNED, "a literal password or secret"),
    )
    for number, line in enumerate(text.splitlines(), 1):
        for pattern, kind in kinds:
            if pattern.search(line):
                raise InputError(
                    f"{where} looks like it holds a secret: {kind} on line {number}",
                    found="user data is readable by anyone who may describe the launch "
                    "template or reach the instance's metadata service",
                    fix="store the secret in SSM Parameter Store (SecureString) under "
                    "/bluegreen/DOMAIN/... or in Secrets Manager under bluegreen/DOMAIN/..., "
                    "and read it at boot with the instance role, e.g. "
                    "DB_PASSWORD=$(aws ssm get-parameter --with-decryption --name "
                    "/bluegreen/DOMAIN/db-password --query Parameter.Value --output text); "
                    "see docs/SECURITY.md",
                )
    return text


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a record that cannot be formatted is dropped
            return False
        record.msg = redact(message)
        record.args = None
        if record.exc_info:
            import traceback

            record.msg += "\n" + redact("".join(traceback.format_exception(*record.exc_info)))
            record.exc_info = None
            record.exc_text = None
        return True


DEBUG_LOGGERS = ("botocore", "boto3", "urllib3")
_debug_on = False


def debug_log_enabled() -> bool:
    return _debug_on


@contextmanager
def debug_log(stream: TextIO | None) -> Iterator[None]:
    """botocore's (and boto3's, urllib3's) debug log to ``stream``, redacted;
    with ``None``, no log at all.

    Either way the loggers stop propagating while a command runs, so no other
    handler (a root handler configured at DEBUG, say) sees an unredacted
    record of the signed headers."""
    global _debug_on
    handler: logging.Handler
    if stream is None:
        handler = logging.NullHandler()
    else:
        handler = logging.StreamHandler(stream)
        handler.addFilter(RedactingFilter())
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    saved = []
    for name in DEBUG_LOGGERS:
        logger = logging.getLogger(name)
        saved.append((logger, logger.level, logger.propagate))
        if stream is not None:
            logger.setLevel(logging.DEBUG)
        logger.propagate = False
        logger.addHandler(handler)
    _debug_on = stream is not None
    try:
        yield
    finally:
        _debug_on = False
        for logger, level, propagate in saved:
            logger.removeHandler(handler)
            logger.setLevel(level)
            logger.propagate = propagate
