"""An SMTP server on loopback that implements AUTH XOAUTH2 (aiosmtpd's auth_<MECHANISM> hook).

It checks the framing Microsoft documents (base64 of "user=…^Aauth=Bearer …^A^A"), accepts only
the user and tokens it is given, and refuses the rest as Exchange Online does (535 5.7.3) or, with
`challenge = True`, as Google does: a 334 carrying an error JSON, the client's empty line, then 535.
"""

from __future__ import annotations

import base64
import binascii
import json
import ssl
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult

from tests.conftest import Recorder, free_port

USER = "pbcvt@dongthap.gov.vn"
GOOD = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJzY3AiOiJTTVRQLlNlbmQifQ.c2lnbmF0dXJlLWdvb2Q"
WRONG = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJzY3AiOiJJTUFQIn0.c2lnbmF0dXJlLXdyb25n"
EXCHANGE_REFUSAL = "535 5.7.3 Authentication unsuccessful"


@dataclass
class Attempt:
    user: str
    token: str
    framed: bool  # the exact user=…^Aauth=Bearer …^A^A framing
    accepted: bool
    inline: bool  # sent as an initial response on the AUTH line (over 512 octets, aiosmtpd says 500)
    empty_line_after_challenge: bool | None = None  # challenge mode: did the client answer with ""?


class XOAuth2Handler(Recorder):
    """Keeps every mail (Recorder) and authenticates XOAUTH2 against `tokens`."""

    def __init__(self, tokens: set[str], challenge: bool = False, echo: bool = False) -> None:
        super().__init__()
        self.tokens = tokens
        self.challenge = challenge
        self.echo = echo  # a careless server that repeats the token in its refusal
        self.attempts: list[Attempt] = []

    async def auth_XOAUTH2(self, server: SMTP, args: list[str]) -> AuthResult:
        inline = len(args) == 2
        if inline:  # an initial response on the AUTH line itself
            blob = args[1].encode()
        else:  # none: ask for it with an empty 334, as Exchange Online does (RFC 4954)
            got = await server.challenge_auth("", encode_to_b64=False)
            if not isinstance(got, bytes):
                return AuthResult(success=False, handled=True)
            blob = base64.b64encode(got)
        try:
            text = base64.b64decode(blob, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return AuthResult(success=False, handled=False, message="501 5.5.2 Cannot decode the response")
        user, token, framed = _parse(text)
        attempt = Attempt(user, token, framed, framed and user == USER and token in self.tokens, inline)
        self.attempts.append(attempt)
        if attempt.accepted:
            return AuthResult(success=True, auth_data=user)
        if self.challenge:
            error = json.dumps({"status": "401", "schemes": "bearer", "scope": "https://outlook.office.com/SMTP.Send"})
            answer = await server.challenge_auth(error)
            attempt.empty_line_after_challenge = answer == b""
            return AuthResult(success=False, handled=False, message="535 5.7.8 Username and Password not accepted")
        return AuthResult(
            success=False, handled=False, message=f"{EXCHANGE_REFUSAL} {token}" if self.echo else EXCHANGE_REFUSAL
        )


def _parse(text: str) -> tuple[str, str, bool]:
    """user, token, and whether the framing is exactly the documented one."""
    parts = text.split("\x01")
    framed = len(parts) == 4 and parts[2:] == ["", ""] and parts[0].startswith("user=")
    framed = framed and parts[1].startswith("auth=Bearer ")
    if not framed:
        return "", "", False
    return parts[0][len("user=") :], parts[1][len("auth=Bearer ") :], True


class _ExchangeLines(SMTP):
    """Lines up to RFC 4954's 12288 octets, which an AUTH response needs (aiosmtpd allows 1001)."""

    line_length_limit = 12288


class _Controller(Controller):
    def factory(self) -> SMTP:
        return _ExchangeLines(self.handler, **self.SMTP_kwargs)


@contextmanager
def xoauth2_smtp(
    tokens: set[str] | None = None, challenge: bool = False, echo: bool = False, tls_folder: Path | None = None
) -> Iterator[tuple[XOAuth2Handler, int, Path | None]]:
    """The server on a free loopback port: plain (AUTH allowed without TLS, loopback only) or, given
    `tls_folder`, demanding STARTTLS before AUTH with a private CA (returned) the client must trust."""
    handler = XOAuth2Handler({GOOD} if tokens is None else tokens, challenge, echo)
    ca: Path | None = None
    kwargs: dict = {"auth_require_tls": False, "auth_exclude_mechanism": ["LOGIN", "PLAIN"]}
    if tls_folder is not None:
        from tests.tlssmtp import make_ca

        ca, cert, key = make_ca(tls_folder)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        kwargs = {**kwargs, "auth_require_tls": True, "tls_context": context, "require_starttls": True}
    controller = _Controller(handler, hostname="127.0.0.1", port=free_port(), auth_required=True, **kwargs)
    controller.start()
    try:
        yield handler, controller.port, ca
    finally:
        controller.stop()


def token_command(folder: Path, token: str = GOOD) -> list[str]:
    """A token helper as an operator would write one: prints the token in `folder`/token (changeable
    between runs) and counts its runs in `folder`/runs."""
    (folder / "token").write_text(token + "\n", encoding="ascii")
    script = folder / "token-helper.py"
    script.write_text(
        "import pathlib, sys\n"
        "here = pathlib.Path(sys.argv[0]).parent\n"
        "with open(here / 'runs', 'a') as f:\n"
        "    f.write('run\\n')\n"
        "sys.stdout.write((here / 'token').read_text())\n",
        encoding="utf-8",
    )
    return [sys.executable, str(script)]


def runs(folder: Path) -> int:
    path = folder / "runs"
    return len(path.read_text().splitlines()) if path.exists() else 0
