"""The review queue: what waits for a person, and what staff decide about it.

A message whose disposition needs a person gets a review id (XL-0001) when it is
recorded. Staff list the queue (`mailbot review`), confirm that a message is an
organization's submission (`mailbot assign`: a receipt, an acknowledgement, and
optionally the sender remembered), or close it by hand (`mailbot dismiss`).
"""

from __future__ import annotations

import datetime as dt
import getpass
import logging
import os
import unicodedata
from typing import TYPE_CHECKING, Any

from mailbot.analysis.rosters import read_rosters
from mailbot.analysis.workers import Abandoned, AnalysisTimeout, analyse, limit, run_bounded
from mailbot.config import Config
from mailbot.envelope import Envelope
from mailbot.errors import MailbotError
from mailbot.register.store import Store, parse_iso, utc_iso
from mailbot.replies.acknowledge import acknowledge, record_submissions
from mailbot.replies.timefmt import short_time, size_text, time_and_date

if TYPE_CHECKING:
    from mailbot.pipeline import Runner

log = logging.getLogger(__name__)

# dispositions that wait for a person (and go to the review folder of a live mailbox)
LABELS = {
    "unknown-sender": "người gửi lạ",
    "suspicious": "nghi giả mạo",
    "correspondence": "thư trao đổi",
    "oversized": "thư quá lớn",
    "error": "thư lỗi",
}


def open_items(store: Store) -> list[dict[str, Any]]:
    """Messages waiting for a person, oldest first."""
    items = [m for m in store.messages.all() if m.get("review_id") and not m.get("review_closed")]
    return sorted(items, key=lambda m: m["review_id"])


SHOWN = 50  # review items printed unless asked for more (a year of mail can hold thousands)


def select(
    items: list[dict[str, Any]],
    config: Config,
    since: dt.date | None = None,
    organization: str | None = None,
    limit: int | None = SHOWN,
) -> list[dict[str, Any]]:
    """The items staff asked for: received on or after `since` (local day), from `organization`,
    the newest `limit` of them (None: all), oldest first."""
    if organization:
        items = [m for m in items if m.get("organization") == organization]
    if since is not None:
        items = [
            m
            for m in items
            if m.get("received_at") and parse_iso(m["received_at"]).astimezone(config.timezone).date() >= since
        ]
    return items[-limit:] if limit is not None and limit > 0 else items


ACTIONS = {"assigned": "đã giao", "dismissed": "đã bỏ qua"}  # how staff read a closed item's action


def closed_items(store: Store, config: Config) -> list[dict[str, Any]]:
    """Items staff closed, newest first: id, what was done, by whom, when (the audit trail)."""
    out = []
    for m in store.messages.all():
        closed = m.get("review_closed")
        if m.get("review_id") and closed:
            org = config.organization(closed.get("organization") or "")
            action = ACTIONS.get(closed.get("action", ""), "đã xử lý")
            out.append(
                {
                    "id": m["review_id"],
                    "action": action + (f" cho {org.name}" if org else ""),
                    "by": closed.get("by") or "không rõ",
                    "at": closed.get("at", ""),
                    "reason": closed.get("reason", ""),
                }
            )
    return sorted(out, key=lambda r: r["at"], reverse=True)


def find(store: Store, review_id: str) -> dict[str, Any]:
    wanted = review_id.strip().upper()
    for record in store.messages.all():
        if record.get("review_id") == wanted:
            return record
    raise MailbotError(f"no message {wanted} in the review queue (see `mailbot review`)")


def as_row(record: dict[str, Any], config: Config) -> dict[str, Any]:
    received = parse_iso(record["received_at"]) if record.get("received_at") else None
    return {
        "id": record["review_id"],
        "disposition": record.get("disposition"),
        "label": LABELS.get(record.get("disposition") or "", record.get("disposition") or ""),
        "received_at": received.astimezone(config.timezone).isoformat() if received else None,
        "from": record.get("from"),
        "organization": record.get("organization"),
        "subject": record.get("subject", ""),
        "size": record.get("size"),
        "documents": record.get("documents", []),
        "files": [a["filename"] for a in record.get("attachments", []) if not a.get("inline")],
        "reasons": record.get("reasons", []),
    }


def _line(text: str | None) -> str:
    """A sender's text on one line of the terminal: line breaks, control and format characters (a
    right-to-left override that turns "fdp.exe" round, a CR that writes over the line) shown as �,
    so nothing a sender wrote can fake a line of the queue."""
    return "".join(c if c.isprintable() and unicodedata.category(c) != "Cf" else "\ufffd" for c in text or "")


