"""SIGTERM with a long outbox: sending stops at the next mail boundary, the daemon exits within
seconds, and after the restart every reply goes out once."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from collections import Counter

from aiosmtpd.controller import Controller

from tests.conftest import Recorder, build, deliver, free_port, mailbot, wait_for, write_config


class SlowRecorder(Recorder):
    """An SMTP server that takes a quarter of a second per mail (a slow relay)."""

    delay = 0.25

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: ANN001
        await asyncio.sleep(self.delay)
        return await super().handle_DATA(server, session, envelope)


def test_sigterm_with_a_long_outbox_exits_promptly_and_loses_nothing(tmp_path) -> None:
    recorder = SlowRecorder()
    controller = Controller(recorder, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        config = write_config(
            tmp_path, controller.port, {r"(?m)^auto_reply_cap_per_day = .*$": "auto_reply_cap_per_day = 1000"}
        )
        count = 120
        for n in range(count):
            deliver(
                tmp_path,
                build(
                    sender=f"kt{n}@vnpt.vn",
                    subject=f"Phương án bảo đảm thông tin liên lạc {n}",
                    files=((f"PA-{n}.docx", b"%d" % n),),
                ),
                f"{n:04d}.eml",
            )
        child = subprocess.Popen(
            [sys.executable, "-m", "mailbot", "run", "--config", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            wait_for(lambda: len(recorder.messages) >= 10, 60, "the first acknowledgements")
            started = time.monotonic()
            child.send_signal(signal.SIGTERM)
            _, err = child.communicate(timeout=30)
            took = time.monotonic() - started
        finally:
            if child.poll() is None:
                child.kill()
        assert child.returncode == 0, err
        assert took < 10, f"SIGTERM took {took:.1f} s with replies queued"
        sent_before = len(recorder.messages)
        assert sent_before < count - 50  # stopped with replies still queued
        recorder.delay = 0.0
        out = mailbot("run", "--config", str(config), "--once", timeout=300)
        assert out.returncode == 0, out.stderr
    finally:
        controller.stop()
    ids = Counter(m["Message-ID"] for m in recorder.parsed())
    assert len(ids) == count and max(ids.values()) == 1  # every reply, each once
    assert sorted(m["To"] for m in recorder.parsed()) == sorted(f"kt{n}@vnpt.vn" for n in range(count))
