"""Logging to stderr for journald: one line per event, as text or JSON, never a secret.

journald adds its own timestamp, so under systemd (JOURNAL_STREAM set) the text
format leaves it out. Secrets cannot reach the log by accident:
- libraries that log protocol traffic at DEBUG (exchangelib dumps whole SOAP
  requests and responses, so message bodies; urllib3, requests_oauthlib and
  imaplib-based code may show auth headers) are held at WARNING whatever the
  level asked for;
- every record passes a filter that replaces each known secret value (the
  passwords and tokens mailbot read) with ***.
Python warnings raised in libraries (a DeprecationWarning of cryptography when pyhanko loads) are
for developers: route_warnings() sends them to the log at DEBUG, never to the operator's screen.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import warnings
from collections.abc import Iterable
from typing import TextIO

QUIET = (
    "exchangelib",
    "urllib3",
    "requests",
    "requests_oauthlib",
    "oauthlib",
    "msal",
    "imap_tools",
    "chardet",
    "charset_normalizer",
    "asyncio",
)
# Warnings about the mail itself ("Email content 'mixed' not handled", a PDF's bad xref): one per odd
# message would flood the journal; what matters is recorded as the message's defects.
NOISY = ("mailparser", "pypdf", "openpyxl", "xlrd")
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


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            data["traceback"] = record.exc_text
        return json.dumps(data, ensure_ascii=False)


def _warning_to_log(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    text = warnings.formatwarning(message, category, filename, lineno, line).rstrip()
    logging.getLogger("py.warnings").debug("%s", text)


def route_warnings() -> None:
    """Every Python warning from now on goes to the log at DEBUG instead of stderr; called first thing
    in each process mailbot starts (the command, its worker processes, the OCR child)."""
    warnings.showwarning = _warning_to_log


def protect(values: Iterable[str | None]) -> None:
    """Register secret values with the filters setup() installed."""
    for handler in logging.getLogger().handlers:
        for f in handler.filters:
            if isinstance(f, Redact):
                f.add(values)


def current() -> tuple[str, str]:
    """The level and format setup() installed, for worker processes to log alike."""
    root = logging.getLogger()
    fmt = "json" if any(isinstance(h.formatter, JsonFormatter) for h in root.handlers) else "text"
    return logging.getLevelName(root.level), fmt


def setup(level: str, fmt: str = "text", stream: TextIO | None = None) -> Redact:
    """Configure the root logger once per process; returns the filter to register secrets with."""
    handler = logging.StreamHandler(stream or sys.stderr)
    redact = Redact()
    handler.addFilter(redact)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    elif os.environ.get("JOURNAL_STREAM"):  # journald stamps each line itself
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in QUIET:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
    for name in NOISY:
        logging.getLogger(name).setLevel(max(logging.ERROR, root.level))
    return redact
