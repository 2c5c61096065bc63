"""The review queue: review, assign (with --remember-sender), dismiss."""

from __future__ import annotations

import json

from tests.conftest import build, deliver, mailbot, write_config


def test_a_plan_from_a_personal_address_is_assigned_and_acknowledged(tmp_path, smtp_server) -> None:
    recorder, port = smtp_server
    config = str(write_config(tmp_path, port))
    deliver(
        tmp_path,
        build(
            sender="anh.kythuat@gmail.com",
            subject="Gửi phương án bầu cử của VNPT",
            files=(("Phuong an VNPT.docx", b"plan"),),
            # authenticated for gmail.com: its acknowledgement may go (test_backscatter: else none)
            auth="mail.dongthap.gov.vn; dkim=pass header.d=gmail.com",
        ),
        "1.a",
    )
    deliver(tmp_path, build(sender="kt@vnpt.vn", subject="Hỏi về thời hạn"), "2.b")  # correspondence
    assert mailbot("run", "--config", config, "--once").returncode == 0
    assert recorder.messages == []  # nothing answered: both wait for a person

    listed = mailbot("review", "--config", config, "--json")
    rows = json.loads(listed.stdout)
    assert [(r["id"], r["disposition"]) for r in rows] == [("XL-0001", "unknown-sender"), ("XL-0002", "correspondence")]
    assert rows[0]["files"] == ["Phuong an VNPT.docx"] and rows[0]["from"] == "anh.kythuat@gmail.com"
    text = mailbot("review", "--config", config).stdout
    assert "XL-0001" in text and "người gửi lạ" in text and "Gửi phương án bầu cử của VNPT" in text

    bad = mailbot("assign", "--config", config, "XL-0001", "vnpt")
    assert bad.returncode == 1 and "vnpt-dongthap" in bad.stderr  # the known ids are listed
    done = mailbot("assign", "--config", config, "xl-0001", "vnpt-dongthap", "--remember-sender")
    assert done.returncode == 0, done.stderr
    assert "số biên nhận BC2021-0001" in done.stdout and "đã gửi đến anh.kythuat@gmail.com" in done.stdout
    [ack] = recorder.parsed()
    assert ack["To"] == "anh.kythuat@gmail.com" and ack["Auto-Submitted"] == "auto-replied"
    body = ack.get_body(("plain",)).get_content()
    assert "Viễn thông Đồng Tháp" in body and "BC2021-0001" in body and "Phuong an VNPT.docx" in body

    again = mailbot("assign", "--config", config, "XL-0001", "vnpt-dongthap")
    assert again.returncode == 1 and "already handled" in again.stderr
    status = json.loads(mailbot("status", "--config", config, "--json").stdout)
    plan = next(r for r in status["campaigns"] if r["organization"] == "vnpt-dongthap" and r["document"] == "plan")
    assert plan["status"] == "on-time" and plan["receipt"] == "BC2021-0001"
    assert status["known_senders"] == {"anh.kythuat@gmail.com": "vnpt-dongthap"}
    assert "anh.kythuat@gmail.com" in mailbot("status", "--config", config).stdout

    # the remembered sender's next mail is VNPT's without anyone's help
    # (authenticated by Gmail's DKIM signature: an unauthenticated copy of the address is not enough)
    deliver(
        tmp_path,
        build(
            sender="anh.kythuat@gmail.com",
            subject="Gửi danh sách trực",
            files=(("DS truc VNPT.xlsx", b"list"),),
            auth="mail.dongthap.gov.vn; dkim=pass header.d=gmail.com; dmarc=pass header.from=gmail.com",
        ),
        "3.c",
    )
    deliver(
        tmp_path,
        build(
            sender="anh.kythuat@gmail.com",
            subject="Gửi danh sách trực (bản khác)",
            files=(("DS truc VNPT.xlsx", b"forged"),),
            auth="mail.dongthap.gov.vn; spf=pass smtp.mailfrom=evil.example; dmarc=none",
        ),
        "4.d",
    )
    assert mailbot("run", "--config", config, "--once").returncode == 0
    assert len(recorder.messages) == 2
    rows = json.loads(mailbot("review", "--config", config, "--json").stdout)
    assert [(r["id"], r["disposition"]) for r in rows] == [("XL-0002", "correspondence"), ("XL-0003", "suspicious")]