def render(rows: list[dict[str, Any]], config: Config, waiting: int | None = None) -> str:
    """The queue as staff read it; `waiting`: how many wait in all (rows may be a selection)."""
    waiting = len(rows) if waiting is None else waiting
    if not waiting:
        return "Không có thư nào chờ xem xét."
    out = [f"Thư chờ cán bộ xem xét: {waiting}"]
    if len(rows) < waiting:
        out.append(
            f"Hiển thị {len(rows)} thư (mới nhất ở cuối); xem thêm: --limit N, --all, --since YYYY-MM-DD, "
            f"--organization ID"
        )
    out.append("")
    for row in rows:
        when = short_time(dt.datetime.fromisoformat(row["received_at"]), config.timezone) if row["received_at"] else "?"
        out.append(
            f"{row['id']}  {when}  {row['label']}  {_line(row['from']) or '(không rõ người gửi)'}  "
            f"({size_text(row['size'] or 0)})"
        )
        out.append(f"    Tiêu đề: {_line(row['subject']) or '(không có tiêu đề)'}")
        if row["files"]:
            out.append(f"    Tệp: {', '.join(_line(f) for f in row['files'])}")
        for reason in row["reasons"]:
            out.append(f"    - {_line(reason)}")
    out += [
        "",
        "Xác nhận là tài liệu của một đơn vị: mailbot assign --config FILE XL-0001 vnpt-dongthap "
        "[--documents plan] [--remember-sender]",
        'Đã xử lý thủ công:                 mailbot dismiss --config FILE XL-0001 --reason "..."',
    ]
    return "\n".join(out)


def close(store: Store, record: dict[str, Any], action: str, now: dt.datetime, **details: Any) -> None:
    store.update_message(record["key"], {"review_closed": {"action": action, "at": utc_iso(now), **details}})


def suggestion(row: dict[str, Any], config: Config) -> str:
    """The line staff answer with to assign an item: `giao XL-0002 viettel-dongthap duty-list`."""
    org = row.get("organization") or "<mã đơn vị>"
    return " ".join(p for p in ("giao", row["id"], org, *(row.get("documents") or [])) if p)


def actor(address: str | None = None, message: str | None = None) -> dict[str, str]:
    """Who closed an item, for the audit trail: a staff address and the key of the command mail,
    or the user who ran the command line."""
    if address:
        return {"by": address, **({"via": message} if message else {})}
    try:
        user = getpass.getuser()
    except (OSError, KeyError):
        user = str(os.getuid())
    return {"by": f"{user} (dòng lệnh)"}


class AssignFailed(MailbotError):
    """The message could not be analysed again in time (or its worker died): nothing was changed,
    the item stays in the queue. The text is for staff, in Vietnamese."""


class Interrupted(MailbotError):
    """mailbot is stopping: the assign was given up, nothing was changed; it can be done again."""


def prepare(
    raw: bytes,
    facts: dict[str, Any],
    received: dt.datetime,
    config: Config,
    org_id: str,
    document_ids: list[str],
) -> Envelope:
    """In a worker process (run_bounded): the message analysed again, taken as `org_id`'s submission
    of `document_ids` (default: the documents recognised), its duty rows read. Pure: no state.
    `facts`: the record's review_id, source and campaign."""
    envelope = analyse(raw, facts.get("source") or "", received, config)
    campaign = config.campaign(facts.get("campaign") or envelope.campaign or "")
    if campaign is None:
        raise MailbotError("no campaign in the configuration takes this message")
    docs = document_ids or [d for d in envelope.documents if campaign.document(d) is not None]
    if not docs:
        raise MailbotError(
            f"no required document recognised in {facts['review_id']}: name them with "
            f"--documents {','.join(d.id for d in campaign.documents)}"
        )
    for doc_id in docs:
        doc = campaign.document(doc_id)
        if doc is None:
            raise MailbotError(
                f"no document {doc_id!r} in campaign {campaign.id}; one of: "
                f"{', '.join(d.id for d in campaign.documents)}"
            )
        if org_id not in doc.organizations:
            org = config.organization(org_id)
            raise MailbotError(f"{org.name if org else org_id} is not asked for {doc.name} in campaign {campaign.id}")
    typed = {name for names in envelope.document_files.values() for name in names}
    untyped = [
        a.filename
        for a in envelope.parsed.attachments
        if not a.inline and not a.is_signature and not a.container and a.filename not in typed
    ]
    envelope.document_files = {d: envelope.document_files.get(d) or untyped for d in docs}
    envelope.organization, envelope.disposition, envelope.documents = org_id, "submission", docs
    envelope.campaign = campaign.id
    envelope.duty_rows = read_rosters(envelope, campaign)
    envelope.raw = b""  # the caller has the bytes
    for att in envelope.parsed.attachments:
        att.release()  # size and hash stay; a reader does not pickle
    return envelope


