"""Parsing: names decoded, parts walked, archives bounded, defects instead of exceptions."""

from __future__ import annotations

import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from mailbot.analysis import extract
from mailbot.intake.parse import parse_message
from tests.conftest import FIXTURES, build
from tests.hostile import zip_of


def names(raw: bytes) -> list[str]:
    return [a.filename for a in parse_message(raw).attachments]


def test_rfc2231_split_name() -> None:
    assert names((FIXTURES / "06-rfc2231-split-filename.eml").read_bytes()) == [
        "Danh sách trực lãnh đạo ngày bầu cử.xlsx"
    ]


def test_encoded_word_inside_quotes() -> None:
    assert names((FIXTURES / "05-viettelpost-outlook-encoded-word-filename.eml").read_bytes()) == [
        "Phương án bầu cử.docx"
    ]


def test_nfd_name_becomes_nfc() -> None:
    [name] = names((FIXTURES / "08-nfd-filename.eml").read_bytes())
    assert name == unicodedata.normalize("NFC", "Danh sách trực.xlsx")


def test_windows_1258_subject_and_body() -> None:
    msg = parse_message((FIXTURES / "07-windows-1258-subject-types-generic-file.eml").read_bytes())
    assert msg.subject == "Phương án bảo đảm thông tin"
    assert "Kính gửi Sở, gửi kèm phương án." in msg.body_text


def test_attached_message_body_is_not_the_own_body() -> None:
    msg = parse_message((FIXTURES / "23-forwarded-as-attachment.eml").read_bytes())
    assert "Chuyển tiếp" in msg.body_text
    assert "Phương án đính kèm" not in msg.body_text
    assert msg.nested_subjects == ["Phuong an"]
    assert "PA.docx" in [a.filename for a in msg.attachments]


def test_docx_text_is_extracted() -> None:
    msg = parse_message((FIXTURES / "01-vnpt-plan-docx.eml").read_bytes())
    assert "PHƯƠNG ÁN" in msg.attachments[0].text


def test_pdf_text_is_extracted() -> None:
    msg = parse_message((FIXTURES / "02-viettel-plan-pdf-by-content.eml").read_bytes())
    assert "Bảo đảm thông tin liên lạc" in msg.attachments[0].text


def test_broken_base64_is_a_defect_of_the_attachment() -> None:
    msg = parse_message((FIXTURES / "45-broken-base64.eml").read_bytes())
    [att] = msg.attachments
    assert any("base64" in d for d in att.defects)


def test_no_message_id_no_subject() -> None:
    msg = parse_message((FIXTURES / "46-no-message-id-no-subject.eml").read_bytes())
    assert msg.message_id is None and msg.subject == ""


def test_nul_bytes_and_unknown_charset() -> None:
    msg = parse_message((FIXTURES / "47-nul-bytes-unknown-charset.eml").read_bytes())
    assert "\x00" not in msg.subject and "\x00" not in msg.body_text
    assert "Nội dung" in msg.body_text
    assert any("NUL" in d for d in msg.defects)


def test_truncated_message_still_parses() -> None:
    msg = parse_message((FIXTURES / "44-truncated-mime.eml").read_bytes())
    assert msg.message_id == "44.20210329091500@vnpt.vn"
    assert msg.defects


def test_thousand_level_nesting_gives_a_defect_not_an_exception() -> None:
    nested = b"Content-Type: text/plain\r\n\r\nx\r\n"
    for level in range(1000):
        nested = (
            f'Content-Type: multipart/mixed; boundary="n{level}"\r\n\r\n--n{level}\r\n'.encode()
            + nested
            + f"--n{level}--\r\n".encode()
        )
    msg = parse_message(b"From: kt@vnpt.vn\r\nSubject: deep\r\nMessage-ID: <deep@x>\r\n" + nested)
    assert msg.message_id == "deep@x"
    assert msg.subject == "deep"
    assert msg.defects


def test_long_header_is_cut() -> None:
    raw = b"From: kt@vnpt.vn\r\nSubject: x\r\nX-Junk: " + b"a;" * 200_000 + b"\r\n\r\nbody\r\n"
    msg = parse_message(raw)
    assert msg.from_address == "kt@vnpt.vn"
    assert any("X-Junk" in d for d in msg.defects)


def test_display_name_never_supplies_the_address() -> None:
    msg = parse_message((FIXTURES / "43-encoded-display-name-with-address.eml").read_bytes())
    assert msg.from_address == "kt@evil.example"
    assert "kt@vnpt.vn" in msg.from_display


def test_zip_bomb_is_not_unpacked() -> None:
    bomb = zip_of({"PA.docx": b"\0" * (50 * 1024 * 1024)})
    msg = parse_message(build(files=(("hoso.zip", bomb),)))
    archive = msg.attachments[0]
    assert any("bom" in d for d in archive.defects)
    assert [a.filename for a in msg.attachments] == ["hoso.zip"]


def test_nested_zips_are_bounded() -> None:
    inner = zip_of({"PA.docx": b"x"})
    for _ in range(4):
        inner = zip_of({"inner.zip": inner})
    msg = parse_message(build(files=(("a.zip", inner),)))
    assert len(msg.attachments) <= extract.MAX_ARCHIVE_DEPTH + 1
    assert any("lồng" in d for a in msg.attachments for d in a.defects)


def test_member_count_is_capped() -> None:
    many = zip_of({f"f{i}.txt": b"x" for i in range(extract.MAX_MEMBERS + 50)})
    msg = parse_message(build(files=(("many.zip", many),)))
    assert len(msg.attachments) == extract.MAX_MEMBERS + 1


def test_unreadable_document_is_a_defect_of_the_attachment() -> None:
    msg = parse_message(build(files=(("PA.docx", b"PK\x03\x04 not really"),)))
    assert msg.attachments[0].defects
    assert not msg.defects or all("tệp" not in d for d in msg.defects)


def test_parsing_is_deterministic() -> None:
    raw = (FIXTURES / "23-forwarded-as-attachment.eml").read_bytes()
    first, second = parse_message(raw), parse_message(raw)
    assert [(a.filename, a.sha256) for a in first.attachments] == [(a.filename, a.sha256) for a in second.attachments]
    assert "thư đính kèm.eml" in [a.filename for a in first.attachments]


def _slow_message_id(raw: bytes) -> str | None:
    from mailbot.intake import headers

    head = raw[: headers.header_end(raw)]
    return headers.message_id(headers.headers_only(headers.sanitize_headers(head, [])).get("message-id"))


_LINES = st.sampled_from(
    [
        b"Message-ID: <a1@vnpt.vn>",
        b"Message-Id:\t<b2@x>",
        b"message-id: <c3@y> (c)",
        b"Message-ID:",
        b" <d4@z>",
        b"\t<e5@w>",
        b"Message-ID : <f6@v>",
        b"Subject: x",
        b"X-Bad line without colon",
        b"From kt@vnpt.vn Mon",
        b"Received: from a",
        b" by b",
        b": empty name",
        b"Message-ID: <g7@u> <h8@t>",
        b"Message-ID: h9@s",
    ]
)


@given(st.lists(_LINES, max_size=8), st.sampled_from([b"\r\n", b"\n"]), st.booleans())
@settings(max_examples=400, deadline=None)
def test_the_fast_message_id_reads_as_the_header_parser_does(lines, eol, body) -> None:
    from mailbot.intake.headers import header_message_id

    raw = eol.join(lines) + eol + (eol + b"Message-ID: <in-body@x>" + eol if body else b"")
    assert header_message_id(raw) == _slow_message_id(raw)
