"""Duty lists: who is on duty and at which numbers, read from the tables carriers send.

A table is a list of rows of cell texts, whatever it came from (a sheet, a docx
table, CSV, an HTML table or a list pasted in a mail). Its header row is looked
for among the first rows (titles and merged cells come first), matched on
folded Vietnamese (case and diacritics ignored). Phone numbers are found in a
cell with the `phonenumbers` library for Vietnam, several per cell; each is
kept with its problem when it is not a valid Vietnamese number, never dropped.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any

import phonenumbers

from mailbot.analysis import bodylist
from mailbot.analysis.tables import HEADER_ROWS, MAX_ROWS, tables, text_table
from mailbot.analysis.textnorm import fold, near, slips

__all__ = ["DutyRow", "Phone", "as_dict", "body_rows", "find_header", "parse_phones", "rows_of", "tables", "text_table"]

log = logging.getLogger(__name__)

FIELDS: dict[str, tuple[str, ...]] = {  # folded header texts, longest first where one contains another
    "no": ("stt", "tt", "so thu tu"),
    "name": ("ho va ten", "ho ten", "ten can bo", "ten"),
    "position": ("chuc vu", "chuc danh"),
    "unit": ("don vi", "bo phan", "phong ban", "co quan"),
    "phone": (
        "so dien thoai",
        "dien thoai di dong",
        "dien thoai co dinh",
        "dien thoai",
        "so dt",
        "sdt",
        "dtdd",
        "dt",
        "di dong",
        "co dinh",  # a landline column beside "Di động"
        "may ban",
    ),
    "time": ("thoi gian truc", "ngay truc", "ca truc", "thoi gian", "ngay"),
    "email": ("email", "e-mail", "thu dien tu"),
}
PHONE_SUBHEADERS = {
    "di dong",
    "co dinh",
    "dt co dinh",
    "dien thoai co dinh",
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


def _label(cell: str) -> list[str]:
    """A header cell folded for matching; a word that wrapped inside a narrow cell ("ST\nT") is
    tried joined too."""
    texts = [" ".join(fold(cell).replace("/", " ").replace(".", " ").split())]
    if "\n" in cell.strip():
        texts.append(" ".join(fold(cell.replace("\n", "")).replace("/", " ").replace(".", " ").split()))
    return texts


def _is_label(text: str, label: str, tolerant: bool) -> bool:
    """The folded header text is the label, or begins or ends with it; `tolerant` (OCR): a slip or
    two forgiven (textnorm.near), "Họ và tèn" and "Sô điện thoai" are still labels."""
    if text == label or text.startswith(label + " ") or text.endswith(" " + label):
        return True
    if not tolerant:
        return False
    got, size = text.split(), len(label.split())
    return any(near(" ".join(part), label) for part in {tuple(got), tuple(got[:size]), tuple(got[-size:])})


def _fields(row: list[str], tolerant: bool = False) -> dict[int, str]:
    """Which column of a header row holds which field; the longest label wins ("Tên đơn vị" is a
    unit, "Họ và tên" a name)."""
    columns: dict[int, str] = {}
    for col, cell in enumerate(row):
        if _RETIRED.search(fold(cell)):
            continue  # "SĐT cũ", "Số điện thoại trước đây": numbers no longer in use
        matches = [
            (len(label), name)
            for text in _label(cell)
            for name, labels in FIELDS.items()
            for label in labels
            if (name == "phone" or name not in columns.values())  # mobile and office columns
            and _is_label(text, label, tolerant)
        ]
        if matches:
            columns[col] = max(matches)[1]
    return columns


_RETIRED = re.compile(r"\b(?:cu|truoc day|khong (?:con )?(?:dung|su dung))\b")


def _complete(columns: dict[int, str]) -> bool:
    return "name" in columns.values() and "phone" in columns.values()


def find_header(rows: list[list[str]], tolerant: bool = False) -> tuple[int, dict[int, str]] | None:
    """The header row among the first rows, and which column holds which field: the last row of
    the header when it takes two rows (a merged "Thông tin liên hệ" over "Số điện thoại" and
    "Email", or "Số điện thoại" over "Di động" and "Cơ quan"). `tolerant`: read by OCR."""
    for index, row in enumerate(rows[:HEADER_ROWS]):
        columns = _fields(row, tolerant)
        below = rows[index + 1] if index + 1 < len(rows) else []
        if _complete(columns):
            # a second header row under a merged "Số điện thoại": "Di động" | "Cơ quan"
            for col, cell in enumerate(below):
                if " ".join(fold(cell).split()) in PHONE_SUBHEADERS:
                    columns[col] = "phone"
            return index, columns
        if columns and below:
            # a group label merged over two columns: the lower row names them, the upper the rest
            lower = _fields(below, tolerant)
            merged = {**columns, **lower}
            if _complete(merged) and lower:
                return index + 1, merged
    return None


def _cell(row: list[str], col: int, lines: bool = False) -> str:
    """A cell's text on one line (a cell that wrapped is one cell); `lines`: its line breaks kept as
    " ; " (two numbers on two lines of a telephone cell are two numbers)."""
    if col >= len(row) or not row[col]:
        return ""
    if lines:
        return " ; ".join(" ".join(line.split()) for line in row[col].splitlines() if line.strip())
    return " ".join(row[col].split())


def _continues(values: dict[str, str], columns: dict[int, str]) -> bool:
    """A row that only carries the rest of the row above (a cell that wrapped onto the next line,
    or over a page break): no number in the STT column, no telephone, some text."""
    return (
        "no" in columns.values()
        and not values.get("no")
        and not _NUMBERISH.search(values.get("phone", ""))
        and any(values.values())
    )


def _joins(above: dict[str, str], rest: dict[str, str]) -> bool:
    """The rest of a wrapped name joins it only if the two still read as one name: the signature
    block under a table ("GIÁM ĐỐC", "(đã ký)") is no part of the last person's name."""
    part = rest.get("name", "")
    if not part:
        return True
    name = f"{above.get('name', '')} {part}"
    return (
        _name_like(name)
        and len(name.split()) <= 6
        and " ".join(fold(part).split()) not in _TITLES
        and not (part.isupper() and not above.get("name", "").isupper())
    )


