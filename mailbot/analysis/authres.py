"""The receiving server's Authentication-Results (RFC 8601), trusted ids only, and DMARC alignment.

Any header whose authserv-id is not one of ours is ignored: anyone can write one. The topmost
trusted header is the one our server added last.

A pass proves a domain, not the From address: `spf=pass smtp.mailfrom=evil.example` says only
that evil.example sent it. So a sender is authenticated only when a pass is *aligned* with the
From domain, as DMARC (RFC 7489, section 3.1) defines it: `dmarc=pass` for the From domain, or
`spf=pass` whose smtp.mailfrom domain, or `dkim=pass` whose header.d, has the same
organizational domain as the From domain (relaxed alignment, from the Public Suffix List that
the publicsuffixlist package ships offline).

The parser is our own, small and lenient on purpose: the `authres` package raises on the
loosely written headers real servers add, and we read only our own server's header.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

from publicsuffixlist import PublicSuffixList

from mailbot.envelope import AuthVerdict, ParsedMessage

_RESULT_RE = re.compile(r"^\s*([a-z0-9_-]+)(?:/\d+)?\s*=\s*([a-z]+)", re.I)
_PROPERTY_RE = re.compile(r'\b([a-z]+)\.([a-z0-9_-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^\s;]+)', re.I)


@dataclass(frozen=True)
class Result:
    """One `method=result` of a header, with its properties (`smtp.mailfrom`, `header.d`...)."""

    method: str
    result: str
    properties: dict[str, str] = field(default_factory=dict)

    def domain(self, *names: str) -> str | None:
        """The domain of the first property present among `names` (an address gives its domain)."""
        for name in names:
            value = self.properties.get(name)
            if value:
                return value.rsplit("@", 1)[-1].strip().lower().rstrip(".") or None
        return None


def _split(value: str) -> list[str]:
    """The header's parts at each `;` outside quoted strings and comments, comments dropped. Our own
    server writes values the sender chose (the envelope sender, the HELO name), quoted as RFC 8601
    says: `smtp.mailfrom="a;dmarc=pass"@evil.example` is one property, never a second result."""
    parts, current, quoted, depth, escaped = [], [], False, 0, False
    for char in value:
        if escaped:
            escaped = False
            if depth == 0:
                current.append(char)
            continue
        if char == "\\" and (quoted or depth):
            escaped = True
            if depth == 0:
                current.append(char)
            continue
        if quoted:
            quoted = char != '"'
            current.append(char)
        elif char == "(":
            depth += 1
        elif char == ")" and depth:
            depth -= 1
            if depth == 0:
                current.append(" ")
        elif depth:
            continue
        elif char == '"':
            quoted = True
            current.append(char)
        elif char == ";":
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def parse_results(value: str) -> tuple[str, list[Result]]:
    """('authserv-id', [Result('spf', 'pass', {'smtp.mailfrom': 'a@b'}), ...])."""
    parts = _split(value)
    head = parts[0].split()
    authserv_id = head[0].lower().rstrip(".") if head else ""
    results: list[Result] = []
    for part in parts[1:]:
        match = _RESULT_RE.match(part)
        if match:
            props = {f"{p.lower()}.{n.lower()}": v.strip('"') for p, n, v in _PROPERTY_RE.findall(part[match.end() :])}
            results.append(Result(match.group(1).lower(), match.group(2).lower(), props))
    return authserv_id, results


def _combine(values: list[str] | None, fail_first: bool = False) -> str | None:
    """One verdict per method: any pass wins (DKIM: one good signature among broken ones), then any
    fail, else the first. `fail_first` (DMARC, SPF: one result per message): a fail beside a pass
    means our header holds something it should not, and the fail stands."""
    if not values:
        return None
    for wanted in ("fail", "pass", "softfail") if fail_first else ("pass", "fail", "softfail"):
        if wanted in values:
            return wanted
    return values[0]


@functools.cache
def _suffixes() -> PublicSuffixList:
    return PublicSuffixList()  # the list shipped with the package: no network


def organizational_domain(domain: str) -> str:
    """`mail.vnpt.vn` -> `vnpt.vn`; `x.viettel.com.vn` -> `viettel.com.vn` (com.vn is a public suffix)."""
    domain = domain.lower().rstrip(".")
    return _suffixes().privatesuffix(domain) or domain


def aligned(domain: str | None, from_domain: str) -> bool:
    """Relaxed alignment: the same organizational domain."""
    return bool(domain) and organizational_domain(domain or "") == organizational_domain(from_domain)


def verdict(parsed: ParsedMessage, trusted_ids: tuple[str, ...]) -> AuthVerdict:
    trusted = {t.lower() for t in trusted_ids}
    from_domain = (parsed.from_address or "").rsplit("@", 1)[-1].rstrip(".") if parsed.from_address else ""
    for value in parsed.header_all("Authentication-Results"):
        authserv_id, results = parse_results(value)
        if authserv_id not in trusted:
            continue
        by_method: dict[str, list[str]] = {}
        for res in results:
            by_method.setdefault(res.method, []).append(res.result)
        header_from = next((d for r in results if r.method == "dmarc" and (d := r.domain("header.from"))), None)
        passed: list[str] = []  # the methods whose pass is aligned with the From domain
        exact: list[str] = []  # ... and whose domain is the From domain itself (staff commands)
        others: list[str] = []
        failing = {m for m in ("dmarc", "spf") if _combine(by_method.get(m), fail_first=True) == "fail"}
        for res in results:
            if res.result != "pass" or not from_domain or res.method in failing:
                continue
            domain: str | None
            if res.method == "dmarc":
                domain = res.domain("header.from") or from_domain  # our server evaluated this message's From
            elif res.method == "spf":
                domain = res.domain("smtp.mailfrom")
            elif res.method == "dkim":
                domain = res.domain("header.d", "header.i")
            else:
                continue
            if aligned(domain, from_domain) and (res.method != "dmarc" or domain == from_domain):
                passed.append(res.method)
                if (domain or "").lower().rstrip(".") == from_domain.lower():
                    exact.append(res.method)
            elif domain:
                others.append(f"{res.method}: {domain}")
        return AuthVerdict(
            trusted=True,
            dmarc=_combine(by_method.get("dmarc"), fail_first=True),
            spf=_combine(by_method.get("spf"), fail_first=True),
            dkim=_combine(by_method.get("dkim")),
            aligned=passed[0] if passed else None,
            aligned_by=tuple(passed),
            exact_by=tuple(dict.fromkeys(exact)),
            header_from=header_from,
            unaligned=tuple(others),
            submitted_by=next(
                (
                    r.properties.get("smtp.auth", "").lower() or None
                    for r in results
                    if r.method == "auth" and r.result == "pass"
                ),
                None,
            ),
        )
    return AuthVerdict(trusted=False)
