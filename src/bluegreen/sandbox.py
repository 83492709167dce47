"""The embedded AWS emulator (moto server) on 127.0.0.1.

``bluegreen sandbox`` runs it in the foreground for the other commands to use
with ``--endpoint-url``; ``bluegreen demo`` runs it inside its own process.
"""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass
from typing import Any

from bluegreen.errors import MissingProgram


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Emulator:
    server: Any
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.stop()


def start(port: int | None = None) -> Emulator:
    """Start moto server in this process, on loopback only."""
    os.environ.setdefault("MOTO_ENABLE_AMI_VALIDATION", "true")
    try:
        from moto.server import ThreadedMotoServer
    except ImportError:
        raise MissingProgram(
            "the embedded AWS emulator is not installed",
            found="the Python package moto[server] is missing",
            fix="pip install 'bluegreen[sandbox]' (or run `make demo`, which installs it)",
        ) from None
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    p = port or free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=p, verbose=False)
    server.start()
    return Emulator(server, p)
