"""The cases of the office corpus (tests/officecorpus.py), class by class as issue 24 names them.

from tests import officecases
cases = officecases.build(cache_folder)   # list[Case]; LibreOffice runs once per generator version
"""

from __future__ import annotations

import hashlib
import io
import pickle
from collections.abc import Callable
from pathlib import Path

from tests import offices
from tests.officecorpus import (
    ORGS,
    Case,
    ascii_fold,
    fax_tiff,
    mail,
    outlook_table,
    photo,
    rasterise,
    scanner_pdf,
    tcvn3,
)
from tests.offices import Person

PDF = ("application", "pdf")
DOCX = ("application", "vnd.openxmlformats-officedocument.wordprocessingml.document")
ODT = ("application", "vnd.oasis.opendocument.text")
XLS = ("application", "vnd.ms-excel")
XLSX = ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet")
JPEG = ("image", "jpeg")
TIFF = ("image", "tiff")
CSV = ("text", "csv")


def _sources() -> dict[str, tuple[str, str]]:
    """name -> (flat OpenDocument text, the format LibreOffice saves it as)."""
    vnpt, viettel, mobi, vnpost, vtpost = (ORGS[k][0] for k in ORGS)
    return {
        "ds-photo": (offices.duty_list_doc(offices.people(11, 9), vnpt), "pdf"),
        "ds-fax": (offices.duty_list_doc(offices.people(12, 10), viettel, landscape=False, narrow=True), "pdf"),
        "ds-1bit": (offices.duty_list_doc(offices.people(13, 10), vnpost), "pdf"),
        "ds-rule": (offices.duty_list_doc(offices.people(14, 10), mobi), "pdf"),
        "pa-scan": (offices.plan_doc(vtpost), "pdf"),
        "ds-wrapped": (offices.duty_list_doc(offices.people(15, 34, long_roles=True), vnpt, False, True), "pdf"),
        "pa-box": (offices.plan_doc(viettel, "box"), "docx"),
        "pa-header": (offices.plan_doc(mobi, "header"), "odt"),
        "ds-picture": (offices.duty_list_doc(offices.people(16, 9), vnpost), "pdf"),
        "ds-picture-odt": (offices.duty_list_doc(offices.people(23, 6), vnpt), "pdf"),
        "ds-picture-xlsx": (offices.duty_list_doc(offices.people(24, 6), viettel), "pdf"),
        "pa-slip": (offices.plan_doc(vnpost), "pdf"),
        "ds-docx": (offices.duty_list_doc(offices.people(17, 8), viettel), "docx"),
        "pa-docx": (offices.plan_doc(vnpt), "docx"),
        "ds-xls": (offices.two_row_header_sheet(offices.people(18, 9), vtpost), "xls:MS Excel 97"),
    }


def _converted(folder: Path) -> dict[str, bytes]:
    """Every source saved by LibreOffice, once per version of the generator (kept in `folder`)."""
    sources = _sources()
    version = hashlib.sha256(repr(sorted(sources.items())).encode()).hexdigest()[:12]
    cache = folder / f"office-{version}.pickle"
    if cache.exists():
        return pickle.loads(cache.read_bytes())
    work = folder / f"work-{version}"
    work.mkdir(parents=True, exist_ok=True)
    by_format: dict[str, list[Path]] = {}
    for name, (text, fmt) in sources.items():
        suffix = ".fods" if fmt.startswith("xls") else ".fodt"
        path = work / (name + suffix)
        path.write_text(text, encoding="utf-8")
        by_format.setdefault(fmt, []).append(path)
    for fmt, paths in by_format.items():
        offices.convert(paths, fmt, work)
    out = {}
    for name, (_, fmt) in sources.items():
        out[name] = (work / f"{name}.{fmt.split(':')[0]}").read_bytes()
    cache.write_bytes(pickle.dumps(out))
    return out


def build(folder: Path) -> list[Case]:
    """Every case; made once per version of the generators (this file, offices.py, officecorpus.py)
    and kept in `folder`: the photos, faxes and scans take longer to make than to read."""
    folder.mkdir(parents=True, exist_ok=True)
    code = b"".join(
        Path(__file__).with_name(n).read_bytes() for n in ("officecases.py", "offices.py", "officecorpus.py")
    )
    cache = folder / f"cases-{hashlib.sha256(code).hexdigest()[:12]}.pickle"
    if cache.exists():
        return pickle.loads(cache.read_bytes())
    cases = _build(folder)
    cache.write_bytes(pickle.dumps(cases))
    return cases


