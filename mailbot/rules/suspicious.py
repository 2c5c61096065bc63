"""Mail claiming a known organization that our own server did not authenticate."""

from __future__ import annotations

from mailbot.envelope import Envelope
from mailbot.rules.base import Context


class Suspicious:
    name = "suspicious"

    def check(self, envelope: Envelope, ctx: Context) -> list[str]:
        auth = envelope.auth
        if envelope.organization is None or not auth.failed:
            return []
        detail = f"dmarc={auth.dmarc}" if auth.dmarc in ("pass", "fail") else f"spf={auth.spf}, dkim={auth.dkim}"
        return [f"địa chỉ thuộc {ctx.label(envelope.organization)} nhưng máy chủ thư của Sở xác thực thất bại ({detail})"]
