"""A read-only state folder (issue 26): one line saying what is wrong, never a traceback; the
commands that only read still read; `run` exits 4, which the unit does not restart on.

The state folder lives on its own tmpfs remounted read-only: root ignores file modes, so chmod
would prove nothing here."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import mailbot
from tests.tools import tmpfs

ROOT = Path(__file__).resolve().parent.parent
LINE = re.compile(r"^mailbot: (chú ý: )?thư mục trạng thái \S+ không ghi được \(Read-only file system\) / the state")


@pytest.fixture
def read_only_state(tmp_path) -> Path:
    """The demo's register on a tmpfs remounted read-only; returns the configuration."""
    assert mailbot("demo", "--dir", str(tmp_path / "d")).returncode == 0
    with tmpfs(tmp_path / "ro", "16m") as mount:
        shutil.copytree(tmp_path / "d" / "state", mount / "state")
        config = tmp_path / "d" / "config.toml"
        text = config.read_text(encoding="utf-8")
        config.write_text(re.sub(r"(?m)^state_dir = .*$", f'state_dir = "{mount / "state"}"', text), encoding="utf-8")
        remount = subprocess.run(["mount", "-o", "remount,ro", str(mount)], capture_output=True, text=True)
        if remount.returncode != 0:
            pytest.skip(f"cannot remount the tmpfs read-only ({remount.stderr.strip()})")
        yield config


def _one_line(stderr: str) -> str:
    lines = [
        x for x in stderr.splitlines() if "CryptographyDeprecationWarning" not in x and "import DSAPrivateKey" not in x
    ]
    assert "Traceback" not in stderr and len(lines) == 1, stderr
    assert LINE.match(lines[0]), lines[0]
    return lines[0]


def test_reading_commands_read_a_read_only_state(read_only_state) -> None:
    config = str(read_only_state)
    state = read_only_state.parent.parent / "ro" / "state"
    before = sorted((p.relative_to(state), p.stat().st_mtime_ns) for p in state.rglob("*"))
    status = mailbot("status", "--config", config)
    assert status.returncode == 0 and "đúng hạn BC2021-0001 09:15 29/03/2021" in status.stdout
    assert _one_line(status.stderr).startswith("mailbot: chú ý: ")
    review = mailbot("review", "--config", config)
    assert review.returncode == 0 and "XL-0001" in review.stdout
    _one_line(review.stderr)
    roster = mailbot("roster", "--config", config)
    assert roster.returncode == 0 and "BC2021-0005" in roster.stdout
    check = mailbot("check", "--config", config, timeout=60)
    assert check.returncode == 1 and "Traceback" not in check.stderr
    line = next(x for x in check.stdout.splitlines() if "sổ ghi nhận" in x)
    assert line.startswith("LỖI ") and "đọc được: 11 thư" in line and "KHÔNG GHI ĐƯỢC" in line, line
    eml = next((read_only_state.parent / "maildir" / "cur").iterdir())
    classify = mailbot("classify", "--config", config, str(eml))
    assert classify.returncode == 0 and '"disposition"' in classify.stdout
    backup = mailbot("backup", "--config", config, "--to", str(read_only_state.parent.parent / "b"))
    assert backup.returncode == 0 and "11 thư" in backup.stdout, backup.stderr
    assert sorted((p.relative_to(state), p.stat().st_mtime_ns) for p in state.rglob("*")) == before


def test_writing_commands_and_run_exit_4_in_one_line(read_only_state) -> None:
    config = str(read_only_state)
    for args in (("run", "--once"), ("run",), ("assign", "XL-0001", "vnpt-dongthap"), ("remind",)):
        done = mailbot(*args, "--config", config, timeout=60)
        assert done.returncode == 4, (args, done.stderr)
        assert not _one_line(done.stderr).startswith("mailbot: chú ý")


def test_the_unit_does_not_restart_on_4() -> None:
    unit = (ROOT / "deploy" / "mailbot.service").read_text(encoding="utf-8")
    codes = re.search(r"(?m)^RestartPreventExitStatus=(.*)$", unit)
    assert codes is not None and "4" in codes.group(1).split()
