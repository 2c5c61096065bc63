"""Commands for the Department's staff: the review queue (review, assign, dismiss), reminders, the digest."""

from __future__ import annotations

import argparse
import datetime as dt
import json

from mailbot import config as configmod
from mailbot import digest, reminders, review
from mailbot.commands import open_runner, require_state
from mailbot.errors import MailbotError
from mailbot.pipeline import utc_now


def cmd_review(args: argparse.Namespace) -> int:
    config = configmod.load(args.config)
    require_state(config)
    with open_runner(config) as runner:
        rows = [review.as_row(r, config) for r in review.open_items(runner.store)]
    print(json.dumps(rows, ensure_ascii=False, indent=1) if args.json else review.render(rows, config))
    return 0


def cmd_assign(args: argparse.Namespace) -> int:
    config = configmod.load(args.config)
    require_state(config)
    documents = [d.strip() for d in (args.documents or "").split(",") if d.strip()]
    with open_runner(config) as runner:
        record = review.find(runner.store, args.id)
        if record.get("review_closed"):
            raise MailbotError(f"{record['review_id']} was already handled ({record['review_closed']['action']})")
        receipt, note = review.assign(runner, record, args.organization, documents, utc_now())
        runner.store.commit()
        if args.remember_sender and record.get("from"):
            review.KnownSenders(config.state_dir).add(record["from"], args.organization)
        flushed = runner.flush(ignore_backoff=True)
    org = config.organization(args.organization)
    print(f"{record['review_id']}: ghi nhận là tài liệu của {org.name if org else args.organization}, "
          f"số biên nhận {receipt}.")
    if note:
        print(f"Thư xác nhận: {note}.")
    else:
        sent = "ghi ra tệp trong thư mục outbox (chạy thử)" if config.dry_run else f"đã gửi đến {record.get('from')}"
        print("Thư xác nhận: " + (f"{sent}." if flushed.sent else "chưa gửi được, sẽ gửi lại ở lần chạy sau."))
    if args.remember_sender and record.get("from"):
        print(f"Từ nay thư từ {record['from']} được nhận là của {org.name if org else args.organization}.")
    return 0


def cmd_dismiss(args: argparse.Namespace) -> int:
    config = configmod.load(args.config)
    require_state(config)
    with open_runner(config) as runner:
        record = review.find(runner.store, args.id)
        if record.get("review_closed"):
            raise MailbotError(f"{record['review_id']} was already handled ({record['review_closed']['action']})")
        review.close(runner.store, record, "dismissed", utc_now(), reason=args.reason or "")
        runner.store.commit()
    print(f"{record['review_id']}: đã xử lý thủ công, không còn trong danh sách chờ xem xét.")
    return 0


def parse_now(value: str | None, config: configmod.Config) -> dt.datetime:
    """--now: an ISO date-time; without an offset it is read in the configured time zone."""
    if not value:
        return utc_now()
    try:
        when = dt.datetime.fromisoformat(value)
    except ValueError:
        raise MailbotError(f"--now {value!r} is not an ISO date-time such as 2021-03-29T08:00:00+07:00") from None
    return when if when.tzinfo else when.replace(tzinfo=config.timezone)


def cmd_remind(args: argparse.Namespace) -> int:
    config = configmod.load(args.config)
    require_state(config)
    now = parse_now(args.now, config)
    with open_runner(config) as runner:
        if args.dry_run:
            due = reminders.due(config, runner.store, now, runner.known)
        else:
            due = reminders.send_due(runner, now)
            flushed = runner.flush(ignore_backoff=True)
    if args.json:
        for reminder in due:
            print(json.dumps(reminder.as_json(), ensure_ascii=False))
        return 0
    for reminder in due:
        to = ", ".join(reminder.to) or "(chưa có địa chỉ: không gửi được)"
        print(f"{reminder.organization.name} – {reminder.document.name} ({reminder.step.name}): {to}")
    if args.dry_run:
        print(f"Chạy thử: {len(due)} thư nhắc đến hạn, không gửi thư nào.")
    else:
        print(f"Thư nhắc: {len(due)} đến hạn; đã gửi {flushed.sent}, chờ gửi lại {flushed.deferred}, "
              f"gửi lỗi {flushed.failed}.")
    return 0


def cmd_digest(args: argparse.Namespace) -> int:
    config = configmod.load(args.config)
    require_state(config)
    now = parse_now(args.now, config)
    to = [args.to.lower()] if args.to else list(config.digest.to)
    if not to and not args.dry_run:
        raise MailbotError("no staff address: set [digest] to in the configuration, or give --to")
    with open_runner(config) as runner:
        if args.dry_run:
            print(runner.templates.render("digest.txt.j2", digest.context(config, runner.store, now)))
            return 0
        # on demand: its own Message-ID, and the daily one still goes out at its time
        key = digest.daily_key(config, now.date()).replace("digest.", f"digest.now{int(now.timestamp())}.", 1)
        with runner.lock:
            digest.make(config, runner.store, runner.templates, now, to, key)
            runner.store.commit()
        flushed = runner.flush(ignore_backoff=True)
    print(f"Báo cáo: {'đã gửi đến ' + ', '.join(to) if flushed.sent else 'chưa gửi được, sẽ gửi lại sau'}.")
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("digest", help="the staff digest, now")
    p.add_argument("--config", required=True)
    p.add_argument("--now", help="the moment, ISO 8601 (default: now)")
    p.add_argument("--to", help="send to this address instead of [digest] to")
    p.add_argument("--dry-run", action="store_true", help="print the text version, send nothing")
    p.set_defaults(func=cmd_digest)

    p = sub.add_parser("remind", help="send the reminders due now to organizations that have not sent")
    p.add_argument("--config", required=True)
    p.add_argument("--now", help="the moment, ISO 8601 (default: now)")
    p.add_argument("--dry-run", action="store_true", help="list them, send nothing")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.set_defaults(func=cmd_remind)

    p = sub.add_parser("review", help="what waits for a person: unknown senders, suspicious, oversized ...")
    p.add_argument("--config", required=True)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_review)

    p = sub.add_parser("assign", help="confirm a queued message as an organization's submission")
    p.add_argument("--config", required=True)
    p.add_argument("id", metavar="ID", help="its review id, e.g. XL-0001")
    p.add_argument("organization", metavar="ORGANIZATION", help="an organization id from the configuration")
    p.add_argument("--documents", help="document ids, comma-separated (default: those recognised)")
    p.add_argument("--remember-sender", action="store_true",
                   help="from now on, mail from this address is this organization's")
    p.set_defaults(func=cmd_assign)

    p = sub.add_parser("dismiss", help="a queued message was handled by hand")
    p.add_argument("--config", required=True)
    p.add_argument("id", metavar="ID")
    p.add_argument("--reason", help="a note for the register")
    p.set_defaults(func=cmd_dismiss)
