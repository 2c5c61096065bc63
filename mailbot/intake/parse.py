"""Parse raw bytes into a ParsedMessage: never raises, records defects instead.

mail-parser parses the message and lists its attachments (with RFC 2231 and
RFC 2047 names decoded). The stdlib email package (compat32 policy) is used
where mail-parser loses information: the message's own body, which
mail-parser merges with the bodies of attached messages. policy=default is
avoided on purpose: its header parser is quadratic on semicolon-stuffed
headers and recursive on deep nesting.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime as dt
import email.utils
import logging
import re
from email.message import Message

import mailparser
from mailparser.exceptions import MailParserRecursionError

from mailbot.analysis import extract
from mailbot.analysis.htmltext import html_to_text
from mailbot.analysis.textnorm import decode_bytes
from mailbot.envelope import Attachment, ParsedMessage
from mailbot.intake import bigparts
from mailbot.intake.headers import (
    FOLD_RE,
    decode_value,
    headers_only,
    message_id,
    repeated_fields,
    sanitize_headers,
    unescape,
)

log = logging.getLogger(__name__)

MAX_ATTACHMENTS = 500  # attachments examined per message
MAX_DEPTH = 64  # MIME nesting walked for the body
MAX_BODY_CHARS = 200_000
_INVENTED_NAME = re.compile(r"^[a-z]{10}\.(?:txt|rtf)$")  # mail-parser's random_string() names


def parse_message(
    raw: bytes, max_attachment_bytes: int = 30 * 1024 * 1024, budget: extract.Budget | None = None
) -> ParsedMessage:
    """`budget`: what the message's files may unpack and read by OCR (extract.Budget.of(config))."""
    defects: list[str] = []
    clean = sanitize_headers(raw, defects)
    small, lifted = bigparts.lift(clean)
    if lifted:
        parsed = _parse(small, defects[:], max_attachment_bytes, lifted, budget or extract.Budget())
        if not lifted:  # every large part came back as an attachment
            return parsed
    return _parse(clean, defects, max_attachment_bytes, {}, budget or extract.Budget())


def _parse(
    clean: bytes,
    defects: list[str],
    max_attachment_bytes: int,
    lifted: dict[bytes, tuple[bytes, bool]],
    budget: extract.Budget,
) -> ParsedMessage:
    """`lifted`: large parts decoded beforehand (bigparts); each one used is removed from it."""
    mp = None
    try:
        mp = mailparser.parse_from_bytes(clean)
        msg: Message = mp.message
    except MailParserRecursionError:
        defects.append("cấu trúc MIME lồng nhau quá sâu: chỉ đọc được tiêu đề thư")
        msg = headers_only(clean)
    except Exception as exc:  # mail-parser may fail in many ways on hostile input
        defects.append(f"không phân tích được cấu trúc thư ({type(exc).__name__}): chỉ đọc được tiêu đề thư")
        msg = headers_only(clean)

    if mp is not None:
        defects.extend(_mailparser_defects(mp))
    headers = [(name, decode_value(value)) for name, value in msg.raw_items()]
    # Raw 8-bit header bytes arrive as surrogate escapes: decoded here, once, so that no
    # surrogate ever reaches the register, a reply header or a log line. The first instance of a
    # field is kept (a DKIM verifier checks the last): a message with a field RFC 5322 allows
    # once given twice is `repeated` and authenticates nobody, whichever instance is read.
    raw_headers = {name.lower(): unescape(value) for name, value in reversed(list(msg.raw_items()))}

    from_address, from_display = _first_address(raw_headers.get("from"), defects, "From")
    from_addresses = _addresses(raw_headers.get("from"))
    if len([n for n, _ in headers if n.lower() == "from"]) > 1:
        defects.append("thư có nhiều tiêu đề From")
        from_addresses += ["(tiêu đề From thứ hai)"]
    reply_to = [a for a in (_addresses(raw_headers.get("reply-to")))]
    sender_header, _ = _first_address(raw_headers.get("sender"), [], "Sender")
    return_path = _return_path(raw_headers.get("return-path"))

    body_text, body_html = "", ""
    nested: list[str] = []
    attachments: list[Attachment] = []
    if mp is not None:
        try:
            body_text, body_html, nested = _own_body(msg, defects)
            attachments = _attachments(mp, defects, max_attachment_bytes, lifted, dataclasses.replace(budget))
        except Exception as exc:  # a last guard: parsing must never stop the runner
            log.exception("unexpected error while reading the parts of a message")
            defects.append(f"lỗi khi đọc các phần của thư ({type(exc).__name__})")

    subject = decode_value(raw_headers.get("subject", "")) if "subject" in raw_headers else ""
    return ParsedMessage(
        message_id=message_id(raw_headers.get("message-id")),
        subject=subject,
        from_address=from_address,
        from_display=from_display,
        reply_to=reply_to,
        sender_header=sender_header,
        return_path=return_path,
        date=_date(raw_headers.get("date")),
        received_at=_received_at(raw_headers.get("received")),
        headers=headers,
        content_type=_content_type(msg),
        body_text=body_text,
        body_html=body_html,
        attachments=attachments,
        nested_subjects=nested,
        references=_references(raw_headers.get("in-reply-to"), raw_headers.get("references")),
        defects=defects,
        from_addresses=from_addresses,
        repeated=repeated_fields((name for name, _ in headers), clean),
    )


