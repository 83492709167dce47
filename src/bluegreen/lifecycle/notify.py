"""Notifications: a JSON event POSTed to ``notify_url`` (``--notify-url``) when
a changing command starts, succeeds, fails, or rolls back on its own.

Events are best effort. A notification that fails (timeout, refused
connection, an HTTP error status) prints a warning and never fails the
deployment. The warning names only the URL's scheme and host: webhook URLs
often carry a secret in their path.

Event body (``Content-Type: application/json``)::

    {"event": "start" | "success" | "failure" | "rollback",
     "domain": "londontamed.com", "command": "release", "who": "alice",
     "host": "ci-runner-7", "when": "2026-11-26T09:00:00Z",
     "result": null | "succeeded" | "failed" | "rolled back" | ...,
     "summary": "...", "error": null | "...",
     "versions": {"release": "v3", "live_before": "v2", "live_after": "v3", ...}}
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlsplit

from bluegreen import __version__
from bluegreen.ui import Reporter

TIMEOUT = 3.0
EVENTS = ("start", "success", "failure", "rollback")


def redact(url: str) -> str:
    """``https://hooks.example.com/secret/path`` -> ``https://hooks.example.com``."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or '?'}{f':{parts.port}' if parts.port else ''}"


def post(url: str, body: dict[str, Any], timeout: float = TIMEOUT) -> str | None:
    """POST ``body`` as JSON; returns None on success, else why it failed."""
    data = json.dumps(body, sort_keys=True, default=str).encode()
    req = urllib.request.Request(
        url,
        data=data,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": f"bluegreen/{__version__}",
        },
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            resp.read(1024)
            status = int(resp.status)
    except urllib.error.HTTPError as e:
        return f"HTTP {e.code}"
    except urllib.error.URLError as e:
        return str(e.reason)
    except (OSError, ValueError) as e:  # timeouts and refused connections
        return str(e) or type(e).__name__
    if status >= 300:
        return f"HTTP {status}"
    return None


class Notifier:
    """Sends the events of one command run. Without a URL it does nothing."""

    def __init__(
        self,
        url: str | None,
        reporter: Reporter,
        *,
        domain: str,
        who: str,
        host: str,
        timeout: float = TIMEOUT,
    ) -> None:
        self.url = url
        self.reporter = reporter
        self.base = {"domain": domain, "who": who, "host": host}
        self.timeout = timeout
        self.sent: list[dict[str, Any]] = []

    def send(self, event: str, command: str, when: str, **fields: Any) -> None:
        if not self.url:
            return
        assert event in EVENTS
        body: dict[str, Any] = {
            "event": event,
            "command": command,
            "when": when,
            "result": None,
            "summary": None,
            "error": None,
            "versions": {},
            **self.base,
        }
        body.update(fields)
        self.sent.append(body)
        failed = post(self.url, body, self.timeout)
        if failed:
            self.reporter.warn(
                f"could not send the {event} notification of {command} to "
                f"{redact(self.url)}: {failed} (the command goes on)"
            )
        else:
            self.reporter.detail(f"notified {redact(self.url)}: {command} {event}")
