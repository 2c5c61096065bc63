"""The header block alone: identity (Message-ID, fingerprint), sanitising, decoding values.

Read for every message before it is analysed (is it recorded already?), so the common case is
a regex over a well-formed header block, with the stdlib header parser (compat32) for anything
unusual; parse.py builds on the same functions.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterable
from email.header import decode_header
from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import compat32

from mailbot.analysis.textnorm import decode_bytes, nfc

MAX_HEADER_FIELD = 16 * 1024  # bytes of one header field kept; the rest is cut
CTRL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
FOLD_RE = re.compile(r"\r?\n[ \t]+")
_BLANK_LINE_RE = re.compile(rb"\r?\n\r?\n")
_MESSAGE_ID_FIELD = re.compile(rb"(?im)^message-id:(.*(?:\r?\n[ \t].*)*)")
IDENTITY_FIELDS = ("from", "date", "subject", "message-id")
# fields RFC 5322 (section 3.6) allows at most once: a second one is added by someone else than the
# author (a DKIM verifier checks the last instance, most readers show the first)
SINGLE_FIELDS = (
    "from",
    "sender",
    "reply-to",
    "to",
    "cc",
    "subject",
    "date",
    "message-id",
    "in-reply-to",
    "references",
    # the message's own MIME fields (RFC 2045): a second Content-Type turns a signed question into
    # an "attachment" while the signature, checked on the last instance, still holds
    "mime-version",
    "content-type",
    "content-transfer-encoding",
    "content-disposition",
)
MALFORMED = "header-syntax"  # a line of the header block the stdlib parser does not read as a field
_IDENTITY_FIELD = re.compile(rb"(?im)^(from|date|subject|message-id):(.*(?:\r?\n[ \t].*)*)")
# lines the stdlib's header parser takes as header fields or their continuations (then the blank line)
_WELL_FORMED_HEAD = re.compile(rb"(?:(?:[\x21-\x39\x3b-\x7e]+:|[ \t]|From )[^\r\n]*\r?\n)*(?:\r?\n)?")


def header_message_id(raw: bytes) -> str | None:
    """The Message-ID from the header block alone, as parse_message() reads it.

    Called for every message before it is analysed: a regex over a well-formed header block
    (a tenth of the cost), the stdlib header parser for anything unusual.
    """
    end = header_end(raw)
    head = raw[:end]
    if end <= MAX_HEADER_FIELD and b"\x00" not in head:
        match = _MESSAGE_ID_FIELD.search(head)
        if match is None:  # no such line at all: the header parser finds none either
            return None
        if match is not None and match.group(1).isascii() and _WELL_FORMED_HEAD.fullmatch(head[: match.start()]):
            return message_id(match.group(1).decode("ascii"))
    return message_id(unescape(headers_only(sanitize_headers(head, [])).get("message-id")))


def header_fingerprint(raw: bytes) -> str:
    """A short hash of the From, Date, Subject and Message-ID fields of the header block.

    Tells a true re-delivery (the same fields) from another message that reuses a Message-ID
    (another sender's, or other content): identity must not be stealable. The same function
    on the full message and on the four fields alone (an IMAP header fetch) gives the same value.
    Every instance of a field counts, in order: a message with a Subject added is another message.
    """
    end = header_end(raw)
    head = raw[:end]
    values: dict[str, list[str]] = {}
    if end <= MAX_HEADER_FIELD and head.isascii() and b"\x00" not in head and _WELL_FORMED_HEAD.fullmatch(head):
        for match in _IDENTITY_FIELD.finditer(head):
            values.setdefault(match.group(1).decode("ascii").lower(), []).append(match.group(2).decode("ascii"))
    else:
        msg = headers_only(sanitize_headers(head, []))
        values = {name: [unescape(v) or "" for v in msg.get_all(name) or []] for name in IDENTITY_FIELDS}
    # one instance gives the value it always gave (recorded fingerprints stay valid)
    text = "\0".join("\x1f".join(" ".join(v.split()) for v in values.get(name, [])) for name in IDENTITY_FIELDS)
    return hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()[:16]


def repeated_fields(names: Iterable[str], raw: bytes = b"") -> list[str]:
    """The fields of SINGLE_FIELDS that occur more than once among header `names` ("Subject"...),
    and MALFORMED when the raw header block holds a line that is no field (`X-Cut : 1`, obsolete
    syntax a DKIM verifier reads on past, where the stdlib ends the header block: what follows,
    the signed From and DKIM-Signature among it, would be read as body)."""
    counts = Counter(name.strip().lower() for name in names)
    found = [name for name in SINGLE_FIELDS if counts[name] > 1]
    head = raw[: header_end(raw)]
    if head and not _WELL_FORMED_HEAD.fullmatch(head.replace(b"\x00", b"")):
        found.append(MALFORMED)
    return found


def header_end(raw: bytes) -> int:
    match = _BLANK_LINE_RE.search(raw)
    return match.end() if match else len(raw)


def sanitize_headers(raw: bytes, defects: list[str]) -> bytes:
    """Drop NUL bytes from the header block and cut over-long header fields (no copy when clean)."""
    end = header_end(raw)
    head = raw[:end]
    if b"\x00" in head:
        defects.append("tiêu đề thư chứa byte NUL")
        head = head.replace(b"\x00", b"")
    elif end <= MAX_HEADER_FIELD:
        return raw
    body = raw[end:]
    if len(head) <= MAX_HEADER_FIELD:
        return head + body
    fields: list[bytearray] = []
    for line in head.splitlines(keepends=True):
        if fields and line[:1] in (b" ", b"\t"):
            fields[-1] += line
        else:
            fields.append(bytearray(line))
    out = bytearray()
    for fld in fields:
        if len(fld) > MAX_HEADER_FIELD:
            name = bytes(fld[: fld.find(b":")] if b":" in fld[:80] else fld[:20]).decode("ascii", "replace")
            defects.append(f"tiêu đề {name} dài {len(fld)} byte, đã cắt còn {MAX_HEADER_FIELD} byte")
            fld = fld[:MAX_HEADER_FIELD].replace(b"\r", b" ").replace(b"\n", b" ") + b"\r\n"
        out += fld
    return bytes(out) + body


def headers_only(raw: bytes) -> Message:
    try:
        return BytesHeaderParser(policy=compat32).parsebytes(raw)
    except Exception:  # pragma: no cover - the header parser is very lenient
        return Message()


def unescape(value: object) -> str | None:
    """A raw header value with any raw 8-bit bytes (surrogate escapes) decoded as text."""
    if value is None:
        return None
    text = str(value)
    if any("\udc80" <= ch <= "\udcff" for ch in text):
        text = decode_bytes(text.encode("ascii", "surrogateescape"), None)
        text = "".join(ch if not "\udc80" <= ch <= "\udcff" else "\ufffd" for ch in text)
    return text


def decode_value(value: object) -> str:
    """A header value as readable NFC text: encoded words and raw 8-bit decoded."""
    if value is None:
        return ""
    text = FOLD_RE.sub(" ", unescape(value) or "")
    if "=?" in text:
        try:
            parts = decode_header(text)
            text = "".join(
                decode_bytes(chunk, charset) if isinstance(chunk, bytes) else chunk for chunk, charset in parts
            )
        except Exception:
            pass
    return nfc(CTRL_RE.sub("", text)).strip()


def message_id(raw: str | None) -> str | None:
    if not raw:
        return None
    value = FOLD_RE.sub(" ", str(raw)).strip()
    match = re.search(r"<([^<>\s]+)>", value)
    mid = match.group(1) if match else value.split()[0] if value.split() else ""
    mid = CTRL_RE.sub("", mid)[:900]
    return mid or None
