"""A corpus of mails as carriers really send them, by class (issue 24): documents written by
LibreOffice (tests/offices.py), then printed and scanned, faxed or photographed with the effects of
the real devices, or pasted into Outlook. Each case knows what a clerk would read in it: the
documents it carries and the people on its duty list.

    cases = build(folder)          # every case, made once and kept in `folder` (a cache)

Deterministic: the same bytes for the same generator, so figures are comparable between runs
(bench/offices.py prints them). Needs LibreOffice, fonts-liberation and poppler-utils.
"""

from __future__ import annotations

import hashlib
import io
import random
import shutil
import subprocess
import unicodedata
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

from tests import offices
from tests.offices import Person

ORGS = {
    "vnpt-dongthap": ("Viễn thông Đồng Tháp", "kt@vnpt.vn"),
    "viettel-dongthap": ("Viettel Đồng Tháp", "kt@viettel.com.vn"),
    "mobifone-mien-nam": ("Trung tâm Mạng lưới MobiFone miền Nam", "dh@mobifone.vn"),
    "vnpost-dongthap": ("Bưu điện tỉnh Đồng Tháp", "vp@vnpost.vn"),
    "viettelpost-dongthap": ("Chi nhánh Bưu chính Viettel Đồng Tháp", "cn@viettelpost.com.vn"),
}


@dataclass
class Case:
    cls: str  # the class of issue 24 it stands for
    name: str
    raw: bytes  # the mail
    documents: list[str]  # what a clerk would say it carries: "plan", "duty-list"
    people: list[Person] = field(default_factory=list)  # the duty list's people, in order


def available() -> str | None:
    missing = offices.available()
    if missing is None and shutil.which("pdftoppm") is None:
        missing = "poppler-utils is not installed (apt-get install poppler-utils)"
    return missing


def mail(
    org: str, subject: str, body: str = "Kính gửi Sở Thông tin và Truyền thông.", files=(), html: str | None = None
) -> bytes:  # noqa: ANN001
    """A mail from `org`, authenticated by our server, with files or an HTML alternative (as Outlook writes)."""
    sender = ORGS[org][1]
    msg = EmailMessage(policy=SMTP)
    msg["Authentication-Results"] = f"mail.dongthap.gov.vn; dmarc=pass header.from={sender.split('@')[1]}"
    msg["From"] = sender
    msg["To"] = "pbcvt@dongthap.gov.vn"
    msg["Subject"] = subject
    msg["Date"] = "Thu, 20 May 2021 09:15:00 +0700"
    msg["Message-ID"] = f"<{hashlib.sha1((org + subject + body).encode()).hexdigest()[:16]}@{sender.split('@')[1]}>"
    msg.set_content(body)
    if html is not None:
        msg.add_alternative(html, subtype="html")
    for name, data, maintype, subtype in files:
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return msg.as_bytes()


# -- devices: scanner, fax, phone -----------------------------------------------------------------


def rasterise(pdf: Path, dpi: int | tuple[int, int], grey: bool = True):  # noqa: ANN201
    """The PDF's first page as poppler renders it (a PIL image)."""
    from PIL import Image

    rx, ry = (dpi, dpi) if isinstance(dpi, int) else dpi
    out = subprocess.run(
        [
            "pdftoppm",
            "-f",
            "1",
            "-l",
            "1",
            "-rx",
            str(rx),
            "-ry",
            str(ry),
            *(["-gray"] if grey else []),
            "-png",
            str(pdf),
        ],
        check=True,
        capture_output=True,
    ).stdout
    return Image.open(io.BytesIO(out)).copy()


def scanner_pdf(image, dpi: int = 200, one_bit: bool = False, stray_rule_x: int | None = None) -> bytes:  # noqa: ANN001
    """An office scanner's PDF: grey JPEG at 200 dpi, or black and white (its default); a dirty glass
    can draw a thin vertical line through the page (`stray_rule_x`, pixels)."""
    from PIL import ImageDraw, ImageFilter

    page = image.convert("L").filter(ImageFilter.GaussianBlur(0.6))
    if stray_rule_x is not None:
        ImageDraw.Draw(page).line([(stray_rule_x, 0), (stray_rule_x, page.height)], fill=40, width=2)
    out = io.BytesIO()
    if one_bit:
        page.point(lambda v: 255 if v > 150 else 0).convert("1").save(out, "PDF", resolution=float(dpi))
    else:
        page.convert("RGB").save(out, "PDF", resolution=float(dpi), quality=75)
    return out.getvalue()