def assign(
    runner: Runner,
    record: dict[str, Any],
    org_id: str,
    document_ids: list[str],
    now: dt.datetime,
    by: dict[str, str] | None = None,
) -> tuple[str, str | None]:
    """Staff confirm the message is `org_id`'s submission: a receipt, then the acknowledgement.

    The message is analysed again (its files read, its duty rows too) in a worker process under the
    same time limit as at intake, the caller's watchdog fed meanwhile: a hostile or huge file can
    only make the assign fail (AssignFailed), never stop the service. Reading again is needed: the
    register keeps each file's name, hash, type and the documents recognised, but not the text of
    the files nor the duty rows of a message that was not a submission when it arrived (rows are
    read for submissions only), and the acknowledgement and the roster need those rows.
    Returns (receipt, note); a note says why no acknowledgement was queued. `by`: who did it and
    from which message (the audit trail, see actor())."""
    config, store = runner.config, runner.store
    org = config.organization(org_id)
    if org is None:
        raise MailbotError(f"no organization {org_id!r}; one of: {', '.join(o.id for o in config.organizations)}")
    if record.get("oversize"):
        raise MailbotError(f"{record['review_id']} was too large to download: ask the sender for a smaller file")
    seconds = limit(config)
    earlier = record.get("assign_timeout")
    if earlier and seconds <= float(earlier.get("seconds") or 0):  # the same work would stop the same way
        when = time_and_date(parse_iso(earlier["at"]), config.timezone)
        raise AssignFailed(
            f"lần giao trước ({when}) đã phải dừng ({earlier.get('reason') or 'quá thời gian'}); "
            f"không thử lại với cùng giới hạn: hãy xem thư gốc và xử lý thủ công (“bỏ qua {record['review_id']} "
            f"<lý do>”), hoặc nhờ người quản trị tăng [mailbot] analyse_seconds nếu tệp hợp lệ"
        )
    raw = store.read_blob(record["raw_sha256"], "raw")
    received = parse_iso(record["received_at"])
    facts = {k: record.get(k) for k in ("review_id", "source", "campaign")}
    try:
        envelope = run_bounded(
            prepare, (raw, facts, received, config, org_id, document_ids), seconds, runner.beat, runner.stop
        )
    except Abandoned:
        raise Interrupted("mailbot đang dừng: chưa giao, hãy thực hiện lại sau") from None
    except AnalysisTimeout as exc:
        log.warning("assign %s given up: %s", record["review_id"], exc)
        # kept (committed now: the caller rolls back on error), so that a repeated assign is refused
        # at once instead of holding the service for the same time again
        store.update_message(
            record["key"],
            {"assign_timeout": {"at": utc_iso(now), "seconds": seconds, "reason": str(exc), **(by or {})}},
        )
        store.commit()
        raise AssignFailed(
            f"{exc} khi đọc lại các tệp đính kèm (tệp quá nặng, hoặc được làm ra để làm treo máy): "
            f"đã dừng, không ghi nhận gì; thư vẫn chờ xem xét, hãy xem thư gốc và xử lý thủ công "
            f"(“bỏ qua {record['review_id']} <lý do>”)"
        ) from None
    envelope.raw, envelope.identity = raw, record["key"]
    campaign = config.campaign(envelope.campaign or "")
    assert campaign is not None  # prepare() checked it
    docs = envelope.documents
    receipt, subs = record_submissions(store, envelope, campaign, received)
    reply_key, note = acknowledge(config, store, runner.templates, envelope, campaign, receipt, subs, received, now)
    store.update_message(
        record["key"],
        {
            "disposition": "submission",
            "organization": org_id,
            "documents": docs,
            "campaign": campaign.id,
            "receipt": receipt,
            "reply": reply_key,
            "reply_note": note,
            "review_closed": {
                "action": "assigned",
                "at": utc_iso(now),
                "organization": org_id,
                "documents": docs,
                **(by or {}),
            },
        },
    )
    return receipt, note
