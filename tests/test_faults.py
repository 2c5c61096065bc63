"""Faults of the machine: a damaged register at start, and a disk that fills up under the daemon."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from mailbot import config as configmod
from mailbot.register.store import Store
from tests.conftest import build, deliver, mailbot, wait_for, write_config
from tests.notifysock import NotifySocket
from tests.tools import tmpfs


def plan(n: int, size: int = 2000) -> bytes:
    return build(
        sender=f"kt{n}@vnpt.vn",
        subject=f"Phương án bảo đảm thông tin liên lạc {n}",
        files=((f"PA-{n}.docx", os.urandom(size)),),
    )


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("damage", ["segment", "known_senders"])
def test_a_damaged_register_stops_the_start_names_the_file_and_is_never_overwritten(
    tmp_path, smtp_server, damage
) -> None:
    _, port = smtp_server
    config = write_config(tmp_path, port)
    for n in range(3):
        deliver(tmp_path, plan(n), f"{n}.eml")
    assert mailbot("run", "--config", str(config), "--once").returncode == 0
    state = tmp_path / "state"
    if damage == "segment":
        [victim] = (state / "db" / "messages").glob("0*.json")
        victim.write_bytes(victim.read_bytes()[: len(victim.read_bytes()) // 2])  # cut mid-write
    else:
        victim = state / "known_senders.json"
        victim.write_bytes(b'{"kt@vnpt.vn": ')
    before = snapshot(state)
    deliver(tmp_path, plan(9), "9.eml")
    for command in (["run", "--once"], ["run"], ["status"]):
        done = mailbot(*command, "--config", str(config), timeout=60)
        assert done.returncode == 3, (command, done.stderr)  # RestartPreventExitStatus=2 3 in the unit
        assert f"{victim} is damaged" in done.stderr and "will not overwrite it" in done.stderr
        assert "restore the state folder from the latest backup" in done.stderr
    after = snapshot(state)
    after.pop("mailbot.lock", None), before.pop("mailbot.lock", None)
    assert after == before  # not a byte changed, nothing added
    assert (tmp_path / "maildir" / "new" / "9.eml").exists()  # the new mail waits in the mailbox


@pytest.fixture
def small_disk(tmp_path):
    """The state folder on its own 6 MB tmpfs, so that the test can fill it and free it."""
    with tmpfs(tmp_path / "state", "6m") as state:
        yield state


def fill(folder: Path) -> Path:
    """Take every free byte of the file system."""
    filler = folder / "filler"
    with open(filler, "wb") as fh:
        try:
            while True:
                fh.write(b"\0" * 65536)
                fh.flush()
        except OSError:
            pass
    return filler


def test_a_full_disk_damages_nothing_and_the_daemon_recovers_when_space_returns(
    tmp_path, smtp_server, small_disk
) -> None:
    recorder, port = smtp_server
    config = write_config(tmp_path, port, {r"(?m)^auto_reply_cap_per_day = .*$": "auto_reply_cap_per_day = 1000"})
    sock = NotifySocket(tmp_path / "notify")  # what `systemctl status` would show
    daemon = subprocess.Popen(
        [sys.executable, "-m", "mailbot", "run", "--config", str(config), "--log-level", "INFO"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "NOTIFY_SOCKET": str(sock.path)},
    )
    try:
        for n in range(5):
            deliver(tmp_path, plan(n), f"a{n}.eml")
        wait_for(lambda: len(recorder.messages) == 5, 30, "the first five acknowledgements")

        filler = fill(small_disk)
        for n in range(5, 25):  # 20 messages of 100 KB arrive on a full disk
            deliver(tmp_path, plan(n, 100_000), f"b{n}.eml")
        health = small_disk / "health.json"
        stored_error = lambda: json.loads(health.read_bytes()).get("store_error") or ""  # noqa: E731
        wait_for(lambda: "No space left on device" in stored_error(), 30, "health.json to report the full disk")
        wait_for(lambda: "KHÔNG GHI ĐƯỢC SỔ GHI NHẬN" in sock.statuses()[-1], 30, "STATUS= to say so")
        staff = mailbot("status", "--config", str(config))  # it cannot even hand its request over: it says so
        assert staff.returncode == 1 and "the disk is full: free some space" in staff.stderr
        from mailbot.service import health as healthmod  # what status prints once it can run again

        cfg = configmod.load(config)
        shown = healthmod.render(
            cfg,
            {
                "running": True,
                "daemon": healthmod.load(small_disk).as_json(),  # type: ignore[union-attr]
                "outbox": {"pending": 0, "failed": 0},
                "next_jobs": [],
            },
        )
        assert "Sổ ghi nhận: KHÔNG GHI ĐƯỢC ([Errno 28] No space left on device)" in shown
        for segment in (small_disk / "db").rglob("*.json"):  # every table file still whole
            json.loads(segment.read_bytes())
        assert len(recorder.messages) == 5 and daemon.poll() is None
        waiting = sorted(p.name for p in (tmp_path / "maildir" / "new").iterdir())
        assert len(waiting) == 20  # nothing marked done that was not recorded

        filler.unlink()  # space returns
        wait_for(lambda: len(recorder.messages) == 25, 60, "every acknowledgement after the disk is freed")
        wait_for(lambda: stored_error() == "", 30, "health.json to clear")
        wait_for(lambda: "KHÔNG GHI ĐƯỢC" not in sock.statuses()[-1], 30, "STATUS= to clear")
        assert "KHÔNG GHI ĐƯỢC" not in mailbot("status", "--config", str(config)).stdout
    finally:
        daemon.send_signal(signal.SIGTERM)
        _, err = daemon.communicate(timeout=30)
        sock.close()
    assert daemon.returncode == 0, err
    assert "No space left on device" in err and "the register can be written again" in err
    assert "Traceback" not in err  # reported in one line per incident, not a trace per pass
    store = Store(configmod.load(config).state_dir)
    try:
        keys = Counter(m["key"] for m in store.messages.all())
        assert len(keys) == 25 and max(keys.values()) == 1
        assert all(m["status"] == "sent" for m in store.outbox.all())
    finally:
        store.close()
    assert len({m["Message-ID"] for m in recorder.parsed()}) == 25
    assert json.loads(health.read_text(encoding="utf-8"))["store_error"] is None


class FillingRecorder:
    """An SMTP server that fills the disk while it takes one chosen mail: the reply is accepted,
    and the register cannot record that it was sent."""

    def __init__(self, folder: Path, victim: str) -> None:
        from tests.conftest import Recorder

        self.recorder = Recorder()
        self.folder = folder
        self.victim = victim
        self.filler: Path | None = None

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: ANN001
        if self.filler is None and self.victim in envelope.rcpt_tos:
            self.filler = fill(self.folder)
        return await self.recorder.handle_DATA(server, session, envelope)


def test_a_disk_that_fills_while_a_reply_is_in_flight_sends_no_second_copy(tmp_path, small_disk) -> None:
    import time

    from aiosmtpd.controller import Controller

    from tests.conftest import free_port

    handler = FillingRecorder(small_disk, "kt1@vnpt.vn")
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    recorder = handler.recorder
    config = write_config(tmp_path, controller.port)
    log = tmp_path / "daemon.log"
    with open(log, "w", encoding="utf-8") as err:
        daemon = subprocess.Popen(
            [sys.executable, "-m", "mailbot", "run", "--config", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=err,
            text=True,
        )
    try:
        deliver(tmp_path, plan(0), "0.eml")
        wait_for(lambda: len(recorder.messages) == 1, 30, "the first acknowledgement")
        deliver(tmp_path, plan(1), "1.eml")
        wait_for(lambda: handler.filler is not None, 30, "the disk to fill during the second send")
        for n in range(2, 6):  # more mail while the disk is full: waits in the mailbox
            deliver(tmp_path, plan(n, 50_000), f"{n}.eml")
        time.sleep(8)  # 40 passes at poll_interval 0.2 s
        assert len(recorder.messages) == 2  # the reply in flight went once, never again
        errors = [line for line in log.read_text(encoding="utf-8").splitlines() if " ERROR " in line]
        assert 1 <= len(errors) <= 3, errors  # once per incident, not once per pass
        health = json.loads((small_disk / "health.json").read_bytes())
        assert health["recorded"] <= 2  # nothing counted that the register did not keep
        assert handler.filler is not None
        handler.filler.unlink()  # space returns
        wait_for(lambda: len(recorder.messages) == 6, 60, "the waiting mail answered once space returns")
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(30)
        controller.stop()
    assert daemon.returncode == 0
    assert Counter(m["To"] for m in recorder.parsed()) == Counter(f"kt{n}@vnpt.vn" for n in range(6))
    store = Store(configmod.load(config).state_dir)
    try:
        assert sorted(m["status"] for m in store.outbox.all()) == ["sent"] * 6
        sent_again = next(m for m in store.outbox.all() if m["to"] == ["kt1@vnpt.vn"])
        assert sent_again["attempts"] == 1
    finally:
        store.close()
