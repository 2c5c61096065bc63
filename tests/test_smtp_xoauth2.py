"""Sending with [smtp] auth = "xoauth2" to a real loopback SMTP server that implements AUTH XOAUTH2
(tests/xoauth2smtp.py) and refuses a wrong token as Exchange Online does. Not Microsoft's servers.

Abuse first: a wrong token, a helper that fails, a server without XOAUTH2, a server that repeats the
token; then the mail itself: kept, retried, sent once, and the token in no log line and no check line.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mailbot import config as configmod
from mailbot.errors import ConfigError, SendError
from mailbot.register.store import Store
from mailbot.replies.outbox import SmtpTransport, flush
from mailbot.staff import check as checkmod
from tests.conftest import FIXTURES, deliver, write_config
from tests.tools import needs
from tests.xoauth2smtp import GOOD, USER, WRONG, runs, token_command, xoauth2_smtp

MAIL = b"From: pbcvt@dongthap.gov.vn\r\nTo: a@vnpt.vn\r\nSubject: x\r\nMessage-ID: <m1@x>\r\n\r\nbody\r\n"


def smtp_cfg(port: int, command: list[str], **changes: object) -> configmod.SmtpConfig:
    base = configmod.SmtpConfig(
        host="127.0.0.1",
        port=port,
        security="none",
        username=USER,
        password_env="",
        timeout=10,
        auth="xoauth2",
        oauth_token_command=tuple(command),
    )
    return configmod.SmtpConfig(**{**base.__dict__, **changes})


def xoauth2_config(tmp_path: Path, port: int, command: list[str], extra: str = "") -> Path:
    """The example deployment sending through the XOAUTH2 server with `command` as token helper."""
    path = write_config(tmp_path, port)
    text = path.read_text(encoding="utf-8")
    quoted = ", ".join(f'"{part}"' for part in command)
    old = 'username = ""\npassword_env = "MAILBOT_SMTP_PASSWORD"\n'
    assert old in text
    new = f'username = "{USER}"\nauth = "xoauth2"\noauth_token_command = [{quoted}]\n{extra}'
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


def run_once(config: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "MAILBOT_SMTP_PASSWORD"}
    return subprocess.run(
        [sys.executable, "-m", "mailbot", "--log-level", "DEBUG", "run", "--config", str(config), "--once", *extra],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )


def outbox(config: Path) -> list[dict]:
    store = Store(configmod.load(config).state_dir)
    try:
        return sorted(store.outbox.all(), key=lambda m: m["created_at"])
    finally:
        store.close()


# -- configuration: a careless operator --------------------------------------------------------


def parse(tmp_path: Path, smtp: str, mailbox: str = "") -> configmod.Config:
    path = write_config(tmp_path, 25)
    text = path.read_text(encoding="utf-8")
    start = text.index("[smtp]")
    end = text.index("\n[", start + 1) if "\n[" in text[start + 1 :] else len(text)
    text = text[:start] + "[smtp]\n" + smtp + "\n" + text[end:]
    if mailbox:
        start = text.index("[mailbox]")
        end = text.index("\n[", start + 1)
        text = text[:start] + "[mailbox]\n" + mailbox + "\n" + text[end:]
    path.write_text(text, encoding="utf-8")
    return configmod.load(path)


@pytest.mark.parametrize(
    ("smtp", "key", "problem"),
    [
        ('auth = "oauth2"', "smtp.auth", "must be one of"),
        ('auth = "XOAUTH2"', "smtp.auth", "must be one of"),
        ('auth = "xoauth2"\noauth_token_command = ["/bin/true"]', "smtp.username", "is required"),
        ('username = "u@x.vn"\nauth = "xoauth2"', "smtp.oauth_token_command", "is required"),
        ('username = "u@x.vn"\nauth = "xoauth2"\noauth_token_command = []', "smtp.oauth_token_command", "required"),
        ('username = "u@x.vn"\nauth = "xoauth2"\noauth_token_command = "/bin/tok"', "smtp.oauth_token_command", ""),
        (
            'username = "u@x.vn"\nauth = "xoauth2"\noauth_token_command = ["/bin/tok"]\npassword_env = "P"',
            "smtp.password_env",
            "not used",
        ),
        ('username = "u@x.vn"\npassword_env = "P"\noauth_token_command = ["/bin/tok"]', "smtp.oauth_token_command", ""),
        ('username = "u@x.vn"\nauth = "xoauth2"\noauth_command = ["/bin/tok"]', "smtp.oauth_token_command", ""),
        (
            'username = "u@x.vn"\nauth = "xoauth2"\noauth_token_command = ["/bin/tok"]\ntoken_seconds = 5',
            "smtp.token_seconds",
            "unknown",
        ),
        (
            'host = "smtp.office365.com"\nsecurity = "none"\nusername = "u@x.vn"\nauth = "xoauth2"\n'
            'oauth_token_command = ["/bin/tok"]',
            "smtp.security",
            "in clear",
        ),
    ],
)
def test_a_careless_smtp_auth_configuration_is_refused(tmp_path, smtp: str, key: str, problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse(tmp_path, smtp)
    assert caught.value.key == key and problem in caught.value.problem, caught.value


def test_the_default_is_a_password_and_the_mailbox_command_serves_smtp_too(tmp_path) -> None:
    assert parse(tmp_path, 'username = "u@x.vn"\npassword_env = "P"').smtp.auth == "password"
    mailbox = (
        'backend = "imap"\nhost = "outlook.office365.com"\nusername = "u@x.vn"\nauth = "xoauth2"\n'
        'oauth_token_command = ["/usr/local/bin/m365-token"]'
    )
    config = parse(tmp_path, 'host = "smtp.office365.com"\nusername = "u@x.vn"\nauth = "xoauth2"', mailbox)
    assert config.smtp.oauth_token_command == ("/usr/local/bin/m365-token",)
    own = parse(
        tmp_path,
        'host = "smtp.office365.com"\nusername = "u@x.vn"\nauth = "xoauth2"\noauth_token_command = ["/bin/smtp-tok"]',
        mailbox,
    )
    assert own.smtp.oauth_token_command == ("/bin/smtp-tok",)


# -- the protocol against the loopback server --------------------------------------------------


def test_a_wrong_token_is_refused_like_exchange_and_says_so(tmp_path) -> None:
    with xoauth2_smtp() as (server, port, _):
        transport = SmtpTransport(smtp_cfg(port, token_command(tmp_path, WRONG)))
        with pytest.raises(SendError) as caught:
            transport.send(USER, ["a@vnpt.vn"], MAIL)
    exc = caught.value
    assert exc.code == 535 and not exc.permanent and exc.connection
    assert "XOAUTH2" in str(exc) and "535 5.7.3 Authentication unsuccessful" in str(exc)
    assert WRONG not in str(exc)
    assert [(a.user, a.token, a.framed, a.accepted) for a in server.attempts] == [(USER, WRONG, True, False)]
    assert server.messages == []


def test_a_334_error_challenge_gets_the_empty_line_and_its_status_is_reported(tmp_path) -> None:
    with xoauth2_smtp(challenge=True) as (server, port, _):
        with pytest.raises(SendError) as caught:
            SmtpTransport(smtp_cfg(port, token_command(tmp_path, WRONG))).connect()
        [attempt] = server.attempts
    assert attempt.empty_line_after_challenge is True
    assert caught.value.code == 535 and '"status": "401"' in str(caught.value), caught.value


def test_a_server_that_offers_no_xoauth2_is_named(tmp_path, smtp_server) -> None:
    _, port = smtp_server  # aiosmtpd without authentication: no AUTH at all
    with pytest.raises(SendError, match="offers no AUTH XOAUTH2") as caught:
        SmtpTransport(smtp_cfg(port, token_command(tmp_path))).connect()
    assert caught.value.connection and not caught.value.permanent


def test_a_failing_helper_opens_no_connection(tmp_path) -> None:
    command = [sys.executable, "-c", "import sys; print('AADSTS700016: app not found', file=sys.stderr); sys.exit(1)"]
    with xoauth2_smtp() as (server, port, _):
        with pytest.raises(SendError, match="no token for the SMTP login.*AADSTS700016") as caught:
            SmtpTransport(smtp_cfg(port, command)).connect()
    assert caught.value.code is None and caught.value.connection and server.attempts == []


def test_the_right_token_sends_and_every_connection_gets_a_fresh_token(tmp_path) -> None:
    with xoauth2_smtp(tokens={GOOD, GOOD + "x2"}) as (server, port, _):
        transport = SmtpTransport(smtp_cfg(port, token_command(tmp_path)))
        assert transport.send(USER, ["a@vnpt.vn"], MAIL) == "250 accepted"
        transport.send(USER, ["b@vnpt.vn"], MAIL)  # same connection: no new token
        transport.close()
        (tmp_path / "token").write_text(GOOD + "x2\n", encoding="ascii")  # the helper renewed it
        transport.send(USER, ["c@vnpt.vn"], MAIL)
        transport.close()
    assert runs(tmp_path) == 2
    assert [a.token for a in server.attempts] == [GOOD, GOOD + "x2"] and all(a.framed for a in server.attempts)
    assert len(server.messages) == 3


def test_a_token_as_long_as_microsofts_goes_on_its_own_line(tmp_path) -> None:
    """A Microsoft access token is 1-4 KB: on the AUTH line it would exceed the 512 octets of an SMTP
    command line (aiosmtpd answers 500 Command line too long), so it follows the server's 334."""
    long = GOOD + "." + "A" * 3000
    with xoauth2_smtp(tokens={long}) as (server, port, _):
        transport = SmtpTransport(smtp_cfg(port, token_command(tmp_path, long)))
        transport.send(USER, ["a@vnpt.vn"], MAIL)
        transport.close()
    [attempt] = server.attempts
    assert attempt.accepted and not attempt.inline and len(server.messages) == 1


