"""`mailbot classify`: one JSON object per message, exactly the contract's keys."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import EXAMPLE, FIXTURES

KEYS = {"file", "message_id", "organization", "documents", "disposition", "reasons", "signatures"}


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mailbot", *args], capture_output=True, text=True, timeout=120)


def test_classify_a_folder_of_eml_files() -> None:
    proc = run("classify", "--config", str(EXAMPLE), str(FIXTURES))
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(rows) == len(list(FIXTURES.glob("*.eml")))
    for row in rows:
        assert set(row) == KEYS
        assert row["documents"] == sorted(row["documents"])


def test_classify_a_maildir_without_config(tmp_path) -> None:
    for sub in ("cur", "new", "tmp"):
        (tmp_path / sub).mkdir()
    (tmp_path / "new" / "1.host").write_bytes((FIXTURES / "01-vnpt-plan-docx.eml").read_bytes())
    (tmp_path / "cur" / "2.host:2,S").write_bytes((FIXTURES / "48-deeply-nested.eml").read_bytes())
    proc = run("classify", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    rows = {json.loads(line)["file"].rsplit("/", 1)[-1]: json.loads(line) for line in proc.stdout.splitlines()}
    assert rows["1.host"]["disposition"] == "submission"
    assert rows["1.host"]["organization"] == "vnpt-dongthap"
    assert rows["2.host:2,S"]["disposition"] == "correspondence"


def test_output_is_utf8_vietnamese() -> None:
    proc = run("classify", str(FIXTURES / "01-vnpt-plan-docx.eml"))
    row = json.loads(proc.stdout)
    assert "Viễn thông Đồng Tháp" in row["reasons"][0]


def test_unreadable_path_is_reported(tmp_path) -> None:
    proc = run("classify", str(tmp_path / "missing.eml"))
    assert proc.returncode == 1
    assert "missing.eml" in proc.stderr
