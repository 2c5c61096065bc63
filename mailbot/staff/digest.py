"""The daily digest to staff: where each campaign stands, what arrived, what needs a person.

One digest per day, by the calendar day in the configured zone: the job sends the
digest of the latest digest time already passed unless a digest for that day or a
later one exists, so one missed during downtime goes out once at start-up, never two
in a day, and none for a day already covered, whatever the clock did (set back an
hour, forward a day and back). A digest made by a clock far ahead (a year, since corrected)
covers no day: the next one comes at the next digest time (clockskew.py). Each daily digest covers what was recorded since the
previous one was made, by the register's order, not by timestamps: a clock step can
neither drop a message from every digest nor show it twice.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from typing import TYPE_CHECKING, Any

from mailbot.clockskew import ahead
from mailbot.config import Config
from mailbot.register.store import Store, parse_iso, utc_iso
from mailbot.replies import sigtext
from mailbot.replies.reply import Templates, compose_mail
from mailbot.replies.timefmt import long_date, short_date, short_time, time_and_date
from mailbot.staff import mailhelp, review, roster, status

if TYPE_CHECKING:
    from mailbot.pipeline import Runner

log = logging.getLogger(__name__)

STEP_LABELS = {"deadline": "sáng ngày hết hạn"}
LATE_DAYS = 14  # a campaign stays in the digest this long after its event or last deadline


def step_label(step: str) -> str:
    if step.startswith("before-"):
        return f"trước hạn {step.split('-', 1)[1]} ngày"
    if step.startswith("overdue-"):
        return f"quá hạn, lần {step.split('-', 1)[1]}"
    if step.startswith("asked-"):
        return "theo yêu cầu của cán bộ"
    return STEP_LABELS.get(step, step)


def slot(config: Config, now: dt.datetime) -> dt.date:
    """The day of the latest digest time at or before `now` (local)."""
    local = now.astimezone(config.timezone)
    return local.date() if local.time() >= config.digest.time else local.date() - dt.timedelta(days=1)


def digest_key(config: Config, label: str) -> str:
    """A fixed Message-ID: the day's digest, or one asked for on demand."""
    digest = hashlib.sha256(f"digest\0{label}".encode()).hexdigest()[:32]
    return f"digest.{digest}@{config.reply_from.rsplit('@', 1)[1]}"


def daily_key(config: Config, day: dt.date) -> str:
    return digest_key(config, day.isoformat())


def _window(store: Store, now: dt.datetime) -> tuple[dt.datetime, int | None, int | None]:
    """Since when (for the text), and from which message and outbox record on, a digest reports:
    what the register received after the latest daily digest was made (by position, whatever
    the clock did); the last day by time before any daily digest, or one kept without positions."""
    last = store.last_digest
    if last is None:
        return now - dt.timedelta(days=1), None, None
    made = parse_iso(last["created_at"])
    since = now - dt.timedelta(days=1) if ahead(made, now) else made  # a stamp from a clock that ran ahead
    return since, last.get("messages_seen"), last.get("outbox_seen")


def _after(records: Any, first: int | None, since: dt.datetime, now: dt.datetime, stamp: Any) -> Any:
    """The records from position `first` on; without a position, those stamped in [since, now)."""
    for position, record in enumerate(records):
        if first is not None:
            if position >= first:
                yield record
        elif (when := stamp(record)) and since <= parse_iso(when) < now:
            yield record


