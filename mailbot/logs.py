"""Logging to stderr for journald: one line per event, as text or JSON, never a secret.

journald adds its own timestamp, so under systemd (JOURNAL_STREAM set) the text
format leaves it out. Secrets cannot reach the log by accident:
- libraries that log protocol traffic at DEBUG (exchangelib dumps whole SOAP
  requests and responses, so message bodies; urllib3, requests_oauthlib and
  imaplib-based code may show auth headers) are held at WARNING whatever the
  level asked for;
- every record passes a filter that replaces each known secret value (the
  passwords and tokens mailbot read, mailbot/redact.py) with ***.
Python warnings raised in libraries (a DeprecationWarning of cryptography when pyhanko loads) are
for developers: route_warnings() sends them to the log at DEBUG, never to the operator's screen.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import warnings
from typing import TextIO

from mailbot.redact import Redact, protect, scrub

__all__ = ["Redact", "protect", "scrub", "setup", "current", "JsonFormatter", "route_warnings"]

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
