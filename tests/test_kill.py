"""Kill -9 at random moments: the database always loads, nothing is lost or doubled."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from collections import Counter

from mailbot import config as configmod
from mailbot.register.store import Store
from tests.conftest import FIXTURES, deliver, write_config

KILLS = int(os.environ.get("MAILBOT_KILLS", "15"))
COPIES = 6  # 52 fixtures x 6 = 312 messages


def backlog() -> list[tuple[bytes, bool]]:
    """312 distinct messages and whether each is a submission."""
    out = []
    for copy in range(COPIES):
        for eml in sorted(FIXTURES.glob("*.eml")):
            raw = eml.read_bytes()
            raw, found = re.subn(rb"(?im)^(Message-ID:\s*<[^>]+)>", rb"\1.k%d>" % copy, raw, count=1)
            if not found:
                raw = b"X-Copy: %d\r\n" % copy + raw
            expected = json.loads(eml.with_suffix(".json").read_text(encoding="utf-8"))
            out.append((raw, expected["disposition"] == "submission"))
    return out


def test_random_sigkills_lose_nothing_and_double_nothing(tmp_path, smtp_server) -> None:
    recorder, port = smtp_server
    config_path = write_config(tmp_path, port, {r"(?m)^auto_reply_cap_per_day = .*$": "auto_reply_cap_per_day = 10000"})
    mail = backlog()
    rng = random.Random(20210401)
    rng.shuffle(mail)
    total, submissions = len(mail), sum(1 for _, sub in mail if sub)
    batch = -(-total // KILLS)
    cfg = configmod.load(config_path)
    cmd = [sys.executable, "-m", "mailbot", "run", "--config", str(config_path), "--once"]
    kills = 0
    marked = {**os.environ, "MAILBOT_KILL_TEST": str(tmp_path)}  # this test's processes, not another run's
    for round_ in range(KILLS):
        # mail keeps arriving while the daemon is killed again and again
        for n, (raw, _) in enumerate(mail[round_ * batch : (round_ + 1) * batch]):
            deliver(tmp_path, raw, f"{1617000000 + round_ * batch + n}.M{n}.kill")
        child = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=marked)
        time.sleep(rng.uniform(0.15, 0.8))
        if child.poll() is None:
            child.send_signal(signal.SIGKILL)
            kills += 1
        child.wait()
        # after every kill the database loads, and every table file is whole JSON
        db = cfg.state_dir / "db"  # absent when the kill came before the child opened the state
        for table in db.iterdir() if db.is_dir() else []:
            for segment in table.glob("*.json"):
                json.loads(segment.read_bytes())
        Store(cfg.state_dir).close()
    assert kills >= KILLS // 2, "the kills must land while the child works"

    for _ in range(3):  # finish: everything recorded, the outbox drained
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr
    store = Store(cfg.state_dir)
    try:
        messages = list(store.messages.all())
        keys = Counter(m["key"] for m in messages)
        assert len(messages) == total and max(keys.values()) == 1
        acked = [m for m in messages if m["disposition"] == "submission"]
        assert len(acked) == submissions
        assert len({m["receipt"] for m in acked}) == submissions  # one receipt per message, none reused
        receipts = sorted(int(m["receipt"].split("-")[1]) for m in acked)
        assert receipts == list(range(1, submissions + 1))  # no gaps either
        mails = list(store.outbox.all())
        assert len(mails) == submissions and all(m["status"] == "sent" for m in mails)
        subs = list(store.submissions.all())
        assert Counter(s["key"] for s in subs).most_common(1)[0][1] == 1
    finally:
        store.close()
    received = Counter(m["Message-ID"] for m in recorder.parsed())
    assert len(received) == submissions  # every submission acknowledged
    resent = sum(n - 1 for n in received.values())
    print(f"\n{kills} kills while working, {resent} acknowledgements resent after a kill")
    assert resent <= kills  # a resend happens only after a kill inside the SMTP window, same Message-ID
    assert not any((tmp_path / "maildir" / "new").iterdir())
    # the worker processes died with each killed run: none is left behind
    deadline = time.monotonic() + 5
    while orphans(str(tmp_path)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert orphans(str(tmp_path)) == []


def orphans(marker: str) -> list[int]:
    """Worker processes left by this test's runs (their environment carries `marker`): another test
    or program on the machine may run workers of its own meanwhile."""
    found = []
    for proc in os.listdir("/proc"):
        if proc.isdigit():
            try:
                cmdline = open(f"/proc/{proc}/cmdline", "rb").read()
                environ = open(f"/proc/{proc}/environ", "rb").read()
            except OSError:
                continue
            mine = f"MAILBOT_KILL_TEST={marker}".encode() in environ.split(b"\0")
            if b"multiprocessing" in cmdline and b"--multiprocessing-fork" in cmdline and mine:
                found.append(int(proc))
    return found
