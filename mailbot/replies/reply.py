"""Acknowledgements: rendered from jinja2 templates, threaded, marked auto-replied."""

from __future__ import annotations

import base64
import datetime as dt
import email.utils
import hashlib
from dataclasses import dataclass
from email.charset import BASE64, Charset
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.nonmultipart import MIMENonMultipart
from email.mime.text import MIMEText
from email.policy import compat32
from pathlib import Path
from typing import Any

import jinja2

from mailbot.analysis.classify import organization_of
from mailbot.config import Config
from mailbot.envelope import Envelope
from mailbot.errors import TemplateError
from mailbot.replies.samples import SAMPLE_ACK, SAMPLES, TEMPLATES

__all__ = ["SAMPLE_ACK", "SAMPLES", "TEMPLATES", "Reply", "Templates", "compose"]

_UTF8 = Charset("utf-8")
_UTF8.body_encoding = BASE64


def default_templates_dir() -> Path:
    return Path(__file__).resolve().parent.parent / "templates"


class Templates:
    """The jinja2 templates, checked at start: a template that fails is an error now, not at send time."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory or default_templates_dir()
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(self.directory)),
            undefined=jinja2.StrictUndefined,
            autoescape=lambda name: bool(name and name.endswith(".html.j2")),
            keep_trailing_newline=True,
        )
        for name in TEMPLATES:
            self.render(name, SAMPLES[name.split(".", 1)[0]])

    def render(self, name: str, context: dict[str, Any]) -> str:
        try:
            return self.env.get_template(name).render(context)
        except jinja2.TemplateNotFound:
            raise TemplateError(f"template {name} not found in {self.directory}") from None
        except jinja2.TemplateError as exc:
            line = getattr(exc, "lineno", None)  # a syntax error knows its line, others do not
            where = f"{name}, line {line}" if line else name
            raise TemplateError(f"template {where} in {self.directory}: {exc}") from None


NAME_CHARS = 80  # a file name longer than this is shortened in replies (the record keeps it whole)


def shown_name(name: str) -> str:
    """A sender's file name as a reply shows it: control characters out, a very long one shortened."""
    clean = "".join(c if c.isprintable() else "\ufffd" for c in name)
    if len(clean) <= NAME_CHARS:
        return clean
    head, dot, ext = clean.rpartition(".")
    ext = dot + ext if head and len(ext) <= 10 else ""
    keep = NAME_CHARS - len(ext) - 1
    return clean[: keep - 12] + "…" + clean[-12 - len(ext) :]


@dataclass(frozen=True)
class Reply:
    key: str  # the Message-ID, fixed for this reply
    to: list[str]
    subject: str
    raw: bytes


def reply_message_id(kind: str, message_key: str, domain: str) -> str:
    digest = hashlib.sha256(f"{kind}\0{message_key}".encode()).hexdigest()[:32]
    return f"{kind}.{digest}@{domain}"


def unanswerable(envelope: Envelope, config: Config) -> str | None:
    """Why no automatic mail (acknowledgement, oversize notice, command answer) may go to this
    message's sender, or None: the one check against backscatter, a mail from the Department to
    the victim of a forged address.

    A field given twice (the sender is not known); our server says authentication failed; or,
    with `trusted_authserv_ids` set, our server did not authenticate the From domain (an aligned
    pass) nor the login that submitted it.
    """
    parsed, auth = envelope.parsed, envelope.auth
    if parsed.repeated:
        return "thư có tiêu đề lặp lại, không xác định được người gửi: không trả lời tự động"
    if auth.failed:
        return "máy chủ thư của Sở xác thực người gửi thất bại (có thể giả mạo): không trả lời tự động"
    if config.trusted_authserv_ids and not (auth.aligned or auth.authenticates(parsed.from_address)):
        return "máy chủ thư của Sở không xác thực được người gửi: không trả lời tự động"
    return None


def recipients(envelope: Envelope, config: Config, reply_to: bool = True) -> list[str]:
    """Who an automatic answer goes to: nobody when `unanswerable`; else the sender, or (with
    `reply_to`) its Reply-To when that belongs to the same organization.

    Only plain ASCII addresses: an internationalised one would need SMTPUTF8 end to end,
    and a raw 8-bit header is more often a broken client than a real address.
    """
    parsed = envelope.parsed
    if unanswerable(envelope, config):
        return []
    for addr in parsed.reply_to if reply_to else []:
        if sendable(addr) and envelope.organization and organization_of(addr, config) == envelope.organization:
            return [addr]
    return [parsed.from_address] if parsed.from_address and sendable(parsed.from_address) else []


def sendable(value: str) -> bool:
    """ASCII, printable, no spaces or brackets: safe in a header we write and on the wire."""
    return value.isascii() and value.isprintable() and not any(c in value for c in ' <>"')


def reply_subject(original: str, fallback: str) -> str:
    subject = " ".join(original.split())
    if not subject:
        return fallback
    return subject if subject.lower().startswith(("re:", "tl:", "trả lời:")) else f"Re: {subject}"


