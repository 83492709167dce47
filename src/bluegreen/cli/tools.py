"""The commands around the release cycle: config, unlock, history, bake, images,
iam-policy, sandbox and demo."""

from __future__ import annotations

import sys
from typing import Any

import click

from bluegreen.cli.runtime import Runtime, pass_rt
from bluegreen.cli.site import cli, dry_run_option, summary, with_settings


# -- config -----------------------------------------------------------------------------
@with_settings
@cli.command("config")
@pass_rt
def config_cmd(rt: Runtime) -> None:
    """The effective settings and where each came from (default, file, environment, flag)."""
    from pathlib import Path

    from bluegreen.cli.render import config_table, config_text
    from bluegreen.model import settings as config

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
    result: dict[str, Any] = {"config_file": str(path) if path else None, "settings": settings}
    if s.domain is not None:  # which resources are adopted, which bluegreen owns
        from bluegreen.model.adoption import ownership

        result["resources"] = ownership(s.names())
    rt.emit(result, config_text, config_table)


# -- lock and history -------------------------------------------------------------------
@with_settings
@cli.command()
@click.option("--lock-id", required=True, help="The id of the lock to break (shown by status).")
@pass_rt
def unlock(rt: Runtime, lock_id: str) -> None:
    """Break a lock left by a command that was killed."""
    from bluegreen.commands.admin import unlock

    rt.emit(unlock(rt.session(), lock_id), lambda r: f"broke the lock of {r['holder']}")


@with_settings
@cli.command()
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True)
@pass_rt
def history(rt: Runtime, limit: int) -> None:
    """The site's releases, newest first."""
    from bluegreen.cli.render import history_table, history_text
    from bluegreen.commands.admin import history_entries

    rt.emit(history_entries(rt.session(), limit), history_text, history_table)


# -- images (docs/IMAGES.md) ------------------------------------------------------------
@with_settings
@cli.command()
@click.option("--version", "version", help="The release's version: names and tags the image.")
@click.option("--base", is_flag=True, help="Bake the site's base image instead of a release.")
@dry_run_option
@pass_rt
def bake(rt: Runtime, version: str | None, base: bool, dry_run: bool) -> None:
    """Build a release image (or the base image) with Packer."""
    from bluegreen.commands.images import bake
    from bluegreen.model.naming import validate_ami, validate_version

    if version:
        validate_version(version)
    base_ami = rt.flags.get("base_ami")
    if base_ami:
        validate_ami(base_ami)
    if not version and not base:
        raise click.UsageError("bake needs --version V, or --base for the base image")
    sess = rt.session(dry_run=dry_run)
    s = sess.settings  # each of these may also come from bluegreen.toml
    result = bake(
        sess,
        version=version,
        base=base,
        base_ami=s.base_ami,
        scripts=s.provision,
        tests=s.tests,
        template=s.packer_template,
        packer=s.packer,
    )
    rt.emit(result, lambda r: f"bake: {r['result']}: {r['summary']}")


@with_settings
@cli.group(invoke_without_command=True)
@click.pass_context
def images(ctx: click.Context) -> None:
    """The site's images: version, id, created, source, and which environment runs each."""
    if ctx.invoked_subcommand is None:
        from bluegreen.commands.images import images_list
        from bluegreen.images.catalog import listing_text

        rt = ctx.ensure_object(Runtime)
        with rt.logging():
            rt.emit(images_list(rt.session()), listing_text)


@with_settings
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
    from bluegreen.commands.images import images_prune

    rt.emit(images_prune(rt.session(dry_run=dry_run), keep), summary)


