"""Reminders: time travel over the campaign of the 2021 letter with a fake clock."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import subprocess
import sys
from zoneinfo import ZoneInfo

from mailbot import config as configmod
from mailbot.register.store import Store, utc_iso
from mailbot.replies import reminders
from mailbot.replies.reply import Templates
from tests.conftest import build, deliver, write_config

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
ORGS = ["vnpt-dongthap", "viettel-dongthap", "mobifone-mien-nam", "vnpost-dongthap", "viettelpost-dongthap"]
CONTACTS = {r"(?m)^contacts = \[\]  .*$": 'contacts = ["vanthu@vnpt.vn"]'}


def at(day: str, time: str = "08:30") -> dt.datetime:
    return dt.datetime.fromisoformat(f"{day}T{time}").replace(tzinfo=TZ)


def submit(store: Store, org: str, doc: str, when: dt.datetime, n: int) -> None:
    store.add_submission(
        {
            "key": f"m{n}#bau-cu-2021#{doc}",
            "receipt": f"BC2021-{n:04d}",
            "campaign": "bau-cu-2021",
            "organization": org,
            "document": doc,
            "message_key": f"m{n}",
            "received_at": utc_iso(when),
            "on_time": True,
            "files": [],
        }
    )


def authenticated_mail(store: Store, org: str, sender: str) -> None:
    store.record_message(
        {
            "key": f"mail-{sender}",
            "organization": org,
            "from": sender,
            "disposition": "correspondence",
            "auth": {"trusted": True, "dmarc": "pass", "spf": None, "dkim": None},
        }
    )


def travel(
    tmp_path, days: list[dt.date], submissions: dict[tuple[str, str], dt.datetime], restart_on: dt.date | None = None
) -> list[dict]:
    """Run the reminder job at 08:30 on each day; returns every outbox entry it made, in order."""
    config = configmod.load(write_config(tmp_path, 25, CONTACTS))
    templates = Templates()
    store = Store(config.state_dir)
    authenticated_mail(store, "viettel-dongthap", "kt@viettel.com.vn")
    authenticated_mail(store, "vnpost-dongthap", "spoof@vnpost.vn")  # not authenticated below
    store.messages.update("mail-spoof@vnpost.vn", {"auth": {"trusted": False, "dmarc": "pass"}})
    made: list[dict] = []
    n = 0
    for day in days:
        if day == restart_on:
            store.close()
            store = Store(config.state_dir)
        now = at(day.isoformat())
        for (org, doc), when in submissions.items():
            if when.date() == day - dt.timedelta(days=1):
                n += 1
                submit(store, org, doc, when, n)
        for reminder in reminders.due(config, store, now):
            made.append({**reminders.enqueue(config, store, templates, reminder, now), "day": day})
        store.commit()
    store.close()
    return made


def every_day(first: str, last: str) -> list[dt.date]:
    day, end, out = dt.date.fromisoformat(first), dt.date.fromisoformat(last), []
    while day <= end:
        out.append(day)
        day += dt.timedelta(days=1)
    return out


def test_the_whole_campaign(tmp_path) -> None:
    submissions = {
        ("vnpt-dongthap", "plan"): at("2021-03-29", "09:15"),  # after that morning's reminder
        ("viettel-dongthap", "plan"): at("2021-03-26", "10:00"),
        ("vnpost-dongthap", "plan"): at("2021-04-05", "15:00"),
        ("vnpt-dongthap", "duty-list"): at("2021-05-19", "16:00"),
    }
    made = travel(tmp_path, every_day("2021-03-01", "2021-05-31"), submissions, restart_on=dt.date(2021, 4, 6))
    keys = [m["key"] for m in made]
    assert len(keys) == len(set(keys))  # none twice, across the restart too
    holidays = configmod.load(tmp_path / "config.toml").reminders.holidays
    assert all(m["day"].weekday() < 5 and m["day"] not in holidays for m in made)  # no Sunday, no holiday

    def days(org: str, doc: str) -> list[str]:
        return [f"{m['day']:%d/%m} {m['step']}" for m in made if m["organization"] == org and m["document"] == doc]

    assert days("mobifone-mien-nam", "plan") == [
        "25/03 before-7",
        "29/03 before-3",
        "31/03 before-1",
        "01/04 deadline",
        "05/04 overdue-1",
        "07/04 overdue-2",
        "09/04 overdue-3",
    ]  # Saturday 3/4 -> Monday; the cap is 3
    assert days("vnpt-dongthap", "plan") == ["25/03 before-7", "29/03 before-3"]  # sent at 09:15 on 29/3
    assert days("viettel-dongthap", "plan") == ["25/03 before-7"]
    assert days("vnpost-dongthap", "plan")[-1] == "05/04 overdue-1"  # sent that afternoon: nothing after
    # duty lists: deadline Friday 21/5; nothing after the election on Sunday 23/5
    assert days("viettelpost-dongthap", "duty-list") == [
        "14/05 before-7",
        "18/05 before-3",
        "20/05 before-1",
        "21/05 deadline",
    ]
    assert days("vnpt-dongthap", "duty-list") == ["14/05 before-7", "18/05 before-3"]
    # recipients: configured contacts, authenticated senders; nobody known means not sent
    by_org = {m["organization"]: m for m in made if m["step"] == "before-7" and m["document"] == "plan"}
    assert by_org["vnpt-dongthap"]["to"] == ["vanthu@vnpt.vn"] and by_org["vnpt-dongthap"]["status"] == "pending"
    assert by_org["viettel-dongthap"]["to"] == ["kt@viettel.com.vn"]
    assert by_org["vnpost-dongthap"]["to"] == [] and by_org["vnpost-dongthap"]["status"] == "no-recipient"
    assert "chưa có địa chỉ" in by_org["mobifone-mien-nam"]["last_error"]


def test_a_week_of_downtime_sends_one_reminder_per_pending_document(tmp_path) -> None:
    days = every_day("2021-03-20", "2021-03-24") + every_day("2021-04-07", "2021-04-07")
    made = travel(tmp_path, days, {})
    after = [m for m in made if m["day"] == dt.date(2021, 4, 7)]
    assert sorted((m["organization"], m["step"]) for m in after) == sorted((o, "overdue-2") for o in ORGS)


def test_nothing_before_the_hour_on_weekends_or_holidays(tmp_path) -> None:
    config = configmod.load(write_config(tmp_path, 25, CONTACTS))
    store = Store(config.state_dir)
    try:
        assert reminders.due(config, store, at("2021-03-25", "07:59")) == []
        assert len(reminders.due(config, store, at("2021-03-25", "08:00"))) == 5
        assert reminders.due(config, store, at("2021-03-27", "10:00")) == []  # Saturday
        assert reminders.due(config, store, at("2021-04-30", "10:00")) == []  # 30/4
        assert reminders.due(config, store, at("2021-04-12", "10:00")) == []  # the last step (9/4) has lapsed
        assert reminders.due(config, store, at("2026-11-30", "10:00")) == []  # a Monday, years later
    finally:
        store.close()


def test_the_reminder_mail(tmp_path) -> None:
    import email
    from email.policy import default

    config = configmod.load(write_config(tmp_path, 25, CONTACTS))
    store = Store(config.state_dir)
    submit(store, "vnpt-dongthap", "duty-list", at("2021-03-20", "10:00"), 1)
    [reminder] = [r for r in reminders.due(config, store, at("2021-03-29")) if r.organization.id == "vnpt-dongthap"]
    entry = reminders.enqueue(config, store, Templates(), reminder, at("2021-03-29"))
    raw = store.blob_path(entry["raw_sha256"], "raw").read_bytes()
    store.close()
    msg = email.message_from_bytes(raw, policy=default)
    assert msg["Auto-Submitted"] == "auto-generated" and msg["To"] == "vanthu@vnpt.vn"
    assert msg["Message-ID"] == f"<{entry['key']}>" and entry["key"].startswith("remind.")
    text = msg.get_body(("plain",)).get_content()
    assert "chưa nhận được Phương án bảo đảm thông tin liên lạc" in text
    assert "hết ngày 01 tháng 4 năm 2021 (còn 03 ngày)" in text
    assert "Danh sách, số điện thoại trực: số biên nhận BC2021-0001" in text
    assert "trả lời thư này, đính kèm tệp tài liệu" in text


def test_remind_dry_run_json_is_the_same_whatever_the_machine_zone(tmp_path, smtp_server) -> None:
    recorder, port = smtp_server
    config = str(write_config(tmp_path, port))
    deliver(tmp_path, build(sender="kt@vnpt.vn", subject="Phương án", files=(("PA.docx", b"1"),)), "1.a")
    deliver(
        tmp_path,
        build(
            sender="kt@viettel.com.vn",
            subject="Phương án",
            files=(("PA.docx", b"2"),),
            auth="mail.dongthap.gov.vn; dmarc=pass header.from=viettel.com.vn",
        ),
        "2.b",
    )
    assert subprocess.run([sys.executable, "-m", "mailbot", "run", "--config", config, "--once"]).returncode == 0
    outputs = []
    for zone in ("UTC", "Asia/Ho_Chi_Minh", "America/Los_Angeles"):
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "mailbot",
                "remind",
                "--config",
                config,
                "--dry-run",
                "--json",
                "--now",
                "2021-03-29T08:00:00+07:00",
            ],
            capture_output=True,
            text=True,
            env={**os.environ, "TZ": zone},
        )
        assert proc.returncode == 0, proc.stderr
        outputs.append(proc.stdout)
    assert outputs[0] == outputs[1] == outputs[2]
    rows = [json.loads(line) for line in outputs[0].splitlines()]
    assert sorted(r["organization"] for r in rows) == ["mobifone-mien-nam", "viettelpost-dongthap", "vnpost-dongthap"]
    assert {(r["document"], r["step"], r["deadline"]) for r in rows} == {
        ("plan", "before-3", "2021-04-01T23:59:59+07:00")
    }
    assert len(recorder.messages) == 2  # the two acknowledgements; the dry run sent nothing


def _without_holidays(tmp_path, deadline: str, extra: str = "") -> configmod.Config:
    """The example deployment with no `holidays` key at all, its plan due `deadline`."""
    path = write_config(
        tmp_path,
        25,
        {
            r"(?ms)^holidays = \[.*?\]\n": extra,
            r"(?m)^opens = .*$": "opens = 2020-01-01",
            r"(?m)^event_date = .*$": "event_date = 2030-01-01",
            r'(?ms)(id = "plan".*?)^deadline = .*?$': f"\\1deadline = {deadline}",
        },
    )
    config = configmod.load(path)
    assert config.reminders.holidays == () or extra
    return config


def _step_days(config: configmod.Config) -> list[dt.date]:
    campaign = config.campaigns[0]
    doc = campaign.document("plan")
    plan = doc.reminders or config.reminders.plan
    plan = dataclasses.replace(plan, before_days=tuple(range(1, 15)))  # a reminder every day it may go
    return [s.due.date() for s in reminders.steps(config, campaign, doc, plan)]


def test_no_reminder_on_tet_2027_or_a_weekend_without_a_holidays_list(tmp_path) -> None:
    config = _without_holidays(tmp_path, "2027-02-12")
    days = _step_days(config)
    tet = {dt.date(2027, 2, d) for d in range(4, 11)}  # 29 Tết to the fifth day: 4-10 February 2027
    assert days and not tet & set(days), days
    assert all(d.weekday() < 5 for d in days)
    assert dt.date(2027, 2, 3) in days and dt.date(2027, 2, 11) in days  # the working days around Tết
    store = Store(config.state_dir)
    try:  # and at the hour itself, on Lunar New Year's Eve: nothing due
        assert reminders.due(config, store, dt.datetime(2027, 2, 5, 10, 0, tzinfo=TZ)) == []
    finally:
        store.close()


def test_substituted_days_off_and_make_up_saturdays(tmp_path) -> None:
    days = _step_days(_without_holidays(tmp_path, "2026-09-04"))
    # 31/8/2026 is a day off in exchange for Saturday 22/8, which is worked (the Government's decision)
    assert dt.date(2026, 8, 31) not in days and dt.date(2026, 9, 1) not in days and dt.date(2026, 9, 2) not in days
    assert dt.date(2026, 8, 22) in days
    (tmp_path / "own").mkdir()
    own = _without_holidays(
        tmp_path / "own", "2026-09-04", "holidays = [2026-08-27]\nworkdays = [2026-08-29]\n"
    )  # the Department's own
    days = _step_days(own)
    assert dt.date(2026, 8, 27) not in days and dt.date(2026, 8, 29) in days
