"""Reminders to organizations that have not sent a required document.

Each document has a plan of steps (7, 3 and 1 days before the deadline, the
morning of the deadline, then every 2 days after it, 3 times at most). A step
falls on a working day at the configured hour, in the configured time zone:
steps before the deadline move to the previous working day, overdue steps to
the next. At any moment only the latest step already due is considered, and it
is sent once (its Message-ID is fixed): after downtime, one reminder per
pending document, never the whole backlog; a step stands only until the next
(the last one for one overdue interval). Nothing is sent on a day off,
before the hour, after the campaign's event, or to an organization that has
sent the document.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mailbot.config import Campaign, Config, Document, Organization, ReminderPlan
from mailbot.register.store import Store, cap_note, parse_iso, utc_iso
from mailbot.replies import workdays
from mailbot.replies.reply import Templates, compose_mail
from mailbot.replies.timefmt import deadline_text, time_and_date

if TYPE_CHECKING:
    from mailbot.pipeline import Runner

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Step:
    name: str  # before-7, deadline, overdue-1 ...
    due: dt.datetime  # aware, local


@dataclass(frozen=True)
class Reminder:
    campaign: Campaign
    organization: Organization
    document: Document
    step: Step
    to: list[str]

    def as_json(self) -> dict[str, Any]:
        return {
            "campaign": self.campaign.id,
            "organization": self.organization.id,
            "document": self.document.id,
            "to": self.to,
            "deadline": self.document.deadline.isoformat(),
            "step": self.step.name,
            "due": self.step.due.isoformat(),
        }


def steps(config: Config, campaign: Campaign, doc: Document, plan: ReminderPlan) -> list[Step]:
    tz, hour, days_off = config.timezone, config.reminders.hour, workdays.calendar(config.reminders)
    deadline = doc.deadline.astimezone(tz).date()
    days: list[tuple[str, dt.date]] = [
        (f"before-{n}", days_off.shift(deadline - dt.timedelta(days=n), -1)) for n in plan.before_days
    ]
    if plan.on_deadline:
        days.append(("deadline", days_off.shift(deadline, -1)))
    last = deadline
    for k in range(1, plan.overdue_max + 1):  # every N days counted from the previous reminder
        last = days_off.shift(last + dt.timedelta(days=plan.overdue_every_days), +1)
        days.append((f"overdue-{k}", last))
    by_day: dict[dt.date, str] = {}
    for name, day in days:  # two steps moved onto one day: the later step speaks
        by_day[day] = name
    out = []
    for day, name in sorted(by_day.items()):
        if campaign.opens and day < campaign.opens:
            continue
        if campaign.event_date and day > campaign.event_date:
            continue  # after the event the document is of no use
        out.append(Step(name, dt.datetime.combine(day, hour, tzinfo=tz)))
    return out


def message_id(campaign: str, organization: str, document: str, step: str, domain: str) -> str:
    digest = hashlib.sha256(f"remind\0{campaign}\0{organization}\0{document}\0{step}".encode()).hexdigest()[:32]
    return f"remind.{digest}@{domain}"


def organization_senders(store: Store, known: dict[str, str]) -> dict[str, set[str]]:
    """Addresses that sent each organization's authenticated, non-automated mail, and those staff confirmed."""
    out: dict[str, set[str]] = {}
    for record in store.messages.all():
        org, sender, auth = record.get("organization"), record.get("from"), record.get("auth") or {}
        if not org or not sender or record.get("disposition") not in ("submission", "correspondence"):
            continue
        # aligned with the From domain (records from before alignment was kept: a DMARC pass)
        if auth.get("trusted") and (auth.get("aligned") if "aligned" in auth else auth.get("dmarc") == "pass"):
            out.setdefault(org, set()).add(sender.lower())
    for address, org in known.items():
        out.setdefault(org, set()).add(address)
    return out


def _owed(
    config: Config,
    store: Store,
    campaign: Campaign,
    doc: Document,
    step: Step,
    senders: Callable[[], dict[str, set[str]]],
    only: str | None = None,
) -> list[Reminder]:
    """A reminder at `step` for each organization asked for `doc` that has not sent it (`only`: that
    one) and has had none at this step yet."""
    domain = config.reply_from.rsplit("@", 1)[1]
    out = []
    for org in config.organizations:
        if only and org.id != only:
            continue
        if org.id not in doc.organizations or store.latest_submission(campaign.id, org.id, doc.id):
            continue
        if store.outbox.get(message_id(campaign.id, org.id, doc.id, step.name, domain)) is not None:
            continue
        to = sorted({*(c.lower() for c in org.contacts), *senders().get(org.id, set())})
        out.append(Reminder(campaign, org, doc, step, to))
    return out


