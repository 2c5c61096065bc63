"""Duty lists: who is on duty and at which numbers, read from the tables carriers send.

A table is a list of rows of cell texts, whatever it came from (a sheet, a docx
table, CSV, an HTML table or a list pasted in a mail). Its header row is looked
for among the first rows (titles and merged cells come first), matched on
folded Vietnamese (case and diacritics ignored). Phone numbers are found in a
cell with the `phonenumbers` library for Vietnam, several per cell; each is
kept with its problem when it is not a valid Vietnamese number, never dropped.
"""

from __future__ import annotations

import csv
import io
import logging
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import phonenumbers

from mailbot.analysis import bodylist, legacyfonts
from mailbot.analysis.extract import cell_text
from mailbot.analysis.readers import word97
from mailbot.analysis.textnorm import fold

log = logging.getLogger(__name__)

HEADER_ROWS = 30  # rows searched for the header
MAX_PDF_PAGES = 200
MAX_ROWS = 5000
FIELDS: dict[str, tuple[str, ...]] = {  # folded header texts, longest first where one contains another
    "no": ("stt", "tt", "so thu tu"),
    "name": ("ho va ten", "ho ten", "ten can bo", "ten"),
    "position": ("chuc vu", "chuc danh"),
    "unit": ("don vi", "bo phan", "phong ban", "co quan"),
    "phone": ("so dien thoai", "dien thoai di dong", "dien thoai", "so dt", "sdt", "dtdd", "dt", "di dong"),
    "time": ("thoi gian truc", "ngay truc", "ca truc", "thoi gian", "ngay"),
    "email": ("email", "e-mail", "thu dien tu"),
}
PHONE_SUBHEADERS = {
    "di dong",
    "co quan",
    "nha rieng",
    "dd",
    "cq",
    "nr",
    "dtdd",
    "mobile",
    "ban",
    "may ban",
    "dt co quan",
    "dt di dong",
    "dien thoai co quan",
    "dien thoai di dong",
    "so di dong",
}
_NUMBERISH = re.compile(r"[+(]?\d[\d .\-()]{6,}\d")
# between two numbers in one cell: a spaced dash, a slash, a comma, a semicolon, "và", "hoặc", a line break
_SEPARATORS = re.compile(r"\s+[-–—]\s+|\s*[/,;\n]\s*|\s+(?:và|hoặc|hoac|va)\s+", re.I)


@dataclass(frozen=True)
class Phone:
    text: str  # as written
    e164: str | None  # +84913123456 when valid
    display: str | None  # 0913 123 456
    kind: str  # "di động", "cố định", ...
    problem: str | None = None


@dataclass
class DutyRow:
    name: str
    position: str = ""
    unit: str = ""
    phones: list[Phone] = field(default_factory=list)
    duty_time: str = ""
    email: str = ""
    source: str = ""  # file, sheet or table it came from
    origin: str = "file"  # "file", "body" (typed in the mail) or "ocr" (read from a scan: to be checked)
    problems: list[str] = field(default_factory=list)


_KINDS = {
    phonenumbers.PhoneNumberType.MOBILE: "di động",
    phonenumbers.PhoneNumberType.FIXED_LINE: "cố định",
    phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE: "cố định hoặc di động",
    phonenumbers.PhoneNumberType.TOLL_FREE: "miễn cước",
    phonenumbers.PhoneNumberType.VOIP: "VoIP",
}


def _phone(text: str) -> Phone:
    digits = re.sub(r"\D", "", text)
    if len(digits) == 9 and digits[0] in "35789" and not text.strip().startswith(("+", "0")):
        text = "0" + text.strip()  # a spreadsheet dropped the leading zero of a mobile number
    try:
        number = phonenumbers.parse(text, "VN")
    except phonenumbers.NumberParseException:
        return Phone(text, None, None, "", "không đọc được số điện thoại")
    if number.country_code != 84:
        return Phone(text, None, None, "", "không phải số điện thoại Việt Nam")
    if not phonenumbers.is_valid_number(number):
        reason = (
            "thiếu chữ số"
            if phonenumbers.is_possible_number_with_reason(number) == phonenumbers.ValidationResult.TOO_SHORT
            else "số không hợp lệ (sai đầu số hoặc độ dài)"
        )
        return Phone(text, None, None, "", reason)
    return Phone(
        text,
        phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164),
        phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL),
        _KINDS.get(phonenumbers.number_type(number), "khác"),
    )


