"""A known organization sent at least one document it is required to send."""

from __future__ import annotations

from mailbot.analysis.rules.base import Context
from mailbot.envelope import Envelope


class Submission:
    name = "submission"

    def check(self, envelope: Envelope, ctx: Context) -> list[str]:
        campaign = ctx.config.campaign(envelope.campaign) if envelope.campaign else None
        if campaign is None or envelope.organization is None:
            return []
        required = [
            d
            for d in envelope.documents
            if (doc := campaign.document(d)) is not None and envelope.organization in doc.organizations
        ]
        if not required:
            return []
        names = ", ".join(campaign.document(d).name for d in required)  # type: ignore[union-attr]
        return [f"{ctx.label(envelope.organization)} gửi {names} ({campaign.id})"]
