"""The tables of a file, whatever made it: sheets of a workbook, tables of a Word or OpenDocument
file, the ruled tables of a text PDF (pdfplumber rebuilds rows from the page's lines, so a cell that
wraps stays one cell), CSV, and text laid out in columns. A table is a list of rows of cell texts;
dutylist.py finds the header and the people in it. Legacy TCVN3/VNI text is converted to Unicode."""

from __future__ import annotations

import csv
import io
import logging
import re
from collections.abc import Iterable, Iterator

from mailbot.analysis import legacyfonts
from mailbot.analysis.extract import cell_text
from mailbot.analysis.readers import word97

log = logging.getLogger(__name__)

HEADER_ROWS = 30  # rows searched for the header
MAX_ROWS = 5000
MAX_PDF_PAGES = 200
MAX_RULED_PAGES = 50  # pages searched for ruled tables (pdfplumber is slower than the text layer)
_ODF_TABLE = "{urn:oasis:names:tc:opendocument:xmlns:table:1.0}"


def tables(filename: str, data: bytes, kind: str = "") -> Iterator[tuple[str, list[list[str]]]]:
    """(source, table) for each sheet or table of a file mailbot can read, by its kind (filetype.py),
    legacy TCVN3/VNI text converted to Unicode."""
    for source, table in _raw_tables(filename, data, kind):
        yield source, legacyfonts.fix_table(table)


def _sheet(rows: Iterable[Iterable[object]]) -> list[list[str]]:
    out = []
    for index, row in enumerate(rows):
        if index >= MAX_ROWS + HEADER_ROWS:
            break
        out.append([cell_text(v) for v in row])
    return out


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
        ruled = _pdf_ruled_table(data)
        yield filename, ruled if ruled else text_table(_pdf_layout_text(data))
    elif ext == "doc":
        yield filename, text_table(word97.read_doc(data))
    elif ext == "rtf":
        yield filename, text_table(word97.read_rtf(data))
    elif ext in ("csv", "text"):
        text = data.decode("utf-8-sig", errors="replace")
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t") if text.strip() else csv.excel
        yield filename, [row for row in csv.reader(io.StringIO(text), dialect)][: MAX_ROWS + HEADER_ROWS]


def _pdf_ruled_table(data: bytes) -> list[list[str]]:
    """The ruled tables of a text PDF's pages as one table (a table running over pages, its header
    repeated, is one list; dutylist skips the repeated header). Empty when the PDF has none."""
    try:
        import pdfplumber
    except ImportError:  # an install without it reads the text layer, as before
        return []
    for name in ("pdfminer", "pdfplumber"):
        logging.getLogger(name).setLevel(logging.ERROR)
    rows: list[list[str]] = []
    with pdfplumber.open(io.BytesIO(data)) as pdf:
        for page in pdf.pages[:MAX_RULED_PAGES]:
            for table in page.extract_tables():
                if len(table) < 2 or max(len(r) for r in table) < 2:
                    continue  # a frame around a paragraph, not a table
                rows += [[cell or "" for cell in row] for row in table]
            page.flush_cache()
            if len(rows) > MAX_ROWS + HEADER_ROWS:
                break
    return rows


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
