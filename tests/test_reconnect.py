"""Reconnection: exponential backoff with jitter, a throttling server's own suggestion, OAuth2 tokens."""

from __future__ import annotations

import sys

import pytest

from mailbot import config as configmod
from mailbot.errors import SourceError
from mailbot.intake.sources import suggested_backoff
from mailbot.intake.sources.imap import ImapSource
from mailbot.oauth import fetch_token
from mailbot.service.daemon import RECONNECT_MAX, reconnect_delay
from tests.conftest import imap_config


def test_backoff_doubles_with_jitter_up_to_a_ceiling() -> None:
    for failures, ceiling in ((1, 1.0), (2, 2.0), (3, 4.0), (8, 120.0), (50, 120.0)):
        delays = [reconnect_delay(failures) for _ in range(200)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(set(delays)) > 150  # jittered: many clients do not come back in step
    assert max(reconnect_delay(100) for _ in range(100)) <= RECONNECT_MAX


def test_a_throttling_server_is_obeyed() -> None:
    exc = SourceError("IMAP x: connection lost (b'[THROTTLED] Suggested Backoff Time: 37000 milliseconds')")
    assert suggested_backoff(exc) == 37.0
    assert reconnect_delay(1, suggested_backoff(exc)) == 37.0
    assert suggested_backoff(SourceError("connection refused")) is None


def test_xoauth2_token_comes_fresh_from_the_command(tmp_path) -> None:
    counter = tmp_path / "n"
    script = tmp_path / "token.py"
    script.write_text(
        "import pathlib, sys\np = pathlib.Path(sys.argv[1])\nn = int(p.read_text()) + 1 "
        "if p.exists() else 1\np.write_text(str(n))\nprint(f'token-{n}-abcdefghijklmnop')\n",
        encoding="utf-8",
    )
    command = f'oauth_token_command = ["{sys.executable}", "{script}", "{counter}"]'
    config = configmod.load(
        imap_config(tmp_path, 25, 143, {r"(?m)^timeout = 10$": f'timeout = 10\nauth = "xoauth2"\n{command}'})
    )
    command_ = config.mailbox.oauth_token_command
    assert fetch_token(command_, 10) == "token-1-abcdefghijklmnop" and fetch_token(command_, 10).startswith("token-2")


def test_a_failing_token_command_is_a_source_error(tmp_path) -> None:
    command = f'oauth_token_command = ["{sys.executable}", "-c", "import sys; sys.exit(3)"]'
    config = configmod.load(
        imap_config(tmp_path, 25, 143, {r"(?m)^timeout = 10$": f'timeout = 10\nauth = "xoauth2"\n{command}'})
    )
    with pytest.raises(SourceError, match="exited with status 3"):
        ImapSource(config.mailbox, tmp_path, lambda _: None).login()


def test_an_unreachable_server_is_a_source_error(tmp_path) -> None:
    from tests.dovecot import free_port

    config = configmod.load(imap_config(tmp_path, 25, free_port()))
    source = ImapSource(config.mailbox, tmp_path, lambda _: "x")
    with pytest.raises(SourceError, match="127.0.0.1"):
        list(source.pending())