# -- iam-policy -------------------------------------------------------------------------
@with_settings
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
@click.option(
    "--part",
    type=click.IntRange(1, 20),
    help="When the policy needs several managed policies (long domains), print only "
    "the N-th document (default: the one document, or a JSON list of all).",
)
@pass_rt
def iam_policy(
    rt: Runtime, purpose: str, account_id: str | None, offline: bool, part: int | None
) -> None:
    """Print the least-privilege IAM policy (JSON) bluegreen needs for this domain.

    Built for the configured strategy and load-balancer kind. A policy that does
    not fit one managed policy (6144 characters) is split into several documents:
    attach each. See docs/SECURITY.md.
    """
    import json
    import re

    from bluegreen.commands.policy import iam_policy
    from bluegreen.errors import InputError
    from bluegreen.policy import iam_policy as policies

    if account_id is not None and not re.fullmatch(r"\d{12}", account_id):
        raise InputError(
            f"--account-id: {account_id!r} is not a 12-digit AWS account id",
            fix="pass the account's id as shown by `aws sts get-caller-identity`, e.g. 123456789012",
        )
    policy = iam_policy(
        rt.settings(),
        purpose,
        account_id=account_id,
        lookup=not offline,
        reporter=rt.reporter(),
        hooks=rt.hooks,
    )
    try:
        docs = policies.documents(policy)
    except ValueError as e:
        raise InputError(
            f"the {purpose} policy cannot be split into managed policies: {e}",
            found=f"{policies.MANAGED_POLICY_LIMIT} characters is AWS's limit for one",
            fix="configure fewer or shorter host names (hosts)",
        ) from None
    if part is not None and part > len(docs):
        raise InputError(
            f"--part {part}: the {purpose} policy has {len(docs)} document(s)",
            fix=f"pass --part 1 to --part {len(docs)}",
        )
    limit = policies.MANAGED_POLICY_LIMIT
    if part is not None:
        click.echo(policies.render(docs[part - 1]))
    elif len(docs) == 1:
        click.echo(policies.render(docs[0]))
    else:
        click.echo(json.dumps(docs, indent=2))
    n, size = len(policies.actions(policy)), policies.size(policy)
    if len(docs) == 1:
        rt.reporter().info(
            f"{purpose} policy: {n} actions in {len(policy['Statement'])} statements, "
            f"{size} of the {limit} characters a managed policy may hold"
        )
    else:
        sizes = ", ".join(str(policies.size(d)) for d in docs)
        rt.reporter().info(
            f"{purpose} policy: {n} actions in {len(policy['Statement'])} statements, "
            f"{size} characters: more than the {limit} a managed policy may hold, so "
            f"{len(docs)} documents of {sizes} characters; attach each as its own "
            f"managed policy (`--part 1` to `--part {len(docs)}` print them one by one)"
        )


# -- sandbox and demo -------------------------------------------------------------------
@with_settings
@cli.command()
@click.option("--port", type=click.IntRange(1, 65535), default=5000, show_default=True)
@click.option(
    "--realistic",
    is_flag=True,
    help="AWS's timings and answers: new instance profiles unusable for 20s, tables "
    "CREATING for 10s, DNS changes PENDING for 30s, instances booting for 30s and "
    "health-checked for 20s more, Route 53 throttled at 5 requests/s (see README).",
)
@pass_rt
def sandbox(rt: Runtime, port: int, realistic: bool) -> None:
    """Run the embedded AWS emulator on 127.0.0.1 until Ctrl-C."""
    import threading

    from bluegreen.emulator import server as sb

    emu = sb.start(port, realistic=realistic)
    if rt.output == "json":  # one document, at once, for the script that started it
        rt.emit({"url": emu.url, "env": {"BLUEGREEN_ENDPOINT_URL": emu.url}})
        sys.stdout.flush()
    else:
        click.echo(f"AWS emulator listening on {emu.url}")
        click.echo(
            f"use it with:  bluegreen status --endpoint-url {emu.url} --domain londontamed.com"
        )
        click.echo(f"         or:  export BLUEGREEN_ENDPOINT_URL={emu.url}")
        if realistic:
            click.echo("with AWS's timings: a first deploy waits about a minute (see README)")
        click.echo("state lives in memory; Ctrl-C stops it")
    try:
        threading.Event().wait()
    finally:
        emu.stop()


@with_settings
@cli.command()
@pass_rt
def demo(rt: Runtime) -> None:
    """Tell the seed's story for londontamed.com on an in-process emulator."""
    from bluegreen.commands.demo import run_demo

    run_demo(rt.reporter(), output=rt.output)
