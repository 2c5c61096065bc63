"""A document signature in plain Vietnamese: for the acknowledgement, the digest and `status`."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from mailbot.analysis.signatures import UNVERIFIED
from mailbot.replies.timefmt import time_and_date


def describe(sig: dict[str, Any], tz: ZoneInfo) -> str:
    """'đã được ký số bởi …, lúc …; chữ ký số còn nguyên vẹn …' from a Signature.as_record(), to
    follow 'Tệp' or 'Thư'. A name from a certificate that is not trusted is only what the
    certificate says: 'có chữ ký số ghi tên … (chưa xác minh)', never 'được ký số bởi …'."""
    who = sig.get("signer") or "người ký không rõ"
    if sig.get("tax_code"):
        who += f" (MST {sig['tax_code']})"
    trusted = bool(sig.get("trusted"))
    named = f"của {who}" if trusted else f"ghi tên {who} ({UNVERIFIED})"
    when = f" lúc {time_and_date(dt.datetime.fromisoformat(sig['signed_at']), tz)}" if sig.get("signed_at") else ""
    if not sig.get("intact") or sig.get("modified_after_signing"):
        return f"có chữ ký số {named}{when} nhưng chữ ký số không còn nguyên vẹn (nội dung đã bị thay đổi sau khi ký)"
    if trusted:
        return f"đã được ký số bởi {who}{when}; chữ ký số còn nguyên vẹn (không bị sửa đổi sau khi ký)"
    return (
        f"có chữ ký số {named}{when}; chữ ký số còn nguyên vẹn (không bị sửa đổi sau khi ký), "
        f"nhưng chưa xác minh được chứng thư số của người ký"
    )


def short(sigs: list[dict[str, Any]]) -> str:
    """'ký số: Viettel Đồng Tháp' for a table cell: the signers of a document's files, each
    followed by '(chưa xác minh)' when its certificate is not trusted."""
    holding = [s for s in sigs if s.get("intact") and not s.get("modified_after_signing")]
    if not holding:
        return "chữ ký số không hợp lệ" if sigs else ""
    names = dict.fromkeys(
        (s.get("signer") or "?").split(",")[0] + ("" if s.get("trusted") else f" ({UNVERIFIED})") for s in holding
    )
    return "ký số: " + ", ".join(names)
