"""Where messages come from: a Maildir, an IMAP mailbox, Exchange."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Incoming:
    """Raw bytes of one message and where they came from."""

    source_id: str
    raw: bytes  # only the header block when `oversize` is set
    delivered: dt.datetime | None = None
    oversize: int | None = None  # size of a message too large to download


_BACKOFF_RE = re.compile(r"Suggested Backoff Time: (\d+) milliseconds", re.I)


def suggested_backoff(exc: BaseException) -> float | None:
    """Seconds a throttling server (Microsoft 365) asks us to wait, if it says so."""
    retry_after = getattr(exc, "retry_after", None)
    if retry_after is not None:
        return float(retry_after)
    match = _BACKOFF_RE.search(str(exc))
    return int(match.group(1)) / 1000 if match else None
