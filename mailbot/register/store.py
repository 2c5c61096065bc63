"""The register under state_dir: messages, submissions, the outbox, and files by content hash.

Layout:
    state_dir/db/messages/NNNNNN.json     one record per message (the commit point)
    state_dir/db/submissions/NNNNNN.json  one record per document received
    state_dir/db/outbox/NNNNNN.json       one record per automatic mail
    state_dir/raw/ab/<sha256>.eml         each raw message
    state_dir/files/ab/<sha256>           each attachment (its name is only in the record)
Times are stored as ISO 8601 in UTC with their offset.
"""

from __future__ import annotations

import datetime as dt
import errno
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

from mailbot.clockskew import ahead
from mailbot.durable import fsync_dir
from mailbot.errors import StateReadOnly, StoreError
from mailbot.register.blobs import Blobs
from mailbot.register.storage import SegmentedTable

_RECEIPT_RE = re.compile(r"^([A-Z0-9]+)-(\d+)$")
SENT_STATES = ("pending", "sent", "dry-run", "uncertain")  # mails that count against the per-recipient cap
REVIEW_PREFIX = "XL"  # "xử lý": messages waiting for a person


def utc_iso(when: dt.datetime) -> str:
    return when.astimezone(dt.timezone.utc).isoformat(timespec="seconds")


def cap_note(cap: int, capped: list[str]) -> str:
    """Why an automatic mail was not sent: the per-recipient cap (for staff)."""
    return f"vượt giới hạn {cap} thư tự động/ngày cho {', '.join(capped)}"


def _newness(sub: dict[str, Any]) -> tuple[dt.datetime, int]:
    """How new a submission is: when it was received (a list re-delivered or read late is not
    newer than the correction sent after it), then the order it was recorded in."""
    return parse_iso(sub["received_at"]), sub["version"]


def parse_iso(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value)


