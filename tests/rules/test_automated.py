"""The automated rule: RFC 3834 signals, robots' addresses, our own mail."""

from __future__ import annotations

import pytest

from mailbot.analysis.rules import Context
from mailbot.analysis.rules.automated import Automated
from mailbot.envelope import Envelope
from mailbot.intake.parse import parse_message
from tests.conftest import build


def check(raw: bytes, config) -> list[str]:
    return Automated().check(Envelope(raw=raw, parsed=parse_message(raw)), Context(config))


@pytest.mark.parametrize(
    "headers",
    [
        {"Auto-Submitted": "auto-replied"},
        {"Auto-Submitted": 'auto-generated; owner-email="x@vnpt.vn"'},
        {"Precedence": "bulk"},
        {"Precedence": "JUNK"},
        {"Precedence": "list"},
        {"List-Id": "<a.vnpt.vn>"},
        {"List-Unsubscribe": "<mailto:x@vnpt.vn>"},
        {"List-Post": "<mailto:l@vnpt.vn>"},
        {"X-Auto-Response-Suppress": "All"},
        {"X-Auto-Response-Suppress": "DR, OOF"},
        {"X-Auto-Response-Suppress": "AutoReply"},
        {"X-Autoreply": "yes"},
        {"Return-Path": "<>"},
    ],
)
def test_headers_that_mark_automated_mail(headers, config) -> None:
    assert check(build(headers=headers), config)


@pytest.mark.parametrize(
    "sender",
    [
        "MAILER-DAEMON@vnpt.vn",
        "postmaster@vnpt.vn",
        "no-reply@vnpt.vn",
        "noreply@vnpt.vn",
        "donotreply@vnpt.vn",
        "baocao-request@vnpt.vn",
        "owner-baocao@vnpt.vn",
        "pbcvt@dongthap.gov.vn",
        "PBCVT@DongThap.gov.vn",
    ],
)
def test_robot_and_own_addresses(sender, config) -> None:
    assert check(build(sender=sender), config)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Auto-Submitted": "no"},
        {"Precedence": "first-class"},
        {"X-Auto-Response-Suppress": "DR, RN, NRN"},
        {"Return-Path": "<kt@vnpt.vn>"},
    ],
)
def test_ordinary_mail_is_not_automated(headers, config) -> None:
    assert check(build(headers=headers), config) == []


def test_multipart_report_is_automated(config) -> None:
    raw = (
        b"From: kt@vnpt.vn\r\nTo: pbcvt@dongthap.gov.vn\r\nSubject: Read: PA\r\n"
        b"Content-Type: multipart/report; report-type=disposition-notification; boundary=x\r\n\r\n"
        b"--x\r\nContent-Type: text/plain\r\n\r\nRead.\r\n--x--\r\n"
    )
    reasons = check(raw, config)
    assert any("multipart/report" in r for r in reasons)


def test_the_display_name_does_not_make_a_robot(config) -> None:
    assert check(build(sender='"noreply" <kt@vnpt.vn>'), config) == []
