"""Dates and times as they are written in Vietnamese official letters."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo


def long_date(day: dt.date) -> str:
    """'ngày 01 tháng 4 năm 2021': day padded; months 1 and 2 padded too, as official letters write them."""
    month = f"{day.month:02d}" if day.month < 3 else str(day.month)
    return f"ngày {day.day:02d} tháng {month} năm {day.year}"


def short_date(day: dt.date) -> str:
    return f"{day.day:02d}/{day.month:02d}/{day.year}"


def time_and_date(when: dt.datetime, tz: ZoneInfo) -> str:
    """'09 giờ 15 phút, ngày 29 tháng 3 năm 2021' in the given zone."""
    t = when.astimezone(tz)
    return f"{t.hour:02d} giờ {t.minute:02d} phút, {long_date(t.date())}"


def short_time(when: dt.datetime, tz: ZoneInfo) -> str:
    t = when.astimezone(tz)
    return f"{t.hour:02d}:{t.minute:02d} {short_date(t.date())}"


def deadline_text(deadline: dt.datetime, tz: ZoneInfo) -> str:
    """A deadline at the end of a day reads 'hết ngày 01 tháng 4 năm 2021'."""
    t = deadline.astimezone(tz)
    if (t.hour, t.minute) == (23, 59):
        return f"hết {long_date(t.date())}"
    return f"{t.hour:02d} giờ {t.minute:02d} phút, {long_date(t.date())}"


def size_text(size: int) -> str:
    """'512 byte', '45,3 KB', '1,2 MB' (decimal comma)."""
    if size < 1024:
        return f"{size} byte"
    for unit, scale in (("KB", 1024), ("MB", 1024**2), ("GB", 1024**3)):
        if size < scale * 1024 or unit == "GB":
            return f"{size / scale:.1f} {unit}".replace(".", ",")
    raise AssertionError("unreachable")
