"""The duty rows a message carries, for each roster document: from its files (a scan's rows from
what OCR read), else from the mail's text. Every row says where it came from (`origin`), and a
number read from a scan that OCR is not sure of is flagged, never passed as clean."""

from __future__ import annotations

import logging
import re
from typing import Any

from mailbot.analysis.bodylist import bodies
from mailbot.analysis.dutylist import DutyRow, as_dict, body_rows, rows_of, tables
from mailbot.analysis.readers.ocrjob import MEDIA_FOLDERS, pictures
from mailbot.config import Campaign
from mailbot.envelope import SCAN_KINDS, Attachment, Envelope

log = logging.getLogger(__name__)

# what a picture was, as staff and the carrier are told (ocrjob.OcrResult.source)
SOURCE_LABELS = {"photo": "ảnh chụp", "fax": "bản fax", "scan": "bản quét"}


def uncertain(label: str) -> str:
    """The problem shown beside a number OCR is not sure of."""
    return f"số đọc từ {label} chưa chắc chắn: cần đối chiếu bản gốc"


UNCERTAIN = uncertain(SOURCE_LABELS["scan"])


def read_rosters(envelope: Envelope, campaign: Campaign) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for doc in campaign.documents:
        if not doc.roster or doc.id not in envelope.documents:
            continue
        names = set(envelope.document_files.get(doc.id, []))
        rows: list[DutyRow] = []
        for att in envelope.parsed.attachments:
            if att.filename in names and att.data:
                try:
                    rows += _file_rows(att)
                except Exception as exc:  # a damaged file: its rows cannot be read, the message goes on
                    log.warning("cannot read the rows of %s: %s", att.filename, exc)
        for text in [] if rows else bodies(envelope.parsed.body_text, envelope.parsed.body_html):
            rows = body_rows(text)  # pasted in the mail (or the files had no table): its table or list
            if rows:
                break
        out[doc.id] = [as_dict(r) for r in rows]
    return out


def _file_rows(att: Attachment) -> list[DutyRow]:
    if att.kind == "pdf" or att.kind in SCAN_KINDS or (att.kind in MEDIA_FOLDERS and pictures(att.data, att.kind)):
        _ = att.text  # a scan (or a "scan to Word") is read by OCR once, when its text is first needed
    if att.ocr is None:
        return [r for source, table in tables(att.filename, att.data, att.kind) for r in rows_of(table, source)]
    if att.kind in MEDIA_FOLDERS:  # an office file read by its pictures: its own tables first
        rows = [r for source, table in tables(att.filename, att.data, att.kind) for r in rows_of(table, source)]
        if rows:
            return rows
    label = SOURCE_LABELS.get(att.ocr.get("source", "scan"), SOURCE_LABELS["scan"])
    table = att.ocr["rows"]
    rows = rows_of(table, f"{att.filename} ({label})", tolerant=True)
    if not rows:  # a list without a header row: one person per line
        rows = body_rows("\n".join("  ".join(row) for row in table), f"{att.filename} ({label})")
    unsure = {_national(d) for d in att.ocr.get("uncertain", [])}
    for row in rows:
        row.origin = "ocr"
        for phone in row.phones:
            problem = f"{phone.text}: {uncertain(label)}"
            if _national(phone.text) in unsure and problem not in row.problems:
                row.problems.append(problem)
    return rows


def _national(text: str) -> str:
    digits = re.sub(r"\D", "", text)
    return "0" + digits[2:] if digits.startswith("84") else digits
