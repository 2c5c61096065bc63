"""Documents made the way Vietnamese offices make them: written as flat OpenDocument (.fodt, .fods),
then saved by LibreOffice headless as .docx, .odt, .xls or .pdf, in Liberation Serif (Times-like), as
a clerk's Word or Calc would. Deterministic: the same people and text for the same seed.

Needs Debian's libreoffice-writer-nogui, libreoffice-calc-nogui and fonts-liberation (.ci/run
installs them); `available()` says what is missing.
"""

from __future__ import annotations

import random
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

FAMILY = ["Nguyễn", "Trần", "Lê", "Phạm", "Huỳnh", "Hoàng", "Võ", "Phan", "Đặng", "Bùi", "Đỗ", "Ngô", "Dương", "Lý"]
MIDDLE = ["Văn", "Thị", "Minh", "Thanh", "Hữu", "Quang", "Ngọc", "Đức", "Thị Mỹ", "Công", "Hoài", "Kim"]
GIVEN = ["Nam", "Lan", "Hùng", "Em", "Tuấn", "Bình", "Vinh", "Hạnh", "Phước", "Linh", "Lộc", "Tâm", "Dũng", "Hương"]
GIVEN += ["Khoa", "Trang", "Sơn", "Thảo", "Hiếu", "Nhung", "Phúc", "Quyên", "Thắng", "Yến", "Toàn", "Mười"]
ROLES = ["Giám đốc", "Phó Giám đốc", "Trưởng phòng", "Chuyên viên", "Kỹ thuật viên", "Nhân viên", "Tổ trưởng"]
LONG_ROLES = [
    "Trưởng phòng Điều hành thông tin",
    "Phó Trưởng phòng Kỹ thuật - Đầu tư",
    "Kỹ thuật viên ứng cứu thông tin",
]
UNITS = ["Phòng Kỹ thuật", "Trung tâm Điều hành thông tin", "Trung tâm Viễn thông Cao Lãnh", "TTVT Sa Đéc"]
PREFIXES = ["091", "094", "088", "098", "097", "086", "090", "093", "089", "070", "079", "077", "081", "083", "085"]
PLAN_TITLE = "PHƯƠNG ÁN"
PLAN_SUBTITLE = (
    "Bảo đảm thông tin liên lạc phục vụ bầu cử đại biểu Quốc hội khóa XV và đại biểu Hội đồng nhân dân các cấp "
    "nhiệm kỳ 2021 - 2026"
)
LIST_TITLE = "DANH SÁCH CÁN BỘ TRỰC BẢO ĐẢM THÔNG TIN LIÊN LẠC PHỤC VỤ BẦU CỬ"


@dataclass(frozen=True)
class Person:
    name: str
    role: str
    unit: str
    phone: str  # as typed: "0912.345.678" or "0912 345 678"

    @property
    def digits(self) -> str:
        return "".join(c for c in self.phone if c.isdigit())


def people(seed: int, count: int, long_roles: bool = False) -> list[Person]:
    """`count` people with valid Vietnamese mobile numbers, the same for the same seed."""
    import phonenumbers

    rng = random.Random(seed)
    out: list[Person] = []
    names: set[str] = set()
    while len(out) < count:
        name = f"{rng.choice(FAMILY)} {rng.choice(MIDDLE)} {rng.choice(GIVEN)}"
        if name in names:
            continue
        while True:
            digits = rng.choice(PREFIXES) + "".join(rng.choice("0123456789") for _ in range(7))
            if phonenumbers.is_valid_number(phonenumbers.parse(digits, "VN")):
                break
        sep = rng.choice([" ", ".", ""])
        phone = f"{digits[:4]}{sep}{digits[4:7]}{sep}{digits[7:]}"
        role = rng.choice(LONG_ROLES if long_roles and rng.random() < 0.5 else ROLES)
        names.add(name)
        out.append(Person(name, role, rng.choice(UNITS), phone))
    return out


def available() -> str | None:
    """None when LibreOffice and the Liberation fonts are here, else what to install."""
    if shutil.which("soffice") is None:
        return "LibreOffice is not installed (apt-get install libreoffice-writer-nogui libreoffice-calc-nogui)"
    if not Path("/usr/share/fonts/truetype/liberation/LiberationSerif-Regular.ttf").exists():
        return "the Liberation fonts are not installed (apt-get install fonts-liberation)"
    return None


def convert(sources: list[Path], fmt: str, outdir: Path) -> None:
    """LibreOffice headless saves each source as `fmt` ("pdf", "docx", "odt", "xls:MS Excel 97") in outdir."""
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            ["soffice", "--headless", f"-env:UserInstallation=file://{profile}/p", "--convert-to", fmt]
            + ["--outdir", str(outdir), *map(str, sources)],
            check=True,
            capture_output=True,
            timeout=300,
        )


