"""One mailbot at a time on an IMAP mailbox, whatever its state folder: a lease kept on the server.

The state folder's lock stops a second mailbot on the same machine and folder; it cannot see a
test instance beside production, a cloned VM, or one on another machine reading the same mailbox.
So each instance that works a mailbox keeps a lease in the folder LEASE_FOLDER on the server:

- a *claim*: a small message APPENDed once per process, naming the instance and a random token;
  the server gives it a UID, and UIDs only grow, so of two instances the one that appended first
  has the lower UID whatever their clocks say;
- a *heartbeat*: another message with the same token, replaced every `renew` seconds.

An instance owns the mailbox when its claim has the lowest UID among the live instances (a
heartbeat younger than `seconds` by the server's clock, read from our own latest heartbeat's
INTERNALDATE). Any other instance removes its entries and waits (MailboxBusy). Ownership is
checked again before every commit and every move (imap.py), so a holder that was frozen past
its lease, or whose folder was deleted, finds out before it writes anything.

Entries carry an HMAC under a key only the instances of this deployment have (see lease_key);
anything else in the folder (a forged entry, mail delivered to +mailbot-lease) is logged once
and ignored. A live lease is never taken for our own leftover unless it carries our identity:
a random id kept in the state folder and bound to this machine's boot (identity()), so a cloned
VM or a copied state folder gets an id of its own the first time it runs.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import hashlib
import hmac
import imaplib
import json
import logging
import os
import re
import secrets
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from imap_tools import BaseMailBox
from imap_tools.errors import ImapToolsError
from imap_tools.utils import encode_folder

from mailbot.durable import atomic_write
from mailbot.errors import MailboxBusy, SourceError

log = logging.getLogger(__name__)

# What a lost or refused connection raises, from the socket up through imaplib and imap-tools.
CONNECTION_ERRORS = (OSError, imaplib.IMAP4.error, ImapToolsError, ssl.SSLError, EOFError)

LEASE_FOLDER = "mailbot-lease"
LEASE_SECONDS = 300.0  # default of [mailbox] lease_seconds
IDENTITY_FILE = "instance.json"
BOOT_ID = Path("/proc/sys/kernel/random/boot_id")
_HEADER = "X-Mailbot-Lease"
_FIELD_RE = re.compile(
    rb"X-Mailbot-Lease:\s*v1\s+([0-9a-f]{16})\s+(claim|beat)\s+([0-9a-f]{16})\s+([0-9a-f]{32})\s+([^\r\n]*)"
)
_UID_RE = re.compile(rb"UID (\d+)")
_DATE_RE = re.compile(rb'INTERNALDATE "([^"]+)"')


def clock() -> float:
    """Seconds that keep counting while the machine sleeps (CLOCK_BOOTTIME), where there is one."""
    boottime = getattr(time, "CLOCK_BOOTTIME", None)
    return time.clock_gettime(boottime) if boottime is not None else time.monotonic()


def lease_key(secret: str, username: str) -> bytes:
    """The key that signs lease entries, derived from a secret every instance of the deployment
    has ([mailbox] lease_secret_env, else the IMAP password) and bound to the mailbox's login."""
    return hmac.new(secret.encode("utf-8"), b"mailbot lease v1\0" + username.lower().encode("utf-8"), "sha256").digest()


