"""The consolidated duty roster: the latest duty list of each organization, in the config's order.

CSV and XLSX have one row per phone number (a person with two numbers has two
rows; a person with none has one row with an empty phone and the problem), the
columns starting organization, name, position, phone (E.164). The HTML is a
printable A4 page, one table per organization, numbers as tel: links.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from typing import Any

from mailbot.config import Campaign, Config, Document, Organization
from mailbot.errors import MailbotError
from mailbot.register.store import Store, parse_iso
from mailbot.replies.reply import Templates
from mailbot.replies.timefmt import long_date, short_time

COLUMNS = [
    "organization",
    "name",
    "position",
    "phone",
    "phone_display",
    "phone_kind",
    "unit",
    "duty_time",
    "email",
    "problems",
    "receipt",
    "origin",  # file, body (typed in the mail) or ocr (read from a scan: check it against the original)
]


UNREAD = "đã gửi, chưa đọc được danh sách"


@dataclass
class OrgRoster:
    organization: Organization
    receipt: str | None = None
    received: str = ""
    version: int = 0
    rows: list[dict[str, Any]] = field(default_factory=list)

    @property
    def missing(self) -> bool:
        return self.receipt is None


def roster_document(config: Config, campaign_id: str | None) -> tuple[Campaign, Document]:
    for campaign in config.campaigns:
        if campaign_id and campaign.id != campaign_id:
            continue
        for doc in campaign.documents:
            if doc.roster:
                return campaign, doc
    raise MailbotError(
        f"no document with roster = true in {'campaign ' + campaign_id if campaign_id else 'any campaign'}"
    )


def gather(config: Config, store: Store, campaign: Campaign, doc: Document) -> list[OrgRoster]:
    """The configured organizations asked for `doc`, in the config's order; then any organization
    no longer configured whose list the register holds, named by its id and marked as such."""
    named = {org.id for org in config.organizations}
    removed = [
        Organization(org_id, f"{org_id} (không còn trong cấu hình)", "", ())
        for org_id in sorted(store.submission_slots())
        if org_id not in named and store.latest_submission(campaign.id, org_id, doc.id) is not None
    ]
    out = []
    for org in [*config.organizations, *removed]:
        if org.id not in doc.organizations and org not in removed:
            continue
        sub = store.latest_submission(campaign.id, org.id, doc.id)
        if sub is None:
            out.append(OrgRoster(org))
        else:
            out.append(
                OrgRoster(
                    org,
                    sub["receipt"],
                    short_time(parse_iso(sub["received_at"]), config.timezone),
                    sub["version"],
                    sub.get("rows", []),
                )
            )
    return out


def flat_rows(rosters: list[OrgRoster]) -> list[dict[str, str]]:
    out = []
    for roster in rosters:
        if roster.missing:
            out.append(
                {
                    **dict.fromkeys(COLUMNS, ""),
                    "organization": roster.organization.name,
                    "problems": "chưa gửi danh sách",
                }
            )
            continue
        if not roster.rows:  # received, but no row could be read: said, never left out
            out.append(
                {
                    **dict.fromkeys(COLUMNS, ""),
                    "organization": roster.organization.name,
                    "problems": UNREAD,
                    "receipt": roster.receipt or "",
                }
            )
        for row in roster.rows:
            base = {
                "organization": roster.organization.name,
                "name": row["name"],
                "position": row["position"],
                "unit": row["unit"],
                "duty_time": row["duty_time"],
                "email": row["email"],
                "receipt": roster.receipt or "",
                "origin": origin(row),
            }
            valid = [p for p in row["phones"] if p["e164"]]
            problems = "; ".join(row["problems"])
            for phone in valid or [None]:
                out.append(
                    {
                        **base,
                        "phone": phone["e164"] if phone else "",
                        "phone_display": phone["display"] if phone else "",
                        "phone_kind": phone["kind"] if phone else "",
                        "problems": problems,
                    }
                )
    return out


# What a spreadsheet takes as the start of a formula (OWASP, "CSV Injection")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PHONE_TEXT = re.compile(r"^\+?[0-9 .()-]*$")  # "+84 913 123 456": a number, never a formula that does harm
PHONE_COLUMNS = ("phone", "phone_display")


def neutral(column: str, value: str) -> str:
    """A cell a sender wrote, made inert for a spreadsheet: one that starts like a formula gets a
    leading apostrophe, except a phone number in the phone columns (+84...)."""
    if not value.startswith(FORMULA_START) or (column in PHONE_COLUMNS and _PHONE_TEXT.match(value)):
        return value
    return "'" + value


def origin(row: dict[str, Any]) -> str:
    """Where a row came from; rows recorded before the origin was kept: by their source."""
    return str(row.get("origin") or ("body" if row.get("source") == "nội dung thư" else "file"))


def to_csv(rosters: list[OrgRoster]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows({c: neutral(c, str(v)) for c, v in row.items()} for row in flat_rows(rosters))
    return buf.getvalue()


def to_xlsx(rosters: list[OrgRoster], title: str) -> bytes:
    import openpyxl
    from openpyxl.styles import Font

    wb = openpyxl.Workbook()
    ws = wb.worksheets[0]
    ws.title = "Danh sách trực"
    ws.append(COLUMNS)
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for row in flat_rows(rosters):
        ws.append([row[c] for c in COLUMNS])
        for cell in ws[ws.max_row]:
            if isinstance(cell.value, str):
                cell.data_type = "s"  # text, never a formula (openpyxl takes "=..." as one)
    ws.freeze_panes = "A2"
    wb.properties.title = title
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def to_html(
    rosters: list[OrgRoster], templates: Templates, config: Config, campaign: Campaign, doc: Document, today: str
) -> str:
    return templates.render(
        "roster.html.j2",
        {
            "department": config.department,
            "campaign": campaign.title,
            "document": doc.name,
            "event": f"{campaign.event_name or 'Ngày diễn ra'}: {long_date(campaign.event_date)}"
            if campaign.event_date
            else "",
            "today": today,
            "organizations": [
                {
                    "name": r.organization.name,
                    "missing": r.missing,
                    "receipt": r.receipt,
                    "received": r.received,
                    "version": r.version,
                    "rows": [
                        {
                            "name": row["name"],
                            "position": row["position"],
                            "unit": row["unit"],
                            "time": row["duty_time"],
                            "phones": [
                                {"display": p["display"] or p["text"], "e164": p["e164"]} for p in row["phones"]
                            ],
                            "problems": row["problems"],
                            "ocr": origin(row) == "ocr",
                        }
                        for row in r.rows
                    ],
                }
                for r in rosters
            ],
        },
    )
