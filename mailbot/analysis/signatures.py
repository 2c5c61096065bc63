"""Digital signatures on what a message carries: every signed PDF (archive members too) and the
mail's own S/MIME signature, verified, matched to an organization by the tax code (MST) in the
signer's certificate, and explained to staff.

A signature that does not hold makes the message suspicious (rules/signature.py); an untrusted
chain or another organization's signature is a note staff read, never held against the sender.
Only a certificate that chains to a configured root says who signed: anyone can make one with
the same names and tax code, so an untrusted one is tied to no organization, and its name is
always shown with "chưa xác minh" (UNVERIFIED).
"""

from __future__ import annotations

import importlib.util

from mailbot.analysis.readers import pdfsig, smime
from mailbot.analysis.readers.certs import Verified
from mailbot.config import Config, Organization
from mailbot.envelope import Envelope, Signature

MAX_SIGNED_FILES = 10  # signed PDFs verified per message


def check(envelope: Envelope, config: Config) -> list[str]:
    """Fill envelope.signatures; return the notes staff should read about them."""
    parsed = envelope.parsed
    signed = [a for a in parsed.attachments if pdfsig.has_signature(a.data)]
    smime_parts = smime.signed_parts(envelope.raw) if parsed.content_type == "multipart/signed" else None
    if not signed and smime_parts is None:
        return []
    # the readers import pyhanko when they verify; `mailbot check` reports it missing
    if importlib.util.find_spec("pyhanko") is None:  # pragma: no cover - pyhanko is a dependency
        return ["thư có chữ ký số nhưng máy chủ chưa cài pyhanko: chưa kiểm tra được chữ ký"]
    found: list[Signature] = []
    for index, att in enumerate(signed):
        if index >= MAX_SIGNED_FILES:
            att.defects.append(f"thư có hơn {MAX_SIGNED_FILES} tệp PDF ký số: tệp này không được kiểm tra chữ ký")
            continue
        verified, defects = pdfsig.verify(att.data, config.signatures)
        att.defects.extend(defects)
        found += [_signature(att.filename, "pdf", v, config) for v in verified]
    if smime_parts is not None:
        sig = _signature("", "smime", smime.verify(*smime_parts, config.signatures), config)
        found.append(sig)
        for att in parsed.attachments:
            if att.is_signature and not sig.intact:
                att.defects.extend(sig.problems[:1])
    envelope.signatures = found
    return notes(envelope, config)


def _signature(file: str, kind: str, v: Verified, config: Config) -> Signature:
    return Signature(
        file=file,
        kind=kind,
        signer=v.signer,
        intact=v.intact,
        trusted=v.trusted,
        modified_after_signing=v.modified_after_signing,
        signed_at=v.signed_at.astimezone(config.timezone) if v.signed_at else None,
        timestamped=v.timestamped,
        tax_code=v.tax_code,
        personal_id=v.personal_id,
        # an untrusted certificate proves nothing about who holds it: its tax code names no one
        organization=_organization_of(v.tax_code, config.organizations) if v.trusted else None,
        problems=v.problems,
    )


def _organization_of(tax: str | None, organizations: tuple[Organization, ...]) -> str | None:
    """The organization whose tax code is the signer's, or its parent's (a branch is "-001" on it)."""
    if not tax:
        return None
    for org in organizations:
        if any(tax == code or tax.startswith(code + "-") for code in org.tax_codes):
            return org.id
    return None


def where(sig: Signature) -> str:
    return f"tệp {sig.file}" if sig.file else "thư (chữ ký S/MIME)"


def broken(envelope: Envelope) -> list[str]:
    """Reasons the message is suspicious: a signature that does not hold. A mail-level S/MIME
    signature is the exception when our server authenticated the sender (see noted())."""
    return [
        f"chữ ký số trên {where(s)}{_by(s)} không còn nguyên vẹn: {'; '.join(s.problems) or 'không rõ lý do'}"
        for s in envelope.signatures
        if not s.holds and not noted(s, envelope)
    ]


def noted(sig: Signature, envelope: Envelope) -> bool:
    """An S/MIME signature over the mail that does not verify, from a sender our own server
    authenticated (a pass aligned with the From domain): a note for staff, not a reason to withhold
    the receipt. Gateways that append a disclaimer or re-encode the text break S/MIME while the mail
    stays DKIM-aligned, and the authentication already says who sent it. A signed PDF that does not
    hold is never noted only: the document itself changed."""
    return sig.kind == "smime" and not sig.holds and envelope.auth.aligned is not None


def notes(envelope: Envelope, config: Config) -> list[str]:
    out = []
    for sig in envelope.signatures:
        if noted(sig, envelope):
            out.append(
                f"chữ ký S/MIME của thư{_by(sig)} không kiểm tra được ({'; '.join(sig.problems) or 'không rõ lý do'}); "
                f"người gửi đã được máy chủ thư của Sở xác thực ({envelope.auth.summary()}) nên thư vẫn được ghi "
                f"nhận: thường do máy chủ thư bên gửi thêm lời chào hoặc cảnh báo vào thư sau khi ký"
            )
            continue
        if not sig.holds:
            continue  # said by broken()
        if not sig.trusted:
            out.append(f"chữ ký số trên {where(sig)}{_by(sig)} còn nguyên vẹn nhưng {'; '.join(sig.problems)}")
        if sig.organization and envelope.organization and sig.organization != envelope.organization:
            signer_org = config.organization(sig.organization)
            sender_org = config.organization(envelope.organization)
            out.append(
                f"{where(sig)} được ký số bởi {signer_org.name if signer_org else sig.organization} "
                f"(MST {sig.tax_code}), không phải đơn vị gửi thư ({sender_org.name if sender_org else ''})"
            )
    return out


UNVERIFIED = "chưa xác minh"  # said after a signer's name whenever the certificate is not trusted


def _by(sig: Signature) -> str:
    if not sig.signer:
        return ""
    return f" (người ký: {sig.signer}{'' if sig.trusted else ', ' + UNVERIFIED})"