def _mailparser_defects(mp: mailparser.MailParser) -> list[str]:
    out: list[str] = []
    try:
        categories = sorted(mp.defects_categories)
    except Exception:
        return out
    for cat in categories:
        out.append(f"lỗi cấu trúc MIME: {cat}")
    return out


def _addresses(raw: str | None) -> list[str]:
    if not raw:
        return []
    try:
        pairs = email.utils.getaddresses([FOLD_RE.sub(" ", str(raw))])
    except Exception:
        return []
    return [addr.strip().lower().rstrip(".") for _, addr in pairs if "@" in addr]


def _first_address(raw: str | None, defects: list[str], name: str) -> tuple[str | None, str]:
    """The addr-spec is taken from the raw header, never from decoded words."""
    if not raw:
        return None, ""
    try:
        pairs = email.utils.getaddresses([FOLD_RE.sub(" ", str(raw))])
    except Exception:
        pairs = []
    for display, addr in pairs:
        addr = addr.strip().lower().rstrip(".")
        if "@" in addr and not any(c.isspace() for c in addr):
            return addr, decode_value(display)
    defects.append(f"tiêu đề {name} không có địa chỉ hợp lệ")
    return None, decode_value(raw)


def _return_path(raw: str | None) -> str | None:
    if raw is None:
        return None
    value = str(raw).strip()
    if value in ("<>", "") or value.replace(" ", "") == "<>":
        return ""
    addrs = _addresses(value)
    return addrs[0] if addrs else value.strip("<> ").lower()


def _references(in_reply_to: str | None, references: str | None) -> list[str]:
    ids: list[str] = []
    for raw in (references, in_reply_to):
        for mid in re.findall(r"<([^<>\s]+)>", str(raw or "")):
            if mid not in ids:
                ids.append(mid)
    return ids


def _as_aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


def _date(raw: str | None) -> dt.datetime | None:
    if not raw:
        return None
    try:
        value = _as_aware(email.utils.parsedate_to_datetime(FOLD_RE.sub(" ", str(raw)).strip()))
        value.astimezone(dt.timezone.utc)  # 31 Dec 9999 -2359 has no UTC time: no date at all
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return value if 1970 <= value.year <= 2200 else None


def _received_at(raw: str | None) -> dt.datetime | None:
    if not raw or ";" not in str(raw):
        return None
    return _date(str(raw).rsplit(";", 1)[1])


def _content_type(msg: Message) -> str:
    try:
        return msg.get_content_type()
    except Exception:
        return "text/plain"


def _is_attachment_part(part: Message) -> bool:
    disposition = str(part.get("content-disposition", "")).split(";", 1)[0].strip().lower()
    return (
        disposition == "attachment"
        or bool(part.get_param("name"))
        or bool(part.get_param("filename", header="content-disposition"))
    )


