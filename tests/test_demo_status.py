"""`mailbot demo` and `mailbot status` as a new user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys


def mailbot(*args: str, cwd=None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mailbot", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
        env={"PATH": "/usr/bin:/bin", "TZ": "UTC"},
    )


def test_demo_runs_the_real_pipeline(tmp_path) -> None:
    proc = mailbot("demo", "--dir", str(tmp_path / "d"))
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "Đã ghi nhận 11 thư mới" in out
    assert "Trung tâm Mạng lưới MobiFone miền Nam" in out and "trễ hạn BC2021-0003 10:05 05/04/2021" in out
    assert "chưa nộp" in out
    outbox = list((tmp_path / "d" / "state" / "outbox").glob("*.eml"))
    assert len(outbox) == 7
    # run it again: the folder is recreated, same result
    again = mailbot("demo", "--dir", str(tmp_path / "d"))
    assert again.returncode == 0 and "Đã ghi nhận 11 thư mới" in again.stdout

    status = mailbot("status", "--config", str(tmp_path / "d" / "config.toml"), "--json")
    assert status.returncode == 0, status.stderr
    data = json.loads(status.stdout)
    rows = {(r["organization"], r["document"]): r for r in data["campaigns"]}
    assert rows[("vnpt-dongthap", "plan")]["status"] == "on-time"
    assert rows[("vnpt-dongthap", "plan")]["received_at"] == "2021-03-29T09:15:00+07:00"  # whatever TZ says
    assert rows[("vnpt-dongthap", "duty-list")]["versions"] == 2
    assert rows[("mobifone-mien-nam", "plan")]["status"] == "late"
    assert rows[("viettelpost-dongthap", "plan")]["status"] == "missing"
    assert data["messages"] == {"submission": 7, "automated": 2, "unknown-sender": 1, "correspondence": 1}
    assert data["outbox"] == {"dry-run": 7}


def test_demo_refuses_a_folder_that_is_not_its_own(tmp_path) -> None:
    (tmp_path / "keep.txt").write_text("x")
    proc = mailbot("demo", "--dir", str(tmp_path))
    assert proc.returncode == 1
    assert "not a mailbot demo folder" in proc.stderr
    assert (tmp_path / "keep.txt").exists()


def test_a_second_instance_is_refused(tmp_path) -> None:
    from mailbot.errors import MailbotError
    from mailbot.runtime import state_lock

    with state_lock(tmp_path):
        try:
            with state_lock(tmp_path):
                raise AssertionError("the second lock must fail")
        except MailbotError as exc:
            assert str(os.getpid()) in str(exc)
