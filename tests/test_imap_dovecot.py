"""The daemon against a real Dovecot on loopback: IDLE, folders, \\Seen, faults."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mailbot import config as configmod
from mailbot.register.store import Store
from tests import dovecot as dc
from tests.conftest import build, imap_config, mailbot, wait_for

PROCESSED, REVIEW = "Đã xử lý", "Cần xem xét"
ENV = {**os.environ, "MAILBOT_TEST_IMAP_PASSWORD": dc.PASSWORD}


def plan(n: int, sender: str = "kt@vnpt.vn") -> bytes:
    return build(
        sender=sender,
        subject=f"Phương án bảo đảm thông tin liên lạc {n}",
        files=((f"PA-{n}.docx", f"plan {n}".encode()),),
    )


@contextmanager
def daemon(config_path: Path) -> Iterator[subprocess.Popen[str]]:
    child = subprocess.Popen(
        [sys.executable, "-m", "mailbot", "run", "--config", str(config_path), "--log-level", "INFO"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    try:
        yield child
    finally:
        if child.poll() is None:
            child.terminate()
            try:
                child.communicate(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()
                child.communicate()


def stop(child: subprocess.Popen[str]) -> str:
    """SIGTERM ends an IDLE at once (it would otherwise last up to 25 minutes)."""
    started = time.monotonic()
    child.terminate()
    _, err = child.communicate(timeout=15)
    assert child.returncode == 0, err
    assert time.monotonic() - started < 5, "SIGTERM did not end the IDLE promptly"
    return err


def run_once(config_path: Path) -> subprocess.CompletedProcess[str]:
    return mailbot("run", "--config", str(config_path), "--once", env=ENV)


def test_idle_answers_new_mail_and_files_it(tmp_path, smtp_server, dovecot) -> None:
    recorder, port = smtp_server
    config_path = imap_config(tmp_path, port, dovecot.port)
    with daemon(config_path) as child:
        wait_for(lambda: "watching imap://" in (child.stderr.readline() or ""), what="the daemon to start")
        time.sleep(0.3)  # into IDLE
        dovecot.append(plan(1))
        dovecot.append(build(sender="someone@gmail.com", subject="Hỏi thăm"))  # unknown sender
        dovecot.append(
            build(sender="kt@vnpt.vn", subject="Tự động trả lời: Phương án", headers={"Auto-Submitted": "auto-replied"})
        )
        wait_for(lambda: len(recorder.messages) == 1, what="the acknowledgement")
        wait_for(lambda: not dovecot.folder_uids("INBOX"), what="INBOX to be emptied")
        assert len(dovecot.folder_uids(PROCESSED)) == 2  # the plan and the automated reply
        assert len(dovecot.folder_uids(REVIEW)) == 1  # the unknown sender
        assert all(dovecot.seen(PROCESSED)) and all(dovecot.seen(REVIEW))
        err = stop(child)
    ack = recorder.parsed()[0]
    assert ack["To"] == "kt@vnpt.vn" and ack["Auto-Submitted"] == "auto-replied"
    assert "PA-1.docx" in ack.get_body(("plain",)).get_content()
    assert "mailbot stopped" in err and "ERROR" not in err, err
    # a second start finds nothing new and sends nothing
    assert run_once(config_path).returncode == 0
    assert len(recorder.messages) == 1


def test_fetching_leaves_mail_unread_until_it_is_done(tmp_path, dovecot) -> None:
    """BODY.PEEK: \\Seen is set by done(), after the record is committed, never by the fetch."""
    from mailbot.intake.sources.imap import ImapSource

    config = configmod.load(imap_config(tmp_path, 25, dovecot.port))
    dovecot.append(plan(2))
    dovecot.append(build(sender="x@gmail.com", subject="Hỏi"))
    source = ImapSource(config.mailbox, tmp_path / "state", {"MAILBOT_TEST_IMAP_PASSWORD": dc.PASSWORD}.get)
    (tmp_path / "state").mkdir(exist_ok=True)
    try:
        items = list(source.pending())
        assert [len(i.raw) > 100 for i in items] == [True, True]
        assert dovecot.seen("INBOX") == [False, False]
        source.done([(items[0], "submission")])
        assert dovecot.seen("INBOX") == [False] and dovecot.seen(PROCESSED) == [True]
        assert list(source.pending()) != []  # the second is still new
        source.done([(items[1], "unknown-sender")])
        assert dovecot.seen(REVIEW) == [True] and list(source.pending()) == []
    finally:
        source.close()
    # without MOVE: UID COPY + UID EXPUNGE of that UID alone, never a bare EXPUNGE
    dovecot.append(plan(3))
    with dovecot.client() as box:
        box.folder.set("INBOX")
        flagged = box.uids()[0]
        box.client.uid("STORE", flagged, "+FLAGS.SILENT", r"(\Deleted)")  # by a person, meant for later
    dovecot.append(plan(4))
    source = ImapSource(config.mailbox, tmp_path / "state", {"MAILBOT_TEST_IMAP_PASSWORD": dc.PASSWORD}.get)
    try:
        box = source.connect()
        box.client.capabilities = tuple(c for c in box.client.capabilities if c != "MOVE")
        source.state.set("INBOX", source.uidvalidity, int(flagged))  # plan 3 counts as already processed
        items = list(source.pending())
        assert len(items) == 1 and b"PA-4.docx" in items[0].raw
        source.done([(items[0], "submission")])
    finally:
        source.close()
    assert dovecot.folder_uids("INBOX") == [flagged]
    assert len(dovecot.folder_uids(PROCESSED)) == 2


def test_old_mail_before_start_date_is_recorded_not_answered(tmp_path, smtp_server, dovecot) -> None:
    recorder, port = smtp_server
    config_path = imap_config(
        tmp_path, port, dovecot.port, {r"(?m)^timeout = 10$": "timeout = 10\nstart_date = 2099-01-01"}
    )
    dovecot.append(plan(3))
    proc = run_once(config_path)
    assert proc.returncode == 0, proc.stderr
    assert recorder.messages == []
    assert len(dovecot.folder_uids(PROCESSED)) == 1
    store = Store(configmod.load(config_path).state_dir)
    [record] = list(store.messages.all())
    [submission] = list(store.submissions.all())
    store.close()
    assert record["reply"] is None and "trước ngày bắt đầu 01/01/2099" in record["reply_note"]
    assert submission["document"] == "plan"


def test_oversized_message_is_not_downloaded(tmp_path, smtp_server, dovecot) -> None:
    recorder, port = smtp_server
    config_path = imap_config(tmp_path, port, dovecot.port, {r"(?m)^timeout = 10$": "timeout = 10\nmax_message_mb = 1"})
    dovecot.append(build(subject="Phương án (bản chụp)", files=(("PA-scan.pdf", os.urandom(1_500_000)),)))
    proc = run_once(config_path)
    assert proc.returncode == 0, proc.stderr
    assert len(dovecot.folder_uids(REVIEW)) == 1
    store = Store(configmod.load(config_path).state_dir)
    [record] = list(store.messages.all())
    store.close()
    assert record["disposition"] == "oversized" and record["oversize"] and record["size"] > 1_500_000
    assert record["attachments"] == [] and record["subject"] == "Phương án (bản chụp)"
    [notice] = recorder.parsed()
    text = notice.get_body(("plain",)).get_content()
    assert "vượt giới hạn 1 MB" in text and notice["Auto-Submitted"] == "auto-replied"


def test_server_restart_cut_connection_and_mail_while_away(tmp_path, smtp_server, dovecot) -> None:
    recorder, port = smtp_server
    config_path = imap_config(tmp_path, port, dovecot.port)
    with daemon(config_path) as child:
        dovecot.append(plan(10))
        wait_for(lambda: len(recorder.messages) == 1, what="the first acknowledgement")
        time.sleep(0.3)
        dovecot.restart()  # mid-IDLE
        dovecot.append(plan(11))  # arrives while the daemon is away
        wait_for(lambda: len(recorder.messages) == 2, timeout=30, what="the acknowledgement after a restart")
        time.sleep(0.3)
        dovecot.kick()  # the connection cut, the server up
        dovecot.append(plan(12))
        wait_for(lambda: len(recorder.messages) == 3, timeout=30, what="the acknowledgement after a cut")
        err = stop(child)
    assert err.count("unavailable, reconnecting") == 2, err  # once per incident, not per attempt
    assert err.count("reachable again") == 2, err
    assert len({m["In-Reply-To"] for m in recorder.parsed()}) == 3
    assert len(dovecot.folder_uids(PROCESSED)) == 3 and not dovecot.folder_uids("INBOX")


def test_uidvalidity_reset_rescans_without_answering_twice(tmp_path, smtp_server, dovecot) -> None:
    recorder, port = smtp_server
    config_path = imap_config(tmp_path, port, dovecot.port)
    dovecot.append(plan(20))
    assert run_once(config_path).returncode == 0
    assert len(recorder.messages) == 1
    # the same message back in INBOX (restored by someone), then the folder loses its UIDs
    with dovecot.client() as box:
        box.folder.set(PROCESSED)
        box.copy(box.uids(), "INBOX")
    dovecot.reset_uidvalidity()
    dovecot.append(plan(21))
    log_before = dovecot.full_log()
    proc = run_once(config_path)
    assert proc.returncode == 0, proc.stderr
    assert "bỏ qua 1 thư" in proc.stdout
    assert len(recorder.messages) == 2
    assert not dovecot.folder_uids("INBOX")
    # the recorded one was recognised by its Message-ID: only the new body was downloaded
    new_log = dovecot.full_log()[len(log_before) :]
    assert sum(int(n) for n in re.findall(r"body_count=(\d+)", new_log)) == 1, new_log


def test_a_copy_of_each_reply_goes_to_the_sent_folder(tmp_path, smtp_server, dovecot) -> None:
    recorder, port = smtp_server
    config_path = imap_config(
        tmp_path, port, dovecot.port, {r"(?m)^timeout = 10$": 'timeout = 10\nsent_folder = "Đã gửi"'}
    )
    dovecot.append(plan(30))
    proc = run_once(config_path)
    assert proc.returncode == 0, proc.stderr
    [ack] = recorder.parsed()
    assert dovecot.seen("Đã gửi") == [True]
    with dovecot.client() as box:
        box.folder.set("Đã gửi", readonly=True)
        [copy] = list(box.fetch(mark_seen=False))
    assert copy.obj["Message-ID"] == ack["Message-ID"] and copy.obj["To"] == "kt@vnpt.vn"


def test_polling_where_the_server_offers_no_idle(tmp_path, dovecot) -> None:
    import threading

    from mailbot.intake.sources.imap import ImapSource

    config = configmod.load(imap_config(tmp_path, 25, dovecot.port))
    (tmp_path / "state").mkdir(exist_ok=True)
    source = ImapSource(
        config.mailbox, tmp_path / "state", {"MAILBOT_TEST_IMAP_PASSWORD": dc.PASSWORD}.get, poll_interval=0.3
    )
    try:
        box = source.connect()
        box.client.capabilities = tuple(c for c in box.client.capabilities if c != "IDLE")
        started = time.monotonic()
        source.wait(threading.Event(), 60)
        assert 0.25 < time.monotonic() - started < 5  # the poll interval, not the 60 s asked for
        dovecot.append(plan(31))
        assert len(list(source.pending())) == 1
    finally:
        source.close()


def test_mail_arriving_during_a_pass_is_answered_at_once(tmp_path, smtp_server, dovecot) -> None:
    """A small plan appended while a large message is being recorded: searched for again before
    IDLE, not left until Dovecot's next idle check (30 s)."""
    recorder, port = smtp_server
    config_path = imap_config(tmp_path, port, dovecot.port)
    big = build(sender="kt@viettel.com.vn", subject="Hồ sơ lớn", files=(("scan.pdf", os.urandom(12 * 1024 * 1024)),))
    with daemon(config_path) as child:
        wait_for(lambda: "watching imap://" in (child.stderr.readline() or ""), what="the daemon to start")
        time.sleep(0.3)  # into IDLE
        for _ in range(3):
            dovecot.append(big)  # a pass of several seconds
            time.sleep(0.6)
            before = len(recorder.messages)
            dovecot.append(plan(len(recorder.messages) + 100))
            appended = time.monotonic()
            wait_for(lambda: len(recorder.messages) > before, timeout=25, what="the small plan's acknowledgement")
            assert time.monotonic() - appended < 8, "the plan waited for the server's next idle check"
        stop(child)


