"""Every shape carriers send besides plain attachments: winmail.dat and .msg, .7z and .rar, old
Word and RTF files (Unicode and TCVN3), files whose name lies or is missing, and free-form lists
in the body. Each is classified and its duty list read, through the same path as the daemon's
workers (workers.analyse)."""

from __future__ import annotations

import io
import sys
import zipfile

import pytest

from mailbot.analysis import legacyfonts
from mailbot.analysis.readers import word97
from mailbot.analysis.workers import analyse
from mailbot.envelope import Envelope
from tests.conftest import build
from tests.formats import (
    FILES,
    NAMES,
    duty_xlsx,
    outlook_msg,
    plan_docx,
    rar_stored,
    sevenzip,
    winmail_dat,
)
from tests.tools import needs

DUTY_SUBJECT = "Danh sách cán bộ trực bầu cử"


def analysed(
    config, files: tuple[tuple[str, bytes], ...], subject: str | None = DUTY_SUBJECT, body: str = "Kính gửi Sở."
) -> Envelope:
    return analyse(build(sender="kt@vnpt.vn", subject=subject, body=body, files=files), "test", None, config)


def names(env: Envelope, doc: str = "duty-list") -> set[str]:
    return {row["name"] for row in env.duty_rows.get(doc, [])}


def phones(env: Envelope) -> set[str]:
    return {p["display"] for row in env.duty_rows["duty-list"] for p in row["phones"]}


def test_a_plan_wrapped_by_outlook_in_winmail_dat_is_found(config) -> None:
    env = analysed(
        config, (("winmail.dat", winmail_dat({"Phương án bầu cử.docx": plan_docx()})),), subject="Gửi tài liệu"
    )
    assert env.disposition == "submission" and env.documents == ["plan"]
    member = next(a for a in env.parsed.attachments if a.container == "winmail.dat")
    assert member.filename == "Phương án bầu cử.docx" and member.kind == "docx"


def test_a_duty_list_in_an_attached_outlook_msg_is_read(config) -> None:
    env = analysed(config, (("Fw DS truc.msg", outlook_msg({"DS truc VNPT.xlsx": duty_xlsx()})),))
    assert env.documents == ["duty-list"] and names(env) == NAMES
    assert phones(env) == {"0912 345 678", "0913 123 456", "0987 654 321"}


def test_without_the_outlook_extra_a_msg_is_kept_and_check_says_what_to_install(config, monkeypatch) -> None:
    from mailbot.staff.checkfiles import check_readers

    monkeypatch.setitem(sys.modules, "extract_msg", None)  # as after `pip install mailbot` without [outlook]
    env = analysed(config, (("Fw DS truc.msg", outlook_msg({"DS truc VNPT.xlsx": duty_xlsx()})),))
    [msg] = env.parsed.attachments
    assert msg.kind == "msg"  # still known for what it is (olefile is in the core)
    wanted = "máy chủ chưa cài thư viện đọc thư Outlook .msg (pip install 'mailbot[outlook]'): không mở được"
    assert wanted in msg.defects, msg.defects
    line = check_readers()
    assert line.warning and "extract_msg (pip install 'mailbot[outlook]')" in line.detail, line