def _name_like(name: str) -> bool:
    """A person's name: letters, no digits, at most eight words; not a date or a number, not a
    section heading ("I. BAN CHỈ ĐẠO"), a job title alone ("GIÁM ĐỐC") or a line of the signature
    block ("(đã ký)", "Người lập biểu")."""
    words = name.split()
    folded = " ".join(fold(name).split())
    return (
        0 < len(words) <= 8
        and not any(c.isdigit() or c in "():;" for c in name)
        and any(c.isalpha() for c in name)
        and not _HEADING.match(name)
        and folded not in _TITLES
        and not _SIGNATURE.search(folded)
    )


_HEADING = re.compile(r"^\s*(?:[IVXLC]+|[A-Z])\s*[.)/]\s")
_SIGNATURE = re.compile(r"\b(?:da ky|ky ten|nguoi lap|noi nhan|kinh gui|dong dau)\b")
_TITLES = {
    "giam doc",
    "pho giam doc",
    "tong giam doc",
    "truong phong",
    "pho truong phong",
    "chuyen vien",
    "nhan vien",
    "ky thuat vien",
    "to truong",
    "to pho",
    "truong ca",
    "thu truong",
    "chanh van phong",
}


SEVERAL_PEOPLE = "một dòng ghi nhiều người: cần kiểm tra họ tên và số điện thoại"
_SECOND_PERSON = re.compile(r"(?:\bvà|[,;])\s*(?:đ/c|đồng chí|ông|bà|anh|chị)\s+\w", re.IGNORECASE)
ODD_NAME = "họ tên không giống tên người: cần kiểm tra"


_LABELS = {label for labels in FIELDS.values() for label in labels}


def rejoined(table: list[list[str]]) -> list[list[str]]:
    """A table read by OCR with a header cell cut in two by a stray vertical line (a scanner's dirty
    glass): "Số điện thoạ" | "ị" is one column again, in every row, when the two pieces joined are a
    label, one piece alone is none, and that piece's column is (nearly) empty below the header."""
    for index, row in enumerate(table[:HEADER_ROWS]):
        col = 0
        while col + 1 < len(row):
            split = _split_at(table, index, col)
            if split is None:
                col += 1
                continue
            table = [
                r[:col] + [_joined(r[col], r[col + 1], split if n == index else "")] + r[col + 2 :]
                if len(r) > col + 1
                else r
                for n, r in enumerate(table)
            ]
            row = table[index]
        if len(_fields(row, True)) >= 2:
            break  # the header row: the rows below are data
    return table


