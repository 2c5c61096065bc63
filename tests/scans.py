"""Scanned documents and phone photos, drawn at test time with Pillow: a duty list as a ruled or
unruled table, printed at 300 dpi, optionally blurred like a scanner, photographed (2° off, noise,
JPEG), or under a red seal; a plan's first page. Each knows the numbers it carries, so tests and
bench/ocr.py can say which were read right. Uses DejaVu Serif (Debian's fonts-dejavu-core)."""

from __future__ import annotations

import io
import random
from dataclasses import dataclass, field
from pathlib import Path

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
A4 = (2480, 3508)  # pixels at 300 dpi

PEOPLE = [
    ("Trần Văn Nam", "Phó Giám đốc", "0912 345 678"),
    ("Nguyễn Thị Lan", "Chuyên viên", "0913 123 456"),
    ("Lê Văn Hùng", "Trưởng phòng Kỹ thuật", "0987 654 321"),
    ("Võ Thị Em", "Nhân viên", "0918 246 802"),
    ("Phạm Minh Tuấn", "Tổ trưởng", "0903 579 135"),
    ("Huỳnh Thanh Bình", "Kỹ thuật viên", "0977 864 209"),
]


def font(size: int, bold: bool = False):  # noqa: ANN201
    from PIL import ImageFont

    return ImageFont.truetype(str(FONT_DIR / ("DejaVuSerif-Bold.ttf" if bold else "DejaVuSerif.ttf")), size)


@dataclass
class Scan:
    image: object  # PIL.Image
    numbers: list[str] = field(default_factory=list)  # digits only, as printed
    names: list[str] = field(default_factory=list)

    def png(self) -> bytes:
        out = io.BytesIO()
        self.image.save(out, "PNG")  # type: ignore[attr-defined]
        return out.getvalue()

    def jpeg(self, quality: int = 80) -> bytes:
        out = io.BytesIO()
        self.image.convert("RGB").save(out, "JPEG", quality=quality)  # type: ignore[attr-defined]
        return out.getvalue()

    def heic(self) -> bytes:
        """As an iPhone saves a photo (HEIF with HEVC, through pillow-heif)."""
        import pillow_heif

        pillow_heif.register_heif_opener()
        out = io.BytesIO()
        self.image.convert("RGB").save(out, "HEIF", quality=80)  # type: ignore[attr-defined]
        return out.getvalue()

    def pdf(self) -> bytes:
        """An image-only PDF, as a scanner writes it (300 dpi)."""
        out = io.BytesIO()
        self.image.convert("RGB").save(out, "PDF", resolution=300.0)  # type: ignore[attr-defined]
        return out.getvalue()


def duty_list(people: list[tuple[str, str, str]] = PEOPLE, ruled: bool = True, spaced: bool = True) -> Scan:
    """A printed duty list: a title, then a table STT | Họ và tên | Chức vụ | Số điện thoại."""
    from PIL import Image, ImageDraw

    image = Image.new("L", A4, 255)
    draw = ImageDraw.Draw(image)
    draw.text((300, 200), "VIỄN THÔNG ĐỒNG THÁP", font=font(44, True), fill=0)
    draw.text((300, 330), "DANH SÁCH CÁN BỘ TRỰC BẦU CỬ", font=font(52, True), fill=0)
    columns = [200, 360, 1020, 1650, 2300]
    header = ("STT", "Họ và tên", "Chức vụ", "Số điện thoại")
    top, height = 520, 110
    rows = [header] + [
        (str(n), name, role, phone if spaced else phone.replace(" ", ""))
        for n, (name, role, phone) in enumerate(people, 1)
    ]
    for r, row in enumerate(rows):
        y = top + r * height
        for c, text in enumerate(row):
            draw.text((columns[c] + 20, y + 30), text, font=font(40, r == 0), fill=0)
    if ruled:
        bottom = top + len(rows) * height
        for r in range(len(rows) + 1):
            draw.line([(columns[0], top + r * height), (columns[-1], top + r * height)], fill=0, width=4)
        for x in columns:
            draw.line([(x, top), (x, bottom)], fill=0, width=4)
    return Scan(image, [p.replace(" ", "") for _, _, p in people], [n for n, _, _ in people])


