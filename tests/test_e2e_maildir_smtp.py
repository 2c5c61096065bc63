"""End to end: a Maildir of fixtures -> `mailbot run --once` -> a real SMTP server on loopback."""

from __future__ import annotations

import json
import subprocess
import sys
from email.utils import getaddresses

from mailbot import config as configmod
from mailbot.intake.parse import parse_message
from mailbot.register.store import Store
from tests.conftest import FIXTURES, build, daemon, deliver, write_config


def run_once(config_path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mailbot", "run", "--config", str(config_path), "--once", *extra],
        capture_output=True,
        text=True,
        timeout=300,
    )


def expected_submissions() -> dict[str, dict]:
    out = {}
    for eml in sorted(FIXTURES.glob("*.eml")):
        expected = json.loads(eml.with_suffix(".json").read_text(encoding="utf-8"))
        if expected["disposition"] == "submission":
            out[eml.name] = {"parsed": parse_message(eml.read_bytes()), **expected}
    return out


def test_every_submission_gets_one_acknowledgement_and_nothing_else(tmp_path, smtp_server) -> None:
    recorder, port = smtp_server
    config_path = write_config(tmp_path, port)
    for index, eml in enumerate(sorted(FIXTURES.glob("*.eml"))):
        deliver(tmp_path, eml.read_bytes(), f"{1616900000 + index}.M{index}.test")
    proc = run_once(config_path)
    assert proc.returncode == 0, proc.stderr

    wanted = expected_submissions()
    acks = recorder.parsed()
    assert len(acks) == len(wanted)
    assert f"thư trả lời: đã gửi {len(wanted)}, chờ gửi lại 0, gửi lỗi 0" in proc.stdout
    assert len({a["Message-ID"] for a in acks}) == len(acks)
    by_reply_to = {a["In-Reply-To"]: a for a in acks if a["In-Reply-To"]}
    for name, exp in wanted.items():
        parsed = exp["parsed"]
        if parsed.message_id is None:
            ack = next(a for a in acks if a["In-Reply-To"] is None)
        else:
            ack = by_reply_to[f"<{parsed.message_id}>"]
            assert f"<{parsed.message_id}>" in ack["References"]
        assert [addr for _, addr in getaddresses([ack["To"]])] == [parsed.from_address], name
        assert ack["Auto-Submitted"] == "auto-replied"
        assert ack["X-Auto-Response-Suppress"] == "All"
        assert ack["Message-ID"].endswith("@dongthap.gov.vn>")
        assert "pbcvt@dongthap.gov.vn" in ack["From"]
        subject = " ".join(parsed.subject.split())
        assert ack["Subject"] == (f"Re: {subject}" if subject else ack["Subject"]), name
        text = ack.get_body(("plain",)).get_content()
        html = ack.get_body(("html",)).get_content()
        assert "Số biên nhận: BC2021-" in text
        for att in parsed.attachments:
            if not att.inline and not att.is_signature and not att.container:
                assert att.filename in text, (name, att.filename)
        assert "Trân trọng" in text and "<table" in html
    # envelope sender is our own address, recipients the carriers
    assert all(mail_from == "pbcvt@dongthap.gov.vn" for mail_from, _ in recorder.envelopes)

    # all messages recorded, moved to cur/, the second run sends nothing
    cfg = configmod.load(config_path)
    store = Store(cfg.state_dir)
    assert len(store.messages) == len(list(FIXTURES.glob("*.eml")))
    store.close()
    assert not any((tmp_path / "maildir" / "new").iterdir())
    proc = run_once(config_path)
    assert proc.returncode == 0, proc.stderr
    assert len(recorder.messages) == len(wanted)


def test_redelivery_and_copies_are_not_answered_twice(tmp_path, smtp_server) -> None:
    recorder, port = smtp_server
    config_path = write_config(tmp_path, port)
    raw = (FIXTURES / "01-vnpt-plan-docx.eml").read_bytes()
    deliver(tmp_path, raw, "1.a")
    assert run_once(config_path).returncode == 0
    deliver(tmp_path, raw, "2.b")  # re-delivery
    deliver(tmp_path, raw.replace(b"Subject:", b"X-Copy: 1\r\nSubject:", 1), "3.c")  # a copy, same Message-ID
    proc = run_once(config_path)
    assert proc.returncode == 0
    assert "bỏ qua 2 thư" in proc.stdout
    assert len(recorder.messages) == 1


