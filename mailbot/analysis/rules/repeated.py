"""A field RFC 5322 allows once (From, Subject, Date...) given twice: someone added one.

A DKIM verifier checks the last instance of a signed field, readers show the first: a carrier
can prepend a Subject to a staff member's signed mail and keep `dkim=pass`. Such a message
authenticates nobody: no organization (classify clears it), no command, no answer.
"""

from __future__ import annotations

from mailbot.analysis.rules.base import Context
from mailbot.envelope import Envelope
from mailbot.intake.headers import MALFORMED

_NAMES = {
    "message-id": "Message-ID",
    "reply-to": "Reply-To",
    "in-reply-to": "In-Reply-To",
    "cc": "Cc",
    "mime-version": "MIME-Version",
    "content-type": "Content-Type",
    "content-transfer-encoding": "Content-Transfer-Encoding",
    "content-disposition": "Content-Disposition",
}


def field_names(fields: list[str]) -> str:
    return ", ".join(_NAMES.get(f, f.capitalize()) for f in fields)


class RepeatedHeaders:
    name = "suspicious"

    def check(self, envelope: Envelope, ctx: Context) -> list[str]:
        fields = [f for f in envelope.parsed.repeated if f != MALFORMED]
        if MALFORMED in envelope.parsed.repeated and not fields:
            return [
                "phần tiêu đề thư có dòng sai cú pháp (kiểu “X-Cut : 1”), sau đó các tiêu đề khác bị đọc lệch: "
                "không xác định được người gửi; không thực hiện lệnh, không trả lời"
            ]
        if not fields:
            return []
        return [
            f"thư có nhiều hơn một tiêu đề {field_names(fields)} (mỗi tiêu đề này chỉ được có một): có thể đã bị "
            f"chèn thêm sau khi ký, không xác định được người gửi; không thực hiện lệnh, không trả lời"
        ]
