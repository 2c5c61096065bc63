"""Where each campaign stands: organizations x documents, on time, late or missing."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

from mailbot.config import Config
from mailbot.register.store import Store, parse_iso
from mailbot.replies import sigtext
from mailbot.replies.timefmt import short_date, short_time

LABELS = {"on-time": "đúng hạn", "late": "trễ hạn", "missing": "chưa nộp"}


def campaign_rows(config: Config, store: Store, campaign_id: str | None = None) -> list[dict[str, Any]]:
    rows = []
    for campaign in config.campaigns:
        if campaign_id and campaign.id != campaign_id:
            continue
        for org in config.organizations:
            for doc in campaign.documents:
                if org.id not in doc.organizations:
                    continue
                first = store.first_submission(campaign.id, org.id, doc.id)
                latest = store.latest_submission(campaign.id, org.id, doc.id)
                row: dict[str, Any] = {
                    "campaign": campaign.id,
                    "organization": org.id,
                    "document": doc.id,
                    "deadline": doc.deadline.isoformat(),
                    "status": "missing",
                    "receipt": None,
                    "received_at": None,
                    "versions": 0,
                }
                if first and latest:
                    row.update(
                        status="on-time" if first["on_time"] else "late",
                        receipt=latest["receipt"],
                        received_at=parse_iso(latest["received_at"]).astimezone(config.timezone).isoformat(),
                        first_receipt=first["receipt"],
                        versions=latest["version"],
                        signed=sigtext.short(latest.get("signatures") or []),
                    )
                rows.append(row)
    return rows


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
        for org in config.organizations:
            cells = [org.name]
            for doc in docs:
                row = next(
                    (
                        r
                        for r in rows
                        if r["campaign"] == campaign.id and r["organization"] == org.id and r["document"] == doc.id
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
                    cells.append(f"{LABELS[row['status']]} {row['receipt']} {when}{extra}")
            table.append(cells)
        widths = [max(len(r[i]) for r in table) for i in range(len(header))]
        for index, cells in enumerate(table):
            out.append(" | ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip())
            if index == 0:
                out.append("-+-".join("-" * w for w in widths))
        out.append("")
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
