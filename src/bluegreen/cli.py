"""The ``bluegreen`` command line: a thin layer over ``operations``.

Errors are rendered here and only here (``main``), with the exit codes listed
in ``bluegreen.errors``. Heavy imports (boto3, rich, moto) happen inside the
commands that need them, so ``bluegreen --help`` starts fast.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import click

from bluegreen import __version__
from bluegreen.errors import BluegreenError, Interrupted

if TYPE_CHECKING:
    from pathlib import Path

    from bluegreen.aws.base import Hook
    from bluegreen.clock import Clock
    from bluegreen.config import Settings
    from bluegreen.operations import Session
    from bluegreen.ui import Reporter

F = TypeVar("F", bound=Callable[..., Any])


class Runtime:
    """What the group collects for its commands. Tests and benchmarks may set
    ``hooks`` (botocore event handlers) and ``clock`` through ``main``."""

    def __init__(self, hooks: Sequence[Hook] = (), clock: Clock | None = None) -> None:
        self.flags: dict[str, Any] = {}
        self.config_file: Path | None = None
        self.output = "text"
        self.quiet = False
        self.verbose = False
        self.hooks = hooks
        self.clock = clock

    def settings(self, **flags: Any) -> Settings:
        from bluegreen import config

        merged = dict(self.flags)  # a command's own option wins over the global one
        merged.update({k: v for k, v in flags.items() if v is not None})
        return config.load(merged, config_file=self.config_file)

    def reporter(self) -> Reporter:
        from bluegreen.ui import Reporter

        return Reporter(quiet=self.quiet, verbose=self.verbose)

    def session(self, *, dry_run: bool = False, **flags: Any) -> Session:
        from bluegreen.operations import open_session

        s = self.settings(**flags)
        return open_session(s, self.reporter(), dry_run=dry_run, clock=self.clock, hooks=self.hooks)

    def emit(
        self,
        data: Any,
        text: Callable[[Any], str] | None = None,
        table: Callable[[Any], Any] | None = None,
    ) -> None:
        """One JSON document, a rich table (text output to a terminal), or plain text."""
        if self.output == "json":
            import json

            click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))
        elif table is not None and _isatty(sys.stdout):
            from rich.console import Console

            Console(highlight=False).print(table(data))
        elif text is not None:
            click.echo(text(data))

    def confirmer(self, yes: bool, dry_run: bool, command: str) -> Callable[[Any], bool] | None:
        """How a destructive command gets its go-ahead: ``--yes``, or a question
        on a terminal. Elsewhere, without ``--yes``, refuse before doing anything."""
        if yes or dry_run:
            return None
        if not (_isatty(sys.stdin) and _isatty(sys.stderr)):
            from bluegreen.errors import InputError

            raise InputError(
                f"{command} deletes resources and needs confirmation",
                found="not on a terminal, so there is no one to ask",
                fix=f"pass --yes to confirm (`bluegreen {command} --yes`), or --dry-run to "
                "see what it would delete",
            )

        def ask(plan: Any) -> bool:
            click.echo(f"{plan.command} will:", err=True)
            for line in plan.describe():
                click.echo(f"  - {line}", err=True)
            return click.confirm("Go ahead?", default=False, err=True)

        return ask


pass_rt = click.make_pass_decorator(Runtime)


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def notify_option(f: F) -> F:
    return click.option(
        "--notify-url",
        help="POST a JSON event here on start, success, failure and rollback (or notify_url).",
    )(f)


def yes_option(f: F) -> F:
    return click.option(
        "-y", "--yes", is_flag=True, help="Do not ask for confirmation (needed off a terminal)."
    )(f)


def dry_run_option(f: F) -> F:
    return click.option("--dry-run", is_flag=True, help="Print the plan; change nothing in AWS.")(f)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="bluegreen")
@click.option(
    "--domain", help="The site's domain, e.g. londontamed.com (or `domain` in bluegreen.toml)."
)
@click.option(
    "--region", help="AWS region (else AWS_REGION, AWS_DEFAULT_REGION, the profile's, us-east-1)."
)
@click.option("--profile", help="AWS credentials profile.")
@click.option(
    "--endpoint-url", help="Talk to an emulator at this URL (env BLUEGREEN_ENDPOINT_URL)."
)
@click.option(
    "--strategy",
    type=click.Choice(["dns", "lb", "rolling", "weighted"]),
    help="How traffic moves (default dns).",
)
@click.option(
    "--load-balancer",
    type=click.Choice(["classic", "alb"]),
    help="Classic or application load balancers (default: whichever the site has).",
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(),
    help="Settings file (default ./bluegreen.toml).",
)
@click.option(
    "--notify-url", help="POST a JSON event here for each changing command (or notify_url)."
)
@click.option("--output", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("-q", "--quiet", is_flag=True, help="Only errors and warnings.")
@click.option(
    "-v",
    "--verbose",
    is_flag=True,
    help="Say more: each step's outcome and botocore's debug log (secrets redacted).",
)
@click.pass_context
def cli(
    ctx: click.Context,
    domain: str | None,
    region: str | None,
    profile: str | None,
    endpoint_url: str | None,
    strategy: str | None,
    load_balancer: str | None,
    config_file: str | None,
    notify_url: str | None,
    output: str,
    quiet: bool,
    verbose: bool,
) -> None:
    """Blue-green deployments of web servers on AWS.

    Two environments, each a load balancer in front of an autoscaling group;
    Route 53 alias records say which one is live. Deploy to staging, switch,
    roll back, clean.
    """
    rt = ctx.ensure_object(Runtime)
    rt.flags = {
        "domain": domain,
        "region": region,
        "profile": profile,
        "endpoint_url": endpoint_url,
        "strategy": strategy,
        "load_balancer": load_balancer,
        "notify_url": notify_url,
    }
    if config_file is not None:
        from pathlib import Path  # not at the top: --help need not import it

        rt.config_file = Path(config_file)
    rt.output = output
    rt.quiet = quiet
    rt.verbose = verbose
    from bluegreen.secrets import debug_log

    # --verbose: botocore's debug log, every record redacted; otherwise none at
    # all, whatever the root logger says. Undone when the command ends.
    ctx.with_resource(debug_log(sys.stderr if verbose else None))


# -- init -----------------------------------------------------------------------
@cli.command()
@click.option(
    "--admin-cidr",
    "admin_cidrs",
    multiple=True,
    help="Range allowed SSH, RDP and ping (repeatable).",
)
@click.option("--certificate-arn", help="ACM certificate: adds an HTTPS 443->80 listener.")
@click.option(
    "--tls-policy",
    help="TLS 1.2+ policy of the HTTPS listeners (default: ELBSecurityPolicy-TLS-1-2-2017-01 "
    "on classic, ELBSecurityPolicy-TLS13-1-2-2021-06 on ALB).",
)
@click.option(
    "--https-redirect/--no-https-redirect",
    default=None,
    help="ALB with a certificate: HTTP redirects to HTTPS (default on).",
)
@click.option(
    "--key-pair",
    is_flag=True,
    default=None,
    help="Create an EC2 key pair and save its private key.",
)
@click.option(
    "--load-balancer",
    type=click.Choice(["classic", "alb"]),
    help="Create classic (default) or application load balancers.",
)
@click.option(
    "--strategy",
    type=click.Choice(["dns", "lb", "rolling", "weighted"]),
    help="Set up for this strategy (lb on ALB: one ALB with two target groups).",
)
@click.option("--health-check-path", help="Health check path (default /health).")
@click.option("--hosts", help="Comma-separated live host names (default www,api).")
@click.option("--health-check-port", type=int, help="Health check port (default 3001).")
@click.option("--key-dir", help="Where --key-pair writes the private key (default .).")
@notify_option
@dry_run_option
@pass_rt
def init(
    rt: Runtime,
    admin_cidrs: tuple[str, ...],
    certificate_arn: str | None,
    tls_policy: str | None,
    https_redirect: bool | None,
    key_pair: bool | None,
    load_balancer: str | None,
    strategy: str | None,
    health_check_path: str | None,
    hosts: str | None,
    health_check_port: int | None,
    key_dir: str | None,
    notify_url: str | None,
    dry_run: bool,
) -> None:
    """Make the site's set-up what it should be: create what is missing, repair
    what differs (safe to run again)."""
    from bluegreen import operations

    sess = rt.session(
        dry_run=dry_run,
        health_check_port=health_check_port,
        key_dir=key_dir,
        notify_url=notify_url,
        admin_cidrs=admin_cidrs or None,
        certificate_arn=certificate_arn,
        tls_policy=tls_policy,
        https_redirect=https_redirect,
        key_pair=key_pair,
        load_balancer=load_balancer,
        strategy=strategy,
        health_check_path=health_check_path,
        hosts=hosts.split(",") if hosts else None,
    )
    result = operations.init(sess)

    def text(r: dict[str, Any]) -> str:
        made, fixed = ("would create", "would repair") if r["dry_run"] else ("created", "repaired")
        lines = [f"{made}: {c}" for c in r["created"]]
        lines += [f"{fixed}: {c}" for c in r["repaired"]]
        lines.append(f"already right: {len(r['unchanged'])} resources")
        if r.get("key_file"):
            lines.append(f"private key: {r['key_file']}")
        return "\n".join(lines)

    rt.emit(result, text)


# -- status ---------------------------------------------------------------------
@cli.command()
@pass_rt
def status(rt: Runtime) -> None:
    """Which environment is live and which is staging, and any problem found."""
    from bluegreen import operations
    from bluegreen.render import status_table, status_text

    result = operations.status(rt.session())
    rt.emit(result, status_text, status_table)


# -- deploy ---------------------------------------------------------------------
@cli.command()
@click.option("--ami", help="The image to deploy.")
@click.option("--version", "version", help="Deploy the image tagged with this version.")
@click.option(
    "--capacity", type=int, help="Instances (default: the live group's desired capacity, else 2)."
)
@click.option("--replace", is_flag=True, help="Replace a release already in staging.")
@click.option(
    "--launch-configuration",
    is_flag=True,
    default=None,
    help="Use a launch configuration instead of a launch template.",
)
@click.option("--timeout", help="How long to wait for healthy instances (default 15m).")
@click.option("--instance-type", help="EC2 instance type (default t3.micro).")
@click.option(
    "--user-data",
    "user_data_file",
    type=click.Path(exists=True, dir_okay=False),
    help="Boot script for the instances (refused if it looks like it holds a secret).",
)
@click.option("--kms-key", help="KMS key for the root volume (default: the account's EBS key).")
@click.option("--max-capacity", type=int, help="The group's maximum size (default: capacity).")
@notify_option
@dry_run_option
@pass_rt
def deploy(
    rt: Runtime,
    ami: str | None,
    version: str | None,
    capacity: int | None,
    replace: bool,
    launch_configuration: bool | None,
    timeout: str | None,
    instance_type: str | None,
    user_data_file: str | None,
    kms_key: str | None,
    max_capacity: int | None,
    notify_url: str | None,
    dry_run: bool,
) -> None:
    """Deploy a release to staging: a new autoscaling group behind the staging load balancer."""
    from bluegreen import operations

    _release_args("deploy", ami, version)
    sess = rt.session(
        dry_run=dry_run,
        capacity=capacity,
        launch_configuration=launch_configuration,
        timeout=timeout,
        instance_type=instance_type,
        max_capacity=max_capacity,
        notify_url=notify_url,
        user_data=_read_user_data(user_data_file),
        kms_key=kms_key,
    )
    result = operations.deploy(sess, ami=ami, version=version, replace=replace, capacity=capacity)
    rt.emit(result, _summary)


def _release_args(command: str, ami: str | None, version: str | None) -> None:
    from bluegreen.naming import validate_ami, validate_version

    if ami:
        validate_ami(ami)
    if version:
        validate_version(version)
    if not ami and not version:
        raise click.UsageError(f"{command} needs --ami AMI_ID or --version V")


# -- release --------------------------------------------------------------------
@cli.command()
@click.option("--ami", help="The image to release.")
@click.option("--version", "version", help="Release the image tagged with this version.")
@click.option(
    "--clean-after",
    help="Keep the previous release in staging this long (e.g. 10m), then delete it.",
)
@click.option("--replace", is_flag=True, help="Release over a release that is already in staging.")
@click.option(
    "--capacity", type=int, help="Instances (default: the live group's desired capacity, else 2)."
)
@click.option("--timeout", help="How long to wait for healthy instances (default 15m).")
@click.option("--instance-type", help="EC2 instance type (default t3.micro).")
@notify_option
@dry_run_option
@pass_rt
def release(
    rt: Runtime,
    ami: str | None,
    version: str | None,
    clean_after: str | None,
    replace: bool,
    capacity: int | None,
    timeout: str | None,
    instance_type: str | None,
    notify_url: str | None,
    dry_run: bool,
) -> None:
    """Deploy, check and switch in one command (for pipelines); any failure rolls back.

    With --clean-after the previous release stays in staging for that long (a
    countdown), then is deleted.
    """
    from bluegreen import operations

    _release_args("release", ami, version)
    sess = rt.session(
        dry_run=dry_run,
        capacity=capacity,
        timeout=timeout,
        instance_type=instance_type,
        clean_after=clean_after,
        notify_url=notify_url,
    )
    result = operations.release(
        sess,
        ami=ami,
        version=version,
        replace=replace,
        capacity=capacity,
        clean_after=sess.settings.clean_after,
    )
    rt.emit(result, _summary)


def _read_user_data(path: str | None) -> str | None:
    from bluegreen.errors import InputError

    if path is None:
        return None
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"cannot read user data from {path}: {e}") from None


def _summary(r: dict[str, Any]) -> str:
    return f"{r['command']}: {r['result']}: {r['summary']}"


# -- switch / rollback ----------------------------------------------------------
def check_options(f: F) -> F:
    """--check, --check-url, --check-timeout: the health gates (docs/SAFETY.md)."""
    f = click.option(
        "--check-timeout",
        help="How long each check may take (default 60s; `check_timeout` in bluegreen.toml).",
    )(f)
    f = click.option(
        "--check-url",
        "check_urls",
        multiple=True,
        help="Require HTTP 2xx from URL before and after the switch (repeatable; "
        "{lb_dns}, {host}, {domain} are filled in; `check_urls` in bluegreen.toml).",
    )(f)
    f = click.option(
        "--check",
        "checks",
        multiple=True,
        help="Run CMD (sh -c) before and after the switch; it must exit 0 (repeatable; "
        "gets BLUEGREEN_HOSTS, BLUEGREEN_LB_DNS...; `checks` in bluegreen.toml).",
    )(f)
    return f


def _check_flags(
    checks: tuple[str, ...], check_urls: tuple[str, ...], check_timeout: str | None
) -> dict[str, Any]:
    return {
        "checks": checks or None,
        "check_urls": check_urls or None,
        "check_timeout": check_timeout,
    }


@cli.command()
@click.option("--steps", help="weighted: percentages of traffic to move, e.g. 10,50,100.")
@click.option("--interval", help="weighted: how long to hold each step, e.g. 5m (default 60s).")
@click.option(
    "--alarm",
    "alarms",
    multiple=True,
    help="weighted: a CloudWatch alarm that stops the shift when in ALARM (repeatable).",
)
@check_options
@notify_option
@dry_run_option
@pass_rt
def switch(
    rt: Runtime,
    steps: str | None,
    interval: str | None,
    alarms: tuple[str, ...],
    checks: tuple[str, ...],
    check_urls: tuple[str, ...],
    check_timeout: str | None,
    notify_url: str | None,
    dry_run: bool,
) -> None:
    """Make staging live and live staging (running it again swaps back).

    With checks, they run against staging first (a failure refuses), then
    against the new live environment (a failure undoes the switch: exit 7)."""
    from bluegreen import operations

    sess = rt.session(
        dry_run=dry_run,
        steps=steps,
        interval=interval,
        alarms=alarms or None,
        **_check_flags(checks, check_urls, check_timeout),
        notify_url=notify_url,
    )
    rt.emit(operations.switch(sess), _summary)


@cli.command()
@check_options
@notify_option
@dry_run_option
@pass_rt
def rollback(
    rt: Runtime,
    checks: tuple[str, ...],
    check_urls: tuple[str, ...],
    check_timeout: str | None,
    notify_url: str | None,
    dry_run: bool,
) -> None:
    """Swap back to the release that was live before, while it still runs."""
    from bluegreen import operations

    sess = rt.session(
        dry_run=dry_run,
        notify_url=notify_url,
        **_check_flags(checks, check_urls, check_timeout),
    )
    rt.emit(operations.switch(sess, rollback=True), _summary)


# -- clean ----------------------------------------------------------------------
@cli.command()
@click.option("--force", is_flag=True, help="Do not wait for draining.")
@yes_option
@notify_option
@dry_run_option
@pass_rt
def clean(rt: Runtime, force: bool, yes: bool, notify_url: str | None, dry_run: bool) -> None:
    """Delete the staging release (its group and launch template or configuration).

    Asks for confirmation on a terminal; elsewhere needs --yes.
    """
    from bluegreen import operations

    confirm = rt.confirmer(yes, dry_run, "clean")
    sess = rt.session(dry_run=dry_run, notify_url=notify_url)
    sess.confirm = confirm
    rt.emit(operations.clean(sess, force=force), _summary)


# -- teardown ---------------------------------------------------------------------
@cli.command()
@yes_option
@notify_option
@dry_run_option
@pass_rt
def teardown(rt: Runtime, yes: bool, notify_url: str | None, dry_run: bool) -> None:
    """Delete everything init and the deploys created for the domain.

    Asks for confirmation on a terminal; elsewhere needs --yes. Release images
    are kept. Safe to run again after an interruption: it finishes the job.
    """
    from bluegreen import operations

    confirm = rt.confirmer(yes, dry_run, "teardown")
    sess = rt.session(dry_run=dry_run, notify_url=notify_url)
    sess.confirm = confirm

    def text(r: dict[str, Any]) -> str:
        lines = [f"teardown: {r['result']}: {r['summary']}"]
        lines += [f"kept: {k}" for k in r["kept"]]
        return "\n".join(lines)

    rt.emit(operations.teardown(sess), text)


# -- config -----------------------------------------------------------------------
@cli.command("config")
@pass_rt
def config_cmd(rt: Runtime) -> None:
    """The effective settings and where each came from (default, file, environment, flag)."""
    from pathlib import Path

    from bluegreen import config
    from bluegreen.render import config_table, config_text

    s = rt.settings()
    path = rt.config_file
    if path is None and (Path.cwd() / config.CONFIG_FILE).is_file():
        path = Path.cwd() / config.CONFIG_FILE
    settings: dict[str, Any] = {}
    for key in config.KEYS:
        value = getattr(s, key)
        source = s.sources.get(key, "default")
        if source not in ("default", "flag") and not source.startswith("environment"):
            source = f"file {source}"
        settings[key] = {
            "value": list(value) if isinstance(value, tuple) else value,
            "source": source,
        }
    result = {"config_file": str(path) if path else None, "settings": settings}
    rt.emit(result, config_text, config_table)


# -- lock and history -------------------------------------------------------------
@cli.command()
@click.option("--lock-id", required=True, help="The id of the lock to break (shown by status).")
@pass_rt
def unlock(rt: Runtime, lock_id: str) -> None:
    """Break a lock left by a command that was killed."""
    from bluegreen import operations

    rt.emit(operations.unlock(rt.session(), lock_id), lambda r: f"broke the lock of {r['holder']}")


@cli.command()
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True)
@pass_rt
def history(rt: Runtime, limit: int) -> None:
    """The site's releases, newest first."""
    from bluegreen import operations
    from bluegreen.render import history_table, history_text

    rt.emit(operations.history_entries(rt.session(), limit), history_text, history_table)


