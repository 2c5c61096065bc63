"""Exactly one mailbot works an IMAP mailbox at a time, whatever its state folder (a lease on the
server), and a dry run never changes the mailbox."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from tests import dovecot as dc
from tests.conftest import build, imap_config, mailbot, wait_for

ENV = {**os.environ, "MAILBOT_TEST_IMAP_PASSWORD": dc.PASSWORD}
PROCESSED = "Đã xử lý"
NO_CAP = {r"(?m)^auto_reply_cap_per_day = .*$": "auto_reply_cap_per_day = 1000"}


def plan(n: int) -> bytes:
    return build(
        sender="kt@vnpt.vn", subject=f"Phương án bảo đảm thông tin liên lạc {n}", files=((f"PA-{n}.docx", b"%d" % n),)
    )


def start(config: Path, log: Path) -> subprocess.Popen[str]:
    with open(log, "w", encoding="utf-8") as err:
        return subprocess.Popen(
            [sys.executable, "-m", "mailbot", "run", "--config", str(config), "--log-level", "INFO"],
            stdout=subprocess.DEVNULL,
            stderr=err,
            text=True,
            env=ENV,
        )


def test_a_second_instance_on_the_same_mailbox_waits_and_takes_over(tmp_path, smtp_server, dovecot) -> None:
    recorder, port = smtp_server
    configs = []
    for name in ("production", "test"):
        (tmp_path / name).mkdir()
        configs.append(imap_config(tmp_path / name, port, dovecot.port, NO_CAP))
    logs = [tmp_path / "production.log", tmp_path / "test.log"]
    first = start(configs[0], logs[0])
    second = None
    try:
        wait_for(lambda: "watching imap://" in logs[0].read_text(encoding="utf-8"), 30, "the first instance")
        wait_for(lambda: dovecot.folder_uids("mailbot-lease") != [], 30, "the first instance's lease")
        second = start(configs[1], logs[1])
        wait_for(lambda: "another mailbot" in logs[1].read_text(encoding="utf-8"), 30, "the second to wait")
        assert "production" in logs[1].read_text(encoding="utf-8")  # it names the instance holding the mailbox
        refused = mailbot("run", "--config", str(configs[1]), "--once", env=ENV)
        assert refused.returncode == 1 and "another mailbot" in refused.stderr

        for n in range(20):
            dovecot.append(plan(n))
        wait_for(lambda: len(recorder.messages) >= 20, 60, "twenty acknowledgements")
        time.sleep(2)  # anything doubled would arrive now
        assert len(recorder.messages) == 20
        assert len(dovecot.folder_uids(PROCESSED)) == 20  # filed once each

        first.terminate()  # a clean stop removes its lease: the second takes over within seconds
        assert first.wait(15) == 0
        for n in range(20, 25):
            dovecot.append(plan(n))
        wait_for(lambda: len(recorder.messages) >= 25, 60, "the second instance to take over")
        time.sleep(1)
    finally:
        for child in (first, second):
            if child is not None and child.poll() is None:
                child.terminate()
                child.wait(15)
    ids = Counter(m["Message-ID"] for m in recorder.parsed())
    assert len(ids) == 25 and max(ids.values()) == 1
    assert len(dovecot.folder_uids(PROCESSED)) == 25 and dovecot.folder_uids("INBOX") == []
    assert "Traceback" not in logs[1].read_text(encoding="utf-8")


def test_a_killed_instance_is_taken_over_by_its_own_restart(tmp_path, smtp_server, dovecot) -> None:
    recorder, port = smtp_server
    config = imap_config(tmp_path, port, dovecot.port)
    child = start(config, tmp_path / "a.log")
    try:
        wait_for(lambda: dovecot.folder_uids("mailbot-lease") != [], 30, "the lease")
    finally:
        child.kill()  # its lease stays behind on the server
        child.wait(15)
    dovecot.append(plan(1))
    out = mailbot("run", "--config", str(config), "--once", env=ENV)
    assert out.returncode == 0, out.stderr  # the same host and state folder: its own lease, taken over
    assert len(recorder.messages) == 1
    assert dovecot.folder_uids("mailbot-lease") == []  # removed on the clean stop


def test_a_dry_run_never_changes_the_mailbox(tmp_path, smtp_server, dovecot) -> None:
    recorder, port = smtp_server
    (tmp_path / "dry").mkdir()
    dry = imap_config(tmp_path / "dry", port, dovecot.port)
    production = imap_config(tmp_path, port, dovecot.port)
    for n in range(5):
        dovecot.append(plan(n))
    with dovecot.client() as box:
        folders = sorted(f.name for f in box.folder.list())
    out = mailbot("run", "--config", str(dry), "--once", "--dry-run", env=ENV)
    assert out.returncode == 0, out.stderr
    assert "Đã ghi nhận 5 thư mới" in out.stdout and recorder.messages == []
    assert len(list((tmp_path / "dry" / "state" / "outbox").glob("*.eml"))) == 5  # what it would have sent
    with dovecot.client() as box:
        assert sorted(f.name for f in box.folder.list()) == folders  # no folder created, no lease
    assert len(dovecot.folder_uids("INBOX")) == 5 and dovecot.seen("INBOX") == [False] * 5
    assert mailbot("run", "--config", str(dry), "--once", "--dry-run", env=ENV).returncode == 0  # again: nothing new

    done = mailbot("run", "--config", str(production), "--once", env=ENV)
    assert done.returncode == 0, done.stderr
    assert len(recorder.messages) == 5 and dovecot.folder_uids("INBOX") == []


def test_one_mailbot_per_maildir_whatever_its_state_folder(tmp_path, smtp_server) -> None:
    from tests.conftest import deliver, write_config

    recorder, port = smtp_server
    config = write_config(tmp_path, port)
    other = tmp_path / "other.toml"  # a test instance with its own state, reading the same Maildir
    other.write_text(
        config.read_text(encoding="utf-8")
        .replace('state_dir = "state"', 'state_dir = "state2"')
        .replace('path = "maildir"', f'path = "{tmp_path / "maildir"}"'),
        encoding="utf-8",
    )
    log = tmp_path / "a.log"
    first = start(config, log)
    try:
        deliver(tmp_path, plan(1), "1.eml")
        wait_for(lambda: len(recorder.messages) == 1, 30, "the first instance's acknowledgement")
        busy = mailbot("run", "--config", str(other), "--once")
        assert busy.returncode == 1 and "another mailbot (pid" in busy.stderr and "Maildir" in busy.stderr
    finally:
        first.terminate()
        first.wait(15)
    deliver(tmp_path, plan(2), "2.eml")
    assert mailbot("run", "--config", str(other), "--once").returncode == 0  # free once the first stopped
    assert len(recorder.messages) == 2
