"""What a tester with a fresh eye found in the duty-list readers (issue 24's review), one test each:
hidden rows and columns, a column of old numbers, hidden Word text, a landline column, two numbers
on two lines of a cell, the signature block as people, a duty list named "Phương án trực", two
people on one typed line. Each is a wrong number or an invented person shown as clean before."""

from __future__ import annotations

import io
import re

import openpyxl

from mailbot.analysis.dutylist import SEVERAL_PEOPLE
from mailbot.analysis.workers import analyse
from tests.conftest import build

PEOPLE = [("Nguyễn Văn Dũng", "Giám đốc", "0913 123 456"), ("Trần Thị Ngọc Huyền", "Phó Giám đốc", "0918 234 567")]


def rows_of(config, files=(), body="Kính gửi Sở.", subject="Danh sách trực") -> tuple[list[str], list[tuple]]:
    env = analyse(build(sender="kt@vnpt.vn", subject=subject, body=body, files=files), "t", None, config)
    rows = env.duty_rows.get("duty-list", [])
    return env.documents, [
        (r["name"], [re.sub(r"\D", "", p["text"]) for p in r["phones"]], r["problems"]) for r in rows
    ]


def workbook(header: list[str], rows: list[list[str]]) -> openpyxl.Workbook:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["DANH SÁCH CÁN BỘ TRỰC BẦU CỬ"])
    ws.append(header)
    for row in rows:
        ws.append(row)
    return wb


def saved(wb: openpyxl.Workbook) -> bytes:
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def test_hidden_rows_and_columns_of_a_workbook_are_nobody(config) -> None:
    """A clerk opening the file sees neither the hidden row nor the hidden column of old numbers."""
    wb = workbook(
        ["STT", "Họ và tên", "Chức vụ", "SĐT (ẩn)", "Số điện thoại"],
        [["1", n, p, "0912 111 001", t] for n, p, t in PEOPLE]
        + [["3", "Lâm Văn Nghỉ", "Nhân viên", "", "0912 222 009"]],
    )
    ws = wb.active
    ws.column_dimensions["D"].hidden = True
    ws.row_dimensions[5].hidden = True
    _, rows = rows_of(config, (("DS truc.xlsx", saved(wb)),))
    assert rows == [(n, [re.sub(r"\D", "", t)], []) for n, _, t in PEOPLE]


def test_a_column_of_old_numbers_is_not_read_as_current(config) -> None:
    wb = workbook(
        ["STT", "Họ và tên", "Chức vụ", "SĐT cũ (không dùng)", "Số điện thoại"],
        [["1", n, p, "0912 111 001", t] for n, p, t in PEOPLE],
    )
    _, rows = rows_of(config, (("DS truc.xlsx", saved(wb)),))
    assert [numbers for _, numbers, _ in rows] == [["0913123456"], ["0918234567"]]


def test_a_landline_column_beside_the_mobile_one_is_read(config) -> None:
    wb = workbook(
        ["STT", "Họ và tên", "Chức vụ", "Di động", "Cố định"],
        [
            ["1", "Nguyễn Văn Dũng", "Giám đốc", "0913 123 456", "0277 3851 234"],
            ["2", "Lưu Thị Thuỷ", "NV", "", "0277 3872 999"],
        ],
    )
    _, rows = rows_of(config, (("DS truc.xlsx", saved(wb)),))
    assert rows == [("Nguyễn Văn Dũng", ["0913123456", "02773851234"], []), ("Lưu Thị Thuỷ", ["02773872999"], [])]


def test_hidden_word_text_is_not_read(config) -> None:
    import docx

    document = docx.Document()
    document.add_paragraph("DANH SÁCH CÁN BỘ TRỰC BẦU CỬ")
    table = document.add_table(rows=0, cols=3)
    for values in (["STT", "Họ và tên", "Số điện thoại"], ["1", "Nguyễn Văn Dũng", ""], ["2", "Nguyễn Văn Giả", ""]):
        cells = table.add_row().cells
        for cell, value in zip(cells, values):
            cell.text = value
    number = table.rows[1].cells[2].paragraphs[0]
    number.add_run("0913 123 456")
    number.add_run(" 0977 000 111").font.hidden = True  # a hidden second number
    for cell, value in zip(table.rows[2].cells, ["2", "Nguyễn Văn Giả", "0911 999 888"]):
        cell.paragraphs[0].runs[0].font.hidden = True if cell.paragraphs[0].runs else None
        if not cell.paragraphs[0].runs:
            cell.paragraphs[0].add_run(value).font.hidden = True
    out = io.BytesIO()
    document.save(out)
    _, rows = rows_of(config, (("DS truc.docx", out.getvalue()),))
    assert rows == [("Nguyễn Văn Dũng", ["0913123456"], [])]


def test_two_numbers_on_two_lines_of_a_cell_are_two_numbers(config) -> None:
    wb = workbook(["STT", "Họ và tên", "Số điện thoại"], [["1", "Nguyễn Văn Dũng", "0913 123 456\n0277 3851 234"]])
    _, rows = rows_of(config, (("DS truc.xlsx", saved(wb)),))
    assert rows == [("Nguyễn Văn Dũng", ["0913123456", "02773851234"], [])]


def test_the_signature_block_and_section_headings_are_nobody(config) -> None:
    wb = workbook(
        ["STT", "Họ và tên", "Chức vụ", "Số điện thoại"],
        [
            ["I. BAN CHỈ ĐẠO", "", "", ""],
            ["1", "Nguyễn Văn Dũng", "Giám đốc", "0913 123 456"],
            ["", "Người lập biểu (đã ký) Lê Thị Hoa", "", ""],
            ["", "GIÁM ĐỐC", "", ""],
            ["", "(đã ký, đóng dấu)", "", ""],
        ],
    )
    _, rows = rows_of(config, (("DS truc.xlsx", saved(wb)),))
    assert rows == [("Nguyễn Văn Dũng", ["0913123456"], [])]


def test_a_duty_list_named_phuong_an_truc_is_a_duty_list(config) -> None:
    """Many offices call the duty roster "phương án trực": the file's own title decides."""
    wb = workbook(["STT", "Họ và tên", "Chức vụ", "Số điện thoại"], [["1", n, p, t] for n, p, t in PEOPLE])
    documents, rows = rows_of(config, (("Phuong an truc bau cu.xlsx", saved(wb)),), subject="Gửi Sở")
    assert documents == ["duty-list"] and len(rows) == 2


def test_two_people_on_one_typed_line_are_flagged(config) -> None:
    body = (
        "Danh sách trực:\n- Đ/c Trần Thị Ngọc Huyền (0918 234 567) và đ/c Đặng Quốc Bảo (0949 345 678)\n"
        "- Ông Lê Văn Hùng – Trưởng phòng – ĐT 0987 654 321\n"
    )
    _, rows = rows_of(config, body=body)
    assert [problems for _, _, problems in rows] == [[SEVERAL_PEOPLE], []]