def due(config: Config, store: Store, now: dt.datetime, known: dict[str, str] | None = None) -> list[Reminder]:
    """The reminders to send at `now` (none twice: those already in the outbox are left out)."""
    local = now.astimezone(config.timezone)
    if not workdays.calendar(config.reminders).is_working_day(local.date()) or local.time() < config.reminders.hour:
        return []
    senders = functools.cache(lambda: organization_senders(store, known or {}))  # read only when one is owed
    out = []
    for campaign in config.campaigns:
        for doc in campaign.documents:
            if doc.reminders is None:
                continue
            plan = steps(config, campaign, doc, doc.reminders)
            ready = [s for s in plan if s.due <= local]
            if not ready:
                continue
            step = ready[-1]
            # a step stands until the next one; the last for one overdue interval: a daemon back
            # after months sends nothing for a campaign long over
            later = plan[len(ready) :]
            until = later[0].due if later else step.due + dt.timedelta(days=max(doc.reminders.overdue_every_days, 1))
            if local >= until:
                continue
            out += _owed(config, store, campaign, doc, step, senders)
    return out


def asked_now(
    config: Config, store: Store, now: dt.datetime, known: dict[str, str] | None = None, organization: str | None = None
) -> list[Reminder]:
    """Reminders staff ask for now (`nhắc`): every pending document whose first reminder day has come,
    whatever the hour or the day; one per organization and document a day (the step is the date)."""
    local = now.astimezone(config.timezone)
    step = Step(f"asked-{local.date().isoformat()}", local)
    senders = functools.cache(lambda: organization_senders(store, known or {}))
    out = []
    for campaign in config.campaigns:
        if campaign.event_date and local.date() > campaign.event_date:
            continue
        for doc in campaign.documents:
            plan = steps(config, campaign, doc, doc.reminders or config.reminders.plan)
            if plan and plan[0].due <= local:
                out += _owed(config, store, campaign, doc, step, senders, organization)
    return out


def enqueue(config: Config, store: Store, templates: Templates, reminder: Reminder, now: dt.datetime) -> dict[str, Any]:
    """Into the outbox (pending, suppressed by the cap, or no-recipient: the digest reports it)."""
    tz = config.timezone
    campaign, org, doc = reminder.campaign, reminder.organization, reminder.document
    domain = config.reply_from.rsplit("@", 1)[1]
    key = message_id(campaign.id, org.id, doc.id, reminder.step.name, domain)
    submitted = []
    for other in campaign.documents:
        sub = store.latest_submission(campaign.id, org.id, other.id)
        if sub is not None:
            submitted.append(
                {
                    "name": other.name,
                    "receipt": sub["receipt"],
                    "received": time_and_date(parse_iso(sub["received_at"]), tz),
                }
            )
    context = {
        "organization": org.name,
        "department": config.department,
        "mailbox": config.reply_from,
        "campaign": campaign.title,
        "reference": campaign.reference,
        "document": doc.name,
        "deadline": deadline_text(doc.deadline, tz),
        "days_left": (doc.deadline.astimezone(tz).date() - now.astimezone(tz).date()).days,
        "submitted": submitted,
        "contact": config.contact,
        "signature": config.signature,
    }
    subject = f"Đề nghị gửi {doc.name} – {deadline_text(doc.deadline, tz)}"
    mail = compose_mail(config, templates, "remind", context, reminder.to, subject, key, now)
    capped = store.capped(reminder.to, config.auto_reply_cap, now)
    status = "no-recipient" if not reminder.to else "suppressed" if capped else "pending"
    entry: dict[str, Any] = {
        "key": key,
        "kind": "reminder",
        "to": reminder.to,
        "subject": subject,
        "message_key": None,
        "raw_sha256": store.put_blob(mail.raw, "raw", durable=False),
        "created_at": utc_iso(now),
        "status": status,
        "attempts": 0,
        "campaign": campaign.id,
        "organization": org.id,
        "document": doc.id,
        "step": reminder.step.name,
    }
    if status == "no-recipient":
        entry["last_error"] = f"{org.name} chưa có địa chỉ liên hệ (contacts) hay thư xác thực nào"
    elif capped:
        entry["last_error"] = cap_note(config.auto_reply_cap, capped)
    return store.enqueue(entry)


def send_due(runner: Runner, now: dt.datetime) -> list[Reminder]:
    """Queue the reminders due at `now` and commit them (sent by the next flush)."""
    with runner.lock:
        found = due(runner.config, runner.store, now, runner.known)
        for reminder in found:
            enqueue(runner.config, runner.store, runner.templates, reminder, now)
        runner.store.commit()
    for reminder in found:
        log.info(
            "reminder %s for %s, %s, to %s",
            reminder.step.name,
            reminder.organization.id,
            reminder.document.id,
            ", ".join(reminder.to) or "nobody (no address known)",
        )
    return found
