"""Staff work by e-mail: commands from an authenticated staff address are carried out once and
answered; anything else from a staff address is never obeyed nor answered. A command that changes
something is obeyed only as a recent answer to a mail of mailbot's (the digest here)."""

from __future__ import annotations

import datetime as dt
import email.utils
import io
import json
import subprocess
import sys
from pathlib import Path

import openpyxl
import pytest

from tests.conftest import FIXTURES, build, deliver, mailbot, wait_for, write_config

STAFF = "ddthong@dongthap.gov.vn"
SIGNED = "mail.dongthap.gov.vn; dkim=pass header.d=dongthap.gov.vn; dmarc=pass header.from=dongthap.gov.vn"
STAFF_DIGEST = {r'(?m)^to = \["ddthong@dongthap.gov.vn"\].*$': 'to = ["ddthong@dongthap.gov.vn"]'}


def command(
    body: str,
    auth: str | None = SIGNED,
    subject: str = "Re: Báo cáo hộp thư",
    answering: str | None = None,
    **headers: str,
) -> bytes:
    """A staff member's mail written now; `answering`: the Message-ID of mailbot's mail it replies to."""
    thread = {"In-Reply-To": f"<{answering}>", "References": f"<{answering}>"} if answering else {}
    now = email.utils.format_datetime(dt.datetime.now(dt.timezone.utc))
    return build(sender=STAFF, subject=subject, body=body, auth=auth, headers={"Date": now, **thread, **headers})


def send_digest(config: str, recorder, env: dict[str, str] | None = None) -> str:
    """A digest sent to the staff member now: its Message-ID (the recorder is emptied)."""
    if not (Path(config).parent / "state").exists():  # the register is made by a first run
        assert mailbot("run", "--config", config, "--once", env=env).returncode == 0
    assert mailbot("digest", "--config", config, env=env).returncode == 0
    [mid] = [m["Message-ID"].strip("<>") for m in recorder.parsed() if m["Message-ID"].startswith("<digest.")]
    with recorder.lock:
        recorder.messages.clear()
        recorder.envelopes.clear()
        recorder.arrivals.clear()
    return mid


def setup(tmp_path, port: int) -> str:
    """A plan from a Gmail address (XL-0001) and a stranger's question (XL-0002) wait for staff."""
    config = str(write_config(tmp_path, port, STAFF_DIGEST))
    deliver(
        tmp_path,
        build(
            sender="anh.kythuat@gmail.com",
            subject="Gửi phương án bầu cử của VNPT",
            files=(("Phuong an VNPT.docx", b"plan"),),
            auth="mail.dongthap.gov.vn; dkim=pass header.d=gmail.com",
        ),
        "1.eml",
    )
    deliver(tmp_path, build(sender="x@yahoo.com", subject="Hỏi", auth=None), "2.eml")
    assert mailbot("run", "--config", config, "--once").returncode == 0
    return config


def answers(recorder) -> list:
    """The answers to staff commands (a daily digest to the same address is auto-generated)."""
    return [m for m in recorder.parsed() if m["To"] == STAFF and m["Auto-Submitted"] == "auto-replied"]


def text(message) -> str:
    return message.get_body(("plain",)).get_content()


def queue(config: str) -> list[str]:
    return [r["id"] for r in json.loads(mailbot("review", "--config", config, "--json").stdout)]


