"""RAR archives as carriers send them: compressed members (RAR 4 and RAR 5, solid or not) read
exactly, password-protected ones named, hostile ones bounded. The archives in
tests/fixtures/files/rar/ are rarfile's own test files (ISC licence, notice beside them), made by
RARLAB's rar: each member is the 512 lines "000" to "511"."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mailbot.analysis.readers import archives
from mailbot.analysis.workers import analyse
from mailbot.envelope import Attachment, Envelope
from tests import rarpack
from tests.conftest import build
from tests.formats import NAMES, cp1258, duty_xlsx, rar_stored
from tests.tools import needs

pytestmark = needs("libarchive")
RAR = Path(__file__).parent / "fixtures" / "files" / "rar"
LINES = b"".join(b"%03d\n" % i for i in range(512))  # what every test member holds


def analysed(config, name: str, data: bytes) -> Envelope:
    return analyse(build(sender="kt@vnpt.vn", subject="Gửi Sở", files=((name, data),)), "test", None, config)


def members(env: Envelope) -> dict[str, Attachment]:
    return {a.filename: a for a in env.parsed.attachments if a.container}


def defects(env: Envelope) -> list[str]:
    return [d for a in env.parsed.attachments for d in a.defects]


@pytest.mark.parametrize(
    "name",
    [
        "seektest.rar",  # RAR 4 (format 2.9), best compression, not solid
        "rar5-crc.rar",  # RAR 5, normal compression, CRC32
        "rar5-solid.rar",  # RAR 5, solid
    ],
)
def test_compressed_members_are_read_exactly(config, name) -> None:
    env = analysed(config, "DS truc.rar", (RAR / name).read_bytes())
    found = members(env)
    assert sorted(found) == ["stest1.txt", "stest2.txt"], defects(env)
    for member in found.values():
        assert member.data == LINES, member.filename
    assert not defects(env)


@pytest.mark.parametrize("version", ["rar4", "rar5"])
def test_a_duty_list_in_a_compressed_rar_is_read(config, version) -> None:
    data = getattr(rarpack, version)({"Danh sách trực/DS trực VNPT.xlsx": duty_xlsx()})
    entry = next(iter(archives.rar_entries(data)))
    assert entry.packed > 0 and entry.size == len(duty_xlsx())
    env = analysed(config, "DS truc VNPT.rar", data)
    assert env.documents == ["duty-list"], (env.reasons, defects(env))
    assert {row["name"] for row in env.duty_rows["duty-list"]} == NAMES
    assert members(env)["Danh sách trực/DS trực VNPT.xlsx"].kind == "xlsx"


def test_a_compressed_rar4_member_is_compressed_and_read(config) -> None:
    """The fixture does test compression: the member takes 90 bytes in the archive for 2,048 unpacked."""
    entries = list(archives.rar_entries((RAR / "seektest.rar").read_bytes()))
    first = entries[0]
    assert (first.name, first.size, first.packed) == ("stest1.txt", 2048, 90)
    assert first.read(10_000) == LINES


@pytest.mark.parametrize("name", ["rar5-psw.rar", "rar3-comment-psw.rar"])
def test_password_protected_members_are_named_not_read(config, name) -> None:
    env = analysed(config, "DS truc.rar", (RAR / name).read_bytes())
    assert not members(env)
    assert any("có mật khẩu" in d for d in defects(env)), defects(env)


def test_a_rar_whose_list_of_files_is_encrypted_says_so(config) -> None:
    env = analysed(config, "DS truc.rar", (RAR / "rar5-hpsw.rar").read_bytes())
    assert not members(env)
    assert any("có mật khẩu" in d for d in defects(env)), defects(env)


def test_a_solid_rar4_is_read_or_says_why_not(config) -> None:
    """libarchive before 3.7 does not unpack solid RAR 4 archives past the first member: the rest
    is named, never silently dropped."""
    env = analysed(config, "DS truc.rar", (RAR / "rar3-solid.rar").read_bytes())
    found = members(env)
    assert found["stest1.txt"].data == LINES
    if "stest2.txt" in found:
        assert found["stest2.txt"].data == LINES
    else:
        assert any("stest2.txt" in d and "solid" in d for d in defects(env)), defects(env)


def test_a_member_named_in_a_legacy_code_page_is_read(config) -> None:
    """A name without RAR's Unicode flag: rarfile and libarchive decode it differently."""
    name = cp1258("DS trực ĐT.txt").decode("cp1258")  # as Windows writes it: tones as combining marks
    env = analysed(config, "DS truc.rar", rar_stored({name: LINES}, encoding="cp1258"))
    [member] = members(env).values()
    assert member.data == LINES, defects(env)
    assert member.filename == "DS trực ĐT.txt"  # rarfile alone gave "卄琠㽲⁣哐琮瑸"


