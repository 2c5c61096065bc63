"""A mail loop: another robot on loopback answers everything mailbot sends it.

The responder is as bad as they come: no Auto-Submitted, no Precedence, the subject echoed
and a document attached to every answer, so each answer looks like a new submission. The
per-recipient cap (auto_reply_cap_per_day) must end the loop; with RFC 3834 headers the
loop must not start at all.
"""

from __future__ import annotations

import signal
import threading
import time
from email import message_from_bytes, policy
from pathlib import Path

from aiosmtpd.controller import Controller

from tests.conftest import Recorder, build, deliver, free_port, wait_for, write_config
from tests.conftest import daemon as start_daemon

ROBOT = "tudong@vnpt.vn"
CAP = 10


class Responder(Recorder):
    """Keeps what it receives and answers each mail into mailbot's Maildir at once."""

    def __init__(self, maildir: Path, rfc3834: bool) -> None:
        super().__init__()
        self.maildir = maildir
        self.rfc3834 = rfc3834
        self.answers = 0

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: ANN001
        answer = await super().handle_DATA(server, session, envelope)
        received = message_from_bytes(envelope.original_content or envelope.content, policy=policy.default)
        if ROBOT in envelope.rcpt_tos:
            self.answers += 1
            headers = {"In-Reply-To": str(received["Message-ID"])}
            if self.rfc3834:
                headers["Auto-Submitted"] = "auto-replied"
            raw = build(
                sender=ROBOT,
                subject=f"Re: {received['Subject']} ({self.answers})",
                body="Thư trả lời tự động.",
                files=((f"Phuong-an-{self.answers}.docx", b"x"),),
                headers=headers,
            )
            (self.maildir / "new" / f"loop-{self.answers}.eml").write_bytes(raw)
        return answer


def run_loop(tmp_path: Path, rfc3834: bool) -> tuple[Responder, str]:
    config = write_config(tmp_path, 25, {r"(?m)^auto_reply_cap_per_day = .*$": f"auto_reply_cap_per_day = {CAP}"})
    (tmp_path / "maildir" / "new").mkdir(parents=True, exist_ok=True)
    responder = Responder(tmp_path / "maildir", rfc3834)
    controller = Controller(responder, hostname="127.0.0.1", port=free_port())
    controller.start()
    text = config.read_text(encoding="utf-8").replace("port = 25\n", f"port = {controller.port}\n", 1)
    config.write_text(text, encoding="utf-8")
    daemon = start_daemon(config)
    try:
        deliver(
            tmp_path,
            build(sender=ROBOT, subject="Phương án bảo đảm thông tin liên lạc", files=(("PA.docx", b"pa"),)),
            "first.eml",
        )
        wait_for(lambda: len(responder.messages) >= 1, 30, "the first acknowledgement")
        quiet = threading.Event()
        last = -1
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # until nothing new for 3 s
            time.sleep(3)
            if len(responder.messages) == last:
                quiet.set()
                break
            last = len(responder.messages)
        assert quiet.is_set(), f"the loop did not stop: {len(responder.messages)} mails"
    finally:
        daemon.send_signal(signal.SIGTERM)
        _, err = daemon.communicate(timeout=30)
        controller.stop()
    assert daemon.returncode == 0, err
    return responder, err


def test_the_per_recipient_cap_ends_a_loop_with_a_robot_that_ignores_rfc3834(tmp_path) -> None:
    responder, err = run_loop(tmp_path, rfc3834=False)
    assert len(responder.messages) == CAP  # then the loop stops: mailbot sends nothing more
    assert len(list((tmp_path / "maildir" / "new").iterdir())) == 0  # every echo was recorded all the same
    assert err.count("disposition=submission") == CAP + 1
    assert err.count("action=không gửi: vượt giới hạn 10 thư tự động/ngày cho tudong@vnpt.vn") == 1
    assert all(m["Auto-Submitted"] == "auto-replied" for m in responder.parsed())  # ours are marked, always


def test_a_robot_that_marks_its_answers_gets_one_acknowledgement_only(tmp_path) -> None:
    responder, err = run_loop(tmp_path, rfc3834=True)
    assert len(responder.messages) == 1 and responder.answers == 1
    assert err.count("disposition=automated") == 1
