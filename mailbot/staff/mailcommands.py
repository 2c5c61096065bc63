"""Staff work by e-mail: a command in the first line of a mail (or its Subject), answered by mail.

A mail from a `[staff] addresses` address that our own server authenticated is classified
`staff-command` (analysis/rules/staff.py; an unauthenticated one is `suspicious` and never obeyed).
The runner records it; once recorded, run_pending() carries each command out once, answers the
staff member (threaded, auto-replied, not held by the per-recipient cap: it is the answer to a
person's request) and marks the record done in the same commit as the answer.

Each command is a small class with its words, a form, an example and one `run()` (as in
Mailman's email commands). Words are matched without regard to case or diacritics.

A command that changes something (giao, bỏ qua, nhắc) is obeyed only when it answers mailbot: its
In-Reply-To or References, covered by the sender's signature, names a digest or a command answer
mailbot sent, it is no forward, and its Date is within COMMAND_MAX_AGE of its arrival (a forwarded
staff mail or an old one replayed is refused, and the staff member told why). Questions (trạng
thái, xem xét, danh sách trực, hướng dẫn) may come as new mail. Every answer goes to the
authenticated From address only, never to Reply-To.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mailbot.analysis.textnorm import fold
from mailbot.errors import MailbotError
from mailbot.register.store import parse_iso, utc_iso
from mailbot.replies import reminders
from mailbot.replies.reply import compose_mail, reply_message_id, reply_subject, sendable
from mailbot.replies.timefmt import time_and_date
from mailbot.staff import mailhelp, review, roster, status

if TYPE_CHECKING:
    from mailbot.pipeline import Runner

log = logging.getLogger(__name__)

COMMAND_MAX_AGE = dt.timedelta(days=mailhelp.MAX_AGE_DAYS)  # a changing command's Date, before its arrival
CLOCK_SKEW = dt.timedelta(minutes=30)  # a sender's clock ahead of ours by this much is still believed
ANSWERED_KINDS = ("digest", "command")  # mails of mailbot's that a changing command may answer
SENT = ("sent", "uncertain", "dry-run")  # outbox states of a mail that may have reached staff


@dataclass
class Answer:
    title: str
    lines: list[str] = field(default_factory=list)
    block: str = ""  # preformatted text (a table)
    show_help: bool = False
    html: str | None = None  # a whole page instead of the template's (the roster)
    attachments: list[tuple[str, str, bytes]] = field(default_factory=list)


class Command:
    words: tuple[str, ...] = ()  # folded
    changes = False  # changes the register or sends mail to others: obeyed only as an answer to mailbot
    form = ""
    example = ""
    what = ""

    def run(self, runner: Runner, args: list[str], original: list[str], by: dict[str, str]) -> Answer:
        raise NotImplementedError


def _wrong(text: str, command: Command) -> Answer:
    return Answer("Không thực hiện được lệnh", [text, f"Cách viết đúng: {command.form} (ví dụ: {command.example})."])


def _item(runner: Runner, review_id: str, command: Command) -> dict[str, Any] | Answer:
    """The open review item `review_id`, or the answer that says why not."""
    try:
        record = review.find(runner.store, review_id)
    except MailbotError:
        return _wrong(f"Không có thư {review_id.upper()} trong danh sách chờ xem xét.", command)
    closed = record.get("review_closed")
    if closed:
        action = review.ACTIONS.get(closed.get("action", ""), "đã xử lý")
        who = f" bởi {closed['by']}" if closed.get("by") else ""
        return Answer(
            f"{record['review_id']} đã được xử lý trước đó",
            [f"{record['review_id']} {action}{who} ({closed.get('at', '')}).", "Không thực hiện lại."],
        )
    return record


class Status(Command):
    words = ("trang", "thai")
    form, what, example = mailhelp.STATUS

    def run(self, runner: Runner, args: list[str], original: list[str], by: dict[str, str]) -> Answer:
        campaign = args[0] if args else None
        if campaign and runner.config.campaign(campaign) is None:
            ids = ", ".join(c.id for c in runner.config.campaigns)
            return _wrong(f"Không có chiến dịch “{original[0]}”; các mã chiến dịch: {ids}.", self)
        return Answer("Tình hình nộp tài liệu", block=status.render_table(runner.config, runner.store, campaign))


class Review(Command):
    words = ("xem", "xet")
    form, what, example = mailhelp.REVIEW

    def run(self, runner: Runner, args: list[str], original: list[str], by: dict[str, str]) -> Answer:
        items = review.open_items(runner.store)
        rows = [review.as_row(r, runner.config) for r in review.select(items, runner.config)]
        lines = [
            f"{r['id']}: trả lời “{review.suggestion(r, runner.config)}” để giao, “bỏ qua {r['id']} "
            f"<lý do>” nếu đã xử lý"
            for r in rows
        ]
        return Answer("Thư chờ xem xét", lines, block=review.render(rows, runner.config, waiting=len(items)))


class Assign(Command):
    words = ("giao",)
    changes = True
    form, what, example = mailhelp.ASSIGN

    def run(self, runner: Runner, args: list[str], original: list[str], by: dict[str, str]) -> Answer:
        config = runner.config
        remember = len(args) >= 2 and args[-2:] == ["ghi", "nho"]
        rest = original[: len(original) - 2] if remember else original
        if len(rest) < 2:
            return _wrong("Lệnh giao cần mã thư và mã đơn vị.", self)
        item = _item(runner, rest[0], self)
        if isinstance(item, Answer):
            return item
        org = config.organization(rest[1].lower())
        if org is None:
            ids = ", ".join(o.id for o in config.organizations)
            return _wrong(f"Không có đơn vị “{rest[1]}”; các mã đơn vị: {ids}.", self)
        known_docs = {d.id for c in config.campaigns for d in c.documents}
        docs = [d.lower() for d in rest[2:]]
        unknown = [d for d in docs if d not in known_docs]
        if unknown:
            return _wrong(
                f"Không có tài liệu “{', '.join(unknown)}”; các mã tài liệu: {', '.join(sorted(known_docs))}.", self
            )
        from mailbot.staff.commands import do_assign  # the same action as `mailbot assign`

        try:
            text = do_assign(
                runner,
                {
                    "id": item["review_id"],
                    "organization": org.id,
                    "documents": docs,
                    "remember_sender": remember,
                    "by": by,
                },
            )
        except review.Interrupted:
            raise  # mailbot is stopping: run_pending leaves the command for the next start
        except MailbotError as exc:
            return _wrong(f"Không giao được {item['review_id']}: {exc}.", self)
        return Answer(f"Đã giao {item['review_id']} cho {org.name}", text.splitlines())


class Dismiss(Command):
    words = ("bo", "qua")
    changes = True
    form, what, example = mailhelp.DISMISS

    def run(self, runner: Runner, args: list[str], original: list[str], by: dict[str, str]) -> Answer:
        if not original:
            return _wrong("Lệnh bỏ qua cần mã thư.", self)
        item = _item(runner, original[0], self)
        if isinstance(item, Answer):
            return item
        from mailbot.staff.commands import do_dismiss

        reason = " ".join(original[1:])
        text = do_dismiss(runner, {"id": item["review_id"], "reason": reason, "by": by})
        return Answer(f"Đã bỏ qua {item['review_id']}", [text] + ([f"Lý do: {reason}"] if reason else []))


class Roster(Command):
    words = ("danh", "sach", "truc")
    form, what, example = mailhelp.ROSTER

    def run(self, runner: Runner, args: list[str], original: list[str], by: dict[str, str]) -> Answer:
        config = runner.config
        try:
            campaign, doc = roster.roster_document(config, args[0] if args else None)
        except MailbotError:
            ids = ", ".join(c.id for c in config.campaigns)
            return _wrong(f"Không có danh sách trực trong chiến dịch “{' '.join(original)}”; các mã: {ids}.", self)
        rosters = roster.gather(config, runner.store, campaign, doc)
        today = runner.clock().astimezone(config.timezone).date()
        page = roster.to_html(rosters, runner.templates, config, campaign, doc, today.strftime("%d/%m/%Y"))
        xlsx = roster.to_xlsx(rosters, f"{doc.name} – {campaign.title}")
        missing = [r.organization.name for r in rosters if r.missing]
        people = sum(len(r.rows) for r in rosters)
        lines = [f"{people} người trực của {len(rosters) - len(missing)} đơn vị; tệp Excel kèm theo."]
        if missing:
            lines.append("Chưa gửi danh sách: " + ", ".join(missing) + ".")
        name = f"danh-sach-truc-{campaign.id}-{today.isoformat()}.xlsx"
        xlsx_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        return Answer(f"Danh sách trực: {doc.name}", lines, html=page, attachments=[(name, xlsx_type, xlsx)])


class Remind(Command):
    words = ("nhac",)
    changes = True
    form, what, example = mailhelp.REMIND

    def run(self, runner: Runner, args: list[str], original: list[str], by: dict[str, str]) -> Answer:
        config = runner.config
        org_id = args[0] if args else None
        if org_id and config.organization(org_id) is None:
            ids = ", ".join(o.id for o in config.organizations)
            return _wrong(f"Không có đơn vị “{original[0]}”; các mã đơn vị: {ids}.", self)
        now = runner.clock()
        found = reminders.asked_now(config, runner.store, now, runner.known, org_id)
        for reminder in found:
            reminders.enqueue(config, runner.store, runner.templates, reminder, now)
        lines = [
            f"{r.organization.name} – {r.document.name}: {', '.join(r.to) or 'chưa có địa chỉ, không gửi được'}"
            for r in found
        ]
        return Answer(
            f"Đã gửi {len(found)} thư nhắc" if found else "Không có thư nhắc nào cần gửi hôm nay",
            lines or ["Các đơn vị đã nộp đủ, chưa đến hạn nhắc, hoặc đã được nhắc hôm nay."],
        )


class Help(Command):
    words = ("huong", "dan")
    form, what, example = mailhelp.HELP

    def run(self, runner: Runner, args: list[str], original: list[str], by: dict[str, str]) -> Answer:
        return Answer("Hướng dẫn gửi lệnh qua thư", show_help=True)


COMMANDS: tuple[Command, ...] = (Status(), Review(), Assign(), Dismiss(), Roster(), Remind(), Help())


def find(line: str) -> tuple[Command | None, list[str], list[str]]:
    """The command a line names, with its arguments folded and as written."""
    original = line.split()
    folded = [fold(w) for w in original]
    for command in COMMANDS:
        n = len(command.words)
        if tuple(folded[:n]) == command.words:
            return command, folded[n:], original[n:]
    return None, folded, original


def execute(runner: Runner, record: dict[str, Any]) -> Answer:
    line = record.get("command") or ""
    command, args, original = find(line)
    if command is None:
        return Answer(
            "Không hiểu lệnh", [f"Không có lệnh “{line[:80]}”." if line else "Thư không có lệnh nào."], show_help=True
        )
    if command.changes:
        why = refusal(runner, record)
        if why:
            log.warning("staff command %s not carried out: %s", record["key"], why)
            return Answer(
                "Không thực hiện lệnh",
                [
                    why,
                    mailhelp.RULE,
                    "Nếu chính anh/chị gửi lệnh này, xin trả lời thư này với cùng dòng lệnh. "
                    "Nếu không, có thể thư của anh/chị đã bị người khác gửi lại: xin báo bộ phận quản trị.",
                ],
            )
    by = review.actor(record.get("from"), record["key"])
    return command.run(runner, args, original, by)


def refusal(runner: Runner, record: dict[str, Any]) -> str | None:
    """Why a command that changes something is not obeyed (Vietnamese), or None when it may be."""
    trust = record.get("command_trust")
    if trust is None:  # recorded before these checks existed: not obeyed now
        return "Thư được ghi nhận trước khi có quy định kiểm tra lệnh."
    if trust.get("forwarded"):
        return "Thư là thư chuyển tiếp (Forward), không phải lệnh do anh/chị viết gửi hộp thư."
    answered = [runner.store.outbox.get(mid) for mid in trust.get("answers", [])]
    if not any(m and m.get("kind") in ANSWERED_KINDS and m.get("status") in SENT for m in answered):
        return "Thư không phải là thư trả lời thư báo cáo hoặc thư trả lời lệnh của hộp thư."
    if not record.get("date"):
        return "Thư không có ngày gửi (Date)."
    sent, arrived = parse_iso(record["date"]), parse_iso(trust["arrived"])
    shown = sent.astimezone(runner.config.timezone).strftime("%H:%M ngày %d/%m/%Y")
    if sent > arrived + CLOCK_SKEW:
        return f"Thư ghi thời điểm gửi {shown}, muộn hơn lúc hộp thư nhận được thư."
    if sent < arrived - COMMAND_MAX_AGE:
        return f"Thư gửi lúc {shown}, quá {COMMAND_MAX_AGE.days} ngày trước khi hộp thư nhận được."
    return None


def run_pending(runner: Runner) -> int:
    """Carry out every staff command recorded and not yet done: each at most once, answered, committed.

    The start is committed before the command runs: a command during which mailbot died (a crash,
    the watchdog, a power cut) is not run again at the next start, where it would only stop the
    service again, but answered with what happened (see interrupted()). Stopping (SIGTERM) is no
    such death: a command given up for it is left to run at the next start."""
    done = 0
    for key in list(runner.store.commands):
        with runner.lock:
            record = runner.store.messages.get(key)
            if record is None or record.get("command_done"):
                continue
            if record.get("command_started"):
                answer = interrupted(runner, record)
            else:
                runner.store.update_message(key, {"command_started": utc_iso(runner.clock())})
                runner.store.commit()
                try:
                    answer = execute(runner, record)
                except review.Interrupted:  # mailbot is stopping: nothing was done, run it next time
                    runner.store.update_message(key, {"command_started": None})
                    runner.store.commit()
                    break
                except Exception as exc:  # a bug must not stop the service: the staff member is told
                    log.exception("staff command %s failed", key)
                    answer = Answer("Không thực hiện được lệnh", [f"Lỗi khi thực hiện: {type(exc).__name__}."])
            reply_key = _answer(runner, record, answer)
            runner.store.update_message(
                key, {"command_done": {"at": utc_iso(runner.clock()), "answer": reply_key, "title": answer.title}}
            )
            runner.store.commit()
        done += 1
    return done


def interrupted(runner: Runner, record: dict[str, Any]) -> Answer:
    """The answer to a command during which mailbot stopped abruptly: not run a second time."""
    log.error(
        "staff command %s was under way when mailbot last stopped abruptly: answered, not run again", record["key"]
    )
    line = (record.get("command") or "")[:80]
    return Answer(
        "Lệnh chưa thực hiện xong",
        [
            f"Hộp thư tự động đã dừng đột ngột trong khi thực hiện lệnh “{line}” "
            f"(bắt đầu lúc {time_and_date(parse_iso(record['command_started']), runner.config.timezone)}).",
            "Lệnh không được thực hiện lại tự động, để không làm dừng hộp thư thêm lần nữa.",
            "Đề nghị kiểm tra bằng lệnh “xem xét”: nếu thư vẫn còn trong danh sách chờ, có thể gửi lại lệnh "
            "hoặc xử lý thủ công; nếu lệnh lại không thực hiện được, xin báo người quản trị hệ thống.",
        ],
    )


def _answer(runner: Runner, record: dict[str, Any], answer: Answer) -> str | None:
    """The answer queued to the authenticated sender (reply.recipients, decided when the command was
    recorded); None when there is nobody to answer."""
    config, now = runner.config, runner.clock()
    to = record["command_trust"]["to"] if "command_trust" in record else [record["from"]]
    if not to:
        log.warning("staff command %s: nobody to answer (%s)", record["key"], answer.title)
        return None
    key = reply_message_id("command", record["key"], config.reply_from.rsplit("@", 1)[1])
    context = {
        "to": record["from"],
        "title": answer.title,
        "lines": answer.lines,
        "block": answer.block,
        "show_help": answer.show_help,
        "mailbox": config.reply_from,
        "signature": config.signature,
        "department": config.department,
        "commands": [{"form": c.form, "example": c.example, "what": c.what} for c in COMMANDS],
        "command_rule": mailhelp.RULE,
    }
    thread: list[tuple[str, str]] = []
    message_id = record.get("message_id") or ""
    if message_id and sendable(message_id):
        thread = [("In-Reply-To", f"<{message_id}>"), ("References", f"<{message_id}>")]
    subject = reply_subject(record.get("subject") or "", answer.title)
    mail = compose_mail(
        config,
        runner.templates,
        "command",
        context,
        to,
        subject,
        key,
        now,
        "auto-replied",
        thread,
        answer.attachments,
        answer.html,
    )
    runner.store.enqueue(
        {
            "key": key,
            "kind": "command",
            "to": to,
            "subject": subject,
            "message_key": record["key"],
            "raw_sha256": runner.store.put_blob(mail.raw, "raw", durable=False),
            "created_at": utc_iso(now),
            "status": "pending",
            "attempts": 0,  # not held by the per-recipient cap: a person asked for it
        }
    )
    return key
