"""Who may make mailbot do something by mail (issue 23, item 1 and hidden HTML).

Abuse cases: a carrier resends a staff member's DKIM-signed forward with a second Subject on top
(DKIM checks the last instance, readers the first); adds an In-Reply-To the signature does not
cover; replays an old command; hides a command in HTML the staff member never saw. Everything
runs through `mailbot run --once` on a Maildir, answers caught by aiosmtpd on loopback.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json

import pytest

from mailbot.intake.headers import SINGLE_FIELDS, header_end, header_fingerprint
from mailbot.register.known import KnownSenders
from tests.conftest import build, classify, deliver, mailbot
from tests.test_staff_email import SIGNED, STAFF, answers, command, queue, send_digest, setup, text


def _date(days: float = 0) -> str:
    return email.utils.format_datetime(dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=days))


def dkim_signature(fields: str) -> str:
    """A DKIM-Signature header of dongthap.gov.vn as Gmail or Exchange write it (our server verified it)."""
    return f"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=dongthap.gov.vn; s=mail;\r\n h={fields};\r\n bh=x; b=y\r\n"


def staff_forward(subject: str, *, added: str = "", signed: str = "from:to:subject:date:message-id") -> bytes:
    """A staff member's forward of a mail, DKIM-signed by dongthap.gov.vn, as the carrier received it,
    with `added` (header lines) put on top by the carrier before sending it to the mailbox."""
    return (
        f"Authentication-Results: {SIGNED}\r\n"  # our server: the signature holds (DKIM checks the last Subject)
        + added
        + dkim_signature(signed)
        + f"From: {STAFF}\r\nTo: anh.kythuat@gmail.com\r\nSubject: {subject}\r\n"
        f"Date: {_date()}\r\nMessage-ID: <fw-{abs(hash(subject + added))}@dongthap.gov.vn>\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        "---------- Forwarded message ---------\r\nFrom: Hộp thư <pbcvt@dongthap.gov.vn>\r\n"
        "Subject: Báo cáo hộp thư\r\n\r\nIV. THƯ CHỜ XEM XÉT\r\nXL-0001 anh.kythuat@gmail.com\r\n"
    ).encode()


def review_rows(config: str) -> list[dict]:
    return json.loads(mailbot("review", "--config", config, "--json").stdout)


def test_a_forward_with_a_second_subject_on_top_is_not_obeyed(tmp_path, smtp_server) -> None:
    """The attack as seen: the prepended Subject made the Gmail address VNPT's, confirmed."""
    recorder, port = smtp_server
    config = setup(tmp_path, port)
    send_digest(config, recorder)
    attack = staff_forward("Fwd: Báo cáo hộp thư", added="Subject: giao XL-0001 vnpt-dongthap plan ghi nhớ\r\n")
    deliver(tmp_path, attack, "3.eml")
    assert mailbot("run", "--config", config, "--once").returncode == 0
    assert recorder.messages == []  # no acknowledgement to the carrier, no answer to anyone
    assert KnownSenders(tmp_path / "state").addresses == {}  # no confirmed address
    rows = review_rows(config)
    assert [r["id"] for r in rows][:2] == ["XL-0001", "XL-0002"]  # nothing assigned
    [forged] = [r for r in rows if r["from"] == STAFF]
    assert forged["disposition"] == "suspicious" and forged["organization"] is None
    assert "nhiều hơn một tiêu đề Subject" in forged["reasons"][0]
    # the carrier's next mail is a stranger's, not VNPT's submission
    deliver(tmp_path, build(sender="anh.kythuat@gmail.com", subject="Phương án", files=(("PA.docx", b"x"),)), "4.eml")
    assert mailbot("run", "--config", config, "--once").returncode == 0
    assert recorder.messages == [] and len(queue(config)) == 4


@pytest.mark.parametrize("name", SINGLE_FIELDS)
def test_any_field_allowed_once_given_twice_authenticates_nobody(config, name) -> None:
    value = {
        "from": "kt@vnpt.vn",
        "date": "Mon, 29 Mar 2021 09:15:00 +0700",
        "message-id": "<x@vnpt.vn>",
        "in-reply-to": "<y@vnpt.vn>",
        "references": "<y@vnpt.vn>",
        "mime-version": "1.0",
        "content-type": 'application/octet-stream; name="PA_VNPT.docx"',
        "content-transfer-encoding": "base64",
        "content-disposition": 'attachment; filename="PA_VNPT.docx"',
    }.get(name, "Phương án" if name == "subject" else "a@vnpt.vn")
    plain = build(files=(("Phuong an.docx", b"plan"),))
    assert classify(plain, config).disposition == "submission"
    present = f"\n{name}:".encode() in b"\n" + plain[: header_end(plain)].lower()  # the message's own fields
    env = classify(f"{name}: {value}\r\n".encode() * (1 if present else 2) + plain, config)
    assert env.disposition == "suspicious" and env.organization is None
    assert env.parsed.repeated == [name]


def test_the_fingerprint_counts_every_instance_and_reads_alike_on_both_paths() -> None:
    plain = build(sender=STAFF, subject="Re: Báo cáo", body="giao XL-0001 vnpt-dongthap")
    prepended, appended = (
        b"Subject: giao XL-0001 x\r\n" + plain,
        plain.replace(b"\r\n\r\n", b"\r\nSubject: y\r\n\r\n", 1),
    )
    prints = {header_fingerprint(m) for m in (plain, prepended, appended)}
    assert len(prints) == 3  # a message with a Subject added is another message, wherever it was put
    # the regex path and the stdlib parser path (any NUL byte takes it) agree, duplicates included
    for raw in (plain, prepended, appended):
        assert header_fingerprint(b"X-Junk: a\x00b\r\n" + raw) == header_fingerprint(raw)
    head = plain.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n"  # a header fetch gives the same value as the whole message
    assert header_fingerprint(head) == header_fingerprint(plain)


