"""A test PKI for document signatures, made with `cryptography` and used through pyhanko: a root,
an intermediate, carrier certificates carrying a tax code (MST) as Vietnamese CAs write it, and
helpers that sign PDFs and mails. Shared by tests/test_signatures.py, tests/hostile.py and
bench/signatures.py."""

from __future__ import annotations

import base64
import datetime as dt
import email
import functools
import io
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.conftest import write_config

NOW = dt.datetime.now(dt.timezone.utc)
VNPT_MST = "0100684378"
VIETTEL_MST = "0100109106"
FIXTURES = Path(__file__).parent / "fixtures" / "eml"


def signed_config(tmp_path: Path, root: Path | None, smtp_port: int = 25) -> Path:
    """The example deployment with VNPT's and Viettel's tax codes, trusting `root` (None: no roots)."""
    path = write_config(tmp_path, smtp_port)
    text = path.read_text(encoding="utf-8")
    text = text.replace('domains = ["vnpt.vn"]', f'domains = ["vnpt.vn"]\ntax_codes = ["{VNPT_MST}"]', 1)
    text = text.replace(
        'domains = ["viettel.com.vn"]', f'domains = ["viettel.com.vn"]\ntax_codes = ["{VIETTEL_MST}"]', 1
    )
    if root is not None:
        text += f'\n[signatures]\ntrust_roots = ["{root}"]\n'
    path.write_text(text, encoding="utf-8")
    return path


def plan_pdf() -> bytes:
    """A real text PDF of a plan (the one of golden fixture 02)."""
    msg = email.message_from_bytes((FIXTURES / "02-viettel-plan-pdf-by-content.eml").read_bytes())
    return next(p.get_payload(decode=True) for p in msg.walk() if p.get_content_type() == "application/pdf")


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _usage(ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=not ca,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


@dataclass
class Holder:
    """A certificate with its key and the chain above it (not the root)."""

    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey
    chain: list[x509.Certificate]

    def signer(self) -> Any:
        from asn1crypto import keys
        from pyhanko.sign import signers
        from pyhanko_certvalidator.registry import SimpleCertificateStore

        der = self.key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        return signers.SimpleSigner(
            signing_cert=asn1(self.cert),
            signing_key=keys.PrivateKeyInfo.load(der),
            cert_registry=SimpleCertificateStore.from_certs([asn1(c) for c in self.chain]),
        )


def asn1(cert: x509.Certificate) -> Any:
    from asn1crypto import x509 as asn1_x509

    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def _issue(
    subject: x509.Name,
    issuer: x509.Name,
    issuer_key: ec.EllipticCurvePrivateKey,
    key: ec.EllipticCurvePrivateKey,
    ca: bool,
    expired: bool = False,
) -> x509.Certificate:
    start, end = (
        (NOW - dt.timedelta(days=400), NOW - dt.timedelta(days=30))
        if expired
        else (NOW - dt.timedelta(days=1), NOW + dt.timedelta(days=365))
    )
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(_usage(ca), critical=True)
        .sign(issuer_key, hashes.SHA256())
    )


def _name(cn: str, org: str = "", uid: str = "") -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"), x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if org:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    if uid:
        attrs.append(x509.NameAttribute(NameOID.USER_ID, uid))
    return x509.Name(attrs)


class SigningPKI:
    """Root → intermediate ("a licensed CA") → carriers' certificates."""

    __test__ = False

    def __init__(self, folder: Path, name: str = "Test Root CA (mailbot)") -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.root_key = _key()
        root_name = _name(name, "mailbot test")
        self.root = _issue(root_name, root_name, self.root_key, self.root_key, ca=True)
        self.ca_key = _key()
        self.ca = _issue(_name("Test CA cấp cho doanh nghiệp"), root_name, self.root_key, self.ca_key, ca=True)
        self.root_pem = folder / f"{name.split()[0].lower()}-root.pem"
        self.root_pem.write_bytes(self.root.public_bytes(serialization.Encoding.PEM))

    def holder(self, cn: str, org: str = "", tax_code: str = "", expired: bool = False) -> Holder:
        key = _key()
        uid = f"MST:{tax_code}" if tax_code else ""
        cert = _issue(_name(cn, org, uid), self.ca.subject, self.ca_key, key, ca=False, expired=expired)
        return Holder(cert, key, [self.ca])

    def deep_chain(self, depth: int) -> Holder:
        """A carrier certificate under `depth` intermediates (a hostile chain)."""
        issuer_name, issuer_key, chain = self.root.subject, self.root_key, []
        for level in range(depth):
            key = _key()
            cert = _issue(_name(f"Intermediate {level}"), issuer_name, issuer_key, key, ca=True)
            chain.append(cert)
            issuer_name, issuer_key = cert.subject, key
        key = _key()
        leaf = _issue(_name("Sâu", "Deep", "MST:0100000000"), issuer_name, issuer_key, key, ca=False)
        return Holder(leaf, key, chain)


