"""Text out of attached files, and members out of zip archives, within bounds.

An unreadable file is a defect of that attachment, never of the message.
No name taken from an archive is ever used as a path on disk.
"""

from __future__ import annotations

import html
import io
import logging
import re
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from mailbot.analysis import filetype, legacyfonts
from mailbot.analysis.readers import archives, outlook, word97
from mailbot.analysis.textnorm import decode_bytes, nfc
from mailbot.config import Config
from mailbot.envelope import SCAN_KINDS, Attachment
from mailbot.errors import OverBudget, ReaderError

log = logging.getLogger(__name__)

MAX_TEXT = 30_000  # characters of text kept per file
MAX_ROWS = 2_000  # spreadsheet rows read per file for classification
MAX_PDF_PAGES = 20
MAX_MEMBERS = 200  # archive members examined per message
MAX_ARCHIVE_DEPTH = 2  # a zip inside a zip is read; deeper ones are not
MAX_UNCOMPRESSED = 64 * 1024 * 1024  # bytes unpacked per message, all archives together
MAX_RATIO = 200  # compression ratio above which a member counts as a zip bomb
# what to install when a reader's library is missing (the module's own name otherwise)
EXTRAS = {"extract_msg": "pip install 'mailbot[outlook]'"}


@dataclass
class OcrGate:
    """Whether this analysis may run OCR. The daemon's plain lane may not: a message that needs OCR
    is marked `wanted` and analysed again in the OCR lane (workers.Analyser), so that plain mail
    never waits behind the scans of other messages. Shared by every copy of a message's Budget."""

    allowed: bool = True
    wanted: bool = False


@dataclass
class Budget:
    """What one message may still unpack, and read by OCR."""

    members: int = MAX_MEMBERS
    bytes: int = MAX_UNCOMPRESSED
    ocr_pages: int = 20  # [mailbot] max_ocr_pages: pages of scans read per file (0: no OCR)
    ocr_seconds: float = 240.0  # [mailbot] ocr_seconds: time to read the message's scans, all files together
    gate: OcrGate = field(default_factory=OcrGate)

    @classmethod
    def of(cls, config: Config, ocr: bool = True) -> Budget:
        return cls(ocr_pages=config.max_ocr_pages, ocr_seconds=config.ocr_seconds, gate=OcrGate(allowed=ocr))


def examine(att: Attachment, budget: Budget, depth: int = 0) -> list[Attachment]:
    """Type att by its bytes and give it a text reader (run on first use); return att and the files
    a container (zip, 7z, rar, winmail.dat, .msg) holds, each examined the same way."""
    kind = filetype.sniff(att.data, att.extension, att.content_type)
    att.kind = kind
    if (
        att.extension in _NAMED_KINDS
        and kind != att.extension
        and not (att.extension == "zip" and kind in ("7z", "rar"))
    ):
        what = f"là {filetype.label(kind)}" if kind else "không phải " + att.extension
        att.defects.append(f"tên tệp ghi .{att.extension} nhưng nội dung {what}")
    if kind in filetype.CONTAINERS:
        members, text = _members(att, kind, budget, depth)
        if text:
            body = text
            att.reader = lambda data: _text(body)
        return [att, *members]
    if kind == "pdf" or kind in SCAN_KINDS:
        att.reader = lambda data: _text(_read_scan(att, data, budget))
        return [att]
    reader = _READERS.get(kind)
    if reader is None:
        return [att]
    if kind in _MAIN_PART and not _zip_is_sane(att, _MAIN_PART[kind]):
        return [att]
    if kind in _MAIN_PART:  # a "scan to Word": an office file holding only pictures of the pages
        att.reader = lambda data: _text(_read_office(att, data, reader, budget))
        return [att]
    att.reader = lambda data: _text(reader(data))
    return [att]


# extensions whose name makes a promise the bytes must keep ("rar" and "7z" named ".zip" are common)
_NAMED_KINDS = frozenset({"docx", "xlsx", "odt", "ods", "pdf", "xls", "doc", "zip", "7z", "rar", "msg", "rtf"})