def _build(folder: Path) -> list[Case]:
    docs = _converted(folder)
    work = folder / "pdfs"
    work.mkdir(exist_ok=True)

    def page(name: str, dpi: int | tuple[int, int] = 200, grey: bool = True):  # noqa: ANN202
        path = work / f"{name}.pdf"
        path.write_bytes(docs[name])
        return rasterise(path, dpi, grey)

    def pdf_path(name: str) -> Path:
        path = work / f"{name}.pdf"
        path.write_bytes(docs[name])
        return path

    p = offices.people
    cases: list[Case] = []
    add: Callable[..., None] = lambda *a, **k: cases.append(Case(*a, **k))  # noqa: E731
    ds, pa = "duty-list", "plan"

    # 1. phone photos: upright on a desk, sideways with EXIF Orientation=6, sideways with no tag
    colour = page("ds-photo", 200, grey=False)
    for turn in ("upright", "exif", "sideways"):
        raw = mail(
            "vnpt-dongthap",
            "Gửi danh sách trực bầu cử",
            files=((f"IMG_2021{turn}.jpg", photo(colour, turn=turn), *JPEG),),
        )
        add("1 photo", f"photo {turn}", raw, [ds], p(11, 9))
    # 2. a fax (G4 TIFF, 204 x 196 dpi) and an office scanner's black-and-white default
    raw = mail("viettel-dongthap", "Fax danh sách trực", files=(("FAX0001.tif", fax_tiff(pdf_path("ds-fax")), *TIFF),))
    add("2 fax, 1-bit", "fax G4 204x196", raw, [ds], p(12, 10))
    raw = mail(
        "vnpost-dongthap", "Danh sách trực", files=(("scan0001.pdf", scanner_pdf(page("ds-1bit"), one_bit=True), *PDF),)
    )
    add("2 fax, 1-bit", "scanner 1-bit 200 dpi", raw, [ds], p(13, 10))
    # 3. a clean grey 200 dpi scan: a plan; a duty list with a stray vertical line through its header
    raw = mail("viettelpost-dongthap", "gửi văn bản", files=(("scan0002.pdf", scanner_pdf(page("pa-scan")), *PDF),))
    add("3 OCR slip", "scanned plan 200 dpi", raw, [pa])
    raw = mail(
        "vnpost-dongthap", "gửi văn bản", files=(("scan0004.pdf", scanner_pdf(_smudged(page("pa-slip"), work)), *PDF),)
    )
    add("3 OCR slip", "scanned plan, smudged title", raw, [pa])
    image = page("ds-rule")
    raw = mail(
        "mobifone-mien-nam",
        "gửi văn bản",
        files=(("scan0003.pdf", scanner_pdf(image, stray_rule_x=_header_x(image, pdf_path("ds-rule"))), *PDF),),
    )
    add("3 OCR slip", "scanned list, stray rule", raw, [ds], p(14, 10))
    # 4. a table pasted into Outlook
    persons = p(19, 8)
    html, text = outlook_table(offices.duty_list_rows(persons, with_unit=False))
    add(
        "4 Outlook table",
        "Outlook pasted table",
        mail("viettel-dongthap", "Danh sách trực bầu cử", text, html=html),
        [ds],
        persons,
    )
    # 5. legacy encodings in the body: TCVN3 HTML (.VnTime) and plain text
    persons = p(20, 8)
    rows = [[tcvn3(c) for c in row] for row in offices.duty_list_rows(persons, with_unit=False)]
    html, text = outlook_table(rows)
    html = html.replace("font-family:'Calibri',sans-serif", "font-family:'.VnTime'")
    add(
        "5 legacy body",
        "TCVN3 HTML table",
        mail("vnpt-dongthap", "Danh sách trực", tcvn3(text), html=html),
        [ds],
        persons,
    )
    persons = p(21, 8)
    lines = [tcvn3("Kính gửi Sở TTTT, Viễn thông Đồng Tháp gửi danh sách trực:")]
    lines += [tcvn3(f"{n}. {x.name} - {x.role} - {x.phone}") for n, x in enumerate(persons, 1)]
    add(
        "5 legacy body",
        "TCVN3 plain text",
        mail("vnpt-dongthap", "Danh sách trực", "\n".join(lines) + "\n"),
        [ds],
        persons,
    )
    # 6. a Writer table over two pages, header repeated, cells that wrap, exported to PDF
    raw = mail("vnpt-dongthap", "Danh sách trực", files=(("DS truc VNPT.pdf", docs["ds-wrapped"], *PDF),))
    add("6 wrapped cells", "Writer PDF, 2 pages, wrapped", raw, [ds], p(15, 34, long_roles=True))
    # 7. two-row header, a title in a text box, a title in the page header, a "scan to Word" .docx
    raw = mail("viettelpost-dongthap", "DS trực", files=(("DS_truc.xls", docs["ds-xls"], *XLS),))
    add("7 headers, boxes", "xls two-row header", raw, [ds], p(18, 9))
    raw = mail("viettel-dongthap", "gửi văn bản", files=(("VB_gui_So.docx", docs["pa-box"], *DOCX),))
    add("7 headers, boxes", "plan title in a text box", raw, [pa])
    raw = mail("mobifone-mien-nam", "gửi văn bản", files=(("VB_gui_So.odt", docs["pa-header"], *ODT),))
    add("7 headers, boxes", "plan title in the page header", raw, [pa])
    raw = mail(
        "vnpost-dongthap", "Danh sách trực", files=(("Scan_DS.docx", _picture_docx(page("ds-picture", 200)), *DOCX),)
    )
    add("7 headers, boxes", "scan to Word .docx", raw, [ds], p(16, 9))
    picture = _picture_docx(page("ds-picture-odt", 200))
    (work / "Scan_DS.docx").write_bytes(picture)
    offices.convert([work / "Scan_DS.docx"], "odt", work)  # Writer opened the copier's file and saved it
    raw = mail("vnpt-dongthap", "Danh sách trực", files=(("Scan_DS.odt", (work / "Scan_DS.odt").read_bytes(), *ODT),))
    add("7 headers, boxes", "scan to Word, saved as .odt", raw, [ds], p(23, 6))
    raw = mail(
        "viettel-dongthap",
        "Danh sách trực",
        files=(("DS_truc.xlsx", _picture_xlsx(page("ds-picture-xlsx", 200)), *XLSX),),
    )
    add("7 headers, boxes", "picture pasted in a sheet .xlsx", raw, [ds], p(24, 6))
    # 9. a CSV with an undiacritised header, named as offices name it
    persons = p(22, 8)
    csv = "Ho ten,Chuc vu,Dien thoai\r\n" + "".join(
        f"{ascii_fold(x.name)},{ascii_fold(x.role)},{x.digits}\r\n" for x in persons
    )
    raw = mail(
        "mobifone-mien-nam", "MobiFone gửi danh sách trực", files=(("ds_truc_mobifone.csv", csv.encode(), *CSV),)
    )
    add(
        "9 smaller",
        "csv, undiacritised header",
        raw,
        [ds],
        [Person(ascii_fold(x.name), x.role, x.unit, x.phone) for x in persons],
    )
    # controls: what already worked must keep working
    raw = mail("viettel-dongthap", "Danh sách trực", files=(("DS_truc.docx", docs["ds-docx"], *DOCX),))
    add("0 controls", "Writer .docx list", raw, [ds], p(17, 8))
    raw = mail("vnpt-dongthap", "Phương án bảo đảm TTLL", files=(("PA_TTLL.docx", docs["pa-docx"], *DOCX),))
    add("0 controls", "Writer .docx plan", raw, [pa])
    return cases