@needs("openssl")
def test_xoauth2_after_starttls_with_a_private_ca(tmp_path) -> None:
    (tmp_path / "ca").mkdir()
    with xoauth2_smtp(tls_folder=tmp_path / "ca") as (server, port, ca):
        plain = SmtpTransport(smtp_cfg(port, token_command(tmp_path), security="none"))
        with pytest.raises(SendError):  # the server demands STARTTLS before AUTH: no token in clear
            plain.connect()
        assert server.attempts == []
        transport = SmtpTransport(smtp_cfg(port, token_command(tmp_path), security="starttls", ca_file=ca))
        transport.send(USER, ["a@vnpt.vn"], MAIL)
        transport.close()
    assert [a.accepted for a in server.attempts] == [True] and len(server.messages) == 1


# -- the outbox: the mail kept, retried, sent once; the token in no log line --------------------


def test_a_wrong_token_keeps_every_mail_and_they_go_once_the_token_is_right(tmp_path) -> None:
    with xoauth2_smtp() as (server, port, _):
        helper = tmp_path / "helper"
        helper.mkdir()
        config = xoauth2_config(tmp_path, port, token_command(helper, WRONG))
        for i, name in enumerate(["01-vnpt-plan-docx", "03-mobifone-duty-xlsx", "04-vnpost-zip-both"]):
            deliver(tmp_path, (FIXTURES / f"{name}.eml").read_bytes(), f"{i}.m")
        first = run_once(config)
        assert first.returncode == 0, first.stderr
        mails = outbox(config)
        assert len(mails) == 3 and all(m["status"] == "pending" for m in mails)
        assert server.messages == [] and server.attempts and "535 5.7.3" in mails[0]["last_error"]
        refusal = "deferred: SMTP login refused (XOAUTH2: the token from oauth_token_command was refused): 535 5.7.3"
        assert first.stderr.count(refusal) == len(server.attempts)  # each refused login said once, clearly
        assert WRONG not in first.stderr + first.stdout

        # one pass over three pending mails: one login refused, not one per mail
        loaded = configmod.load(config)
        store = Store(loaded.state_dir)
        try:
            before = len(server.attempts)
            result = flush(store, SmtpTransport(loaded.smtp), loaded.reply_from, dt.datetime.now(dt.UTC), False, True)
            assert len(server.attempts) == before + 1 and result.sent == 0 and result.deferred == 3
            assert all(m["status"] == "pending" for m in store.outbox.all())
        finally:
            store.close()

        (helper / "token").write_text(GOOD + "\n", encoding="ascii")
        second = run_once(config)
        assert second.returncode == 0, second.stderr
        third = run_once(config)
    assert [m["status"] for m in outbox(config)] == ["sent"] * 3
    assert len(server.messages) == 3 and len({m["Message-ID"] for m in server.parsed()}) == 3
    assert GOOD not in second.stderr + second.stdout + third.stderr + third.stdout
    assert runs(helper) == len(server.attempts)  # a token per connection, no more


