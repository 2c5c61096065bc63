"""The configuration changed under a register that already holds records (issue 26): a deadline
moved, an organization removed. `status` never shows a verdict by a deadline it does not show,
and nothing on record silently disappears."""

from __future__ import annotations

import json
import re
import shutil
from collections import Counter
from pathlib import Path

import pytest

from mailbot.register.storage import scan
from tests.conftest import mailbot


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("demo") / "d"
    assert mailbot("demo", "--dir", str(folder)).returncode == 0
    return folder


@pytest.fixture
def copy(demo, tmp_path) -> Path:
    """The demo's folder, the config pointing at the copy."""
    target = tmp_path / "d"
    shutil.copytree(demo, target)
    config = target / "config.toml"
    config.write_text(config.read_text(encoding="utf-8").replace(str(demo), str(target)), encoding="utf-8")
    return config


def _edit(config: Path, pattern: str, replacement: str) -> None:
    text = config.read_text(encoding="utf-8")
    changed, n = re.subn(pattern, replacement, text, count=1, flags=re.MULTILINE)
    assert n == 1, pattern
    config.write_text(changed, encoding="utf-8")


def _outbox(config: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in (config.parent / "state" / "outbox").glob("*.eml")}


def test_a_deadline_moved_later_moves_the_verdicts(copy) -> None:
    sent = _outbox(copy)
    _edit(copy, r"^deadline = 2021-04-01.*$", "deadline = 2021-04-10")
    out = mailbot("status", "--config", str(copy))
    assert out.returncode == 0, out.stderr
    assert "(hạn 10/04/2021)" in out.stdout and "(hạn 01/04/2021)" not in out.stdout
    # MobiFone's plan of 05/04 was late by 01/04, on time by 10/04; its acknowledgement said late
    assert "đúng hạn BC2021-0003 10:05 05/04/2021 (thư báo nhận đã ghi trễ hạn theo hạn cũ 01/04/2021)" in out.stdout
    assert "trễ hạn BC2021-0003" not in out.stdout
    rows = {
        (r["organization"], r["document"]): r
        for r in json.loads(mailbot("status", "--config", str(copy), "--json").stdout)["campaigns"]
    }
    mobifone = rows[("mobifone-mien-nam", "plan")]
    assert mobifone["status"] == "on-time" and mobifone["told"] == "late"
    assert mobifone["deadline"].startswith("2021-04-10")
    assert "told" not in rows[("vnpt-dongthap", "plan")]  # unchanged verdicts carry no note
    assert _outbox(copy) == sent  # what was sent stays as it was; nothing new goes out


def test_a_deadline_moved_earlier_makes_late_ones_late(copy) -> None:
    _edit(copy, r"^deadline = 2021-04-01.*$", "deadline = 2021-03-30")
    out = mailbot("status", "--config", str(copy)).stdout
    assert "(hạn 30/03/2021)" in out
    assert "đúng hạn BC2021-0001 09:15 29/03/2021" in out  # before the new deadline: no note
    assert "đúng hạn BC2021-0002 16:40 30/03/2021" in out  # the deadline's own day counts
    assert "trễ hạn BC2021-0004 08:30 31/03/2021 (thư báo nhận đã ghi đúng hạn theo hạn cũ 01/04/2021)" in out
    digest = mailbot("digest", "--config", str(copy), "--dry-run", "--now", "2021-04-02T07:30:00+07:00")
    assert "trễ hạn: BC2021-0004" in digest.stdout and "theo hạn cũ 01/04/2021" in digest.stdout


def _counts(config: Path, org: str) -> tuple[int, int]:
    state = config.parent / "state" / "db"
    messages = Counter(r.get("organization") for _, r in scan(state / "messages"))
    documents = Counter(r.get("organization") for _, r in scan(state / "submissions"))
    return messages[org], documents[org]


def test_an_organization_removed_is_named_by_check_status_and_roster(copy) -> None:
    messages, documents = _counts(copy, "vnpt-dongthap")
    assert messages >= 2 and documents >= 3  # the demo: a plan, a duty list and its correction
    _edit(copy, r'^\[\[organizations\]\]\nid = "vnpt-dongthap"\n(?:(?!\[\[).*\n)*', "")
    check = mailbot("check", "--config", str(copy), timeout=60)
    line = next((x for x in check.stdout.splitlines() if "vnpt-dongthap" in x), "")
    assert line.startswith("CHÚ Ý đơn vị vnpt-dongthap: không còn trong cấu hình"), check.stdout
    assert f"sổ còn {messages} thư, {documents} tài liệu đã nộp" in line
    status = mailbot("status", "--config", str(copy))
    assert status.returncode == 0, status.stderr
    row = next(x for x in status.stdout.splitlines() if x.startswith("vnpt-dongthap (không còn trong cấu hình)"))
    assert "đúng hạn BC2021-0001 09:15 29/03/2021" in row and "BC2021-0007" in row
    assert f"Cảnh báo: đơn vị vnpt-dongthap không còn trong cấu hình nhưng sổ còn giữ {documents} tài liệu" in (
        status.stdout
    )
    roster = mailbot("roster", "--config", str(copy))
    assert roster.returncode == 0, roster.stderr
    kept = [x for x in roster.stdout.splitlines() if x.startswith("vnpt-dongthap (không còn trong cấu hình),")]
    assert kept and all("BC2021-0007" in x for x in kept)


def test_check_says_nothing_when_every_organization_is_configured(copy) -> None:
    check = mailbot("check", "--config", str(copy), timeout=60)
    assert "không còn trong cấu hình" not in check.stdout


def test_a_document_removed_is_named_by_check(copy) -> None:
    documents = Counter(r.get("document") for _, r in scan(copy.parent / "state" / "db" / "submissions"))
    _edit(copy, r"^\[\[campaigns\.documents\]\]\nid = \"duty-list\"\n(?:(?!\[\[).*\n)*", "")
    check = mailbot("check", "--config", str(copy), timeout=60)
    line = next((x for x in check.stdout.splitlines() if "duty-list" in x), "")
    assert line.startswith("CHÚ Ý tài liệu duty-list của chiến dịch bau-cu-2021: không còn trong cấu hình"), (
        check.stdout + check.stderr
    )
    assert f"sổ còn {documents['duty-list']} bản đã nộp" in line
