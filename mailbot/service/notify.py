"""sd_notify: tell systemd that the daemon is ready, alive, busy with what, or stopping.

Written here in a few lines over the datagram socket because the `sdnotify`
package encodes to Latin-1 and silently drops a STATUS= line with Vietnamese
text. Without NOTIFY_SOCKET (not under systemd, Type=simple) every call is a
no-op.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Mapping

log = logging.getLogger(__name__)


class Notifier:
    def __init__(self, address: str | None, watchdog_usec: int | None = None) -> None:
        self.address = "\0" + address[1:] if address and address.startswith("@") else address
        self.watchdog_seconds = watchdog_usec / 1e6 if watchdog_usec else None
        self._last_beat = 0.0
        self._sock: socket.socket | None = None
        if self.address:
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Notifier:
        """NOTIFY_SOCKET and WATCHDOG_USEC as systemd sets them; the watchdog only if it is ours."""
        usec = environ.get("WATCHDOG_USEC", "")
        pid = environ.get("WATCHDOG_PID", "")
        mine = not pid or pid == str(os.getpid())
        return cls(environ.get("NOTIFY_SOCKET") or None, int(usec) if usec.isdigit() and mine else None)

    @property
    def beat_interval(self) -> float | None:
        """No wait may last longer than this: half the watchdog period (systemd's advice)."""
        return self.watchdog_seconds / 2 if self.watchdog_seconds else None

    def send(self, *fields: str) -> None:
        if self._sock is None or self.address is None:
            return
        try:
            self._sock.sendto("\n".join(fields).encode("utf-8"), self.address)
        except OSError as exc:  # systemd gone or restarting: never a reason to stop the daemon
            log.debug("sd_notify failed: %s", exc)

    def ready(self, status: str) -> None:
        self.send("READY=1", f"STATUS={status}", f"MAINPID={os.getpid()}")

    def status(self, text: str) -> None:
        self.send(f"STATUS={text}")

    def reloading(self) -> None:
        self.send("RELOADING=1", "STATUS=đang nạp lại cấu hình / reloading")

    def beat(self) -> None:
        """WATCHDOG=1, at most once a second (a quarter of a very short watchdog period) however often
        it is called: with waits bounded to half the period, no gap then comes near the period."""
        if self.watchdog_seconds is None:
            return
        now = time.monotonic()
        if now - self._last_beat >= min(1.0, self.watchdog_seconds / 4):
            self._last_beat = now
            self.send("WATCHDOG=1")

    def stopping(self) -> None:
        self.send("STOPPING=1", "STATUS=đang dừng / stopping")

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
