"""Crash anywhere, live: the daemon on Dovecot SIGKILLed at random moments while mail keeps arriving.

312 mixed messages (the golden fixtures, six times); the daemon (`mailbot run`, IMAP IDLE,
worker processes) is killed MAILBOT_KILLS_IMAP times (default 12) and started again by the
test. After each kill the register loads; in the end every message is recorded once and
filed once on the server, every submission acknowledged, and an acknowledgement sent twice
(a kill inside the SMTP window) carries the same Message-ID both times.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter

from imap_tools import MailBoxUnencrypted

from mailbot import config as configmod
from mailbot.register.store import Store
from tests import dovecot as dc
from tests.conftest import imap_config, wait_for
from tests.test_kill import backlog, orphans

KILLS = int(os.environ.get("MAILBOT_KILLS_IMAP", "12"))
ENV = {**os.environ, "MAILBOT_TEST_IMAP_PASSWORD": dc.PASSWORD}


def kill_at(child: subprocess.Popen[bytes], rng: random.Random, batch: int) -> None:
    """Wait for a random moment: some time after start, or right after the k-th message recorded."""
    target = rng.randint(0, batch)
    deadline = time.monotonic() + (rng.uniform(0.2, 1.5) if target == 0 else 10)
    seen = 0
    assert child.stderr is not None
    os.set_blocking(child.stderr.fileno(), False)
    buffer = b""
    while time.monotonic() < deadline and seen < (target or 1 << 30):
        chunk = child.stderr.read() or b""
        buffer += chunk
        seen = buffer.count(b" recorded ")
        time.sleep(0.005)


def append_all(port: int, messages: list[bytes]) -> None:
    with MailBoxUnencrypted("127.0.0.1", port).login_utf8(dc.USER, dc.PASSWORD, initial_folder="INBOX") as box:
        for raw in messages:
            box.append(raw, "INBOX")


def test_random_sigkills_of_the_imap_daemon_lose_nothing_and_double_nothing(tmp_path, smtp_server, dovecot) -> None:
    recorder, port = smtp_server
    env = {**ENV, "MAILBOT_KILL_TEST": str(tmp_path)}  # marks this test's processes (test_kill.orphans)
    config_path = imap_config(
        tmp_path, port, dovecot.port, {r"(?m)^auto_reply_cap_per_day = .*$": "auto_reply_cap_per_day = 10000"}
    )
    cfg = configmod.load(config_path)
    mail = backlog()
    rng = random.Random(20210522)
    rng.shuffle(mail)
    total, submissions = len(mail), sum(1 for _, sub in mail if sub)
    batch = -(-total // KILLS)
    cmd = [sys.executable, "-m", "mailbot", "run", "--config", str(config_path)]
    kills = busy = 0
    for round_ in range(KILLS):
        append_all(dovecot.port, [raw for raw, _ in mail[round_ * batch : (round_ + 1) * batch]])
        child = subprocess.Popen(
            cmd + ["--log-level", "INFO"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env
        )
        kill_at(child, rng, batch)
        if child.poll() is None:
            child.send_signal(signal.SIGKILL)
            kills += 1
        child.wait()
        busy += bool(dovecot.folder_uids("INBOX"))  # killed with mail still to file: mid-work
        db = cfg.state_dir / "db"
        for table in db.iterdir() if db.is_dir() else []:
            for segment in table.glob("*.json"):
                json.loads(segment.read_bytes())
        Store(cfg.state_dir).close()
    assert kills == KILLS  # the daemon never exits by itself
    assert busy >= KILLS // 3, f"only {busy} kills landed while mail was being processed"

    log_path = tmp_path / "daemon.log"  # a file, not a pipe nobody reads: a full pipe would block the daemon
    with open(log_path, "wb") as log_file:
        child = subprocess.Popen(cmd + ["--log-level", "INFO"], stdout=subprocess.DEVNULL, stderr=log_file, env=env)
    try:
        wait_for(lambda: not dovecot.folder_uids("INBOX"), 180, "an empty INBOX")
        wait_for(lambda: len({m["Message-ID"] for m in recorder.parsed()}) >= submissions, 120, "every acknowledgement")
    except AssertionError as exc:
        child.kill()
        child.wait(60)
        left = dovecot.folder_uids("INBOX")
        raise AssertionError(
            f"{exc}; {len(left)} left in INBOX: {left[:10]}\n{log_path.read_text(encoding='utf-8')[-4000:]}"
        ) from None
    finally:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
            child.wait(60)
    assert child.returncode == 0, log_path.read_text(encoding="utf-8")[-4000:]

    store = Store(cfg.state_dir)
    try:
        messages = list(store.messages.all())
        assert len(messages) == total and max(Counter(m["key"] for m in messages).values()) == 1
        acked = [m for m in messages if m["disposition"] == "submission"]
        assert len(acked) == submissions
        receipts = sorted(int(m["receipt"].split("-")[1]) for m in acked)
        assert receipts == list(range(1, submissions + 1))  # none lost, none reused, no gap
        mails = list(store.outbox.all())
        assert len(mails) == submissions and all(m["status"] == "sent" for m in mails)
    finally:
        store.close()
    filed = dovecot.folder_uids("Đã xử lý") + dovecot.folder_uids("Cần xem xét")
    assert len(filed) == total  # each message filed once on the server, none left, none copied twice
    received = Counter(m["Message-ID"] for m in recorder.parsed())
    assert len(received) == submissions
    resent = sum(n - 1 for n in received.values())
    print(
        f"\n{kills} kills of the IMAP daemon ({busy} with mail still to file), {resent} acknowledgements "
        f"resent after a kill (same Message-ID)"
    )
    assert resent <= kills
    deadline = time.monotonic() + 5
    while orphans(str(tmp_path)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert orphans(str(tmp_path)) == []
