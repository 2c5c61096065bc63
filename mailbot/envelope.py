"""The objects that carry one message through the pipeline.

source -> parse (ParsedMessage) -> classify (Envelope.decision) -> store -> reply.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mailbot.errors import OverBudget, ReaderError

DOCUMENT_EXTENSIONS = frozenset({"doc", "docx", "odt", "pdf", "xls", "xlsx", "ods", "csv", "zip", "rar", "7z", "rtf"})
TABLE_TEXT_EXTENSIONS = frozenset({"csv", "tsv"})  # text files that are tables
ARCHIVE_EXTENSIONS = frozenset({"zip", "rar", "7z"})
DOCUMENT_KINDS = frozenset({"pdf", "docx", "xlsx", "odt", "ods", "doc", "xls", "rtf"})  # see filetype.py
CONTAINER_KINDS = frozenset({"zip", "7z", "rar", "tnef", "msg"})
SCAN_KINDS = frozenset({"jpeg", "png", "tiff", "heic"})  # images read by OCR
MIN_SCAN_BYTES = 20_000
# the dispositions that wait for a person (the review queue, the review folder of a live mailbox)
REVIEW = ("unknown-sender", "suspicious", "correspondence", "oversized", "error")


@dataclass
class Attachment:
    """A file carried by the message, or a member of an archive it carries."""

    filename: str  # decoded, NFC; never used as a path
    content_type: str
    data: bytes
    inline: bool = False
    content_id: str = ""
    container: str = ""  # name of the archive it came out of, "" for a mail part
    kind: str = ""  # what its bytes are (analysis/filetype.py: "pdf", "docx", "zip"…), set by extract.examine
    ocr: dict[str, Any] | None = None  # what OCR read of a scan (readers/ocrjob.OcrResult fields), once read
    defects: list[str] = field(default_factory=list)
    reader: Callable[[bytes], str] | None = field(default=None, repr=False)  # set by extract.examine
    _text: str | None = field(default=None, repr=False)

    @property
    def text(self) -> str:
        """Extracted text, bounded; read on first use (most files are typed by their name alone)."""
        if self._text is None:
            self._text = ""
            if self.reader is not None:
                try:
                    self._text = self.reader(self.data)
                except OverBudget:
                    raise  # the message goes to review (passes.py sets it aside with the reason)
                except ReaderError as exc:
                    self.defects.append(str(exc))
                except Exception as exc:  # every library raises its own errors on broken files
                    self.defects.append(f"không đọc được nội dung tệp ({type(exc).__name__})")
        return self._text

    _size: int | None = field(default=None, repr=False)
    _sha256: str | None = field(default=None, repr=False)

    @property
    def size(self) -> int:
        return len(self.data) if self._size is None else self._size

    @property
    def sha256(self) -> str:
        if self._sha256 is None:
            self._sha256 = hashlib.sha256(self.data).hexdigest()
        return self._sha256

    def release(self) -> None:
        """Drop the bytes once they are kept on disk; size and hash stay."""
        self._size, _ = self.size, self.sha256
        self.data = b""
        self.reader = None

    @property
    def extension(self) -> str:
        name = self.filename.rsplit("/", 1)[-1]
        return name.rsplit(".", 1)[-1].lower() if "." in name else ""

    @property
    def is_signature(self) -> bool:
        ct = self.content_type.lower()
        return ct in ("application/pkcs7-signature", "application/x-pkcs7-signature") or self.extension == "p7s"

    @property
    def is_document_file(self) -> bool:
        """A file that can be a required document (not a logo, not a signature): by its bytes, or by
        its name when the bytes say nothing."""
        if self.is_signature:
            return False
        if self.kind in SCAN_KINDS:  # a scan or a phone photo, not a logo: attached and large enough
            return not self.inline and self.size >= MIN_SCAN_BYTES
        if self.kind == "text":  # a table saved as CSV is a document; a text note is not
            return not self.inline and (self.extension in TABLE_TEXT_EXTENSIONS or self.content_type == "text/csv")
        return (
            self.kind in DOCUMENT_KINDS or self.is_archive or (not self.kind and self.extension in DOCUMENT_EXTENSIONS)
        )

    @property
    def is_archive(self) -> bool:
        """A container of files: an archive, or Outlook's winmail.dat and .msg."""
        return self.kind in CONTAINER_KINDS or (not self.kind and self.extension in ARCHIVE_EXTENSIONS)


@dataclass
class ParsedMessage:
    """What parsing learnt from the raw bytes; never raises, records defects instead."""

    message_id: str | None
    subject: str
    from_address: str | None  # lower-case addr-spec of the first From address
    from_display: str
    reply_to: list[str]
    sender_header: str | None
    return_path: str | None  # None when absent, "" for the null path <>
    date: dt.datetime | None
    received_at: dt.datetime | None  # from the topmost Received header
    headers: list[tuple[str, str]]  # (name, decoded value) in order, top first
    content_type: str
    body_text: str  # the message's own text (not that of attached messages)
    body_html: str
    attachments: list[Attachment]
    nested_subjects: list[str]
    references: list[str]
    defects: list[str] = field(default_factory=list)
    from_addresses: list[str] = field(default_factory=list)  # every address of every From header
    # fields RFC 5322 allows once that occur more than once ("subject"...): such a message
    # authenticates nobody (headers.SINGLE_FIELDS, rules/repeated.py)
    repeated: list[str] = field(default_factory=list)

    def header(self, name: str) -> str | None:
        lname = name.lower()
        return next((v for n, v in self.headers if n.lower() == lname), None)

    def header_all(self, name: str) -> list[str]:
        lname = name.lower()
        return [v for n, v in self.headers if n.lower() == lname]


