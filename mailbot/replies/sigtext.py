"""A document signature in plain Vietnamese: for the acknowledgement, the digest and `status`."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from mailbot.replies.timefmt import time_and_date


def describe(sig: dict[str, Any], tz: ZoneInfo) -> str:
    """'đã được ký số bởi …, lúc …; chữ ký số còn nguyên vẹn …' from a Signature.as_record(), to
    follow 'Tệp' or 'Thư'."""
    who = sig.get("signer") or "người ký không rõ"
    if sig.get("tax_code"):
        who += f" (MST {sig['tax_code']})"
    when = f" lúc {time_and_date(dt.datetime.fromisoformat(sig['signed_at']), tz)}" if sig.get("signed_at") else ""
    if not sig.get("intact") or sig.get("modified_after_signing"):
        return f"có chữ ký số của {who}{when} nhưng chữ ký số không còn nguyên vẹn (nội dung đã bị thay đổi sau khi ký)"
    text = f"đã được ký số bởi {who}{when}; chữ ký số còn nguyên vẹn (không bị sửa đổi sau khi ký)"
    if not sig.get("trusted"):
        text += ", nhưng chưa xác minh được chứng thư số của người ký"
    return text


def short(sigs: list[dict[str, Any]]) -> str:
    """'ký số: Viettel Đồng Tháp' for a table cell: the signers of a document's files."""
    holding = [s for s in sigs if s.get("intact") and not s.get("modified_after_signing")]
    if not holding:
        return "chữ ký số không hợp lệ" if sigs else ""
    names = dict.fromkeys((s.get("signer") or "?").split(",")[0] for s in holding)
    return "ký số: " + ", ".join(names)
