"""Scheduled jobs in the daemon loop: guarded, run at start, no wait past the next one."""

from __future__ import annotations

import datetime as dt
import logging
import threading

import schedule

from mailbot import config as configmod
from mailbot.jobs import guarded, scheduler_for
from mailbot.runtime import open_runner, source_for
from mailbot.service.daemon import Daemon
from tests.conftest import write_config


def test_a_failing_job_is_logged_and_not_rerun_in_a_hot_loop(caplog) -> None:
    calls = []

    def broken() -> None:
        calls.append(1)
        raise RuntimeError("lỗi thử")

    scheduler = schedule.Scheduler()
    job = scheduler.every(10).minutes.do(guarded("broken", broken))
    with caplog.at_level(logging.ERROR):
        scheduler.run_all()
        for _ in range(100):
            scheduler.run_pending()
    assert calls == [1]  # not again and again
    assert job.next_run > dt.datetime.now() + dt.timedelta(minutes=9)
    assert "scheduled job broken failed" in caplog.text


def test_the_daemon_loop_runs_jobs_at_start_and_between_waits(tmp_path, smtp_server) -> None:
    recorder, port = smtp_server
    config = configmod.load(
        write_config(
            tmp_path, port, {r'(?m)^to = \["ddthong@dongthap.gov.vn"\].*$': 'to = ["ddthong@dongthap.gov.vn"]'}
        )
    )
    stop = threading.Event()
    ran: list[str] = []
    source = source_for(config)
    with open_runner(config, 1, source) as runner:
        jobs = scheduler_for(runner)  # the real jobs: no reminder due in 2026 for a 2021 campaign
        jobs.every(1).seconds.do(guarded("probe", lambda: (ran.append("probe"), len(ran) >= 3 and stop.set())))
        assert jobs.idle_seconds is not None and jobs.idle_seconds <= 1
        daemon = Daemon(config)
        daemon.stop = stop
        watchdog = threading.Timer(20, stop.set)
        watchdog.start()
        try:
            daemon.run(runner, source, jobs)
        finally:
            watchdog.cancel()
    assert ran == ["probe", "probe", "probe"]  # once at start, then each second (the wait is bounded by it)
    # the digest of the latest digest time, made once at start and sent; no reminder
    assert [m["kind"] for m in runner.store.outbox.all()] == ["digest"]
    [mail] = recorder.parsed()
    assert mail["To"] == "ddthong@dongthap.gov.vn" and mail["Auto-Submitted"] == "auto-generated"
