"""Where messages come from: a Maildir (here), IMAP and Exchange (their own issue)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True)
class Incoming:
    """Raw bytes of one message and where they came from."""

    source_id: str
    raw: bytes
    delivered: dt.datetime | None = None
