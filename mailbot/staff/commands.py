"""Commands for the Department's staff: the review queue (review, assign, dismiss), reminders, the digest.

Each command is an action on a runner. Run alone, it opens the state itself; while
`mailbot run` holds the state, the action is handed to the daemon (handoff.py),
which carries it out with the same code.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mailbot import config as configmod
from mailbot.durable import atomic_write
from mailbot.errors import MailbotError, StateReadOnly
from mailbot.pipeline import Runner, utc_now
from mailbot.register.known import KnownSenders
from mailbot.replies import reminders
from mailbot.replies.timefmt import long_date
from mailbot.runtime import LockBusy, open_reader, open_runner, require_state
from mailbot.service import handoff, health
from mailbot.staff import backup, digest, review, roster, status


def parse_now(value: str | None, config: configmod.Config) -> dt.datetime:
    """--now: an ISO date-time; without an offset it is read in the configured time zone."""
    if not value:
        return utc_now()
    try:
        when = dt.datetime.fromisoformat(value)
    except ValueError:
        raise MailbotError(f"--now {value!r} is not an ISO date-time such as 2021-03-29T08:00:00+07:00") from None
    return when if when.tzinfo else when.replace(tzinfo=config.timezone)


# -- actions: (runner, params) -> the text to print ------------------------------------------------
def do_status(runner: Runner, params: dict[str, Any]) -> str:
    config, store, campaign = runner.config, runner.store, params.get("campaign")
    if campaign and config.campaign(campaign) is None:
        raise MailbotError(f"no campaign {campaign!r} in {config.path}")
    known = KnownSenders(config.state_dir)
    daemon = health.load(config.state_dir)
    running = daemon is not None and daemon.state != "stopped" and health.alive(daemon.pid)
    report = health.report(config, store, daemon, running, runner.clock())
    if params.get("json"):
        data = {
            "campaigns": status.campaign_rows(config, store, campaign),
            **status.counts(store),
            "known_senders": known.addresses,
            "health": report,
        }
        return json.dumps(data, ensure_ascii=False, indent=1)
    lines = [status.render_table(config, store, campaign)]
    lines += [
        f"Địa chỉ cán bộ đã xác nhận của {org.name}: {', '.join(known.of(org.id))}"
        for org in config.organizations
        if known.of(org.id)
    ]
    lines += ["", health.render(config, report)]
    return "\n".join(lines)


def do_review(runner: Runner, params: dict[str, Any]) -> str:
    since = dt.date.fromisoformat(params["since"]) if params.get("since") else None
    items = review.open_items(runner.store)
    chosen = review.select(
        items,
        runner.config,
        since,
        params.get("organization"),
        None if params.get("all") else params.get("limit") or review.SHOWN,
    )
    rows = [review.as_row(r, runner.config) for r in chosen]
    if params.get("json"):
        return json.dumps(rows, ensure_ascii=False, indent=1)
    text = review.render(rows, runner.config, waiting=len(items))
    closed = review.closed_items(runner.store, runner.config)[:10]
    if closed:  # the audit trail: who closed what, lately
        tz = runner.config.timezone
        text += "\n\nĐã xử lý gần đây:\n" + "\n".join(
            f"{c['id']} {c['action']} – {c['by']} – {dt.datetime.fromisoformat(c['at']).astimezone(tz):%H:%M %d/%m/%Y}"
            for c in closed
        )
    return text


def _open_item(runner: Runner, review_id: str) -> dict[str, Any]:
    record = review.find(runner.store, review_id)
    if record.get("review_closed"):
        raise MailbotError(f"{record['review_id']} was already handled ({record['review_closed']['action']})")
    return record


def do_assign(runner: Runner, params: dict[str, Any]) -> str:
    config = runner.config
    with runner.lock:
        record = _open_item(runner, params["id"])
        try:
            receipt, note = review.assign(
                runner,
                record,
                params["organization"],
                params.get("documents") or [],
                utc_now(),
                params.get("by") or review.actor(),
            )
        except BaseException:
            runner.store.rollback()  # nothing half-done reaches the register (the daemon commits later)
            raise
        runner.store.commit()
    sender = record.get("from")
    if params.get("remember_sender") and sender:
        KnownSenders(config.state_dir).add(sender, params["organization"])
        runner.known[sender.lower()] = params["organization"]  # a running daemon uses it at once
    flushed = runner.flush(ignore_backoff=True, beat=True)  # in the daemon's thread: the watchdog fed
    org = config.organization(params["organization"])
    name = org.name if org else params["organization"]
    lines = [f"{record['review_id']}: ghi nhận là tài liệu của {name}, số biên nhận {receipt}."]
    if note:
        lines.append(f"Thư xác nhận: {note}.")
    else:
        sent = "ghi ra tệp trong thư mục outbox (chạy thử)" if config.dry_run else f"đã gửi đến {sender}"
        lines.append("Thư xác nhận: " + (f"{sent}." if flushed.sent else "chưa gửi được, sẽ gửi lại ở lần chạy sau."))
    if params.get("remember_sender") and sender:
        lines.append(f"Từ nay thư từ {sender} được nhận là của {name}.")
    return "\n".join(lines)


def do_dismiss(runner: Runner, params: dict[str, Any]) -> str:
    with runner.lock:
        record = _open_item(runner, params["id"])
        by = params.get("by") or review.actor()
        review.close(runner.store, record, "dismissed", utc_now(), reason=params.get("reason") or "", **by)
        runner.store.commit()
    return f"{record['review_id']}: đã xử lý thủ công, không còn trong danh sách chờ xem xét."


def do_remind(runner: Runner, params: dict[str, Any]) -> str:
    config = runner.config
    now = parse_now(params.get("now"), config)
    if params.get("dry_run"):
        due = reminders.due(config, runner.store, now, runner.known)
    else:
        due = reminders.send_due(runner, now)
        flushed = runner.flush(ignore_backoff=True)
    if params.get("json"):
        return "\n".join(json.dumps(r.as_json(), ensure_ascii=False) for r in due)
    lines = [
        f"{r.organization.name} – {r.document.name} ({r.step.name}): "
        f"{', '.join(r.to) or '(chưa có địa chỉ: không gửi được)'}"
        for r in due
    ]
    if params.get("dry_run"):
        lines.append(f"Chạy thử: {len(due)} thư nhắc đến hạn, không gửi thư nào.")
    else:
        lines.append(
            f"Thư nhắc: {len(due)} đến hạn; đã gửi {flushed.sent}, chờ gửi lại {flushed.deferred}, "
            f"gửi lỗi {flushed.failed}."
        )
    return "\n".join(lines)


def do_digest(runner: Runner, params: dict[str, Any]) -> str:
    config = runner.config
    now = parse_now(params.get("now"), config)
    if params.get("dry_run"):
        return runner.templates.render("digest.txt.j2", digest.context(config, runner.store, now)).rstrip("\n")
    to = [params["to"].lower()] if params.get("to") else list(config.digest.to)
    if not to:
        raise MailbotError("no staff address: set [digest] to in the configuration, or give --to")
    # on demand: its own Message-ID, and the daily one still goes out at its time
    key = digest.digest_key(config, f"on demand {now.isoformat()} {' '.join(to)}")
    with runner.lock:
        digest.make(config, runner.store, runner.templates, now, to, key)
        runner.store.commit()
    flushed = runner.flush(ignore_backoff=True)
    return f"Báo cáo: {'đã gửi đến ' + ', '.join(to) if flushed.sent else 'chưa gửi được, sẽ gửi lại sau'}."


def do_roster(runner: Runner, params: dict[str, Any]) -> str:
    config, fmt, output = runner.config, params.get("format") or "csv", params.get("output")
    campaign, doc = roster.roster_document(config, params.get("campaign"))
    rosters = roster.gather(config, runner.store, campaign, doc)
    if fmt == "xlsx":
        if not output:
            raise MailbotError("--format xlsx needs --output FILE")
        data = roster.to_xlsx(rosters, f"{doc.name} – {campaign.title}")
    elif fmt == "html":
        today = long_date(utc_now().astimezone(config.timezone).date())
        data = roster.to_html(rosters, runner.templates, config, campaign, doc, today).encode("utf-8")
    else:
        data = roster.to_csv(rosters).encode("utf-8")
    missing = [r.organization.name for r in rosters if r.missing]
    note = f"Chưa gửi danh sách: {', '.join(missing)}." if missing else "Đã đủ danh sách của các đơn vị."
    if not output:
        return data.decode("utf-8").rstrip("\n")
    atomic_write(Path(output), data)
    people = sum(len(r.rows) for r in rosters)
    return f"Đã ghi {output}: {people} người của {len(rosters) - len(missing)} đơn vị. {note}"


def do_snapshot(runner: Runner, params: dict[str, Any]) -> str:
    """For `mailbot backup`: hard links to the register, taken between two commits."""
    with runner.lock:
        return str(backup.snapshot(runner.config.state_dir))


ACTIONS: dict[str, Callable[[Runner, dict[str, Any]], str]] = {
    "roster": do_roster,
    "snapshot": do_snapshot,
    "status": do_status,
    "review": do_review,
    "assign": do_assign,
    "dismiss": do_dismiss,
    "remind": do_remind,
    "digest": do_digest,
}


def serve_requests(runner: Runner) -> int:
    """In the daemon: carry out the staff requests waiting in the state folder."""
    return handoff.serve(
        runner.config.state_dir, {name: functools.partial(action, runner) for name, action in ACTIONS.items()}
    )


READ_ONLY = ("status", "review", "roster")  # actions that only read the register


def run_action(args: argparse.Namespace, action: str, params: dict[str, Any]) -> int:
    config = configmod.load(args.config)
    require_state(config)
    try:
        with open_runner(config) as runner:
            output = ACTIONS[action](runner, params)
    except StateReadOnly as exc:  # a read-only state folder: read it as it is, say so once
        if action not in READ_ONLY:
            raise
        with open_reader(config) as runner:
            output = ACTIONS[action](runner, params)
        print(f"mailbot: chú ý: {exc}", file=sys.stderr)
    except LockBusy as busy:  # the daemon runs: it does it
        answer = handoff.submit(config.state_dir, busy.pid, action, params)
        if not answer.get("ok"):
            raise MailbotError(answer.get("error") or "the running mailbot refused the request") from None
        output = answer["output"]
    if output:
        print(output)
    return 0


def _iso_date(text: str) -> str:
    try:
        return dt.date.fromisoformat(text).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date such as 2021-05-20") from None


def _command(action: str, *names: str) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        params = {name: getattr(args, name) for name in names}
        if params.get("output"):
            params["output"] = str(Path(params["output"]).resolve())  # the daemon may run elsewhere
        if "documents" in params:
            params["documents"] = [d.strip() for d in (params["documents"] or "").split(",") if d.strip()]
        return run_action(args, action, params)

    return run


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("roster", help="the consolidated duty roster: csv, xlsx or a printable html page")
    p.add_argument("--config", required=True)
    p.add_argument("--campaign")
    p.add_argument("--format", choices=["csv", "xlsx", "html"], default="csv")
    p.add_argument("--output", help="write here (required for xlsx); default: print")
    p.set_defaults(func=_command("roster", "campaign", "format", "output"))

    p = sub.add_parser("status", help="organizations x documents: on time, late or missing")
    p.add_argument("--config", required=True)
    p.add_argument("--campaign")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_command("status", "campaign", "json"))

    p = sub.add_parser("digest", help="the staff digest, now")
    p.add_argument("--config", required=True)
    p.add_argument("--now", help="the moment, ISO 8601 (default: now)")
    p.add_argument("--to", help="send to this address instead of [digest] to")
    p.add_argument("--dry-run", action="store_true", help="print the text version, send nothing")
    p.set_defaults(func=_command("digest", "now", "to", "dry_run"))

    p = sub.add_parser("remind", help="send the reminders due now to organizations that have not sent")
    p.add_argument("--config", required=True)
    p.add_argument("--now", help="the moment, ISO 8601 (default: now)")
    p.add_argument("--dry-run", action="store_true", help="list them, send nothing")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.set_defaults(func=_command("remind", "now", "dry_run", "json"))

    p = sub.add_parser("review", help="what waits for a person: unknown senders, suspicious, oversized ...")
    p.add_argument("--config", required=True)
    p.add_argument("--json", action="store_true")
    p.add_argument("--limit", type=int, metavar="N", help="the newest N items (default 50)")
    p.add_argument("--all", action="store_true", help="every item waiting")
    p.add_argument("--since", type=_iso_date, metavar="YYYY-MM-DD", help="items received on or after that day")
    p.add_argument("--organization", metavar="ID", help="items from (or claiming) that organization")
    p.set_defaults(func=_command("review", "json", "limit", "all", "since", "organization"))

    p = sub.add_parser("assign", help="confirm a queued message as an organization's submission")
    p.add_argument("--config", required=True)
    p.add_argument("id", metavar="ID", help="its review id, e.g. XL-0001")
    p.add_argument("organization", metavar="ORGANIZATION", help="an organization id from the configuration")
    p.add_argument("--documents", help="document ids, comma-separated (default: those recognised)")
    p.add_argument(
        "--remember-sender", action="store_true", help="from now on, mail from this address is this organization's"
    )
    p.set_defaults(func=_command("assign", "id", "organization", "documents", "remember_sender"))

    p = sub.add_parser("dismiss", help="a queued message was handled by hand")
    p.add_argument("--config", required=True)
    p.add_argument("id", metavar="ID")
    p.add_argument("--reason", help="a note for the register")
    p.set_defaults(func=_command("dismiss", "id", "reason"))
