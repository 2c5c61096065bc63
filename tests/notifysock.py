"""A real NOTIFY_SOCKET: the datagram socket systemd would listen on, read by the tests."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path


class NotifySocket:
    """Binds a datagram socket and keeps every message received, with its arrival time."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.1)
        self.messages: list[tuple[float, dict[str, str]]] = []
        self.raw: list[bytes] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            fields = dict(line.split("=", 1) for line in data.decode("utf-8").split("\n") if "=" in line)
            with self._lock:
                self.raw.append(data)
                self.messages.append((time.monotonic(), fields))

    def with_key(self, key: str) -> list[tuple[float, dict[str, str]]]:
        with self._lock:
            return [(t, m) for t, m in self.messages if key in m]

    def first(self, key: str) -> tuple[float, dict[str, str]] | None:
        found = self.with_key(key)
        return found[0] if found else None

    def statuses(self) -> list[str]:
        return [m["STATUS"] for _, m in self.with_key("STATUS")]

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()
