"""Settings: defaults, ``bluegreen.toml``, environment, flags, in that order.

Every option can live in the file. An unknown key or a value of the wrong type
is an ``InputError`` naming the key and the file, raised before any AWS call.
``Settings.sources`` records where each value came from (``bluegreen config``).
"""

from __future__ import annotations

import ipaddress
import os
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from bluegreen.errors import InputError
from bluegreen.model.adoption import VALIDATORS as ADOPTABLE
from bluegreen.model.adoption import Adopted
from bluegreen.model.naming import Names, normalise_domain, validate_host

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

CONFIG_FILE = "bluegreen.toml"
STRATEGIES = ("dns", "lb", "rolling", "weighted")
LOAD_BALANCER_KINDS = ("classic", "alb")
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


def _region(v: object, key: str) -> str:
    s = _str(v, key)
    if not _REGION.match(s):
        raise InputError(
            f"{key}: {s!r} is not an AWS region", fix="use a region name such as us-east-1"
        )
    return s


def _str(v: object, key: str) -> str:
    if not isinstance(v, str) or not v:
        raise InputError(f"{key}: expected a non-empty string, got {v!r}")
    return v


def _opt_str(v: object, key: str) -> str | None:
    return None if v is None or v == "" else _str(v, key)


def _bool(v: object, key: str) -> bool:
    if isinstance(v, bool):
        return v
    if isinstance(v, str) and v.lower() in ("1", "true", "yes", "on", "0", "false", "no", "off"):
        return v.lower() in ("1", "true", "yes", "on")
    raise InputError(f"{key}: expected true or false, got {v!r}")


def _int_in(lo: int, hi: int) -> Callable[[object, str], int]:
    def check(v: object, key: str) -> int:
        if isinstance(v, bool):
            raise InputError(f"{key}: expected a whole number, got {v!r}")
        try:
            n = int(str(v)) if not isinstance(v, int) else v
        except ValueError:
            raise InputError(f"{key}: expected a whole number, got {v!r}") from None
        if not lo <= n <= hi:
            raise InputError(f"{key}: {n} is out of range", fix=f"use a number from {lo} to {hi}")
        return n

    return check


def _opt_int(lo: int, hi: int) -> Callable[[object, str], int | None]:
    inner = _int_in(lo, hi)
    return lambda v, key: None if v is None else inner(v, key)


def _choice(options: tuple[str, ...]) -> Callable[[object, str], str]:
    def check(v: object, key: str) -> str:
        if v not in options:
            raise InputError(f"{key}: {v!r} is not one of {', '.join(options)}")
        return str(v)

    return check


def _str_list(v: object, key: str) -> tuple[str, ...]:
    if isinstance(v, str):
        v = [v]
    if not isinstance(v, (list, tuple)) or not all(isinstance(x, str) for x in v):
        raise InputError(f"{key}: expected a list of strings, got {v!r}")
    return tuple(v)


def _hosts(v: object, key: str) -> tuple[str, ...]:
    hosts = _str_list(v, key)
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


def _user_data(v: object, key: str) -> str | None:
    from bluegreen.secrets import scan_user_data

    s = _opt_str(v, key)
    return None if s is None else scan_user_data(s, key)


_KMS_KEY = re.compile(
    r"^(arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:(key|alias)/[A-Za-z0-9/_+=.@-]+"
    r"|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
    r"|mrk-[0-9a-f]{32}|alias/[A-Za-z0-9/_-]+)$"
)


def _kms_key(v: object, key: str) -> str | None:
    s = _opt_str(v, key)
    if s is not None and not _KMS_KEY.match(s):
        raise InputError(
            f"{key}: {s!r} is not a KMS key",
            fix="use a key id, a key ARN, alias/NAME or an alias ARN",
        )
    return s


def _cidrs(v: object, key: str) -> tuple[str, ...]:
    return tuple(validate_cidr(c) for c in _str_list(v, key))


# Security group rules per group (AWS default quota: 60 inbound per IP version);
# each staging range takes two (ports 80 and 443).
# https://docs.aws.amazon.com/vpc/latest/userguide/amazon-vpc-limits.html#vpc-limits-security-groups
STAGING_CIDRS_MAX = 25


def _staging_cidrs(v: object, key: str) -> tuple[str, ...]:
    """Who may reach the staging environment: CIDR ranges, none by default
    (staging as open as live). The whole internet is refused: it would
    restrict nothing."""
    out: list[str] = []
    for c in _str_list(v, key):
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


