"""What the IMAP source remembers between runs: each folder's UIDVALIDITY and last UID processed."""

from __future__ import annotations

import json
from pathlib import Path

from mailbot.register.storage import atomic_write


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
