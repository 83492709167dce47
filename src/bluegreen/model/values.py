"""The values a setting may take: one parser per kind (a region, a duration,
CIDR ranges, a certificate ARN...), each raising ``InputError`` that names the
key, the value and what is expected. ``bluegreen.model.settings`` maps every
setting to its parser."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable

from bluegreen.errors import InputError
from bluegreen.model.naming import normalise_domain, validate_host

_REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$")
_INSTANCE_TYPE = re.compile(r"^[a-z][a-z0-9-]*\d[a-z0-9-]*\.[a-z0-9]+$")
_CERT = re.compile(
    r"^arn:aws[a-z-]*:(acm|iam):[a-z0-9-]*:\d{12}:(certificate|server-certificate)/.+$"
)
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h)?$")
# The widest admin (SSH/RDP) range accepted, per IP version.
ADMIN_PREFIX_MIN = {4: 8, 6: 32}


def parse_duration(value: object, key: str = "duration") -> float:
    """``90``, ``90s``, ``5m``, ``1h``, ``250ms`` -> seconds."""
    if isinstance(value, bool):
        raise InputError(f"{key}: {value!r} is not a duration", fix="use 90s, 5m or 1h")
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        m = _DURATION.match(str(value).strip())
        if not m:
            raise InputError(
                f"{key}: {value!r} is not a duration",
                found="durations are a number with an optional unit: ms, s, m or h",
                fix="use for example 90s, 5m or 1h",
            )
        seconds = float(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600, None: 1}[m.group(2)]
    if seconds < 0 or seconds > 24 * 3600:
        raise InputError(f"{key}: {value!r} is out of range", fix="use a duration from 0 to 24h")
    return seconds


def as_region(v: object, key: str) -> str:
    s = as_str(v, key)
    if not _REGION.match(s):
        raise InputError(
            f"{key}: {s!r} is not an AWS region", fix="use a region name such as us-east-1"
        )
    return s


def as_str(v: object, key: str) -> str:
    if not isinstance(v, str) or not v:
        raise InputError(
            f"{key}: expected a non-empty string, got {v!r}",
            fix=f'give {key} a value in quotes, e.g. {key} = "..."',
        )
    return v


def as_opt_str(v: object, key: str) -> str | None:
    return None if v is None or v == "" else as_str(v, key)


def as_bool(v: object, key: str) -> bool:
    if isinstance(v, bool):
        return v
    if isinstance(v, str) and v.lower() in ("1", "true", "yes", "on", "0", "false", "no", "off"):
        return v.lower() in ("1", "true", "yes", "on")
    raise InputError(f"{key}: expected true or false, got {v!r}", fix="use true or false")


def as_int_in(lo: int, hi: int) -> Callable[[object, str], int]:
    def check(v: object, key: str) -> int:
        whole = f"use a whole number from {lo} to {hi}"
        if isinstance(v, bool):
            raise InputError(f"{key}: expected a whole number, got {v!r}", fix=whole)
        try:
            n = int(str(v)) if not isinstance(v, int) else v
        except ValueError:
            raise InputError(f"{key}: expected a whole number, got {v!r}", fix=whole) from None
        if not lo <= n <= hi:
            raise InputError(f"{key}: {n} is out of range", fix=f"use a number from {lo} to {hi}")
        return n

    return check


def as_opt_int(lo: int, hi: int) -> Callable[[object, str], int | None]:
    inner = as_int_in(lo, hi)
    return lambda v, key: None if v is None else inner(v, key)


def as_choice(options: tuple[str, ...]) -> Callable[[object, str], str]:
    def check(v: object, key: str) -> str:
        if v not in options:
            raise InputError(
                f"{key}: {v!r} is not one of {', '.join(options)}",
                fix=f"use one of {', '.join(options)}",
            )
        return str(v)

    return check


def as_str_list(v: object, key: str) -> tuple[str, ...]:
    if isinstance(v, str):
        v = [v]
    if not isinstance(v, (list, tuple)) or not all(isinstance(x, str) for x in v):
        raise InputError(
            f"{key}: expected a list of strings, got {v!r}",
            fix=f'use a list such as {key} = ["a", "b"] (or one string)',
        )
    return tuple(v)


def as_hosts(v: object, key: str) -> tuple[str, ...]:
    hosts = as_str_list(v, key)
    if not hosts:
        raise InputError(f"{key}: at least one host name is needed", fix='hosts = ["www", "api"]')
    return tuple(validate_host(h) for h in hosts)


def validate_cidr(c: str, *, admin: bool = True) -> str:
    try:
        net = ipaddress.ip_network(c, strict=True)
    except ValueError as e:
        raise InputError(
            f"{c!r} is not a CIDR range ({e})",
            fix="use a network such as 203.0.113.0/24 or 2001:db8::/48",
        ) from None
    if admin and net.prefixlen == 0:
        raise InputError(
            f"admin access from {c} would open SSH and RDP to the whole internet",
            found="--admin-cidr ranges are allowed to reach ports 22 and 3389",
            fix="give your office or VPN range instead, or use SSM Session Manager "
            "(see docs/SECURITY.md) and no admin range at all",
        )
    shortest = ADMIN_PREFIX_MIN[net.version]
    if admin and net.prefixlen < shortest:
        raise InputError(
            f"admin access from {c} would open SSH and RDP to {net.num_addresses:.3g} addresses",
            found=f"admin ranges must be /{shortest} or narrower for IPv{net.version} "
            "(a few wide ranges, such as 0.0.0.0/1 and 128.0.0.0/1, would add up to the "
            "whole internet)",
            fix="give your office or VPN range instead, or use SSM Session Manager "
            "(see docs/SECURITY.md) and no admin range at all",
        )
    return str(net)


def as_user_data(v: object, key: str) -> str | None:
    from bluegreen.secrets import scan_user_data

    s = as_opt_str(v, key)
    return None if s is None else scan_user_data(s, key)


_URL = re.compile(r"^https?://[^\s/]+")
_KMS_KEY = re.compile(
    r"^(arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:(key|alias)/[A-Za-z0-9/_+=.@-]+"
    r"|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
    r"|mrk-[0-9a-f]{32}|alias/[A-Za-z0-9/_-]+)$"
)


def as_kms_key(v: object, key: str) -> str | None:
    return _opt_matching(
        v, key, _KMS_KEY, "a KMS key", "use a key id, a key ARN, alias/NAME or an alias ARN"
    )


def _opt_matching(v: object, key: str, pattern: re.Pattern[str], what: str, fix: str) -> str | None:
    """An optional string that must match ``pattern`` (``what`` it then is)."""
    s = as_opt_str(v, key)
    if s is not None and not pattern.match(s):
        raise InputError(f"{key}: {s!r} is not {what}", fix=fix)
    return s


def as_cidrs(v: object, key: str) -> tuple[str, ...]:
    return tuple(validate_cidr(c) for c in as_str_list(v, key))


# Security group rules per group (AWS default quota: 60 inbound per IP version);
# each staging range takes two (ports 80 and 443).
# https://docs.aws.amazon.com/vpc/latest/userguide/amazon-vpc-limits.html#vpc-limits-security-groups
STAGING_CIDRS_MAX = 25


def as_staging_cidrs(v: object, key: str) -> tuple[str, ...]:
    """Who may reach the staging environment: CIDR ranges, none by default
    (staging as open as live). The whole internet is refused: it would
    restrict nothing."""
    out: list[str] = []
    for c in as_str_list(v, key):
        net = validate_cidr(c, admin=False)
        if ipaddress.ip_network(net).prefixlen == 0:
            raise InputError(
                f"{key}: {c} is the whole internet: it would restrict nothing",
                fix="give the ranges of your office, VPN or CI runners, or leave "
                "staging_cidrs empty to keep staging as open as live",
            )
        if net not in out:
            out.append(net)
    if len(out) > STAGING_CIDRS_MAX:
        raise InputError(
            f"{key}: {len(out)} ranges, at most {STAGING_CIDRS_MAX} are supported",
            found="each range takes two security group rules (ports 80 and 443)",
            fix="merge neighbouring ranges into wider ones",
        )
    return tuple(out)


def as_domain(v: object, key: str) -> str | None:
    return None if v is None else normalise_domain(as_str(v, key))


def as_instance_type(v: object, key: str) -> str:
    s = as_str(v, key)
    if not _INSTANCE_TYPE.match(s):
        raise InputError(f"{key}: {s!r} is not an EC2 instance type", fix="use e.g. t3.micro")
    return s


def as_cert(v: object, key: str) -> str | None:
    return _opt_matching(
        v,
        key,
        _CERT,
        "a certificate ARN",
        "use an ACM certificate ARN: arn:aws:acm:REGION:ACCOUNT:certificate/ID",
    )


def as_url(v: object, key: str) -> str | None:
    return _opt_matching(
        v, key, _URL, "an http(s) URL", "use a URL such as https://example.com/hook"
    )


def as_urls(v: object, key: str) -> tuple[str, ...]:
    out = as_str_list(v, key)
    for u in out:
        as_url(u, key)
    return out


def as_path(v: object, key: str) -> str:
    s = as_str(v, key)
    if not s.startswith("/") or any(c.isspace() for c in s):
        raise InputError(f"{key}: {s!r} is not a URL path", fix="use a path such as /health")
    return s


def as_seconds(lo: float, hi: float) -> Callable[[object, str], float]:
    def check(v: object, key: str) -> float:
        s = parse_duration(v, key)
        if not lo <= s <= hi:
            raise InputError(f"{key}: {v!r} is out of range", fix=f"use {lo:g}s to {hi:g}s")
        return s

    return check


def as_steps(v: object, key: str) -> tuple[int, ...]:
    if isinstance(v, str):
        parts: list[object] = [p for p in v.split(",") if p.strip()]
    elif isinstance(v, (list, tuple)):
        parts = list(v)
    else:
        raise InputError(
            f"{key}: expected a list of percentages, got {v!r}", fix="use for example 10,50,100"
        )
    pct = tuple(as_int_in(1, 100)(p.strip() if isinstance(p, str) else p, key) for p in parts)
    if not pct or list(pct) != sorted(set(pct)) or pct[-1] != 100:
        raise InputError(
            f"{key}: {v!r} is not an increasing list of percentages ending at 100",
            fix="use for example 10,50,100",
        )
    return pct


_TLS12 = re.compile(r"^ELBSecurityPolicy-(TLS13-1-[23]-.+|TLS-1-2-.+|FS-1-2-.+)$")


def as_tls_policy(value: object, key: str) -> str:
    """An ELB predefined security policy that allows TLS 1.2 and later only
    (https://docs.aws.amazon.com/elasticloadbalancing/latest/application/describe-ssl-policies.html)."""
    v = as_str(value, key)
    if not _TLS12.match(v):
        raise InputError(
            f"{key}: {v!r} is not a TLS 1.2+ ELB security policy",
            found="policies such as ELBSecurityPolicy-2016-08 also allow TLS 1.0 and 1.1",
            fix="use ELBSecurityPolicy-TLS13-1-2-2021-06 (ALB), ELBSecurityPolicy-TLS-1-2-2017-01 "
            "(classic) or another ELBSecurityPolicy-TLS13-1-2-*, -TLS-1-2-* or -FS-1-2-* policy",
        )
    return v
