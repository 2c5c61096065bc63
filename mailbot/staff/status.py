"""Where each campaign stands: organizations x documents, on time, late or missing."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

from mailbot.config import Campaign, Config
from mailbot.register.store import Store, parse_iso
from mailbot.replies import sigtext
from mailbot.replies.timefmt import short_date, short_time

LABELS = {"on-time": "đúng hạn", "late": "trễ hạn", "missing": "chưa nộp"}
REMOVED = "không còn trong cấu hình"


def verdict(first: dict[str, Any], deadline: dt.datetime) -> str:
    """On time or late by the deadline configured now (a deadline moved in the configuration moves
    the verdict; the acknowledgement already sent keeps what it said: see `told`)."""
    return "on-time" if parse_iso(first["received_at"]) <= deadline else "late"


def removed_organizations(config: Config, store: Store) -> dict[str, int]:
    """Organizations the configuration no longer names that have documents in the register: id ->
    how many documents (every version) the register keeps of them."""
    named = {org.id for org in config.organizations}
    return {
        org: sum(store.latest_submission(*slot)["version"] for slot in slots)  # type: ignore[index]
        for org, slots in sorted(store.submission_slots().items())
        if org not in named and slots
    }


def _columns(config: Config, store: Store, campaign: Campaign) -> list[tuple[str, str, bool]]:
    """(id, name, still configured) of the organizations a campaign's table shows: the configured
    ones, then removed ones that sent something for this campaign (shown, never dropped)."""
    out = [(org.id, org.name, True) for org in config.organizations]
    for org_id in removed_organizations(config, store):
        if any(slot[0] == campaign.id for slot in store.submission_slots()[org_id]):
            out.append((org_id, f"{org_id} ({REMOVED})", False))
    return out


def campaign_rows(config: Config, store: Store, campaign_id: str | None = None) -> list[dict[str, Any]]:
    rows = []
    for campaign in config.campaigns:
        if campaign_id and campaign.id != campaign_id:
            continue
        for org_id, _, configured in _columns(config, store, campaign):
            for doc in campaign.documents:
                first = store.first_submission(campaign.id, org_id, doc.id)
                latest = store.latest_submission(campaign.id, org_id, doc.id)
                if org_id not in doc.organizations and not (first and latest):
                    continue
                row: dict[str, Any] = {
                    "campaign": campaign.id,
                    "organization": org_id,
                    "document": doc.id,
                    "deadline": doc.deadline.isoformat(),
                    "status": "missing",
                    "receipt": None,
                    "received_at": None,
                    "versions": 0,
                    **({} if configured else {"removed": True}),
                }
                if first and latest:
                    row.update(
                        status=verdict(first, doc.deadline),
                        receipt=latest["receipt"],
                        received_at=parse_iso(latest["received_at"]).astimezone(config.timezone).isoformat(),
                        first_receipt=first["receipt"],
                        versions=latest["version"],
                        signed=sigtext.short(latest.get("signatures") or []),
                    )
                    told = "on-time" if first["on_time"] else "late"
                    if told != row["status"]:  # the deadline moved since the acknowledgement
                        row.update(told=told, told_deadline=first.get("deadline"))
                rows.append(row)
    return rows


def told_note(row: dict[str, Any], tz: dt.tzinfo) -> str:
    """What the acknowledgement said when the deadline has moved since, or ''."""
    if not row.get("told"):
        return ""
    old = f" {short_date(parse_iso(row['told_deadline']).astimezone(tz).date())}" if row.get("told_deadline") else ""
    return f" (thư báo nhận đã ghi {LABELS[row['told']]} theo hạn cũ{old})"


def counts(store: Store) -> dict[str, dict[str, int]]:
    dispositions = Counter(m.get("disposition") or "?" for m in store.messages.all())
    outbox = Counter(m["status"] for m in store.outbox.all())
    return {"messages": dict(dispositions), "outbox": dict(outbox)}


def render_table(config: Config, store: Store, campaign_id: str | None = None) -> str:
    tz = config.timezone
    rows = campaign_rows(config, store, campaign_id)
    out: list[str] = []
    for campaign in config.campaigns:
        if campaign_id and campaign.id != campaign_id:
            continue
        out.append(f"Chiến dịch {campaign.id}: {campaign.title}")
        docs = campaign.documents
        header = ["Đơn vị"] + [f"{d.name} (hạn {short_date(d.deadline.astimezone(tz).date())})" for d in docs]
        table = [header]
        for org_id, org_name, _ in _columns(config, store, campaign):
            cells = [org_name]
            for doc in docs:
                row = next(
                    (
                        r
                        for r in rows
                        if r["campaign"] == campaign.id and r["organization"] == org_id and r["document"] == doc.id
                    ),
                    None,
                )
                if row is None:
                    cells.append("—")
                elif row["status"] == "missing":
                    cells.append(LABELS["missing"])
                else:
                    when = short_time(dt.datetime.fromisoformat(row["received_at"]), tz)
                    extra = f", {row['versions']} bản" if row["versions"] > 1 else ""
                    extra += f", {row['signed']}" if row.get("signed") else ""
                    cells.append(f"{LABELS[row['status']]} {row['receipt']} {when}{extra}{told_note(row, tz)}")
            table.append(cells)
        widths = [max(len(r[i]) for r in table) for i in range(len(header))]
        for index, cells in enumerate(table):
            out.append(" | ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip())
            if index == 0:
                out.append("-+-".join("-" * w for w in widths))
        out.append("")
    for org_id, documents in removed_organizations(config, store).items():
        out.append(
            f"Cảnh báo: đơn vị {org_id} không còn trong cấu hình nhưng sổ còn giữ {documents} tài liệu "
            "đơn vị này đã nộp."
        )
    c = counts(store)
    names = {
        "submission": "nộp tài liệu",
        "correspondence": "trao đổi",
        "unknown-sender": "người gửi lạ",
        "suspicious": "đáng ngờ",
        "automated": "tự động",
        "error": "lỗi xử lý",
    }
    out.append(
        "Thư đã ghi nhận: "
        + (", ".join(f"{names.get(k, k)} {v}" for k, v in sorted(c["messages"].items())) or "chưa có")
    )
    states = {
        "pending": "chờ gửi",
        "sent": "đã gửi",
        "failed": "gửi lỗi",
        "dry-run": "ghi ra tệp (chạy thử)",
        "suppressed": "không gửi (vượt giới hạn)",
        "uncertain": "không chắc đã gửi",
    }
    out.append(
        "Thư trả lời: " + (", ".join(f"{states.get(k, k)} {v}" for k, v in sorted(c["outbox"].items())) or "chưa có")
    )
    return "\n".join(out)
