"""The root group and the commands that change the site: init, status, deploy,
release, switch, rollback, clean, teardown.

Every setting's flag comes from ``bluegreen.cli.flags``; a command declares by
hand only the choices that are not settings (``--ami``, ``--replace``...).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from bluegreen import __version__
from bluegreen.cli.flags import setting_options
from bluegreen.cli.runtime import Group, Runtime, pass_rt

F = TypeVar("F", bound=Callable[..., Any])
C = TypeVar("C", bound=click.Command)


def yes_option(f: F) -> F:
    return click.option(
        "-y", "--yes", is_flag=True, help="Do not ask for confirmation (needed off a terminal)."
    )(f)


def dry_run_option(f: F) -> F:
    return click.option("--dry-run", is_flag=True, help="Print the plan; change nothing in AWS.")(f)


def with_settings(cmd: C) -> C:
    """Add the options generated for ``cmd``'s settings, before the global ones."""
    first_global = next(
        (i for i, p in enumerate(cmd.params) if getattr(p, "is_global", False)), len(cmd.params)
    )
    cmd.params[first_global:first_global] = setting_options(str(cmd.name))
    return cmd


@click.group(
    cls=Group,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, prog_name="bluegreen")
def cli() -> None:
    """Blue-green deployments of web servers on AWS.

    Two environments, each a load balancer in front of an autoscaling group;
    Route 53 alias records say which one is live. Deploy to staging, switch,
    roll back, clean.

    Global options go before or after the command's name.
    """


def summary(r: dict[str, Any]) -> str:
    return f"{r['command']}: {r['result']}: {r['summary']}"


def release_args(command: str, ami: str | None, version: str | None) -> None:
    from bluegreen.model.naming import validate_ami, validate_version

    if ami:
        validate_ami(ami)
    if version:
        validate_version(version)
    if not ami and not version:
        raise click.UsageError(f"{command} needs --ami AMI_ID or --version V")


# -- init -----------------------------------------------------------------------------
@with_settings
@cli.command()
@dry_run_option
@pass_rt
def init(rt: Runtime, dry_run: bool) -> None:
    """Make the site's set-up what it should be: create what is missing, repair
    what differs (safe to run again)."""
    from bluegreen.commands.site import init

    result = init(rt.session(dry_run=dry_run))

    def text(r: dict[str, Any]) -> str:
        made, fixed = ("would create", "would repair") if r["dry_run"] else ("created", "repaired")
        lines = [f"{made}: {c}" for c in r["created"]]
        lines += [f"{fixed}: {c}" for c in r["repaired"]]
        lines.append(f"already right: {len(r['unchanged'])} resources")
        if r.get("key_file"):
            lines.append(f"private key: {r['key_file']}")
        return "\n".join(lines)

    rt.emit(result, text)


# -- status ---------------------------------------------------------------------------
@with_settings
@cli.command()
@pass_rt
def status(rt: Runtime) -> None:
    """Which environment is live and which is staging, and any problem found."""
    from bluegreen.cli.render import status_table, status_text
    from bluegreen.commands.status import status

    rt.emit(status(rt.session()), status_text, status_table)


# -- deploy ---------------------------------------------------------------------------
@with_settings
@cli.command()
@click.option("--ami", help="The image to deploy.")
@click.option("--version", "version", help="Deploy the image tagged with this version.")
@click.option("--replace", is_flag=True, help="Replace a release already in staging.")
@dry_run_option
@pass_rt
def deploy(rt: Runtime, ami: str | None, version: str | None, replace: bool, dry_run: bool) -> None:
    """Deploy a release to staging: a new autoscaling group behind the staging load balancer."""
    from bluegreen.commands.deploy import deploy

    release_args("deploy", ami, version)
    sess = rt.session(dry_run=dry_run)
    result = deploy(
        sess, ami=ami, version=version, replace=replace, capacity=rt.flags.get("capacity")
    )
    rt.emit(result, summary)


# -- release --------------------------------------------------------------------------
@with_settings
@cli.command()
@click.option("--ami", help="The image to release.")
@click.option("--version", "version", help="Release the image tagged with this version.")
@click.option("--replace", is_flag=True, help="Release over a release that is already in staging.")
@dry_run_option
@pass_rt
def release(
    rt: Runtime, ami: str | None, version: str | None, replace: bool, dry_run: bool
) -> None:
    """Deploy, check and switch in one command (for pipelines); any failure rolls back.

    Takes every setting of deploy, switch and clean. With --clean-after the
    previous release stays in staging for that long (a countdown), then is
    deleted.
    """
    from bluegreen.commands.release import release

    release_args("release", ami, version)
    sess = rt.session(dry_run=dry_run)
    result = release(
        sess,
        ami=ami,
        version=version,
        replace=replace,
        capacity=rt.flags.get("capacity"),
        clean_after=sess.settings.clean_after,
    )
    rt.emit(result, summary)


# -- switch / rollback ----------------------------------------------------------------
@with_settings
@cli.command()
@dry_run_option
@pass_rt
def switch(rt: Runtime, dry_run: bool) -> None:
    """Make staging live and live staging (running it again swaps back).

    With checks, they run against staging first (a failure refuses), then
    against the new live environment (a failure undoes the switch: exit 7)."""
    from bluegreen.commands.switch import switch

    rt.emit(switch(rt.session(dry_run=dry_run)), summary)


@with_settings
@cli.command()
@dry_run_option
@pass_rt
def rollback(rt: Runtime, dry_run: bool) -> None:
    """Swap back to the release that was live before, while it still runs."""
    from bluegreen.commands.switch import switch

    rt.emit(switch(rt.session(dry_run=dry_run), rollback=True), summary)


# -- clean ----------------------------------------------------------------------------
@with_settings
@cli.command()
@click.option("--force", is_flag=True, help="Do not wait for draining.")
@yes_option
@dry_run_option
@pass_rt
def clean(rt: Runtime, force: bool, yes: bool, dry_run: bool) -> None:
    """Delete the staging release (its group and launch template or configuration).

    Asks for confirmation on a terminal; elsewhere needs --yes.
    """
    from bluegreen.commands.clean import clean

    confirm = rt.confirmer(yes, dry_run, "clean")
    sess = rt.session(dry_run=dry_run)
    sess.confirm = confirm
    rt.emit(clean(sess, force=force), summary)


# -- teardown -------------------------------------------------------------------------
@with_settings
@cli.command()
@yes_option
@dry_run_option
@pass_rt
def teardown(rt: Runtime, yes: bool, dry_run: bool) -> None:
    """Delete everything init and the deploys created for the domain.

    Asks for confirmation on a terminal; elsewhere needs --yes. Release images
    are kept. Safe to run again after an interruption: it finishes the job.
    """
    from bluegreen.commands.site import teardown

    confirm = rt.confirmer(yes, dry_run, "teardown")
    sess = rt.session(dry_run=dry_run)
    sess.confirm = confirm

    def text(r: dict[str, Any]) -> str:
        lines = [f"teardown: {r['result']}: {r['summary']}"]
        lines += [f"kept: {k}" for k in r["kept"]]
        return "\n".join(lines)

    rt.emit(teardown(sess), text)