@functools.cache
def hostile_pki() -> SigningPKI:
    """One PKI for the hostile messages (tests/hostile.py), in a folder of its own."""
    return SigningPKI(Path(tempfile.mkdtemp(prefix="mailbot-pki-")))


def sign_pdf(pdf: bytes, holder: Holder, field: str = "Signature1") -> bytes:
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import signers

    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    out = signers.sign_pdf(writer, signers.PdfSignatureMetadata(field_name=field), signer=holder.signer())
    return out.getvalue()


def flip_signed_byte(signed: bytes) -> bytes:
    """One byte changed inside what the signature covers (in the first revision's body)."""
    data = bytearray(signed)
    where = signed.index(b"stream", 200) + 20
    data[where] ^= 0x01
    return bytes(data)


def add_page_content(signed: bytes) -> bytes:
    """An incremental update after signing that draws new text on page 1 (not form filling)."""
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    writer = IncrementalPdfFileWriter(io.BytesIO(signed), strict=False)
    page_ref = writer.root["/Pages"]["/Kids"][0]
    page = page_ref.get_object()
    stream = generic.StreamObject(stream_data=b"BT /F1 24 Tf 72 72 Td (SUA DOI) Tj ET")
    contents = page["/Contents"]
    items = list(contents) if isinstance(contents, generic.ArrayObject) else [page.raw_get("/Contents")]
    page["/Contents"] = generic.ArrayObject(items + [writer.add_object(stream)])
    writer.update_container(page)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def smime_sign(body: bytes, holder: Holder, headers: bytes) -> bytes:
    """A multipart/signed mail: `body` (a MIME part, CRLF) signed with a detached CMS signature."""
    import asyncio

    signer = holder.signer()
    info = asyncio.run(signer.async_sign_general_data(body, "sha256", detached=True))
    sig = base64.encodebytes(info.dump()).replace(b"\n", b"\r\n")
    return (
        headers + b'MIME-Version: 1.0\r\nContent-Type: multipart/signed; protocol="application/pkcs7-signature"; '
        b'micalg=sha-256; boundary="sig-b"\r\n\r\n'
        b"This is an S/MIME signed message\r\n--sig-b\r\n"
        + body
        + b"\r\n--sig-b\r\nContent-Type: application/pkcs7-signature; name=smime.p7s\r\n"
        b"Content-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=smime.p7s\r\n\r\n"
        + sig
        + b"\r\n--sig-b--\r\n"
    )


# -- hostile signatures ---------------------------------------------------------------------------


def garbage_cms(signed: bytes) -> bytes:
    """The signature's /Contents replaced by bytes that are no CMS structure, same length."""
    start = signed.index(b"/Contents <") + len(b"/Contents <")
    end = signed.index(b">", start)
    return signed[:start] + (b"30820F" + b"AB" * ((end - start - 6) // 2)).ljust(end - start, b"0") + signed[end:]


def byte_range_outside(signed: bytes) -> bytes:
    """/ByteRange pointing far beyond the end of the file."""
    start = signed.index(b"/ByteRange [")
    end = signed.index(b"]", start) + 1
    hostile = b"/ByteRange [0 999999999 1999999999 999999999]"
    return signed[:start] + hostile.ljust(end - start) + signed[end:]


def many_signature_fields(signed: bytes, count: int = 1000) -> bytes:
    """An update adding `count` filled signature fields, all pointing at the one signature."""
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    writer = IncrementalPdfFileWriter(io.BytesIO(signed), strict=False)
    form = writer.root["/AcroForm"]
    fields = form["/Fields"]
    value = fields[0].get_object().raw_get("/V")
    for index in range(count - 1):
        field = generic.DictionaryObject(
            {
                generic.NameObject("/FT"): generic.NameObject("/Sig"),
                generic.NameObject("/T"): generic.TextStringObject(f"Extra{index}"),
                generic.NameObject("/V"): value,
            }
        )
        fields.append(writer.add_object(field))
    writer.update_container(form)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()
