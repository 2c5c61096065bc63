"""The daily digest: its content on a known state, escaping, once a day, any machine zone."""

from __future__ import annotations

import datetime as dt
import email
import email.utils
import os
import subprocess
import sys
from email.policy import default
from zoneinfo import ZoneInfo

from mailbot import config as configmod
from mailbot.runtime import open_runner
from mailbot.staff import digest
from tests.conftest import build, deliver, write_config

TZ = ZoneInfo("Asia/Ho_Chi_Minh")


def state(tmp_path, port: int) -> str:
    config = str(
        write_config(
            tmp_path, port, {r'(?m)^to = \["ddthong@dongthap.gov.vn"\].*$': 'to = ["ddthong@dongthap.gov.vn"]'}
        )
    )
    deliver(tmp_path, build(sender="kt@vnpt.vn", subject="Phương án bầu cử", files=(("PA VNPT.docx", b"1"),)), "1.a")
    deliver(
        tmp_path,
        build(sender="x@gmail.com", subject="<script>alert(1)</script> {{ 7*7 }}", files=(("<b>bad</b>.docx", b"2"),)),
        "2.b",
    )
    deliver(
        tmp_path,
        build(
            sender="mailer-daemon@mail.dongthap.gov.vn",
            subject="Undelivered Mail Returned to Sender",
            headers={"X-Failed-Recipients": "kt@vnpost.vn"},
        ),
        "3.c",
    )
    proc = subprocess.run([sys.executable, "-m", "mailbot", "run", "--config", config, "--once"], capture_output=True)
    assert proc.returncode == 0
    subprocess.run(
        [sys.executable, "-m", "mailbot", "remind", "--config", config, "--now", "2021-03-29T08:00:00+07:00"],
        check=True,
        capture_output=True,
    )
    return config


def test_the_digest_on_a_known_state(tmp_path, smtp_server) -> None:
    recorder, port = smtp_server
    config = state(tmp_path, port)
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "mailbot",
            "digest",
            "--config",
            config,
            "--dry-run",
            "--now",
            "2021-03-29T17:00:00+07:00",
        ],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "BÁO CÁO HỘP THƯ pbcvt@dongthap.gov.vn" in text and "ngày 29 tháng 3 năm 2021" in text
    assert "Phương án bảo đảm thông tin liên lạc (hạn 01/04/2021): đúng hạn: BC2021-0001, 09:15 29/03/2021" in text
    assert "Phương án bảo đảm thông tin liên lạc (hạn 01/04/2021): chưa nộp (còn 3 ngày)" in text
    assert "II. THƯ MỚI ĐẾN (3)" in text
    assert (
        "Thư báo lỗi chuyển phát (bounce) từ mailer-daemon@mail.dongthap.gov.vn" in text
        and "số biên nhận BC2021-0001" in text
    )
    # the four organizations without a plan were due a reminder; none has an address, so none went out
    assert "III. THƯ NHẮC ĐÃ GỬI (0)" in text and text.count("chưa có địa chỉ liên hệ") == 4
    assert "XL-0001" in text and "người gửi lạ" in text and "x@gmail.com" in text
    assert "<script>alert(1)</script> {{ 7*7 }}" in text  # the text version shows it as written


def test_the_html_escapes_and_is_sent_once_a_day(tmp_path, smtp_server) -> None:
    recorder, port = smtp_server
    config = configmod.load(state(tmp_path, port))
    with open_runner(config) as runner:
        first = digest.send_due(runner, dt.datetime(2021, 3, 30, 7, 31, tzinfo=TZ))
        assert first is not None
        assert digest.send_due(runner, dt.datetime(2021, 3, 30, 18, 0, tzinfo=TZ)) is None  # same day
        assert digest.send_due(runner, dt.datetime(2021, 3, 31, 7, 0, tzinfo=TZ)) is None  # before 07:30: still 30/3
        assert digest.send_due(runner, dt.datetime(2021, 3, 31, 7, 30, tzinfo=TZ)) is not None
        assert digest.send_due(runner, dt.datetime(2021, 4, 3, 6, 0, tzinfo=TZ)) is not None  # missed 1-2/4: one
        assert digest.send_due(runner, dt.datetime(2021, 4, 3, 7, 0, tzinfo=TZ)) is None
        raw = runner.store.blob_path(first["raw_sha256"], "raw").read_bytes()
        runner.flush(ignore_backoff=True)
    digests = [m for m in recorder.parsed() if m["Auto-Submitted"] == "auto-generated"]
    assert len(digests) == 3 and {m["To"] for m in digests} == {"ddthong@dongthap.gov.vn"}
    msg = email.message_from_bytes(raw, policy=default)
    assert msg["Auto-Submitted"] == "auto-generated" and msg["To"] == "ddthong@dongthap.gov.vn"
    html = msg.get_body(("html",)).get_content()
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt; {{ 7*7 }}" in html and "49" not in html
    assert "<table" in html and "BC2021-0001" in html


