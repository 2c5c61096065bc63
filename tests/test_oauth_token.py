"""oauth_token_command abused: what a careless operator or a broken helper makes it print or do.

Every case runs a real process; none may hang mailbot, and no error may quote what was printed.
"""

from __future__ import annotations

import io
import logging
import sys
import time
from pathlib import Path

import pytest

from mailbot import logs
from mailbot.errors import TokenError
from mailbot.oauth import fetch_token, xoauth2
from tests.xoauth2smtp import GOOD

PY = sys.executable


def py(code: str) -> list[str]:
    return [PY, "-c", code]


def refused(command: list[str], match: str, timeout: float = 10) -> str:
    with pytest.raises(TokenError, match=match) as caught:
        fetch_token(command, timeout)
    return str(caught.value)


def test_a_failing_helper_is_named_with_its_own_reason() -> None:
    message = refused(
        py("import sys; print('AADSTS7000215: Invalid client secret provided.', file=sys.stderr); sys.exit(2)"),
        "exited with status 2",
    )
    assert "AADSTS7000215" in message  # the reason Microsoft gave, for the operator
    refused(py("import sys; sys.exit(1)"), r"exited with status 1 \(nothing on stderr\)")


def test_a_helper_that_fails_after_printing_a_token_gives_none_and_the_token_is_not_quoted() -> None:
    message = refused(py(f"import sys; print('{GOOD}'); print('expired', file=sys.stderr); sys.exit(1)"), "status 1")
    assert GOOD not in message


def test_a_helper_that_hangs_is_stopped_with_its_children(tmp_path: Path) -> None:
    pidfile = tmp_path / "child"
    script = f"sleep 60 & echo $! > {pidfile}; wait"
    started = time.monotonic()
    refused(["sh", "-c", script], r"no token within 1 s \(stopped\)", timeout=1)
    assert time.monotonic() - started < 5
    child = int(pidfile.read_text())
    status = Path(f"/proc/{child}/status")
    deadline = time.monotonic() + 5  # SIGKILL is delivered, then the process dies: not at the same instant
    while status.exists() and "\nState:\tZ" not in status.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not status.exists() or "\nState:\tZ" in status.read_text()  # killed (at most not yet reaped)


def test_a_helper_that_closes_its_output_but_goes_on_is_stopped() -> None:
    started = time.monotonic()
    refused(py("import os, time; os.close(1); os.close(2); time.sleep(60)"), "did not exit within 1 s", timeout=1)
    assert time.monotonic() - started < 5


def test_a_helper_that_waits_for_input_gets_none_and_does_not_hang() -> None:
    started = time.monotonic()
    refused(py("import sys; print(sys.stdin.readline().strip())"), "printed no token", timeout=5)
    assert time.monotonic() - started < 4  # stdin is closed: an interactive login cannot wait for a person


def test_a_helper_that_prints_nothing_or_blank_lines_gives_no_token() -> None:
    refused(py("pass"), "printed no token")
    refused(py("print(); print('   ')"), "printed no token")


def test_a_trailing_newline_or_crlf_is_not_part_of_the_token() -> None:
    assert fetch_token(py(f"print('{GOOD}')"), 10) == GOOD
    assert fetch_token(py(f"import sys; sys.stdout.write('  {GOOD}\\r\\n')"), 10) == GOOD


def test_a_token_broken_over_lines_or_with_spaces_is_refused_without_quoting_it() -> None:
    half = len(GOOD) // 2
    message = refused(py(f"print('{GOOD[:half]}'); print('{GOOD[half:]}')"), "printed 2 lines")
    assert GOOD[:half] not in message and GOOD[half:] not in message
    message = refused(py(f"print('Bearer {GOOD}')"), "not an access token")  # a helper printing a header
    assert GOOD not in message
    refused(py(f"print('{GOOD}' + chr(0))"), "not an access token")
    refused(py('print(\'{"access_token": "abc"}\')'), "not an access token")  # JSON instead of the token
    refused(py("print('abc')"), "too short")


def test_a_helper_that_floods_its_output_is_stopped() -> None:
    started = time.monotonic()
    refused(py("import sys\nwhile True: sys.stdout.write('A' * 65536)"), "more than 64 KB", timeout=10)
    assert time.monotonic() - started < 5


def test_a_command_that_does_not_exist_or_cannot_run(tmp_path: Path) -> None:
    refused([str(tmp_path / "m365-token")], "cannot be run")
    refused([f"{PY} -c print(1)"], "separate strings in the list")  # a whole command line as one string
    script = tmp_path / "not-executable"
    script.write_text("#!/bin/sh\necho x\n", encoding="ascii")
    refused([str(script)], "cannot be run")
    with pytest.raises(TokenError):
        fetch_token([], 10)


def test_the_token_is_masked_in_every_log_line_once_fetched() -> None:
    stream = io.StringIO()
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    try:
        logs.setup("DEBUG", "json", stream)
        token = fetch_token(py(f"print('{GOOD}')"), 10)
        logging.getLogger("mailbot.test").warning("AUTH XOAUTH2 %s / Bearer %s", xoauth2("u@x.vn", token), token)
        assert logs.scrub(f"said {token}") == "said ***"
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    assert GOOD not in stream.getvalue() and "Bearer ***" in stream.getvalue()


def test_the_sasl_string_is_the_documented_framing() -> None:
    import base64

    assert base64.b64decode(xoauth2("pbcvt@dongthap.gov.vn", "tok")) == (
        b"user=pbcvt@dongthap.gov.vn\x01auth=Bearer tok\x01\x01"
    )
