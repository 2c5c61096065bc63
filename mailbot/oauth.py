"""OAuth2 access tokens from the operator's `oauth_token_command`, and SASL XOAUTH2.

mailbot holds no OAuth client of its own: the operator names a command (a small
script using msal, `oauth2ms`, `mailctl`…) that prints a current access token on
its standard output. It runs at every new connection (tokens last about an hour),
in its own process group, with stdin closed and a time limit; the token is
registered with the log filter before anything else sees it, and no error message
ever quotes what the command printed. Used by the IMAP mailbox and by SMTP sending.
"""

from __future__ import annotations

import base64
import os
import re
import selectors
import signal
import subprocess
import time
from collections.abc import Sequence

from mailbot.errors import TokenError
from mailbot.redact import protect

MAX_OUTPUT = 64 * 1024  # a Microsoft access token is 1-4 KB
MIN_TOKEN = 16
# RFC 6750 b64token: what a Bearer token may consist of (no space, no line break, no control character)
_BEARER = re.compile(r"[A-Za-z0-9\-._~+/]+=*")


def fetch_token(command: Sequence[str], timeout: float) -> str:
    """The access token `command` prints; TokenError if it cannot run, fails, hangs or prints anything else."""
    if not command:
        raise TokenError("no oauth_token_command configured")
    out, err, code = _run(list(command), timeout)
    lines = out.decode("utf-8", "replace").strip().splitlines()
    tokens = [line.strip() for line in lines if line.strip()]
    # masked in every log line from now on, whatever happens next (only what looks like a token:
    # a word such as "error" registered as a secret would be masked everywhere)
    protect(t for t in tokens if len(t) >= MIN_TOKEN and _BEARER.fullmatch(t))
    if code != 0:
        reason = err.decode("utf-8", "replace").strip().splitlines()
        said = f": {_shown(reason[-1])}" if reason else " (nothing on stderr)"
        raise TokenError(f"oauth_token_command exited with status {code}{said}")
    if not tokens:
        raise TokenError("oauth_token_command printed no token")
    if len(tokens) > 1:
        raise TokenError(
            f"oauth_token_command printed {len(tokens)} lines: it must print the access token alone, on one line"
        )
    if not _BEARER.fullmatch(tokens[0]):
        raise TokenError(
            "oauth_token_command printed something that is not an access token "
            "(spaces or characters a Bearer token cannot hold)"
        )
    if len(tokens[0]) < MIN_TOKEN:
        raise TokenError(f"oauth_token_command printed {len(tokens[0])} characters, too short for an access token")
    return tokens[0]


def _shown(text: str, limit: int = 300) -> str:
    """A line of the command's stderr, shortened, for the operator (Microsoft's AADSTS… error codes)."""
    text = "".join(c if c.isprintable() else " " for c in text).strip()
    return text if len(text) <= limit else text[:limit] + "…"


def _run(command: list[str], timeout: float) -> tuple[bytes, bytes, int]:
    """stdout, stderr and the exit status; the whole process group is killed past `timeout`."""
    try:
        proc = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # its own process group: a helper's children are stopped with it
        )
    except OSError as exc:
        hint = " (the program and each argument are separate strings in the list)" if " " in command[0] else ""
        raise TokenError(f"oauth_token_command cannot be run ({command[0]}): {exc.strerror or exc}{hint}") from None
    assert proc.stdout is not None and proc.stderr is not None
    out_fd, err_fd = proc.stdout.fileno(), proc.stderr.fileno()
    chunks: dict[int, list[bytes]] = {out_fd: [], err_fd: []}
    sizes = dict.fromkeys(chunks, 0)
    deadline = time.monotonic() + timeout
    problem = ""
    with selectors.DefaultSelector() as sel:
        for pipe in (proc.stdout, proc.stderr):
            sel.register(pipe, selectors.EVENT_READ)
        while sel.get_map() and not problem:
            left = deadline - time.monotonic()
            if left <= 0:
                problem = f"oauth_token_command gave no token within {timeout:g} s (stopped)"
                break
            for key, _ in sel.select(left):
                data = os.read(key.fd, 65536)
                if not data:
                    sel.unregister(key.fileobj)
                    continue
                sizes[key.fd] += len(data)
                if sizes[key.fd] > MAX_OUTPUT:
                    problem = f"oauth_token_command printed more than {MAX_OUTPUT // 1024} KB (stopped)"
                    break
                chunks[key.fd].append(data)
    if problem:
        _kill(proc)
    try:
        code = proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
    except subprocess.TimeoutExpired:  # it closed its output but goes on
        _kill(proc)
        problem = problem or f"oauth_token_command did not exit within {timeout:g} s (stopped)"
        code = -1
    finally:
        proc.stdout.close()
        proc.stderr.close()
    if problem:
        raise TokenError(problem)
    return b"".join(chunks[out_fd]), b"".join(chunks[err_fd]), code


def _kill(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def xoauth2(user: str, token: str) -> str:
    """The SASL XOAUTH2 initial response, base64 (Microsoft's and Google's documented framing)."""
    return base64.b64encode(f"user={user}\x01auth=Bearer {token}\x01\x01".encode()).decode("ascii")
