"""An IMAP mailbox (imap-tools): IDLE for push, UIDs for catching up, MOVE once recorded.

After every wake-up or reconnection the folder is searched for UIDs above the
last one processed: IDLE alone is never trusted (imap-tools' IDLE can return
quietly on a dropped connection). Bodies are fetched with BODY.PEEK, so \\Seen
is set only once a message is recorded. Messages are then moved with UID MOVE
(or UID COPY + UID EXPUNGE of that UID alone); never a bare EXPUNGE, which
would also remove other messages someone flagged \\Deleted.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import imaplib
import logging
import os
import re
import select
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import cast

from imap_tools import BaseMailBox
from imap_tools.utils import encode_folder

from mailbot.config import MailboxConfig
from mailbot.envelope import REVIEW
from mailbot.errors import SourceError
from mailbot.intake.sources import Incoming
from mailbot.intake.sources.imap_claim import Fence
from mailbot.intake.sources.imap_lease import CONNECTION_ERRORS, Lease
from mailbot.intake.sources.imap_login import Login
from mailbot.intake.sources.imap_state import FolderState, Progress

log = logging.getLogger(__name__)

FETCH_CHUNK = 200  # UIDs per FETCH of sizes
_SIZE_RE = re.compile(rb"UID (\d+).*?RFC822\.SIZE (\d+)|RFC822\.SIZE (\d+).*?UID (\d+)")
_FLAGS_RE = re.compile(rb"FLAGS \(([^)]*)\)")
_MODSEQ_RE = re.compile(rb"MODSEQ \((\d+)\)")
_DATE_RE = re.compile(rb'INTERNALDATE "([^"]+)"')


class ImapSource(Login):
    def __init__(
        self,
        config: MailboxConfig,
        state_dir: Path,
        secret: Callable[[str], str | None],
        poll_interval: float = 10.0,
        read_only: bool = False,
    ) -> None:
        """`read_only` (a dry run): the mailbox is never changed: no \\Seen, no MOVE, no folder, no lease."""
        self.config = config
        self.read_only = read_only
        self.lease = None if read_only else Lease(state_dir, config.lease_seconds, self.login)
        self.fence = None if self.lease is None else Fence(self.lease)  # per-message claims (imap_claim)
        self.poll_interval = poll_interval  # where the server offers no IDLE
        self.secret = secret
        self.state = FolderState(state_dir / "imap-state.json")
        self.progress = Progress(self.state, config.folder)
        self.box: BaseMailBox | None = None
        self.uidvalidity = 0
        self.last_contact: dt.datetime | None = None
        # set by the runner: is the message with this header block recorded already?
        self.known: Callable[[bytes], bool] | None = None
        self._listed = 0  # the highest UID the last scan listed
        self._lock = threading.Lock()
        self._wake_r, self._wake_w = os.pipe()  # interrupt() -> wait() returns
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)

    # -- connection --------------------------------------------------------------------
    def connect(self) -> BaseMailBox:
        if self.box is not None:
            return self.box
        cfg = self.config
        try:
            box = self.login()
            try:
                if not self.read_only:
                    for folder in (cfg.processed_folder, cfg.review_folder):
                        if not box.folder.exists(folder):
                            box.folder.create(folder)
                            log.warning("created IMAP folder %s", folder)
                if self.lease is not None:
                    self.lease.acquire(self._lease_key())
                self._select(box)
            except BaseException:
                logout(box)
                if self.lease is not None:
                    self.lease.release()
                raise
        except CONNECTION_ERRORS as exc:
            raise SourceError(f"IMAP {cfg.host}:{cfg.port}: {self.certificate_problem(exc) or exc}") from exc
        self.box = box
        self.last_contact = dt.datetime.now(dt.timezone.utc)
        return box

    def _select(self, box: BaseMailBox) -> None:
        box.folder.set(self.config.folder, readonly=self.read_only)
        values = box.client.untagged_responses.get("UIDVALIDITY") or [b"0"]
        uidvalidity = int(cast(bytes, values[-1]))
        saved, _ = self.state.get(self.config.folder)
        if saved and saved != uidvalidity:
            log.warning(
                "UIDVALIDITY of %s changed (%s -> %s): scanning the whole folder again",
                self.config.folder,
                saved,
                uidvalidity,
            )
        if saved != uidvalidity:
            self.state.set(self.config.folder, uidvalidity, 0)
            self.progress.reset()
        self.uidvalidity = uidvalidity
        self._listed = 0  # UIDs are listed again by the next scan

    def close(self) -> None:
        with self._lock:
            box, self.box = self.box, None
        if box is not None and self.fence is not None:
            self.fence.give_back(box, self.config.folder)
        if self.lease is not None:
            self.lease.release()  # another instance may take over at once
        logout(box)  # the wake pipe stays: close() is also a reconnect, the source lives on

    def interrupt(self) -> None:
        """Wake a wait() at once (SIGTERM, a staff request): the IDLE ends cleanly with DONE.

        A byte on a pipe the wait polls beside the socket; safe from a signal handler.
        """
        try:
            os.write(self._wake_w, b"!")
        except BlockingIOError:
            pass  # already woken

    def _lost(self, exc: BaseException) -> SourceError:
        with self._lock:
            self.box = None
        if self.lease is not None:
            self.lease.close()  # most likely cut too: the next connect opens both afresh
        return SourceError(f"IMAP {self.config.host}:{self.config.port}: connection lost ({exc})")

    # -- messages ----------------------------------------------------------------------
    def pending(self) -> Iterator[Incoming]:
        """New messages (UID above the last processed), oldest first, bodies one at a time."""
        box = self.connect()
        _, last = self.state.get(self.config.folder)
        self.keep(strict=False)
        try:
            box.client.noop()  # the server brings the selected folder up to date (new mail, expunges)
            uids = [int(u) for u in box.uids(f"UID {last + 1}:*")]
            uids = sorted(u for u in uids if u > last)  # "n:*" always matches the highest UID
            self.progress.gone(set(uids))
            self._listed = max([self._listed, *uids])
            overview = self._overview(box, uids)
        except CONNECTION_ERRORS as exc:
            raise self._lost(exc) from exc
        self.last_contact = dt.datetime.now(dt.timezone.utc)
        for uid in uids:
            if uid not in overview:
                continue  # expunged meanwhile
            size, head, flags = overview[uid]
            if head and self.known is not None and self.known(head):
                # Recorded before (a rescan, a copy put back): the header is all the runner needs.
                yield Incoming(source_id=self._source_id(uid), raw=head)
                continue
            if self.fence is not None and self.fence.waits(self.uidvalidity, uid, flags):
                self.progress.hold(uid)
                continue
            try:
                item = self._fetch(box, uid, size)
            except CONNECTION_ERRORS as exc:
                raise self._lost(exc) from exc
            if item is not None:
                yield item

    def _overview(self, box: BaseMailBox, uids: list[int]) -> dict[int, tuple[int, bytes, list[str]]]:
        """Size, flags and identity header fields of each UID, before any body is downloaded."""
        out: dict[int, tuple[int, bytes, list[str]]] = {}
        seen: dict[int, tuple[list[str], int]] = {}
        modseq = " MODSEQ" if self.fence is not None and "CONDSTORE" in box.client.capabilities else ""
        for start in range(0, len(uids), FETCH_CHUNK):
            chunk = ",".join(str(u) for u in uids[start : start + FETCH_CHUNK])
            typ, data = box.client.uid(
                "FETCH",
                chunk,
                f"(UID RFC822.SIZE FLAGS{modseq} BODY.PEEK[HEADER.FIELDS (MESSAGE-ID FROM DATE SUBJECT)])",
            )
            if typ != "OK":
                raise imaplib.IMAP4.error(f"FETCH sizes: {typ} {data!r}")
            for line in data:
                meta, head = (line[0], line[1]) if isinstance(line, tuple) else (line, b"")
                match = _SIZE_RE.search(meta or b"")
                if match:
                    uid, size = (match.group(1), match.group(2)) if match.group(1) else (match.group(4), match.group(3))
                    flags = _FLAGS_RE.search(meta or b"")
                    listed = flags.group(1).decode("ascii", "replace").split() if flags else []
                    out[int(uid)] = (int(size), head or b"", listed)
                    found = _MODSEQ_RE.search(meta or b"")
                    if found:
                        seen[int(uid)] = (listed, int(found.group(1)))
        if self.fence is not None:
            self.fence.seen = seen
        return out

    def _source_id(self, uid: int) -> str:
        return f"imap:{self.config.folder}:{self.uidvalidity}:{uid}"

    def _fetch(self, box: BaseMailBox, uid: int, size: int) -> Incoming | None:
        # The raw bytes through imap-tools' client: its MailMessage would parse every message
        # once more, and mailbot parses (in its own guarded way) later.
        oversized = size > self.config.max_message_bytes
        part = "BODY.PEEK[HEADER]" if oversized else "BODY.PEEK[]"
        typ, data = box.client.uid("FETCH", str(uid), f"({part} INTERNALDATE)")
        if typ != "OK":
            raise imaplib.IMAP4.error(f"FETCH {uid}: {typ} {data!r}")
        pieces = [d for d in data if isinstance(d, tuple)]
        if not pieces:
            return None
        meta, raw = pieces[0][0], pieces[0][1]
        delivered = None
        match = _DATE_RE.search(meta)
        if match:
            try:
                delivered = email.utils.parsedate_to_datetime(match.group(1).decode("ascii"))
            except (TypeError, ValueError):
                delivered = None
        return Incoming(
            source_id=self._source_id(uid), raw=raw, delivered=delivered, oversize=size if oversized else None
        )

    def keep(self, strict: bool = True) -> None:
        """Prove we still own the mailbox: on the server now (`strict`, before every commit), else
        only when the last proof is older than the renew period (a heartbeat goes with it when due).
        SourceError (MailboxBusy) if the lease is lost: the connection is closed, the caller stops."""
        lease, box = self.lease, self.box
        if lease is None:
            return
        if box is None:
            # The connection was lost in the middle of the pass: what is left to commit was claimed
            # by us (or is in our register), so committing it is safe; the next connect checks the lease.
            return
        if not strict and lease.fresh():
            return
        try:
            lease.verify()
        except SourceError:  # lost (MailboxBusy), our entries or the folder removed, its connection broken
            self.close()
            raise

    def claim(self, item: Incoming) -> tuple[str, str]:
        """Claim a new message on the server before it is recorded (imap_claim). ("ours", ""): record
        and answer it; ("gone", ""): it vanished, or another instance's claim appeared (held, looked
        at again by the next pass); ("other", id): claimed by instance `id` long ago: for staff."""
        if self.fence is None:
            return "ours", ""
        if self.box is None:
            raise SourceError(f"IMAP {self.config.host}:{self.config.port}: not connected")
        folder, uidvalidity, uid = _parse_source_id(item.source_id)
        if folder != self.config.folder or uidvalidity != self.uidvalidity:
            return "gone", ""  # from an earlier folder state: the next scan finds it again
        try:
            verdict, holder = self.fence.take(self.box, uidvalidity, uid)
        except CONNECTION_ERRORS as exc:
            raise self._lost(exc) from exc
        if verdict == "wait":
            self.progress.hold(uid)
            return "gone", ""
        return verdict, holder

    defers = True

    def hold(self, item: Incoming) -> None:
        """A message still being analysed (a long scan) while later ones are recorded: the last UID
        remembered stays below it, so that it is listed again (after a restart too) until recorded."""
        folder, uidvalidity, uid = _parse_source_id(item.source_id)
        if folder == self.config.folder and uidvalidity == self.uidvalidity:
            self.progress.hold(uid)

    def done(self, items: list[tuple[Incoming, str | None]]) -> None:
        """Recorded: mark \\Seen, move to the processed or review folder, remember the UIDs.

        One STORE and one MOVE per target folder for a whole group commit.
        """
        if self.read_only:  # a dry run: remembered here only, the mailbox left as it is
            self.progress.recorded(self.uidvalidity, [_parse_source_id(item.source_id)[2] for item, _ in items])
            return
        targets: dict[str, list[int]] = {}
        for item, disposition in items:
            folder, uidvalidity, uid = _parse_source_id(item.source_id)
            if self.fence is not None:
                self.fence.claimed.discard(uid)  # recorded: ours to answer and file, whatever happens next
            if folder != self.config.folder or uidvalidity != self.uidvalidity:
                continue  # from an earlier folder state: the next scan finds it again
            target = self.config.review_folder if disposition in REVIEW else self.config.processed_folder
            targets.setdefault(target, []).append(uid)
        if not targets or self.box is None:
            return
        # Our claim on each of these (or our register's record) proves they are ours to file, even
        # if the lease was lost since: no other instance records a message we claimed.
        box = self.box
        try:
            for target, uids in targets.items():
                uid_set = ",".join(str(u) for u in uids)
                typ, data = box.client.uid("STORE", uid_set, "+FLAGS.SILENT", r"(\Seen)")
                if typ != "OK":
                    raise imaplib.IMAP4.error(f"STORE {uid_set}: {typ} {data!r}")
                self._move(box, uid_set, target)
        except CONNECTION_ERRORS as exc:
            raise self._lost(exc) from exc
        self.progress.recorded(self.uidvalidity, [u for us in targets.values() for u in us])

    def _move(self, box: BaseMailBox, uid_set: str, folder: str) -> None:
        caps = box.client.capabilities
        target = encode_folder(folder).decode("ascii")  # modified UTF-7: ASCII
        if "MOVE" in caps:
            typ, data = box.client.uid("MOVE", uid_set, target)
        else:
            typ, data = box.client.uid("COPY", uid_set, target)
            if typ == "OK":
                typ, data = box.client.uid("STORE", uid_set, "+FLAGS.SILENT", r"(\Deleted)")
            if typ == "OK" and "UIDPLUS" in caps:
                typ, data = box.client.uid("EXPUNGE", uid_set)  # these UIDs only (RFC 4315)
            elif typ == "OK":
                log.warning(
                    "the server has neither MOVE nor UIDPLUS: UIDs %s left flagged \\Deleted in %s",
                    uid_set,
                    self.config.folder,
                )
        if typ != "OK":
            raise imaplib.IMAP4.error(f"moving UIDs {uid_set} to {folder}: {typ} {data!r}")

    # -- waiting -----------------------------------------------------------------------
    def wait(self, stop: threading.Event, timeout: float) -> None:
        """Until new mail may be there (IDLE, else a poll interval), `timeout`, or interrupt()."""
        box = self.box
        if stop.is_set():
            return
        if box is None or "IDLE" not in box.client.capabilities:
            self._woken(min(timeout, self.poll_interval))
            return
        timeout = min(timeout, self.config.idle_seconds, self.lease.renew_every if self.lease is not None else timeout)
        try:
            if self._arrived(box):
                return  # mail came in during the pass: IDLE would hear of it only at the server's next check
            box.idle.start()
            try:
                # imap-tools' own IDLE poll watches the socket only: poll it beside the wake pipe
                poller = select.poll()
                poller.register(box.client.sock.fileno(), select.POLLIN)
                poller.register(self._wake_r, select.POLLIN)
                ready = {fd for fd, _ in poller.poll(timeout * 1000)}
                self._drain()
                responses = box.idle.poll(timeout=0) if box.client.sock.fileno() in ready else []
            finally:
                box.idle.stop()
        except CONNECTION_ERRORS as exc:
            if not stop.is_set():
                raise self._lost(exc) from exc
            return
        if any(b"BYE" in line for line in responses):
            raise self._lost(EOFError("BYE"))
        self.last_contact = dt.datetime.now(dt.timezone.utc)

    def _arrived(self, box: BaseMailBox) -> bool:
        """New UIDs since the last scan listed its messages (one UID SEARCH)."""
        return any(int(u) > self._listed for u in box.uids(f"UID {self._listed + 1}:*"))

    def _woken(self, timeout: float) -> None:
        select.select([self._wake_r], [], [], timeout)
        self._drain()

    def _drain(self) -> None:
        try:
            while os.read(self._wake_r, 64):
                pass
        except BlockingIOError:
            pass

    def describe(self) -> str:
        return f"imap://{self.config.username}@{self.config.host}:{self.config.port}/{self.config.folder}"


def logout(box: BaseMailBox | None) -> None:
    """Log out if the connection still allows it; a dead one is simply dropped."""
    if box is not None:
        try:
            box.logout()
        except (*CONNECTION_ERRORS, AttributeError):
            pass


def _parse_source_id(source_id: str) -> tuple[str, int, int]:
    _, rest = source_id.split(":", 1)
    folder, uidvalidity, uid = rest.rsplit(":", 2)
    return folder, int(uidvalidity), int(uid)


__all__ = ["CONNECTION_ERRORS", "FolderState", "ImapSource", "logout"]
