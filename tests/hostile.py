"""Hostile messages, built byte by byte: shared by tests/test_hostile.py and bench/hostile.py."""

from __future__ import annotations

import base64
import io
import zipfile
from collections.abc import Callable

HEAD = (
    b"Authentication-Results: mail.dongthap.gov.vn; dmarc=pass header.from=vnpt.vn\r\n"
    b"From: kt@vnpt.vn\r\nTo: pbcvt@dongthap.gov.vn\r\nDate: Mon, 29 Mar 2021 09:15:00 +0700\r\n"
    b"MIME-Version: 1.0\r\n"
)
SUBJECT = "=?utf-8?B?" + base64.b64encode("Phương án bảo đảm thông tin liên lạc".encode()).decode() + "?="


def _mid(name: str) -> bytes:
    return f"Message-ID: <hostile.{name}@vnpt.vn>\r\n".encode()


def _attachment(filename: bytes, data: bytes, ctype: bytes = b"application/octet-stream") -> bytes:
    return (
        b"Content-Type: " + ctype + b"\r\nContent-Transfer-Encoding: base64\r\n"
        b'Content-Disposition: attachment; filename="'
        + filename
        + b'"\r\n\r\n'
        + base64.encodebytes(data).replace(b"\n", b"\r\n")
        + b"\r\n"
    )


def _mixed(name: str, parts: list[bytes], subject: str = SUBJECT, extra: bytes = b"") -> bytes:
    boundary = b"b0undary-" + name.encode()
    body = b"".join(b"--" + boundary + b"\r\n" + part for part in parts) + b"--" + boundary + b"--\r\n"
    return (
        HEAD
        + _mid(name)
        + f"Subject: {subject}\r\n".encode()
        + extra
        + b'Content-Type: multipart/mixed; boundary="'
        + boundary
        + b'"\r\n\r\n'
        + body
    )


def _text(text: str = "Kính gửi Sở, đơn vị gửi phương án.") -> bytes:
    return b"Content-Type: text/plain; charset=utf-8\r\n\r\n" + text.encode() + b"\r\n"


def nested_multipart(depth: int = 1000) -> bytes:
    """1,000 levels of multipart (the stdlib recursion limit is 1,000 frames)."""
    inner = _text()
    for level in range(depth):
        boundary = b"n%d" % level
        inner = (
            b'Content-Type: multipart/mixed; boundary="'
            + boundary
            + b'"\r\n\r\n--'
            + boundary
            + b"\r\n"
            + inner
            + b"--"
            + boundary
            + b"--\r\n"
        )
    return HEAD + _mid("nested") + f"Subject: {SUBJECT}\r\n".encode() + inner


def many_attachments(count: int = 10_000) -> bytes:
    return _mixed("many", [_text()] + [_attachment(b"t%05d.txt" % n, b"x") for n in range(count)])


