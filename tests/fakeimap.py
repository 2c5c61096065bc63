"""An IMAP server on loopback that records every line a client sends (an attacker's server, or a
misconfigured one): just enough IMAP for a client to reach its login (greeting, CAPABILITY,
STARTTLS), TLS from the first byte or after STARTTLS, with any certificate."""

from __future__ import annotations

import socket
import ssl
import threading
from pathlib import Path

from tests.conftest import free_port


class RecordingImapServer:
    def __init__(self, cert: Path, key: Path, starttls: bool) -> None:
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.load_cert_chain(cert, key)
        self.starttls = starttls
        self.port = free_port()
        self.lines: list[bytes] = []  # every line received, before and after TLS
        self.handshakes: list[str] = []  # "ok" or the server side's error
        self._sock = socket.create_server(("127.0.0.1", self.port))
        self._sock.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> RecordingImapServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self._sock.close()

    @property
    def credentials_seen(self) -> bool:
        return any(w in line.upper() for line in self.lines for w in (b"LOGIN", b"AUTHENTICATE"))

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except (TimeoutError, OSError):
                continue
            conn.settimeout(5)
            try:
                self._session(conn)
            except (OSError, ValueError):
                pass
            finally:
                conn.close()

    def _tls(self, conn: socket.socket) -> socket.socket | None:
        try:
            wrapped = self.context.wrap_socket(conn, server_side=True)
        except (ssl.SSLError, OSError) as exc:
            self.handshakes.append(str(exc))
            return None
        self.handshakes.append("ok")
        return wrapped

    def _session(self, conn: socket.socket) -> None:
        if not self.starttls:
            wrapped = self._tls(conn)
            if wrapped is None:
                return
            conn = wrapped
        caps = b"IMAP4rev1 AUTH=PLAIN" + (b" STARTTLS" if self.starttls else b"")
        conn.sendall(b"* OK [CAPABILITY " + caps + b"] ready\r\n")
        buffer = b""
        while True:
            data = conn.recv(4096)
            if not data:
                return
            buffer += data
            while b"\r\n" in buffer:
                line, buffer = buffer.split(b"\r\n", 1)
                self.lines.append(line)
                tag, _, rest = line.partition(b" ")
                command = rest.split(b" ", 1)[0].upper()
                if command == b"CAPABILITY":
                    conn.sendall(b"* CAPABILITY " + caps + b"\r\n" + tag + b" OK done\r\n")
                elif command == b"STARTTLS" and self.starttls:
                    conn.sendall(tag + b" OK begin TLS\r\n")
                    wrapped = self._tls(conn)
                    if wrapped is None:
                        return
                    conn, buffer = wrapped, b""
                elif command in (b"LOGIN", b"AUTHENTICATE"):
                    conn.sendall(tag + b" NO refused\r\n")
                elif command == b"LOGOUT":
                    conn.sendall(b"* BYE\r\n" + tag + b" OK bye\r\n")
                    return
                else:
                    conn.sendall(tag + b" OK done\r\n")
