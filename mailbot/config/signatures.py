"""The [signatures] section: which roots a document signature must chain to, and whether to ask
OCSP/CRL servers about revocation. Also the tax codes (MST) of `[[organizations]] tax_codes`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from mailbot.config.table import Section, resolve

# MST: 10 digits, a branch adds "-" and 3 digits (Luật Quản lý thuế, Thông tư 105/2020/TT-BTC)
TAX_CODE_RE = re.compile(r"^\d{10}(-\d{3})?$")


@dataclass(frozen=True)
class SignatureSettings:
    trust_roots: tuple[bytes, ...] = ()  # DER certificates, loaded (and checked) with the configuration
    root_files: tuple[Path, ...] = ()
    check_revocation: bool = False  # fetch OCSP responses and CRLs named by the certificates


def signatures_section(sec: Section, base: Path) -> SignatureSettings:
    files = tuple(resolve(base, name) for name in sec.strings("trust_roots", ()))
    roots: list[bytes] = []
    for path in files:
        loaded = load_certificates(path)
        if isinstance(loaded, str):
            raise sec.fail("trust_roots", loaded)
        roots.extend(loaded)
    settings = SignatureSettings(
        trust_roots=tuple(roots), root_files=files, check_revocation=sec.get("check_revocation", bool, False)
    )
    sec.done()
    return settings


def load_certificates(path: Path) -> list[bytes] | str:
    """The DER certificates in a PEM or DER file, or why there are none."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return f"{path} does not exist"
    except OSError as exc:
        return f"{path} cannot be read: {exc.strerror}"
    try:
        if b"-----BEGIN" in data:
            certs = x509.load_pem_x509_certificates(data)
        else:
            certs = [x509.load_der_x509_certificate(data)]
    except ValueError as exc:
        return f"{path} holds no certificate in PEM or DER ({exc})"
    return [c.public_bytes(Encoding.DER) for c in certs]


def tax_code(value: str) -> bool:
    return bool(TAX_CODE_RE.match(value))
