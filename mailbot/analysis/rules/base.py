"""What every rule sees: the envelope and the configuration."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from mailbot.config import Config
from mailbot.envelope import Envelope


@dataclass(frozen=True)
class Context:
    config: Config

    def label(self, org_id: str | None) -> str:
        """An organization as staff know it: its Vietnamese name."""
        org = self.config.organization(org_id) if org_id else None
        return org.name if org else str(org_id)


class Rule(Protocol):
    name: str  # the disposition this rule gives

    def check(self, envelope: Envelope, ctx: Context) -> list[str]:
        """Reasons (Vietnamese, for staff) why the rule applies; empty if it does not."""
        ...
