"""A clock a year ahead, then corrected (issue 26): what was stamped in the future never says
"done" or "recent". The digest comes at the next digest time, mails stamped ahead do not count
toward the per-recipient cap, a retry is not put off for a year, a backup named in the future
does not push out the one just made, a handoff answer from the future is cleaned."""

from __future__ import annotations

import datetime as dt
import email
import email.utils
import os
import time
from email.policy import default
from zoneinfo import ZoneInfo

from mailbot import config as configmod
from mailbot.runtime import open_runner, source_for
from mailbot.service import handoff
from mailbot.staff import digest
from tests.conftest import build, deliver, mailbot, write_config

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
DAY = dt.datetime(2021, 4, 5, tzinfo=TZ)  # a Monday
YEAR = dt.timedelta(days=365)
DIGEST_TO = {r'(?m)^to = \["ddthong@dongthap.gov.vn"\].*$': 'to = ["ddthong@dongthap.gov.vn"]'}


def _arrive(tmp_path, runner, source, n: int, now: dt.datetime, sender: str = "kt@vnpt.vn") -> None:
    runner.clock = lambda: now
    date = email.utils.format_datetime(now)
    raw = build(
        sender=sender, subject=f"Phương án số {n}", headers={"Date": date}, files=((f"PA{n}.docx", bytes([n])),)
    )
    deliver(tmp_path, raw, f"{n}.eml")
    runner.run_pass(source)


def _arrivals(runner, entry: dict) -> str:
    raw = runner.store.blob_path(entry["raw_sha256"], "raw").read_bytes()
    body = email.message_from_bytes(raw, policy=default).get_body(("plain",)).get_content()
    return body.split("II. THƯ MỚI ĐẾN")[1].split("III. ")[0]


def test_a_digest_made_a_year_ahead_covers_no_day(tmp_path, smtp_server) -> None:
    _, port = smtp_server
    config = configmod.load(write_config(tmp_path, port, DIGEST_TO))
    source = source_for(config)
    with open_runner(config) as runner:
        assert digest.send_due(runner, DAY.replace(hour=7, minute=31) - dt.timedelta(days=1)) is not None
        _arrive(tmp_path, runner, source, 1, DAY.replace(hour=6))
        ahead = digest.send_due(runner, DAY.replace(hour=8) + YEAR)  # the clock a year ahead
        assert ahead is not None
        _arrive(tmp_path, runner, source, 2, DAY.replace(hour=9))  # corrected
        assert digest.send_due(runner, DAY.replace(hour=9, minute=5)) is not None  # D's own digest, now
        assert digest.send_due(runner, DAY.replace(hour=18)) is None  # once a day still
        _arrive(tmp_path, runner, source, 3, DAY.replace(hour=20))
        following = digest.send_due(runner, DAY.replace(hour=7, minute=31) + dt.timedelta(days=1))
        assert following is not None  # the next day too, not a year later
        texts = [_arrivals(runner, m) for m in runner.store.outbox.all() if m.get("day")]
        assert len(texts) == 4
    # every message in exactly one digest: the one of the corrected day does not repeat the year-ahead
    # one's, nor the next day's the corrected day's
    for n in (1, 2, 3):
        assert sum(f"Phương án số {n}" in t for t in texts) == 1, (n, texts)


def test_mails_stamped_a_year_ahead_do_not_count_toward_the_cap(tmp_path, smtp_server) -> None:
    recorder, port = smtp_server
    config = configmod.load(write_config(tmp_path, port))
    assert config.auto_reply_cap == 10
    source = source_for(config)
    with open_runner(config) as runner:
        for n in range(1, 11):  # ten acknowledgements while the clock is a year ahead
            _arrive(tmp_path, runner, source, n, DAY.replace(hour=8, minute=n) + YEAR)
        _arrive(tmp_path, runner, source, 11, DAY.replace(hour=10))  # corrected: the carrier sends again
        runner.flush(ignore_backoff=True)
        statuses = [m["status"] for m in runner.store.outbox.all()]
    assert statuses == ["sent"] * 11, statuses
    assert len(recorder.messages) == 11


