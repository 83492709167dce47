"""The health gates: ``--check`` commands and ``--check-url`` URLs run against an environment."""

from __future__ import annotations

from dataclasses import dataclass

from bluegreen.plan.steps.base import Context, Step

CHECK_RETRY_INTERVAL = 2.0  # seconds between attempts of a URL check


def expand_url(url: str, *, lb_dns: str, hosts: tuple[str, ...], domain: str) -> list[str]:
    """``{lb_dns}``, ``{domain}`` and ``{host}`` placeholders filled in; a URL
    with ``{host}`` gives one URL per host name of the environment."""
    base = url.replace("{lb_dns}", lb_dns).replace("{domain}", domain)
    if "{host}" not in base:
        return [base]
    return [base.replace("{host}", h) for h in hosts]


def _http_status(url: str, timeout: float) -> tuple[int, str]:
    """(status, detail); status 0 when no HTTP answer came."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=max(timeout, 0.1)) as resp:
            return int(resp.status), f"HTTP {resp.status}"
    except urllib.error.HTTPError as e:
        return int(e.code), f"HTTP {e.code}"
    except (urllib.error.URLError, OSError, ValueError) as e:
        reason = getattr(e, "reason", e)
        return 0, f"no answer ({reason})"


@dataclass(frozen=True)
class RunChecks(Step):
    """The health gate: run the operator's smoke tests against one environment.

    Each command runs once with ``sh -c`` and must exit 0 within ``timeout``
    seconds; its environment names what to test (``BLUEGREEN_*``, see
    docs/SAFETY.md). Each URL must answer HTTP 2xx within ``timeout`` seconds;
    it is retried every few seconds (through the clock) until then.

    ``after_switch`` marks the checks that run once traffic has moved: when
    they fail, the executor runs the plan's ``on_failure`` steps (the undo).
    """

    environment: str  # "staging" (before a switch) or "live" (after it)
    balancer: str
    lb_dns: str
    hosts: tuple[str, ...]  # the environment's host names, without the final dot
    commands: tuple[str, ...]
    urls: tuple[str, ...]
    timeout: float
    domain: str
    version: str | None = None
    ami: str | None = None
    after_switch: bool = False

    def _urls(self) -> list[str]:
        return [
            u
            for url in self.urls
            for u in expand_url(url, lb_dns=self.lb_dns, hosts=self.hosts, domain=self.domain)
        ]

    def describe(self) -> str:
        what = [f"`{c}`" for c in self.commands] + [f"GET {u}" for u in self._urls()]
        when = "after the switch" if self.after_switch else "before the switch"
        return (
            f"check {self.environment} ({self.balancer}) {when}, each within "
            f"{self.timeout:.0f}s: {', '.join(what)}"
        )

    def environ(self) -> dict[str, str]:
        """The variables every check command gets (on top of bluegreen's own environment)."""
        return {
            "BLUEGREEN_ENVIRONMENT": self.environment,
            "BLUEGREEN_PHASE": "after-switch" if self.after_switch else "before-switch",
            "BLUEGREEN_DOMAIN": self.domain,
            "BLUEGREEN_HOSTS": " ".join(self.hosts),
            "BLUEGREEN_HOST": self.hosts[0] if self.hosts else "",
            "BLUEGREEN_LB_NAME": self.balancer,
            "BLUEGREEN_LB_DNS": self.lb_dns,
            "BLUEGREEN_VERSION": self.version or "",
            "BLUEGREEN_AMI": self.ami or "",
        }

    def _command(self, ctx: Context, cmd: str) -> str | None:
        import os
        import subprocess

        env = {**os.environ, **self.environ()}
        try:
            p = subprocess.run(
                ["/bin/sh", "-c", cmd],
                env=env,
                capture_output=True,
                text=True,
                timeout=self.timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return f"`{cmd}` did not finish within {self.timeout:.0f}s"
        except OSError as e:
            return f"`{cmd}` could not run: {e}"
        if p.returncode == 0:
            ctx.reporter.detail(f"`{cmd}`: passed")
            return None
        tail = (p.stderr or p.stdout).strip().splitlines()[-3:]
        said = f": {' | '.join(tail)}" if tail else ""
        return f"`{cmd}` exited with {p.returncode}{said}"

    def _url(self, ctx: Context, url: str) -> str | None:
        clock = ctx.gw.clock
        start = clock.monotonic()
        attempts = 0
        while True:
            left = self.timeout - (clock.monotonic() - start)
            status, detail = _http_status(url, min(10.0, max(left, 0.1)))
            attempts += 1
            if 200 <= status < 300:
                ctx.reporter.detail(f"GET {url}: {detail}")
                return None
            left = self.timeout - (clock.monotonic() - start)
            if left <= 0:
                return f"GET {url}: {detail} (after {attempts} attempts in {self.timeout:.0f}s)"
            clock.sleep(min(CHECK_RETRY_INTERVAL, left))

    def apply(self, ctx: Context) -> str:
        from bluegreen.errors import CheckFailed

        failures = [f for c in self.commands if (f := self._command(ctx, c))]
        failures += [f for u in self._urls() if (f := self._url(ctx, u))]
        total = len(self.commands) + len(self._urls())
        if failures:
            when = "after the switch" if self.after_switch else "before the switch"
            raise CheckFailed(
                f"{len(failures)} of {total} checks failed against {self.environment} "
                f"({self.balancer}) {when}",
                found="; ".join(failures),
                fix="fix the release (or the check) and deploy again; nothing was switched"
                if not self.after_switch
                else "the switch is being undone",
            )
        return f"{total} checks passed"


# -- capacity and traffic bookkeeping -----------------------------------------
