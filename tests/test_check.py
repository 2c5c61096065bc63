"""`mailbot check` against a real Dovecot and aiosmtpd: a good setup, and each way it can be broken."""

from __future__ import annotations

import os
from pathlib import Path

from mailbot import config as configmod
from tests import dovecot as dc
from tests.conftest import build, deliver, free_port, imap_config, mailbot, write_config
from tests.tools import needs, tmpfs

ENV = {**os.environ, "MAILBOT_TEST_IMAP_PASSWORD": dc.PASSWORD}


def check(config: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, list[str]]:
    done = mailbot("check", "--config", str(config), *args, env=env or ENV)
    assert not done.stderr, done.stderr
    return done.returncode, done.stdout.splitlines()


def line(lines: list[str], what: str) -> str:
    [found] = [entry for entry in lines if what in entry]
    return found


def test_missing_folders_are_named_then_created_with_fix(tmp_path, smtp_server, dovecot) -> None:
    _, port = smtp_server
    config = imap_config(tmp_path, port, dovecot.port)
    text = config.read_text(encoding="utf-8").replace("timeout = 10\n", 'timeout = 10\nsent_folder = "Đã gửi"\n', 1)
    config.write_text(text, encoding="utf-8")

    status, lines = check(config)
    assert status == 1
    assert line(lines, "hộp thư IMAP").startswith("ok ") and "IDLE, MOVE" in line(lines, "hộp thư IMAP")
    assert line(lines, "“INBOX”").startswith("ok ")
    for folder in ("Đã xử lý", "Cần xem xét", "Đã gửi"):
        assert line(lines, f"“{folder}”") == (
            f"LỖI  thư mục “{folder}”: không có trên máy chủ → chạy lại với --fix để tạo, hoặc sửa tên trong [mailbox]"
        )
    assert line(lines, "máy chủ gửi thư SMTP").startswith(f"ok   máy chủ gửi thư SMTP 127.0.0.1:{port}: EHLO được")
    assert lines[-1] == "3 mục có lỗi."

    status, lines = check(config, "--fix")
    assert status == 0 and line(lines, "“Đã gửi”").endswith("chưa có, đã tạo (--fix)")
    with dovecot.client() as box:
        assert {"Đã xử lý", "Cần xem xét", "Đã gửi"} <= {f.name for f in box.folder.list()}

    status, lines = check(config)
    assert status == 0 and lines[-1] == "Mọi mục đều ổn."
    # every line ok but one warning: no roots configured for document signatures (not a failure)
    assert [entry for entry in lines[:-1] if not entry.startswith("ok ")] == [line(lines, "kiểm tra chữ ký số")]
    assert line(lines, "kiểm tra chữ ký số").startswith("CHÚ Ý kiểm tra chữ ký số: chưa cấu hình chứng thư gốc")
    assert line(lines, "sổ ghi nhận").endswith("chưa có; sẽ được tạo khi chạy lần đầu")
    assert not (tmp_path / "state" / "db").exists()  # check writes nothing


def test_a_wrong_password_is_named_and_not_shown(tmp_path, smtp_server, dovecot) -> None:
    _, port = smtp_server
    config = imap_config(tmp_path, port, dovecot.port)
    status, lines = check(config, env={**ENV, "MAILBOT_TEST_IMAP_PASSWORD": "sai-mật-khẩu-123"})
    assert status == 1
    imap = line(lines, "hộp thư IMAP")
    assert imap.startswith(f"LỖI  hộp thư IMAP {dc.USER}@127.0.0.1:{dovecot.port}: đăng nhập bị từ chối (")
    assert imap.endswith("→ kiểm tra username và mật khẩu (MAILBOT_TEST_IMAP_PASSWORD)")
    assert "sai-mật-khẩu-123" not in "\n".join(lines)
    assert not any("thư mục" in entry for entry in lines)  # no folder lines without a login


def test_smtp_down_and_an_unreachable_mailbox(tmp_path) -> None:
    dead_smtp, dead_imap = free_port(), free_port()
    config = imap_config(tmp_path, dead_smtp, dead_imap)
    status, lines = check(config)
    assert status == 1 and lines[-1] == "2 mục có lỗi."
    assert line(lines, "hộp thư IMAP").endswith("→ kiểm tra host, port, security (tls/starttls) và tường lửa")
    assert "không kết nối được (Connection refused)" in line(lines, "hộp thư IMAP")
    smtp = line(lines, "máy chủ gửi thư SMTP")
    assert smtp.startswith(f"LỖI  máy chủ gửi thư SMTP 127.0.0.1:{dead_smtp}: cannot reach SMTP server")
    assert "Connection refused" in smtp and smtp.endswith("→ kiểm tra host, port, security và tường lửa")


def test_secrets_from_a_credentials_folder_as_systemd_passes_them(tmp_path, smtp_server, dovecot) -> None:
    _, port = smtp_server
    config = imap_config(tmp_path, port, dovecot.port)
    env = {k: v for k, v in ENV.items() if k != "MAILBOT_TEST_IMAP_PASSWORD"}
    status, lines = check(config, "--fix", env=env)
    assert status == 1 and line(lines, "bí mật MAILBOT_TEST_IMAP_PASSWORD").startswith("LỖI ")
    creds = tmp_path / "credentials"
    creds.mkdir()
    (creds / "MAILBOT_TEST_IMAP_PASSWORD").write_text(dc.PASSWORD + "\n", encoding="utf-8")
    status, lines = check(config, "--fix", "--credentials", str(creds), env=env)
    assert status == 0, lines
    assert line(lines, "bí mật MAILBOT_TEST_IMAP_PASSWORD") == "ok   bí mật MAILBOT_TEST_IMAP_PASSWORD: có (credential)"