def _text(text: str) -> str:
    """Extracted text as matching and rosters want it: Unicode (legacy TCVN3/VNI converted), NFC, bounded."""
    return nfc(legacyfonts.fix(text[: MAX_TEXT * 2])[0])[:MAX_TEXT]


_MAIN_PART = {"docx": "word/document.xml", "xlsx": "xl/workbook.xml", "odt": "content.xml", "ods": "content.xml"}


def _zip_is_sane(att: Attachment, main_part: str) -> bool:
    """A cheap check done for every office file: a whole zip, its main part there, no bomb."""
    try:
        with zipfile.ZipFile(io.BytesIO(att.data)) as zf:
            infos = zf.infolist()
            total = sum(i.file_size for i in infos)
            packed = sum(i.compress_size for i in infos) or 1
            names = {i.filename for i in infos}
    except Exception as exc:
        att.defects.append(f"không đọc được nội dung tệp: tệp nén hỏng ({type(exc).__name__})")
        return False
    if main_part not in names:
        att.defects.append(f"không đọc được nội dung tệp: thiếu phần {main_part}")
        return False
    if total > MAX_UNCOMPRESSED or (total > 1024 * 1024 and total / packed > MAX_RATIO):
        att.defects.append(f"tệp giải nén ra {total} byte (tỉ lệ nén {total // packed}): nghi là bom nén, không đọc")
        return False
    return True


def _list(kind: str, data: bytes) -> tuple[Iterator[archives.Entry] | list[archives.Entry], str]:
    if kind == "zip":
        return archives.zip_entries(data), ""
    if kind == "7z":
        return archives.sevenzip_entries(data), ""
    if kind == "rar":
        return archives.rar_entries(data), ""
    if kind == "tnef":
        return outlook.tnef(data)
    return outlook.msg(data)


def _members(att: Attachment, kind: str, budget: Budget, depth: int) -> tuple[list[Attachment], str]:
    """The files a container holds, within the message's budget; never a name used as a path."""
    if depth >= MAX_ARCHIVE_DEPTH:
        att.defects.append("tệp nén lồng quá sâu: không mở")
        return [], ""
    out: list[Attachment] = []
    what = "tệp nén" if kind in ("zip", "7z", "rar") else filetype.label(kind)
    try:
        entries, text = _list(kind, att.data)
        for entry in entries:
            if budget.members <= 0:
                att.defects.append(f"{what} có quá nhiều tệp: chỉ xét {MAX_MEMBERS} tệp")
                break
            budget.members -= 1
            member = _member(att, entry, budget, what)
            if member is not None:
                out.extend(examine(member, budget, depth + 1))
    except ImportError as exc:
        install = EXTRAS.get(exc.name or "", exc.name)
        att.defects.append(f"máy chủ chưa cài thư viện đọc {filetype.label(kind)} ({install}): không mở được")
        return out, ""
    except ReaderError as exc:  # a reason staff should read as it is
        att.defects.append(str(exc))
        return out, ""
    except Exception as exc:  # every format library raises its own errors on a damaged file
        att.defects.append(f"không mở được {what} ({type(exc).__name__})")
        return out, ""
    return out, text


def _member(att: Attachment, entry: archives.Entry, budget: Budget, what: str) -> Attachment | None:
    name = entry.name
    if ".." in name.split("/") or name.startswith("/"):
        att.defects.append(f"{what} chứa đường dẫn nguy hiểm {name!r}")
    if entry.encrypted:
        att.defects.append(f"tệp {name!r} trong {what} có mật khẩu: không đọc được")
        return None
    if entry.size > budget.bytes or (entry.size > 1024 * 1024 and entry.size / max(entry.packed, 1) > MAX_RATIO):
        att.defects.append(f"tệp {name!r} giải nén ra {entry.size} byte: nghi là bom nén, không mở")
        return None
    try:
        data = entry.read(budget.bytes)
    except archives.MemberTooLarge:
        data = b"x" * (budget.bytes + 1)  # reported below like any member larger than it said
    except ReaderError as exc:
        att.defects.append(f"không giải nén được {name!r}: {exc}")
        return None
    except Exception as exc:
        att.defects.append(f"không giải nén được {name!r} ({type(exc).__name__})")
        return None
    if len(data) > budget.bytes:
        att.defects.append(f"tệp {name!r} lớn hơn kích thước khai báo: không mở")
        budget.bytes = 0
        return None
    budget.bytes -= len(data)
    return Attachment(
        filename=name,
        content_type=entry.content_type,
        data=data,
        container=att.filename if not att.container else f"{att.container}/{att.filename}",
    )