def _domain(v: object, key: str) -> str | None:
    return None if v is None else normalise_domain(_str(v, key))


def _instance_type(v: object, key: str) -> str:
    s = _str(v, key)
    if not _INSTANCE_TYPE.match(s):
        raise InputError(f"{key}: {s!r} is not an EC2 instance type", fix="use e.g. t3.micro")
    return s


def _cert(v: object, key: str) -> str | None:
    s = _opt_str(v, key)
    if s is not None and not _CERT.match(s):
        raise InputError(
            f"{key}: {s!r} is not a certificate ARN",
            fix="use an ACM certificate ARN: arn:aws:acm:REGION:ACCOUNT:certificate/ID",
        )
    return s


def _url(v: object, key: str) -> str | None:
    s = _opt_str(v, key)
    if s is not None and not re.match(r"^https?://[^\s/]+", s):
        raise InputError(f"{key}: {s!r} is not an http(s) URL")
    return s


def _urls(v: object, key: str) -> tuple[str, ...]:
    out = _str_list(v, key)
    for u in out:
        _url(u, key)
    return out


def _path(v: object, key: str) -> str:
    s = _str(v, key)
    if not s.startswith("/") or any(c.isspace() for c in s):
        raise InputError(f"{key}: {s!r} is not a URL path", fix="use a path such as /health")
    return s


def _seconds(lo: float, hi: float) -> Callable[[object, str], float]:
    def check(v: object, key: str) -> float:
        s = parse_duration(v, key)
        if not lo <= s <= hi:
            raise InputError(f"{key}: {v!r} is out of range", fix=f"use {lo:g}s to {hi:g}s")
        return s

    return check


def _steps(v: object, key: str) -> tuple[int, ...]:
    if isinstance(v, str):
        parts: list[object] = [p for p in v.split(",") if p.strip()]
    elif isinstance(v, (list, tuple)):
        parts = list(v)
    else:
        raise InputError(f"{key}: expected a list of percentages, got {v!r}")
    pct = tuple(_int_in(1, 100)(p.strip() if isinstance(p, str) else p, key) for p in parts)
    if not pct or list(pct) != sorted(set(pct)) or pct[-1] != 100:
        raise InputError(
            f"{key}: {v!r} is not an increasing list of percentages ending at 100",
            fix="use for example 10,50,100",
        )
    return pct


_TLS12 = re.compile(r"^ELBSecurityPolicy-(TLS13-1-[23]-.+|TLS-1-2-.+|FS-1-2-.+)$")


def _tls_policy(value: object, key: str) -> str:
    """An ELB predefined security policy that allows TLS 1.2 and later only
    (https://docs.aws.amazon.com/elasticloadbalancing/latest/application/describe-ssl-policies.html)."""
    v = _str(value, key)
    if not _TLS12.match(v):
        raise InputError(
            f"{key}: {v!r} is not a TLS 1.2+ ELB security policy",
            found="policies such as ELBSecurityPolicy-2016-08 also allow TLS 1.0 and 1.1",
            fix="use ELBSecurityPolicy-TLS13-1-2-2021-06 (ALB), ELBSecurityPolicy-TLS-1-2-2017-01 "
            "(classic) or another ELBSecurityPolicy-TLS13-1-2-*, -TLS-1-2-* or -FS-1-2-* policy",
        )
    return v


