"""What the IMAP source remembers between runs: each folder's UIDVALIDITY and last UID processed."""

from __future__ import annotations

import json
from pathlib import Path

from mailbot.durable import atomic_write


class FolderState:
    """UIDVALIDITY and the last UID processed, per folder, in one small JSON file.

    A hint, not a record: losing it means a rescan, which deduplication makes harmless.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.data: dict[str, dict[str, int]] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            self.data = {}

    def get(self, folder: str) -> tuple[int, int]:
        entry = self.data.get(folder, {})
        return int(entry.get("uidvalidity", 0)), int(entry.get("last_uid", 0))

    def set(self, folder: str, uidvalidity: int, last_uid: int) -> None:
        if self.get(folder) == (uidvalidity, last_uid):
            return
        self.data[folder] = {"uidvalidity": uidvalidity, "last_uid": last_uid}
        atomic_write(self.path, json.dumps(self.data, ensure_ascii=False).encode("utf-8"), durable=False)


class Progress:
    """The last UID to remember for one folder: the highest recorded, but never past a message
    still being analysed (held: a long scan deferred while later mail is recorded), so that a
    restart lists it again."""

    def __init__(self, state: FolderState, folder: str) -> None:
        self.state, self.folder = state, folder
        self.held: set[int] = set()
        self.high = 0

    def reset(self) -> None:  # a new UIDVALIDITY: UIDs start again
        self.held, self.high = set(), 0

    def hold(self, uid: int) -> None:
        self.held.add(uid)

    def gone(self, listed: set[int]) -> None:
        """Held messages no longer in the folder (moved by a person or another instance) hold nothing."""
        self.held.intersection_update(listed)

    def recorded(self, uidvalidity: int, uids: list[int]) -> None:
        self.held.difference_update(uids)
        _, last = self.state.get(self.folder)
        self.high = max([self.high, last, *uids])
        self.state.set(self.folder, uidvalidity, min([self.high, *(u - 1 for u in self.held)]))