def _read_docx(data: bytes) -> str:
    import docx  # python-docx; imported lazily, it is slow to import

    document = docx.Document(io.BytesIO(data))
    # the page header first (a title can sit there), then each paragraph with the text boxes it
    # anchors (Word draws titles in boxes; python-docx's paragraphs leave them out)
    lines = [p.text for section in document.sections for p in section.header.paragraphs if p.text.strip()]
    for p in document.paragraphs:
        lines += [p.text] if p.text.strip() else []
        lines += [t for t in _text_boxes(p._p) if t.strip()]
    for table in document.tables:
        for row in table.rows:
            cells: list[str] = []
            for cell in row.cells:
                text = cell.text.strip()
                if not cells or cells[-1] != text:  # merged cells repeat
                    cells.append(text)
            lines.append(" | ".join(cells))
    return "\n".join(lines)


_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_MC_FALLBACK = "{http://schemas.openxmlformats.org/markup-compatibility/2006}Fallback"


def _text_boxes(paragraph: Any) -> list[str]:
    """The paragraphs of the text boxes a Word paragraph anchors; Word writes each box twice (a
    drawing and its VML fallback): the fallback is skipped."""
    out = []
    for box in paragraph.iter(f"{_W}txbxContent"):
        if any(a.tag == _MC_FALLBACK for a in box.iterancestors()):
            continue
        for p in box.iter(f"{_W}p"):
            out.append("".join(t.text or "" for t in p.iter(f"{_W}t")))
    return out


def _read_xlsx(data: bytes) -> str:
    import openpyxl

    wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    try:
        return "\n".join(line for ws in wb.worksheets for line in _row_lines(ws.iter_rows(values_only=True)))
    finally:
        wb.close()


def cell_text(value: object) -> str:
    """A spreadsheet cell as text (913123456.0 -> '913123456')."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # a number typed into a spreadsheet: 913123456.0 -> 913123456
    return "" if value is None else str(value).strip()


def _row_lines(rows: Iterable[Iterable[object]]) -> Iterator[str]:
    """Spreadsheet rows as lines of non-empty cells joined by " | ", at most MAX_ROWS per sheet."""
    for index, row in enumerate(rows):
        if index >= MAX_ROWS:
            break
        cells = [c for c in map(cell_text, row) if c]
        if cells:
            yield " | ".join(cells)


def _read_xls(data: bytes) -> str:
    import xlrd

    book = xlrd.open_workbook(file_contents=data, on_demand=True)
    try:
        return "\n".join(
            line for sheet in book.sheets() for line in _row_lines(sheet.row_values(r) for r in range(sheet.nrows))
        )
    finally:
        book.release_resources()


def _read_pdf(data: bytes) -> tuple[str, int]:
    """(the text of the first pages, how many pages were looked at)."""
    import pypdf

    # pypdf logs every oddity of a broken PDF as a warning; the defect is recorded instead.
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    reader = pypdf.PdfReader(io.BytesIO(data))
    if reader.is_encrypted and not reader.decrypt(""):
        raise ValueError("encrypted PDF")
    parts = []
    for page in reader.pages[:MAX_PDF_PAGES]:
        parts.append(page.extract_text() or "")
        if sum(map(len, parts)) > MAX_TEXT:
            break
    return "\n".join(parts), len(parts)


def _read_odf(data: bytes) -> str:
    """The text of an OpenDocument file, its page headers first (styles.xml: a title can sit there)."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        xml = zf.read("content.xml").decode("utf-8", errors="replace")
        if "styles.xml" in zf.namelist() and zf.getinfo("styles.xml").file_size < 5 * 1024 * 1024:
            styles = zf.read("styles.xml").decode("utf-8", errors="replace")
            xml = "".join(re.findall(r"<style:header\b.*?</style:header>", styles, flags=re.S)) + xml
    xml = re.sub(r"</text:(?:p|h)>|</table:table-row>", "\n", xml)
    xml = re.sub(r"</table:table-cell>", " | ", xml)
    text = html.unescape(re.sub(r"<[^>]+>", "", xml))
    return "\n".join(line.strip(" |") for line in text.splitlines() if line.strip(" |"))


