"""`mailbot check`, the lines about reading what carriers send: document signatures (pyhanko and the
roots), the readers of other formats (libraries and Debian programs), and OCR."""

from __future__ import annotations

from mailbot import config as configmod
from mailbot.staff.checkline import Line


def check_signatures(config: configmod.Config) -> Line:
    """pyhanko present, and the roots that make a document signature trusted."""
    what = "kiểm tra chữ ký số"
    try:
        import pyhanko.sign.validation  # noqa: F401
    except ImportError:
        return Line(
            True,
            what,
            "chưa cài pyhanko: chữ ký số trên tệp PDF không được kiểm tra",
            "pip install pyhanko",
            warning=True,
        )
    settings = config.signatures
    with_codes = sum(1 for o in config.organizations if o.tax_codes)
    codes = f"; {with_codes}/{len(config.organizations)} đơn vị có mã số thuế (tax_codes)"
    if not settings.trust_roots:
        return Line(
            True,
            what,
            "chưa cấu hình chứng thư gốc: kiểm tra được chữ ký còn nguyên vẹn, chưa xác minh được nguồn gốc" + codes,
            "thêm [signatures] trust_roots (docs/configuration.md, mục Chữ ký số)",
            warning=True,
        )
    import datetime as dt

    from cryptography import x509

    now = dt.datetime.now(dt.timezone.utc)
    names, expired = [], []
    for der in settings.trust_roots:
        cert = x509.load_der_x509_certificate(der)
        cn = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
        name = str(cn[0].value) if cn else cert.subject.rfc4514_string()
        names.append(f"{name}, hiệu lực đến {cert.not_valid_after_utc:%d/%m/%Y}")
        if cert.not_valid_after_utc < now:
            expired.append(name)
    revocation = "; có tra cứu thu hồi (OCSP/CRL) qua mạng" if settings.check_revocation else ""
    detail = f"{len(names)} chứng thư gốc ({'; '.join(names)}){codes}{revocation}"
    if expired:
        return Line(True, what, detail + f"; đã hết hạn: {'; '.join(expired)}", "thay chứng thư gốc mới", warning=True)
    return Line(True, what, detail)


def check_readers() -> Line:
    """The libraries and Debian programs that read the formats beyond PDF and Office Open XML."""
    import importlib.util

    from mailbot.analysis.readers import archives, word97

    missing = [
        f"{module} (pip install {package})"
        for module, package in (
            ("py7zr", "py7zr"),
            ("rarfile", "rarfile"),
            ("tnefparse", "tnefparse"),
            ("extract_msg", "'mailbot[outlook]'"),  # GPL-3.0, an optional extra
            ("striprtf", "striprtf"),
        )
        if importlib.util.find_spec(module) is None
    ]
    if word97.antiword() is None:
        missing.append("antiword cho tệp .doc (apt-get install antiword)")
    rar = archives.rar_unpacker()
    if rar is not None:
        missing.append(f"{rar} cho tệp .rar")
    what = "đọc tệp đính kèm"
    if missing:
        return Line(
            True,
            what,
            "thiếu " + "; ".join(missing) + ": các tệp ấy được ghi nhận nhưng không đọc được nội dung",
            "cài các gói còn thiếu",
            warning=True,
        )
    return Line(
        True, what, "đọc được .doc, .rtf, .7z, .rar, winmail.dat, .msg (cùng PDF, Word, Excel, OpenDocument, zip)"
    )


def check_ocr(config: configmod.Config) -> Line:
    from mailbot.analysis.readers import ocrjob

    what = "đọc bản quét (OCR)"
    if config.max_ocr_pages == 0:
        return Line(True, what, "tắt (max_ocr_pages = 0): bản quét và ảnh chụp được ghi nhận, không đọc")
    missing = ocrjob.available()
    if missing:
        return Line(
            True,
            what,
            f"chưa dùng được: máy chủ {missing}; bản quét và ảnh chụp được ghi nhận là chưa đọc được",
            "cài các gói còn thiếu (README, mục Scans)",
            warning=True,
        )
    return Line(
        True,
        what,
        f"Tesseract tiếng Việt; tối đa {config.max_ocr_pages} trang mỗi tệp, {config.ocr_seconds:.0f} giây mỗi thư",
    )