@dataclass(frozen=True)
class Settings:
    domain: str | None = None
    region: str = "us-east-1"
    profile: str | None = None
    endpoint_url: str | None = None
    hosts: tuple[str, ...] = ("www", "api")
    capacity: int | None = None
    max_capacity: int | None = None
    instance_type: str = "t3.micro"
    strategy: str = "dns"
    load_balancer: str = "classic"
    health_check_path: str = "/health"
    health_check_port: int = 3001
    grace_period: int = 300
    timeout: float = 900.0
    dns_timeout: float = 300.0
    launch_configuration: bool = False
    admin_cidrs: tuple[str, ...] = ()
    # who may reach staging (80/443); none: staging is as open as live
    staging_cidrs: tuple[str, ...] = ()
    certificate_arn: str | None = None
    # HTTPS listeners' TLS policy (None: ELBSecurityPolicy-TLS-1-2-2017-01 on
    # classic, ELBSecurityPolicy-TLS13-1-2-2021-06 on ALB); TLS 1.2 at least
    tls_policy: str | None = None
    https_redirect: bool = True  # ALB with a certificate: HTTP redirects to HTTPS
    key_pair: bool = False
    kms_key: str | None = None
    # the boot script itself (``--user-data FILE`` reads it from a file); never shown
    user_data: str | None = field(default=None, repr=False)
    checks: tuple[str, ...] = ()
    check_urls: tuple[str, ...] = ()
    check_timeout: float = 60.0
    steps: tuple[int, ...] = (10, 50, 100)
    interval: float = 60.0
    alarms: tuple[str, ...] = ()
    drain: float | None = None
    notify_url: str | None = None
    key_dir: str = "."
    # with endpoint_url: sign with the usual credentials instead of fixed dummy ones
    endpoint_credentials: bool = False
    clean_after: float | None = None
    base_ami: str | None = None  # bake: the image to build on
    provision: tuple[str, ...] = ()  # bake: provisioning scripts, in order
    tests: tuple[str, ...] = ()  # bake: image tests, run after the provisioning
    packer_template: str | None = None  # bake: your own Packer template
    packer: str | None = None  # bake: the Packer executable
    # existing resources the site adopts instead of creating (bluegreen.model.adoption)
    vpc_id: str | None = None
    subnet_ids: tuple[str, ...] = ()
    public_zone_id: str | None = None
    private_zone_id: str | None = None
    load_balancers: tuple[str, ...] = ()
    instance_profile: str | None = None
    security_groups: tuple[str, ...] = ()
    sources: Mapping[str, str] = field(default_factory=dict, compare=False)

    def names(self) -> Names:
        if self.domain is None:
            raise InputError(
                "no domain given",
                found=f"neither --domain nor a domain key in ./{CONFIG_FILE}",
                fix=f'pass --domain londontamed.com or put domain = "londontamed.com" '
                f"in {CONFIG_FILE}",
            )
        return Names.for_domain(self.domain, self.hosts, Adopted.from_settings(self).checked())

    def with_values(self, source: str, **values: Any) -> Settings:
        """A copy with ``values`` applied (validated), recorded as from ``source``."""
        clean = {k: _validate(k, v, source) for k, v in values.items() if v is not None}
        srcs = dict(self.sources)
        srcs.update({k: source for k in clean})
        return replace(self, **clean, sources=srcs)


_VALIDATORS: dict[str, Callable[[object, str], Any]] = {
    "domain": _domain,
    "region": _region,
    "profile": _opt_str,
    "endpoint_url": _url,
    "hosts": _hosts,
    "capacity": _opt_int(1, 1000),
    "max_capacity": _opt_int(1, 1000),
    "instance_type": _instance_type,
    "strategy": _choice(STRATEGIES),
    "load_balancer": _choice(LOAD_BALANCER_KINDS),
    "health_check_path": _path,
    "health_check_port": _int_in(1, 65535),
    "grace_period": _int_in(0, 7200),
    "timeout": _seconds(1, 24 * 3600),
    "dns_timeout": _seconds(1, 3600),
    "launch_configuration": _bool,
    "admin_cidrs": _cidrs,
    "staging_cidrs": _staging_cidrs,
    "certificate_arn": _cert,
    "tls_policy": lambda v, k: None if v is None else _tls_policy(v, k),
    "https_redirect": _bool,
    "key_pair": _bool,
    "kms_key": _kms_key,
    "user_data": _user_data,
    "endpoint_credentials": _bool,
    "checks": _str_list,
    "check_urls": _urls,
    "check_timeout": _seconds(1, 3600),
    "steps": _steps,
    "interval": _seconds(0, 24 * 3600),
    "alarms": _str_list,
    "drain": lambda v, k: None if v is None else _seconds(0, 24 * 3600)(v, k),
    "notify_url": _url,
    "key_dir": _str,
    "clean_after": lambda v, k: None if v is None else _seconds(0, 24 * 3600)(v, k),
    "base_ami": _opt_str,
    "provision": _str_list,
    "tests": _str_list,
    "packer_template": _opt_str,
    "packer": _opt_str,
    **ADOPTABLE,
}
KEYS = tuple(f.name for f in fields(Settings) if f.name != "sources")
_HINTS = {f.name: str(f.type) for f in fields(Settings)}
assert set(KEYS) == set(_VALIDATORS), "every setting needs a validator"