def _header_x(image, pdf: Path) -> int:  # noqa: ANN001
    """Where the stray line falls: through the last letter of the header "Số điện thoại" (its "i",
    found in the PDF), so that the line cuts the header cell in two, "Số điện thoạ" | "ị"."""
    import pdfplumber

    with pdfplumber.open(pdf) as document:
        page = document.pages[0]
        words = page.extract_words()
        word = next(b for a, b in zip(words, words[1:]) if (a["text"], b["text"]) == ("điện", "thoại"))
        char = [c for c in page.chars if abs(c["top"] - word["top"]) < 1 and word["x0"] <= c["x0"] < word["x1"]][-1]
        return round((char["x0"] + char["x1"]) / 2 * image.width / float(page.width))


def _smudged(image, work: Path):  # noqa: ANN001, ANN202
    """The plan's page with its title smudged, as a scanner's glass or a thumb leaves it: the accent
    of "ÁN" lost and a smear beside its "N" (Tesseract then reads "PHƯƠNG AM")."""
    import pdfplumber
    from PIL import ImageDraw

    with pdfplumber.open(work / "pa-slip.pdf") as document:
        page = document.pages[0]
        word = next(w for w in page.extract_words() if w["text"] == "ÁN")
        k = image.width / float(page.width)
    x0, top, x1, bottom = (word[key] * k for key in ("x0", "top", "x1", "bottom"))
    out = image.copy()
    draw = ImageDraw.Draw(out)
    draw.rectangle([x0, top - 2 * k, x0 + (x1 - x0) * 0.55, top + 4 * k], fill="white")  # the accent
    draw.ellipse([x1 - 2 * k, top + 4 * k, x1 + 2 * k, bottom - 2 * k], fill=(30, 30, 30))  # the smear
    return out


def _picture_docx(image) -> bytes:  # noqa: ANN001
    """A .docx holding only a picture of the page, as a copier's "scan to Word" writes it."""
    import docx
    from docx.shared import Cm

    document = docx.Document()
    section = document.sections[0]
    section.page_width, section.page_height = Cm(29.7), Cm(21)
    buffer = io.BytesIO()
    image.convert("L").save(buffer, "JPEG", quality=80)
    buffer.seek(0)
    document.add_picture(buffer, width=Cm(26))
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def _picture_xlsx(image) -> bytes:  # noqa: ANN001
    """A workbook holding only a picture of the list pasted into its first sheet."""
    import openpyxl
    from openpyxl.drawing.image import Image as SheetImage

    buffer = io.BytesIO()
    image.convert("L").save(buffer, "JPEG", quality=80)
    buffer.seek(0)
    book = openpyxl.Workbook()
    book.active.add_image(SheetImage(buffer), "A1")
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
