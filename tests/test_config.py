"""Configuration: strict validation with one clear line, secrets outside the file."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest

from mailbot import config as configmod
from mailbot.errors import ConfigError
from tests.conftest import EXAMPLE, FIXTURES


def variant(tmp_path: Path, old: str, new: str) -> Path:
    text = EXAMPLE.read_text(encoding="utf-8")
    assert old in text, old
    path = tmp_path / "config.toml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


def test_example_describes_the_letter(config) -> None:
    assert config.own_addresses == ("pbcvt@dongthap.gov.vn",)
    assert config.trusted_authserv_ids == ("mail.dongthap.gov.vn",)
    assert [o.id for o in config.organizations] == [
        "vnpt-dongthap",
        "viettel-dongthap",
        "mobifone-mien-nam",
        "vnpost-dongthap",
        "viettelpost-dongthap",
    ]
    assert [o.domains for o in config.organizations] == [
        ("vnpt.vn",),
        ("viettel.com.vn",),
        ("mobifone.vn",),
        ("vnpost.vn",),
        ("viettelpost.com.vn",),
    ]
    campaign = config.campaign("bau-cu-2021")
    assert campaign.event_date == dt.date(2021, 5, 23)
    plan, duty = campaign.documents
    assert plan.id == "plan" and duty.id == "duty-list"
    tz7 = dt.timezone(dt.timedelta(hours=7))
    assert plan.deadline == dt.datetime(2021, 4, 1, 23, 59, 59, tzinfo=tz7)
    assert duty.deadline == dt.datetime(2021, 5, 21, 23, 59, 59, tzinfo=tz7)
    assert len(plan.organizations) == len(duty.organizations) == 5


@pytest.mark.parametrize(
    "old, new, key, problem",
    [
        ("poll_interval = 10", "poll_intervall = 10", "mailbot.poll_intervall", "unknown key"),
        ('backend = "maildir"', 'backend = "pop3"', "mailbox.backend", "must be one of"),
        ("port = 587", 'port = "587"', "smtp.port", "must be an integer"),
        ("port = 587", "port = 70000", "smtp.port", "not a TCP port"),
        ("deadline = 2021-04-01", 'deadline = "1/4/2021"', "campaigns[0].documents[0].deadline", "must be a date"),
        ("deadline = 2021-04-01", "deadline = 2021-04-01T23:59:59", "campaigns[0].documents[0].deadline", "offset"),
        ("event_date = 2021-05-23", "event_date = 2021-05-32", "(syntax)", ""),
        (
            'name = "Phương án bảo đảm thông tin liên lạc"',
            'name = "Phương án bảo đảm thông tin liên lạc"\norganizations = ["vnpt-dongthap", "vnpt"]',
            "campaigns[0].documents[0].organizations",
            "unknown organization id 'vnpt'",
        ),
        ('domains = ["vnpt.vn"]', 'domains = ["vnpt .vn"]', "organizations[0].domains", "not a domain name"),
        ('kind = "telecom"', "kind = 1", "organizations[0].kind", "must be a string"),
        ("dry_run = false", 'dry_run = "no"', "mailbot.dry_run", "true or false"),
        ('timezone = "Asia/Ho_Chi_Minh"', 'timezone = "Asia/Hanoi_City"', "mailbot.timezone", "unknown time zone"),
        ('backend = "maildir"', 'backend = "imap"', "mailbox.host", "is required for the imap backend"),
        (
            'backend = "maildir"',
            'backend = "imap"\nhost = "imap.x"\nusername = "u"\nsecurity = "ssl"',
            "mailbox.security",
            "must be one of none, starttls, tls",
        ),
        (
            'backend = "maildir"',
            'backend = "imap"\nhost = "imap.x"\nusername = "u"\nauth = "xoauth2"',
            "mailbox.oauth_token_command",
            "is required",
        ),
        (
            'backend = "maildir"',
            'backend = "imap"\nhost = "imap.x"\nusername = "u"\nidle_minutes = 30',
            "mailbox.idle_minutes",
            "between 1 and 29",
        ),
        (
            'backend = "maildir"',
            'backend = "imap"\nhost = "imap.x"\nusername = "u"\nreview_folder = "a*b"',
            "mailbox.review_folder",
            "not a usable folder name",
        ),
        (
            'backend = "maildir"',
            'backend = "imap"\nhost = "imap.x"\nusername = "u"\nstart_date = "2021-03-01"',
            "mailbox.start_date",
            "date",
        ),
        (
            'backend = "maildir"',
            'backend = "imap"\nhost = "imap.x"\nusername = "u"\nfolders = "INBOX"',
            "mailbox.folders",
            "unknown key",
        ),
    ],
)
def test_invalid_config_is_one_clear_error(tmp_path, old, new, key, problem) -> None:
    path = variant(tmp_path, old, new)
    with pytest.raises(ConfigError) as info:
        configmod.load(path)
    assert info.value.key == key
    assert problem in info.value.problem
    assert str(path) in str(info.value)


def test_cli_prints_one_line_and_exits_2(tmp_path) -> None:
    path = variant(tmp_path, "poll_interval = 10", "pol_interval = 10")
    proc = subprocess.run(
        [sys.executable, "-m", "mailbot", "classify", "--config", str(path), str(FIXTURES)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert lines == [
        f"mailbot: {path}: mailbot.pol_interval: unknown key (check the spelling; see config.example.toml)"
    ]


def test_missing_file(tmp_path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        configmod.load(tmp_path / "nope.toml")


def test_relative_paths_are_relative_to_the_file(tmp_path) -> None:
    cfg = configmod.load(variant(tmp_path, 'state_dir = "state"', 'state_dir = "var/state"'))
    assert cfg.state_dir == (tmp_path / "var" / "state").resolve()
    assert cfg.mailbox.path == (tmp_path / "state" / "maildir").resolve()


def test_secret_from_environment_or_credentials_dir(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("MAILBOT_SMTP_PASSWORD", raising=False)
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    assert configmod.read_secret("MAILBOT_SMTP_PASSWORD") is None
    (tmp_path / "MAILBOT_SMTP_PASSWORD").write_text("từ-credential\n", encoding="utf-8")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    assert configmod.read_secret("MAILBOT_SMTP_PASSWORD") == "từ-credential"
    monkeypatch.setenv("MAILBOT_SMTP_PASSWORD", "from-env")
    assert configmod.read_secret("MAILBOT_SMTP_PASSWORD") == "from-env"


def test_no_password_in_the_example() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    assert "password =" not in text and "password_env" in text


def test_imap_mailbox_settings(tmp_path) -> None:
    path = variant(
        tmp_path,
        'backend = "maildir"',
        'backend = "imap"\nhost = "imap.dongthap.gov.vn"\n'
        'username = "pbcvt@dongthap.gov.vn"\npassword_env = "MAILBOT_IMAP_PASSWORD"\n'
        'processed_folder = "INBOX/Đã xử lý"\nstart_date = 2021-03-15\nmax_message_mb = 25',
    )
    mailbox = configmod.load(path).mailbox
    assert (mailbox.backend, mailbox.security, mailbox.port) == ("imap", "tls", 993)
    assert mailbox.processed_folder == "INBOX/Đã xử lý" and mailbox.review_folder == "Cần xem xét"
    assert mailbox.start_date == dt.date(2021, 3, 15) and mailbox.max_message_bytes == 25 * 1024 * 1024
    assert mailbox.idle_seconds == 25 * 60
