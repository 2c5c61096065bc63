"""A per-message claim on the server: the fence behind the lease.

The lease keeps a second instance idle; it cannot stop one that was frozen (a paused VM, SIGSTOP)
past its lease and resumes in the middle of a pass with messages already read. So before a new
message is recorded, its instance marks it with the keyword CLAIM_PREFIX + its id, by a
conditional STORE (RFC 7162 CONDSTORE: `UID STORE n (UNCHANGEDSINCE modseq) +FLAGS (...)`, where
modseq is the one read with the flags that showed no claim). Of two instances that saw the
message unclaimed, only one STORE succeeds; the other reads the flags again and finds a claim.

A message another instance claimed is never answered here: that instance may have recorded it
and queued its acknowledgement (it sends it: it owns the claim). It goes to staff for review.
Servers without CONDSTORE: the keyword is added, then the flags read again; a message carrying
two claims is answered by neither (both back off), so two instances never both answer it.
"""

from __future__ import annotations

import imaplib
import logging
import re

from imap_tools import BaseMailBox

from mailbot.intake.sources.imap_lease import CONNECTION_ERRORS, Lease, clock

log = logging.getLogger(__name__)

CLAIM_PREFIX = "$MailbotClaim_"
_FLAGS_RE = re.compile(rb"FLAGS \(([^)]*)\)")
_MODSEQ_RE = re.compile(rb"MODSEQ \((\d+)\)")
_UID_RE = re.compile(rb"UID (\d+)")


def _state(box: BaseMailBox, uid: int, condstore: bool) -> tuple[list[str], int] | None:
    """The message's flags and mod-sequence (0 without CONDSTORE); None if it is gone."""
    typ, data = box.client.uid("FETCH", str(uid), "(UID FLAGS MODSEQ)" if condstore else "(UID FLAGS)")
    if typ != "OK":
        raise imaplib.IMAP4.error(f"FETCH {uid} FLAGS: {typ} {data!r}")
    return _parse(data, uid)


def _parse(data: list[object], uid: int) -> tuple[list[str], int] | None:
    """Flags and mod-sequence of `uid` from untagged FETCH responses (of a FETCH or a STORE)."""
    for line in data:
        meta = line[0] if isinstance(line, tuple) else line
        if not isinstance(meta, bytes):
            continue
        found, flags = _UID_RE.search(meta), _FLAGS_RE.search(meta)
        if found and int(found.group(1)) == uid and flags:
            modseq = _MODSEQ_RE.search(meta)
            return flags.group(1).decode("ascii", "replace").split(), int(modseq.group(1)) if modseq else 0
    return None


def foreign(flags: list[str], instance: str) -> str | None:
    """The id of another instance that claimed a message with these flags, if any."""
    others = _others(flags, CLAIM_PREFIX + instance)
    return others[0] if others else None


def release(box: BaseMailBox, uids: list[int], instance: str) -> None:
    """Remove our claim from messages we claimed but did not record (the lease was lost first):
    the instance that holds the mailbox takes them at its next pass."""
    if uids:
        box.client.uid("STORE", ",".join(str(u) for u in sorted(uids)), "-FLAGS.SILENT", f"({CLAIM_PREFIX}{instance})")


def _others(flags: list[str], keyword: str) -> list[str]:
    prefix = CLAIM_PREFIX.lower()
    return [f[len(CLAIM_PREFIX) :] for f in flags if f.lower().startswith(prefix) and f.lower() != keyword.lower()]


