"""The signature of an S/MIME-signed mail (multipart/signed, application/pkcs7-signature), verified
with pyhanko's CMS validation over the signed part's bytes exactly as they arrived.

The signed part is cut out of the raw message by its boundary: a parser that re-serialises the
part would change the bytes the signature covers (RFC 8551 §3.1.1: canonical form, CRLF).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import re
from email.parser import BytesHeaderParser
from email.policy import compat32
from typing import Any

from mailbot.analysis.readers.certs import Verified, clean, context, key_usage, quiet, subject_fields, verified
from mailbot.config.signatures import SignatureSettings

MAX_SIGNATURE_BYTES = 256 * 1024  # a CMS signature with its certificates; a larger one is not read
_SIGNATURE_TYPES = ("application/pkcs7-signature", "application/x-pkcs7-signature")


def signed_parts(raw: bytes) -> tuple[bytes, bytes] | None:
    """(the signed part in canonical form, the DER signature) of a top-level multipart/signed mail."""
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep:
        head, sep, body = raw.partition(b"\n\n")
    headers = BytesHeaderParser(policy=compat32).parsebytes(head + b"\n\n")
    if headers.get_content_type() != "multipart/signed":
        return None
    boundary = headers.get_param("boundary")
    if not isinstance(boundary, str) or not 0 < len(boundary) <= 70:
        return None
    delimiter = re.compile(
        rb"(?:^|\r?\n)--" + re.escape(boundary.encode("ascii", "replace")) + rb"(--)?[ \t]*(?=\r?\n|$)"
    )
    marks = list(delimiter.finditer(body))
    if len(marks) < 3 or marks[0].group(1) or marks[1].group(1):
        return None
    first = _after_line(body, marks[0].end()), marks[1].start()
    second = _after_line(body, marks[1].end()), marks[2].start()
    content = re.sub(rb"\r?\n", b"\r\n", body[first[0] : first[1]])
    part = body[second[0] : second[1]]
    part_head, _, part_body = part.replace(b"\r\n", b"\n").partition(b"\n\n")
    part_headers = BytesHeaderParser(policy=compat32).parsebytes(part_head + b"\n\n")
    if part_headers.get_content_type() not in _SIGNATURE_TYPES or len(part_body) > MAX_SIGNATURE_BYTES * 2:
        return None
    try:
        der = base64.b64decode(part_body, validate=False)
    except (binascii.Error, ValueError):
        return None
    return content, der


def _after_line(body: bytes, index: int) -> int:
    end = body.find(b"\n", index)
    return len(body) if end < 0 else end + 1


def _signer_cert(signed_data: Any) -> Any:
    """The certificate the (first) SignerInfo names, among those the signature carries."""
    sid = signed_data["signer_infos"][0]["sid"]
    for choice in signed_data["certificates"] or []:
        cert = choice.chosen
        if sid.name == "issuer_and_serial_number":
            wanted = sid.chosen
            if cert.issuer == wanted["issuer"] and cert.serial_number == wanted["serial_number"].native:
                return cert
        elif cert.key_identifier == sid.chosen.native:
            return cert
    raise ValueError("the signer's certificate is not in the signature")


def verify(content: bytes, der: bytes, settings: SignatureSettings) -> Verified:
    from asn1crypto import cms
    from pyhanko.sign.validation.generic_cms import async_validate_detached_cms

    quiet()
    try:
        info = cms.ContentInfo.load(der)
        signed_data = info["content"]
        signer, tax, person = subject_fields(_signer_cert(signed_data))
    except Exception as exc:
        return Verified(
            signer="", intact=False, trusted=False, problems=(f"chữ ký S/MIME hỏng ({type(exc).__name__})",)
        )
    try:
        status = asyncio.run(
            async_validate_detached_cms(content, signed_data, context(settings), key_usage_settings=key_usage())
        )
    except Exception as exc:
        problem = f"chữ ký S/MIME không kiểm tra được ({type(exc).__name__}: {clean(exc)[:120]})"
        return Verified(
            signer=signer, intact=False, trusted=False, tax_code=tax, personal_id=person, problems=(problem,)
        )
    problems = (
        [] if status.intact and status.valid else ["nội dung thư đã bị thay đổi sau khi ký (chữ ký S/MIME không khớp)"]
    )
    return verified(status, settings, (signer, tax, person), problems)