def test_the_digest_reads_the_same_in_any_machine_zone(tmp_path, smtp_server) -> None:
    _, port = smtp_server
    config = state(tmp_path, port)
    outputs = {
        subprocess.run(
            [
                sys.executable,
                "-m",
                "mailbot",
                "digest",
                "--config",
                config,
                "--dry-run",
                "--now",
                "2021-03-30T07:30:00+07:00",
            ],
            capture_output=True,
            text=True,
            env={**os.environ, "TZ": zone},
        ).stdout
        for zone in ("UTC", "Asia/Ho_Chi_Minh")
    }
    assert len(outputs) == 1 and "09:15 29/03/2021" in outputs.pop()


def test_the_roster_is_in_the_digest_until_the_day_after_the_election(tmp_path, smtp_server) -> None:
    from tests.conftest import FIXTURES, mailbot

    _, port = smtp_server
    config = state(tmp_path, port)
    deliver(tmp_path, (FIXTURES / "18-duty-list-pasted-in-body.eml").read_bytes(), "4.d")
    assert mailbot("run", "--config", config, "--once").returncode == 0
    during = mailbot("digest", "--config", config, "--dry-run", "--now", "2021-05-24T07:30:00+07:00").stdout
    assert "Danh sách trực:" in during and "Nguyễn Văn Hùng (Giám đốc chi nhánh): 0913 456 789" in during
    assert "* Viettel Đồng Tháp: chưa gửi danh sách." in during
    after = mailbot("digest", "--config", config, "--dry-run", "--now", "2021-05-25T07:30:00+07:00").stdout
    assert "Danh sách trực:" not in after


def test_clock_steps_never_give_two_digests_a_day_nor_lose_a_message(tmp_path, smtp_server) -> None:
    """The clock set back an hour, then forward a day and back (the project's injectable clock):
    one digest per calendar day at most, none for a day already covered, and every message
    recorded in exactly one daily digest."""
    from mailbot.runtime import source_for

    recorder, port = smtp_server
    config = configmod.load(
        write_config(
            tmp_path, port, {r'(?m)^to = \["ddthong@dongthap.gov.vn"\].*$': 'to = ["ddthong@dongthap.gov.vn"]'}
        )
    )
    source = source_for(config)
    made: list[dict] = []

    def arrive(runner, n: int, now: dt.datetime) -> None:
        runner.clock = lambda: now
        date = email.utils.format_datetime(now)
        deliver(tmp_path, build(sender=f"kt{n}@vnpt.vn", subject=f"Thư số {n}", headers={"Date": date}), f"{n}.eml")
        runner.run_pass(source)

    def tick(runner, now: dt.datetime) -> None:
        entry = digest.send_due(runner, now)
        if entry is not None:
            made.append(entry)

    day = dt.datetime(2021, 4, 5, tzinfo=TZ)  # a Monday
    with open_runner(config) as runner:
        arrive(runner, 1, day.replace(hour=6))
        tick(runner, day.replace(hour=7, minute=31))  # D: the first digest
        arrive(runner, 2, day.replace(hour=7, minute=40))
        tick(runner, day.replace(hour=6, minute=45))  # set back an hour: yesterday's slot, already covered
        tick(runner, day.replace(hour=7, minute=35))  # 07:30 comes a second time: D is covered
        arrive(runner, 3, day.replace(hour=9))
        tick(runner, day.replace(hour=8) + dt.timedelta(days=1))  # forward a day: D+1, early
        arrive(runner, 4, day.replace(hour=10))  # back again: recorded after the early digest
        tick(runner, day.replace(hour=10, minute=5))
        tick(runner, day.replace(hour=7, minute=31) + dt.timedelta(days=1))  # the real D+1: covered already
        arrive(runner, 5, day.replace(hour=12) + dt.timedelta(days=1))
        tick(runner, day.replace(hour=7, minute=31) + dt.timedelta(days=2))  # D+2
        bodies = [
            email.message_from_bytes(runner.store.blob_path(m["raw_sha256"], "raw").read_bytes(), policy=default)
            .get_body(("plain",))
            .get_content()
            for m in made
        ]
    texts = [b.split("II. THƯ MỚI ĐẾN")[1].split("III. ")[0] for b in bodies]  # the arrivals of each
    days = [(day + dt.timedelta(days=n)).date() for n in range(3)]
    assert [m["key"] for m in made] == [digest.daily_key(config, d) for d in days]
    for n in range(1, 6):
        assert sum(f"Thư số {n}" in t for t in texts) == 1, (n, [f"Thư số {n}" in t for t in texts])
    assert "Thư số 4" in texts[2] and "Thư số 5" in texts[2]  # what the early digest could not see