# -- images (docs/IMAGES.md) ------------------------------------------------------
@cli.command()
@click.option("--version", "version", help="The release's version: names and tags the image.")
@click.option("--base", is_flag=True, help="Bake the site's base image instead of a release.")
@click.option(
    "--base-ami",
    help="Build on this image (default: the site's newest base image; for --base, "
    "the latest Amazon Linux 2023).",
)
@click.option(
    "--provision",
    "scripts",
    multiple=True,
    type=click.Path(dir_okay=False),
    help="Shell script run on the build instance (repeatable, in order).",
)
@click.option(
    "--template",
    type=click.Path(dir_okay=False),
    help="Your own Packer template; the site's convention comes in as variables.",
)
@click.option("--packer", help="The Packer executable (default: packer on PATH).")
@click.option("--instance-type", help="EC2 instance type of the build (default t3.micro).")
@dry_run_option
@pass_rt
def bake(
    rt: Runtime,
    version: str | None,
    base: bool,
    base_ami: str | None,
    scripts: tuple[str, ...],
    template: str | None,
    packer: str | None,
    instance_type: str | None,
    dry_run: bool,
) -> None:
    """Build a release image (or the base image) with Packer."""
    from bluegreen import operations
    from bluegreen.naming import validate_ami, validate_version

    if version:
        validate_version(version)
    if base_ami:
        validate_ami(base_ami)
    if not version and not base:
        raise click.UsageError("bake needs --version V, or --base for the base image")
    sess = rt.session(
        dry_run=dry_run,
        instance_type=instance_type,
        base_ami=base_ami,
        provision=scripts or None,
        packer_template=template,
        packer=packer,
    )
    s = sess.settings  # each of these may also come from bluegreen.toml
    result = operations.bake(
        sess,
        version=version,
        base=base,
        base_ami=s.base_ami,
        scripts=s.provision,
        template=s.packer_template,
        packer=s.packer,
    )
    rt.emit(result, lambda r: f"bake: {r['result']}: {r['summary']}")


