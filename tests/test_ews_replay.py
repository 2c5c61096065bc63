"""The Exchange backend through exchangelib's real code path, against tests/ews_server.py on loopback.

No Exchange server runs here: the endpoint answers with EWS responses shaped as Exchange 2016
sends them. What this proves and what it does not is in docs/operator.md, "Exchange (EWS)".
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from exchangelib.errors import ErrorServerBusy

from mailbot import config as configmod
from mailbot.intake.sources import suggested_backoff
from mailbot.intake.sources.ews import EwsSource, _source_error
from mailbot.register.store import Store
from tests.conftest import build, daemon, mailbot, wait_for, write_config
from tests.ews_server import EwsServer

PROCESSED, REVIEW = "Đã xử lý", "Cần xem xét"
ENV = {**os.environ, "MAILBOT_TEST_EWS_PASSWORD": "s3cret-pw"}


@pytest.fixture
def ews() -> Iterator[EwsServer]:
    server = EwsServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def ews_config(tmp_path: Path, smtp_port: int, url: str, extra: str = "", auth: str = "basic") -> Path:
    mailbox = (
        f'[mailbox]\nbackend = "ews"\news_url = "{url}"\news_version = "Exchange2016"\news_auth = "{auth}"\n'
        f'username = "pbcvt@dongthap.gov.vn"\npassword_env = "MAILBOT_TEST_EWS_PASSWORD"\n{extra}\n'
    )
    return write_config(tmp_path, smtp_port, {r"(?ms)^\[mailbox\]\n.*?(?=^\[smtp\])": mailbox})


def plan(n: int) -> bytes:
    return build(sender=f"kt{n}@vnpt.vn", subject=f"Phương án {n}", files=((f"PA-{n}.docx", b"%d" % n),))


def run_once(config_path: Path) -> subprocess.CompletedProcess[str]:
    return mailbot("run", "--config", str(config_path), "--once", env=ENV)


def test_inbox_sync_records_answers_and_files(tmp_path, smtp_server, ews) -> None:
    recorder, port = smtp_server
    config_path = ews_config(tmp_path, port, ews.url)
    ews.mailbox.deliver(plan(1))
    ews.mailbox.deliver(build(sender="someone@gmail.com", subject="Hỏi thăm"))
    proc = run_once(config_path)
    assert proc.returncode == 0, proc.stderr
    [ack] = recorder.parsed()
    assert ack["To"] == "kt1@vnpt.vn" and "PA-1.docx" in ack.get_body(("plain",)).get_content()
    assert len(ews.mailbox.in_folder(PROCESSED)) == 1 and len(ews.mailbox.in_folder(REVIEW)) == 1
    assert ews.mailbox.in_folder("Inbox") == []
    assert all(i.is_read for i in ews.mailbox.items.values())
    for op in ("SyncFolderItems", "GetItem", "UpdateItem", "MoveItem", "CreateFolder"):
        assert op in ews.requests
    state = json.loads((tmp_path / "state" / "ews-state.json").read_text(encoding="utf-8"))
    assert state["mailbox"] == "pbcvt@dongthap.gov.vn" and state["sync_state"]

    # the next start syncs from the saved state, creates no folder, answers nothing again
    ews.requests.clear()
    ews.mailbox.deliver(plan(2))
    assert run_once(config_path).returncode == 0
    assert len(recorder.messages) == 2 and "CreateFolder" not in ews.requests
    assert b"<m:SyncState>state-" in next(b for b in ews.bodies[::-1] if b"SyncFolderItems" in b)


def test_sync_state_advances_only_when_every_message_is_done(tmp_path, ews) -> None:
    config = configmod.load(ews_config(tmp_path, 25, ews.url))
    (tmp_path / "state").mkdir(exist_ok=True)
    ews.mailbox.deliver(plan(3))
    ews.mailbox.deliver(plan(4))
    source = EwsSource(config.mailbox, tmp_path / "state", lambda _: "pw")
    first = list(source.pending())
    assert len(first) == 2 and not (tmp_path / "state" / "ews-state.json").exists()
    source.done([(first[0], "submission")])  # then a crash before the second is recorded
    assert not (tmp_path / "state" / "ews-state.json").exists()
    source.close()

    again = EwsSource(config.mailbox, tmp_path / "state", lambda _: "pw")
    second = list(again.pending())
    assert [b"PA-4.docx" in i.raw for i in second] == [True]  # the first was moved; the second comes again
    again.done([(second[0], "submission")])
    assert (tmp_path / "state" / "ews-state.json").exists()
    assert list(again.pending()) == []


def test_oversized_message_is_read_from_its_headers(tmp_path, smtp_server, ews) -> None:
    recorder, port = smtp_server
    config_path = ews_config(tmp_path, port, ews.url, "max_message_mb = 1")
    ews.mailbox.deliver(build(subject="Phương án (bản chụp)", files=(("PA.pdf", os.urandom(1_200_000)),)))
    proc = run_once(config_path)
    assert proc.returncode == 0, proc.stderr
    store = Store(configmod.load(config_path).state_dir)
    [record] = list(store.messages.all())
    store.close()
    assert record["disposition"] == "oversized" and record["subject"] == "Phương án (bản chụp)"
    assert len(ews.mailbox.in_folder(REVIEW)) == 1
    assert "vượt giới hạn 1 MB" in recorder.parsed()[0].get_body(("plain",)).get_content()


def test_the_daemon_waits_out_an_unavailable_server(tmp_path, smtp_server, ews) -> None:
    recorder, port = smtp_server
    config_path = ews_config(tmp_path, port, ews.url)
    ews.fail_next = 3  # HTTP 503 three times: the first connection attempts fail
    ews.mailbox.deliver(plan(5))
    child = daemon(config_path, level=None, env=ENV)
    try:
        wait_for(lambda: len(recorder.messages) == 1, 30, "the acknowledgement after the outage")
    finally:
        child.terminate()
        _, err = child.communicate(timeout=15)
    assert child.returncode == 0, err
    assert err.count("unavailable, reconnecting") == 1 and "reachable again" in err


def test_server_busy_back_off_is_obeyed() -> None:
    error = _source_error(ErrorServerBusy("The server cannot service this request right now.", back_off=42.0), "x")
    assert suggested_backoff(error) == 42.0


def test_oauth2_needs_its_client_settings(tmp_path) -> None:
    from mailbot.errors import ConfigError

    url = "https://outlook.office365.com/EWS/Exchange.asmx"
    with pytest.raises(ConfigError, match="client_id"):
        configmod.load(ews_config(tmp_path, 25, url, 'tenant_id = "t"\nclient_secret_env = "S"', auth="oauth2"))
    config = configmod.load(
        ews_config(
            tmp_path,
            25,
            url,
            'client_id = "c"\ntenant_id = "t"\nclient_secret_env = "S"\nmailbox_address = "PBCVT@dongthap.gov.vn"',
            auth="oauth2",
        )
    )
    source = EwsSource(config.mailbox, tmp_path, {"S": "secret"}.get)
    credentials = source._credentials()
    assert credentials.client_id == "c" and credentials.tenant_id == "t"
    assert credentials.identity.primary_smtp_address == "pbcvt@dongthap.gov.vn"


def test_replies_through_exchange_land_in_sent_items(tmp_path, smtp_server, ews) -> None:
    recorder, port = smtp_server
    config_path = ews_config(tmp_path, port, ews.url, "send_via_ews = true")
    ews.mailbox.deliver(plan(6))
    proc = run_once(config_path)
    assert proc.returncode == 0, proc.stderr
    assert recorder.messages == []  # not by SMTP
    [(mime, rcpts)] = ews.mailbox.sent
    assert rcpts == ["kt6@vnpt.vn"] and b"Auto-Submitted: auto-replied" in mime
    [copy] = ews.mailbox.in_folder("Sent Items")
    assert copy.mime == mime
    assert "CreateItem" in ews.requests


def test_a_dry_run_never_changes_the_exchange_mailbox(tmp_path, smtp_server, ews) -> None:
    recorder, port = smtp_server
    (tmp_path / "dry").mkdir()
    dry = ews_config(tmp_path / "dry", port, ews.url)
    ews.mailbox.deliver(plan(1))
    ews.mailbox.deliver(plan(2))
    out = mailbot("run", "--config", str(dry), "--once", "--dry-run", env=ENV)
    assert out.returncode == 0, out.stderr
    assert "Đã ghi nhận 2 thư mới" in out.stdout and recorder.messages == []
    assert not {"CreateFolder", "UpdateItem", "MoveItem", "CreateItem"} & set(ews.requests), ews.requests
    assert len(ews.mailbox.in_folder("Inbox")) == 2 and not any(i.is_read for i in ews.mailbox.items.values())
    assert run_once(ews_config(tmp_path, port, ews.url)).returncode == 0  # production afterwards: all answered
    assert len(recorder.messages) == 2 and ews.mailbox.in_folder("Inbox") == []
