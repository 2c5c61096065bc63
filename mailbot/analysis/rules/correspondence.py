"""Everything else from a known organization: a person should read it."""

from __future__ import annotations

from mailbot.analysis.rules.base import Context
from mailbot.envelope import Envelope


class Correspondence:
    name = "correspondence"

    def check(self, envelope: Envelope, ctx: Context) -> list[str]:
        return [f"thư trao đổi của {ctx.label(envelope.organization)}, không kèm tài liệu được yêu cầu"]