@cli.group(invoke_without_command=True)
@click.pass_context
def images(ctx: click.Context) -> None:
    """The site's images: version, id, created, source, and which environment runs each."""
    if ctx.invoked_subcommand is None:
        from bluegreen import operations
        from bluegreen.images import listing_text

        rt = ctx.find_object(Runtime)
        assert rt is not None
        rt.emit(operations.images_list(rt.session()), listing_text)


@images.command("prune")
@click.option(
    "--keep",
    type=click.IntRange(0, 10000),
    required=True,
    help="How many of the newest release (and base) images to keep in any case.",
)
@dry_run_option
@pass_rt
def images_prune(rt: Runtime, keep: int, dry_run: bool) -> None:
    """Deregister the oldest images no environment or launch template uses."""
    from bluegreen import operations

    rt.emit(operations.images_prune(rt.session(dry_run=dry_run), keep), _summary)


# -- iam-policy ---------------------------------------------------------------------
@cli.command("iam-policy")
@click.option(
    "--for",
    "purpose",
    type=click.Choice(["operate", "init", "teardown", "bake"]),
    default="operate",
    show_default=True,
    help="operate: status, deploy, switch, rollback, clean, history, unlock; "
    "init: the set-up; teardown: removing it; bake: building images with Packer.",
)
@click.option("--account-id", help="The 12-digit account (default: looked up with STS).")
@click.option(
    "--offline", is_flag=True, help="Call nothing: unknown account and zone ids stay wildcards."
)
@pass_rt
def iam_policy(rt: Runtime, purpose: str, account_id: str | None, offline: bool) -> None:
    """Print the least-privilege IAM policy (JSON) bluegreen needs for this domain.

    Built for the configured strategy and load-balancer kind. See docs/SECURITY.md.
    """
    import re

    from bluegreen import iam_policy as policies
    from bluegreen import operations
    from bluegreen.errors import InputError

    if account_id is not None and not re.fullmatch(r"\d{12}", account_id):
        raise InputError(f"--account-id: {account_id!r} is not a 12-digit AWS account id")
    policy = operations.iam_policy(
        rt.settings(),
        purpose,
        account_id=account_id,
        lookup=not offline,
        reporter=rt.reporter(),
        hooks=rt.hooks,
    )
    click.echo(policies.render(policy))
    n, size = len(policies.actions(policy)), policies.size(policy)
    rt.reporter().info(
        f"{purpose} policy: {n} actions in {len(policy['Statement'])} statements, "
        f"{size} of the {policies.MANAGED_POLICY_LIMIT} characters a managed policy may hold"
    )


