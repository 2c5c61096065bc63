"""A Message-ID cannot be stolen: another sender's mail that uses a carrier's Message-ID first
does not make the carrier's plan a duplicate; a true re-delivery still is one."""

from __future__ import annotations

import json
import os

from tests import dovecot as dc
from tests.conftest import build, deliver, imap_config, mailbot, write_config

MID = "<plan-2021@vnpt.vn>"


def carrier_plan() -> bytes:
    return build(
        sender="kt@vnpt.vn",
        subject="Phương án bảo đảm thông tin liên lạc",
        files=(("PA.docx", b"plan"),),
        headers={"Message-ID": MID},
    )


def preempting() -> bytes:
    return build(
        sender="mallory@evil.example",
        subject="Hello",
        headers={"Message-ID": MID},
        auth="mail.dongthap.gov.vn; spf=pass smtp.mailfrom=evil.example",
    )


def plan_status(config: str) -> dict:
    status = json.loads(mailbot("status", "--config", config, "--json").stdout)
    return next(r for r in status["campaigns"] if r["organization"] == "vnpt-dongthap" and r["document"] == "plan")


def test_a_preempted_message_id_still_gives_the_carrier_its_receipt(tmp_path, smtp_server) -> None:
    recorder, port = smtp_server
    config = str(write_config(tmp_path, port))
    deliver(tmp_path, (preempting()), "1.attacker")
    deliver(tmp_path, (carrier_plan()), "2.carrier")
    out = mailbot("run", "--config", config, "--once")
    assert out.returncode == 0, out.stderr
    assert "Đã ghi nhận 2 thư mới" in out.stdout
    [ack] = recorder.parsed()
    assert ack["To"] == "kt@vnpt.vn" and "BC2021-0001" in ack.get_body(("plain",)).get_content()
    assert ack["In-Reply-To"] == MID
    assert plan_status(config)["receipt"] == "BC2021-0001"
    review = json.loads(mailbot("review", "--config", config, "--json").stdout)
    assert [r["from"] for r in review] == ["mallory@evil.example"]

    # a true re-delivery of either is a duplicate: nothing recorded or answered twice
    deliver(tmp_path, (carrier_plan()), "3.again")
    again = build(
        sender="kt@vnpt.vn",
        subject="Phương án bảo đảm thông tin liên lạc",
        files=(("PA.docx", b"plan"),),
        headers={"Message-ID": MID, "Received": "from relay2 by mail.dongthap.gov.vn; Mon, 29 Mar 2021 09:20:00 +0700"},
    )
    deliver(tmp_path, (again), "4.again-other-relay")  # another hop, the same message
    deliver(tmp_path, (preempting()), "5.attacker-again")
    out = mailbot("run", "--config", config, "--once")
    assert "Đã ghi nhận 0 thư mới, bỏ qua 3 thư" in out.stdout, out.stdout
    assert len(recorder.messages) == 1


def test_preemption_over_imap_downloads_and_answers_the_carrier(tmp_path, smtp_server, dovecot) -> None:
    recorder, port = smtp_server
    config = str(imap_config(tmp_path, port, dovecot.port))
    env = {**os.environ, "MAILBOT_TEST_IMAP_PASSWORD": dc.PASSWORD}
    dovecot.append((preempting()))
    assert mailbot("run", "--config", config, "--once", env=env).returncode == 0
    dovecot.append((carrier_plan()))
    # the attacker's copy back in INBOX too (a rescan): recognised from its header alone
    with dovecot.client() as box:
        box.folder.set("Cần xem xét")
        box.copy(box.uids(), "INBOX")
    out = mailbot("run", "--config", config, "--once", env=env)
    assert out.returncode == 0, out.stderr
    assert "Đã ghi nhận 1 thư mới, bỏ qua 1 thư" in out.stdout, out.stdout
    [ack] = recorder.parsed()
    assert ack["To"] == "kt@vnpt.vn"
    assert dovecot.folder_uids("INBOX") == []