# -- flat OpenDocument ---------------------------------------------------------------------------

_NS = (
    'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
    'xmlns:style="urn:oasis:names:tc:opendocument:xmlns:style:1.0" '
    'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
    'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
    'xmlns:draw="urn:oasis:names:tc:opendocument:xmlns:drawing:1.0" '
    'xmlns:fo="urn:oasis:names:tc:opendocument:xmlns:xsl-fo-compatible:1.0" '
    'xmlns:svg="urn:oasis:names:tc:opendocument:xmlns:svg-compatible:1.0" office:version="1.3"'
)
_STYLES = """<office:font-face-decls><style:font-face style:name="Liberation Serif"
 svg:font-family="'Liberation Serif'" style:font-family-generic="roman"/></office:font-face-decls>
<office:styles><style:default-style style:family="paragraph"><style:text-properties style:font-name="Liberation Serif"
 fo:font-size="13pt" fo:language="vi" fo:country="VN"/></style:default-style></office:styles>"""


def _p(text: str, style: str = "") -> str:
    attr = f' text:style-name="{style}"' if style else ""
    return f"<text:p{attr}>{escape(text)}</text:p>"


def writer(body: str, landscape: bool = False, header: str = "", columns: list[float] | None = None) -> str:
    """A flat ODT: Liberation Serif 13 pt, A4, an optional page header, table columns in cm."""
    width, height = ("29.7cm", "21cm") if landscape else ("21cm", "29.7cm")
    cols = "".join(
        f'<style:style style:name="Col{i}" style:family="table-column">'
        f'<style:table-column-properties style:column-width="{w}cm"/></style:style>'
        for i, w in enumerate(columns or [])
    )
    head = f"<style:header>{_p(header, 'Title')}</style:header>" if header else ""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<office:document {_NS} office:mimetype="application/vnd.oasis.opendocument.text">{_STYLES}
<office:automatic-styles>
<style:page-layout style:name="pm1"><style:page-layout-properties fo:page-width="{width}" fo:page-height="{height}"
 style:print-orientation="{"landscape" if landscape else "portrait"}" fo:margin-top="1.5cm" fo:margin-bottom="1.5cm"
 fo:margin-left="2cm" fo:margin-right="1.5cm"/><style:header-style/></style:page-layout>
<style:style style:name="Tbl" style:family="table"><style:table-properties style:width="{sum(columns or [1]):.2f}cm"
 table:align="left"/></style:style>
<style:style style:name="Cell" style:family="table-cell"><style:table-cell-properties fo:border="0.5pt solid #000000"
 fo:padding="0.08cm"/></style:style>{cols}
<style:style style:name="Title" style:family="paragraph"><style:paragraph-properties fo:text-align="center"/>
 <style:text-properties fo:font-weight="bold" fo:font-size="14pt"/></style:style>
<style:style style:name="Bold" style:family="paragraph"><style:text-properties fo:font-weight="bold"/></style:style>
</office:automatic-styles>
<office:master-styles><style:master-page style:name="Standard" style:page-layout-name="pm1">{head}</style:master-page>
</office:master-styles>
<office:body><office:text>{body}</office:text></office:body></office:document>"""


def table(rows: list[list[str]], header_rows: int = 1) -> str:
    """A ruled table; its first `header_rows` rows repeat on every page, as Word's "repeat header row"."""
    ncols = max(len(r) for r in rows)
    cols = "".join(f'<table:table-column table:style-name="Col{i}"/>' for i in range(ncols))

    def row(cells: list[str], bold: bool) -> str:
        return (
            "<table:table-row>"
            + "".join(
                f'<table:table-cell table:style-name="Cell" office:value-type="string">{_p(c, "Bold" if bold else "")}'
                "</table:table-cell>"
                for c in cells
            )
            + "</table:table-row>"
        )

    head = "".join(row(r, True) for r in rows[:header_rows])
    body = "".join(row(r, False) for r in rows[header_rows:])
    return (
        f'<table:table table:name="DS" table:style-name="Tbl">{cols}'
        f"<table:table-header-rows>{head}</table:table-header-rows>{body}</table:table>"
    )


def text_box(text: str) -> str:
    """A paragraph anchoring a Word-style text box that holds `text` (a title, as offices draw them)."""
    return (
        '<text:p><draw:frame draw:name="Box" text:anchor-type="paragraph" svg:width="16cm" svg:height="2.4cm" '
        f'svg:x="0.5cm" svg:y="0cm"><draw:text-box>{_p(text, "Title")}</draw:text-box></draw:frame></text:p>'
    )


def letterhead(organization: str) -> str:
    return _p("TẬP ĐOÀN BƯU CHÍNH VIỄN THÔNG VIỆT NAM") + _p(organization.upper(), "Bold")