def test_a_broken_config_template_or_register_fails_with_its_fix(tmp_path, smtp_server) -> None:
    _, port = smtp_server
    config = write_config(tmp_path, port)
    good = config.read_text(encoding="utf-8")
    config.write_text(good.replace("[mailbot]\n", "[mailbot]\nunknown_key = 1\n", 1), encoding="utf-8")
    status, lines = check(config)
    assert status == 1 and len(lines) == 2 and lines[0].startswith("LỖI  cấu hình: ")
    assert "unknown_key" in lines[0]

    broken = tmp_path / "tpl"
    broken.mkdir()
    (broken / "ack.txt.j2").write_text("{{ khong_co }}", encoding="utf-8")
    config.write_text(good.replace("[mailbot]\n", f'[mailbot]\ntemplates_dir = "{broken}"\n', 1), encoding="utf-8")
    status, lines = check(config)
    assert status == 1 and line(lines, "mẫu thư").startswith("LỖI  mẫu thư: template ")

    config.write_text(good, encoding="utf-8")
    deliver(tmp_path, build(), "1.eml")
    assert mailbot("run", "--config", str(config), "--once").returncode == 0
    [segment] = (tmp_path / "state" / "db" / "messages").glob("0*.json")
    segment.write_bytes(segment.read_bytes()[:-20])  # a damaged table file
    status, lines = check(config)
    register = line(lines, "sổ ghi nhận")
    assert status == 1 and register.startswith("LỖI ") and str(segment) in register
    assert register.endswith("→ khôi phục từ bản sao lưu (xem docs/operator.md, mục Sao lưu và khôi phục)")


@needs("openssl")
def test_smtp_with_starttls_and_a_login_then_a_real_acknowledgement_through_it(tmp_path) -> None:
    from tests.tlssmtp import PASSWORD, USER, tls_smtp

    (tmp_path / "ca").mkdir()
    with tls_smtp(tmp_path / "ca") as (recorder, port, ca, auth):
        config = write_config(tmp_path, port)
        text = config.read_text(encoding="utf-8")
        smtp = text.index("[smtp]")
        config.write_text(
            text[:smtp]
            + text[smtp:]
            .replace('security = "none"', 'security = "starttls"', 1)
            .replace('username = ""', f'username = "{USER}"', 1),
            encoding="utf-8",
        )
        env = {**os.environ, "SSL_CERT_FILE": str(ca), "MAILBOT_SMTP_PASSWORD": PASSWORD}

        status, lines = check(config, env=env)
        assert status == 0, lines
        assert (
            line(lines, "máy chủ gửi thư SMTP")
            == f"ok   máy chủ gửi thư SMTP 127.0.0.1:{port}: EHLO + STARTTLS + đăng nhập được"
        )
        assert line(lines, "bí mật MAILBOT_SMTP_PASSWORD").startswith("ok ")

        status, lines = check(config, env={**env, "MAILBOT_SMTP_PASSWORD": "sai-mật-khẩu"})
        smtp_line = line(lines, "máy chủ gửi thư SMTP")
        assert status == 1 and "SMTP login refused: 535" in smtp_line
        assert smtp_line.endswith("→ kiểm tra username và mật khẩu SMTP") and "sai-mật-khẩu" not in smtp_line

        status, lines = check(config, env={k: v for k, v in env.items() if k != "SSL_CERT_FILE"})
        untrusted = line(lines, "máy chủ gửi thư SMTP")  # what is wrong, whose certificate, what to do
        assert status == 1 and "chưa được tin cậy" in untrusted and "CN=127.0.0.1" in untrusted, untrusted
        assert untrusted.endswith("trong mục cấu hình tương ứng") and "ca_file" in untrusted

        deliver(tmp_path, build(subject="Phương án bảo đảm thông tin liên lạc", files=(("PA.docx", b"pa"),)), "1.eml")
        done = mailbot("run", "--config", str(config), "--once", env=env)
        assert done.returncode == 0 and "đã gửi 1" in done.stdout, done.stdout + done.stderr
        assert len(recorder.messages) == 1 and auth.logins.count("PLAIN") + auth.logins.count("LOGIN") >= 2


def test_check_warns_that_exchange_online_no_longer_serves_ews(tmp_path) -> None:
    from mailbot.staff import check as checkmod
    from tests.test_ews_replay import ews_config

    config = configmod.load(ews_config(tmp_path, 25, "https://outlook.office365.com/EWS/Exchange.asmx"))
    first = next(checkmod._check_ews(config, False))  # said before any connection is tried
    assert first.warning and first.ok and str(first).startswith("CHÚ Ý")
    assert "Exchange Online" in str(first) and 'auth = "xoauth2"' in str(first)


def test_a_nearly_full_state_disk_is_a_warning(tmp_path, smtp_server) -> None:
    """A full disk stops the register; `check` says so while there is still time (a small tmpfs)."""
    with tmpfs(tmp_path / "disk", "20m") as disk:
        _, port = smtp_server
        config = write_config(tmp_path, port, {r"(?m)^state_dir = .*$": f'state_dir = "{disk / "state"}"'})
        out = mailbot("check", "--config", str(config))
        line = next(x for x in out.stdout.splitlines() if "ổ đĩa chứa state_dir" in x)
        assert "chỉ còn trống" in line and "CHÚ Ý" in line, line
