"""What a recorded submission is owed: its submissions under one receipt, and the reply that says so.

Used by the runner for each message and by staff's `assign`; the reply goes to the outbox unless
the per-recipient cap says no.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from mailbot.analysis import filetype
from mailbot.config import Campaign, Config
from mailbot.envelope import Attachment, Envelope
from mailbot.register.store import Store, cap_note, utc_iso
from mailbot.replies.reply import Reply, Templates, compose, shown_name, unanswerable
from mailbot.replies.sigtext import describe
from mailbot.replies.timefmt import deadline_text, size_text, time_and_date


def record_submissions(
    store: Store, envelope: Envelope, campaign: Campaign, received: dt.datetime
) -> tuple[str, list[dict[str, Any]]]:
    """One submission per required document the message carries (a redo reuses them), under one receipt."""
    receipt = store.receipt_for(envelope.key, campaign.id, campaign.receipt_prefix)
    subs = []
    for doc_id in [d.id for d in campaign.documents if d.id in envelope.documents]:
        doc = campaign.document(doc_id)
        if doc is None or envelope.organization not in doc.organizations:
            continue
        subs.append(
            store.add_submission(
                {
                    "key": f"{envelope.key}#{campaign.id}#{doc_id}",
                    "receipt": receipt,
                    "campaign": campaign.id,
                    "organization": envelope.organization,
                    "document": doc_id,
                    "message_key": envelope.key,
                    "received_at": utc_iso(received),
                    "on_time": received <= doc.deadline,
                    "deadline": doc.deadline.isoformat(),  # as the acknowledgement said it (it may move later)
                    "files": envelope.document_files.get(doc_id, []),
                    "signatures": [
                        s.as_record() for s in envelope.signatures if s.file in envelope.document_files.get(doc_id, [])
                    ],
                    **({"rows": envelope.duty_rows[doc_id]} if doc_id in envelope.duty_rows else {}),
                }
            )
        )
    return receipt, subs


def acknowledge(
    config: Config,
    store: Store,
    templates: Templates,
    envelope: Envelope,
    campaign: Campaign,
    receipt: str,
    subs: list[dict[str, Any]],
    received: dt.datetime,
    now: dt.datetime,
) -> tuple[str | None, str | None]:
    """The acknowledgement of a submission, queued: (reply key, note why none went)."""
    tz = config.timezone
    org = config.organization(envelope.organization or "")
    docs = {d.id: d for d in campaign.documents}
    kinds = {name: docs[doc].name for doc, names in envelope.document_files.items() if doc in docs for name in names}
    files = [
        {
            "name": shown_name(a.filename if not a.container else f"{a.container} › {a.filename}") + _what(a),
            "size": size_text(a.size),
            "kind": kinds.get(a.filename) or _container(a),
            "signatures": _signature_lines(envelope, a, tz),
        }
        for a in envelope.parsed.attachments
        if not a.inline and not a.is_signature
    ]
    received_docs = [
        {
            "name": docs[s["document"]].name,
            "on_time": s["on_time"],
            "version": s["version"],
            "deadline": deadline_text(docs[s["document"]].deadline, tz),
        }
        for s in subs
    ]
    owed = [
        {"name": d.name, "deadline": deadline_text(d.deadline, tz), "overdue": received > d.deadline}
        for d in campaign.documents
        if org and org.id in d.organizations and store.latest_submission(campaign.id, org.id, d.id) is None
    ]
    rosters = [s for s in subs if docs[s["document"]].roster]
    roster = [
        {
            "name": r["name"],
            "position": r["position"],
            "phones": ", ".join(p["display"] or p["text"] for p in r["phones"]),
            "problems": r["problems"],
            "ocr": r.get("origin") == "ocr",
        }
        for s in rosters
        for r in s.get("rows", [])
    ]
    context = {
        "organization": org.name if org else "",
        "department": config.department,
        "mailbox": config.reply_from,
        "receipt": receipt,
        "received": time_and_date(received, tz),
        "campaign": campaign.title,
        "files": files,
        "received_documents": received_docs,
        "owed": owed,
        "roster": roster,
        "roster_unread": bool(rosters) and not roster,
        "roster_unread_table": bool(rosters) and not roster and _sent_as_table(envelope, campaign),
        "roster_problems": sum(1 for r in roster if r["problems"]),
        "roster_ocr": sum(1 for r in roster if r["ocr"]),
        "contact": config.contact,
        "signature": config.signature,
        "mail_signatures": [describe(s.as_record(), tz) for s in envelope.signatures if s.kind == "smime"],
    }
    return queue(config, store, envelope, compose(envelope, config, templates, context, now), receipt, now)


_SAME = {"jpeg": ("jpg", "jpeg", "jpe"), "tiff": ("tif", "tiff"), "text": ("csv", "txt"), "heic": ("heic", "heif")}


def _what(att: Attachment) -> str:
    """' (tệp Word .docx)' after a name that does not say what the file is (ATT00001.bin, no name)."""
    if not att.kind or att.extension == att.kind or att.extension in _SAME.get(att.kind, ()):
        return ""
    return f" ({filetype.label(att.kind)})"


def _container(att: Attachment) -> str:
    if not att.is_archive:
        return "tài liệu kèm theo"
    return {"tnef": "gói thư Outlook (winmail.dat)", "msg": "thư Outlook đính kèm"}.get(att.kind, "tệp nén")


TABLE_KINDS = frozenset({"xlsx", "xls", "ods", "docx", "odt", "doc", "rtf", "text"})


def _sent_as_table(envelope: Envelope, campaign: Campaign) -> bool:
    """The duty list came as a spreadsheet or a Word table (not a scan, a photo, a PDF): asking for
    "Excel or Word" would ask for what was sent."""
    names = {n for d in campaign.documents if d.roster for n in envelope.document_files.get(d.id, [])}
    kinds = {a.kind for a in envelope.parsed.attachments if a.filename in names}
    return bool(kinds) and kinds <= TABLE_KINDS


def _signature_lines(envelope: Envelope, att: Attachment, tz: ZoneInfo) -> list[str]:
    """What the acknowledgement says of a file's digital signatures; a PDF without one is said so."""
    lines = [describe(s.as_record(), tz) for s in envelope.signatures if s.kind == "pdf" and s.file == att.filename]
    if not lines and (att.extension == "pdf" or att.content_type.lower() == "application/pdf"):
        return ["Tệp không có chữ ký số"]
    return ["Tệp " + line for line in lines]