def identity(state_dir: Path) -> str:
    """This state folder's instance id: random, kept in IDENTITY_FILE, and made anew when the file
    was written on another boot, host, path or folder inode (a cloned VM, a copied folder, a reboot).

    The state lock allows one process per folder on one machine, so a live lease with our id is
    a leftover of ours from before a crash on this boot; a clone never has our id."""
    boot = BOOT_ID.read_text(encoding="ascii").strip() if BOOT_ID.exists() else ""
    folder = state_dir.stat()  # a copy of the folder is another inode, even at the same path
    where = {
        "host": socket.gethostname(),
        "path": str(state_dir.resolve()),
        "boot": boot,
        "inode": f"{folder.st_dev}:{folder.st_ino}",
    }
    path = state_dir / IDENTITY_FILE
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
        if boot and all(saved.get(k) == v for k, v in where.items()) and re.fullmatch(r"[0-9a-f]{16}", saved["id"]):
            return str(saved["id"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    new = secrets.token_hex(8)
    atomic_write(path, json.dumps({"id": new, **where}, indent=1).encode("utf-8"))
    return new


@dataclass(frozen=True)
class Entry:
    uid: int
    token: str  # this process's
    kind: str  # "claim" or "beat"
    instance: str  # the state folder's id (identity())
    about: str  # host, pid and state folder, for people
    at: dt.datetime  # INTERNALDATE: the server's clock


class Lease:
    """The lease, on a connection of its own (`login`) that keeps LEASE_FOLDER selected: a check
    of ownership is one FETCH, and the source's folder stays selected."""

    def __init__(self, state_dir: Path, seconds: float, login: Callable[[], BaseMailBox]) -> None:
        self.state_dir = state_dir
        self.login = login
        self.box: BaseMailBox | None = None
        self.seconds = seconds
        self.renew_every = seconds / 5  # a heartbeat this often; proof of ownership older than this is checked again
        self.id = ""  # identity(), read at the first acquire (a dry run never writes it)
        self.token = secrets.token_hex(8)
        self.key = b""
        self.held = False
        self._proved = -1e18  # clock() of the latest check that we own the mailbox
        self._beat = -1e18  # clock() of our latest heartbeat
        self._ignored: set[tuple[int, int]] = set()  # (UIDVALIDITY, UID) of foreign messages, logged once

    @property
    def about(self) -> str:
        return f"{socket.gethostname()} pid {os.getpid()} {self.state_dir.resolve()}"

    def fresh(self) -> bool:
        """Is the latest proof of ownership younger than the renew period?"""
        return self.held and clock() - self._proved < self.renew_every

    # -- the steps ---------------------------------------------------------------------
    def acquire(self, key: bytes) -> None:
        """Claim the mailbox, or raise MailboxBusy naming the instance that holds it. One claim per
        process: a reconnect adds a heartbeat only. Connection errors go to the caller."""
        self.key = key
        if not self.id:
            self.id = identity(self.state_dir)
        try:
            if self.box is None:
                self.box = self.login()
            box = self.box
            if not box.folder.exists(LEASE_FOLDER):
                box.folder.create(LEASE_FOLDER)
            box.folder.set(LEASE_FOLDER)
            if not any(e.token == self.token and e.kind == "claim" for e in self._entries(box)):
                self._append(box, "claim")
            self._append(box, "beat")
            self._settle(box)
        except CONNECTION_ERRORS:
            self.close()
            raise

    def verify(self) -> None:
        """Ownership checked on the server now (a heartbeat too when one is due): MailboxBusy or
        SourceError if it is lost, the lease folder deleted, or its connection broken."""
        box = self.box
        if box is None:
            self.held = False
            raise SourceError("the lease's connection is closed")
        try:
            if clock() - self._beat >= self.renew_every:
                self._append(box, "beat")
            self._settle(box)
        except CONNECTION_ERRORS as exc:
            self.close()
            raise SourceError(
                f"the lease in {LEASE_FOLDER} cannot be checked ({exc}): the folder deleted, or the connection lost"
            ) from exc

    def release(self) -> None:
        """Remove our claim and heartbeats (a clean stop): another instance may start at once."""
        box = self.box
        if self.held and box is not None:
            self.held = False
            try:
                self._delete(box, [e.uid for e in self._entries(box) if e.token == self.token])
            except CONNECTION_ERRORS as exc:
                log.warning("could not remove our lease from %s: %s", LEASE_FOLDER, exc)
        self.close()

    def close(self) -> None:
        box, self.box = self.box, None
        self.held = False
        if box is not None:
            try:
                box.logout()
            except (*CONNECTION_ERRORS, AttributeError):
                pass

    # -- helpers -----------------------------------------------------------------------
    def _mac(self, token: str, kind: str, instance: str, about: str) -> str:
        return hmac.new(self.key, f"v1|{token}|{kind}|{instance}|{about}".encode(), hashlib.sha256).hexdigest()[:32]

    def _append(self, box: BaseMailBox, kind: str) -> None:
        about = self.about
        now = email.utils.formatdate(localtime=False)
        text = (
            f"{_HEADER}: v1 {self.token} {kind} {self.id} {self._mac(self.token, kind, self.id, about)} {about}\r\n"
            f"From: mailbot <mailbot@localhost>\r\nSubject: mailbot lease ({kind})\r\nDate: {now}\r\n\r\n"
            "Thư này do mailbot tạo để ghi nhận phiên bản đang xử lý hộp thư. Xin đừng xóa.\r\n"
            "Written by mailbot to show which instance works this mailbox. Please do not delete.\r\n"
        )
        typ, data = box.client.append(
            encode_folder(LEASE_FOLDER).decode("ascii"), r"(\Seen)", None, text.encode("utf-8")
        )
        if typ != "OK":
            raise imaplib.IMAP4.error(f"APPEND to {LEASE_FOLDER}: {typ} {data!r}")
        if kind == "beat":
            self._beat = clock()

    def _entries(self, box: BaseMailBox) -> list[Entry]:
        """The signed entries of the (selected) lease folder; anything else is logged once and ignored."""
        typ, data = box.client.uid("FETCH", "1:*", f"(UID INTERNALDATE BODY.PEEK[HEADER.FIELDS ({_HEADER})])")
        if typ != "OK":
            raise imaplib.IMAP4.error(f"FETCH {LEASE_FOLDER}: {typ} {data!r}")
        values = box.client.untagged_responses.get("UIDVALIDITY") or [b"0"]
        validity = int(values[-1]) if isinstance(values[-1], bytes) and values[-1].isdigit() else 0
        out = []
        for item in data:
            if not isinstance(item, tuple):
                continue
            uid, date, field = _UID_RE.search(item[0]), _DATE_RE.search(item[0]), _FIELD_RE.search(item[1] or b"")
            if not (uid and date):
                continue
            if field is not None:
                token, kind, instance, mac = (field.group(i).decode("ascii") for i in range(1, 5))
                about = field.group(5).decode("utf-8", "replace").strip()
                if hmac.compare_digest(mac, self._mac(token, kind, instance, about)):
                    at = email.utils.parsedate_to_datetime(date.group(1).decode("ascii"))
                    out.append(Entry(int(uid.group(1)), token, kind, instance, about, at))
                    continue
            if (validity, int(uid.group(1))) not in self._ignored:
                self._ignored.add((validity, int(uid.group(1))))
                log.warning(
                    "message UID %s in %s is not a lease entry signed by this deployment "
                    "(forged, delivered by mail, or signed with another lease secret): ignored",
                    uid.group(1).decode(),
                    LEASE_FOLDER,
                )
        return out

    def _settle(self, box: BaseMailBox) -> None:
        """Decide who owns the mailbox from what the (selected) lease folder holds now."""
        entries = self._entries(box)
        mine = [e for e in entries if e.token == self.token]
        if not any(e.kind == "claim" for e in mine) or not any(e.kind == "beat" for e in mine):
            self.held = False
            raise SourceError(
                f"our lease in {LEASE_FOLDER} was removed (by a person, or by an instance that took over)"
            )
        beat_uid = max(e.uid for e in mine if e.kind == "beat")
        now = next(e.at for e in mine if e.uid == beat_uid)  # the server's clock
        tokens: dict[str, list[Entry]] = {}
        for entry in entries:
            tokens.setdefault(entry.token, []).append(entry)
        live, dead = [], []
        for token, group in tokens.items():
            claims = [e for e in group if e.kind == "claim"]
            fresh = (now - max(e.at for e in group)).total_seconds() < self.seconds
            # a live lease is ours from before a crash only if it carries this state folder's id
            leftover = token != self.token and group[0].instance == self.id
            if token == self.token or (claims and fresh and not leftover):
                live.append((min(e.uid for e in claims), token, group))
            else:
                dead.append(group)
        live.sort()
        _, owner, group = live[0]
        if owner != self.token:
            self.held = False
            self._delete(box, [e.uid for e in mine])
            age = int((now - max(e.at for e in group)).total_seconds())
            busy = MailboxBusy(
                f"another mailbot ({group[0].about}, instance {group[0].instance}, heartbeat {age} s ago) is "
                f"working this mailbox; waiting for it to stop (its lease is in the folder {LEASE_FOLDER})"
            )
            busy.retry_after = min(10.0, self.seconds / 2)  # take over soon after its lease ends
            raise busy
        first_claim = min(e.uid for e in mine if e.kind == "claim")
        stale = [e.uid for e in mine if e.uid not in (beat_uid, first_claim)]
        self._delete(box, stale + [e.uid for g in dead for e in g])
        self.held = True
        self._proved = clock()

    @staticmethod
    def _delete(box: BaseMailBox, uids: list[int]) -> None:
        if not uids:
            return
        uid_set = ",".join(str(u) for u in sorted(set(uids)))
        box.client.uid("STORE", uid_set, "+FLAGS.SILENT", r"(\Deleted)")
        if "UIDPLUS" in box.client.capabilities:
            box.client.uid("EXPUNGE", uid_set)
        else:  # nothing of value lives in this folder: a plain EXPUNGE harms nothing
            box.client.expunge()
