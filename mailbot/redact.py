"""Secret values masked wherever mailbot writes text for people: every log line, `mailbot check`.

The values (passwords, OAuth tokens) are registered with the filter that
logs.setup() installs on the root handler; this module sits below the
layers so that the code that reads a secret (config, intake, replies) registers
it where it reads it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable

MASK = "***"


class Redact(logging.Filter):
    """Replaces the secret values registered so far with *** in the final message and traceback."""

    def __init__(self) -> None:
        super().__init__()
        self._secrets: set[str] = set()
        self._lock = threading.Lock()

    def add(self, values: Iterable[str | None]) -> None:
        with self._lock:
            self._secrets.update(v for v in values if v and len(v) >= 4)  # a 1-3 character value would mask words

    def scrub(self, text: str) -> str:
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, MASK)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._secrets:
            return True
        message = self.scrub(record.getMessage())
        record.msg, record.args = message, None
        if record.exc_info:
            record.exc_text = self.scrub(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


def _filters() -> Iterable[Redact]:
    for handler in logging.getLogger().handlers:
        for f in handler.filters:
            if isinstance(f, Redact):
                yield f


def protect(values: Iterable[str | None]) -> None:
    """Register secret values with the filters setup() installed."""
    values = list(values)
    for f in _filters():
        f.add(values)


def scrub(text: str) -> str:
    """`text` with every registered secret masked (for output that does not go through logging)."""
    for f in _filters():
        text = f.scrub(text)
    return text
