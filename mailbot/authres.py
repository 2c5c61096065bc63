"""The receiving server's Authentication-Results (RFC 8601), trusted ids only.

Any header whose authserv-id is not one of ours is ignored: anyone can write
one. The topmost trusted header is the one our server added last.
"""

from __future__ import annotations

import re

from mailbot.envelope import AuthVerdict, ParsedMessage

_COMMENT_RE = re.compile(r"\([^()]*\)")
_RESULT_RE = re.compile(r"^\s*([a-z0-9_-]+)(?:/\d+)?\s*=\s*([a-z]+)", re.I)


def _strip_comments(value: str) -> str:
    previous = None
    while previous != value:  # nested comments, innermost first
        previous, value = value, _COMMENT_RE.sub(" ", value)
    return value


def parse_header(value: str) -> tuple[str, dict[str, list[str]]]:
    """('authserv-id', {'spf': ['pass'], 'dkim': ['fail', 'pass'], ...})."""
    parts = _strip_comments(value).split(";")
    head = parts[0].split()
    authserv_id = head[0].lower().rstrip(".") if head else ""
    results: dict[str, list[str]] = {}
    for part in parts[1:]:
        match = _RESULT_RE.match(part)
        if match:
            results.setdefault(match.group(1).lower(), []).append(match.group(2).lower())
    return authserv_id, results


def _combine(values: list[str] | None) -> str | None:
    """One verdict per method: any pass wins, then any fail, else the first."""
    if not values:
        return None
    for wanted in ("pass", "fail", "softfail"):
        if wanted in values:
            return wanted
    return values[0]


def verdict(parsed: ParsedMessage, trusted_ids: tuple[str, ...]) -> AuthVerdict:
    trusted = {t.lower() for t in trusted_ids}
    for value in parsed.header_all("Authentication-Results"):
        authserv_id, results = parse_header(value)
        if authserv_id in trusted:
            return AuthVerdict(trusted=True, dmarc=_combine(results.get("dmarc")),
                               spf=_combine(results.get("spf")), dkim=_combine(results.get("dkim")))
    return AuthVerdict(trusted=False)