def _b64decode(payload: str) -> tuple[bytes, bool]:
    """Strict first; else the longest decodable prefix of the base64 alphabet."""
    try:
        return base64.b64decode(payload), False
    except (binascii.Error, ValueError):
        clean = re.sub(r"[^A-Za-z0-9+/]", "", payload)
        clean = clean[: len(clean) - len(clean) % 4]
        try:
            return base64.b64decode(clean), True
        except (binascii.Error, ValueError):
            return b"", True


def _own_body(msg: Message, defects: list[str]) -> tuple[str, str, list[str]]:
    """Text and HTML of the message itself; attached messages give only their subject."""
    plain: list[str] = []
    html: list[str] = []
    nested: list[str] = []
    stack: list[tuple[Message, int]] = [(msg, 0)]
    while stack:
        part, depth = stack.pop()
        if depth > MAX_DEPTH:
            defects.append(f"cấu trúc MIME lồng quá {MAX_DEPTH} mức: phần sâu hơn bị bỏ qua")
            break
        ctype = part.get_content_type()
        if ctype == "message/rfc822":
            inner = part.get_payload()
            if isinstance(inner, list) and inner and isinstance(inner[0], Message):
                nested.append(decode_value(inner[0].get("subject", "")))
            continue
        if part.is_multipart():
            children = part.get_payload()
            if isinstance(children, list):
                stack.extend((child, depth + 1) for child in reversed(children) if isinstance(child, Message))
            continue
        if ctype not in ("text/plain", "text/html") or _is_attachment_part(part):
            continue
        try:
            payload = part.get_payload(decode=True)
            data = payload if isinstance(payload, bytes) else b""
        except Exception:
            defects.append("không giải mã được nội dung thư")
            continue
        text = decode_bytes(data, part.get_content_charset()).replace("\r\n", "\n")
        (plain if ctype == "text/plain" else html).append(text)
    body_html = "\n".join(html)[:MAX_BODY_CHARS]
    body_text = "\n".join(plain)[:MAX_BODY_CHARS]
    if not body_text and body_html:
        body_text = html_to_text(body_html)
    return body_text.replace("\x00", ""), body_html, nested


def _attachments(
    mp: mailparser.MailParser,
    defects: list[str],
    max_bytes: int,
    lifted: dict[bytes, tuple[bytes, bool]],
    budget: extract.Budget,
) -> list[Attachment]:
    out: list[Attachment] = []
    items = mp.attachments
    if len(items) > MAX_ATTACHMENTS:
        defects.append(f"thư có {len(items)} tệp đính kèm: chỉ xét {MAX_ATTACHMENTS} tệp đầu")
        items = items[:MAX_ATTACHMENTS]
    for item in items:
        att_defects: list[str] = []
        name = decode_value(item.get("filename") or "") or "(không tên)"
        ctype = str(item.get("mail_content_type") or "").lower()
        if _INVENTED_NAME.match(name) and name not in str(item.get("content-disposition") or ""):
            # mail-parser names an unnamed part with random letters: give it a stable name
            name = "thư đính kèm.eml" if ctype == "message/rfc822" else f"(không tên).{name.rsplit('.', 1)[1]}"
        payload = item.get("payload") or ""
        if item.get("binary"):
            data, broken = _b64decode(str(payload))
            if data in lifted:  # a large part, decoded from the raw bytes beforehand
                data, broken = lifted.pop(data)
            if broken:
                att_defects = [f"mã base64 của tệp hỏng: đã giải mã được {len(data)} byte"]
        else:
            data = payload.encode("utf-8", "surrogateescape") if isinstance(payload, str) else bytes(payload)
        disposition = str(item.get("content-disposition") or "").lower()
        att = Attachment(
            filename=name,
            content_type=str(item.get("mail_content_type") or "application/octet-stream").lower(),
            data=data,
            inline=disposition.startswith("inline")
            or (bool(item.get("content-id")) and "attachment" not in disposition),
            content_id=str(item.get("content-id") or ""),
            defects=att_defects,
        )
        if att.size > max_bytes:
            att.defects.append(f"tệp lớn hơn giới hạn {max_bytes // (1024 * 1024)} MB: không đọc nội dung")
        else:
            out.extend(extract.examine(att, budget))
            continue
        out.append(att)
    return out