def compose(
    envelope: Envelope,
    config: Config,
    templates: Templates,
    context: dict[str, Any],
    now: dt.datetime,
    kind: str = "ack",
    fallback_subject: str = "",
) -> Reply:
    """A reply to a message: threaded under it, marked auto-replied (RFC 3834)."""
    parsed = envelope.parsed
    domain = config.reply_from.rsplit("@", 1)[1]
    msgid = reply_message_id(kind, envelope.key, domain)
    subject = reply_subject(
        parsed.subject, fallback_subject or f"Xác nhận đã nhận tài liệu – số biên nhận {context['receipt']}"
    )
    thread: list[tuple[str, str]] = []
    if parsed.message_id and sendable(parsed.message_id):
        refs = [r for r in parsed.references if r != parsed.message_id and sendable(r)][-20:] + [parsed.message_id]
        thread = [("In-Reply-To", f"<{parsed.message_id}>"), ("References", "\r\n ".join(f"<{r}>" for r in refs))]
    return compose_mail(
        config, templates, kind, context, recipients(envelope, config), subject, msgid, now, "auto-replied", thread
    )


def compose_mail(
    config: Config,
    templates: Templates,
    kind: str,
    context: dict[str, Any],
    to: list[str],
    subject: str,
    msgid: str,
    now: dt.datetime,
    auto_submitted: str = "auto-generated",
    extra_headers: list[tuple[str, str]] | None = None,
    attachments: list[tuple[str, str, bytes]] | None = None,
    html: str | None = None,
) -> Reply:
    """Text and HTML from the `kind` templates (`html` given: that page instead), From the
    Department, with a fixed Message-ID; `attachments` are (file name, MIME type, bytes)."""
    # compat32 classes: a fifth of the cost of EmailMessage with policy=SMTP, and the same bytes
    # on the wire (headers encoded by us, bodies in base64 UTF-8).
    # A boundary of our own: characters base64 never produces, and no regex compiled per mail
    # (the stdlib compiles one for each boundary it invents).
    msg = MIMEMultipart("alternative", boundary=f"=_mailbot_{msgid.split('@', 1)[0].rsplit('.', 1)[-1]}")
    for name, text in (
        (("plain", templates.render(f"{kind}.txt.j2", context))),
        ("html", html if html is not None else templates.render(f"{kind}.html.j2", context)),
    ):
        # canonical CRLF; MIMEText takes a Charset object as well as a name (typeshed says str only)
        part = MIMEText(text.replace("\r\n", "\n").replace("\n", "\r\n"), name, _UTF8)  # type: ignore[arg-type]
        del part["MIME-Version"]
        part["Content-Language"] = "vi"
        msg.attach(part)
    if attachments:
        body, msg = msg, MIMEMultipart("mixed", boundary=f"=_mailbot_mixed_{msgid.split('@', 1)[0][-24:]}")
        del body["MIME-Version"]
        msg.attach(body)
        for filename, ctype, data in attachments:
            maintype, subtype = ctype.split("/", 1)
            attached: MIMENonMultipart = (
                MIMEApplication(data, subtype) if maintype == "application" else MIMEText(data.decode(), subtype)
            )
            del attached["MIME-Version"]
            attached.add_header("Content-Disposition", "attachment", filename=("utf-8", "", filename))
            msg.attach(attached)
    head = [
        ("From", f"{encode_phrase(config.department)} <{config.reply_from}>"),
        ("To", ", ".join(to)),
        ("Subject", encode_words(subject)),
        ("Date", email.utils.format_datetime(now.astimezone(config.timezone))),
        ("Message-ID", f"<{msgid}>"),
        *(extra_headers or []),
        ("Auto-Submitted", auto_submitted),
        ("X-Auto-Response-Suppress", "All"),
        ("Content-Language", "vi"),
    ]
    top = "".join(f"{name}: {value}\r\n" for name, value in head).encode("ascii")
    raw = top + msg.as_bytes(policy=compat32.clone(linesep="\r\n"))
    return Reply(key=msgid, to=to, subject=subject, raw=raw)


def encode_phrase(text: str) -> str:
    """A display name: quoted when ASCII needs it, else encoded words (see encode_words)."""
    if text.isascii():
        return f'"{email.utils.quote(text)}"' if not text.replace(" ", "").isalnum() else text
    return encode_words(text)


def encode_words(text: str) -> str:
    """Unstructured text as RFC 2047 encoded words split between words, never inside one.

    The stdlib folder splits encoded words mid-word ("Đ" | "ồng"), which some
    readers, the stdlib's own among them, show with a space inside the word.
    """
    text = " ".join(text.split())  # no CR, LF or tabs reach the header
    if text.isascii():
        return text if len(text) < 900 else text[:900]
    chunks: list[str] = []
    for word in text.split(" "):
        candidate = f"{chunks[-1]} {word}" if chunks else word
        if chunks and len(candidate.encode()) + 1 <= 45:
            chunks[-1] = candidate
        else:
            chunks.append(word)
    encoded = [
        base64.b64encode((c + (" " if i < len(chunks) - 1 else "")).encode()).decode() for i, c in enumerate(chunks)
    ]
    return "\r\n ".join(f"=?utf-8?b?{e}?=" for e in encoded)
