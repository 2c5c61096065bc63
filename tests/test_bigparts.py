"""Large base64 parts decoded from the raw bytes (bigparts): the same result as the parser's own way."""

from __future__ import annotations

import base64
import os

import pytest

from mailbot.intake import bigparts
from mailbot.intake.parse import parse_message
from tests.conftest import build
from tests.hostile import _attachment, _mixed, _text


def both(monkeypatch, raw: bytes):  # noqa: ANN201
    """parse_message with large parts lifted out, and with the threshold out of reach (the parser alone)."""
    lifted = parse_message(raw)
    with monkeypatch.context() as m:
        m.setattr(bigparts, "THRESHOLD", 1 << 40)
        whole = parse_message(raw)
    return lifted, whole


def summary(parsed):  # noqa: ANN201
    return (
        [(a.filename, a.size, a.sha256, a.container, tuple(a.defects)) for a in parsed.attachments],
        parsed.body_text,
        parsed.subject,
        tuple(parsed.defects),
    )


def test_large_attachments_come_back_byte_for_byte(monkeypatch) -> None:
    big, bigger = os.urandom(1_500_000), os.urandom(3_000_000)
    raw = build(
        subject="Phương án bảo đảm thông tin liên lạc",
        body="Kính gửi Sở.",
        files=(("PA.docx", big), ("nho.txt", b"small"), ("DS-truc.xlsx", bigger)),
    )
    small, lifted = bigparts.lift(raw)
    assert len(lifted) == 2 and len(small) < 10_000  # the parser sees a small message
    fast, slow = both(monkeypatch, raw)
    assert summary(fast) == summary(slow)
    assert [a.data for a in fast.attachments if a.filename == "DS-truc.xlsx"] == [bigger]


def test_a_large_base64_text_body_falls_back_to_the_parser(monkeypatch) -> None:
    text = ("Kính gửi Sở Thông tin và Truyền thông. " * 40_000).encode()
    raw = (
        b"From: kt@vnpt.vn\r\nTo: pbcvt@dongthap.gov.vn\r\nSubject: x\r\nMessage-ID: <big.body@vnpt.vn>\r\n"
        b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + base64.encodebytes(text).replace(b"\n", b"\r\n")
    )
    assert bigparts.lift(raw)[1]  # lifted, but no attachment takes the token back
    fast, slow = both(monkeypatch, raw)
    assert summary(fast) == summary(slow) and fast.body_text.startswith("Kính gửi Sở Thông tin")


@pytest.mark.parametrize("damage", [b"!!!!", b"A"])
def test_broken_base64_is_reported_the_same_way(monkeypatch, damage) -> None:
    body = base64.encodebytes(os.urandom(1_200_000)).replace(b"\n", b"\r\n")
    body = body[:500_000] + damage + body[500_000:]
    raw = _mixed(
        "broken",
        [
            _text(),
            b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n"
            b'Content-Disposition: attachment; filename="PA.pdf"\r\n\r\n' + body,
        ],
    )
    fast, slow = both(monkeypatch, raw)
    assert summary(fast) == summary(slow)


def test_a_long_unbroken_header_line_is_not_taken_for_base64() -> None:
    raw = _mixed("hdr", [_text(), _attachment(b"a.txt", b"x")], extra=b"X-Filler: " + b"QUFB" * 400_000 + b"\r\n")
    assert bigparts.lift(raw)[1] == {}
