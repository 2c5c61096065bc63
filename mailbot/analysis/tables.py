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
STREAM_XLSX_BYTES = 5 * 1024 * 1024  # a larger workbook is streamed (hidden rows then read too)
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
        yield from _xlsx_tables(filename, data)
    elif ext == "xls":
        import xlrd

        book = xlrd.open_workbook(file_contents=data, on_demand=True, formatting_info=True)
        for sheet in book.sheets():
            if sheet.visibility:  # a hidden sheet: not what the sender shows
                continue
            visible = (
                [v for c, v in enumerate(sheet.row_values(r)) if not _xls_hidden(sheet.colinfo_map, c)]
                for r in range(sheet.nrows)
                if not _xls_hidden(sheet.rowinfo_map, r)
            )
            yield f"{filename} › {sheet.name}", _sheet(visible)
    elif ext == "docx":
        import docx

        document = docx.Document(io.BytesIO(data))
        for n, table in enumerate(document.tables, 1):
            # a merged cell comes once per grid column it spans: columns stay aligned with the data
            rows = [[_visible(cell._tc).strip() for cell in row.cells] for row in table.rows]
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


def _xlsx_tables(filename: str, data: bytes) -> Iterator[tuple[str, list[list[str]]]]:
    """The visible sheets of a workbook, without its hidden rows and columns (what the sender sees:
    a hidden "old numbers" column or a hidden row is no one on duty). A large workbook is read in
    openpyxl's streaming mode, which does not know what is hidden."""
    import openpyxl
    from openpyxl.utils import column_index_from_string

    streaming = len(data) > STREAM_XLSX_BYTES
    wb = openpyxl.load_workbook(io.BytesIO(data), read_only=streaming, data_only=True)
    try:
        for ws in wb.worksheets:
            if ws.sheet_state != "visible":
                continue
            if streaming:
                yield f"{filename} › {ws.title}", _sheet(ws.iter_rows(values_only=True))
                continue
            hidden_cols = {
                i
                for letter, dim in ws.column_dimensions.items()
                if dim.hidden
                for i in range(dim.min or column_index_from_string(letter), (dim.max or 0) + 1)
            }
            rows = (
                [v for c, v in enumerate(row, 1) if c not in hidden_cols]
                for r, row in enumerate(ws.iter_rows(values_only=True), 1)
                if not ws.row_dimensions[r].hidden
            )
            yield f"{filename} › {ws.title}", _sheet(rows)
    finally:
        wb.close()


def _xls_hidden(info: dict[int, object], index: int) -> bool:
    return bool(getattr(info.get(index), "hidden", 0))


_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


def _visible(element: object) -> str:
    """The text of a Word table cell without its hidden runs (Font ▸ Hidden, w:vanish): a hidden
    row or number is not what the sender shows."""
    lines = []
    for p in element.iter(f"{_W}p"):  # type: ignore[attr-defined]
        text = ""
        for run in p.iter(f"{_W}r"):
            vanish = run.find(f"{_W}rPr/{_W}vanish")
            if vanish is not None and vanish.get(f"{_W}val", "true") not in ("0", "false"):
                continue
            text += "".join(t.text or "" for t in run.iter(f"{_W}t"))
        lines.append(text)
    return "\n".join(lines)


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