def test_the_cap_still_holds_for_mails_of_the_last_day(tmp_path, smtp_server) -> None:
    """The rule does not open the cap: ten in the last hours, the eleventh is held back."""
    recorder, port = smtp_server
    config = configmod.load(write_config(tmp_path, port))
    source = source_for(config)
    with open_runner(config) as runner:
        for n in range(1, 12):
            _arrive(tmp_path, runner, source, n, DAY.replace(hour=8, minute=n))
        statuses = [m["status"] for m in runner.store.outbox.all()]
    assert statuses == ["pending"] * 10 + ["suppressed"]


def test_a_retry_time_set_a_year_ahead_is_not_waited_for(tmp_path) -> None:
    """An SMTP refusal while the clock ran ahead set the next attempt a year later; corrected,
    the mail goes at the next flush (no longer than the longest backoff), once."""
    from tests.conftest import smtp_sink

    with smtp_sink() as (recorder, port):
        config = configmod.load(write_config(tmp_path, port))
        source = source_for(config)
        with open_runner(config) as runner:
            _arrive(tmp_path, runner, source, 1, DAY.replace(hour=8))
            (mail,) = runner.store.pending_mail()
            later = (DAY.replace(hour=8) + YEAR + dt.timedelta(minutes=2)).isoformat()
            with runner.lock:
                runner.store.update_mail(mail["key"], {"attempts": 1, "next_attempt": later, "last_error": "451"})
                runner.store.commit()
            runner.clock = lambda: DAY.replace(hour=8, minute=5)
            done = runner.flush()
            assert (done.sent, done.deferred) == (1, 0)
            assert runner.flush().sent == 0
    assert len(recorder.messages) == 1


def test_a_retry_within_its_backoff_still_waits(tmp_path, smtp_server) -> None:
    recorder, port = smtp_server
    config = configmod.load(write_config(tmp_path, port))
    source = source_for(config)
    with open_runner(config) as runner:
        _arrive(tmp_path, runner, source, 1, DAY.replace(hour=8))
        (mail,) = runner.store.pending_mail()
        later = (DAY.replace(hour=8) + dt.timedelta(minutes=30)).isoformat()
        with runner.lock:
            runner.store.update_mail(mail["key"], {"attempts": 3, "next_attempt": later})
            runner.store.commit()
        assert runner.flush().deferred == 1
    assert recorder.messages == []


def test_backups_named_a_year_ahead_do_not_push_out_the_new_one(tmp_path, smtp_server) -> None:
    _, port = smtp_server
    config_path = write_config(tmp_path, port)
    deliver(tmp_path, build(subject="Phương án", files=(("PA.docx", b"1"),)), "1.eml")
    assert mailbot("run", "--config", str(config_path), "--once").returncode == 0
    to = tmp_path / "backups"
    future = dt.datetime.now(TZ) + YEAR
    made = []
    for n in range(2):  # two backups made while the clock ran ahead
        name = f"mailbot-{(future + dt.timedelta(days=n)).strftime('%Y%m%d-%H%M%S')}"
        (to / name / "db").mkdir(parents=True)
        made.append(name)
    done = mailbot("backup", "--config", str(config_path), "--to", str(to), "--keep", "2")
    assert done.returncode == 0, done.stderr
    left = sorted(p.name for p in to.iterdir())
    assert len(left) == 2 and made[0] not in left, left  # the oldest in truth went, not the new one
    new = [n for n in left if n not in made]
    assert len(new) == 1 and (to / new[0] / "db").is_dir()


def test_a_handoff_answer_stamped_ahead_is_cleaned(tmp_path) -> None:
    folder = tmp_path / handoff.FOLDER
    folder.mkdir()
    answer = folder / f"x{handoff.ANSWER_SUFFIX}"
    answer.write_text("{}")
    year_on = time.time() + YEAR.total_seconds()
    os.utime(answer, (year_on, year_on))
    fresh = folder / f"y{handoff.ANSWER_SUFFIX}"
    fresh.write_text("{}")
    handoff.serve(tmp_path, {})
    assert not answer.exists() and fresh.exists()
