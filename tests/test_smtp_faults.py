"""SMTP faults: temporary refusals are retried until accepted, permanent ones are not."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

from aiosmtpd.controller import Controller

from mailbot import config as configmod
from mailbot.register.store import Store
from tests.conftest import FIXTURES, Recorder, deliver, free_port, wait_for, write_config
from tests.test_e2e_maildir_smtp import run_once


def outbox(config_path) -> list[dict]:
    store = Store(configmod.load(config_path).state_dir)
    try:
        return list(store.outbox.all())
    finally:
        store.close()


def fill(tmp_path, count: int = 3) -> None:
    names = ["01-vnpt-plan-docx", "03-mobifone-duty-xlsx", "04-vnpost-zip-both"][:count]
    for i, name in enumerate(names):
        deliver(tmp_path, (FIXTURES / f"{name}.eml").read_bytes(), f"{i}.m")


def test_451_then_accept_delivers_everything_once(tmp_path, smtp_server) -> None:
    recorder, port = smtp_server
    config_path = write_config(tmp_path, port)
    fill(tmp_path)
    recorder.answer = "451 4.3.0 Hệ thống bận, thử lại sau"
    for _ in range(2):
        assert run_once(config_path).returncode == 0
    assert recorder.messages == []
    mails = outbox(config_path)
    assert [m["status"] for m in mails] == ["pending"] * 3
    # each run tries once alongside the pass (if the thread got to it) and once at its end: 2 to 4
    assert all(2 <= m["attempts"] <= 4 and "451" in m["last_error"] for m in mails)
    recorder.answer = None
    assert run_once(config_path).returncode == 0
    assert run_once(config_path).returncode == 0
    assert len(recorder.messages) == 3
    assert len({m["Message-ID"] for m in recorder.parsed()}) == 3
    assert [m["status"] for m in outbox(config_path)] == ["sent"] * 3


def test_550_is_a_permanent_failure(tmp_path, smtp_server) -> None:
    recorder, port = smtp_server
    config_path = write_config(tmp_path, port)
    fill(tmp_path, 1)
    recorder.answer = "550 5.1.1 Người nhận không tồn tại"
    proc = run_once(config_path)
    assert proc.returncode == 0
    assert "gửi lỗi 1" in proc.stdout
    [mail] = outbox(config_path)
    assert mail["status"] == "failed" and "550" in mail["last_error"] and mail["attempts"] == 1
    recorder.answer = None
    assert run_once(config_path).returncode == 0
    assert recorder.messages == []
    [mail] = outbox(config_path)
    assert mail["attempts"] == 1


def test_server_down_then_up(tmp_path, smtp_server) -> None:
    recorder, port = smtp_server
    down = write_config(tmp_path, free_port())  # nothing listens there
    fill(tmp_path)
    proc = run_once(down)
    assert proc.returncode == 0
    # the pass stops at the first refused connection; the summary still counts every reply waiting
    assert "chờ gửi lại 3" in proc.stdout
    up = write_config(tmp_path, port)
    assert run_once(up).returncode == 0
    assert len(recorder.messages) == 3


class Picky(Recorder):
    """Refuses one recipient for good (550 at RCPT) and, while `busy`, everything for now (451)."""

    def __init__(self, refused: str) -> None:
        super().__init__()
        self.refused = refused
        self.busy = True
        self.tries = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options) -> str:  # noqa: ANN001
        self.tries += 1
        if address == self.refused:
            return "550 5.1.1 Hộp thư không tồn tại"
        if self.busy:
            return "451 4.3.0 Hệ thống bận, thử lại sau"
        envelope.rcpt_tos.append(address)
        return "250 OK"


def test_the_daemon_waits_out_a_dead_then_busy_server_and_gives_up_on_550(tmp_path) -> None:
    port = free_port()
    config_path = write_config(tmp_path, port)
    text = config_path.read_text(encoding="utf-8").replace(
        "[smtp]\n", "[smtp]\nretry_first_seconds = 0.5\nretry_max_seconds = 1\n", 1
    )
    config_path.write_text(text, encoding="utf-8")
    names = ["01-vnpt-plan-docx", "02-viettel-plan-pdf-by-content", "03-mobifone-duty-xlsx", "04-vnpost-zip-both"]
    refused = "ttml.mn@mobifone.vn"  # the sender of 03
    daemon = subprocess.Popen(
        [sys.executable, "-m", "mailbot", "run", "--config", str(config_path), "--log-level", "INFO"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    picky = Picky(refused)
    controller = Controller(picky, hostname="127.0.0.1", port=port)
    try:
        for i, name in enumerate(names):
            deliver(tmp_path, (FIXTURES / f"{name}.eml").read_bytes(), f"{i}.m")
        wait_for(lambda: len(outbox(config_path)) == 4, 30, "four acknowledgements queued")
        time.sleep(3)  # nothing listens: connections refused, retried every second or so
        refused_tries = [m["attempts"] for m in outbox(config_path)]
        assert all(n >= 2 for n in refused_tries) and daemon.poll() is None
        controller.start()  # the server is back, but answers 451
        wait_for(lambda: picky.tries >= 6, 20, "retries against the busy server")
        assert picky.messages == [] and all(
            m["status"] == "pending" for m in outbox(config_path) if refused not in m["to"]
        )
        picky.busy = False  # it recovers
        wait_for(lambda: len(picky.messages) == 3, 30, "the three acknowledgements")
        time.sleep(2)  # the refused one is not tried again
        tries = picky.tries
        time.sleep(2)
        assert picky.tries == tries
    finally:
        daemon.send_signal(signal.SIGTERM)
        _, err = daemon.communicate(timeout=30)
        controller.stop()
    assert daemon.returncode == 0, err
    mails = {m["to"][0]: m for m in outbox(config_path)}
    assert mails[refused]["status"] == "failed" and "550" in mails[refused]["last_error"]
    assert sum(m["status"] == "sent" for m in mails.values()) == 3
    assert len({m["Message-ID"] for m in picky.parsed()}) == 3  # each once
    digest = subprocess.run(
        [
            sys.executable,
            "-m",
            "mailbot",
            "digest",
            "--config",
            str(config_path),
            "--dry-run",
            "--to",
            "ddthong@dongthap.gov.vn",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    failures = digest.stdout.split("V. SỰ CỐ", 1)[1]
    assert refused in failures and "550" in failures  # reported to staff


class DropAfterDot:
    """An SMTP server on loopback that takes the whole message, then closes the connection
    without its final reply: the duplicate window of RFC 1047, every time."""

    def __init__(self) -> None:
        import socket
        import threading

        self.received: list[bytes] = []
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.sock.settimeout(0.2)
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(5)
                try:
                    self._session(conn)
                except OSError:
                    pass

    def _session(self, conn) -> None:  # noqa: ANN001
        reader = conn.makefile("rb")
        conn.sendall(b"220 drop.test ESMTP\r\n")
        while line := reader.readline():
            verb = line[:4].upper()
            if verb in (b"EHLO", b"HELO"):
                conn.sendall(b"250-drop.test\r\n250 8BITMIME\r\n")
            elif verb == b"DATA":
                conn.sendall(b"354 go ahead\r\n")
                body = b""
                while not body.endswith(b"\r\n.\r\n"):
                    chunk = reader.readline()
                    if not chunk:
                        return
                    body += chunk
                self.received.append(body)
                return  # gone before "250 OK"
            elif verb == b"QUIT":
                conn.sendall(b"221 bye\r\n")
                return
            else:
                conn.sendall(b"250 OK\r\n")

    def close(self) -> None:
        self.stopping.set()
        self.thread.join(5)
        self.sock.close()


def test_a_connection_lost_after_the_final_dot_gives_at_most_two_copies(tmp_path) -> None:
    from mailbot.replies.reply import Templates
    from mailbot.staff import digest

    server = DropAfterDot()
    try:
        config_path = write_config(tmp_path, server.port)
        fill(tmp_path, 1)
        for _ in range(3):  # run --once tries what is pending; a third run sends nothing more
            proc = run_once(config_path)
            assert proc.returncode == 0, proc.stderr
        assert len(server.received) == 2  # the first try and one more, never 30
        [mail] = outbox(config_path)
        assert mail["status"] == "uncertain" and mail["attempts"] == 2 and mail["uncertain_at"]
        status = subprocess.run(
            [sys.executable, "-m", "mailbot", "status", "--config", str(config_path)], capture_output=True, text=True
        )
        assert "không chắc đã gửi 1" in status.stdout
        config = configmod.load(config_path)
        store = Store(config.state_dir)
        try:
            import datetime as dt

            now = dt.datetime.now(dt.timezone.utc)
            text = Templates(config.templates_dir).render("digest.txt.j2", digest.context(config, store, now))
        finally:
            store.close()
        assert "Thư gửi khkt.dtp@vnpt.vn không chắc đã gửi" in text.split("SỰ CỐ")[1]
    finally:
        server.close()