def fax_tiff(pdf: Path, seed: int = 1) -> bytes:
    """A fax: 204 x 196 dpi, 1 bit, Group 4, with the speckles of a phone line."""
    rng = random.Random(seed)
    page = rasterise(pdf, (204, 196)).point(lambda v: 255 if v > 140 else 0)
    pixels = page.load()
    for _ in range(page.width * page.height // 4000):
        pixels[rng.randrange(page.width), rng.randrange(page.height)] = 0
    out = io.BytesIO()
    page.convert("1").save(out, "TIFF", compression="group4", dpi=(204, 196))
    return out.getvalue()


def photo(image, seed: int = 3, turn: str = "upright"):  # noqa: ANN001, ANN201
    """A phone photo of the printed page (give it at 200 dpi: a 12-megapixel phone held over an A4
    page sees about that) on a desk: a little perspective, uneven light, noise, JPEG.
    `turn`: "upright"; "exif" (pixels sideways, Orientation=6 as phones save); "sideways" (no tag).
    Returns the JPEG bytes."""
    from PIL import Image, ImageFilter

    rng = random.Random(seed)
    page = image.convert("RGB")
    w, h = page.size
    desk = Image.new("RGB", (int(w * 1.3), int(h * 1.3)), (118, 92, 64))  # a wooden desk
    desk = Image.blend(desk, Image.effect_noise(desk.size, 40).convert("RGB"), 0.15)
    ox, oy = (desk.width - w) // 2, (desk.height - h) // 2
    desk.paste(page, (ox, oy))
    # the phone held a little above the page's lower edge: its top edge looks shorter, and a little turned
    d = [rng.uniform(0.04, 0.07) * w, rng.uniform(0.01, 0.03) * h]
    page_corners = [(ox, oy), (ox + w, oy), (ox + w, oy + h), (ox, oy + h)]
    seen = [
        (ox + d[0], oy + d[1]),
        (ox + w - d[0] * 0.7, oy),
        (ox + w + d[0] * 0.2, oy + h),
        (ox - d[0] * 0.1, oy + h - d[1]),
    ]
    coefficients = _coefficients(seen, page_corners)
    shot = desk.transform(desk.size, Image.Transform.PERSPECTIVE, coefficients, Image.Resampling.BICUBIC)
    light = Image.linear_gradient("L").resize(shot.size).point(lambda v: 200 + v // 5)
    shot = Image.composite(shot, Image.new("RGB", shot.size, (60, 50, 40)), light).filter(ImageFilter.GaussianBlur(0.8))
    out = io.BytesIO()
    if turn == "upright":
        shot.save(out, "JPEG", quality=85)
    else:
        sideways = shot.transpose(Image.Transpose.ROTATE_90)  # the sensor's rows: the page turned left
        exif = Image.Exif()
        if turn == "exif":
            exif[0x0112] = 6  # Orientation: turn 90° clockwise to view
        sideways.save(out, "JPEG", quality=85, exif=exif.tobytes())
    return out.getvalue()


def _coefficients(seen: list[tuple[float, float]], page: list[tuple[float, float]]) -> list[float]:
    """PIL's perspective coefficients: the point of the photo at each corner `seen` shows the page's
    corner `page` (PIL maps each output pixel to the input pixel it shows)."""
    import numpy as np

    a = []
    quad = page
    for (x, y), (u, v) in zip(seen, quad):
        a.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        a.append([0, 0, 0, x, y, 1, -v * x, -v * y])
    b = [c for point in quad for c in point]
    return list(np.linalg.solve(np.array(a, dtype=float), np.array(b, dtype=float)))


# -- Outlook and legacy bodies ------------------------------------------------------------------


def outlook_table(rows: list[list[str]]) -> tuple[str, str]:
    """(HTML, text) as Outlook writes a table pasted into a mail: MsoTableGrid, each cell a
    <p class=MsoNormal>; the text alternative one cell per line."""
    cells = "".join(
        "<tr>"
        + "".join(
            f"<td width=120 valign=top style='width:90.0pt;border:solid windowtext 1.0pt;padding:0in 5.4pt'>"
            f"<p class=MsoNormal><span lang=VI>{c}<o:p></o:p></span></p></td>"
            for c in row
        )
        + "</tr>"
        for row in rows
    )
    html = (
        "<html xmlns:o='urn:schemas-microsoft-com:office:office'><head><meta charset='utf-8'>"
        "<style>p.MsoNormal{margin:0in;font-size:11.0pt;font-family:'Calibri',sans-serif}</style></head>"
        "<body lang=EN-US><div class=WordSection1><p class=MsoNormal>Kính gửi Sở Thông tin và Truyền thông,<o:p></o:p></p>"
        "<p class=MsoNormal>Đơn vị gửi danh sách cán bộ trực như sau:<o:p></o:p></p>"
        "<table class=MsoTableGrid border=1 cellspacing=0 cellpadding=0 style='border-collapse:collapse;border:none'>"
        f"<tbody>{cells}</tbody></table><p class=MsoNormal><o:p>&nbsp;</o:p></p>"
        "<p class=MsoNormal>Trân trọng.<o:p></o:p></p></div></body></html>"
    )
    text = "Kính gửi Sở Thông tin và Truyền thông,\n\nĐơn vị gửi danh sách cán bộ trực như sau:\n\n"
    text += "\n\n".join("\n".join(row) for row in rows) + "\n\nTrân trọng.\n"
    return html, text


_TCVN3 = str.maketrans(
    "àáảãạăằắẳẵặâầấẩẫậđèéẻẽẹêềếểễệìíỉĩịòóỏõọôồốổỗộơờớởỡợùúủũụưừứửữựỳýỷỹỵĂÂĐÊÔƠƯ",
    "µ¸¶·¹¨»¾¼½Æ©ÇÊÈÉË®ÌÐÎÏÑ\xaaÒÕÓÔÖ×ÝØÜÞßãáâä«åèæçé¬êíëìîïóñòô\xadõøö÷ùúýûüþ¡¢§£¤¥¦",
)


def tcvn3(text: str) -> str:
    """Text as typed with the .VnTime font (a capital with a tone needs .VnTimeH: typed lower-case)."""
    return "".join(c if c.isascii() or c.translate(_TCVN3) != c else c.lower() for c in text).translate(_TCVN3)


def ascii_fold(text: str) -> str:
    text = text.replace("đ", "d").replace("Đ", "D")
    return "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))
