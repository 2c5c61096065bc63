"""SMTP faults: temporary refusals are retried until accepted, permanent ones are not."""

from __future__ import annotations

from mailbot import config as configmod
from mailbot.store import Store
from tests.conftest import FIXTURES, deliver, free_port, write_config
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
    assert all(m["attempts"] == 2 and "451" in m["last_error"] for m in mails)
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
    assert "chờ gửi lại 1" in proc.stdout  # the pass stops at the first refused connection
    up = write_config(tmp_path, port)
    assert run_once(up).returncode == 0
    assert len(recorder.messages) == 3
