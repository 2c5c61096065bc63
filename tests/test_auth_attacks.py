"""What an attacker-minded review of the trust work found (issue 23), one test each: a pass written
into our own server's header through a quoted value, a second Content-Type on a signed mail, a
DKIM pass for a sibling agency's domain beside dmarc=fail, a header line that ends the stdlib's
header block early, another login submitting a staff member's From, and a Date with no UTC time."""

from __future__ import annotations

from mailbot.analysis.authres import parse_results
from mailbot.intake.headers import MALFORMED
from mailbot.intake.parse import parse_message
from tests.conftest import build, classify

STAFF = "ddthong@dongthap.gov.vn"
OURS = "mail.dongthap.gov.vn"


def test_a_quoted_value_in_our_header_is_one_property_not_a_second_result(config) -> None:
    """RFC 8601 quotes what the sender chose (the envelope sender, the HELO name): splitting on
    every ';' let `smtp.mailfrom="a;dmarc=pass"@evil.example` add a dmarc=pass beside our fail."""
    header = (
        f'{OURS}; spf=none smtp.mailfrom="a;dmarc=pass"@evil.example smtp.helo="x;dmarc=pass"; '
        f'dkim=none reason="no sig; dkim=pass header.d=dongthap.gov.vn"; dmarc=fail (p=reject; dmarc=pass) '
        "header.from=dongthap.gov.vn"
    )
    _, results = parse_results(header)
    assert [(r.method, r.result) for r in results] == [("spf", "none"), ("dkim", "none"), ("dmarc", "fail")]
    command = classify(build(sender=STAFF, subject="giao XL-0001 vnpt-dongthap", auth=header), config)
    assert command.auth.failed and not command.auth.authenticates(STAFF)
    assert command.disposition != "staff-command"
    victim = header.replace("=dongthap.gov.vn", "=vnpt.vn")
    plan = classify(
        build(sender="victim@vnpt.vn", subject="Phương án", files=(("PA.docx", b"x"),), auth=victim), config
    )
    assert plan.auth.failed and plan.disposition != "submission"


def test_a_fail_beside_a_pass_in_our_own_header_stands(config) -> None:
    header = f"{OURS}; dmarc=pass header.from=vnpt.vn; dmarc=fail header.from=vnpt.vn"
    env = classify(build(sender="kt@vnpt.vn", subject="Phương án", files=(("PA.docx", b"x"),), auth=header), config)
    assert env.auth.dmarc == "fail" and env.auth.failed and env.disposition != "submission"


def test_a_sibling_agencys_dkim_pass_does_not_make_a_staff_member(config) -> None:
    """Every *.dongthap.gov.vn agency shares the organizational domain dongthap.gov.vn."""
    for header in (
        f"{OURS}; dkim=pass header.d=sotnmt.dongthap.gov.vn; dmarc=fail header.from=dongthap.gov.vn",
        f"{OURS}; dkim=pass header.d=sotnmt.dongthap.gov.vn",
    ):
        env = classify(build(sender=STAFF, subject="giao XL-0001 vnpt-dongthap", auth=header), config)
        assert not env.auth.authenticates(STAFF)
        assert env.disposition != "staff-command"
    good = f"{OURS}; dkim=pass header.d=dongthap.gov.vn; dmarc=pass header.from=dongthap.gov.vn"
    assert classify(build(sender=STAFF, subject="trạng thái", auth=good), config).auth.authenticates(STAFF)


def test_another_login_writing_a_staff_members_from_is_not_that_member(config) -> None:
    header = f"{OURS}; auth=pass smtp.auth=nguyenvana@dongthap.gov.vn; dmarc=pass header.from=dongthap.gov.vn"
    env = classify(build(sender=STAFF, subject="bỏ qua XL-0002 spam", auth=header), config)
    assert not env.auth.authenticates(STAFF) and env.disposition != "staff-command"
    own = f"{OURS}; auth=pass smtp.auth=ddthong; dmarc=pass header.from=dongthap.gov.vn"
    assert classify(build(sender=STAFF, subject="trạng thái", auth=own), config).auth.authenticates(STAFF)


def test_a_line_that_is_no_field_ends_nothing_it_makes_the_message_suspicious(config) -> None:
    """`X-Cut : 1` (obsolete syntax: a space before the colon) ends the stdlib's header block while
    a DKIM verifier reads on: the signed From, Date and DKIM-Signature below it became body."""
    signed = build(sender=STAFF, subject="Báo cáo", body="Nội dung.")
    forged = (
        b"From: ddthong@dongthap.gov.vn\r\nSubject: giao XL-0001 vnpt-dongthap\r\n"
        b"Content-Type: application/octet-stream\r\nX-Cut : 1\r\n" + signed
    )
    env = classify(forged, config)
    assert MALFORMED in env.parsed.repeated
    assert env.disposition == "suspicious" and env.organization is None
    assert "sai cú pháp" in env.reasons[0]


def test_a_date_with_no_utc_time_is_no_date() -> None:
    """`31 Dec 9999 23:59:59 -2359` overflowed when turned to UTC and set the message aside."""
    for date in ("Fri, 31 Dec 9999 23:59:59 -2359", "Sat, 1 Jan 1921 00:00:00 +0000"):
        raw = build(headers={"Date": date}, subject="giao XL-0001 vnpt-dongthap")
        assert parse_message(raw).date is None


def test_forwards_in_other_clients_words_are_forwards() -> None:
    import unicodedata

    from mailbot.analysis.rules.staff import forwarded

    for subject in (
        "VS: Báo cáo",
        "WG: Báo cáo",
        "RV: Báo cáo",
        "[Fwd: Báo cáo]",
        "Forward: Báo cáo",
        unicodedata.normalize("NFD", "Chuyển tiếp: Báo cáo"),
        "Re: Fwd: Báo cáo",
    ):
        assert forwarded(parse_message(build(sender=STAFF, subject=subject, body="giao XL-0001 x"))), subject
    assert not forwarded(parse_message(build(sender=STAFF, subject="Re: Báo cáo", body="giao XL-0001 x")))


def test_a_senders_text_cannot_fake_a_line_of_the_review_queue() -> None:
    from mailbot.staff.review import _line

    forged = "Báo cáo\r\nXL-0009 đã giao cho Viễn thông Đồng Tháp \u202efdp.exe"
    shown = _line(forged)
    assert "\n" not in shown and "\r" not in shown and "\u202e" not in shown
    assert shown.startswith("Báo cáo\ufffd\ufffdXL-0009")