@pytest.mark.parametrize("archive", ["7z", pytest.param("rar", marks=needs("libarchive"))])
def test_a_duty_list_in_a_7z_or_rar_archive_is_read(config, archive) -> None:
    members = {"Danh sach truc/DS truc.xlsx": duty_xlsx()}
    data = sevenzip(members) if archive == "7z" else rar_stored(members)
    env = analysed(config, ((f"DS truc VNPT.{archive}", data),))
    assert env.documents == ["duty-list"] and names(env) == NAMES


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("ds-truc-unicode.doc", marks=needs("antiword")),  # .doc files are read by Debian's antiword
        pytest.param("ds-truc-tcvn3.doc", marks=needs("antiword")),
        "ds-truc-unicode.rtf",
        "ds-truc-tcvn3.rtf",
        "ds-truc-tcvn3.docx",
    ],
)
def test_old_word_rtf_and_tcvn3_duty_lists_are_read_in_unicode(config, name) -> None:
    env = analysed(config, ((name, (FILES / name).read_bytes()),), subject="Gửi Sở")
    assert env.documents == ["duty-list"], env.reasons  # typed by its content: the title in the file
    found = names(env)
    # antiword and PDF rendering drop TCVN3's "ư" (a soft hyphen, 0xAD): "Trưởng" reads "Trởng" there
    assert found == NAMES, found
    assert phones(env) == {"0912 345 678", "0913 123 456", "0987 654 321"}
    attachment = env.parsed.attachments[0]
    assert "DANH SÁCH CÁN BỘ TRỰC".lower() in attachment.text.lower()


def test_a_docx_with_no_name_or_a_lying_one_is_typed_by_its_bytes(config) -> None:
    for name in ("ATT00001.bin", "(không tên)", "Phuong an.zip"):
        env = analysed(config, ((name, plan_docx()),), subject="Gửi tài liệu")
        assert env.documents == ["plan"], (name, env.reasons)
        [att] = env.parsed.attachments  # a .docx package is a document, never opened as a zip
        assert att.kind == "docx"


def test_the_acknowledgement_names_a_file_by_what_it_is(tmp_path, smtp_server) -> None:
    from tests.conftest import deliver, mailbot, write_config

    recorder, port = smtp_server
    path = write_config(tmp_path, port)
    deliver(
        tmp_path, build(sender="kt@vnpt.vn", subject="Gửi tài liệu", files=(("ATT00001.bin", plan_docx()),)), "1.eml"
    )
    done = mailbot("run", "--config", str(path), "--once")
    assert done.returncode == 0, done.stderr
    [ack] = recorder.parsed()
    text = ack.get_body(preferencelist=("plain",)).get_content()
    assert "ATT00001.bin (Word .docx)" in text and "[Content_Types].xml" not in text


FREE_FORM = """Kính gửi Sở Thông tin và Truyền thông,
Viễn thông Đồng Tháp xin gửi danh sách cán bộ trực như sau:
1/ Đ/c Trần Văn Nam, Phó Giám đốc, DĐ: 0912.345.678
2/ Bà Nguyễn Thị Lan - Chuyên viên - 0913 123 456
- Ông Lê Văn Hùng, Trưởng phòng, ĐT: 0987 654 321
a) Chị Võ Thị Em\tNhân viên\tMobile: 0918123456
Trân trọng,
Nguyễn Văn Kỹ
Phòng Kỹ thuật - ĐT: 0913 000 111
"""


def test_a_free_form_list_in_the_body_is_read_without_honorifics_or_signature(config) -> None:
    env = analysed(config, (), body=FREE_FORM)
    assert env.documents == ["duty-list"]
    rows = {row["name"]: row for row in env.duty_rows["duty-list"]}
    assert set(rows) == {"Trần Văn Nam", "Nguyễn Thị Lan", "Lê Văn Hùng", "Võ Thị Em"}  # not the signature
    assert rows["Trần Văn Nam"]["position"] == "Phó Giám đốc"
    assert rows["Võ Thị Em"]["phones"][0]["display"] == "0918 123 456"
    assert all(not row["problems"] for row in rows.values())


