"""Mail from a staff address ([staff] addresses): a command when our own server proves the sender,
suspicious when it does not (anyone can write a staff address in From)."""

from __future__ import annotations

import re
import unicodedata

from mailbot.analysis.authres import aligned
from mailbot.analysis.rules.base import Context
from mailbot.envelope import Envelope, ParsedMessage


def is_staff(envelope: Envelope, ctx: Context) -> bool:
    return bool(envelope.parsed.from_address) and envelope.parsed.from_address in ctx.config.staff


class StaffForged:
    name = "suspicious"

    def check(self, envelope: Envelope, ctx: Context) -> list[str]:
        if not is_staff(envelope, ctx) or envelope.auth.authenticates(envelope.parsed.from_address):
            return []
        return [
            f"thư mang địa chỉ cán bộ {envelope.parsed.from_address} nhưng máy chủ thư của Sở không xác thực "
            f"được người gửi ({envelope.auth.summary()}): không thực hiện lệnh, không trả lời"
        ]


class StaffCommand:
    name = "staff-command"

    def check(self, envelope: Envelope, ctx: Context) -> list[str]:
        if not is_staff(envelope, ctx) or len(envelope.parsed.from_addresses) > 1:
            return []
        return [f"lệnh của cán bộ {envelope.parsed.from_address}"]


# where the quoted part of a reply begins: nothing below it is read
_QUOTED = re.compile(
    r"^(>|on .+ wrote:?$|vào .+ đã viết:?$|-{2,} ?(original message|thư gốc|forwarded message|thư (đã )?chuyển tiếp)"
    r"|(from|từ|sent|gửi lúc|đã gửi):\s)",
    re.I,
)
_PREFIXES = re.compile(r"^\s*((re|fw|fwd|tl|tr|trả lời|chuyển tiếp|chuyen tiep)\s*:\s*)+", re.I)
# forward prefixes in the mail clients staff and carriers use (Outlook in other languages too: VS, WG, RV)
_FORWARD_SUBJECT = re.compile(
    r"^\s*\[?\s*((re|tl|trả lời|aw|sv)\s*:\s*)*(fw|fwd|forward|tr|vs|wg|rv|chuyển tiếp|chuyen tiep)\s*:", re.I
)
_FORWARD_LINE = re.compile(r"^-*\s*(forwarded message|thư (đã )?chuyển tiếp|begin forwarded message)", re.I)


def command_line(parsed: ParsedMessage) -> str:
    """The first non-empty line of the body above any quoted text, else the Subject without its
    Re:/Fwd:/TL:/CHUYỂN TIẾP: prefixes. HTML-only mail is read from its text (parse does that)."""
    for raw in parsed.body_text.splitlines():
        line = " ".join(raw.split())
        if not line:
            continue
        if _QUOTED.match(line):
            break
        return line[:500]
    return " ".join(_PREFIXES.sub("", parsed.subject).split())[:500]


MAX_ANSWERED = 50  # the latest Message-IDs of a thread kept as what a command answers (References grows)


def forwarded(parsed: ParsedMessage) -> bool:
    """A forward: a Fwd:/FW:/TR:/Chuyển tiếp: Subject, or a body that begins with a forward marker."""
    if _FORWARD_SUBJECT.match(unicodedata.normalize("NFC", parsed.subject)):  # macOS writes NFD
        return True
    first = next((" ".join(line.split()) for line in parsed.body_text.splitlines() if line.strip()), "")
    return bool(_FORWARD_LINE.match(first))


def _ids(value: str | None) -> list[str]:
    return re.findall(r"<([^<>\s]+)>", value or "")


def _tags(value: str) -> dict[str, str]:
    """A DKIM-Signature's tag list (RFC 6376, 3.2): `d=example.org; h=from:to` -> {"d": ..., "h": ...}."""
    tags: dict[str, str] = {}
    for part in value.split(";"):
        name, eq, tag_value = part.partition("=")
        if eq:
            tags.setdefault(name.strip().lower(), "".join(tag_value.split()))
    return tags


def answered_ids(parsed: ParsedMessage, submitted_here: bool = False) -> list[str]:
    """The Message-IDs this mail says it answers (In-Reply-To, References) that the sender's
    signature covers, so that no one but the author can have written them.

    A header a DKIM signature does not list (h=) can be added by anyone on the way without
    breaking it; a signature with a body length (l=) lets anyone append to the body. So when the
    From domain signed the mail, every such signature must list the field. Without one, our server
    authenticated the mail by its path (SPF, or a login on our own server): its headers are the author's.
    `submitted_here`: the author logged in on our own server to send it (auth=pass, smtp.auth = From):
    its headers are the author's whatever a signature added later lists.
    """
    domain = (parsed.from_address or "").rsplit("@", 1)[-1]
    if submitted_here:
        return parsed.references[-MAX_ANSWERED:]
    own = [t for t in map(_tags, parsed.header_all("DKIM-Signature")) if aligned(t.get("d", "").lower(), domain)]
    ids: list[str] = []
    for name in ("references", "in-reply-to"):  # In-Reply-To last: kept whatever References holds
        covered = all(name in t.get("h", "").lower().split(":") and "l" not in t for t in own)
        if covered:
            ids.extend(i for i in _ids(parsed.header(name)) if i not in ids)
    return ids[-MAX_ANSWERED:]
