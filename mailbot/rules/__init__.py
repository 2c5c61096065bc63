"""Classification rules, one small class per file; the first that matches decides.

Each rule has a `name` (the disposition it gives) and `check(envelope, ctx)`
returning the reasons it matched, or an empty list. The order is data:
"""

from __future__ import annotations

from mailbot.rules.automated import Automated
from mailbot.rules.base import Context, Rule
from mailbot.rules.correspondence import Correspondence
from mailbot.rules.submission import Submission
from mailbot.rules.suspicious import Suspicious
from mailbot.rules.unknown_sender import UnknownSender

CHAIN: tuple[Rule, ...] = (Automated(), Suspicious(), UnknownSender(), Submission(), Correspondence())

DISPOSITIONS = tuple(rule.name for rule in CHAIN)

__all__ = ["CHAIN", "DISPOSITIONS", "Context", "Rule"]
