"""An SMTP sink for the sandbox and the tests: every message it receives is saved as an ``.eml`` file.

Built on aiosmtpd's ``Controller`` (a real SMTP server in a thread), so the hub's SMTP client is
exercised for real; nothing is relayed anywhere.
"""

from __future__ import annotations

import argparse
import itertools
import socket
import threading
import time
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session


class OutboxHandler:
    """Writes each received message to ``<outbox>/<n>.eml``, in arrival order."""

    def __init__(self, outbox: Path) -> None:
        self.outbox = outbox
        self.outbox.mkdir(parents=True, exist_ok=True)
        self._counter = itertools.count(len(list(outbox.glob("*.eml"))) + 1)
        self._lock = threading.Lock()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        with self._lock:
            path = self.outbox / f"{next(self._counter):06d}.eml"
        path.write_bytes(content)
        return "250 Message accepted for delivery"


def start_sink(outbox: Path, host: str = "127.0.0.1", port: int = 0) -> Controller:
    """Start the sink in a thread; ``controller.port`` is where it listens."""
    if port == 0:  # aiosmtpd's start() connects to the port to check readiness, so it must be real
        with socket.socket() as probe:
            probe.bind((host, 0))
            port = int(probe.getsockname()[1])
    controller = Controller(OutboxHandler(outbox), hostname=host, port=port)
    controller.start()
    return controller


def main() -> None:
    """Run the sink until interrupted (``trackerhub up`` starts it as a process)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8025)
    parser.add_argument("--outbox", type=Path, default=Path("var/outbox"))
    args = parser.parse_args()
    controller = start_sink(args.outbox, args.host, args.port)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