def _read_scan(att: Attachment, data: bytes, budget: Budget) -> str:
    """A PDF's text, and what OCR reads of its pages without text; an image's OCR text (kept in
    att.ocr for the duty-list reader, with the numbers it is unsure of)."""
    from mailbot.analysis.readers import ocrjob

    text, pages = _read_pdf(data) if att.kind == "pdf" else ("", 1)
    if pages == 0 or len(text.strip()) >= ocrjob.MIN_TEXT_PER_PAGE * pages or budget.ocr_pages <= 0:
        return text
    if att.kind != "pdf" and not att.is_document_file:
        return text  # a logo or a small picture
    # a PDF's page count is known when pypdf read them all; a TIFF may hold several pages
    known = pages if att.kind == "pdf" and pages < MAX_PDF_PAGES else 1 if att.kind in ("jpeg", "png", "heic") else None
    return "\n".join(part for part in (text, _ocr(att, data, budget, known)) if part.strip())


MAX_OFFICE_TEXT = 200  # an office file with less text than this is read by its pictures, if it has some


def _read_office(att: Attachment, data: bytes, reader: Any, budget: Budget) -> str:
    """An office file's text; when it has (almost) none, what OCR reads of the pictures it holds (a
    copier's "scan to Word", a photo pasted into a sheet)."""
    from mailbot.analysis.readers import ocrjob

    text = str(reader(data))
    if len(text.strip()) >= MAX_OFFICE_TEXT or budget.ocr_pages <= 0:
        return text
    pictures = ocrjob.pictures(data, att.kind, budget.ocr_pages)
    if not pictures:
        return text
    return "\n".join(part for part in (text, _ocr(att, data, budget, len(pictures))) if part.strip())


def _ocr(att: Attachment, data: bytes, budget: Budget, pages: int | None) -> str:
    """OCR of att's pages within the message's budget; what was read kept in att.ocr. In the plain
    lane nothing is read: the message is marked for the OCR lane instead."""
    from mailbot.analysis.readers import ocrjob

    if not budget.gate.allowed:
        budget.gate.wanted = True
        return ""
    if budget.ocr_seconds < 1:
        raise OverBudget(f"{att.filename}: hết thời gian dành cho việc đọc bản quét của thư này")
    try:
        result = ocrjob.run(data, att.kind, budget.ocr_pages, budget.ocr_seconds, pages)
    except ocrjob.TooSlow as exc:
        raise OverBudget(f"{att.filename}: {exc}") from None
    budget.ocr_seconds -= result.seconds
    att.ocr = {
        "rows": result.rows,
        "uncertain": result.uncertain,
        "numbers": result.numbers,
        "pages": result.pages,
        "skipped": result.skipped,
        "seconds": round(result.seconds, 2),
        "source": result.source,
    }
    if result.skipped:
        what = "ảnh" if att.kind in ocrjob.MEDIA_FOLDERS else "trang"
        att.defects.append(
            f"bản quét có hơn {budget.ocr_pages} {what}: chỉ đọc {budget.ocr_pages} {what} "
            + ("lớn nhất" if what == "ảnh" else "đầu")
        )
    return result.text


def _read_text(data: bytes) -> str:
    return decode_bytes(data[: MAX_TEXT * 4].removeprefix(b"\xef\xbb\xbf"), None).replace(",", " | ")


_READERS = {
    "docx": _read_docx,
    "xlsx": _read_xlsx,
    "xls": _read_xls,
    "odt": _read_odf,
    "ods": _read_odf,
    "text": _read_text,
    "doc": word97.read_doc,
    "rtf": word97.read_rtf,
}