# -- sandbox and demo -------------------------------------------------------------
@cli.command()
@click.option("--port", type=click.IntRange(1, 65535), default=5000, show_default=True)
@pass_rt
def sandbox(rt: Runtime, port: int) -> None:
    """Run the embedded AWS emulator on 127.0.0.1 until Ctrl-C."""
    import threading

    from bluegreen import sandbox as sb

    emu = sb.start(port)
    if rt.output == "json":  # one document, at once, for the script that started it
        rt.emit({"url": emu.url, "env": {"BLUEGREEN_ENDPOINT_URL": emu.url}})
        sys.stdout.flush()
    else:
        click.echo(f"AWS emulator listening on {emu.url}")
        click.echo(
            f"use it with:  bluegreen --endpoint-url {emu.url} --domain londontamed.com status"
        )
        click.echo(f"         or:  export BLUEGREEN_ENDPOINT_URL={emu.url}")
        click.echo("state lives in memory; Ctrl-C stops it")
    try:
        threading.Event().wait()
    finally:
        emu.stop()


@cli.command()
@pass_rt
def demo(rt: Runtime) -> None:
    """Tell the seed's story for londontamed.com on an in-process emulator."""
    from bluegreen.demo import run_demo

    run_demo(rt.reporter(), output=rt.output)


