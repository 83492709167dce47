"""What every command shares: the ``Runtime`` the options fill in, and the
command classes that accept the global options anywhere on the line.

As with the AWS CLI, a global option (``--output``, ``--domain``, ``-v``...)
may come before the command's name or after it, with the same meaning and the
same precedence (flag > environment > settings file > default). Each command
carries its own copy of the global options; whichever copy sees the option on
the line records it in the ``Runtime`` (the later one wins when both do).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import click

from bluegreen.cli.flags import global_setting_options

if TYPE_CHECKING:
    from pathlib import Path

    from bluegreen.aws.base import Hook
    from bluegreen.clock import Clock
    from bluegreen.lifecycle.session import Session
    from bluegreen.model.settings import Settings
    from bluegreen.ui import Reporter


class Runtime:
    """What the options collect for the command. Tests and benchmarks may set
    ``hooks`` (botocore event handlers) and ``clock`` through ``main``."""

    def __init__(self, hooks: Sequence[Hook] = (), clock: Clock | None = None) -> None:
        self.flags: dict[str, Any] = {}  # settings given as flags, by key
        self.config_file: Path | None = None
        self.output = "text"
        self.quiet = False
        self.verbose = False
        self.hooks = hooks
        self.clock = clock

    def settings(self) -> Settings:
        from bluegreen.model import settings as config

        return config.load(self.flags, config_file=self.config_file)

    def reporter(self) -> Reporter:
        from bluegreen.ui import Reporter

        return Reporter(quiet=self.quiet, verbose=self.verbose)

    def session(self, *, dry_run: bool = False) -> Session:
        from bluegreen.lifecycle.session import open_session

        s = self.settings()
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
        elif table is not None and isatty(sys.stdout):
            from rich.console import Console

            Console(highlight=False).print(table(data))
        elif text is not None:
            click.echo(text(data))

    def confirmer(self, yes: bool, dry_run: bool, command: str) -> Callable[[Any], bool] | None:
        """How a destructive command gets its go-ahead: ``--yes``, or a question
        on a terminal. Elsewhere, without ``--yes``, refuse before doing anything."""
        if yes or dry_run:
            return None
        if not (isatty(sys.stdin) and isatty(sys.stderr)):
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

    @contextmanager
    def logging(self) -> Iterator[None]:
        """--verbose: botocore's debug log, every record redacted; otherwise none
        at all, whatever the root logger says. Undone when the command ends."""
        from bluegreen.secrets import debug_log

        with debug_log(sys.stderr if self.verbose else None):
            yield


pass_rt = click.make_pass_decorator(Runtime, ensure=True)


def isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


# -- the global options that are not settings -------------------------------------------
def _given(ctx: click.Context, name: str) -> bool:
    return ctx.get_parameter_source(name) not in (None, click.core.ParameterSource.DEFAULT)


def _set_config(ctx: click.Context, param: click.Parameter, value: Any) -> None:
    if _given(ctx, "config_file"):
        from pathlib import Path

        ctx.ensure_object(Runtime).config_file = Path(value)


def _set_attr(attr: str) -> Callable[[click.Context, click.Parameter, Any], None]:
    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> None:
        if _given(ctx, str(param.name)):
            setattr(ctx.ensure_object(Runtime), attr, value)

    return callback


class RunOption(click.Option):
    """A global option that is a choice for this run, not a setting."""

    is_global = True


def global_options() -> list[click.Option]:
    """Fresh copies of every global option, for one command."""
    return [
        *global_setting_options(),
        RunOption(
            ["--config", "config_file"],
            type=click.Path(),
            expose_value=False,
            callback=_set_config,
            help="Settings file (default ./bluegreen.toml).",
        ),
        RunOption(
            ["--output"],
            type=click.Choice(["text", "json"]),
            expose_value=False,
            callback=_set_attr("output"),
            help="text (default), or one JSON document on stdout.",
        ),
        RunOption(
            ["-q", "--quiet"],
            is_flag=True,
            expose_value=False,
            callback=_set_attr("quiet"),
            help="Only errors and warnings.",
        ),
        RunOption(
            ["-v", "--verbose"],
            is_flag=True,
            expose_value=False,
            callback=_set_attr("verbose"),
            help="Say more: each step's outcome and botocore's debug log (secrets redacted).",
        ),
    ]


class _GlobalHelp:
    """Help that lists a command's own options, then the global ones."""

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        own: list[tuple[str, str]] = []
        glob: list[tuple[str, str]] = []
        for p in self.get_params(ctx):  # type: ignore[attr-defined]
            record = p.get_help_record(ctx)
            if record is not None:
                (glob if getattr(p, "is_global", False) else own).append(record)
        if own:
            with formatter.section("Options"):
                formatter.write_dl(own)
        if glob:
            with formatter.section("Global options (before or after the command)"):
                formatter.write_dl(glob)


class Command(_GlobalHelp, click.Command):
    """A command that also takes every global option, and runs with --verbose's log."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.params.extend(global_options())

    def invoke(self, ctx: click.Context) -> Any:
        with ctx.ensure_object(Runtime).logging():
            return super().invoke(ctx)


class Group(_GlobalHelp, click.Group):
    """A group whose commands (and itself) take every global option."""

    command_class = Command
    group_class = type  # subgroups are of this class too

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.params.extend(global_options())

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        super().format_options(ctx, formatter)
        self.format_commands(ctx, formatter)
