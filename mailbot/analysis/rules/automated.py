"""Automated mail (RFC 3834 and common practice): never answered."""

from __future__ import annotations

import re

from mailbot.analysis.rules.base import Context
from mailbot.envelope import Envelope

_ROBOT_LOCALS = re.compile(
    r"^(mailer-daemon|postmaster|no[-_.]?reply|do[-_.]?not[-_.]?reply|bounces?|.+-request|owner-.+)(\+.*)?$", re.I
)
_SUPPRESS = {"all", "oof", "autoreply"}


class Automated:
    name = "automated"

    def check(self, envelope: Envelope, ctx: Context) -> list[str]:
        msg = envelope.parsed
        reasons: list[str] = []
        auto = msg.header("Auto-Submitted")
        if auto is not None and auto.split(";", 1)[0].strip().lower() not in ("no", ""):
            reasons.append(f"thư tự động (Auto-Submitted: {auto.split(';', 1)[0].strip()})")
        precedence = (msg.header("Precedence") or "").strip().lower()
        if precedence in ("bulk", "junk", "list"):
            reasons.append(f"thư hàng loạt (Precedence: {precedence})")
        lists = sorted({name for name, _ in msg.headers if name.lower().startswith("list-")})
        if lists:
            reasons.append(f"thư từ danh sách thư ({lists[0]})")
        suppress = {v.strip().lower() for v in (msg.header("X-Auto-Response-Suppress") or "").split(",")}
        if suppress & _SUPPRESS:
            reasons.append("người gửi yêu cầu không trả lời tự động (X-Auto-Response-Suppress)")
        for header in ("X-Autoreply", "X-Autorespond", "X-Auto-Reply"):
            if msg.header(header) is not None:
                reasons.append(f"thư trả lời tự động ({header})")
        if msg.return_path == "":
            reasons.append("địa chỉ trả về rỗng (Return-Path: <>)")
        if msg.content_type == "multipart/report" or msg.header("X-Failed-Recipients") is not None:
            reasons.append("báo cáo chuyển phát hoặc xác nhận đã đọc (multipart/report)")
        for addr in {a for a in (msg.from_address, msg.sender_header, msg.return_path) if a}:
            local = addr.rsplit("@", 1)[0]
            if _ROBOT_LOCALS.match(local):
                reasons.append(f"địa chỉ của hệ thống tự động ({addr})")
        if msg.from_address and msg.from_address in ctx.config.own_addresses:
            reasons.append(f"thư gửi từ chính hộp thư của Sở ({msg.from_address})")
        return reasons