def test_dismiss_takes_a_message_off_the_queue(tmp_path, smtp_server) -> None:
    recorder, port = smtp_server
    config = str(write_config(tmp_path, port))
    deliver(tmp_path, build(sender="kt@vnpt.vn", subject="Hỏi về thời hạn"), "1.a")
    assert mailbot("run", "--config", config, "--once").returncode == 0
    out = mailbot("dismiss", "--config", config, "XL-0001", "--reason", "Đã trả lời qua điện thoại")
    assert out.returncode == 0 and "XL-0001" in out.stdout
    assert json.loads(mailbot("review", "--config", config, "--json").stdout) == []
    assert "Không có thư nào chờ xem xét." in mailbot("review", "--config", config).stdout
    missing = mailbot("dismiss", "--config", config, "XL-0009")
    assert missing.returncode == 1 and "XL-0009" in missing.stderr
    assert recorder.messages == []


def test_assign_needs_a_document_it_can_name(tmp_path, smtp_server) -> None:
    recorder, port = smtp_server
    config = str(write_config(tmp_path, port))
    deliver(tmp_path, build(sender="x@gmail.com", subject="Chào anh", files=(("anh.jpg", b"\xff\xd8"),)), "1.a")
    assert mailbot("run", "--config", config, "--once").returncode == 0
    out = mailbot("assign", "--config", config, "XL-0001", "viettel-dongthap")
    assert out.returncode == 1 and "--documents plan,duty-list" in out.stderr
    out = mailbot("assign", "--config", config, "XL-0001", "viettel-dongthap", "--documents", "duty-list")
    assert out.returncode == 0, out.stderr
    assert "anh.jpg" in recorder.parsed()[0].get_body(("plain",)).get_content()


def test_a_long_queue_shows_the_newest_items_a_count_and_filters(tmp_path, smtp_server) -> None:
    _, port = smtp_server
    config = str(write_config(tmp_path, port))
    for n in range(60):
        sender = f"x{n}@gmail.com" if n % 2 else f"kt{n}@vnpt.vn"  # strangers, and VNPT's questions
        day = 1 + n // 10
        deliver(
            tmp_path,
            build(sender=sender, subject=f"Hỏi số {n}", headers={"Date": f"Thu, {day:02d} Apr 2021 09:00:00 +0700"}),
            f"{n:02d}.eml",
        )
    assert mailbot("run", "--config", config, "--once").returncode == 0
    text = mailbot("review", "--config", config).stdout
    assert text.startswith("Thư chờ cán bộ xem xét: 60\nHiển thị 50 thư") and "--all" in text
    assert "XL-0060" in text and "XL-0010 " not in text and "XL-0011 " in text  # the newest 50
    rows = lambda *extra: json.loads(mailbot("review", "--config", config, "--json", *extra).stdout)  # noqa: E731
    assert [r["id"] for r in rows("--limit", "3")] == ["XL-0058", "XL-0059", "XL-0060"]
    assert len(rows("--all")) == 60
    vnpt = rows("--organization", "vnpt-dongthap", "--all")
    assert len(vnpt) == 30 and {r["organization"] for r in vnpt} == {"vnpt-dongthap"}
    assert [r["subject"] for r in rows("--since", "2021-04-06")] == [f"Hỏi số {n}" for n in range(50, 60)]
    bad = mailbot("review", "--config", config, "--since", "6/4/2021")
    assert bad.returncode == 2 and "is not a date such as 2021-05-20" in bad.stderr
