"""Vietnam's working days, for reminders: weekends and public holidays off, from the maintained
`holidays` package (Tết and Giỗ Tổ Hùng Vương move with the lunar calendar; substituted days off
and the Saturdays worked in exchange are announced each year), adjusted by the configuration:
`[reminders] holidays` (extra days off the Department declares) and `workdays` (days it works).
"""

from __future__ import annotations

import datetime as dt
import functools

import holidays

from mailbot.config import Reminders


class WorkCalendar:
    def __init__(self, days_off: tuple[dt.date, ...] = (), workdays: tuple[dt.date, ...] = ()) -> None:
        self.days_off = frozenset(days_off)
        self.workdays = frozenset(workdays)
        self._country = holidays.country_holidays("VN")  # years filled in on first look-up, offline

    def is_working_day(self, day: dt.date) -> bool:
        if day in self.workdays:
            return True
        if day in self.days_off:
            return False
        return bool(self._country.is_working_day(day))  # weekends, holidays and make-up Saturdays

    def shift(self, day: dt.date, direction: int) -> dt.date:
        """`day`, or the nearest working day before it (-1) or after it (+1)."""
        while not self.is_working_day(day):
            day += dt.timedelta(days=direction)
        return day


@functools.lru_cache(maxsize=8)
def calendar(reminders: Reminders) -> WorkCalendar:
    """The calendar of a configuration (made once: the reminder jobs ask every few minutes)."""
    return WorkCalendar(reminders.holidays, reminders.workdays)
