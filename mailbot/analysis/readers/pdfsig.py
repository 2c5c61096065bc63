"""Signatures embedded in a PDF, verified with pyhanko: whose, when, intact, changed since, trusted.

Bounded for hostile files: only a PDF that names a /ByteRange is opened, at most
MAX_PER_FILE signatures are verified, and anything pyhanko cannot read is a signature that does
not hold (never one that does).
"""

from __future__ import annotations

import io
from typing import Any

from mailbot.analysis.readers.certs import Verified, clean, context, key_usage, quiet, subject_fields, verified
from mailbot.config.signatures import SignatureSettings

MAX_PER_FILE = 10  # signatures verified per PDF; a file with more is recorded as such
MAX_FIELDS = 200  # signature fields looked at per PDF (a hostile file can carry thousands)


def has_signature(data: bytes) -> bool:
    """Cheap test done for every PDF: a signed PDF names the bytes its signature covers."""
    return data.startswith(b"%PDF") and b"/ByteRange" in data


def verify(data: bytes, settings: SignatureSettings) -> tuple[list[Verified], list[str]]:
    """(the signatures found, what could not be checked in the file) for a PDF's bytes."""
    from pyhanko.pdf_utils.reader import PdfFileReader

    quiet()
    try:
        reader = PdfFileReader(io.BytesIO(data), strict=False)
        fields = _signature_fields(reader)
    except Exception as exc:  # a damaged PDF that still names a /ByteRange: its signature cannot hold
        return [_unreadable(f"không đọc được tệp PDF để kiểm tra chữ ký ({type(exc).__name__})")], []
    defects = []
    if len(fields) > MAX_PER_FILE:
        count = f"từ {MAX_FIELDS} chữ ký trở lên" if len(fields) >= MAX_FIELDS else f"{len(fields)} chữ ký"
        defects.append(f"tệp có {count}: chỉ kiểm tra {MAX_PER_FILE} chữ ký đầu")
    vc = context(settings)
    return [_verify_one(reader, field, vc, settings) for field in fields[:MAX_PER_FILE]], defects


def _signature_fields(reader: Any) -> list[tuple[str, Any]]:
    """The filled signature fields (name, field), at most MAX_FIELDS of them (pyhanko's own walk, bounded)."""
    from pyhanko.sign.fields import enumerate_sig_fields

    out = []
    for index, (name, _value, field) in enumerate(enumerate_sig_fields(reader, filled_status=True)):
        if index >= MAX_FIELDS:
            break
        out.append((name, field))
    return out


def _verify_one(reader: Any, field: tuple[str, Any], vc: Any, settings: SignatureSettings) -> Verified:
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature
    from pyhanko.sign.validation.status import ModificationLevel, SignatureCoverageLevel

    try:
        sig = EmbeddedPdfSignature(reader, field[1], field[0])
        signer, tax, person = subject_fields(sig.signer_cert)
    except Exception as exc:
        return _unreadable(f"không đọc được chữ ký hoặc chứng thư số của nó ({type(exc).__name__})")
    try:
        status = validate_pdf_signature(sig, vc, key_usage_settings=key_usage())
    except Exception as exc:
        return _unreadable(f"chữ ký hỏng, không kiểm tra được ({type(exc).__name__}: {clean(exc)[:120]})", signer)
    level = status.modification_level
    allowed = (ModificationLevel.NONE, ModificationLevel.LTA_UPDATES, ModificationLevel.FORM_FILLING)
    modified = (
        level not in allowed
        or status.docmdp_ok is False
        or status.coverage not in (SignatureCoverageLevel.ENTIRE_FILE, SignatureCoverageLevel.ENTIRE_REVISION)
    )
    problems = []
    if not status.intact:
        problems.append("nội dung đã ký bị thay đổi (mã băm không khớp)")
    elif not status.valid:
        problems.append("giá trị chữ ký không khớp với chứng thư số")
    if modified:
        problems.append(_modification(level, status.coverage))
    return verified(status, settings, (signer, tax, person), problems, modified)


def _modification(level: Any, coverage: Any) -> str:
    name = getattr(level, "name", "")
    if name == "ANNOTATIONS":
        return "tệp bị thêm chú thích (annotation) sau khi ký"
    if getattr(coverage, "name", "") in ("UNCLEAR", "CONTIGUOUS_BLOCK_FROM_START"):
        return "chữ ký không bao trùm toàn bộ phiên bản đã ký của tệp"
    return "tệp bị sửa đổi sau khi ký (ngoài việc điền biểu mẫu và thêm chữ ký)"


def _unreadable(problem: str, signer: str = "") -> Verified:
    return Verified(signer=signer, intact=False, trusted=False, problems=(problem,))