def test_reply_to_of_the_same_organization_is_used(tmp_path, smtp_server) -> None:
    recorder, port = smtp_server
    config_path = write_config(tmp_path, port)
    deliver(
        tmp_path, build(sender="kt@vnpt.vn", files=(("PA.docx", b"x"),), headers={"Reply-To": "vanthu@vnpt.vn"}), "1.a"
    )
    deliver(
        tmp_path,
        build(
            sender="kt2@vnpt.vn",
            subject="Khác",
            files=(("PA.docx", b"y"),),
            headers={"Reply-To": "attacker@evil.example"},
        ),
        "2.b",
    )
    assert run_once(config_path).returncode == 0
    tos = sorted(m["To"] for m in recorder.parsed())
    assert tos == ["kt2@vnpt.vn", "vanthu@vnpt.vn"]


def test_per_recipient_cap(tmp_path, smtp_server) -> None:
    recorder, port = smtp_server
    config_path = write_config(tmp_path, port, {r"(?m)^auto_reply_cap_per_day = .*$": "auto_reply_cap_per_day = 3"})
    for i in range(6):
        deliver(tmp_path, build(subject=f"PA lần {i}", files=((f"PA{i}.docx", bytes([i])),)), f"{i}.x")
    proc = run_once(config_path)
    assert proc.returncode == 0
    assert len(recorder.messages) == 3
    store = Store(configmod.load(config_path).state_dir)
    statuses = sorted(m["status"] for m in store.outbox.all())
    store.close()
    assert statuses == ["sent"] * 3 + ["suppressed"] * 3


def test_dry_run_writes_eml_files_and_sends_nothing(tmp_path, smtp_server) -> None:
    recorder, port = smtp_server
    config_path = write_config(tmp_path, port)
    deliver(tmp_path, (FIXTURES / "03-mobifone-duty-xlsx.eml").read_bytes(), "1.a")
    proc = run_once(config_path, "--dry-run")
    assert proc.returncode == 0, proc.stderr
    assert recorder.messages == []
    files = list((tmp_path / "state" / "outbox").glob("*.eml"))
    assert len(files) == 1
    assert b"Auto-Submitted: auto-replied" in files[0].read_bytes()


def test_daemon_answers_new_mail_and_stops_on_sigterm(tmp_path, smtp_server) -> None:
    import signal
    import time

    recorder, port = smtp_server
    config_path = write_config(tmp_path, port)
    child = daemon(config_path, level=None)
    try:
        time.sleep(0.5)
        deliver(tmp_path, (FIXTURES / "01-vnpt-plan-docx.eml").read_bytes(), "1.live")
        deadline = time.monotonic() + 20
        while not recorder.messages and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(recorder.messages) == 1
        child.send_signal(signal.SIGTERM)
        _, err = child.communicate(timeout=10)
        assert child.returncode == 0, err
        assert "mailbot stopped" in err
    finally:
        if child.poll() is None:
            child.kill()


def test_a_backlog_is_answered_while_it_is_recorded(tmp_path, smtp_server) -> None:
    """Over several group commits, replies go out during the pass, each exactly once."""
    recorder, port = smtp_server
    config_path = write_config(tmp_path, port)
    count = 90
    for i in range(count):
        deliver(
            tmp_path,
            build(sender=f"kt{i}@vnpt.vn", subject=f"Phương án {i}", files=((f"PA{i}.docx", bytes([i % 256]) * 10),)),
            f"{i:03d}.backlog",
        )
    proc = run_once(config_path, "--log-level", "INFO")
    assert proc.returncode == 0, proc.stderr
    assert f"thư trả lời: đã gửi {count}, chờ gửi lại 0, gửi lỗi 0" in proc.stdout
    assert sorted(to for _, tos in recorder.envelopes for to in tos) == sorted(f"kt{i}@vnpt.vn" for i in range(count))
    lines = proc.stderr.splitlines()
    last_recorded = max(n for n, line in enumerate(lines) if "recorded mid:" in line)
    first_sent = min(n for n, line in enumerate(lines) if "mail ack." in line and ": 250" in line)
    assert first_sent < last_recorded
