"""`mailbot backup` while the daemon records mail, and a restore that answers nothing twice."""

from __future__ import annotations

import json
import shutil
import threading
import time
from pathlib import Path

from mailbot.staff.backup import verify
from tests.conftest import build, deliver, mailbot, wait_for, write_config
from tests.conftest import daemon as start_daemon


def plan(n: int) -> bytes:
    return build(
        sender=f"kt{n}@vnpt.vn",
        subject=f"Phương án bảo đảm thông tin liên lạc {n}",
        files=((f"PA-{n}.docx", b"plan %d" % n),),
    )


def status_json(config: Path) -> dict:
    done = mailbot("status", "--config", str(config), "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_backups_while_the_daemon_records_mail_then_a_restore(tmp_path, smtp_server) -> None:
    recorder, port = smtp_server
    config = write_config(tmp_path, port)
    backups = tmp_path / "backups"
    daemon = start_daemon(config, level=None)
    total = 60

    def feed() -> None:
        for n in range(total):
            deliver(tmp_path, plan(n), f"{n:03d}.eml")
            time.sleep(0.05)

    feeder = threading.Thread(target=feed)
    try:
        wait_for(lambda: (tmp_path / "state" / "health.json").exists(), 30, "the daemon to start")
        feeder.start()
        outputs = []
        for _ in range(3):  # while mail arrives and is recorded
            done = mailbot("backup", "--config", str(config), "--to", str(backups))
            assert done.returncode == 0, done.stderr
            outputs.append(done.stdout)
        feeder.join()
        wait_for(lambda: len(recorder.messages) == total, 60, "every acknowledgement")
        done = mailbot("backup", "--config", str(config), "--to", str(backups))
        assert done.returncode == 0, done.stderr
        assert daemon.poll() is None  # the daemon held the state all along: each snapshot was its own
    finally:
        daemon.terminate()
        _, err = daemon.communicate(timeout=30)
    assert daemon.returncode == 0, err
    copies = sorted(p for p in backups.iterdir() if p.name.startswith("mailbot-"))
    assert len(copies) == 4 and not list(backups.glob(".*"))  # no partial copy left behind
    assert not list((tmp_path / "state" / ".snapshots").iterdir())
    counts = [verify(copy)["messages"] for copy in copies]
    assert counts == sorted(counts) and counts[-1] == total
    assert all("đã kiểm tra bản sao đọc được và đủ tệp" in out for out in outputs)

    before = status_json(config)
    # restore the last copy in place of the state folder, as docs/operator.md says
    shutil.move(tmp_path / "state", tmp_path / "state.old")
    shutil.copytree(copies[-1], tmp_path / "state")
    after = status_json(config)
    assert after["campaigns"] == before["campaigns"] and after["messages"] == before["messages"]
    assert after["outbox"] == before["outbox"]
    # every message delivered again: recognised, nothing recorded or answered twice
    for name in (tmp_path / "maildir" / "cur").iterdir():
        name.rename(tmp_path / "maildir" / "new" / name.name.split(":")[0])
    done = mailbot("run", "--config", str(config), "--once")
    assert done.returncode == 0, done.stderr
    assert f"bỏ qua {total} thư đã ghi nhận trước đó" in done.stdout
    assert len(recorder.messages) == total


def test_a_backup_without_the_daemon_and_one_into_the_state_folder(tmp_path, smtp_server) -> None:
    _, port = smtp_server
    config = write_config(tmp_path, port)
    deliver(tmp_path, plan(1), "1.eml")
    assert mailbot("run", "--config", str(config), "--once").returncode == 0
    done = mailbot("backup", "--config", str(config), "--to", str(tmp_path / "b"))
    assert done.returncode == 0 and done.stdout.startswith(f"Đã sao lưu vào {tmp_path / 'b'}/mailbot-")
    [copy] = (tmp_path / "b").iterdir()
    assert verify(copy) == {"messages": 1, "submissions": 1, "outbox": 1}
    assert copy.stat().st_mode & 0o077 == 0  # the carriers' mail: the owner's alone

    (next((copy / "raw").rglob("*.eml"))).unlink()
    try:
        verify(copy)
    except Exception as exc:
        assert "the copy lacks raw/" in str(exc)
    else:
        raise AssertionError("a copy without its mail passed the check")

    for _ in range(3):
        done = mailbot("backup", "--config", str(config), "--to", str(tmp_path / "b"), "--keep", "2")
        assert done.returncode == 0, done.stderr
    kept = sorted(p.name for p in (tmp_path / "b").iterdir())
    assert len(kept) == 2 and copy.name not in kept and "Đã xoá 1 bản sao lưu cũ (giữ 2 bản mới nhất)." in done.stdout

    done = mailbot("backup", "--config", str(config), "--to", str(tmp_path / "state" / "b"))
    assert done.returncode == 1 and "is inside the state folder" in done.stderr


def test_a_nightly_backup_shares_unchanged_mail_files_with_the_last_one(tmp_path, smtp_server) -> None:
    _, port = smtp_server
    config = write_config(tmp_path, port)
    backups = tmp_path / "b"
    for n in range(3):
        deliver(tmp_path, plan(n), f"{n}.eml")
    assert mailbot("run", "--config", str(config), "--once").returncode == 0
    assert mailbot("backup", "--config", str(config), "--to", str(backups)).returncode == 0
    deliver(tmp_path, plan(9), "9.eml")
    assert mailbot("run", "--config", str(config), "--once").returncode == 0
    second = mailbot("backup", "--config", str(config), "--to", str(backups))
    assert second.returncode == 0, second.stderr
    old, new = sorted(backups.iterdir())
    inodes = {p.relative_to(old): p.stat().st_ino for p in old.rglob("*") if p.is_file()}
    blobs = [p for p in new.rglob("*") if p.is_file() and p.parts[len(new.parts)] in ("raw", "files")]
    shared = [p for p in blobs if inodes.get(p.relative_to(new)) == p.stat().st_ino]
    fresh = [p for p in blobs if p.relative_to(new) not in inodes]
    assert (
        len(shared) == len(blobs) - len(fresh) and len(shared) >= 6 and len(fresh) == 3
    )  # mail 9, its file, its reply
    db = [p for p in new.rglob("*.json") if inodes.get(p.relative_to(new)) == p.stat().st_ino]
    assert db == []  # the register itself is always a copy of its own
    assert mailbot("backup", "--config", str(config), "--to", str(backups), "--keep", "1").returncode == 0
    [last] = list(backups.iterdir())  # the two before were removed; the shared files live on in this one
    assert verify(last)["messages"] == 4
