"""An SMTP server on loopback that demands STARTTLS and a login, with a private CA the client trusts."""

from __future__ import annotations

import ssl
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.conftest import Recorder, free_port

USER, PASSWORD = "pbcvt@dongthap.gov.vn", "mật-khẩu-smtp"


def make_ca(folder: Path) -> tuple[Path, Path, Path]:
    """ca.pem, and a server certificate for 127.0.0.1 it signed (openssl, as an operator would)."""
    run = lambda *args: subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=folder)  # noqa: E731
    run(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=mailbot test CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
    )
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", "server.key", "-out", "server.csr")
    (folder / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n", encoding="ascii")
    run(
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "san.ext",
        "-out",
        "server.pem",
    )
    return folder / "ca.pem", folder / "server.pem", folder / "server.key"


class Authenticator:
    def __init__(self) -> None:
        self.logins: list[str] = []
        self.attempts: list[str] = []  # every AUTH, accepted or not

    def __call__(self, server, session, envelope, mechanism, auth_data) -> AuthResult:  # noqa: ANN001
        self.attempts.append(mechanism)
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == USER
            and auth_data.password.decode("utf-8") == PASSWORD
        )
        if ok:
            self.logins.append(mechanism)
        return AuthResult(success=ok, handled=False)


@contextmanager
def tls_smtp(folder: Path) -> Iterator[tuple[Recorder, int, Path, Authenticator]]:
    ca, cert, key = make_ca(folder)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    recorder, auth = Recorder(), Authenticator()
    controller = Controller(
        recorder,
        hostname="127.0.0.1",
        port=free_port(),
        tls_context=context,
        require_starttls=True,
        authenticator=auth,
        auth_required=True,
    )
    controller.start()
    try:
        yield recorder, controller.port, ca, auth
    finally:
        controller.stop()