def test_an_authenticated_assign_closes_the_item_and_everyone_hears(tmp_path, smtp_server) -> None:
    recorder, port = smtp_server
    config = setup(tmp_path, port)
    digest_id = send_digest(config, recorder)
    order = command(
        "Giao XL-0001 vnpt-dongthap plan\n\nVào 30/3/2021, mailbot đã viết:\n> IV. THƯ CHỜ XEM XÉT",
        answering=digest_id,
        **{"Message-ID": "<lenh-1@dongthap.gov.vn>"},
    )
    deliver(tmp_path, order, "3.eml")
    out = mailbot("run", "--config", config, "--once")
    assert out.returncode == 0, out.stderr
    ack = next(m for m in recorder.parsed() if m["To"] == "anh.kythuat@gmail.com")
    assert "BC2021-0001" in text(ack)  # the sender's plan gets its receipt and acknowledgement
    [answer] = answers(recorder)
    assert answer["In-Reply-To"] == "<lenh-1@dongthap.gov.vn>" and answer["Auto-Submitted"] == "auto-replied"
    assert "Đã giao XL-0001 cho Viễn thông Đồng Tháp" in text(answer) and "BC2021-0001" in text(answer)
    assert answer.get_body(("html",)) is not None
    assert queue(config) == ["XL-0002"]
    shown = mailbot("review", "--config", config).stdout  # the audit trail: who closed it
    assert f"XL-0001 đã giao cho Viễn thông Đồng Tháp – {STAFF}" in shown
    digest = mailbot("digest", "--config", config, "--dry-run").stdout
    assert f"XL-0001 đã giao cho Viễn thông Đồng Tháp – {STAFF}" in digest
    assert "Để giao, trả lời thư này với dòng: giao XL-0002" in digest and "LỆNH QUA THƯ" in digest

    deliver(tmp_path, order, "3-again.eml")  # a re-delivery does nothing new
    assert mailbot("run", "--config", config, "--once").returncode == 0
    assert len(answers(recorder)) == 1 and len(recorder.messages) == 2


@pytest.mark.parametrize(
    "auth",
    [
        None,  # no result from our server
        "evil.example; dkim=pass header.d=dongthap.gov.vn; dmarc=pass header.from=dongthap.gov.vn",  # not our server
        "mail.dongthap.gov.vn; dkim=pass header.d=evil.example",  # our server, another domain
        "mail.dongthap.gov.vn; spf=pass smtp.mailfrom=dongthap.gov.vn",  # SPF alone proves no person
        "mail.dongthap.gov.vn; auth=pass smtp.auth=someone-else@dongthap.gov.vn",  # another login
    ],
)
def test_a_forged_staff_address_is_never_obeyed_nor_answered(tmp_path, smtp_server, auth) -> None:
    recorder, port = smtp_server
    config = setup(tmp_path, port)
    deliver(tmp_path, command("giao XL-0001 vnpt-dongthap plan", auth=auth), "3.eml")
    assert mailbot("run", "--config", config, "--once").returncode == 0
    assert recorder.messages == []  # no acknowledgement to the Gmail address, no answer
    rows = json.loads(mailbot("review", "--config", config, "--json").stdout)
    assert [r["id"] for r in rows][:2] == ["XL-0001", "XL-0002"]
    forged = next(r for r in rows if r["from"] == STAFF)
    assert forged["disposition"] == "suspicious" and "không thực hiện lệnh" in forged["reasons"][0]


def test_mail_submitted_on_our_own_server_by_that_login_is_obeyed(tmp_path, smtp_server) -> None:
    recorder, port = smtp_server
    config = setup(tmp_path, port)
    digest_id = send_digest(config, recorder)
    # signed on its way out by a signer that does not list In-Reply-To: submitted here by that login,
    # its headers are the author's all the same
    signer = b"DKIM-Signature: v=1; d=dongthap.gov.vn; s=mail; h=from:to:subject:date; bh=x; b=y\r\n"
    deliver(
        tmp_path,
        signer
        + command(
            "bỏ qua XL-0002 đã gọi điện trả lời",
            auth=f"mail.dongthap.gov.vn; auth=pass smtp.auth={STAFF}",
            answering=digest_id,
        ),
        "3.eml",
    )
    assert mailbot("run", "--config", config, "--once").returncode == 0
    assert "Đã bỏ qua XL-0002" in text(answers(recorder)[0]) and queue(config) == ["XL-0001"]


