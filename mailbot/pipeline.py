"""One message from the mailbox to the reply: source -> parse -> classify -> store -> outbox.

The order of writes makes a crash anywhere harmless:
  1. raw message and files (content-addressed, idempotent);
  2. submissions (keyed by message and document; a redo reuses them and their receipt);
  3. the reply in the outbox (keyed by its fixed Message-ID; a redo finds it);
  4. the message record: the commit point;
  5. the source marks the message done.
The outbox sends only mails whose message is committed.
"""

from __future__ import annotations

import copy
import datetime as dt
import logging
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, Protocol

from mailbot import passes
from mailbot.analysis.classify import message_time
from mailbot.analysis.rules.staff import answered_ids, command_line, forwarded
from mailbot.analysis.workers import Analyser, analyse
from mailbot.config import Config
from mailbot.envelope import REVIEW, Envelope, message_key
from mailbot.errors import StoreError
from mailbot.intake.headers import header_fingerprint, header_message_id
from mailbot.intake.sources import Incoming
from mailbot.register.store import Store, utc_iso
from mailbot.replies.acknowledge import acknowledge, notice_oversized, record_submissions
from mailbot.replies.outbox import FlushResult, Transport, flush
from mailbot.replies.reply import Templates, recipients, shown_name
from mailbot.replies.timefmt import short_date, size_text

log = logging.getLogger(__name__)


class Source(Protocol):
    def connect(self) -> object: ...

    def pending(self) -> Any: ...

    def done(self, items: list[tuple[Incoming, str | None]]) -> None: ...

    def wait(self, stop: threading.Event, timeout: float) -> None: ...

    def interrupt(self) -> None: ...

    def close(self) -> None: ...

    def describe(self) -> str: ...


class Identity(NamedTuple):
    key: str  # the register's key for this message
    recorded: bool  # recorded already: a re-delivery
    collided: str | None  # the key of another message that used the same Message-ID first
    fingerprint: str  # headers.header_fingerprint


