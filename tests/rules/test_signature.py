"""The broken-signature rule: a file whose signature does not hold (not intact, or changed after
signing) makes the message suspicious; an untrusted but intact one does not. The signatures are
made by a test PKI and checked by pyhanko (tests/signing.py)."""

from __future__ import annotations

import pytest

from mailbot.analysis.classify import classify_bytes
from mailbot.analysis.rules.base import Context
from mailbot.analysis.rules.signature import BrokenSignature
from tests.conftest import build
from tests.signing import SigningPKI, add_page_content, flip_signed_byte, plan_pdf, sign_pdf


@pytest.fixture(scope="module")
def signed(tmp_path_factory) -> bytes:
    pki = SigningPKI(tmp_path_factory.mktemp("pki"))
    return sign_pdf(plan_pdf(), pki.holder("VIỄN THÔNG ĐỒNG THÁP", "VNPT", "0100684378"))


def reasons(pdf: bytes, config, sender: str = "kt@vnpt.vn") -> tuple[str | None, list[str]]:
    env = classify_bytes(build(sender=sender, subject="Phương án", files=(("PA.pdf", pdf),)), config)
    return env.disposition, BrokenSignature().check(env, Context(config))


def test_intact_untrusted_signature_is_not_held_against_the_sender(config, signed) -> None:
    assert reasons(signed, config) == ("submission", [])  # no trust_roots configured: untrusted, intact


@pytest.mark.parametrize("alter", [flip_signed_byte, add_page_content])
def test_a_signature_that_does_not_hold_is_suspicious_even_from_an_unknown_sender(config, signed, alter) -> None:
    for sender in ("kt@vnpt.vn", "someone@gmail.com"):
        disposition, found = reasons(alter(signed), config, sender)
        assert disposition == "suspicious"
        assert len(found) == 1 and found[0].startswith("chữ ký số trên tệp PA.pdf (người ký: VIỄN THÔNG ĐỒNG THÁP")


def test_unsigned_files_never_match(config) -> None:
    assert reasons(plan_pdf(), config) == ("submission", [])