def closing() -> str:
    """What follows a list in a real letter: where it goes, who signed. None of it is a person on duty."""
    return "".join(
        _p(t)
        for t in (
            "Nơi nhận:",
            "- Sở Thông tin và Truyền thông (b/c);",
            "- Lưu: VT, KT.",
            "GIÁM ĐỐC",
            "(đã ký)",
            "Nguyễn Văn Thành",
        )
    )


def duty_list_rows(persons: list[Person], with_unit: bool = True) -> list[list[str]]:
    head = ["STT", "Họ và tên", "Chức vụ"] + (["Đơn vị"] if with_unit else []) + ["Số điện thoại", "Thời gian trực"]
    return [head] + [
        [str(n), p.name, p.role] + ([p.unit] if with_unit else []) + [p.phone, "22/5 - 23/5/2021"]
        for n, p in enumerate(persons, 1)
    ]


def duty_list_doc(persons: list[Person], organization: str, landscape: bool = True, narrow: bool = False) -> str:
    """A duty list as a Writer document: letterhead, title, a ruled table, the closing and signature."""
    columns = [1.2, 4.5, 4.0, 5.5, 3.6, 3.5] if not narrow else [1.0, 3.0, 2.6, 3.0, 3.0, 2.6]
    body = letterhead(organization) + _p(LIST_TITLE, "Title") + table(duty_list_rows(persons)) + closing()
    return writer(body, landscape=landscape, columns=columns)


def plan_doc(organization: str, title_in: str = "body") -> str:
    """A plan; its title in the body, in a text box ("box") or in the page header ("header")."""
    title = f"{PLAN_TITLE} {PLAN_SUBTITLE}"
    paragraphs = [
        "I. MỤC ĐÍCH, YÊU CẦU",
        "Bảo đảm thông tin liên lạc thông suốt, an toàn trong suốt thời gian diễn ra cuộc bầu cử.",
        "II. NỘI DUNG",
        "1. Tổ chức trực ứng cứu thông tin 24/24 giờ tại các trung tâm viễn thông huyện, thành phố.",
        "2. Dự phòng máy phát điện, thiết bị truyền dẫn và nhân lực ứng cứu tại các điểm bỏ phiếu.",
        "III. TỔ CHỨC THỰC HIỆN",
        "Các đơn vị trực thuộc triển khai thực hiện và báo cáo kết quả về Phòng Kỹ thuật.",
    ]
    head = letterhead(organization)
    if title_in == "box":
        body = head + text_box(title)
    elif title_in == "header":
        body = head
    else:
        body = head + _p(PLAN_TITLE, "Title") + _p(PLAN_SUBTITLE, "Title")
    body += "".join(_p(t) for t in paragraphs) + closing()
    return writer(body, header=title if title_in == "header" else "")


def calc(rows: list[list[tuple[str, int, int]]]) -> str:
    """A flat ODS, each cell (text, columns spanned, rows spanned); "" with 0, 0 is a covered cell."""

    def cell(text: str, cols: int, rows_: int) -> str:
        if cols == 0:
            return "<table:covered-table-cell/>"
        span = (f' table:number-columns-spanned="{cols}"' if cols > 1 else "") + (
            f' table:number-rows-spanned="{rows_}"' if rows_ > 1 else ""
        )
        return f'<table:table-cell{span} office:value-type="string">{_p(text)}</table:table-cell>'

    body = "".join("<table:table-row>" + "".join(cell(*c) for c in r) + "</table:table-row>" for r in rows)
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<office:document {_NS} office:mimetype="application/vnd.oasis.opendocument.spreadsheet">{_STYLES}
<office:body><office:spreadsheet><table:table table:name="DS trực">{body}</table:table></office:spreadsheet>
</office:body></office:document>"""


def two_row_header_sheet(persons: list[Person], organization: str) -> str:
    """A Calc sheet: a title row, then "Thông tin liên hệ" merged over "Số điện thoại" and "Email"."""
    covered = ("", 0, 0)
    rows = [
        [(organization.upper(), 5, 1), covered, covered, covered, covered],
        [(LIST_TITLE, 5, 1), covered, covered, covered, covered],
        [("STT", 1, 2), ("Họ và tên", 1, 2), ("Chức vụ", 1, 2), ("Thông tin liên hệ", 2, 1), covered],
        [covered, covered, covered, ("Số điện thoại", 1, 1), ("Email", 1, 1)],
    ]
    for n, p in enumerate(persons, 1):
        user = p.name.split()[-1].lower()
        rows.append([(str(n), 1, 1), (p.name, 1, 1), (p.role, 1, 1), (p.phone, 1, 1), (f"{user}{n}@vnpt.vn", 1, 1)])
    return calc(rows)
