"""IMAP cut in the middle of fetching a backlog, again and again: nothing lost, nothing twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from mailbot import config as configmod
from mailbot.register.store import Store
from tests import dovecot as dc
from tests.conftest import build, imap_config, wait_for
from tests.test_crash_imap import append_all

ENV = {**os.environ, "MAILBOT_TEST_IMAP_PASSWORD": dc.PASSWORD}


def test_connections_cut_mid_fetch_lose_and_double_nothing(tmp_path, smtp_server, dovecot) -> None:
    recorder, port = smtp_server
    config = imap_config(
        tmp_path, port, dovecot.port, {r"(?m)^auto_reply_cap_per_day = .*$": "auto_reply_cap_per_day = 1000"}
    )
    total = 60
    append_all(
        dovecot.port,
        [
            build(sender=f"kt{n}@vnpt.vn", subject=f"Phương án {n}", files=((f"PA-{n}.docx", os.urandom(600_000)),))
            for n in range(total)
        ],
    )
    log_path = tmp_path / "daemon.log"  # a file: a pipe nobody reads would block the daemon once full
    with open(log_path, "wb") as log_file:
        daemon = subprocess.Popen(
            [sys.executable, "-m", "mailbot", "run", "--config", str(config), "--log-level", "INFO"],
            stdout=subprocess.DEVNULL,
            stderr=log_file,
            env=ENV,
        )
    cuts = 0
    try:
        state = configmod.load(config).state_dir
        recorded = lambda: sum(1 for _ in (state / "raw").rglob("*.eml")) if (state / "raw").is_dir() else 0  # noqa: E731
        while recorded() < total - 5 and cuts < 8:  # cut while bodies are being fetched
            wait_for(lambda: recorded() > cuts * 6, 60, "fetching to go on")
            dovecot.kick()
            cuts += 1
            time.sleep(0.3)
        wait_for(lambda: not dovecot.folder_uids("INBOX"), 120, "an empty INBOX")
        wait_for(lambda: len(recorder.messages) >= total, 60, "every acknowledgement")
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(60)
    err = log_path.read_text(encoding="utf-8")
    assert daemon.returncode == 0, err[-4000:]
    assert cuts >= 4 and err.count("unavailable, reconnecting with backoff") >= 1
    store = Store(configmod.load(config).state_dir)
    try:
        keys = [m["key"] for m in store.messages.all()]
    finally:
        store.close()
    assert len(keys) == len(set(keys)) == total
    assert len({m["Message-ID"] for m in recorder.parsed()}) == total == len(recorder.messages)
    assert len(dovecot.folder_uids("Đã xử lý")) == total
