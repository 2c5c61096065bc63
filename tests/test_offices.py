"""Documents as real offices make them (issue 24), from the office corpus (tests/officecases.py:
written by LibreOffice, then scanned, faxed, photographed or pasted into Outlook). Each class is
read as a clerk would read it: the documents typed right, every person on the list exactly, none
invented, and never a wrong number shown as clean. bench/offices.py prints the same figures."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from mailbot.analysis.workers import analyse
from tests import officecases
from tests.officecorpus import Case
from tests.tools import needs

pytestmark = needs("libreoffice", "liberation", "poppler")


@pytest.fixture(scope="module")
def corpus() -> dict[str, Case]:
    folder = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "mailbot-offices"
    return {case.name: case for case in officecases.build(folder)}


def read(case: Case, config) -> tuple[list[str], list[dict], str]:  # noqa: ANN001
    env = analyse(case.raw, "test", None, config)
    return sorted(env.documents), env.duty_rows.get("duty-list", []), env.disposition or ""


def check_rows(case: Case, rows: list[dict]) -> None:
    """Every person exactly (name, number, no problem), in order, and nobody else."""
    got = [(r["name"], [re.sub(r"\D", "", p["text"]) for p in r["phones"]], r["problems"]) for r in rows]
    assert got == [(p.name, [p.digits], []) for p in case.people]


@pytest.mark.parametrize(
    "name",
    [
        "Writer .docx list",
        "Writer PDF, 2 pages, wrapped",
        "xls two-row header",
        "csv, undiacritised header",
        "Outlook pasted table",
        "TCVN3 HTML table",
        "TCVN3 plain text",
    ],
)
def test_a_duty_list_is_read_whole(corpus, config, name) -> None:
    documents, rows, disposition = read(corpus[name], config)
    assert (disposition, documents) == ("submission", ["duty-list"])
    check_rows(corpus[name], rows)


@pytest.mark.parametrize("name", ["Writer .docx plan", "plan title in a text box", "plan title in the page header"])
def test_a_plan_is_typed_by_its_title_wherever_word_put_it(corpus, config, name) -> None:
    documents, _, disposition = read(corpus[name], config)
    assert (disposition, documents) == ("submission", ["plan"])


@needs("tesseract")
@pytest.mark.parametrize("name", ["photo exif", "photo sideways", "fax G4 204x196"])
def test_a_photo_and_a_fax_are_read_like_a_scan(corpus, config, name) -> None:
    """A phone photo on a desk, sideways with EXIF Orientation=6 or turned with no tag, and a G4 fax at
    204 x 196 dpi: every number right and nobody invented (names may carry OCR's slips: each row is
    marked as read from a scan, and its number is the fact the roster relies on)."""
    case = corpus[name]
    documents, rows, disposition = read(case, config)
    assert (disposition, documents) == ("submission", ["duty-list"])
    assert [[re.sub(r"\D", "", p["text"]) for p in r["phones"]] for r in rows] == [[p.digits] for p in case.people]
    assert all(r["origin"] == "ocr" for r in rows)
    assert sum(r["name"] == p.name for r, p in zip(rows, case.people)) >= len(case.people) - 1


def test_a_wrapped_cell_is_one_cell_and_a_page_break_is_not_a_person(corpus, config) -> None:
    """A Writer table over two pages, its header repeated, names and positions that wrap: the
    continuation lines join their rows (34 people, nobody named "thuật" or "23/5/2021")."""
    case = corpus["Writer PDF, 2 pages, wrapped"]
    _, rows, _ = read(case, config)
    assert len(rows) == 34
    assert {r["position"] for r in rows} <= {p.role for p in case.people}
    assert all(r["unit"] in {p.unit for p in case.people} for r in rows)


def test_only_the_legacy_lines_of_a_mixed_body_are_converted() -> None:
    """A greeting typed in Unicode over a table pasted from a .VnTime document: the table is
    converted, the greeting (and ordinary Vietnamese, French, symbols) left alone."""
    from mailbot.analysis import legacyfonts
    from tests.officecorpus import tcvn3

    greeting = "Kính gửi Sở Thông tin và Truyền thông, đơn vị gửi danh sách trực:"
    rows = ["1 | Ngô Hoài Mười | Chuyên viên | 0812.415.920", "5 | Lý Thanh Hiếu | Nhân viên | 0980094425"]
    text, found = legacyfonts.fix_lines("\n".join([greeting, *map(tcvn3, rows), "Trân trọng."]))
    assert (text, found) == ("\n".join([greeting, *rows, "Trân trọng."]), "tcvn3")
    for ordinary in (greeting, "Café crème à 5 € — « très » bien ±2°", "Giá: 50.000đ ©2021"):
        assert legacyfonts.fix_lines(ordinary) == (ordinary, None)


def test_a_plan_sent_as_a_drive_link_says_the_link_is_there(config) -> None:
    """No file, only a link: not a submission (nothing was received), and staff are told where to look."""
    from tests.conftest import build, classify

    body = (
        "Kính gửi Sở TTTT,\nViettel Đồng Tháp gửi phương án bảo đảm TTLL tại đường dẫn:\n"
        "https://drive.google.com/file/d/1AbC/view?usp=sharing\nvà bản dự phòng https://1drv.ms/w/s!Ab12\n"
    )
    env = classify(build(sender="kt@viettel.com.vn", subject="Phương án bảo đảm TTLL", body=body), config)
    assert env.disposition == "correspondence" and env.documents == []
    note = next(r for r in env.reasons if "đường dẫn" in r)
    assert "drive.google.com, 1drv.ms" in note
    lookalike = build(sender="kt@viettel.com.vn", subject="Gửi Sở", body="Xem https://drive.google.com.evil.example/x")
    assert not any("đường dẫn" in r for r in classify(lookalike, config).reasons)
