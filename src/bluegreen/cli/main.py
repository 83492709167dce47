"""The entry point: runs the command line and renders every error, with the
exit codes listed in ``bluegreen.errors``, here and only here."""

from __future__ import annotations

import signal
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import click

from bluegreen.cli.runtime import Runtime
from bluegreen.cli.site import cli
from bluegreen.errors import BluegreenError, Interrupted

if TYPE_CHECKING:
    from bluegreen.aws.base import Hook
    from bluegreen.clock import Clock


def _on_sigterm(signum: int, frame: Any) -> None:
    raise Interrupted("stopped by SIGTERM", fix="run the same command again to finish")


def wants_json(args: Sequence[str]) -> bool:
    """Whether the line asks for ``--output json`` (the last one given wins),
    before or after the command: errors are then one JSON document too."""
    output = "text"
    for i, a in enumerate(args):
        if a == "--":
            break
        if a == "--output" and i + 1 < len(args):
            output = args[i + 1]
        elif a.startswith("--output="):
            output = a.split("=", 1)[1]
    return output == "json"


def main(
    argv: Sequence[str] | None = None,
    *,
    hooks: Sequence[Hook] = (),
    clock: Clock | None = None,
    standalone: bool = True,
) -> int:
    """Run the command line; returns (or exits with) the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    output_json = wants_json(args)
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
    except (click.exceptions.Abort, KeyboardInterrupt):
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
