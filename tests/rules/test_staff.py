"""The staff rules: a staff address is obeyed only when our own server proves the sender."""

from __future__ import annotations

import pytest

from mailbot.analysis.classify import classify_bytes
from mailbot.analysis.rules.staff import command_line, forwarded
from tests.conftest import build

STAFF = "ddthong@dongthap.gov.vn"  # the example's digest recipient: the default [staff] addresses


def classified(
    config, auth: str | None, body: str = "xem xét", sender: str = STAFF, subject: str = "x", **headers: str
):
    return classify_bytes(build(sender=sender, subject=subject, body=body, auth=auth, headers=headers or None), config)


@pytest.mark.parametrize(
    "auth",
    [
        "mail.dongthap.gov.vn; dkim=pass header.d=dongthap.gov.vn",
        "mail.dongthap.gov.vn; dmarc=pass header.from=dongthap.gov.vn",
        f"mail.dongthap.gov.vn; auth=pass smtp.auth={STAFF}",
    ],
)
def test_an_authenticated_staff_mail_is_a_command(config, auth) -> None:
    assert config.staff == (STAFF,)
    assert classified(config, auth).disposition == "staff-command"


@pytest.mark.parametrize(
    "auth",
    [
        None,
        "mail.dongthap.gov.vn; spf=pass smtp.mailfrom=dongthap.gov.vn",
        "mail.dongthap.gov.vn; dkim=pass header.d=evil.example",
        "relay.example; dkim=pass header.d=dongthap.gov.vn",
        "mail.dongthap.gov.vn; auth=pass smtp.auth=other@dongthap.gov.vn",
    ],
)
def test_an_unproven_staff_mail_is_suspicious(config, auth) -> None:
    env = classified(config, auth)
    assert env.disposition == "suspicious" and "không thực hiện lệnh" in env.reasons[0]


def test_an_auto_reply_from_staff_is_automated(config) -> None:
    env = classified(
        config, "mail.dongthap.gov.vn; dkim=pass header.d=dongthap.gov.vn", **{"Auto-Submitted": "auto-replied"}
    )
    assert env.disposition == "automated"


def test_other_addresses_of_the_department_are_not_staff(config) -> None:
    env = classified(config, "mail.dongthap.gov.vn; dkim=pass header.d=dongthap.gov.vn", sender="khac@dongthap.gov.vn")
    assert env.disposition == "unknown-sender"


def test_the_command_is_the_first_line_above_the_quote_else_the_subject(config) -> None:
    parse = lambda body, subject="x": classified(config, None, body, subject=subject).parsed  # noqa: E731
    assert command_line(parse("\n  giao   XL-0001  vnpt-dongthap \nxem xét")) == "giao XL-0001 vnpt-dongthap"
    assert command_line(parse("> giao XL-0001 vnpt-dongthap", "Re: TL: Trạng thái")) == "Trạng thái"
    assert command_line(parse("Vào 30/3, Sở đã viết:\ngiao XL-1", "CHUYỂN TIẾP: xem xét")) == "xem xét"


@pytest.mark.parametrize(
    ("body", "subject", "forward"),
    [
        ("---------- Forwarded message ---------\nFrom: x", "giao XL-0001 a", True),  # Gmail
        ("---------- Thư đã chuyển tiếp ---------\nTừ: x", "giao XL-0001 a", True),  # Gmail in Vietnamese
        ("Begin forwarded message:\n\nFrom: x", "giao XL-0001 a", True),  # Apple Mail
        ("giao XL-0001 a", "FW: Báo cáo", True),  # Outlook
        ("giao XL-0001 a", "TR: Báo cáo", True),  # Outlook in Vietnamese
        ("giao XL-0001 a", "Re: Fwd: Báo cáo", True),  # an answer to a forward
        ("giao XL-0001 a", "TL: Báo cáo", False),  # a reply in Vietnamese Outlook
        ("-----Original Message-----\nFrom: x", "RE: giao XL-0001 a", False),  # an Outlook reply
    ],
)
def test_a_forward_is_told_from_a_reply(config, body, subject, forward) -> None:
    assert forwarded(classified(config, None, body, subject=subject).parsed) is forward