# -- entry point --------------------------------------------------------------------
def _on_sigterm(signum: int, frame: Any) -> None:
    raise Interrupted("stopped by SIGTERM", fix="run the same command again to finish")


def main(
    argv: Sequence[str] | None = None,
    *,
    hooks: Sequence[Hook] = (),
    clock: Clock | None = None,
    standalone: bool = True,
) -> int:
    """Run the command line; returns (or exits with) the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    output_json = "--output=json" in args or (
        "--output" in args
        and args[args.index("--output") + 1 : args.index("--output") + 2] == ["json"]
    )
    rt = Runtime(hooks=hooks, clock=clock)
    previous = signal.getsignal(signal.SIGTERM)
    try:
        signal.signal(signal.SIGTERM, _on_sigterm)
    except ValueError:  # not the main thread
        previous = None
    code = 0
    try:
        cli.main(args=args, obj=rt, standalone_mode=False, prog_name="bluegreen")
    except BluegreenError as e:
        from bluegreen.secrets import redact

        code = e.exit_code
        if output_json:
            import json

            click.echo(redact(json.dumps(e.to_json(), indent=2)))
        click.echo(redact(e.render()), err=True)
    except click.exceptions.Abort:
        code = 130
        click.echo("interrupted: run the same command again to finish", err=True)
    except KeyboardInterrupt:
        code = 130
        click.echo("interrupted: run the same command again to finish", err=True)
    except click.ClickException as e:
        code = e.exit_code
        if output_json:  # one JSON document on stdout, whatever went wrong
            import json

            doc = {
                "error": "bad input",
                "message": e.format_message(),
                "found": None,
                "fix": "see `bluegreen COMMAND --help`",
                "exit_code": code,
            }
            click.echo(json.dumps(doc, indent=2))
        e.show()
    except click.exceptions.Exit as e:
        code = e.exit_code
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    if standalone:
        sys.exit(code)
    return code


if __name__ == "__main__":  # pragma: no cover
    main()