def _storable(text: str) -> str:
    """Text from an exception, with anything the register cannot hold escaped."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


@dataclass
class Runner:
    config: Config
    store: Store
    templates: Templates
    transport: Transport
    clock: Callable[[], dt.datetime] = utc_now
    analyser: Analyser | None = None  # worker processes for a backlog; None: inline
    _set_aside: set[str] = field(default_factory=set)
    known: dict[str, str] = field(default_factory=dict)  # senders staff confirmed: address -> organization
    # held while the store changes, so that a sending thread can mark mails sent meanwhile
    lock: threading.RLock = field(default_factory=threading.RLock)
    # the register cannot be written since this failure (a full disk), until a write succeeds:
    # one incident, logged once, shown by the daemon's health
    store_error: str | None = None
    # called between messages and mails sent: the daemon's watchdog heartbeat
    beat: Callable[[], None] = field(default=lambda: None)
    # set when mailbot is stopping (the daemon's SIGTERM): long work outside a pass gives up
    stop: threading.Event = field(default_factory=threading.Event)

    # -- one message ---------------------------------------------------------------------
    def identify(self, raw: bytes) -> Identity:
        """Who the message is in the register, from the header block alone (no parse of the body)."""
        fingerprint = header_fingerprint(raw)
        key, recorded, collided = self.store.identify(message_key(header_message_id(raw), raw), fingerprint)
        return Identity(key, recorded, collided, fingerprint)

    def is_recorded_header(self, head: bytes) -> bool:
        """Recorded already, by the Message-ID and fingerprint of this header block? (False without an ID.)"""
        return header_message_id(head) is not None and self.identify(head).recorded

    def is_new(self, item: Incoming) -> bool:
        return not self.identify(item.raw).recorded

    def process(self, item: Incoming, envelope: Envelope | None = None) -> Envelope | None:
        """Record one message and queue its reply; None when it was seen before.

        `envelope` is the message already parsed and classified (by a worker process).
        """
        identity = self.identify(item.raw)
        if identity.recorded:
            log.info("duplicate %s from %s: already recorded, nothing to do", identity.key, item.source_id)
            return None
        if envelope is None:
            envelope = analyse(item.raw, item.source_id, item.delivered, self.config, self.known)
        envelope.identity = identity.key
        if identity.collided:
            envelope.reasons.append(
                f"Message-ID {shown_name(identity.collided[4:])} đã được một thư khác dùng "
                f"trước (người gửi, ngày hoặc tiêu đề khác): ghi nhận như một thư mới"
            )
        now = self.clock()
        received = message_time(envelope, item.delivered) or now
        # an oversized message is answered unless automated or forged (no backscatter)
        answerable = envelope.disposition not in ("automated", "suspicious")
        if item.oversize is not None:
            self._mark_oversized(envelope, item.oversize)
        start = self.config.mailbox.start_date
        before_start = (
            start is not None
            and item.delivered is not None
            and item.delivered.astimezone(self.config.timezone).date() < start
        )
        if envelope.raw_sha256 is not None:  # kept by a worker; durable with the next commit
            raw_sha = envelope.raw_sha256
            self.store.blobs.unsynced.extend(Path(p) for p in envelope.unsynced_blobs)
        else:
            raw_sha = self.store.blobs.put_message(envelope, durable=False)  # durable with the next commit
        receipt, reply_key, note = None, None, None
        campaign = self.config.campaign(envelope.campaign) if envelope.campaign else None
        if envelope.disposition == "submission" and campaign is not None:
            receipt, subs = record_submissions(self.store, envelope, campaign, received)
            if before_start and start is not None:
                note = f"thư đến trước ngày bắt đầu {short_date(start)}: ghi nhận, không trả lời"
            else:
                reply_key, note = acknowledge(
                    self.config, self.store, self.templates, envelope, campaign, receipt, subs, received, now
                )
        elif envelope.disposition == "oversized" and not before_start and answerable:
            reply_key, note = notice_oversized(
                self.config, self.store, self.templates, envelope, item.oversize or 0, received, now
            )
            note = note or "đã báo người gửi; chờ cán bộ xem xét"
        elif envelope.disposition == "staff-command":
            note = "lệnh của cán bộ: thực hiện ngay sau khi ghi nhận, trả lời người gửi"
        else:
            note = "không trả lời tự động" if envelope.disposition == "automated" else "chờ cán bộ xem xét"
        record = self._record(envelope, raw_sha, received, now, receipt, reply_key, note)
        record.update(
            fingerprint=identity.fingerprint, **({"collision_with": identity.collided} if identity.collided else {})
        )
        if envelope.disposition in REVIEW:
            record["review_id"] = self.store.next_review_id()
        if envelope.disposition == "staff-command":
            record["command"] = command_line(envelope.parsed)  # carried out once committed (mailcommands)
            # what decides whether a command that changes something is obeyed (mailcommands.refusal);
            # arrival is the source's time (IMAP INTERNALDATE, file time), never a header's
            record["command_trust"] = {
                "answers": answered_ids(
                    envelope.parsed, envelope.auth.submitted_by == (envelope.parsed.from_address or "").lower()
                ),
                "forwarded": forwarded(envelope.parsed),
                "arrived": utc_iso(item.delivered or now),
                "to": recipients(envelope, self.config, reply_to=False),  # the authenticated From only
            }
        if item.oversize is not None:
            record.update(size=item.oversize, oversize=True)
        self.store.record_message(record)
        log.info(
            "recorded %s from %s: organization=%s disposition=%s receipt=%s action=%s",
            identity.key,
            envelope.parsed.from_address,
            envelope.organization,
            envelope.disposition,
            receipt,
            "acknowledgement queued" if reply_key and note is None else note,
        )
        return envelope

    def _mark_oversized(self, envelope: Envelope, size: int) -> None:
        """Only the header block was fetched: the message goes to staff, never counted as a submission."""
        envelope.disposition = "oversized"
        envelope.documents, envelope.document_files = [], {}
        envelope.reasons.append(
            f"thư dung lượng {size_text(size)} vượt giới hạn "
            f"{self.config.mailbox.max_message_bytes // (1024 * 1024)} MB: không tải về"
        )

    def _record(
        self,
        envelope: Envelope,
        raw_sha: str,
        received: dt.datetime,
        now: dt.datetime,
        receipt: str | None,
        reply_key: str | None,
        note: str | None,
    ) -> dict[str, Any]:
        parsed = envelope.parsed
        doc_of = {name: doc for doc, names in envelope.document_files.items() for name in names}
        return {
            "key": envelope.key,
            "message_id": parsed.message_id,
            "raw_sha256": raw_sha,
            "size": len(envelope.raw),
            "source": envelope.source,
            "from": parsed.from_address,
            "from_display": parsed.from_display,
            "reply_to": parsed.reply_to,
            "organization": envelope.organization,
            "subject": parsed.subject,
            "date": utc_iso(parsed.date) if parsed.date else None,
            "received_at": utc_iso(received),
            "recorded_at": utc_iso(now),
            "campaign": envelope.campaign,
            "disposition": envelope.disposition,
            "reasons": envelope.reasons,
            "documents": envelope.documents,
            "defects": parsed.defects,
            "auth": envelope.auth.as_record(),
            "signatures": [s.as_record() for s in envelope.signatures],
            "attachments": [
                {
                    "filename": a.filename,
                    "size": a.size,
                    "sha256": a.sha256,
                    "content_type": a.content_type,
                    "container": a.container,
                    "inline": a.inline,
                    "document": doc_of.get(a.filename),
                    "defects": a.defects,
                }
                for a in parsed.attachments
            ],
            "receipt": receipt,
            "reply": reply_key,
            "reply_note": note,
        }

    def _set_aside_record(self, item: Incoming, exc: BaseException | None, reason: str | None = None) -> None:
        """A message that broke a stage (`exc`), or that is not ours to answer (`reason`): kept for
        staff, so the runner goes on."""
        identity = self.identify(item.raw)
        if identity.recorded:
            return
        self.store.record_message(
            {
                "key": identity.key,
                "message_id": None,
                "fingerprint": identity.fingerprint,
                "raw_sha256": self.store.put_blob(item.raw, "raw"),
                "size": len(item.raw),
                "source": item.source_id,
                "recorded_at": utc_iso(self.clock()),
                "disposition": "error",
                "reasons": [reason or _storable(f"lỗi khi xử lý thư: {type(exc).__name__}: {exc}")],
                "defects": [_storable(line) for line in traceback.format_exception_only(type(exc), exc)] if exc else [],
                "documents": [],
                "attachments": [],
                "organization": None,
                "receipt": None,
                "reply": None,
                "reply_note": "chờ cán bộ xem xét",
                "review_id": self.store.next_review_id(),
            }
        )

    # -- passes --------------------------------------------------------------------------
    def run_pass(
        self, source: Source, stop: threading.Event | None = None, send_alongside: bool = False
    ) -> passes.PassResult:
        """Record what the source holds, committing in groups (see passes.run_pass)."""
        return passes.run_pass(self, source, stop, send_alongside)

    def _process_again(self, item: Incoming, pristine: Envelope | None) -> None:
        """Record a message again after a rollback, from its envelope as analysis left it."""
        self.process(item, copy.deepcopy(pristine))

    def _recorded_disposition(self, item: Incoming) -> str | None:
        record = self.store.messages.get(self.identify(item.raw).key)
        return record.get("disposition") if record else None

    def flush(
        self, ignore_backoff: bool = False, beat: bool = False, stop: threading.Event | None = None
    ) -> FlushResult:
        """Send what is due; `beat` from the daemon's own thread (not the sending thread); `stop`
        ends sending at the next mail boundary. A StoreError (the sent mark could not be written)
        is reported once per incident, then raised."""
        try:
            done = flush(
                self.store,
                self.transport,
                self.config.reply_from,
                self.clock(),
                self.config.dry_run,
                ignore_backoff=ignore_backoff,
                lock=self.lock,
                beat=self.beat if beat else None,
                retry=(self.config.smtp.retry_first, self.config.smtp.retry_max),
                stop=stop,
            )
        except StoreError as exc:
            self.store_trouble(exc, "cannot mark sent mail in the register; it stays marked in memory")
            raise
        if done.sent or done.failed:  # their marks were written
            self.store_fine()
        return done

    def store_trouble(self, exc: BaseException, what: str) -> None:
        """The register could not be written: an ERROR at the start of an incident (its text kept
        for the health report), DEBUG after."""
        if self.store_error is None:
            log.error("%s: %s", what, exc)
            self.store_error = str(exc)
        else:
            log.debug("%s: %s", what, exc)

    def store_fine(self) -> None:
        """A write of the register succeeded: the incident, if any, is over."""
        if self.store_error is not None:
            self.store_error = None
            log.warning("the register can be written again")
