"""TLS before any credential: IMAP and SMTP verify the server's certificate (a private CA through
`ca_file`), `mailbot check` says what is wrong in Vietnamese, and a password never goes in clear
to a host that is not loopback unless the operator says so."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

import pytest

from mailbot import config as configmod
from mailbot.errors import ConfigError, SendError, SourceError
from mailbot.intake.sources.imap import ImapSource
from mailbot.replies.outbox import SmtpTransport
from tests import dovecot as dc
from tests.conftest import build, mailbot, write_config
from tests.fakeimap import RecordingImapServer
from tests.pki import TestCA
from tests.tools import needs, require

ENV = {**os.environ, "MAILBOT_TEST_IMAP_PASSWORD": dc.PASSWORD}


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> TestCA:
    return TestCA(tmp_path_factory.mktemp("pki"))


def mailbox_config(tmp_path: Path, port: int, security: str, extra: str = "") -> Path:
    section = (
        f'[mailbox]\nbackend = "imap"\nhost = "127.0.0.1"\nport = {port}\nsecurity = "{security}"\n'
        f'username = "{dc.USER}"\npassword_env = "MAILBOT_TEST_IMAP_PASSWORD"\ntimeout = 5\n{extra}\n'
    )
    return write_config(tmp_path, 25, {r"(?ms)^\[mailbox\]\n.*?(?=^\[smtp\])": section})


def check_lines(config: Path) -> tuple[int, str]:
    out = mailbot("check", "--config", str(config), env=ENV)
    return out.returncode, out.stdout


# -- IMAP: a server whose certificate does not verify receives no credential ------------------


@pytest.mark.parametrize("security", ["tls", "starttls"])
@pytest.mark.parametrize("case", ["self-signed", "wrong-name", "expired"])
def test_an_imap_server_that_fails_verification_never_sees_the_password(tmp_path, pki, security, case) -> None:
    issued = {
        "self-signed": lambda: pki.issue("self", self_signed=True),
        "wrong-name": lambda: pki.issue("other", hosts=("mail.example.org",)),
        "expired": lambda: pki.issue("old", expired=True),
    }[case]()
    ca = "" if case == "self-signed" else f'ca_file = "{pki.pem}"'  # the CA is trusted: only the name or date is wrong
    with RecordingImapServer(issued.cert, issued.key, starttls=security == "starttls") as server:
        config = configmod.load(mailbox_config(tmp_path, server.port, security, ca))
        source = ImapSource(config.mailbox, tmp_path, lambda name: dc.PASSWORD)
        with pytest.raises(SourceError) as raised:
            source.connect()
        status, text = check_lines(mailbox_config(tmp_path, server.port, security, ca))
    assert not server.credentials_seen, server.lines
    # the client broke off the verified handshake (the completed ones are the unverified look at the
    # certificate that the error message and check make, which send nothing)
    assert server.handshakes and server.handshakes[0] != "ok"
    assert dc.PASSWORD not in str(raised.value)
    line = next(row for row in text.splitlines() if "hộp thư IMAP" in row)
    assert status == 1 and line.startswith("LỖI")
    expected = {
        "self-signed": "chưa được tin cậy",
        "wrong-name": "không cấp cho tên máy chủ này",
        "expired": "đã hết hạn",
    }[case]
    assert expected in line and "CN=" in line, line  # what is wrong, and whose certificate it is
    if case == "self-signed":
        assert "ca_file" in line  # what to do
    assert dc.PASSWORD not in text


@pytest.fixture(scope="module")
def tls_dovecot():
    require("dovecot")
    root = Path(tempfile.mkdtemp(prefix="mailbot-dovecot-tls-"))  # Dovecot's users must reach it
    issued = TestCA(root / "pki").issue("dovecot")
    server = dc.Dovecot(root, tls=(issued.cert, issued.key))
    server.ca = issued.cert.parent / "ca.pem"  # type: ignore[attr-defined]
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.parametrize("security", ["tls", "starttls"])
def test_a_private_ca_in_ca_file_reads_a_real_mailbox(tmp_path, tls_dovecot, security) -> None:
    port = tls_dovecot.tls_port if security == "tls" else tls_dovecot.port
    tls_dovecot.reset()
    tls_dovecot.append(build(subject="Phương án bảo đảm thông tin liên lạc", files=(("PA.docx", b"pa"),)))
    without = mailbox_config(tmp_path, port, security)
    before = len(tls_dovecot.full_log())
    status, text = check_lines(without)
    assert status == 1 and "chưa được tin cậy" in text and "ca_file" in text
    assert "Login:" not in tls_dovecot.full_log()[before:]  # no login reached the server

    config = mailbox_config(tmp_path, port, security, 'ca_file = "ca.pem"')  # relative to the config file
    (tmp_path / "ca.pem").write_bytes(tls_dovecot.ca.read_bytes())
    before = len(tls_dovecot.full_log())
    status, text = check_lines(config)
    assert any(
        line.startswith("ok") and "hộp thư IMAP" in line and "đăng nhập được" in line for line in text.splitlines()
    ), text
    out = mailbot("run", "--config", str(config), "--once", "--dry-run", env=ENV)
    assert out.returncode == 0, out.stderr
    assert "Đã ghi nhận 1 thư mới" in out.stdout  # read over TLS (a dry run leaves it in INBOX)
    logins = [line for line in tls_dovecot.full_log()[before:].splitlines() if "imap-login: Info: Login:" in line]
    # logged in (Dovecot writes "secured" for loopback, TLS or not: that the same server refused
    # the login without ca_file above is what shows the certificate was checked first)
    assert logins, tls_dovecot.full_log()[before:]


# -- SMTP ------------------------------------------------------------------------------------


@needs("openssl")
def test_smtp_with_an_untrusted_certificate_sends_no_login(tmp_path, pki) -> None:
    from tests.tlssmtp import PASSWORD, tls_smtp

    os.environ.pop("SSL_CERT_FILE", None)
    (tmp_path / "ca").mkdir()
    with tls_smtp(tmp_path / "ca") as (recorder, port, ca, auth):
        cfg = configmod.SmtpConfig(
            host="127.0.0.1",
            port=port,
            security="starttls",
            username="pbcvt@dongthap.gov.vn",
            password_env="MAILBOT_SMTP_PASSWORD",
            timeout=5,
        )
        os.environ["MAILBOT_SMTP_PASSWORD"] = PASSWORD
        try:
            with pytest.raises(SendError) as raised:
                SmtpTransport(cfg).connect()
            assert auth.attempts == []
            assert "certificate verify failed" in str(raised.value)
            trusted = SmtpTransport(configmod.SmtpConfig(**{**cfg.__dict__, "ca_file": ca}))
            trusted.connect().quit()
            assert auth.logins  # the same server, trusted through ca_file: login done
        finally:
            os.environ.pop("MAILBOT_SMTP_PASSWORD", None)
    assert recorder.messages == []


# -- no password in clear to a host that is not loopback --------------------------------------


def _config(tmp_path: Path, extra: dict[str, str]) -> Path:
    return write_config(tmp_path, 25, extra)


@pytest.mark.parametrize(
    "section,fragment",
    [
        (
            "mailbox",
            '[mailbox]\nbackend = "imap"\nhost = "mail.dongthap.gov.vn"\nsecurity = "none"\n'
            'username = "u"\npassword_env = "P"\n',
        ),
        (
            "mailbox",
            '[mailbox]\nbackend = "ews"\news_url = "http://mail.dongthap.gov.vn/EWS/Exchange.asmx"\n'
            'username = "u"\npassword_env = "P"\n',
        ),
    ],
)
def test_a_password_in_clear_to_another_host_is_refused(tmp_path, section, fragment) -> None:
    path = _config(tmp_path, {r"(?ms)^\[mailbox\]\n.*?(?=^\[smtp\])": fragment + "\n"})
    with pytest.raises(ConfigError) as raised:
        configmod.load(path)
    assert "allow_plaintext_login" in str(raised.value) and str(raised.value).count("\n") == 0
    opted = _config(tmp_path, {r"(?ms)^\[mailbox\]\n.*?(?=^\[smtp\])": fragment + "allow_plaintext_login = true\n\n"})
    assert configmod.load(opted).mailbox.allow_plaintext_login


def test_smtp_login_in_clear_to_another_host_is_refused(tmp_path) -> None:
    text = _config(tmp_path, {}).read_text(encoding="utf-8")
    text = re.sub(
        r"(?ms)^\[smtp\]\n.*?(?=^\[reminders\])",
        '[smtp]\nhost = "mail.dongthap.gov.vn"\nport = 25\nsecurity = "none"\nusername = "u"\npassword_env = "P"\n\n',
        text,
    )
    path = tmp_path / "clear.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match="allow_plaintext_login"):
        configmod.load(path)
    path.write_text(
        text.replace('password_env = "P"\n', 'password_env = "P"\nallow_plaintext_login = true\n'), encoding="utf-8"
    )
    assert configmod.load(path).smtp.allow_plaintext_login


def test_a_ca_file_that_is_missing_or_not_a_certificate_is_a_config_error(tmp_path) -> None:
    (tmp_path / "bad.pem").write_text("not a certificate", encoding="ascii")
    for name in ("missing.pem", "bad.pem"):
        path = mailbox_config(tmp_path, 993, "tls", f'ca_file = "{name}"')
        with pytest.raises(ConfigError, match="ca_file"):
            configmod.load(path)


def test_exchange_over_https_is_verified_and_ca_file_trusts_a_private_ca(tmp_path, pki, smtp_server) -> None:
    from tests.ews_server import EwsServer
    from tests.test_ews_replay import ENV as EWS_ENV
    from tests.test_ews_replay import ews_config, plan

    recorder, port = smtp_server
    issued = pki.issue("exchange")
    server = EwsServer(tls=(issued.cert, issued.key))
    server.start()
    try:
        server.mailbox.deliver(plan(1))
        untrusted = mailbot("run", "--config", str(ews_config(tmp_path, port, server.url)), "--once", env=EWS_ENV)
        assert untrusted.returncode != 0 and "CERTIFICATE_VERIFY_FAILED" in untrusted.stderr
        assert server.requests == []  # no request, so no credential, ever reached the server
        trusted = ews_config(tmp_path, port, server.url, f'ca_file = "{pki.pem}"')
        done = mailbot("run", "--config", str(trusted), "--once", env=EWS_ENV)
        assert done.returncode == 0, done.stderr
        assert len(recorder.messages) == 1 and "SyncFolderItems" in server.requests
    finally:
        server.stop()
