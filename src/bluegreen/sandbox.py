"""The embedded AWS emulator (moto server) on 127.0.0.1.

``bluegreen sandbox`` runs it in the foreground for the other commands to use
with ``--endpoint-url``; ``bluegreen demo`` runs it inside its own process;
``python -m bluegreen.sandbox PORT`` runs it alone (the Packer tests do).

One fidelity fix is applied (``fix_emulator``): moto reports every image it
registers or creates with root device type ``standard`` (instance store), where
AWS reports ``ebs`` for the EBS-backed images CreateImage makes. Packer's
amazon-ebs builder refuses a source image that is not EBS-backed, so without the
fix a release could not be baked on a base image baked before.
"""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass
from typing import Any

from bluegreen.clock import Clock
from bluegreen.errors import MissingProgram


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Emulator:
    server: Any
    port: int
    layer: Any = None  # the fidelity layer (bluegreen.fidelity.Layer), when started with one

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.stop()


_FIXED: list[bool] = []


def fix_emulator() -> None:
    """Images the emulator registers or creates are EBS-backed, as in AWS (once per process).

    Images of moto's catalogue name their root device type themselves and keep it."""
    from moto.ec2.models import amis

    if _FIXED:
        return
    original: Any = amis.Ami.__init__

    def init(self: Any, *args: Any, root_device_type: str = "ebs", **kwargs: Any) -> None:
        original(self, *args, root_device_type=root_device_type, **kwargs)

    amis.Ami.__init__ = init  # type: ignore[method-assign]
    _FIXED.append(True)


def start(
    port: int | None = None, *, realistic: bool = False, clock: Clock | None = None
) -> Emulator:
    """Start moto server in this process, on loopback only.

    ``realistic`` (or a ``clock``) puts the AWS-fidelity layer
    (``bluegreen.fidelity``) in front of it: AWS's delays on the system clock
    (or on ``clock``), AWS's answers where moto's differ."""
    os.environ.setdefault("MOTO_ENABLE_AMI_VALIDATION", "true")
    try:
        from moto.server import ThreadedMotoServer
    except ImportError:
        raise MissingProgram(
            "the embedded AWS emulator is not installed",
            found="the Python package moto[server] is missing",
            fix="pip install 'bluegreen[sandbox]' (or run `make demo`, which installs it)",
        ) from None
    fix_emulator()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    p = port or free_port()
    if realistic or clock is not None:
        return _start_layered(p, clock)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=p, verbose=False)
    server.start()
    return Emulator(server, p)


class _LayeredServer:
    """moto's application behind the fidelity layer, served on a thread."""

    def __init__(self, port: int, layer: Any) -> None:
        import threading

        from moto.moto_server.werkzeug_app import MotoRequestHandler
        from werkzeug.serving import make_server

        self._server = make_server(
            "127.0.0.1", port, layer, threaded=True, request_handler=MotoRequestHandler
        )
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join()


def _start_layered(port: int, clock: Clock | None) -> Emulator:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    from bluegreen.fidelity import Layer

    layer = Layer(DomainDispatcherApplication(create_backend_app), clock)
    return Emulator(_LayeredServer(port, layer), port, layer)


def main(argv: list[str]) -> None:
    """``python -m bluegreen.sandbox PORT``: the emulator alone, until SIGTERM or Ctrl-C."""
    import threading

    emu = start(int(argv[0]) if argv else 5000)
    print(emu.url, flush=True)
    try:
        threading.Event().wait()
    finally:
        emu.stop()


if __name__ == "__main__":  # pragma: no cover
    import sys

    main(sys.argv[1:])