def test_only_the_first_line_counts_quotes_html_closed_items_and_auto_replies(tmp_path, smtp_server) -> None:
    recorder, port = smtp_server
    config = setup(tmp_path, port)
    digest_id = send_digest(config, recorder)
    deliver(
        tmp_path,
        command(
            "\n\nOn Mon, 29 Mar 2021, mailbot wrote:\n> giao XL-0001 vnpt-dongthap plan", subject="Re: Báo cáo hộp thư"
        ),
        "3.eml",
    )  # a command in the quote only
    fifty = "xem xét\n" + "".join(f"giao XL-0001 vnpt-dongthap plan {n}\n" for n in range(49))
    deliver(tmp_path, command(fifty, answering=digest_id), "4.eml")  # 50 commands: only the first line counts
    deliver(
        tmp_path,
        command(
            "Đang nghỉ phép đến 5/4, xin liên hệ phòng.",
            subject="Trả lời tự động: Báo cáo",
            **{"Auto-Submitted": "auto-replied"},
        ),
        "5.eml",
    )  # an out-of-office: never a command
    assert mailbot("run", "--config", config, "--once").returncode == 0
    got = {m["In-Reply-To"]: text(m) for m in answers(recorder)}
    assert len(got) == 2  # the quoted one and the fifty; the out-of-office gets nothing
    assert any("Không hiểu lệnh" in t and "Báo cáo hộp thư" in t for t in got.values())  # the Subject, unprefixed
    assert any("Thư chờ xem xét" in t and "giao XL-0001 <mã đơn vị> plan" in t for t in got.values())
    assert queue(config) == ["XL-0001", "XL-0002"]  # nothing assigned

    html_only = (
        f"Authentication-Results: {SIGNED}\r\nFrom: {STAFF}\r\nTo: pbcvt@dongthap.gov.vn\r\n"
        f"Subject: Re: x\r\nMessage-ID: <html-1@dongthap.gov.vn>\r\nIn-Reply-To: <{digest_id}>\r\n"
        f"Date: {email.utils.format_datetime(dt.datetime.now(dt.timezone.utc))}\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
        "<html><body><p>B&#7887; qua XL-0002 &#273;&#227; g&#7885;i &#273;i&#7879;n</p>"
        "<blockquote>giao XL-0001 vnpt-dongthap</blockquote></body></html>\r\n"
    ).encode()
    deliver(tmp_path, html_only, "6.eml")
    deliver(tmp_path, command("bỏ qua XL-0002", answering=digest_id), "7.eml")  # closed by the HTML mail first
    assert mailbot("run", "--config", config, "--once").returncode == 0
    later = [text(m) for m in answers(recorder)][2:]
    assert any("Đã bỏ qua XL-0002" in t for t in later)
    assert any("XL-0002 đã được xử lý trước đó" in t and STAFF in t for t in later)
    assert queue(config) == ["XL-0001"]


def test_status_roster_help_and_wrong_forms_are_answered(tmp_path, smtp_server) -> None:
    recorder, port = smtp_server
    config = setup(tmp_path, port)
    digest_id = send_digest(config, recorder)
    deliver(tmp_path, (FIXTURES / "18-duty-list-pasted-in-body.eml").read_bytes(), "2b.eml")  # Viettel Post's list
    for n, line in enumerate(
        [
            "trạng thái",
            "DANH SACH TRUC",
            "hướng dẫn",
            "giao XL-0001 vnpt",
            "giao XL-0099 vnpt-dongthap",
            "nhac mobifone",
            "làm ơn xem giúp",
        ]
    ):
        deliver(tmp_path, command(line, answering=digest_id, **{"Message-ID": f"<c{n}@dongthap.gov.vn>"}), f"3-{n}.eml")
    assert mailbot("run", "--config", config, "--once").returncode == 0
    got = {m["In-Reply-To"]: m for m in answers(recorder)}
    assert len(got) == 7
    assert "Viễn thông Đồng Tháp" in text(got["<c0@dongthap.gov.vn>"]) and "chưa nộp" in text(
        got["<c0@dongthap.gov.vn>"]
    )
    roster = got["<c1@dongthap.gov.vn>"]
    [xlsx] = list(roster.iter_attachments())
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.get_content())).worksheets[0]
    assert [c.value for c in sheet[1]][:4] == ["organization", "name", "position", "phone"]
    assert "<table" in roster.get_body(("html",)).get_content() and "Chưa gửi danh sách" in text(roster)
    assert any(row[1].value == "Nguyễn Văn Hùng" for row in sheet.iter_rows(min_row=2))
    helptext = text(got["<c2@dongthap.gov.vn>"])
    assert all(
        form in helptext
        for form in ("trạng thái", "xem xét", "giao <mã XL>", "bỏ qua", "danh sách trực", "nhắc", "hướng dẫn")
    )
    assert "Không có đơn vị “vnpt”" in text(got["<c3@dongthap.gov.vn>"]) and "vnpt-dongthap" in text(
        got["<c3@dongthap.gov.vn>"]
    )
    assert "Không có thư XL-0099" in text(got["<c4@dongthap.gov.vn>"])
    assert "Cách viết đúng: giao <mã XL>" in text(got["<c4@dongthap.gov.vn>"])
    assert "Không có đơn vị “mobifone”" in text(got["<c5@dongthap.gov.vn>"])
    assert "Không hiểu lệnh" in text(got["<c6@dongthap.gov.vn>"])
    assert queue(config) == ["XL-0001", "XL-0002"]