def test_a_deferred_message_keeps_the_last_uid_below_it_until_recorded(tmp_path, dovecot) -> None:
    """A long scan deferred while the mail behind it is recorded: after a restart at that moment,
    the scan is listed again (the remembered last UID never passes a message not yet recorded)."""
    from mailbot.intake.sources.imap import ImapSource

    config = configmod.load(imap_config(tmp_path, 25, dovecot.port))
    for n in (1, 2, 3):
        dovecot.append(plan(n))
    (tmp_path / "state").mkdir(exist_ok=True)
    secret = {"MAILBOT_TEST_IMAP_PASSWORD": dc.PASSWORD}.get
    source = ImapSource(config.mailbox, tmp_path / "state", secret)
    try:
        first, second, third = list(source.pending())
        source.hold(first)  # still being analysed
        source.done([(second, "submission"), (third, "submission")])
        assert source.state.get("INBOX")[1] < int(first.source_id.rsplit(":", 1)[1])
    finally:
        source.close()
    restarted = ImapSource(config.mailbox, tmp_path / "state", secret)
    try:
        [again] = list(restarted.pending())  # the other two were moved out of INBOX
        assert again.source_id == first.source_id
        restarted.done([(again, "submission")])
        assert list(restarted.pending()) == []
    finally:
        restarted.close()
