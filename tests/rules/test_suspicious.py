"""The suspicious rule: only our own server's Authentication-Results count, and only a pass
aligned with the From domain (DMARC's relaxed alignment) authenticates an organization."""

from __future__ import annotations

import dataclasses

import pytest

from mailbot.analysis.classify import classify_bytes
from mailbot.envelope import Envelope
from tests.conftest import build

TRUSTED = "mail.dongthap.gov.vn"


def classified(auth: list[str] | str | None, config, sender: str = "kt@vnpt.vn") -> Envelope:
    raw = build(sender=sender, auth=None, files=(("PA.docx", b"x"),))
    headers = [auth] if isinstance(auth, str) else (auth or [])
    head = b"".join(f"Authentication-Results: {h}\r\n".encode() for h in headers)
    return classify_bytes(head + raw, config)


def disposition(auth: list[str] | str | None, config, sender: str = "kt@vnpt.vn") -> str:
    return classified(auth, config, sender).disposition


@pytest.fixture
def lenient(config):
    """`require_aligned_auth = false`: only explicit failures are held against a sender."""
    return dataclasses.replace(config, require_aligned_auth=False)


def test_strict_is_the_default_with_a_trusted_server(config) -> None:
    assert config.trusted_authserv_ids and config.require_aligned_auth


@pytest.mark.parametrize(
    "auth",
    [
        f"{TRUSTED}; dmarc=fail header.from=vnpt.vn",
        f"{TRUSTED}; spf=fail smtp.mailfrom=vnpt.vn; dkim=fail header.d=vnpt.vn",
        f"{TRUSTED}; spf=softfail smtp.mailfrom=vnpt.vn; dkim=fail (bad signature) header.d=vnpt.vn",
        f"{TRUSTED.upper()} 1; dmarc=fail (p=quarantine) header.from=vnpt.vn",
        f"{TRUSTED}; spf=pass smtp.mailfrom=vnpt.vn; dmarc=fail header.from=vnpt.vn",  # dmarc decides when present
    ],
)
def test_failures_from_our_server_are_suspicious(auth, config, lenient) -> None:
    assert disposition(auth, config) == "suspicious"
    assert disposition(auth, lenient) == "suspicious"


@pytest.mark.parametrize(
    "auth",
    [
        # the attacker's own server passes SPF for its own domain
        f"{TRUSTED}; spf=pass smtp.mailfrom=evil.example; dkim=none; dmarc=none",
        # ... or signs with its own valid DKIM key
        f"{TRUSTED}; dkim=pass header.d=evil.example; spf=none; dmarc=none",
        f"{TRUSTED}; spf=pass smtp.mailfrom=bounce@vnpt.vn.evil.example; dkim=pass header.d=vnpt-vn.com",
        f"{TRUSTED}; spf=pass; dkim=pass",  # a pass that names no domain proves nothing
        f"{TRUSTED}; dmarc=pass header.from=evil.example",  # our server checked another From domain
        f"{TRUSTED}; spf=fail smtp.mailfrom=vnpt.vn; dkim=pass header.d=evil.example",
        "evil.example; dmarc=pass header.from=vnpt.vn",  # anyone can write a header
        f"{TRUSTED}.evil.example; dmarc=pass header.from=vnpt.vn",
        None,  # no result at all from our server
    ],
)
def test_unaligned_or_missing_authentication_is_suspicious(auth, config) -> None:
    env = classified(auth, config)
    assert env.disposition == "suspicious", env.reasons
    assert env.auth.aligned is None
    assert "Viễn thông Đồng Tháp" in env.reasons[0]


@pytest.mark.parametrize(
    "auth,sender",
    [
        (f"{TRUSTED}; dmarc=pass header.from=vnpt.vn", "kt@vnpt.vn"),
        (f"{TRUSTED}; spf=pass smtp.mailfrom=bounce@vnpt.vn; dkim=none; dmarc=none", "kt@vnpt.vn"),  # SPF only
        (f"{TRUSTED}; spf=fail smtp.mailfrom=x@vnpt.vn; dkim=pass header.d=vnpt.vn", "kt@vnpt.vn"),  # DKIM only
        (f"{TRUSTED}; spf=pass smtp.mailfrom=bounce@mail.vnpt.vn", "kt@vnpt.vn"),  # a subdomain sends
        (f"{TRUSTED}; dkim=pass header.d=vnpt.vn; spf=none", "bd.caolanh@dongthap.vnpt.vn"),  # a subdomain's sender
        (f"{TRUSTED}; dkim=pass header.i=@vnpt.vn", "kt@vnpt.vn"),  # header.i when header.d is missing
        (f"{TRUSTED}; dkim=fail header.d=vnpt.vn; dkim=pass header.d=vnpt.vn; spf=fail", "kt@vnpt.vn"),
        (f"{TRUSTED}; spf=pass smtp.mailfrom=x@mail.viettel.com.vn", "kt@viettel.com.vn"),  # com.vn: a public suffix
        ([f"{TRUSTED}; dmarc=pass header.from=vnpt.vn", f"{TRUSTED}; dmarc=fail"], "kt@vnpt.vn"),  # topmost decides
    ],
)
def test_aligned_authentication_is_accepted(auth, sender, config) -> None:
    env = classified(auth, config, sender)
    assert env.disposition == "submission", env.reasons
    assert env.auth.aligned in ("dmarc", "spf", "dkim")


def test_another_domain_under_the_same_public_suffix_is_not_aligned(config) -> None:
    # com.vn is a public suffix: evil.com.vn and viettel.com.vn are different organizations
    auth = f"{TRUSTED}; spf=pass smtp.mailfrom=evil.com.vn; dkim=pass header.d=evil.com.vn"
    env = classified(auth, config, "kt@viettel.com.vn")
    assert env.disposition == "suspicious"
    assert "spf=pass (evil.com.vn)" in env.reasons[0]


def test_topmost_trusted_failure_wins_over_older_pass(config) -> None:
    assert disposition([f"{TRUSTED}; dmarc=fail", f"{TRUSTED}; dmarc=pass header.from=vnpt.vn"], config) == "suspicious"


@pytest.mark.parametrize(
    "sender",
    [
        "kt@vnpt.vn <mallory@evil.example>",  # read as two addresses
        "kt@vnpt.vn, mallory@evil.example",
    ],
)
def test_a_from_header_with_several_addresses_is_never_an_organization(sender, config, lenient) -> None:
    auth = f"{TRUSTED}; dmarc=pass header.from=vnpt.vn"
    for cfg in (config, lenient):
        env = classified(auth, cfg, sender)
        assert env.disposition == "suspicious"
        assert "mallory@evil.example" in env.reasons[0]


def test_lenient_accepts_unverified_mail_and_says_so(lenient) -> None:
    env = classified(None, lenient)
    assert env.disposition == "submission"
    assert any(r.startswith("chưa xác thực") for r in env.reasons)
    env = classified(f"{TRUSTED}; spf=pass smtp.mailfrom=evil.example", lenient)
    assert env.disposition == "submission"
    assert any("không xác thực được tên miền" in r for r in env.reasons)


def test_unknown_sender_is_never_suspicious(config) -> None:
    assert disposition(f"{TRUSTED}; dmarc=fail", config, sender="x@gmail.com") == "unknown-sender"