def test_members_whose_names_differ_only_in_vietnamese_letters_are_not_confused(config) -> None:
    """The first is passed over (it declares 1 GiB): the second must not be given the first's bytes."""
    first, second = cp1258("Đ.txt").decode("cp1258"), cp1258("ư.txt").decode("cp1258")
    data = rar_stored({first: b"x" * 1000, second: LINES}, declared={first: 1 << 30}, encoding="cp1258")
    env = analysed(config, "DS truc.rar", data)
    assert members(env)["ư.txt"].data == LINES, defects(env)


# -- hostile ----------------------------------------------------------------------------------------------
def test_a_read_is_bounded_whatever_the_member_declares() -> None:
    for data in ((RAR / "seektest.rar").read_bytes(), rar_stored({"a.txt": LINES}, declared={"a.txt": 10})):
        entry = next(iter(archives.rar_entries(data)))
        assert len(entry.read(100)) == 101  # limit + 1: the caller sees it is larger


def test_a_member_declaring_a_gigabyte_is_never_unpacked(config) -> None:
    data = rar_stored({"DS truc.xlsx": b"x" * 1000}, declared={"DS truc.xlsx": 1 << 30})
    env = analysed(config, "DS truc.rar", data)
    assert not members(env)
    assert any("nghi là bom nén" in d for d in defects(env)), defects(env)


def test_a_compressed_bomb_declaring_its_gigabyte_is_never_unpacked(config) -> None:
    data = rarpack.rar5_bomb("DS truc.xlsx", 1 << 30, declare=1 << 30)
    assert len(data) < 100_000
    env = analysed(config, "DS truc.rar", data)
    assert not members(env)
    assert any("nghi là bom nén" in d for d in defects(env)), defects(env)


def test_a_compressed_bomb_declaring_a_kilobyte_stops_with_a_reason(config) -> None:
    data = rarpack.rar5_bomb("DS truc.xlsx", 16 << 20, declare=1000)
    env = analysed(config, "DS truc.rar", data)
    assert not members(env)
    assert any("không giải nén được 'DS truc.xlsx'" in d for d in defects(env)), defects(env)


def test_a_rar_of_many_members_is_read_up_to_the_budget(config) -> None:
    data = rar_stored({f"f{i}.txt": b"%d" % i for i in range(300)})
    env = analysed(config, "DS truc.rar", data)
    assert len(members(env)) == 200
    assert any("quá nhiều tệp" in d for d in defects(env)), defects(env)


def test_a_cut_rar_ends_with_a_reason(config) -> None:
    data = (RAR / "rar5-crc.rar").read_bytes()[:1200]
    env = analysed(config, "DS truc.rar", data)
    assert "stest2.txt" not in members(env)
    assert defects(env)


# -- mailbot check -----------------------------------------------------------------------------------------
def test_mailbot_check_says_rar_is_read() -> None:
    from mailbot.staff.checkfiles import check_readers

    line = check_readers()
    assert line.ok and not line.warning and ".rar" in line.detail, str(line)


def test_without_libarchive_mailbot_check_and_the_defect_say_what_to_install(tmp_path) -> None:
    script = (
        "import sys; from mailbot.staff.checkfiles import check_readers; from mailbot.analysis.readers import archives\n"
        "print(check_readers())\n"
        "try:\n    list(archives.rar_entries(open(sys.argv[1], 'rb').read()))\nexcept Exception as exc:\n    print(exc)\n"
    )
    env = {**os.environ, "LIBARCHIVE": str(tmp_path / "libarchive.so.13")}  # libarchive-c loads this one: absent
    done = subprocess.run(
        [sys.executable, "-c", script, str(RAR / "rar5-crc.rar")], env=env, capture_output=True, text=True, timeout=60
    )
    check, defect = done.stdout.strip().splitlines()
    assert "thiếu thư viện libarchive của Debian (apt-get install libarchive13) cho tệp .rar" in check
    assert (
        defect
        == "máy chủ thiếu thư viện libarchive của Debian (apt-get install libarchive13): chưa giải nén được tệp .rar"
    )