def context(config: Config, store: Store, now: dt.datetime) -> dict[str, Any]:
    tz = config.timezone
    today = now.astimezone(tz).date()
    since, first_message, first_mail = _window(store, now)
    rows = status.campaign_rows(config, store)
    campaigns = []
    for campaign in config.campaigns:
        ends = max(
            [d.deadline.astimezone(tz).date() for d in campaign.documents]
            + ([campaign.event_date] if campaign.event_date else [])
        )
        if (campaign.opens and today < campaign.opens) or today > ends + dt.timedelta(days=LATE_DAYS):
            continue
        table = []
        for org in config.organizations:
            cells = []
            for doc in campaign.documents:
                row = next(
                    (
                        r
                        for r in rows
                        if r["campaign"] == campaign.id and r["organization"] == org.id and r["document"] == doc.id
                    ),
                    None,
                )
                if row is None:
                    cells.append({"status": "none", "text": "—"})
                elif row["status"] == "missing":
                    left = (doc.deadline.astimezone(tz).date() - today).days
                    note = f"còn {left} ngày" if left > 0 else "hạn hôm nay" if left == 0 else f"quá hạn {-left} ngày"
                    cells.append({"status": "missing", "text": f"{status.LABELS['missing']} ({note})"})
                else:
                    when = short_time(dt.datetime.fromisoformat(row["received_at"]), tz)
                    versions = f", {row['versions']} bản" if row["versions"] > 1 else ""
                    versions += f", {row['signed']}" if row.get("signed") else ""
                    cells.append(
                        {
                            "status": row["status"],
                            "text": f"{status.LABELS[row['status']]}: {row['receipt']}, {when}{versions}"
                            + status.told_note(row, tz),
                        }
                    )
            table.append({"organization": org.name, "cells": cells})
        duty = []
        for doc in campaign.documents:  # the roster, from the first list received to the day after the event
            event_over = campaign.event_date is not None and today > campaign.event_date + dt.timedelta(days=1)
            if not doc.roster or event_over:
                continue
            rosters = roster.gather(config, store, campaign, doc)
            if all(r.missing for r in rosters):
                continue
            duty += [
                {
                    "organization": r.organization.name,
                    "missing": r.missing,
                    "rows": [
                        {
                            "name": row["name"],
                            "position": row["position"],
                            "phones": ", ".join(p["display"] or p["text"] for p in row["phones"]) or "không có số",
                            "problems": "; ".join(row["problems"]),
                        }
                        for row in r.rows
                    ],
                }
                for r in rosters
            ]
        campaigns.append(
            {
                "title": campaign.title,
                "id": campaign.id,
                "table": table,
                "roster": duty,
                "documents": [
                    {"name": d.name, "deadline": short_date(d.deadline.astimezone(tz).date())}
                    for d in campaign.documents
                ],
            }
        )
    arrived: list[dict[str, Any]] = []
    failures: list[str] = []
    received = lambda m: m.get("received_at") or m.get("recorded_at")  # noqa: E731  when the Department got it
    for m in _after(store.messages.all(), first_message, since, now, received):
        stamp = received(m)
        if not stamp:
            continue
        sender_org = config.organization(m.get("organization") or "")
        arrived.append(
            {
                "time": short_time(parse_iso(stamp), tz),
                "from": m.get("from") or "?",
                "organization": sender_org.name if sender_org else "",
                "what": review.LABELS.get(m.get("disposition") or "", _DISPOSITIONS.get(m.get("disposition"), "")),
                "receipt": m.get("receipt") or "",
                "subject": m.get("subject") or "",
                "signatures": [
                    f"{'Tệp ' + s['file'] if s.get('file') else 'Thư'} {sigtext.describe(s, tz)}"
                    for s in m.get("signatures") or []
                ],
            }
        )
        if m.get("disposition") == "automated" and any("multipart/report" in r for r in m.get("reasons") or []):
            failures.append(f"Thư báo lỗi chuyển phát (bounce) từ {m.get('from') or '?'}: “{m.get('subject') or ''}”")
        if m.get("oversize"):
            failures.append(f"Thư quá lớn, không tải về: {m.get('from')} – “{m.get('subject') or ''}”")
        for att in m.get("attachments") or []:
            if att.get("defects"):
                failures.append(f"Tệp không đọc được: {att['filename']} ({m.get('from')}): {att['defects'][0]}")
    sent: list[dict[str, Any]] = []
    unsent: list[dict[str, Any]] = []
    for mail in _after(store.outbox.all(), first_mail, since, now, lambda m: m["created_at"]):
        if mail.get("kind") == "reminder":
            to_org = config.organization(mail.get("organization") or "")
            reminded = config.campaign(mail.get("campaign") or "")
            doc_of = reminded.document(mail.get("document") or "") if reminded else None
            item = {
                "organization": to_org.name if to_org else mail.get("organization"),
                "document": doc_of.name if doc_of else mail.get("document"),
                "step": step_label(mail.get("step", "")),
                "to": ", ".join(mail["to"]),
                "note": mail.get("last_error", ""),
            }
            (unsent if mail["status"] in ("no-recipient", "suppressed", "failed") else sent).append(item)
        if mail["status"] == "failed":
            failures.append(f"Thư gửi {', '.join(mail['to'])} không đi được: {mail.get('last_error', '')}")
        elif mail["status"] == "uncertain":
            failures.append(
                f"Thư gửi {', '.join(mail['to'])} không chắc đã gửi: hai lần mất kết nối ngay sau khi "
                f"gửi hết nội dung, có thể người nhận đã nhận (không gửi lại lần nữa)"
            )
    queue = [review.as_row(r, config) for r in review.open_items(store)]
    for row in queue:
        row["when"] = short_time(dt.datetime.fromisoformat(row["received_at"]), tz) if row["received_at"] else ""
        row["reply"] = review.suggestion(row, config)
    closed = [
        {**row, "when": short_time(parse_iso(row["at"]), tz)}
        for row in review.closed_items(store, config)
        if since <= parse_iso(row["at"]) < now
    ]

    return {
        "date": long_date(today),
        "short_date": short_date(today),
        "since": time_and_date(since, tz),
        "department": config.department,
        "mailbox": config.reply_from,
        "signature": config.signature,
        "campaigns": campaigns,
        "arrived": arrived,
        "reminders": sent,
        "unsent_reminders": unsent,
        "review": queue,
        "closed": closed,
        "commands": mailhelp.listing(),  # the digest invites replies with these
        "command_rule": mailhelp.RULE,
        "failures": failures,
    }


