"""OCR where offices put it (issue 24): the pictures inside a "scan to Word" .docx, an .odt or a
sheet, read like a scan; OCR's slips in a title or a header forgiven, typed text never; the source
of a row said honestly (photo, fax, scan). Real Tesseract, real LibreOffice (tests/officecases.py)."""

from __future__ import annotations

import dataclasses
import io
import os
import re
import zipfile
from pathlib import Path

import pytest

from mailbot.analysis.readers import ocrjob
from mailbot.analysis.workers import analyse
from tests import officecases, scans
from tests.conftest import build
from tests.officecorpus import Case, available

MISSING = available() or ocrjob.available()
pytestmark = pytest.mark.skipif(
    MISSING is not None and not os.environ.get("CI"), reason=f"office corpus or OCR: {MISSING} (.ci/run installs it)"
)


@pytest.fixture(scope="module")
def corpus() -> dict[str, Case]:
    folder = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "mailbot-offices"
    return {case.name: case for case in officecases.build(folder)}


def numbers(rows: list[dict]) -> list[list[str]]:
    return [[re.sub(r"\D", "", p["text"]) for p in r["phones"]] for r in rows]


def picture_docx(text: str = "", pictures: tuple[bytes, ...] = ()) -> bytes:
    """A .docx as python-docx writes it: `text`, then each picture."""
    import docx

    document = docx.Document()
    if text:
        document.add_paragraph(text)
    for picture in pictures:
        document.add_picture(io.BytesIO(picture))
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def with_media(docx_bytes: bytes, replace: dict[str, bytes]) -> bytes:
    """The same .docx with some of its word/media/ members' bytes replaced."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(docx_bytes)) as old, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as new:
        for info in old.infolist():
            new.writestr(info, replace.get(info.filename, old.read(info)))
    return out.getvalue()


def analysed(config, data: bytes, name: str = "Scan_DS.docx", subject: str = "Danh sách trực"):  # noqa: ANN001, ANN201
    return analyse(build(sender="kt@vnpt.vn", subject=subject, files=((name, data),)), "test", None, config)


# -- abuse first: pictures inside office files -----------------------------------------------------


def test_a_typed_letter_with_a_large_picture_is_not_read_by_ocr(config) -> None:
    """A letter of its own text with a photo in it (a letterhead, an illustration): its text is the
    document; its pictures are not read (OCR costs seconds and would add noise)."""
    letter = "Kính gửi Sở Thông tin và Truyền thông. " * 10
    env = analysed(config, picture_docx(letter, (scans.duty_list().jpeg(),)))
    att = env.parsed.attachments[0]
    assert att.ocr is None and env.duty_rows.get("duty-list") == []


def test_a_picture_bomb_inside_a_docx_ends_with_a_reason(config) -> None:
    """A .docx whose picture declares 100,000 × 100,000 pixels: refused by the OCR child, the
    message goes on with the reason recorded."""
    small = picture_docx("", (scans.duty_list().jpeg(),))
    with zipfile.ZipFile(io.BytesIO(small)) as zf:
        media = next(n for n in zf.namelist() if n.startswith("word/media/"))
    bomb = scans.huge_png()
    bomb += b"\0" * max(0, ocrjob.MIN_PICTURE_BYTES - len(bomb))  # as large as a page would be
    env = analysed(config, with_media(small, {media: bomb}))
    att = env.parsed.attachments[0]
    assert any("ảnh quá lớn" in d for d in att.defects), att.defects
    assert env.duty_rows.get("duty-list") == []


def test_pictures_that_are_not_pictures_and_logos_are_no_pages(config) -> None:
    """Noise named image1.jpeg and a small logo: nothing read, nothing invented, no failure."""
    from PIL import Image

    logo = io.BytesIO()
    Image.new("RGB", (120, 60), "navy").save(logo, "PNG")
    small = picture_docx("", (scans.duty_list().jpeg(), logo.getvalue()))
    with zipfile.ZipFile(io.BytesIO(small)) as zf:
        media = sorted(n for n in zf.namelist() if n.startswith("word/media/") and zf.getinfo(n).file_size > 20_000)
    env = analysed(config, with_media(small, {media[0]: os.urandom(60_000)}))
    att = env.parsed.attachments[0]
    assert att.ocr is not None and att.ocr["pages"] == 0 and att.ocr["rows"] == []
    assert env.duty_rows.get("duty-list") == [] and not att.defects


def test_pictures_beyond_max_ocr_pages_are_not_read(config) -> None:
    """A .docx of three pictures with max_ocr_pages = 1: the largest one read, the rest said."""
    pages = (scans.duty_list().jpeg(), scans.plan_page().jpeg(quality=50), scans.plan_page().jpeg(quality=40))
    env = analysed(dataclasses.replace(config, max_ocr_pages=1), picture_docx("", pages))
    att = env.parsed.attachments[0]
    assert (att.ocr["pages"], att.ocr["skipped"]) == (1, 2)
    assert "bản quét có hơn 1 ảnh: chỉ đọc 1 ảnh lớn nhất" in att.defects
    assert numbers(env.duty_rows["duty-list"]) == [[re.sub(r"\D", "", p[2])] for p in scans.PEOPLE]


def test_with_ocr_off_a_scan_to_word_is_recorded_unread(config) -> None:
    env = analysed(dataclasses.replace(config, max_ocr_pages=0), picture_docx("", (scans.duty_list().jpeg(),)))
    assert env.parsed.attachments[0].ocr is None and env.duty_rows.get("duty-list") == []


# -- class 7: scan to Word ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["scan to Word .docx", "scan to Word, saved as .odt", "picture pasted in a sheet .xlsx"]
)
def test_a_scan_to_word_is_read_like_a_scan(corpus, config, name) -> None:
    """A copier's "scan to Word" .docx (Writer's .odt of it, a picture pasted in a sheet): every
    number right, every row marked as read from a scan, names with at most one OCR slip."""
    case = corpus[name]
    env = analyse(case.raw, "test", None, config)
    rows = env.duty_rows["duty-list"]
    assert (env.disposition, env.documents) == ("submission", ["duty-list"])
    assert numbers(rows) == [[p.digits] for p in case.people]
    assert all(r["origin"] == "ocr" and r["source"].endswith("(bản quét)") and not r["problems"] for r in rows)
    assert sum(r["name"] == p.name for r, p in zip(rows, case.people)) >= len(case.people) - 1
    # the duty dates ("22/5 - 23/5/2021") stay dates: no cell but a telephone's is read as digits only
    assert all("/" in r["duty_time"] and not r["duty_time"].isdigit() for r in rows), [r["duty_time"] for r in rows]


# -- class 3: one OCR slip --------------------------------------------------------------------------


def test_ocr_slips_are_forgiven_in_ocr_text_only() -> None:
    """A title read "PHƯƠNG ÁM" or "BẢO ĐẢM THÔNG TlN" is a plan when OCR read it; typed, it is not
    (a typed "PHUONG AM" stays what it says). Short keywords ("PA") and a person's name "Phương Anh"
    are never loosened into a plan."""
    from mailbot.analysis.documents import _type_by_content
    from mailbot.analysis.textnorm import Keyword, words

    keywords = {"plan": tuple(Keyword.parse(k) for k in ("phương án", "PA", "bảo đảm thông tin"))}
    for slip in ("PHƯƠNG ÁM bảo đảm TTLL", "PHƯƠNG AN", "Kế hoạch BẢO ĐẢM THÔNG TlN"):
        assert _type_by_content(slip, keywords) in (None, "plan")
        assert _type_by_content(slip, keywords, tolerant=True) == "plan", slip
    assert _type_by_content("PHƯƠNG ÁM", keywords) is None  # typed: as it is
    for other in ("Danh sách: Nguyễn Thị Phương Anh", "PB số 12", "phương tiện"):
        assert _type_by_content(other, keywords, tolerant=True) is None, other
    assert Keyword.parse("PA").find(words("PB"), tolerant=True) == -1


def test_header_words_read_with_slips_are_found_in_ocr_tables_only() -> None:
    from mailbot.analysis.dutylist import find_header

    table = [["STT", "Họ và tèn", "Chức vu", "Sô điện thoai"], ["1", "Trần Văn Nam", "Chuyên viên", "0912 345 678"]]
    slipped = [["STT", "Họ và tcn", "Chức vụ", "Số điện thoạl"], ["1", "Trần Văn Nam", "Chuyên viên", "0912 345 678"]]
    assert find_header(table) is not None  # folding alone forgives a lost or wrong diacritic
    assert find_header(slipped) is None  # typed: "tcn" is not "tên"
    assert find_header(slipped, tolerant=True) == (0, {0: "no", 1: "name", 2: "position", 3: "phone"})


def test_a_header_cell_cut_by_a_stray_line_is_one_column_again() -> None:
    from mailbot.analysis.dutylist import rejoined, rows_of

    table = [
        ["DANH SÁCH CÁN BỘ TRỰC"],
        ["STT", "Họ và tên", "Chức vụ", "Số điện thoạ", "ị", "Thời gian trực"],
        ["1", "Trần Văn Nam", "Chuyên viên", "0912.345.6", "78", "22/5"],
        ["2", "Lê Thị Lan", "Nhân viên", "0913 123 456", "", "22/5"],
        ["3", "Võ Văn Em", "Tổ trưởng", "0918 246 802", "", "23/5"],
    ]
    assert rejoined(table)[1] == ["STT", "Họ và tên", "Chức vụ", "Số điện thoạị", "Thời gian trực"]
    rows = rows_of(table, "scan", tolerant=True)
    assert [(r.name, r.phones[0].e164, r.duty_time) for r in rows] == [
        ("Trần Văn Nam", "+84912345678", "22/5"),
        ("Lê Thị Lan", "+84913123456", "22/5"),
        ("Võ Văn Em", "+84918246802", "23/5"),
    ]
    # two labels side by side stay two columns; a piece whose column holds data stays its own
    two = [["Họ và tên", "Chức", "vụ", "Số điện thoại"], ["Trần Văn Nam", "Chuyên", "viên chính", "0912 345 678"]]
    assert rejoined(two) == two
    assert rejoined([r[:3] + r[4:] for r in table]) == [r[:3] + r[4:] for r in table]


@pytest.mark.parametrize("name", ["scanned plan, smudged title", "scanned list, stray rule"])
def test_one_ocr_slip_no_longer_defeats_typing(corpus, config, name) -> None:
    """A scanned plan whose smudged title Tesseract reads "PHƯƠNG AM" is a plan; a scanned list whose
    header a stray line cuts through the last letter of "Số điện thoại" gives its ten people (a digit
    the line ate is flagged, never wrong)."""
    case = corpus[name]
    env = analyse(case.raw, "test", None, config)
    assert (env.disposition, env.documents) == ("submission", case.documents)
    rows = env.duty_rows.get("duty-list", [])
    assert len(rows) == len(case.people)
    for row, person in zip(rows, case.people):
        assert row["problems"] or numbers([row]) == [[person.digits]], row
    assert sum(not r["problems"] for r in rows) >= len(rows) * 0.9


# -- what a picture was, said honestly ----------------------------------------------------------------


def test_a_fax_a_phone_photo_and_a_scan_are_told_apart() -> None:
    """A fax's resolution (204 × 196, 204 × 98), a camera's EXIF (its make, or a turn to apply), and
    anything else a scan: the roster and the acknowledgement say which one was read."""
    from PIL import Image

    from mailbot.analysis.readers.pageimage import origin

    def saved(fmt: str, **options) -> Image.Image:  # noqa: ANN003
        out = io.BytesIO()
        Image.new("L" if fmt == "TIFF" else "RGB", (800, 600), "white").save(out, fmt, **options)
        return Image.open(io.BytesIO(out.getvalue()))

    exif = Image.Exif()
    exif[0x010F] = "samsung"
    turned = Image.Exif()
    turned[0x0112] = 6
    assert origin(saved("TIFF", dpi=(204, 196)), photo=True) == "fax"
    assert origin(saved("TIFF", dpi=(204, 98)), photo=True) == "fax"
    assert origin(saved("JPEG", exif=exif.tobytes()), photo=True) == "photo"
    assert origin(saved("JPEG", exif=turned.tobytes()), photo=True) == "photo"
    assert origin(saved("JPEG", dpi=(200, 200)), photo=True) == "scan"
    assert origin(saved("TIFF", dpi=(300, 300)), photo=True) == "scan"
    assert origin(saved("JPEG", exif=exif.tobytes()), photo=False) == "scan"  # a PDF page is a scan


@pytest.mark.parametrize(
    "source, label", [("photo", "ảnh chụp"), ("fax", "bản fax"), ("scan", "bản quét"), (None, "bản quét")]
)
def test_rows_say_whether_a_photo_a_fax_or_a_scan_was_read(source, label) -> None:
    from mailbot.analysis.rosters import _file_rows
    from mailbot.envelope import Attachment

    att = Attachment("IMG_0001.jpg", "image/jpeg", b"x" * 30_000, kind="jpeg")
    att.ocr = {
        "rows": [["Họ và tên", "Số điện thoại"], ["Trần Văn Nam", "0912 345 678"], ["Lê Thị Lan", "0913 123 456"]],
        "uncertain": ["0913123456"],
    }
    if source:
        att.ocr["source"] = source
    rows = _file_rows(att)
    assert [r.source for r in rows] == [f"IMG_0001.jpg ({label})"] * 2
    assert rows[0].problems == [] and rows[1].problems == [
        f"0913 123 456: số đọc từ {label} chưa chắc chắn: cần đối chiếu bản gốc"
    ]