def _split_at(table: list[list[str]], index: int, col: int) -> str | None:
    """The joined header text when cells col and col + 1 of row `index` are one label cut in two."""
    left, right = table[index][col].strip(), table[index][col + 1].strip()
    if not left or not right:
        return None
    alone = [_fields([left], True), _fields([right], True)]
    if alone[0] and alone[1]:
        return None  # two labels: two columns
    piece = col + 1 if alone[0] else col  # the piece that is no label on its own
    kept = _label(table[index][2 * col + 1 - piece])[0]  # the other piece
    for glue in ("", " "):
        joined = left + glue + right
        text = _label(joined)[0]
        # the pieces joined read a label as a whole, with fewer slips than the other piece alone
        better = [label for label in _LABELS if _fewer_slips(text, kept, label)]
        if not better:
            continue
        below = [r[piece].strip() for r in table[index + 1 : index + 1 + MAX_ROWS] if len(r) > piece]
        if below and sum(len(c) <= 3 for c in below) >= 0.8 * len(below):
            return joined
    return None


def _fewer_slips(joined: str, kept: str, label: str) -> bool:
    """`joined` reads `label` with fewer slips than `kept` alone does (or `kept` does not read it)."""
    got, alone = slips(joined, label), slips(kept, label)
    return got is not None and (alone is None or got < alone)


def _joined(left: str, right: str, header: str) -> str:
    """Two pieces of a cell cut by a line: the header as matched, digits glued, words spaced."""
    if header:
        return header
    if not right.strip():
        return left
    if not left.strip():
        return right
    glue = "" if left.rstrip()[-1:].isdigit() and right.lstrip()[:1].isdigit() else " "
    return left.rstrip() + glue + right.lstrip()


def rows_of(table: list[list[str]], source: str = "", tolerant: bool = False) -> list[DutyRow]:
    """The duty rows of one table; none when it has no header with a name and a phone column.
    `tolerant`: the table was read by OCR (a header word read with a slip still counts)."""
    if tolerant:
        table = rejoined(table)
    found = find_header(table, tolerant)
    if found is None:
        return []
    header, columns = found
    merged: list[dict[str, str]] = []
    after_blank = False
    for row in table[header + 1 : header + 1 + MAX_ROWS]:
        values: dict[str, str] = {}
        for col, name in columns.items():
            cell = _cell(row, col, lines=name == "phone")
            if cell and name in values and values[name]:
                values[name] += " ; " + cell  # several phone columns
            else:
                values[name] = values.get(name) or cell
        if any(fold(v) in _LABELS and k == "name" for k, v in values.items()):
            continue  # a header repeated on the next page
        if not any(values.values()):
            after_blank = True  # a blank line ends the table: what follows continues nothing
            continue
        if merged and not after_blank and _continues(values, columns) and _joins(merged[-1], values):
            for key, value in values.items():
                if value:
                    merged[-1][key] = f"{merged[-1].get(key, '')} {value}".strip()
            continue
        after_blank = False
        merged.append(values)
    out = []
    for values in merged:
        if not values.get("name") or fold(values["name"]) in _LABELS:
            continue  # a blank line, a section title in the STT column
        phones: list[Phone] = []
        for phone in parse_phones(values.get("phone", "")):
            if all((phone.e164 or phone.text) != (p.e164 or p.text) for p in phones):  # merged cells repeat
                phones.append(phone)
        odd = not _name_like(values["name"])
        if odd and not phones:
            continue  # a date, a number, a stray word: nobody
        duty = DutyRow(
            name=values["name"],
            position=values.get("position", ""),
            unit=values.get("unit", ""),
            phones=phones,
            duty_time=values.get("time", ""),
            email=values.get("email", ""),
            source=source,
        )
        if odd:
            duty.problems.append(ODD_NAME)  # kept: its number is a fact, the name needs a person
        if not duty.phones:
            duty.problems.append("thiếu số điện thoại")
        duty.problems += [f"{p.text}: {p.problem}" for p in duty.phones if p.problem]
        out.append(duty)
    return out


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
        if _SECOND_PERSON.search(line):  # "Đ/c A (0918…) và đ/c B (0949…)": whose number is whose?
            duty.problems.append(SEVERAL_PEOPLE)
        out.append(duty)
    return out


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