def claim(box: BaseMailBox, uid: int, instance: str, seen: tuple[list[str], int] | None = None) -> str | None:
    """Claim message `uid` of the selected folder for `instance`. None: it is ours (now or from
    before); "gone": expunged meanwhile; else the id of the instance that claimed it. `seen`: its
    flags and mod-sequence as read a moment ago (the scan's overview), saving a round trip."""
    keyword = CLAIM_PREFIX + instance
    condstore = "CONDSTORE" in box.client.capabilities
    for _ in range(5):
        state = seen if condstore and seen is not None and seen[1] else _state(box, uid, condstore)
        seen = None
        if state is None:
            return "gone"
        flags, modseq = state
        others = _others(flags, keyword)
        if others:
            return others[0]
        if keyword.lower() in (f.lower() for f in flags):
            return None  # ours: claimed before a crash or a reconnect of this instance
        box.client.untagged_responses.pop("MODIFIED", None)  # imaplib files the tagged [MODIFIED] code here
        if condstore:
            typ, data = box.client.uid("STORE", str(uid), f"(UNCHANGEDSINCE {modseq})", "+FLAGS", f"({keyword})")
        else:
            typ, data = box.client.uid("STORE", str(uid), "+FLAGS", f"({keyword})")
        if typ != "OK":
            raise imaplib.IMAP4.error(f"STORE {uid} {keyword}: {typ} {data!r}")
        if box.client.untagged_responses.pop("MODIFIED", None) or any(
            b"[MODIFIED" in d for d in data if isinstance(d, bytes)
        ):
            continue  # changed since we read it (another claim, most likely): read it again
        # the server answers a (non-silent) STORE with the new flags; with CONDSTORE nothing else
        # can have been added in between, so they settle it without another round trip
        stored = _parse(list(data) + list(box.client.untagged_responses.pop("FETCH", [])), uid)
        state = stored if condstore and stored is not None else _state(box, uid, condstore)
        if state is None:
            return "gone"
        others = _others(state[0], keyword)
        if others:
            return others[0]  # without CONDSTORE two may have added theirs: neither answers
        if keyword.lower() in (f.lower() for f in state[0]):
            return None
        # a server without keywords (PERMANENTFLAGS lacks \\*): the lease alone keeps one instance
        log.warning("the server did not keep the keyword %s on UID %s: no per-message fence", keyword, uid)
        return None
    raise imaplib.IMAP4.error(f"UID {uid} kept changing while we claimed it")


class Fence:
    """The claims of one source between its scan and its commit: the flags and MODSEQ the scan
    read, the messages we claimed and have not recorded yet, and since when each message claimed
    by another instance has been waiting."""

    def __init__(self, lease: Lease) -> None:
        self.lease = lease
        self.claimed: set[int] = set()
        self.seen: dict[int, tuple[list[str], int]] = {}  # UID -> flags and MODSEQ read by the last scan
        self._foreign: dict[tuple[int, int], float] = {}  # UIDVALIDITY, UID -> clock() we first saw it claimed

    def waits(self, uidvalidity: int, uid: int, flags: list[str]) -> bool:
        """Claimed by another instance, which may be frozen with it half done: left in the folder
        while that instance may still record it or give it back; after three lease periods it is
        recorded for staff, never answered (take() says "other")."""
        holder = foreign(flags, self.lease.id) if self.lease.id else None
        if holder is None:
            return False
        if (uidvalidity, uid) not in self._foreign:
            log.warning("UID %s is claimed by another mailbot instance (%s): left for it", uid, holder)
        return not self._expired(uidvalidity, uid)

    def _expired(self, uidvalidity: int, uid: int) -> bool:
        first = self._foreign.setdefault((uidvalidity, uid), clock())
        return clock() - first >= 3 * self.lease.seconds

    def take(self, box: BaseMailBox, uidvalidity: int, uid: int) -> tuple[str, str]:
        """("ours", ""): record and answer it; ("gone", ""): expunged; ("wait", id): claimed by
        instance `id` meanwhile; ("other", id): claimed by it for three lease periods: for staff."""
        holder = claim(box, uid, self.lease.id, self.seen.pop(uid, None))
        if holder is None:
            self.claimed.add(uid)
            return "ours", ""
        if holder == "gone":
            return "gone", ""
        return ("other" if self._expired(uidvalidity, uid) else "wait"), holder

    def give_back(self, box: BaseMailBox, folder: str) -> None:
        """Claimed, never recorded (the lease was lost first): free for the instance that holds it."""
        claimed, self.claimed = sorted(self.claimed), set()
        if claimed:
            try:
                box.folder.set(folder)
                release(box, claimed, self.lease.id)
            except CONNECTION_ERRORS as exc:
                log.warning("could not remove our claim from UIDs %s: %s", claimed, exc)
