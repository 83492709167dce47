"""What the operator sees while a command runs.

Messages always go to stderr, so that ``--output json`` leaves stdout with one
JSON document. On a terminal waits show rich progress bars; elsewhere (CI logs)
every message is a plain line with a UTC timestamp and no control characters.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol, TextIO


class Progress(Protocol):
    def update(self, done: float, total: float, detail: str = "") -> None: ...


class Reporter:
    def __init__(
        self,
        *,
        stream: TextIO | None = None,
        fancy: bool | None = None,
        quiet: bool = False,
        verbose: bool = False,
    ) -> None:
        self.stream = stream or sys.stderr
        self.fancy = self.stream.isatty() if fancy is None else fancy
        self.quiet = quiet
        self.verbose = verbose
        self.lines: list[str] = []  # everything said, for tests and the history record
        self._console: Any = None

    def _emit(self, text: str, *, style: str = "") -> None:
        from bluegreen.secrets import redact

        text = redact(text)
        self.lines.append(text)
        if self.fancy:
            if self._console is None:
                from rich.console import Console

                self._console = Console(file=self.stream, highlight=False)
            self._console.print(text, style=style or None, markup=False)
        else:
            stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            self.stream.write(f"{stamp} {text}\n")
            self.stream.flush()

    def info(self, text: str) -> None:
        if not self.quiet:
            self._emit(text)

    def step(self, text: str) -> None:
        if not self.quiet:
            self._emit(f"-> {text}", style="bold")

    def detail(self, text: str) -> None:
        if self.verbose:
            self._emit(f"   {text}", style="dim")

    def warn(self, text: str) -> None:
        self._emit(f"warning: {text}", style="yellow")

    @contextmanager
    def progress(self, label: str) -> Iterator[Progress]:
        """A progress display for one wait: a bar on a terminal, lines elsewhere."""
        if self.quiet:
            yield _Silent()
        elif self.fancy:
            from rich.progress import BarColumn, TextColumn, TimeElapsedColumn
            from rich.progress import Progress as RichProgress

            with RichProgress(
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.completed:.0f}/{task.total:.0f} {task.fields[detail]}"),
                TimeElapsedColumn(),
                console=self._console_for_progress(),
                transient=False,
            ) as p:
                task = p.add_task(label, total=1, detail="")
                yield _RichBar(p, task)
            self.lines.append(label)
        else:
            yield _Lines(self, label)

    def _console_for_progress(self) -> Any:
        if self._console is None:
            from rich.console import Console

            self._console = Console(file=self.stream, highlight=False)
        return self._console


class _Silent:
    def update(self, done: float, total: float, detail: str = "") -> None:
        return None


class _RichBar:
    def __init__(self, progress: Any, task: Any) -> None:
        self._p = progress
        self._task = task

    def update(self, done: float, total: float, detail: str = "") -> None:
        self._p.update(self._task, completed=done, total=max(total, 1), detail=detail)


class _Lines:
    """Plain progress: one line whenever the numbers change."""

    def __init__(self, reporter: Reporter, label: str) -> None:
        self._r = reporter
        self._label = label
        self._last: tuple[float, float, str] | None = None

    def update(self, done: float, total: float, detail: str = "") -> None:
        key = (done, total, detail)
        if key != self._last:
            self._last = key
            self._r._emit(f"   {self._label}: {done:.0f}/{total:.0f} {detail}".rstrip())