def notice_oversized(
    config: Config,
    store: Store,
    templates: Templates,
    envelope: Envelope,
    size: int,
    received: dt.datetime,
    now: dt.datetime,
) -> tuple[str | None, str | None]:
    """Tell the sender a message was too large to download."""
    org = config.organization(envelope.organization or "")
    context = {
        "organization": org.name if org else "",
        "department": config.department,
        "mailbox": config.reply_from,
        "received": time_and_date(received, config.timezone),
        "subject": envelope.parsed.subject or "(không có tiêu đề)",
        "size": size_text(size),
        "limit": f"{config.mailbox.max_message_bytes // (1024 * 1024)} MB",
        "contact": config.contact,
        "signature": config.signature,
    }
    reply = compose(
        envelope, config, templates, context, now, kind="oversize", fallback_subject="Thư vượt dung lượng tiếp nhận"
    )
    return queue(config, store, envelope, reply, None, now)


def queue(
    config: Config, store: Store, envelope: Envelope, reply: Reply, receipt: str | None, now: dt.datetime
) -> tuple[str | None, str | None]:
    """Into the outbox, unless the per-recipient cap says no; (reply key, note)."""
    if not reply.to:
        return None, unanswerable(envelope, config) or "không có địa chỉ để trả lời"
    capped = store.capped(reply.to, config.auto_reply_cap, now)
    status = "suppressed" if capped else "pending"
    stored = store.enqueue(
        {
            "key": reply.key,
            "kind": reply.key.split(".", 1)[0],
            "to": reply.to,
            "subject": reply.subject,
            "message_key": envelope.key,
            "raw_sha256": store.put_blob(reply.raw, "raw", durable=False),  # synced by the commit
            "created_at": utc_iso(now),
            "status": status,
            "attempts": 0,
            "receipt": receipt,
            **({"last_error": cap_note(config.auto_reply_cap, capped)} if capped else {}),
        }
    )
    if stored["status"] == "suppressed":  # a redo after a crash finds the first decision
        return reply.key, f"không gửi: {stored['last_error']}"
    return reply.key, None