def parse_phones(cell: str) -> list[Phone]:
    """Every number written in a cell: '0913.123.456 - 0277 3851 234' gives two."""
    found = []
    for chunk in _SEPARATORS.split(cell):
        match = _NUMBERISH.search(chunk)
        if match:
            found.append(_phone(match.group(0)))
        elif sum(c.isdigit() for c in chunk) >= 3:
            found.append(_phone(chunk.strip()))  # too short to be a number: say so
    return found


def find_header(rows: list[list[str]]) -> tuple[int, dict[int, str]] | None:
    """The header row among the first rows, and which column holds which field."""
    for index, row in enumerate(rows[:HEADER_ROWS]):
        columns: dict[int, str] = {}
        for col, cell in enumerate(row):
            text = " ".join(fold(cell).replace("/", " ").replace(".", " ").split())
            # the longest label wins: "Tên đơn vị" is a unit, "Họ và tên" a name
            matches = [
                (len(label), name)
                for name, labels in FIELDS.items()
                for label in labels
                if (name == "phone" or name not in columns.values())  # mobile and office columns
                and (text == label or text.startswith(label + " ") or text.endswith(" " + label))
            ]
            if matches:
                columns[col] = max(matches)[1]
        if "name" in columns.values() and "phone" in columns.values():
            # a second header row under a merged "Số điện thoại": "Di động" | "Cơ quan"
            below = rows[index + 1] if index + 1 < len(rows) else []
            for col, cell in enumerate(below):
                if " ".join(fold(cell).split()) in PHONE_SUBHEADERS:
                    columns[col] = "phone"
            return index, columns
    return None


def rows_of(table: list[list[str]], source: str = "") -> list[DutyRow]:
    """The duty rows of one table; none when it has no header with a name and a phone column."""
    found = find_header(table)
    if found is None:
        return []
    header, columns = found
    out = []
    for row in table[header + 1 : header + 1 + MAX_ROWS]:
        values: dict[str, str] = {}
        for col, name in columns.items():
            cell = row[col].strip() if col < len(row) else ""
            if cell and name in values and values[name]:
                values[name] += " ; " + cell  # several phone columns
            else:
                values[name] = values.get(name) or cell
        if not values.get("name") or fold(values["name"]) in {label for labels in FIELDS.values() for label in labels}:
            continue  # a blank line, a repeated header, a section title in the STT column
        phones: list[Phone] = []
        for phone in parse_phones(values.get("phone", "")):
            if all((phone.e164 or phone.text) != (p.e164 or p.text) for p in phones):  # merged cells repeat
                phones.append(phone)
        duty = DutyRow(
            name=values["name"],
            position=values.get("position", ""),
            unit=values.get("unit", ""),
            phones=phones,
            duty_time=values.get("time", ""),
            email=values.get("email", ""),
            source=source,
        )
        if not duty.phones:
            duty.problems.append("thiếu số điện thoại")
        duty.problems += [f"{p.text}: {p.problem}" for p in duty.phones if p.problem]
        out.append(duty)
    return out


# -- tables from files --------------------------------------------------------------------------------
def _sheet(rows: Iterable[Iterable[object]]) -> list[list[str]]:
    out = []
    for index, row in enumerate(rows):
        if index >= MAX_ROWS + HEADER_ROWS:
            break
        out.append([cell_text(v) for v in row])
    return out


def tables(filename: str, data: bytes, kind: str = "") -> Iterator[tuple[str, list[list[str]]]]:
    """(source, table) for each sheet or table of a file mailbot can read, by its kind (filetype.py),
    legacy TCVN3/VNI text converted to Unicode."""
    for source, table in _raw_tables(filename, data, kind):
        yield source, legacyfonts.fix_table(table)


