"""Scheduled jobs of the daemon, driven by `schedule` in the same loop as the mailbox watch.

Every job is guarded: `schedule` lets a job's exception escape and then runs the
job again at once, in a hot loop. Jobs check whether they have work (a reminder
due, a digest not yet sent today) rather than trusting the wall clock to fire
them at an exact minute, so downtime and clock changes cost nothing; and
`schedule` is never asked for time zones (it needs pytz for them).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import schedule

from mailbot.pipeline import Runner
from mailbot.replies import reminders
from mailbot.staff import digest

log = logging.getLogger(__name__)

CHECK_MINUTES = 5  # how often the jobs look for work: a reminder due, today's digest not yet made


def guarded(name: str, job: Callable[[], object]) -> Callable[[], None]:
    def run() -> None:
        try:
            job()
        except Exception:  # logged; the daemon and the next run of the job go on
            log.exception("scheduled job %s failed; it runs again at its next time", name)

    return run


def scheduler_for(runner: Runner) -> schedule.Scheduler:
    scheduler = schedule.Scheduler()
    scheduler.every(CHECK_MINUTES).minutes.do(guarded("reminders", lambda: reminders.send_due(runner, runner.clock())))
    scheduler.every(CHECK_MINUTES).minutes.do(guarded("digest", lambda: digest.send_due(runner, runner.clock())))
    return scheduler