def _validate(key: str, value: object, source: str) -> Any:
    if key not in _VALIDATORS:
        raise InputError(
            f"unknown setting {key!r} in {source}",
            fix=f"known settings: {', '.join(KEYS)}",
        )
    try:
        return _VALIDATORS[key](value, key)
    except InputError as e:
        prefix = "" if e.message.startswith(f"{key}:") else f"{key}: "
        e.message = f"{prefix}{e.message} (in {source})"
        raise


ENV_VARS = {
    "region": ("AWS_REGION", "AWS_DEFAULT_REGION"),
    "profile": ("AWS_PROFILE",),
    "endpoint_url": ("BLUEGREEN_ENDPOINT_URL",),
    "domain": ("BLUEGREEN_DOMAIN",),
    "endpoint_credentials": ("BLUEGREEN_ENDPOINT_CREDENTIALS",),
}


def read_file(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise InputError(f"{path} is not valid TOML: {e}", fix="fix the syntax") from None
    except OSError as e:
        raise InputError(f"cannot read {path}: {e.strerror}") from None
    out: dict[str, Any] = {}
    for key, value in data.items():
        k = key.replace("-", "_")
        if k not in _VALIDATORS:
            raise InputError(
                f"unknown key {key!r} in {path}",
                fix=f"remove it or use one of: {', '.join(KEYS)}",
            )
        _check_type(k, value, path)
        out[k] = value
    return out


# -- the types of a settings file: from the annotations of Settings ----------------------
_DURATION_TYPE = 'a duration (seconds, or a string such as "90s", "5m", "1h")'


def file_type(key: str) -> str:
    """What a settings file must give for ``key``, derived from its annotation in
    ``Settings`` (so a new setting is typed without a word more)."""
    hint = re.sub(r"\s*\|\s*None$", "", _HINTS[key])
    return {
        "str": "a string",
        "bool": "true or false",
        "int": "a whole number",
        "float": _DURATION_TYPE,
        "tuple[str, ...]": "a list of strings",
        "tuple[int, ...]": "a list of whole numbers",
    }[hint]


def _fits(kind: str, v: object) -> bool:
    if kind == "a string":
        return isinstance(v, str)
    if kind == "true or false":
        return isinstance(v, bool)
    if kind == "a whole number":
        return isinstance(v, int) and not isinstance(v, bool)
    if kind == _DURATION_TYPE:
        return isinstance(v, (int, float, str)) and not isinstance(v, bool)
    of = "a string" if kind == "a list of strings" else "a whole number"
    return isinstance(v, list) and all(_fits(of, x) for x in v)


def _toml(v: object) -> str:
    import json

    return json.dumps(v, default=str)


def _check_type(key: str, value: object, path: Path) -> None:
    """A value of the wrong type in the file is refused, not converted: a string
    where a list is expected (``hosts = "www"``), a string for a boolean
    (``launch_configuration = "yes"``)..."""
    kind = file_type(key)
    if _fits(kind, value):
        return
    example = {
        "a string": '"..."',
        "true or false": "true or false (no quotes)",
        "a whole number": "3 (no quotes)",
        _DURATION_TYPE: '"5m"',
        "a list of strings": '["...", "..."]',
        "a list of whole numbers": "[10, 50, 100]",
    }[kind]
    if kind.startswith("a list") and _fits(kind, [value]):
        example = f"[{_toml(value)}]"
    fix = f"write it as {key} = {example}"
    raise InputError(
        f"{key}: expected {kind}, got {_toml(value)} ({type(value).__name__}) in {path}",
        fix=fix,
    )


def load(
    flags: Mapping[str, Any],
    *,
    config_file: Path | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Settings:
    """Defaults, then the file, then the environment, then flags."""
    env = os.environ if env is None else env
    s = Settings(sources={k: "default" for k in KEYS})
    path = config_file
    if path is None:
        candidate = (cwd or Path.cwd()) / CONFIG_FILE
        path = candidate if candidate.is_file() else None
    elif not path.is_file():
        raise InputError(f"config file {path} does not exist", fix="check the --config path")
    if path is not None:
        s = s.with_values(str(path), **read_file(path))
    for key, names in ENV_VARS.items():
        for name in names:
            if env.get(name):
                s = s.with_values(f"environment {name}", **{key: env[name]})
                break
    return s.with_values("flag", **{k: v for k, v in flags.items() if v not in (None, ())})