@dataclass(frozen=True)
class AuthVerdict:
    """The receiving server's word on the sender (Authentication-Results), see authres."""

    trusted: bool  # a header from a trusted authserv-id was found
    dmarc: str | None = None
    spf: str | None = None
    dkim: str | None = None
    aligned: str | None = None  # the method whose pass is aligned with the From domain, if any
    header_from: str | None = None  # the From domain our server's DMARC check says it evaluated
    unaligned: tuple[str, ...] = ()  # passes for other domains, e.g. "spf: evil.example"
    aligned_by: tuple[str, ...] = ()  # every method whose pass is aligned (aligned is the first)
    exact_by: tuple[str, ...] = ()  # the aligned methods whose domain is the From domain itself
    submitted_by: str | None = None  # `auth=pass smtp.auth=...`: the login that submitted it on our server

    def authenticates(self, address: str | None) -> bool:
        """Is `address` proven to be the sender, as staff commands require: DKIM or DMARC passing for
        its own domain (not another under the same organizational domain: every *.dongthap.gov.vn
        agency shares dongthap.gov.vn), or the mail submitted on our own server by that login
        (auth=pass, smtp.auth). Never when our server says DMARC failed, nor when it was submitted
        on our server by another login (a mailbox user writing a staff member's From)."""
        if not self.trusted or not address or self.failed:
            return False
        if self.submitted_by is not None:
            return self.submitted_by in (address.lower(), address.lower().split("@")[0])
        return bool({"dkim", "dmarc"} & set(self.exact_by))

    @property
    def failed(self) -> bool:
        if not self.trusted:
            return False
        if self.dmarc in ("pass", "fail"):
            return self.dmarc == "fail"
        return self.spf in ("fail", "softfail") and self.dkim in ("fail", "permerror")

    def summary(self) -> str:
        """`dmarc=none, spf=pass (evil.example), dkim=none`: what staff read in a reason."""
        parts = []
        for method in ("dmarc", "spf", "dkim"):
            domains = [d.split(": ", 1)[1] for d in self.unaligned if d.startswith(method + ":")]
            parts.append(
                f"{method}={getattr(self, method) or 'none'}" + (f" ({', '.join(domains)})" if domains else "")
            )
        return ", ".join(parts)

    def as_record(self) -> dict[str, object]:
        return {
            "trusted": self.trusted,
            "dmarc": self.dmarc,
            "spf": self.spf,
            "dkim": self.dkim,
            "aligned": self.aligned,
            "header_from": self.header_from,
        }


@dataclass(frozen=True)
class Signature:
    """A digital signature found on a file (a PDF) or on the mail itself (S/MIME), as verified."""

    file: str  # the file's name (as Attachment.filename), or "" for the mail itself
    kind: str  # "pdf" | "smime"
    signer: str  # the certificate subject, readable: "CN, O"; "" when no certificate could be read
    intact: bool  # the signed bytes are unchanged and the signature over them is valid
    trusted: bool  # the certificate chains to a configured root, and was valid when checked
    modified_after_signing: bool  # changed after signing beyond form filling and later signatures
    signed_at: dt.datetime | None = None  # the signer's claimed time, or a timestamp token's when there is one
    timestamped: bool = False  # signed_at comes from a timestamp token (a third party's clock)
    tax_code: str | None = None  # MST (or MNS) in the subject, e.g. "0312345678-001"
    personal_id: str | None = None  # CCCD/CMND/passport number in the subject of a person's certificate
    organization: str | None = None  # the organization whose tax_codes include tax_code
    problems: tuple[str, ...] = ()  # why not intact, not trusted, or what could not be read (Vietnamese)

    @property
    def holds(self) -> bool:
        """Intact and not changed since: what makes the file the one that was signed."""
        return self.intact and not self.modified_after_signing

    def as_record(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "kind": self.kind,
            "signer": self.signer,
            "organization": self.organization,
            "tax_code": self.tax_code,
            "personal_id": self.personal_id,
            "intact": self.intact,
            "trusted": self.trusted,
            "signed_at": self.signed_at.isoformat() if self.signed_at else None,
            "timestamped": self.timestamped,
            "modified_after_signing": self.modified_after_signing,
            "problems": list(self.problems),
        }


@dataclass
class Envelope:
    """One message and everything decided about it, handed from stage to stage."""

    raw: bytes
    parsed: ParsedMessage
    source: str = ""  # file path, IMAP UID... for logs and classify output
    organization: str | None = None
    auth: AuthVerdict = AuthVerdict(trusted=False)
    campaign: str | None = None
    documents: list[str] = field(default_factory=list)
    document_files: dict[str, list[str]] = field(default_factory=dict)  # doc id -> file names
    disposition: str | None = None
    reasons: list[str] = field(default_factory=list)
    # set when a worker process kept the raw message and files: its hash, and the files it
    # wrote without fsync, for the main process's group commit to make durable
    duty_rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # roster document id -> rows
    raw_sha256: str | None = None
    unsynced_blobs: list[str] = field(default_factory=list)
    identity: str | None = None  # the register's key, once the runner resolved it (see Store.identify)
    signatures: list[Signature] = field(default_factory=list)  # set by classify (analysis/signatures.py)

    @property
    def key(self) -> str:
        return self.identity or message_key(self.parsed.message_id, self.raw)


def message_key(message_id: str | None, raw: bytes) -> str:
    """Identity for deduplication: the Message-ID, else a hash of the raw bytes."""
    if message_id:
        return "mid:" + message_id
    return "sha256:" + hashlib.sha256(raw).hexdigest()
