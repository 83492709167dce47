"""The emulator behind the AWS-fidelity layer (``bluegreen.emulator.fidelity``), for
the tests that need AWS's timing and answers rather than moto's.

One layered emulator runs in the test process for the whole run (moto's
application behind the layer, on loopback, with ``moto_fixed``'s corrections);
each test gets it reset, with a new ``FakeClock`` shared by the layer and the
commands it runs: the layer's delays (AWS's, in seconds) pass when a command
sleeps on that clock, in no wall-clock time.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bluegreen.clock import FakeClock
from bluegreen.emulator.fidelity import Layer, Timings
from conftest import DOMAIN, Result, register_images, reset, run


@dataclass
class Real:
    """The layered emulator of one test: its URL, its layer, the shared clock."""

    url: str
    layer: Layer
    clock: FakeClock

    def run(self, *args: str, **kw: Any) -> Result:
        return run(*args, clock=self.clock, **kw)

    def settle(self, seconds: float = 1.0) -> None:
        """Let ``seconds`` pass (Route 53's request rate refills; reads by the
        test itself then never meet its throttle)."""
        self.clock.advance(seconds)


@pytest.fixture(scope="session")
def layered_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    amis = tmp_path_factory.mktemp("moto-layered") / "amis.json"
    amis.write_text("[]")
    os.environ.setdefault("MOTO_AMIS_PATH", str(amis))  # before moto is imported
    sys.path.insert(0, str(Path(__file__).parent))
    import moto_fixed  # noqa: F401  (its corrections, in this process's moto)
    from bluegreen.emulator import server as sandbox

    emu = sandbox.start(clock=FakeClock())
    try:
        yield emu
    finally:
        emu.stop()


@pytest.fixture
def real(layered_emulator: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Real:
    """A clean layered emulator; the working directory an empty folder."""
    reset(layered_emulator.url)
    clock = FakeClock()
    layered_emulator.layer.clock = clock
    layered_emulator.layer.reset()
    layered_emulator.layer.disabled = set()
    layered_emulator.layer.timings = Timings()
    monkeypatch.chdir(tmp_path)
    for var in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "BLUEGREEN_DOMAIN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("BLUEGREEN_ENDPOINT_URL", layered_emulator.url)
    return Real(layered_emulator.url, layered_emulator.layer, clock)


def images(real: Real, *versions: str) -> dict[str, str]:
    real.settle()
    return register_images(real.url, *versions)


__all__ = ["DOMAIN", "Real", "images", "layered_emulator", "real"]