def zip_of(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def zip_bomb() -> bytes:
    """One member of 1 GiB of zeros, about 1 MB packed (ratio ~1,000)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        with zf.open("Phuong-an.docx", "w", force_zip64=True) as member:
            block = b"\0" * (1 << 20)
            for _ in range(1024):
                member.write(block)
    return _mixed("zipbomb", [_text(), _attachment(b"Phuong-an.zip", buf.getvalue(), b"application/zip")])


def nested_zips(levels: int = 12) -> bytes:
    """A zip in a zip ... twelve deep, ten copies at each level (42.zip-like fan-out, kept small)."""
    data = zip_of({"Phuong-an.docx": b"PK fake docx"})
    for level in range(levels):
        data = zip_of({f"lop-{level}-{n}.zip": data for n in range(10 if level < 3 else 1)})
    return _mixed("nestedzip", [_text(), _attachment(b"ho-so.zip", data, b"application/zip")])


def hostile_names() -> bytes:
    """Attachment and zip-member names aimed at the file system."""
    names = [
        b"../../etc/passwd",
        b"CON",
        b"A" * 300 + b".docx",
        b"Phuong\x00an.docx",
        b"/root/.ssh/authorized_keys",
        b"..\\..\\windows\\system32\\evil.dll",
    ]
    archive = zip_of({"../../../../tmp/mailbot-pwned": b"pwned", "/etc/cron.d/evil": b"x", "ok/Phuong-an.docx": b"x"})
    parts = [_text()] + [_attachment(n, b"data") for n in names]
    parts.append(_attachment(b"ho-so.zip", archive, b"application/zip"))
    return _mixed("names", parts)


def huge_header_line() -> bytes:
    """One unfolded header line of 1 MB."""
    return _mixed("hugeheader", [_text()], extra=b"X-Filler: " + b"a" * (1 << 20) + b"\r\n")


def semicolon_header() -> bytes:
    """A Content-Type stuffed with 200,000 semicolons (stdlib policy=default takes minutes on it)."""
    return (
        HEAD
        + _mid("semicolons")
        + f"Subject: {SUBJECT}\r\n".encode()
        + b"Content-Type: text/plain; "
        + b";" * 200_000
        + b"charset=utf-8\r\n\r\n"
        + "Kính gửi Sở.\r\n".encode()
    )


def invalid_utf8() -> bytes:
    """Invalid UTF-8 in the subject, the sender's name, the body and a filename, all declared utf-8."""
    return (
        HEAD.replace(b"From: kt@vnpt.vn", b'From: "Ph\xff\xfe\xc3" <kt@vnpt.vn>')
        + _mid("utf8")
        + b"Subject: Ph\xc6\xb0\xc6\xa1ng \xe1n \xff\xfe b\xe1\xba\r\nContent-Type: multipart/mixed; boundary=u\r\n\r\n"
        b"--u\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nPh\xc6\xb0\xc6 \xff\xfe\xfd \xed\xa0\x80\r\n"
        b"--u\r\n" + _attachment(b"Ph\xff\xfeng-an.docx", b"x") + b"--u--\r\n"
    )


def template_injection() -> bytes:
    """HTML and jinja2 syntax in the subject and a filename: shown as text, never run."""
    subject = "Phương án <script>alert(1)</script> {{ 7*7 }} {% for x in y %}"
    encoded = "=?utf-8?B?" + base64.b64encode(subject.encode()).decode() + "?="
    name = "PA <b>{{ config }}</b>.docx".encode()
    return _mixed("inject", [_text("<img src=x onerror=alert(1)> {{ 7*7 }}"), _attachment(name, b"x")], subject=encoded)


def template_injection_unknown() -> bytes:
    """The same from an unknown sender: it goes to the review queue, so the digest shows its subject."""
    raw = template_injection().replace(b"From: kt@vnpt.vn", b'From: "{{ 7*7 }}" <ke.la@gmail.com>')
    return raw.replace(b"dmarc=pass header.from=vnpt.vn", b"dmarc=pass header.from=gmail.com").replace(
        b"hostile.inject@", b"hostile.inject2@"
    )


def near_threshold_runs() -> bytes:
    """Forty runs of base64 characters each just short of 1 MB: a quadratic scan would take hours."""
    run = b"QUFB" * ((1024 * 1024 - 100) // 4)
    return _mixed(
        "nearruns",
        [_text(), _attachment(b"PA.docx", b"x")],
        extra=b"".join(b"X-Run: !" + run + b"!\r\n" for _ in range(40)),
    )


def _signed_plan(name: str, alter: Callable[[bytes], bytes], deep: bool = False) -> bytes:
    from tests import signing

    pki = signing.hostile_pki()
    holder = pki.deep_chain(100) if deep else pki.holder("VIỄN THÔNG ĐỒNG THÁP", "VNPT", "0100684378")
    pdf = alter(signing.sign_pdf(signing.plan_pdf(), holder))
    return _mixed(name, [_text(), _attachment(b"PA-ky-so.pdf", pdf, b"application/pdf")])


def signature_garbage_cms() -> bytes:
    """A signed PDF whose CMS blob is garbage: the signature does not hold, the message is suspicious."""
    from tests.signing import garbage_cms

    return _signed_plan("sigcms", garbage_cms)


def signature_byte_range_outside() -> bytes:
    """/ByteRange pointing 2 GB past the end of a 20 KB file."""
    from tests.signing import byte_range_outside

    return _signed_plan("sigrange", byte_range_outside)


def signature_fields_1000() -> bytes:
    """1,000 filled signature fields pointing at one signature."""
    from tests.signing import many_signature_fields

    return _signed_plan("sigfields", many_signature_fields)


def signature_chain_100() -> bytes:
    """A signer certificate under 100 intermediates, all carried in the signature."""
    return _signed_plan("sigchain", lambda pdf: pdf, deep=True)


def sevenzip_bomb() -> bytes:
    """A .7z whose one member unpacks to 200 MB of zeros (30 KB packed)."""
    import py7zr

    out = io.BytesIO()
    with py7zr.SevenZipFile(out, "w", filters=[{"id": py7zr.FILTER_LZMA2, "preset": 1}]) as archive:
        archive.writestr(b"\0" * (200 * 1024 * 1024), "DS truc.xlsx")
    return _mixed("sevenzipbomb", [_text(), _attachment(b"DS truc.7z", out.getvalue())])


def sevenzip_dictionary() -> bytes:
    """A .7z of one small duty list whose header asks for a 4 GiB LZMA2 dictionary."""
    from tests.formats import duty_xlsx, sevenzip_declaring

    data = sevenzip_declaring({"DS truc.xlsx": duty_xlsx()}, 40)
    return _mixed("sevenzipdict", [_text(), _attachment(b"DS truc.7z", data)])


def msg_items_100() -> bytes:
    """An Outlook .msg carrying a message as an item, that one another, 100 levels deep (460 KB)."""
    from tests.formats import duty_xlsx, outlook_msg, outlook_msg_nested

    data = outlook_msg_nested(outlook_msg({"DS truc.xlsx": duty_xlsx()}), 100, subject="Fw")
    return _mixed("msgitems", [_text(), _attachment(b"Fw.msg", data, b"application/vnd.ms-outlook")])


def rar_lying_size() -> bytes:
    """A .rar whose member says it unpacks to 1 GiB."""
    from tests.formats import rar_stored

    data = rar_stored({"DS truc.xlsx": b"x" * 1000}, declared={"DS truc.xlsx": 1 << 30})
    return _mixed("rarbomb", [_text(), _attachment(b"DS truc.rar", data)])


def rar_compressed_bomb() -> bytes:
    """A RAR 5 member compressed from 1 GiB to 64 KB, declaring its size."""
    from tests import rarpack

    data = rarpack.rar5_bomb("DS truc.xlsx", 1 << 30, declare=1 << 30)
    return _mixed("rar5bomb", [_text(), _attachment(b"DS truc.rar", data)])


def rar_lying_bomb() -> bytes:
    """A RAR 5 member of 200 MB compressed to 13 KB that declares 1,000 bytes."""
    from tests import rarpack

    data = rarpack.rar5_bomb("DS truc.xlsx", 200 << 20, declare=1000)
    return _mixed("rar5lying", [_text(), _attachment(b"DS truc.rar", data)])


def rar_10000() -> bytes:
    """A .rar of 10,000 small members."""
    from tests.formats import rar_stored

    data = rar_stored({f"tep-{n}.txt": b"x" * 20 for n in range(10_000)})
    return _mixed("rar10000", [_text(), _attachment(b"DS truc.rar", data)])


def tnef_10000() -> bytes:
    """A winmail.dat carrying 10,000 small attachments."""
    from tests.formats import winmail_dat

    data = winmail_dat({f"tep-{n}.txt": b"x" * 20 for n in range(10_000)})
    return _mixed("tnef10000", [_text(), _attachment(b"winmail.dat", data, b"application/ms-tnef")])


def scan_huge_image() -> bytes:
    """A PNG declaring 100,000 × 100,000 pixels, attached as a duty list."""
    from tests.scans import huge_png

    return _mixed("scanhuge", [_text(), _attachment(b"DS truc.png", huge_png(), b"image/png")])


def scan_10000_pages() -> bytes:
    """A PDF of 10,000 pages without text: each would be a page to read by OCR."""
    from tests.scans import pages_pdf

    return _mixed("scanpages", [_text(), _attachment(b"DS truc.pdf", pages_pdf(10_000), b"application/pdf")])


def scan_ccitt_bomb() -> bytes:
    """A one-page PDF drawing a CCITT image that declares 100,000 × 100,000 pixels in 64 bytes."""
    from tests.scans import image_bomb_pdf

    return _mixed("scanccitt", [_text(), _attachment(b"DS truc.pdf", image_bomb_pdf(b"CCITTFaxDecode"))])


def scan_jbig2_bomb() -> bytes:
    from tests.scans import image_bomb_pdf

    return _mixed("scanjbig2", [_text(), _attachment(b"DS truc.pdf", image_bomb_pdf(b"JBIG2Decode"))])


def html_tags_200k() -> bytes:
    """An HTML-only mail of unclosed hidden elements and stray end tags, up to the body cap (200 000
    characters): html_to_text reads it in linear time (a scan of the open elements for each stray
    end tag took 90 s here)."""
    n = 27_000
    html = "<style>b{display:none}</style>" + "<b>" * n + "</i>" * n
    return (
        HEAD
        + f"Subject: {SUBJECT}\r\n".encode()
        + _mid("htmltags")
        + b"Content-Type: text/html; charset=utf-8\r\n\r\n"
        + html.encode()
        + b"\r\n"
    )


CASES: dict[str, Callable[[], bytes]] = {
    "nested-multipart-1000": nested_multipart,
    "attachments-10000": many_attachments,
    "zip-bomb-1GiB": zip_bomb,
    "nested-zips-12": nested_zips,
    "hostile-file-names": hostile_names,
    "header-line-1MB": huge_header_line,
    "semicolons-200k": semicolon_header,
    "invalid-utf8": invalid_utf8,
    "html-and-jinja-in-subject-and-name": template_injection,
    "the-same-from-an-unknown-sender": template_injection_unknown,
    "base64-runs-just-under-1MB-x40": near_threshold_runs,
    "signature-garbage-cms": signature_garbage_cms,
    "signature-byte-range-outside": signature_byte_range_outside,
    "signature-fields-1000": signature_fields_1000,
    "signature-chain-100": signature_chain_100,
    "7z-bomb-200MB": sevenzip_bomb,
    "7z-dictionary-4GiB": sevenzip_dictionary,
    "msg-items-100-deep": msg_items_100,
    "rar-declaring-1GiB": rar_lying_size,
    "rar5-compressed-bomb-1GiB": rar_compressed_bomb,
    "rar5-200MB-declaring-1000-bytes": rar_lying_bomb,
    "rar-10000-files": rar_10000,
    "winmail-dat-10000-files": tnef_10000,
    "scan-100000x100000-png": scan_huge_image,
    "scan-pdf-10000-pages": scan_10000_pages,
    "scan-ccitt-bomb": scan_ccitt_bomb,
    "scan-jbig2-bomb": scan_jbig2_bomb,
    "html-tags-200k": html_tags_200k,
}


def heavy_content_pdf(pages: int, tokens: int = 1_900_000) -> bytes:
    """A few KB of PDF whose every page draws one content stream of `tokens` operands (just under
    pypdf's limits): cheap to store, tens of seconds per page for a layout-mode text reader."""
    import zlib

    stream = zlib.compress(b"0 " * tokens, 9)
    kids = " ".join(f"{4 + i} 0 R" for i in range(pages))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{kids}] /Count {pages} >>".encode(),
        f"<< /Length {len(stream)} /Filter /FlateDecode >>\nstream\n".encode() + stream + b"\nendstream",
        *(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 3 0 R /Resources << >> >>"
            for _ in range(pages)
        ),
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)