@pytest.mark.parametrize(
    "line, name, position",
    [
        ("1. Ông Phạm Văn Tú, Kỹ thuật viên, SĐT: 0909 111 222", "Phạm Văn Tú", "Kỹ thuật viên"),
        ("2) đồng chí Huỳnh Minh Trí – Tổ trưởng – Điện thoại: 0919.888.777", "Huỳnh Minh Trí", "Tổ trưởng"),
        ("+ Anh Đỗ Văn Bình (Trực ca đêm): 0977 333 444", "Đỗ Văn Bình", "Trực ca đêm"),
        ("Lê Thị Mai | Chuyên viên | 0903456789", "Lê Thị Mai", "Chuyên viên"),
        ("Đ/c Nguyễn Văn Bảy - PGĐ - DĐ 0903 123 457", "Nguyễn Văn Bảy", "PGĐ"),  # "Đ/" is no list marker
        ("3- Trần Thị Cúc, NV kỹ thuật: 0903.123.458", "Trần Thị Cúc", "NV kỹ thuật"),
        ("1. Nguyễn Văn Tèo (Giám đốc) - 0903123456", "Nguyễn Văn Tèo", "Giám đốc"),
    ],
)
def test_each_shape_of_a_typed_line(line, name, position) -> None:
    from mailbot.analysis.dutylist import body_rows

    [row] = body_rows(line)
    assert (row.name, row.position, len(row.phones)) == (name, position, 1) and not row.problems


def test_an_unreadable_list_is_in_the_roster_as_sent_but_unread(tmp_path, smtp_server) -> None:
    from mailbot import config as configmod
    from mailbot.register.store import Store
    from mailbot.staff import roster
    from tests.conftest import deliver, mailbot, write_config

    recorder, port = smtp_server
    path = write_config(tmp_path, port)
    picture = sevenzip({"DS truc.jpg": b"\xff\xd8\xff\xe0" + b"\x00" * 100})  # a photo: nothing to read yet
    deliver(tmp_path, build(sender="kt@vnpt.vn", subject=DUTY_SUBJECT, files=(("DS truc.7z", picture),)), "1.eml")
    assert mailbot("run", "--config", str(path), "--once").returncode == 0
    config = configmod.load(path)
    store = Store(config.state_dir)
    try:
        campaign, doc = roster.roster_document(config, None)
        rows = roster.flat_rows(roster.gather(config, store, campaign, doc))
    finally:
        store.close()
    [vnpt] = [r for r in rows if r["organization"] == "Viễn thông Đồng Tháp"]
    assert vnpt["problems"] == "đã gửi, chưa đọc được danh sách" and vnpt["receipt"]
    text = recorder.parsed()[0].get_body(preferencelist=("plain",)).get_content()
    assert "Chưa đọc được họ tên và số điện thoại trong danh sách trực" in text


def test_legacy_text_is_converted_only_when_it_is_legacy() -> None:
    assert legacyfonts.fix("Ph\xad¬ng ¸n b¶o ®¶m th«ng tin")[0] == "Phương án bảo đảm thông tin"
    assert legacyfonts.fix("Phöông aùn baûo ñaûm thoâng tin")[0] == "Phương án bảo đảm thông tin"
    for text in ("Phương án bảo đảm thông tin", "Café, naïve, São Paulo, Zürich", "Giá: 100 000 ₫ (±5%)"):
        assert legacyfonts.fix(text) == (text, None)


@needs("antiword")
def test_a_doc_that_the_converter_cannot_finish_in_time_is_a_defect(config, monkeypatch) -> None:
    # A .doc that hangs antiword could not be made here; its time limit is shown with a real file
    # and a limit no conversion meets.
    monkeypatch.setattr(word97, "ANTIWORD_SECONDS", 0)
    env = analysed(config, (("ds-truc.doc", (FILES / "ds-truc-unicode.doc").read_bytes()),), subject="Gửi Sở")
    [att] = env.parsed.attachments
    assert att.text == "" and "đọc tệp Word .doc quá 0 giây: bỏ qua nội dung" in att.defects


def test_zip_names_inside_are_not_listed_as_files_for_a_mangled_docx_name(config) -> None:
    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w") as zf:
        zf.writestr("DS truc.xlsx", duty_xlsx())
    env = analysed(config, (("ho so.zip", packed.getvalue()), ("PA.docx_", plan_docx())), subject="Gửi tài liệu")
    listed = {a.filename for a in env.parsed.attachments}
    assert listed == {"ho so.zip", "DS truc.xlsx", "PA.docx_"} and set(env.documents) == {"plan", "duty-list"}
