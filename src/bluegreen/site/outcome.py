"""What ``init`` did to each resource: created, repaired (and what differed), or
nothing because it was right already. With ``dry_run`` nothing is changed and
the same lists say what would be."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from bluegreen.ui import Reporter

T = TypeVar("T")


@dataclass
class InitReport:
    created: list[str] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    key_file: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "created": self.created,
            "repaired": self.repaired,
            "unchanged": self.unchanged,
            "warnings": self.warnings,
            "key_file": self.key_file,
        }

    @property
    def changed(self) -> bool:
        return bool(self.created or self.repaired)


class Recorder:
    def __init__(self, reporter: Reporter, *, dry_run: bool) -> None:
        self.reporter = reporter
        self.dry_run = dry_run
        self.report = InitReport()

    def create(self, what: str, make: Callable[[], T]) -> T | None:
        """Create ``what`` (None with dry_run)."""
        self.report.created.append(what)
        if self.dry_run:
            self.reporter.info(f"would create {what}")
            return None
        self.reporter.step(f"create {what}")
        return make()

    def check(
        self, what: str, differences: list[str], fix: Callable[[], object], *, new: bool = False
    ) -> None:
        """``what`` exists; ``differences`` from its desired state are made good
        by ``fix``. A resource created in this run (``new``) is finished
        silently: its settings are part of its creation."""
        if not differences:
            if not new:
                self.report.unchanged.append(what)
                self.reporter.detail(f"already right: {what}")
            return
        if new:
            if not self.dry_run:
                fix()
            return
        text = f"{what}: {'; '.join(differences)}"
        self.report.repaired.append(text)
        if self.dry_run:
            self.reporter.info(f"would repair {text}")
            return
        self.reporter.step(f"repair {text}")
        fix()

    def ok(self, what: str) -> None:
        self.report.unchanged.append(what)
        self.reporter.detail(f"already right: {what}")

    def warn(self, text: str) -> None:
        self.report.warnings.append(text)
        self.reporter.warn(text)


@dataclass
class Ctx:
    """What every resource family needs: the gateway, the settings, the names,
    the site's tags and the recorder."""

    gw: Any  # bluegreen.aws.Gateway (Any: keeps this module free of the gateway)
    s: Any  # bluegreen.model.settings.Settings
    n: Any  # bluegreen.model.naming.Names
    rec: Recorder

    @property
    def tags(self) -> dict[str, str]:
        return dict(self.n.tags())

    def named(self, name: str) -> dict[str, str]:
        return {**self.n.tags(), "Name": name}