class Store:
    """The register. Changes stay in memory until commit(); rollback() forgets them."""

    def __init__(self, state_dir: Path, segment_size: int = 50, read_only: bool = False) -> None:
        self.root = state_dir
        self.segment_size = segment_size
        self.read_only = read_only  # opened to read (the folder cannot be written): commit refuses changes
        try:
            if not read_only:
                fresh = not (state_dir / "db").is_dir()
                state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)  # owner only, whatever the umask
                for sub in ("db", "raw", "files"):
                    (state_dir / sub).mkdir(mode=0o700, exist_ok=True)
                if fresh:  # the new folders' names survive a power cut
                    fsync_dir(state_dir)
                    try:
                        fsync_dir(state_dir.parent)
                    except OSError:
                        pass  # a parent we may not read (0711): systemd made it, and keeps it
        except OSError as exc:
            if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
                raise StateReadOnly(state_dir, exc.strerror or exc) from exc
            raise StoreError(f"cannot create the state folder {state_dir}: {exc.strerror}") from exc
        self.blobs = Blobs(state_dir)
        # Outbox changes (sent marks, attempts) not yet on disk: a rollback re-applies them, so a
        # reply the SMTP server accepted is never sent again because the register could not be
        # written (a full disk), and the attempt count keeps growing toward its limit.
        self._unwritten_mail: dict[str, dict[str, Any]] = {}
        self._load()

    def _load(self) -> None:
        db = self.root / "db"
        self._review_max = 0  # highest review number given (XL-0001 ...)
        self._fingerprints: dict[str, str] = {}  # "mid:" key -> header fingerprint of its message
        self.changes = 0  # changes made in memory since the register was opened (see Runner)
        self.commands: list[str] = []  # staff commands by mail recorded and not yet carried out (keys)
        self.messages = SegmentedTable(db / "messages", self.segment_size, observe=self._note_message)
        self.submissions = SegmentedTable(db / "submissions", self.segment_size)
        self.outbox = SegmentedTable(db / "outbox", self.segment_size)
        # Derived in memory at open, so that no lookup needs to read old segments.
        self._receipts: dict[str, int] = defaultdict(int)  # prefix -> highest number
        self._versions: dict[tuple[str, str, str], int] = defaultdict(int)
        self._latest: dict[tuple[str, str, str], dict[str, Any]] = {}
        self._first: dict[tuple[str, str, str], dict[str, Any]] = {}
        self._slots_of: dict[str, set[tuple[str, str, str]]] = defaultdict(set)  # organization -> its slots
        self._message_receipts: dict[tuple[str, str], str] = {}  # (message key, campaign) -> receipt
        self._mail_times: dict[str, list[dt.datetime]] = defaultdict(list)
        self._pending: set[str] = set()
        # mails queued since the last commit: not sent, nor written by commit_outbox, before the
        # commit has made their files, their message and themselves durable
        self._fresh_mail: set[str] = set()
        self.last_digest: dict[str, Any] | None = None  # the daily digest made last (see digest.py)
        for sub in self.submissions.all():
            self._note_submission(sub)
        for mail in self.outbox.all():
            self._note_mail(mail)

    def commit(self, durable: bool = True) -> None:
        """Write what changed, in the order that makes a crash in between harmless:
        files, then submissions, then the outbox, then messages (the commit point)."""
        if self.read_only:
            if self.changes:
                raise StateReadOnly(self.root, "opened to read only")
            return
        try:
            if durable:
                self.blobs.sync()
            for table in (self.submissions, self.outbox, self.messages):
                table.flush(durable)
        except OSError as exc:
            self.rollback()
            raise StoreError(f"cannot write the register in {self.root}: {exc.strerror or exc}") from exc
        self._unwritten_mail.clear()
        self._fresh_mail.clear()

    def commit_outbox(self) -> None:
        """Write the outbox alone, fsynced: the sent mark of each mail the server accepted, so
        that a power cut resends at most the mail it interrupted (and never leaves the file empty).
        Mails queued since the last commit are left out: their files and their message are not
        durable yet (the next commit writes them all, in order)."""
        try:
            self.outbox.flush(leave_out=frozenset(self._fresh_mail))
        except OSError as exc:
            raise StoreError(f"cannot write the outbox in {self.root}: {exc.strerror or exc}") from exc
        self._unwritten_mail.clear()

    def rollback(self) -> None:
        """Forget every change not committed; the state is read again from disk. Outbox changes
        are the exception: what was sent stays sent (see _unwritten_mail)."""
        self._close_tables()
        self.blobs.unsynced.clear()
        self._load()
        for key, fields in self._unwritten_mail.items():
            if key in self.outbox:
                self._apply_mail(key, fields)

    # -- files ---------------------------------------------------------------------------
    def put_blob(self, data: bytes, kind: str, durable: bool = True) -> str:
        return self.blobs.put(data, kind, durable)

    def blob_path(self, digest: str, kind: str) -> Path:
        return self.blobs.path(digest, kind)

    def read_blob(self, digest: str, kind: str) -> bytes:
        """The stored bytes, checked against their hash (BlobDamaged otherwise)."""
        return self.blobs.read(digest, kind)

    # -- messages ------------------------------------------------------------------------
    def has_message(self, key: str) -> bool:
        return key in self.messages

    def identify(self, key: str, fingerprint: str) -> tuple[str, bool, str | None]:
        """(the key to record a message under, recorded already?, the key it collided with).

        A Message-ID identifies a message only together with its header fingerprint: a message
        that reuses a recorded Message-ID with other From, Date or Subject (another sender
        pre-empting a carrier's ID) is a new message, under its own key. Records from before
        fingerprints were kept count as the same message.
        """
        if key not in self.messages:
            return key, False, None
        stored = self._fingerprints.get(key, "")
        if not key.startswith("mid:") or not stored or stored == fingerprint:
            return key, True, None
        alternative = f"{key}#{fingerprint}"
        return alternative, alternative in self.messages, key

    def record_message(self, doc: dict[str, Any]) -> bool:
        inserted = self.messages.insert(doc)
        if inserted:
            self.changes += 1
            self._note_message(doc)
        return inserted

    def _note_message(self, doc: dict[str, Any]) -> None:
        match = _RECEIPT_RE.match(doc.get("review_id") or "")
        if match:
            self._review_max = max(self._review_max, int(match.group(2)))
        if doc.get("disposition") == "staff-command" and not doc.get("command_done"):
            self.commands.append(doc["key"])
        if doc.get("fingerprint") and doc["key"].startswith("mid:"):
            self._fingerprints[doc["key"]] = doc["fingerprint"]

    def next_review_id(self) -> str:
        """The id staff type for a message waiting in the review queue."""
        return f"{REVIEW_PREFIX}-{self._review_max + 1:04d}"

    def update_message(self, key: str, fields: dict[str, Any]) -> None:
        self.messages.update(key, fields)
        if "command_done" in fields and key in self.commands:
            self.commands.remove(key)
        self.changes += 1

    # -- submissions ---------------------------------------------------------------------
    def _note_submission(self, sub: dict[str, Any]) -> None:
        match = _RECEIPT_RE.match(sub["receipt"])
        if match:
            self._receipts[match.group(1)] = max(self._receipts[match.group(1)], int(match.group(2)))
        self._message_receipts[(sub["message_key"], sub["campaign"])] = sub["receipt"]
        slot = (sub["campaign"], sub["organization"], sub["document"])
        self._versions[slot] = max(self._versions[slot], sub["version"])
        self._slots_of[sub["organization"]].add(slot)
        if slot not in self._latest or _newness(sub) >= _newness(self._latest[slot]):
            self._latest[slot] = sub  # the newest by when it was received, not the one processed last
        if sub["version"] <= self._first.get(slot, {}).get("version", sub["version"]):
            self._first[slot] = sub

    def receipt_for(self, message_key: str, campaign: str, prefix: str) -> str:
        """The message's receipt number in a campaign: reused after a crash, else the next."""
        existing = self._message_receipts.get((message_key, campaign))
        return existing or f"{prefix}-{self._receipts[prefix] + 1:04d}"

    def add_submission(self, sub: dict[str, Any]) -> dict[str, Any]:
        """Insert unless present (a redo after a crash); return the stored record."""
        existing = self.submissions.get(sub["key"])
        if existing is not None:
            return existing
        slot = (sub["campaign"], sub["organization"], sub["document"])
        sub = {**sub, "version": self._versions[slot] + 1}
        self.submissions.insert(sub)
        self.changes += 1
        self._note_submission(sub)
        return sub

    def latest_submission(self, campaign: str, organization: str, document: str) -> dict[str, Any] | None:
        return self._latest.get((campaign, organization, document))

    def first_submission(self, campaign: str, organization: str, document: str) -> dict[str, Any] | None:
        return self._first.get((campaign, organization, document))

    def submission_slots(self) -> dict[str, set[tuple[str, str, str]]]:
        """Organization -> the (campaign, organization, document) slots it has sent something for."""
        return self._slots_of

    # -- outbox --------------------------------------------------------------------------
    def _note_mail(self, mail: dict[str, Any]) -> None:
        if mail.get("day"):  # the latest made, in outbox order (a day stamped ahead is not "latest")
            self.last_digest = mail
        if mail["status"] in SENT_STATES:
            when = parse_iso(mail["created_at"])
            for rcpt in mail["to"]:
                self._mail_times[rcpt.lower()].append(when)
        if mail["status"] == "pending":
            self._pending.add(mail["key"])
        else:
            self._pending.discard(mail["key"])

    def mails_to(self, recipient: str, since: dt.datetime, now: dt.datetime) -> int:
        """Automatic mails created for a recipient from `since` to `now` (for the per-recipient cap);
        one stamped after `now` came from a clock that ran ahead and does not count."""
        times = self._mail_times.get(recipient.lower(), [])
        times[:] = [t for t in times if t >= since - dt.timedelta(days=1)]  # keep the list short
        return sum(1 for t in times if t >= since and not ahead(t, now))

    def capped(self, recipients: list[str], cap: int, now: dt.datetime) -> list[str]:
        """The recipients that had `cap` automatic mails or more in the last 24 hours."""
        since = now - dt.timedelta(days=1)
        return [r for r in recipients if self.mails_to(r, since, now) >= cap]

    def enqueue(self, mail: dict[str, Any]) -> dict[str, Any]:
        existing = self.outbox.get(mail["key"])
        if existing is not None:
            return existing
        self.outbox.insert(mail)
        self.changes += 1
        self._note_mail(mail)
        self._fresh_mail.add(mail["key"])
        return mail

    def pending_mail(self) -> list[dict[str, Any]]:
        """Mails to send, oldest first: committed ones only (see _fresh_mail)."""
        keys = sorted(self._pending - self._fresh_mail)
        mails = [m for key in keys if (m := self.outbox.get(key)) is not None]
        return sorted(mails, key=lambda m: m["created_at"])

    def update_mail(self, key: str, fields: dict[str, Any]) -> None:
        self._apply_mail(key, fields)
        self._unwritten_mail.setdefault(key, {}).update(fields)
        self.changes += 1

    def _apply_mail(self, key: str, fields: dict[str, Any]) -> None:
        self.outbox.update(key, fields)
        if fields.get("status", "pending") != "pending":
            self._pending.discard(key)

    def close(self) -> None:
        """Commit what is pending, then let go of the files."""
        try:
            self.commit()
        finally:
            self._close_tables()

    def _close_tables(self) -> None:
        for table in (self.messages, self.submissions, self.outbox):
            table.close()