_DISPOSITIONS = {"submission": "nộp tài liệu", "automated": "thư tự động"}


def make(
    config: Config,
    store: Store,
    templates: Templates,
    now: dt.datetime,
    to: list[str],
    key: str,
    day: dt.date | None = None,
) -> dict[str, Any]:
    """Compose the digest and put it in the outbox (or find the one already there). `day`: the
    daily digest of that day, which the next one reports from (on demand ones report, never move)."""
    existing = store.outbox.get(key)
    if existing is not None:
        return existing
    ctx = context(config, store, now)
    subject = f"Báo cáo hộp thư {config.reply_from} ngày {ctx['short_date']}"
    mail = compose_mail(
        config, templates, "digest", ctx, to, subject, key, now, extra_headers=[("Reply-To", config.reply_from)]
    )
    ledger = (
        {"day": day.isoformat(), "messages_seen": len(store.messages), "outbox_seen": len(store.outbox)}
        if day is not None
        else {}
    )
    return store.enqueue(
        {
            "key": key,
            "kind": "digest",
            "to": to,
            "subject": subject,
            "message_key": None,
            "raw_sha256": store.put_blob(mail.raw, "raw", durable=False),
            "created_at": utc_iso(now),
            "status": "pending",
            "attempts": 0,
            **ledger,
        }
    )


def covers(last: dict[str, Any], day: dt.date, now: dt.datetime) -> bool:
    """The latest daily digest covers `day`: it is that day's, or a later one's made by a clock
    set back a little (an hour, see clockskew); one made more than that ahead (a clock a year
    ahead, since corrected) covers nothing."""
    return last["day"] >= day.isoformat() and not ahead(parse_iso(last["created_at"]), now)


def send_due(runner: Runner, now: dt.datetime) -> dict[str, Any] | None:
    """The daily digest, if today's (or a missed one) has not been made yet."""
    config = runner.config
    if not config.digest.to:
        return None
    day = slot(config, now)
    key = daily_key(config, day)
    with runner.lock:
        last = runner.store.last_digest
        if runner.store.outbox.get(key) is not None or (last is not None and covers(last, day, now)):
            return None
        entry = make(config, runner.store, runner.templates, now, list(config.digest.to), key, day)
        runner.store.commit()
    log.info("daily digest queued for %s", ", ".join(config.digest.to))
    return entry
