"""A sender that belongs to no configured organization."""

from __future__ import annotations

from mailbot.analysis.rules.base import Context
from mailbot.envelope import Envelope


class UnknownSender:
    name = "unknown-sender"

    def check(self, envelope: Envelope, ctx: Context) -> list[str]:
        if envelope.organization is not None:
            return []
        sender = envelope.parsed.from_address or "(không có địa chỉ người gửi)"
        return [f"người gửi {sender} không thuộc đơn vị nào trong danh sách"]
