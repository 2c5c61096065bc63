"""Mail from a staff address ([staff] addresses): a command when our own server proves the sender,
suspicious when it does not (anyone can write a staff address in From)."""

from __future__ import annotations

import re

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
    r"^(>|on .+ wrote:?$|vào .+ đã viết:?$|-{2,} ?(original message|thư gốc|forwarded message|thư chuyển tiếp)"
    r"|(from|từ|sent|gửi lúc|đã gửi):\s)",
    re.I,
)
_PREFIXES = re.compile(r"^\s*((re|fw|fwd|tl|tr|trả lời|chuyển tiếp|chuyen tiep)\s*:\s*)+", re.I)


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
