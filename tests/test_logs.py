"""Logs: one line per event, JSON on request, and never a password, token or message body."""

from __future__ import annotations

import io
import json
import logging
import os
import signal
import sys

from mailbot import logs
from tests import dovecot as dc
from tests.conftest import build, daemon, deliver, imap_config, mailbot, wait_for, write_config

BODY_MARK = "NỘI-DUNG-RIÊNG-TƯ-4711"


def test_secret_values_are_masked_in_messages_and_tracebacks() -> None:
    stream = io.StringIO()
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    try:
        logs.setup("DEBUG", "text", stream)
        logs.protect(["mật-khẩu-rất-dài", None, "abc"])  # too short to mask safely: ignored
        log = logging.getLogger("mailbot.test")
        log.error("login as %s with %s", "abc", "mật-khẩu-rất-dài")
        try:
            raise RuntimeError("server said: bad password mật-khẩu-rất-dài")
        except RuntimeError:
            log.exception("failed")
        assert logging.getLogger("exchangelib").getEffectiveLevel() == logging.WARNING  # it dumps SOAP bodies
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    text = stream.getvalue()
    assert "mật-khẩu-rất-dài" not in text and text.count("***") == 3 and "login as abc with ***" in text


def test_json_format_is_one_object_per_line_with_one_line_per_message(tmp_path, smtp_server) -> None:
    _, port = smtp_server
    config = write_config(tmp_path, port)
    for n in range(3):
        deliver(
            tmp_path,
            build(sender=f"kt{n}@vnpt.vn", subject=f"Phương án {n}", files=((f"PA-{n}.docx", b"x"),)),
            f"{n}.eml",
        )
    done = mailbot("run", "--config", str(config), "--once", "--log-level", "INFO", "--log-format", "json")
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stderr.splitlines()]
    assert all(set(r) >= {"time", "level", "logger", "message"} for r in records)
    recorded = [r for r in records if r["message"].startswith("recorded ")]
    assert len(recorded) == 3 and all(r["level"] == "INFO" for r in recorded)
    assert all("disposition=submission receipt=" in r["message"] for r in recorded)


def test_debug_logs_of_the_daemon_hold_no_password_and_no_body(tmp_path, smtp_server, dovecot) -> None:
    recorder, port = smtp_server
    config = imap_config(tmp_path, port, dovecot.port)
    env = {**os.environ, "MAILBOT_TEST_IMAP_PASSWORD": dc.PASSWORD}
    child = daemon(config, level="DEBUG", env=env)
    try:
        dovecot.append(
            build(
                subject="Phương án bảo đảm thông tin liên lạc",
                body=f"Kính gửi Sở. {BODY_MARK}",
                files=(("PA.docx", BODY_MARK.encode()),),
            )
        )
        wait_for(lambda: len(recorder.messages) == 1, 30, "the acknowledgement")
        dovecot.kick()  # a reconnection, logged at DEBUG and ERROR
        dovecot.append(build(subject="Danh sách trực", body=f"{BODY_MARK} 2", files=(("DS.docx", b"ds"),)))
        wait_for(lambda: len(recorder.messages) == 2, 30, "the second acknowledgement")
    finally:
        child.send_signal(signal.SIGTERM)
        _, err = child.communicate(timeout=30)
    assert child.returncode == 0, err
    assert " DEBUG " in err and " recorded " in err  # the level really was DEBUG
    assert dc.PASSWORD not in err and BODY_MARK not in err


def test_an_oauth_token_is_masked_once_fetched(tmp_path) -> None:
    from mailbot import config as configmod
    from mailbot.oauth import fetch_token

    command = f'oauth_token_command = ["{sys.executable}", "-c", "print(\'tok-9f8e7d6c5b4a\')"]'
    config = configmod.load(
        imap_config(tmp_path, 25, 143, {r"(?m)^timeout = 10$": f'timeout = 10\nauth = "xoauth2"\n{command}'})
    )
    stream = io.StringIO()
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    try:
        logs.setup("DEBUG", "text", stream)
        assert fetch_token(config.mailbox.oauth_token_command, 10) == "tok-9f8e7d6c5b4a"
        logging.getLogger("imaplib.debug").debug("> AUTHENTICATE XOAUTH2 user=x auth=Bearer tok-9f8e7d6c5b4a")
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    assert "tok-9f8e7d6c5b4a" not in stream.getvalue() and "Bearer ***" in stream.getvalue()


def test_worker_processes_log_like_the_daemon_and_mail_noise_stays_out(tmp_path, smtp_server) -> None:
    """Over all golden fixtures, in worker processes: every stderr line is one JSON object, and the
    libraries' remarks on odd mail (mail-parser's "Email content 'mixed' not handled") are left out."""
    from tests.conftest import FIXTURES

    _, port = smtp_server
    config = write_config(tmp_path, port, {r"(?m)^workers = .*$": "workers = 2"})
    for eml in sorted(FIXTURES.glob("*.eml")):
        deliver(tmp_path, eml.read_bytes(), eml.name)
    done = mailbot("run", "--config", str(config), "--once", "--log-level", "WARNING", "--log-format", "json")
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert all(json.loads(line)["level"] in ("WARNING", "ERROR") for line in lines), lines
    assert "not handled" not in done.stderr
