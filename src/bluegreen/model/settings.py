"""Settings: defaults, ``bluegreen.toml``, environment, flags, in that order.

Every option can live in the file. An unknown key or a value of the wrong type
is an ``InputError`` naming the key and the file, raised before any AWS call.
``Settings.sources`` records where each value came from (``bluegreen config``).
"""

from __future__ import annotations

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
from bluegreen.model.naming import Names
from bluegreen.model.values import (
    as_bool,
    as_cert,
    as_choice,
    as_cidrs,
    as_domain,
    as_hosts,
    as_instance_type,
    as_int_in,
    as_kms_key,
    as_opt_int,
    as_opt_str,
    as_path,
    as_region,
    as_seconds,
    as_staging_cidrs,
    as_steps,
    as_str,
    as_str_list,
    as_tls_policy,
    as_url,
    as_urls,
    as_user_data,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

CONFIG_FILE = "bluegreen.toml"
STRATEGIES = ("dns", "lb", "rolling", "weighted")
LOAD_BALANCER_KINDS = ("classic", "alb")


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
    "domain": as_domain,
    "region": as_region,
    "profile": as_opt_str,
    "endpoint_url": as_url,
    "hosts": as_hosts,
    "capacity": as_opt_int(1, 1000),
    "max_capacity": as_opt_int(1, 1000),
    "instance_type": as_instance_type,
    "strategy": as_choice(STRATEGIES),
    "load_balancer": as_choice(LOAD_BALANCER_KINDS),
    "health_check_path": as_path,
    "health_check_port": as_int_in(1, 65535),
    "grace_period": as_int_in(0, 7200),
    "timeout": as_seconds(1, 24 * 3600),
    "dns_timeout": as_seconds(1, 3600),
    "launch_configuration": as_bool,
    "admin_cidrs": as_cidrs,
    "staging_cidrs": as_staging_cidrs,
    "certificate_arn": as_cert,
    "tls_policy": lambda v, k: None if v is None else as_tls_policy(v, k),
    "https_redirect": as_bool,
    "key_pair": as_bool,
    "kms_key": as_kms_key,
    "user_data": as_user_data,
    "endpoint_credentials": as_bool,
    "checks": as_str_list,
    "check_urls": as_urls,
    "check_timeout": as_seconds(1, 3600),
    "steps": as_steps,
    "interval": as_seconds(0, 24 * 3600),
    "alarms": as_str_list,
    "drain": lambda v, k: None if v is None else as_seconds(0, 24 * 3600)(v, k),
    "notify_url": as_url,
    "key_dir": as_str,
    "clean_after": lambda v, k: None if v is None else as_seconds(0, 24 * 3600)(v, k),
    "base_ami": as_opt_str,
    "provision": as_str_list,
    "tests": as_str_list,
    "packer_template": as_opt_str,
    "packer": as_opt_str,
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
        raise InputError(
            f"cannot read {path}: {e.strerror}",
            fix="check the path and its permissions (--config names another file)",
        ) from None
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
