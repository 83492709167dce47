"""Every setting's flag, generated from one table.

``FLAGS`` has one entry per key of ``bluegreen.model.settings.Settings``: which
commands take the flag (``GLOBAL``: every command, before or after its name),
how it reads, and its help. ``setting_options(command)`` builds the click
options of a command from it, so a setting and its flag cannot drift apart:
``tests/test_operator.py`` fails when a setting has no entry here, or a command
declares a setting's flag by hand.

A flag's value goes to ``Runtime.flags`` (through the option's callback) only
when it was given on the line; ``config.load`` then validates it like a value
from the file or the environment, and a flag wins over both.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

GLOBAL = "*"
DEPLOY = ("deploy", "release")
SWITCH = ("switch", "release")
CHECKS = ("switch", "rollback", "release")
DNS = ("init", "switch", "rollback", "release")
CLEAN = ("clean", "release")
STRATEGIES = ("dns", "lb", "rolling", "weighted")
LOAD_BALANCERS = ("classic", "alb")


@dataclass(frozen=True)
class Flag:
    """How one setting is given on the command line."""

    help: str
    commands: tuple[str, ...]  # the commands that take it, or (GLOBAL,)
    decl: str = ""  # the flag; default --KEY with hyphens
    short: str = ""
    type: Any = None  # a click type; text when None
    switch: bool = False  # a flag without a value: sets the setting to true
    many: bool = False  # repeatable; the values make the list
    csv: bool = False  # one value, comma-separated, makes the list
    reads_file: bool = False  # the value names a file whose content is the setting

    def flag(self, key: str) -> str:
        return self.decl or "--" + key.replace("_", "-")


_PATH = click.Path(dir_okay=False)

FLAGS: dict[str, Flag] = {
    # -- where and which site: every command ----------------------------------------
    "domain": Flag("The site's domain, e.g. londontamed.com.", (GLOBAL,)),
    "region": Flag(
        "AWS region (else AWS_REGION, AWS_DEFAULT_REGION, the profile's, us-east-1).", (GLOBAL,)
    ),
    "profile": Flag("AWS credentials profile (else AWS_PROFILE).", (GLOBAL,)),
    "endpoint_url": Flag(
        "Talk to an emulator at this URL (else BLUEGREEN_ENDPOINT_URL).", (GLOBAL,)
    ),
    "endpoint_credentials": Flag(
        "With --endpoint-url: sign with the usual credentials, not fixed dummy ones.",
        (GLOBAL,),
        switch=True,
    ),
    "hosts": Flag("Comma-separated live host names (default www,api).", (GLOBAL,), csv=True),
    "strategy": Flag("How traffic moves (default dns).", (GLOBAL,), type=click.Choice(STRATEGIES)),
    "load_balancer": Flag(
        "Classic or application load balancers (default: whichever the site has; "
        "init creates classic).",
        (GLOBAL,),
        type=click.Choice(LOAD_BALANCERS),
    ),
    "notify_url": Flag(
        "POST a JSON event here on start, success, failure and rollback of a changing command.",
        (GLOBAL,),
    ),
    # -- existing resources the site adopts (README "Adopting existing infrastructure") --
    "vpc_id": Flag("Adopt this VPC instead of creating one (needs --subnet-ids).", (GLOBAL,)),
    "subnet_ids": Flag(
        "Comma-separated subnets of the adopted VPC for the load balancers.", (GLOBAL,), csv=True
    ),
    "public_zone_id": Flag("Adopt this public hosted zone (its name is the domain).", (GLOBAL,)),
    "private_zone_id": Flag(
        "Adopt this private hosted zone (bound to the adopted VPC).", (GLOBAL,)
    ),
    "load_balancers": Flag(
        "Adopt these two load balancers, comma-separated (environments 1 and 2).",
        (GLOBAL,),
        csv=True,
    ),
    "instance_profile": Flag(
        "Adopt this instance profile for the web servers (name or ARN).", (GLOBAL,)
    ),
    "security_groups": Flag(
        "Comma-separated security groups to put on the web servers instead of bluegreen's.",
        (GLOBAL,),
        csv=True,
    ),
    # -- init ------------------------------------------------------------------------
    "admin_cidrs": Flag(
        "Range allowed SSH, RDP and ping (repeatable).", ("init",), decl="--admin-cidr", many=True
    ),
    "staging_cidrs": Flag(
        "Range allowed to reach the staging environment (repeatable; default: anyone).",
        ("init",),
        decl="--staging-cidr",
        many=True,
    ),
    "certificate_arn": Flag(
        "ACM certificate: adds an HTTPS 443->80 listener (adopted load balancers must have it).",
        ("init",),
    ),
    "tls_policy": Flag(
        "TLS 1.2+ policy of the HTTPS listeners (default ELBSecurityPolicy-TLS-1-2-2017-01 on "
        "classic, ELBSecurityPolicy-TLS13-1-2-2021-06 on ALB).",
        ("init",),
    ),
    "https_redirect": Flag(
        "ALB with a certificate: HTTP redirects to HTTPS (default on).",
        ("init",),
        decl="--https-redirect/--no-https-redirect",
        switch=True,
    ),
    "key_pair": Flag("Create an EC2 key pair and save its private key.", ("init",), switch=True),
    "key_dir": Flag("Where --key-pair writes the private key (default .).", ("init",)),
    "health_check_path": Flag("Health check path (default /health).", ("init",)),
    "health_check_port": Flag("Health check port (default 3001).", ("init",), type=int),
    "dns_timeout": Flag("How long to wait for Route 53 to apply a change (default 5m).", DNS),
    # -- deploy (and release, which deploys) -------------------------------------------
    "capacity": Flag(
        "Instances (default: the live group's desired capacity, else 2).", DEPLOY, type=int
    ),
    "max_capacity": Flag("The group's maximum size (default: capacity).", DEPLOY, type=int),
    "instance_type": Flag("EC2 instance type (default t3.micro).", (*DEPLOY, "bake")),
    "timeout": Flag("How long to wait for healthy instances (default 15m).", DEPLOY),
    "grace_period": Flag(
        "Seconds before the group acts on health checks (default 300).", DEPLOY, type=int
    ),
    "launch_configuration": Flag(
        "Use a launch configuration instead of a launch template.", DEPLOY, switch=True
    ),
    "user_data": Flag(
        "Boot script for the instances, read from FILE (refused if it looks like it holds "
        "a secret).",
        DEPLOY,
        type=click.Path(exists=True, dir_okay=False),
        reads_file=True,
    ),
    "kms_key": Flag("KMS key for the root volume (default: the account's EBS key).", DEPLOY),
    # -- the health gates of a switch (docs/SAFETY.md) -----------------------------------
    "checks": Flag(
        "Run CMD (sh -c) before and after the switch; it must exit 0 (repeatable; gets "
        "BLUEGREEN_HOSTS, BLUEGREEN_LB_DNS...).",
        CHECKS,
        decl="--check",
        many=True,
    ),
    "check_urls": Flag(
        "Require HTTP 2xx from URL before and after the switch (repeatable; {lb_dns}, {host}, "
        "{domain} are filled in).",
        CHECKS,
        decl="--check-url",
        many=True,
    ),
    "check_timeout": Flag("How long each check may take (default 60s).", CHECKS),
    # -- weighted switches ----------------------------------------------------------------
    "steps": Flag("weighted: percentages of traffic to move, e.g. 10,50,100.", SWITCH),
    "interval": Flag("weighted: how long to hold each step, e.g. 5m (default 60s).", SWITCH),
    "alarms": Flag(
        "weighted: a CloudWatch alarm that stops the shift when in ALARM (repeatable).",
        SWITCH,
        decl="--alarm",
        many=True,
    ),
    # -- clean ------------------------------------------------------------------------------
    "drain": Flag(
        "How long clean waits for connections to drain (default: the balancer's).", CLEAN
    ),
    "clean_after": Flag(
        "Keep the previous release in staging this long (e.g. 10m), then delete it.", ("release",)
    ),
    # -- bake (docs/IMAGES.md) ---------------------------------------------------------------
    "base_ami": Flag(
        "Build on this image (default: the site's newest base image; for --base, the latest "
        "Amazon Linux 2023).",
        ("bake",),
    ),
    "provision": Flag(
        "Shell script run on the build instance (repeatable, in order).",
        ("bake",),
        type=_PATH,
        many=True,
    ),
    "tests": Flag(
        "Image test run on the build instance after the provisioning (repeatable); "
        "a failure means no image.",
        ("bake",),
        decl="--test",
        type=_PATH,
        many=True,
    ),
    "packer_template": Flag(
        "Your own Packer template; the site's convention comes in as variables.",
        ("bake",),
        decl="--template",
        type=_PATH,
    ),
    "packer": Flag("The Packer executable (default: packer on PATH).", ("bake",)),
}


class SettingOption(click.Option):
    """A click option generated from ``FLAGS``: its value is the setting ``key``."""

    def __init__(self, key: str, flag: Flag) -> None:
        kw: dict[str, Any] = {
            "help": f"{flag.help} [{key}]",
            "expose_value": False,
            "callback": _store(key, flag),
        }
        if flag.switch:
            kw.update(is_flag=True, default=None)
        else:
            kw.update(type=flag.type, multiple=flag.many)
        decls = [flag.flag(key), *([flag.short] if flag.short else []), key]
        super().__init__(decls, **kw)
        self.key = key
        self.is_global = GLOBAL in flag.commands


def _store(key: str, flag: Flag) -> Callable[[click.Context, click.Parameter, Any], None]:
    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> None:
        if ctx.get_parameter_source(key) in (None, click.core.ParameterSource.DEFAULT):
            return
        if flag.many:
            value = tuple(value)
            if not value:
                return
        elif flag.csv and isinstance(value, str):
            value = [v.strip() for v in value.split(",")]
        elif flag.reads_file:
            value = _read(str(value), flag.flag(key))
        runtime_flags(ctx)[key] = value

    return callback


def runtime_flags(ctx: click.Context) -> dict[str, Any]:
    from bluegreen.cli.runtime import Runtime

    return ctx.ensure_object(Runtime).flags


def _read(path: str, flag: str) -> str:
    from bluegreen.errors import InputError

    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(
            f"{flag}: cannot read {path}: {e}", fix=f"pass {flag} a readable UTF-8 text file"
        ) from None


def setting_options(command: str) -> list[click.Option]:
    """The options of ``command`` generated from ``FLAGS``, globals excluded."""
    return [SettingOption(k, f) for k, f in FLAGS.items() if command in f.commands]


def global_setting_options() -> list[click.Option]:
    return [SettingOption(k, f) for k, f in FLAGS.items() if GLOBAL in f.commands]


def command_names() -> set[str]:
    """Every command named in the table (a test checks each exists)."""
    return {c for f in FLAGS.values() for c in f.commands if c != GLOBAL}
