"""Staff commands while `mailbot run` holds the state: handed to the daemon, answered at once."""

from __future__ import annotations

import json
import subprocess
import sys
import time

from tests.conftest import build, deliver, mailbot, wait_for, write_config


def test_staff_commands_work_while_the_daemon_runs(tmp_path, smtp_server) -> None:
    recorder, port = smtp_server
    # a long poll interval: only SIGUSR1 can make the daemon answer quickly
    config = str(write_config(tmp_path, port, {r"(?m)^poll_interval = .*$": "poll_interval = 600"}))
    deliver(
        tmp_path,
        build(sender="anh.kythuat@gmail.com", subject="Phương án của VNPT", files=(("PA VNPT.docx", b"1"),)),
        "1.a",
    )
    assert mailbot("run", "--config", config, "--once").returncode == 0
    daemon = subprocess.Popen(
        [sys.executable, "-m", "mailbot", "run", "--config", config],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(1.0)  # started, waiting on the Maildir
        started = time.monotonic()
        rows = json.loads(mailbot("review", "--config", config, "--json").stdout)
        assert [r["id"] for r in rows] == ["XL-0001"]
        assert time.monotonic() - started < 10  # woken by SIGUSR1, not after the 600 s poll
        done = mailbot("assign", "--config", config, "XL-0001", "vnpt-dongthap", "--remember-sender")
        assert done.returncode == 0, done.stderr
        assert "BC2021-0001" in done.stdout and "đã gửi đến anh.kythuat@gmail.com" in done.stdout
        refused = mailbot("assign", "--config", config, "XL-0001", "vnpt-dongthap")
        assert refused.returncode == 1 and "already handled" in refused.stderr
        status = json.loads(mailbot("status", "--config", config, "--json").stdout)
        assert status["known_senders"] == {"anh.kythuat@gmail.com": "vnpt-dongthap"}
        # the daemon itself now takes that sender as VNPT's
        deliver(
            tmp_path,
            build(sender="anh.kythuat@gmail.com", subject="Danh sách trực", files=(("DS truc.xlsx", b"2"),)),
            "2.b",
        )
        mailbot("review", "--config", config)  # wakes it: the new mail is read in the same pass
        wait_for(lambda: len(recorder.messages) == 2, 20, "the second acknowledgement")
    finally:
        daemon.terminate()
        _, err = daemon.communicate(timeout=15)
    assert daemon.returncode == 0, err
    assert not list((tmp_path / "state" / "requests").glob("*.json"))  # every request answered and cleared


def test_requests_are_served_and_answers_nobody_read_are_cleared(tmp_path) -> None:
    import os

    from mailbot.errors import MailbotError
    from mailbot.service import handoff

    folder = tmp_path / "requests"
    folder.mkdir()
    old = folder / f"1.0-abc{handoff.ANSWER_SUFFIX}"
    old.write_text("{}")
    os.utime(old, (time.time() - 3600, time.time() - 3600))
    fresh = folder / f"2.0-def{handoff.ANSWER_SUFFIX}"
    fresh.write_text("{}")
    (folder / "3.0-ghi.json").write_text(json.dumps({"action": "echo", "params": {"x": "Đồng Tháp"}}))
    (folder / "4.0-jkl.json").write_text(json.dumps({"action": "fail", "params": {}}))

    def fail(params: dict) -> str:
        raise MailbotError("không được")

    served = handoff.serve(tmp_path, {"echo": lambda params: params["x"], "fail": fail})
    assert served == 2 and not old.exists() and fresh.exists()
    assert json.loads((folder / f"3.0-ghi{handoff.ANSWER_SUFFIX}").read_text()) == {"ok": True, "output": "Đồng Tháp"}
    assert json.loads((folder / f"4.0-jkl{handoff.ANSWER_SUFFIX}").read_text()) == {"ok": False, "error": "không được"}
    assert not (folder / "3.0-ghi.json").exists()


def test_an_answer_that_cannot_be_written_drops_the_request_once(tmp_path, caplog) -> None:
    """A full disk: the answer cannot be written. Before, the error escaped the daemon's pass on
    every pass, and the next pass called the request "interrupted" although nothing had stopped."""
    from mailbot.service import handoff

    folder = tmp_path / handoff.FOLDER
    folder.mkdir()
    (folder / "1.json").write_text(json.dumps({"action": "status", "params": {}}), encoding="utf-8")
    (folder / f"1{handoff.ANSWER_SUFFIX}").mkdir()  # the answer's path cannot take a file: as ENOSPC would
    assert handoff.serve(tmp_path, {"status": lambda params: "ok"}) == 1
    assert sorted(p.name for p in folder.iterdir()) == [f"1{handoff.ANSWER_SUFFIX}"]  # the request is gone
    assert "cannot write the answer to staff request 1" in caplog.text
    caplog.clear()
    assert handoff.serve(tmp_path, {"status": lambda params: "ok"}) == 0
    assert "stopped abruptly" not in caplog.text
