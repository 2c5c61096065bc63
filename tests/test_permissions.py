"""Stored mail is the service user's alone, even when a shell's umask would share it."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

from tests.conftest import build, deliver, write_config


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mailbot", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        preexec_fn=lambda: os.umask(0o022),
        timeout=120,
    )


def _shared(root: Path) -> list[str]:
    found = []
    for path in [root, *root.rglob("*")]:
        mode = path.lstat().st_mode
        if not stat.S_ISLNK(mode) and mode & 0o077:
            found.append(f"{oct(mode & 0o777)} {path.relative_to(root.parent)}")
    return found


def test_state_and_backups_are_owner_only_under_umask_022(tmp_path, smtp_server) -> None:
    recorder, port = smtp_server
    config = write_config(tmp_path, port)
    deliver(tmp_path, build(subject="Phương án bảo đảm thông tin liên lạc", files=(("PA.docx", b"pa"),)), "1.eml")
    deliver(tmp_path, build(sender="x@gmail.com", subject="Hỏi"), "2.eml")
    out = _run("run", "--config", str(config), "--once", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert len(recorder.messages) == 1
    state = tmp_path / "state"
    assert list((state / "raw").rglob("*.eml")) and list((state / "db" / "messages").glob("*.json"))
    assert _shared(state) == []
    backup = _run("backup", "--config", str(config), "--to", str(tmp_path / "backups"), cwd=tmp_path)
    assert backup.returncode == 0, backup.stderr
    assert _shared(tmp_path / "backups") == []
    roster = _run(
        "roster", "--config", str(config), "--format", "xlsx", "--output", str(tmp_path / "r.xlsx"), cwd=tmp_path
    )
    assert roster.returncode == 0 and _shared(tmp_path / "r.xlsx") == []  # personal phone numbers
