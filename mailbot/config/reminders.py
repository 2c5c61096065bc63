"""When organizations are reminded: the [reminders] plan, and a document's own plan over it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from mailbot.config.table import Section


@dataclass(frozen=True)
class ReminderPlan:
    before_days: tuple[int, ...] = (7, 3, 1)  # working-day mornings this many days before the deadline
    on_deadline: bool = True  # the morning of the deadline
    overdue_every_days: int = 2  # then every this many days after it ...
    overdue_max: int = 3  # ... at most this many times


@dataclass(frozen=True)
class Reminders:
    hour: dt.time = dt.time(8, 0)  # local time on working days
    holidays: tuple[dt.date, ...] = ()  # days off besides weekends and Vietnam's public holidays
    workdays: tuple[dt.date, ...] = ()  # days worked though off by the calendar (a Saturday in exchange)
    plan: ReminderPlan = ReminderPlan()


def reminder_plan(sec: Section, base: ReminderPlan) -> ReminderPlan:
    """The keys of a reminder plan, each defaulting to `base` (the [reminders] section's)."""
    before = sec.get("before_days", list, list(base.before_days), "a list of whole days")
    if not all(isinstance(d, int) and not isinstance(d, bool) and 0 < d <= 60 for d in before):
        raise sec.fail("before_days", "must list whole numbers of days between 1 and 60")
    every = sec.get("overdue_every_days", int, base.overdue_every_days, "a whole number of days")
    most = sec.get("overdue_max", int, base.overdue_max, "a whole number")
    if every < 1 or not 0 <= most <= 20:
        raise sec.fail("overdue_every_days" if every < 1 else "overdue_max", "is out of range")
    plan = ReminderPlan(
        before_days=tuple(sorted(set(before), reverse=True)),
        on_deadline=sec.get("on_deadline", bool, base.on_deadline),
        overdue_every_days=every,
        overdue_max=most,
    )
    return plan