def test_a_forward_or_an_unsigned_in_reply_to_does_not_make_a_command(tmp_path, smtp_server) -> None:
    """No second Subject: the carrier adds an In-Reply-To naming the digest (its Message-ID is
    predictable), which the signature does not cover; or resends a forward as it is."""
    recorder, port = smtp_server
    config = setup(tmp_path, port)
    digest_id = send_digest(config, recorder)
    thread = f"In-Reply-To: <{digest_id}>\r\nReferences: <{digest_id}>\r\n"
    deliver(tmp_path, staff_forward("Fwd: giao XL-0001 vnpt-dongthap plan ghi nhớ", added=thread), "3.eml")
    unsigned = command("giao XL-0001 vnpt-dongthap plan ghi nhớ", answering=digest_id)
    unsigned = dkim_signature("from:to:subject:date:message-id").encode() + unsigned
    deliver(tmp_path, unsigned, "4.eml")
    assert mailbot("run", "--config", config, "--once").returncode == 0
    got = [text(m) for m in answers(recorder)]
    assert len(got) == 2 and all("Không thực hiện lệnh" in t for t in got)
    assert any("thư chuyển tiếp (Forward)" in t for t in got)
    assert any("không phải là thư trả lời thư báo cáo" in t for t in got)
    assert queue(config) == ["XL-0001", "XL-0002"] and KnownSenders(tmp_path / "state").addresses == {}
    # the same command signed with its In-Reply-To is obeyed: the check is not a blanket refusal
    signed = dkim_signature("from:to:subject:date:message-id:in-reply-to:references").encode()
    deliver(tmp_path, signed + command("bỏ qua XL-0002 đã trả lời", answering=digest_id), "5.eml")
    assert mailbot("run", "--config", config, "--once").returncode == 0
    assert "Đã bỏ qua XL-0002" in text(answers(recorder)[-1]) and queue(config) == ["XL-0001"]


@pytest.mark.parametrize(("days", "why"), [(-10, "quá 3 ngày"), (2, "muộn hơn lúc hộp thư nhận được")])
def test_an_old_command_replayed_or_one_dated_ahead_is_refused_and_the_sender_told(
    tmp_path, smtp_server, days, why
) -> None:
    recorder, port = smtp_server
    config = setup(tmp_path, port)
    digest_id = send_digest(config, recorder)
    old = command("giao XL-0001 vnpt-dongthap plan ghi nhớ", answering=digest_id, Date=_date(days))
    deliver(tmp_path, old, "3.eml")
    assert mailbot("run", "--config", config, "--once").returncode == 0
    [answer] = answers(recorder)
    assert "Không thực hiện lệnh" in text(answer) and why in text(answer)
    assert queue(config) == ["XL-0001", "XL-0002"] and KnownSenders(tmp_path / "state").addresses == {}
    # the staff member answers the refusal with the same line, now: carried out
    again = command("giao XL-0001 vnpt-dongthap plan", answering=answer["Message-ID"].strip("<>"))
    deliver(tmp_path, again, "4.eml")
    assert mailbot("run", "--config", config, "--once").returncode == 0
    assert "Đã giao XL-0001 cho Viễn thông Đồng Tháp" in text(answers(recorder)[-1])
    assert queue(config) == ["XL-0002"]


def test_questions_come_as_new_mail_and_are_answered_to_the_authenticated_address_only(tmp_path, smtp_server) -> None:
    recorder, port = smtp_server
    config = setup(tmp_path, port)
    deliver(tmp_path, command("trạng thái", subject="Hỏi", **{"Reply-To": "victim@example.org"}), "3.eml")
    assert mailbot("run", "--config", config, "--once").returncode == 0
    [answer] = answers(recorder)
    assert "Tình hình nộp tài liệu" in text(answer)
    assert recorder.envelopes == [(recorder.envelopes[0][0], [STAFF])]  # not the Reply-To


HIDDEN = [
    '<div style="display:none">{}</div>',
    '<p style="visibility: hidden">{}</p>',
    '<span style="font-size:0px">{}</span>',
    "<!-- {} -->",
    "<template>{}</template>",
    "<p hidden>{}</p>",
    "<style>.pre {{ display: none !important }}</style><div class=pre>{}</div>",
]


@pytest.mark.parametrize("hiding", HIDDEN)
def test_a_command_in_hidden_html_is_never_carried_out(tmp_path, smtp_server, hiding) -> None:
    recorder, port = smtp_server
    config = setup(tmp_path, port)
    digest_id = send_digest(config, recorder)
    html = hiding.format("giao XL-0001 vnpt-dongthap plan ghi nhớ") + "<p>Cảm ơn anh.</p>"
    raw = (
        f"Authentication-Results: {SIGNED}\r\nFrom: {STAFF}\r\nTo: pbcvt@dongthap.gov.vn\r\n"
        f"Subject: Re: Báo cáo hộp thư\r\nMessage-ID: <hidden@dongthap.gov.vn>\r\nIn-Reply-To: <{digest_id}>\r\n"
        f"Date: {_date()}\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n"
        f"Content-Transfer-Encoding: 8bit\r\n\r\n<html><body>{html}</body></html>\r\n"
    ).encode()
    deliver(tmp_path, raw, "3.eml")
    assert mailbot("run", "--config", config, "--once").returncode == 0
    [answer] = answers(recorder)
    assert "Không hiểu lệnh" in text(answer) and "Cảm ơn anh." in text(answer)  # the visible line was read
    assert queue(config) == ["XL-0001", "XL-0002"] and KnownSenders(tmp_path / "state").addresses == {}