def plan_page() -> Scan:
    from PIL import Image, ImageDraw

    image = Image.new("L", A4, 255)
    draw = ImageDraw.Draw(image)
    lines = [
        ("TỔNG CÔNG TY CP BƯU CHÍNH VIETTEL", 40, True),
        ("CHI NHÁNH ĐỒNG THÁP", 40, True),
        ("PHƯƠNG ÁN", 56, True),
        ("Bảo đảm thông tin liên lạc phục vụ bầu cử đại biểu Quốc hội", 40, False),
        ("khóa XV và đại biểu Hội đồng nhân dân các cấp", 40, False),
        ("I. MỤC ĐÍCH, YÊU CẦU", 40, True),
        ("Bảo đảm chuyển phát tài liệu bầu cử an toàn, đúng thời gian.", 38, False),
    ]
    y = 250
    for text, size, bold in lines:
        draw.text((260, y), text, font=font(size, bold), fill=0)
        y += size * 2 + 20
    return Scan(image)


def blurred(scan: Scan, radius: float = 1.2) -> Scan:
    from PIL import ImageFilter

    return Scan(scan.image.filter(ImageFilter.GaussianBlur(radius)), scan.numbers, scan.names)  # type: ignore[attr-defined]


def photographed(scan: Scan, angle: float = 2.0, seed: int = 7) -> Scan:
    """A phone photo: turned by `angle` degrees, greyish paper, uneven light, noise, then JPEG."""
    from PIL import Image

    rng = random.Random(seed)
    image = scan.image.rotate(angle, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=235)  # type: ignore[attr-defined]
    noise = Image.effect_noise(image.size, 18).point(lambda v: (v - 128) // 3)
    image = Image.blend(image, Image.new("L", image.size, 200 + rng.randint(0, 20)), 0.12)
    image = Image.eval(image, lambda v: max(0, min(255, v)))
    image = Image.composite(image, noise, Image.new("L", image.size, 235))
    out = io.BytesIO()
    image.convert("RGB").save(out, "JPEG", quality=72)
    return Scan(Image.open(io.BytesIO(out.getvalue())), scan.numbers, scan.names)


def sealed(scan: Scan) -> Scan:
    """A red round seal stamped over the last rows and the signature."""
    from PIL import ImageDraw

    image = scan.image.convert("RGB")  # type: ignore[attr-defined]
    draw = ImageDraw.Draw(image)
    cx, cy, r = 1700, 1150, 260
    for width in range(0, 14, 2):
        draw.ellipse([cx - r + width, cy - r + width, cx + r - width, cy + r - width], outline=(210, 30, 40))
    draw.text((cx - 180, cy - 30), "VIỄN THÔNG", font=font(48, True), fill=(210, 30, 40))
    draw.text((cx - 170, cy + 40), "ĐỒNG THÁP", font=font(48, True), fill=(210, 30, 40))
    return Scan(image, scan.numbers, scan.names)


def multipage_pdf(scans: list[Scan]) -> bytes:
    out = io.BytesIO()
    first, *rest = [s.image.convert("RGB") for s in scans]  # type: ignore[attr-defined]
    first.save(out, "PDF", resolution=300.0, save_all=True, append_images=rest)
    return out.getvalue()


# -- hostile scans ----------------------------------------------------------------------------------------
def _pdf(objects: list[bytes]) -> bytes:
    """A PDF from its objects (1 is the catalog), with a correct cross-reference table."""
    out = b"%PDF-1.7\n"
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return out


def image_bomb_pdf(filter_name: bytes) -> bytes:
    """One A4 page drawing a 1-bit image that declares 100,000 × 100,000 pixels (1.25 GB decoded),
    compressed to a few bytes with CCITTFaxDecode or JBIG2Decode."""
    params = b"/DecodeParms << /K -1 /Columns 100000 /Rows 100000 >>" if filter_name == b"CCITTFaxDecode" else b""
    data = b"\x00" * 64
    image = (
        b"<< /Type /XObject /Subtype /Image /Width 100000 /Height 100000 /BitsPerComponent 1 "
        b"/ColorSpace /DeviceGray /Filter /"
        + filter_name
        + b" "
        + params
        + b" /Length %d >>\nstream\n" % len(data)
        + data
        + b"\nendstream"
    )
    content = b"q 595 0 0 842 0 0 cm /Im1 Do Q"
    return _pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /XObject << /Im1 4 0 R >> >> /Contents 5 0 R >>",
            image,
            b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        ]
    )


def pages_pdf(count: int = 10_000) -> bytes:
    """A PDF of `count` blank A4 pages (no text: each a "scan" to read)."""
    kids = b" ".join(b"%d 0 R" % (3 + n) for n in range(count))
    pages = [b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>"] * count
    return _pdf(
        [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [" + kids + b"] /Count %d >>" % count, *pages]
    )


def huge_png() -> bytes:
    """A PNG header declaring 100,000 × 100,000 pixels, with 30 KB of data behind it (big enough to be
    taken for a photo, not a logo)."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", random.Random(1).randbytes(30_000))
        + chunk(b"IEND", b"")
    )
