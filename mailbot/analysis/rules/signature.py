"""A file whose digital signature does not hold: changed after signing, or a signature that is
not intact. Staff check it before anyone relies on it; the sender gets no acknowledgement."""

from __future__ import annotations

from mailbot.analysis import signatures
from mailbot.analysis.rules.base import Context
from mailbot.envelope import Envelope


class BrokenSignature:
    name = "suspicious"

    def check(self, envelope: Envelope, ctx: Context) -> list[str]:
        return signatures.broken(envelope)