def test_a_hanging_helper_defers_the_mail_within_the_time_limit(tmp_path) -> None:
    with xoauth2_smtp() as (server, port, _):
        config = xoauth2_config(tmp_path, port, ["sh", "-c", "sleep 60"])
        text = config.read_text(encoding="utf-8").replace('auth = "xoauth2"', 'auth = "xoauth2"\ntimeout = 2', 1)
        config.write_text(text, encoding="utf-8")
        deliver(tmp_path, (FIXTURES / "01-vnpt-plan-docx.eml").read_bytes(), "1.m")
        done = run_once(config)
    assert done.returncode == 0, done.stderr
    [mail] = outbox(config)
    assert mail["status"] == "pending" and "no token within 2 s" in mail["last_error"]
    assert "deferred: no token for the SMTP login" in done.stderr and server.attempts == []


# -- mailbot check -----------------------------------------------------------------------------


def test_check_says_how_each_side_logs_in_and_warns_for_a_password_to_exchange_online(tmp_path) -> None:
    mailbox = (
        'backend = "imap"\nhost = "outlook.office365.com"\nusername = "u@x.vn"\nauth = "xoauth2"\n'
        'oauth_token_command = ["/usr/local/bin/m365-token"]'
    )
    for host in ("smtp.office365.com", "outlook.office365.com", "smtp-mail.outlook.com", "SMTP.Office365.com."):
        config = parse(tmp_path, f'host = "{host}"\nusername = "u@x.vn"\npassword_env = "P"', mailbox)
        box, smtp = checkmod.check_auth(config)
        assert str(box) == (
            "ok   xác thực hộp thư: XOAUTH2, mã truy cập lấy mới ở mỗi lần kết nối từ oauth_token_command "
            "(/usr/local/bin/m365-token)"
        )
        assert smtp.warning and smtp.ok and str(smtp).startswith("CHÚ Ý xác thực gửi thư SMTP: mật khẩu (P)")
        assert "cuối tháng 12/2026" in str(smtp) and '→ đặt [smtp] auth = "xoauth2"' in str(smtp)
    config = parse(tmp_path, 'host = "smtp.office365.com"\nusername = "u@x.vn"\nauth = "xoauth2"', mailbox)
    [_, smtp] = checkmod.check_auth(config)
    assert not smtp.warning and "XOAUTH2 cho u@x.vn" in str(smtp) and "oauth_token_command của [mailbox]" in str(smtp)
    imap_password = mailbox.replace('auth = "xoauth2"\noauth_token_command = ["/usr/local/bin/m365-token"]', "")
    own = 'host = "smtp.office365.com"\nusername = "u@x.vn"\nauth = "xoauth2"\noauth_token_command = ["/bin/t"]'
    config = parse(tmp_path, own, imap_password + 'password_env = "I"')
    [box, _] = checkmod.check_auth(config)
    assert box.warning and str(box).startswith("CHÚ Ý xác thực hộp thư: mật khẩu (I) tới Exchange Online")
    config = parse(tmp_path, 'host = "mail.dongthap.gov.vn"\nusername = "u@x.vn"\npassword_env = "P"')
    [box, smtp] = checkmod.check_auth(config)
    assert str(smtp) == "ok   xác thực gửi thư SMTP: mật khẩu (P)" and "Maildir" in str(box)