def _raw_tables(filename: str, data: bytes, kind: str) -> Iterator[tuple[str, list[list[str]]]]:
    ext = kind or (filename.lower().rsplit(".", 1)[-1] if "." in filename else "")
    if ext in ("xlsx", "xlsm"):
        import openpyxl

        wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        try:
            for ws in wb.worksheets:
                yield f"{filename} › {ws.title}", _sheet(ws.iter_rows(values_only=True))
        finally:
            wb.close()
    elif ext == "xls":
        import xlrd

        book = xlrd.open_workbook(file_contents=data, on_demand=True)
        for sheet in book.sheets():
            yield f"{filename} › {sheet.name}", _sheet(sheet.row_values(r) for r in range(sheet.nrows))
    elif ext == "docx":
        import docx

        document = docx.Document(io.BytesIO(data))
        for n, table in enumerate(document.tables, 1):
            # a merged cell comes once per grid column it spans: columns stay aligned with the data
            rows = [[cell.text.strip() for cell in row.cells] for row in table.rows]
            yield f"{filename} › bảng {n}", rows
    elif ext in ("ods", "odt"):
        yield from _odf_tables(filename, data)
    elif ext == "pdf":
        yield filename, text_table(_pdf_layout_text(data))
    elif ext == "doc":
        yield filename, text_table(word97.read_doc(data))
    elif ext == "rtf":
        yield filename, text_table(word97.read_rtf(data))
    elif ext in ("csv", "text"):
        text = data.decode("utf-8-sig", errors="replace")
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t") if text.strip() else csv.excel
        yield filename, [row for row in csv.reader(io.StringIO(text), dialect)][: MAX_ROWS + HEADER_ROWS]


def body_rows(text: str, source: str = "nội dung thư") -> list[DutyRow]:
    """A duty list pasted in a mail: a table with its header, or one person per line in free form
    (bodylist.py), up to quoted text and the closing formula."""
    lines = bodylist.own_lines(text)
    rows = rows_of(text_table("\n".join(lines)), source)
    for row in rows:
        row.origin = "body"
    if rows:
        return rows
    out = []
    for line in lines:
        found = bodylist.person(line)
        if found is None:
            continue
        name, position, numbers = found
        phones = parse_phones(numbers)
        duty = DutyRow(name=name, position=position, phones=phones, source=source, origin="body")
        duty.problems += [f"{p.text}: {p.problem}" for p in phones if p.problem]
        out.append(duty)
    return out


_ODF_TABLE = "{urn:oasis:names:tc:opendocument:xmlns:table:1.0}"


def _odf_tables(filename: str, data: bytes) -> Iterator[tuple[str, list[list[str]]]]:
    """Tables of an OpenDocument file (LibreOffice's sheets and text tables), read from content.xml."""
    import zipfile
    from xml.etree import ElementTree

    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        info = archive.getinfo("content.xml")
        if info.file_size > 50 * 1024 * 1024:
            return  # not a duty list
        root = ElementTree.fromstring(archive.read(info))
    for n, table in enumerate(root.iter(f"{_ODF_TABLE}table"), 1):
        rows = []
        for row in table.iter(f"{_ODF_TABLE}table-row"):
            cells: list[str] = []
            for cell in row:
                if cell.tag not in (f"{_ODF_TABLE}table-cell", f"{_ODF_TABLE}covered-table-cell"):
                    continue
                text = " ".join("".join(p.itertext()).strip() for p in cell if p.tag.endswith("}p"))
                repeat = min(int(cell.get(f"{_ODF_TABLE}number-columns-repeated", "1")), 50)  # empty tails repeat
                cells += [text] * repeat
            rows.append(cells)
            if len(rows) > MAX_ROWS + HEADER_ROWS:
                break
        yield f"{filename} › {table.get(f'{_ODF_TABLE}name') or f'bảng {n}'}", rows


def _pdf_layout_text(data: bytes) -> str:
    """A text PDF with its columns kept apart by spaces (pypdf's layout mode), so tables read as rows."""
    import pypdf

    logging.getLogger("pypdf").setLevel(logging.ERROR)
    reader = pypdf.PdfReader(io.BytesIO(data))
    if reader.is_encrypted and not reader.decrypt(""):
        return ""
    return "\n".join(page.extract_text(extraction_mode="layout") or "" for page in reader.pages[:MAX_PDF_PAGES])


def text_table(text: str) -> list[list[str]]:
    """A list pasted in a mail body: cells separated by tabs, " | " or runs of spaces."""
    rows = []
    for line in text.splitlines():
        cells = [c.strip() for c in re.split(r"\t+|\s*\|\s*|\s{3,}", line.strip()) if c.strip()]
        if cells:
            rows.append(cells)
    return rows


def as_dict(row: DutyRow) -> dict[str, Any]:
    """A row as it is kept in the register (JSON)."""
    return {
        "name": row.name,
        "position": row.position,
        "unit": row.unit,
        "duty_time": row.duty_time,
        "email": row.email,
        "source": row.source,
        "origin": row.origin,
        "problems": row.problems,
        "phones": [
            {"text": p.text, "e164": p.e164, "display": p.display, "kind": p.kind, "problem": p.problem}
            for p in row.phones
        ],
    }
