"""The suspicious rule: only our own server's Authentication-Results count."""

from __future__ import annotations

import pytest

from mailbot.classify import classify_bytes
from tests.conftest import build

TRUSTED = "mail.dongthap.gov.vn"


def disposition(auth: list[str] | str | None, config, sender: str = "kt@vnpt.vn") -> str:
    raw = build(sender=sender, auth=None, files=(("PA.docx", b"x"),))
    headers = [auth] if isinstance(auth, str) else (auth or [])
    head = b"".join(f"Authentication-Results: {h}\r\n".encode() for h in headers)
    return classify_bytes(head + raw, config).disposition


@pytest.mark.parametrize("auth", [
    f"{TRUSTED}; dmarc=fail header.from=vnpt.vn",
    f"{TRUSTED}; spf=fail smtp.mailfrom=vnpt.vn; dkim=fail header.d=vnpt.vn",
    f"{TRUSTED}; spf=softfail smtp.mailfrom=vnpt.vn; dkim=fail (bad signature) header.d=vnpt.vn",
    f"{TRUSTED.upper()} 1; dmarc=fail (p=quarantine) header.from=vnpt.vn",
    f"{TRUSTED}; spf=pass; dmarc=fail",  # dmarc decides when present
])
def test_failures_from_our_server_are_suspicious(auth, config) -> None:
    assert disposition(auth, config) == "suspicious"


@pytest.mark.parametrize("auth", [
    None,  # unverified is not suspicious
    f"{TRUSTED}; dmarc=pass header.from=vnpt.vn",
    f"{TRUSTED}; spf=fail; dkim=pass",  # only one of the two fails
    f"{TRUSTED}; spf=fail",  # no dkim result at all
    f"{TRUSTED}; dkim=fail; dkim=pass; spf=fail",  # one good signature is enough
    "evil.example; dmarc=fail",  # anyone can write a header
    [f"{TRUSTED}; dmarc=pass", f"{TRUSTED}; dmarc=fail"],  # the topmost trusted header decides
])
def test_not_suspicious(auth, config) -> None:
    assert disposition(auth, config) == "submission"


def test_topmost_trusted_failure_wins_over_older_pass(config) -> None:
    assert disposition([f"{TRUSTED}; dmarc=fail", f"{TRUSTED}; dmarc=pass"], config) == "suspicious"


def test_unknown_sender_is_never_suspicious(config) -> None:
    assert disposition(f"{TRUSTED}; dmarc=fail", config, sender="x@gmail.com") == "unknown-sender"
