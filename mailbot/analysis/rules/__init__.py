"""Classification rules, one small class per file; the first that matches decides.

Each rule has a `name` (the disposition it gives) and `check(envelope, ctx)`
returning the reasons it matched, or an empty list. The order is data:
"""

from __future__ import annotations

from mailbot.analysis.rules.automated import Automated
from mailbot.analysis.rules.base import Context, Rule
from mailbot.analysis.rules.correspondence import Correspondence
from mailbot.analysis.rules.repeated import RepeatedHeaders
from mailbot.analysis.rules.signature import BrokenSignature
from mailbot.analysis.rules.staff import StaffCommand, StaffForged
from mailbot.analysis.rules.submission import Submission
from mailbot.analysis.rules.suspicious import Suspicious
from mailbot.analysis.rules.unknown_sender import UnknownSender

# an auto-reply (an out-of-office answering the digest) is never a command: Automated comes first
# (nothing is done for it, no document read); a field given twice authenticates nobody: next
CHAIN: tuple[Rule, ...] = (
    Automated(),
    RepeatedHeaders(),
    StaffForged(),
    StaffCommand(),
    Suspicious(),
    BrokenSignature(),
    UnknownSender(),
    Submission(),
    Correspondence(),
)

DISPOSITIONS = tuple(dict.fromkeys(rule.name for rule in CHAIN))

__all__ = ["CHAIN", "DISPOSITIONS", "Context", "Rule"]