def test_check_logs_in_with_the_token_and_never_prints_it(tmp_path) -> None:
    with xoauth2_smtp(echo=True) as (server, port, _):  # a server that repeats a refused token
        helper = tmp_path / "helper"
        helper.mkdir()
        config = xoauth2_config(tmp_path, port, token_command(helper, WRONG))
        refused = subprocess.run(
            [sys.executable, "-m", "mailbot", "check", "--config", str(config)], capture_output=True, text=True
        )
        (helper / "token").write_text(GOOD + "\n", encoding="ascii")
        accepted = subprocess.run(
            [sys.executable, "-m", "mailbot", "check", "--config", str(config)], capture_output=True, text=True
        )
    assert [a.token for a in server.attempts] == [WRONG, GOOD]
    assert (
        WRONG not in refused.stdout + refused.stderr and "535 5.7.3 Authentication unsuccessful ***" in refused.stdout
    )
    smtp_line = next(x for x in refused.stdout.splitlines() if "máy chủ gửi thư SMTP" in x)
    assert smtp_line.startswith("LỖI") and "SMTP.Send" in smtp_line
    assert GOOD not in accepted.stdout + accepted.stderr
    assert f"ok   máy chủ gửi thư SMTP 127.0.0.1:{port}: EHLO + đăng nhập (XOAUTH2) được" in accepted.stdout
    assert "xác thực gửi thư SMTP: XOAUTH2 cho pbcvt@dongthap.gov.vn" in accepted.stdout