def test_remind_sends_once_a_day_to_the_contacts(tmp_path, smtp_server) -> None:
    recorder, port = smtp_server
    config = str(
        write_config(
            tmp_path,
            port,
            {
                **STAFF_DIGEST,
                r"(?m)^event_date = .*$": "event_date = 2030-01-01",  # the campaign still running today
                r'(?ms)(id = "vnpost-dongthap".*?domains = \["vnpost.vn"\])': '\\1\ncontacts = ["bd@vnpost.vn"]',
            },
        )
    )
    digest_id = send_digest(config, recorder)
    for n in range(2):
        order = command("nhắc vnpost-dongthap", answering=digest_id, **{"Message-ID": f"<n{n}@dongthap.gov.vn>"})
        deliver(tmp_path, order, f"{n}.eml")
    assert mailbot("run", "--config", config, "--once").returncode == 0
    reminded = [m for m in recorder.parsed() if m["To"] == "bd@vnpost.vn"]
    assert len(reminded) == 2  # the plan and the duty list, each once, though asked twice
    got = {m["In-Reply-To"]: text(m) for m in answers(recorder)}
    assert "Đã gửi 2 thư nhắc" in got["<n0@dongthap.gov.vn>"]
    assert "Không có thư nhắc nào cần gửi hôm nay" in got["<n1@dongthap.gov.vn>"]


def test_the_daemon_answers_a_command_as_fast_as_any_mail(tmp_path, smtp_server) -> None:
    recorder, port = smtp_server
    config = setup(tmp_path, port)
    digest_id = send_digest(config, recorder)
    child = subprocess.Popen(
        [sys.executable, "-m", "mailbot", "run", "--config", config],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deliver(tmp_path, command("giao XL-0001 vnpt-dongthap", answering=digest_id), "3.eml")
        wait_for(lambda: len(answers(recorder)) == 1, 10, "the answer to the command")
        wait_for(lambda: any(m["To"] == "anh.kythuat@gmail.com" for m in recorder.parsed()), 10, "the acknowledgement")
    finally:
        child.terminate()
        child.wait(15)
    assert queue(config) == ["XL-0002"]


def test_over_imap_a_command_is_answered_within_about_a_second(tmp_path, smtp_server, dovecot) -> None:
    import os
    import time

    from tests import dovecot as dc
    from tests.conftest import imap_config

    recorder, port = smtp_server
    config = imap_config(tmp_path, port, dovecot.port, STAFF_DIGEST)
    env = {**os.environ, "MAILBOT_TEST_IMAP_PASSWORD": dc.PASSWORD}
    digest_id = send_digest(str(config), recorder, env)
    child = subprocess.Popen(
        [sys.executable, "-m", "mailbot", "run", "--config", str(config)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        dovecot.append(build(sender="x@yahoo.com", subject="Hỏi", auth=None))  # XL-0001
        wait_for(lambda: dovecot.folder_uids("Cần xem xét") != [], 20, "the question in the review folder")
        time.sleep(0.5)  # into IDLE
        sent = time.monotonic()
        dovecot.append(command("bỏ qua XL-0001 đã trả lời", answering=digest_id))
        wait_for(lambda: len(answers(recorder)) == 1, 10, "the answer")
        took = recorder.arrivals[-1] - sent
    finally:
        child.terminate()
        child.wait(15)
    assert "Đã bỏ qua XL-0001" in text(answers(recorder)[0])
    assert took < 3, f"the answer took {took:.2f} s"  # Dovecot itself announces new mail after 0.5 s
