"""What pyhanko reports about a signer, in the words staff read: the subject, the tax code or
personal id Vietnamese CAs put in it, and why a certificate is not trusted.

Shared by the PDF and S/MIME readers; pyhanko and asn1crypto are imported inside, so mail is
still read without them (`mailbot check` says they are missing).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass
from typing import Any

from mailbot.config.signatures import SignatureSettings

MAX_CHAIN = 8  # certificates from signer to root; real chains have 2-4, a longer one is not trusted
MAX_FIELD = 200  # characters kept of a subject's CN or O: a hostile certificate can say anything
# Vietnamese CAs write the holder's identifier into the subject's UID (or serialNumber), e.g.
# "MST:0312345678-001" for an enterprise, "MNS:1234567" for a budget unit, "CCCD:0790..." for a person.
_ID_RE = re.compile(r"\b(MST|MNS|CMND|CCCD|HC|PID)\s*[:=]\s*([0-9A-Z][0-9A-Z-]{5,20})", re.IGNORECASE)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


@dataclass(frozen=True)
class Verified:
    """One signature as a reader saw it, before it is matched to an organization."""

    signer: str
    intact: bool
    trusted: bool
    modified_after_signing: bool = False
    signed_at: dt.datetime | None = None
    timestamped: bool = False
    tax_code: str | None = None
    personal_id: str | None = None
    problems: tuple[str, ...] = ()


def quiet() -> None:
    """pyhanko logs each failed check with a traceback; the finding is recorded instead."""
    for name in ("pyhanko", "pyhanko_certvalidator"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


def context(settings: SignatureSettings) -> Any:
    """A ValidationContext with the configured roots; no network unless check_revocation."""
    from asn1crypto import x509 as asn1_x509
    from pyhanko_certvalidator import ValidationContext

    return ValidationContext(
        trust_roots=[asn1_x509.Certificate.load(der) for der in settings.trust_roots],
        allow_fetching=settings.check_revocation,
        revocation_mode="soft-fail",
    )


def key_usage() -> Any:
    """A signing certificate needs digitalSignature or nonRepudiation (pyhanko asks for the latter
    alone; certificates issued in Vietnam carry either)."""
    from pyhanko.sign.validation.settings import KeyUsageConstraints

    return KeyUsageConstraints(key_usage={"digital_signature", "non_repudiation"}, match_all_key_usages=False)


def clean(text: object) -> str:
    return _CONTROL.sub("", str(text)).strip()[:MAX_FIELD]


def subject_fields(cert: Any) -> tuple[str, str | None, str | None]:
    """(readable "CN, O", tax code, personal id) of an asn1crypto certificate."""
    names: dict[str, Any] = cert.subject.native
    cn, org = clean(names.get("common_name", "")), clean(names.get("organization_name", ""))
    signer = ", ".join(part for part in dict.fromkeys((cn, org)) if part)
    tax: str | None = None
    person: str | None = None
    for value in names.values():
        for item in value if isinstance(value, list) else [value]:
            for kind, number in _ID_RE.findall(clean(item)):
                kind = kind.upper()
                if kind in ("MST", "MNS") and tax is None:
                    tax = number.upper()
                elif kind not in ("MST", "MNS") and person is None:
                    person = number.upper()
    return signer or clean(cert.subject.human_friendly), tax, person


_TRUST_PROBLEMS = {
    "NO_CERTIFICATE_CHAIN_FOUND": "chứng thư số không dẫn tới chứng thư gốc tin cậy đã cấu hình",
    "OUT_OF_BOUNDS_NO_POE": "chứng thư số đã hết hạn hoặc chưa có hiệu lực",
    "OUT_OF_BOUNDS_NOT_REVOKED": "chứng thư số đã hết hạn hoặc chưa có hiệu lực",
    "EXPIRED": "chứng thư số đã hết hạn",
    "NOT_YET_VALID": "chứng thư số chưa có hiệu lực",
    "REVOKED_NO_POE": "chứng thư số đã bị thu hồi",
    "REVOKED_CA_NO_POE": "chứng thư của tổ chức cấp đã bị thu hồi",
    "TRY_LATER": "chưa kiểm tra được tình trạng thu hồi của chứng thư số",
}


def trust_problem(status: Any, settings: SignatureSettings) -> str | None:
    """Why a signature whose bytes hold is not trusted, or None when it is."""
    if status.trusted:
        path = status.validation_path
        if path is not None and len(path) > MAX_CHAIN:
            return f"chuỗi chứng thư dài bất thường ({len(path)} chứng thư): không tin cậy"
        return None
    if not settings.trust_roots:
        return "chưa cấu hình chứng thư gốc ([signatures] trust_roots): chưa xác minh được nguồn gốc chữ ký"
    indic = getattr(status.trust_problem_indic, "name", "")
    if status.revoked:
        return "chứng thư số đã bị thu hồi"
    return _TRUST_PROBLEMS.get(indic, f"chứng thư số không được tin cậy ({indic or 'không rõ lý do'})")


def times(status: Any) -> tuple[dt.datetime | None, bool]:
    """The signing time: a valid timestamp token's, else the one the signer wrote."""
    stamp = getattr(status, "timestamp_validity", None)
    if stamp is not None and stamp.intact and stamp.valid:
        return stamp.timestamp, True
    return getattr(status, "signer_reported_dt", None), False


def verified(
    status: Any,
    settings: SignatureSettings,
    subject: tuple[str, str | None, str | None],
    problems: list[str],
    modified: bool = False,
) -> Verified:
    """The finding for a validated signature: `problems` so far, the trust problem added."""
    intact = bool(status.intact and status.valid)
    trust = trust_problem(status, settings) if intact else None
    signed_at, stamped = times(status)
    return Verified(
        signer=subject[0],
        intact=intact,
        trusted=intact and trust is None,
        modified_after_signing=modified,
        signed_at=signed_at,
        timestamped=stamped,
        tax_code=subject[1],
        personal_id=subject[2],
        problems=tuple(problems + ([trust] if trust else [])),
    )
