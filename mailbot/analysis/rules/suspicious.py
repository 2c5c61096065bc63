"""Mail claiming a known organization that our own server did not authenticate for its domain."""

from __future__ import annotations

from mailbot.analysis.rules.base import Context
from mailbot.envelope import Envelope


class Suspicious:
    name = "suspicious"

    def check(self, envelope: Envelope, ctx: Context) -> list[str]:
        if envelope.organization is None:
            return []
        parsed, auth = envelope.parsed, envelope.auth
        name = ctx.label(envelope.organization)
        address = parsed.from_address or ""
        domain = address.rsplit("@", 1)[-1]
        if any(a != address for a in parsed.from_addresses):
            return [
                f"tiêu đề From có nhiều địa chỉ ({', '.join(parsed.from_addresses)}): không xác định được "
                f"người gửi, không coi là thư của {name}"
            ]
        if auth.header_from and auth.header_from != domain:
            return [
                f"máy chủ thư của Sở kiểm tra tên miền {auth.header_from}, khác tên miền người gửi {domain}: "
                f"không coi là thư của {name}"
            ]
        if auth.failed:
            detail = f"dmarc={auth.dmarc}" if auth.dmarc in ("pass", "fail") else f"spf={auth.spf}, dkim={auth.dkim}"
            return [f"địa chỉ thuộc {name} nhưng máy chủ thư của Sở xác thực thất bại ({detail})"]
        if auth.aligned or not ctx.config.require_aligned_auth:
            return []
        if not auth.trusted:
            return [
                f"địa chỉ thuộc {name} nhưng thư không có kết quả xác thực của máy chủ thư của Sở: "
                f"không chứng minh được người gửi"
            ]
        return [
            f"địa chỉ thuộc {name} nhưng máy chủ thư của Sở không xác thực được tên miền {domain} "
            f"({auth.summary()}): có thể là thư giả mạo"
        ]
