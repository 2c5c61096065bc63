"""One mailbot at a time on an IMAP mailbox, whatever its state folder: a lease kept on the server.

The state folder's lock stops a second mailbot on the same machine and folder; it cannot see a
test instance beside production, or one on another machine, reading the same mailbox. So each
instance that works a mailbox keeps a lease in the folder LEASE_FOLDER on the server:

- a *claim*: a small message APPENDed once, naming the instance (host, pid, state folder) and a
  random token; the server gives it a UID, and UIDs only grow, so of two instances the one that
  appended first has the lower UID whatever their clocks say;
- a *heartbeat*: another message with the same token, replaced every RENEW_SECONDS.

An instance owns the mailbox when its claim has the lowest UID among the live instances (a
heartbeat younger than LEASE_SECONDS by the server's clock, read from our own latest heartbeat's
INTERNALDATE). Any other instance removes its claim and waits (MailboxBusy: the daemon retries
every few seconds, `run --once` stops with the message). A lease from the same host and
state folder is ours from before a crash (the state lock allows no other) and is taken over at
once; an expired one is removed by the owner; a clean stop removes its own.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import imaplib
import os
import re
import secrets
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from imap_tools import BaseMailBox
from imap_tools.utils import encode_folder

from mailbot.errors import MailboxBusy, SourceError

LEASE_FOLDER = "mailbot-lease"
RENEW_SECONDS = 60.0
LEASE_SECONDS = 300.0
_HEADER = "X-Mailbot-Lease"
_FIELD_RE = re.compile(rb"X-Mailbot-Lease:\s*(\w+)\s+(claim|beat)\s+([^\r\n]*)", re.I)
_UID_RE = re.compile(rb"UID (\d+)")
_DATE_RE = re.compile(rb'INTERNALDATE "([^"]+)"')


@dataclass(frozen=True)
class Entry:
    uid: int
    token: str
    kind: str  # "claim" or "beat"
    instance: str  # host, pid and state folder, for people and for recognising our own
    at: dt.datetime  # INTERNALDATE: the server's clock


class Lease:
    def __init__(self, state_dir: Path) -> None:
        self.identity = f"{socket.gethostname()} {state_dir.resolve()}"  # one instance per host and state
        self.token = secrets.token_hex(8)
        self.held = False
        self._renewed = -RENEW_SECONDS  # time.monotonic() of our latest heartbeat

    @property
    def instance(self) -> str:
        return f"{self.identity} pid {os.getpid()}"

    # -- the steps ---------------------------------------------------------------------
    def acquire(self, box: BaseMailBox) -> None:
        """Claim the mailbox, or raise MailboxBusy naming the instance that holds it."""
        if not box.folder.exists(LEASE_FOLDER):
            box.folder.create(LEASE_FOLDER)
        self._append(box, "claim")
        self._append(box, "beat")
        self._settle(box)

    def renew(self, box: BaseMailBox) -> bool:
        """A fresh heartbeat when one is due, and ownership checked again; True if the lease folder
        was selected (the caller selects its own folder again). MailboxBusy if we lost it."""
        if time.monotonic() - self._renewed < RENEW_SECONDS:
            return False
        self._append(box, "beat")
        self._settle(box)
        return True

    def release(self, box: BaseMailBox) -> None:
        """Remove our claim and heartbeats (a clean stop): another instance may start at once."""
        if not self.held:
            return
        self.held = False
        box.folder.set(LEASE_FOLDER)
        self._delete(box, [e.uid for e in self._entries(box) if e.token == self.token])

    # -- helpers -----------------------------------------------------------------------
    def _append(self, box: BaseMailBox, kind: str) -> None:
        now = email.utils.formatdate(localtime=False)
        text = (
            f"{_HEADER}: {self.token} {kind} {self.instance}\r\nFrom: mailbot <mailbot@localhost>\r\n"
            f"Subject: mailbot lease ({kind})\r\nDate: {now}\r\n\r\n"
            "Thư này do mailbot tạo để ghi nhận phiên bản đang xử lý hộp thư. Xin đừng xóa.\r\n"
            "Written by mailbot to show which instance works this mailbox. Please do not delete.\r\n"
        )
        typ, data = box.client.append(
            encode_folder(LEASE_FOLDER).decode("ascii"), r"(\Seen)", None, text.encode("utf-8")
        )
        if typ != "OK":
            raise imaplib.IMAP4.error(f"APPEND to {LEASE_FOLDER}: {typ} {data!r}")

    def _entries(self, box: BaseMailBox) -> list[Entry]:
        typ, data = box.client.uid("FETCH", "1:*", f"(UID INTERNALDATE BODY.PEEK[HEADER.FIELDS ({_HEADER})])")
        if typ != "OK":
            raise imaplib.IMAP4.error(f"FETCH {LEASE_FOLDER}: {typ} {data!r}")
        out = []
        for item in data:
            if not isinstance(item, tuple):
                continue
            uid, date, field = _UID_RE.search(item[0]), _DATE_RE.search(item[0]), _FIELD_RE.search(item[1] or b"")
            if uid and date and field:
                out.append(
                    Entry(
                        int(uid.group(1)),
                        field.group(1).decode("ascii", "replace"),
                        field.group(2).decode("ascii").lower(),
                        field.group(3).decode("utf-8", "replace"),
                        email.utils.parsedate_to_datetime(date.group(1).decode("ascii")),
                    )
                )
        return out

    def _settle(self, box: BaseMailBox) -> None:
        """Decide who owns the mailbox from what the lease folder holds now."""
        box.folder.set(LEASE_FOLDER)
        entries = self._entries(box)
        mine = [e for e in entries if e.token == self.token]
        if not any(e.kind == "claim" for e in mine):
            raise SourceError(f"our claim in {LEASE_FOLDER} was removed by someone; claiming again")
        beat_uid = max(e.uid for e in mine if e.kind == "beat")
        now = next(e.at for e in mine if e.uid == beat_uid)  # the server's clock
        tokens: dict[str, list[Entry]] = {}
        for entry in entries:
            tokens.setdefault(entry.token, []).append(entry)
        live, dead = [], []
        for token, group in tokens.items():
            claims = [e for e in group if e.kind == "claim"]
            beat = max(e.at for e in group)
            ours_before = token != self.token and group[0].instance.rsplit(" pid ", 1)[0] == self.identity
            if token == self.token or (claims and not ours_before and (now - beat).total_seconds() < LEASE_SECONDS):
                live.append((min(e.uid for e in claims) if claims else 1 << 62, token, group))
            else:
                dead.append(group)
        live.sort()
        _, owner, group = live[0]
        if owner != self.token:
            self.held = False
            self._delete(box, [e.uid for e in mine])
            age = int((now - max(e.at for e in group)).total_seconds())
            raise MailboxBusy(
                f"another mailbot ({group[0].instance}, heartbeat {age} s ago) is working this "
                f"mailbox; waiting for it to stop (its lease is in the folder {LEASE_FOLDER})"
            )
        old_beats = [e.uid for e in mine if e.kind == "beat" and e.uid != beat_uid]
        self._delete(box, old_beats + [e.uid for g in dead for e in g])
        self.held = True
        self._renewed = time.monotonic()

    @staticmethod
    def _delete(box: BaseMailBox, uids: list[int]) -> None:
        if not uids:
            return
        uid_set = ",".join(str(u) for u in sorted(set(uids)))
        box.client.uid("STORE", uid_set, "+FLAGS.SILENT", r"(\Deleted)")
        if "UIDPLUS" in box.client.capabilities:
            box.client.uid("EXPUNGE", uid_set)
        else:  # only lease messages live in this folder: a plain EXPUNGE harms nothing
            box.client.expunge()
