"""Files kept by content hash: raw messages under raw/, attachments under files/.

Content-addressed and written atomically, so writing one is idempotent and
can happen in any process, before the record that refers to it.
A name taken from a message never becomes a path: only the hash does.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from mailbot.durable import atomic_write, sync_filesystem
from mailbot.envelope import Envelope


class Blobs:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.unsynced: list[Path] = []  # written with durable=False, made durable by sync()

    def path(self, digest: str, kind: str) -> Path:
        if not re.fullmatch(r"[0-9a-f]{64}", digest):
            raise ValueError("not a SHA-256 digest")
        folder = self.root / ("raw" if kind == "raw" else "files") / digest[:2]
        return folder / (f"{digest}.eml" if kind == "raw" else digest)

    def put(self, data: bytes, kind: str, durable: bool = True) -> str:
        """Store bytes under their SHA-256 (kind 'raw' adds .eml); return the hash.

        With durable=False the file is made durable by the next sync() (group commit).
        """
        digest = hashlib.sha256(data).hexdigest()
        path = self.path(digest, kind)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(path, data, durable)
            if not durable:
                self.unsynced.append(path)
        return digest

    def sync(self) -> None:
        sync_filesystem(self.root, self.unsynced)
        self.unsynced.clear()

    def put_message(self, envelope: Envelope, durable: bool = True) -> str:
        """The raw message and each of its attachments (archive members live inside their archive)."""
        for att in envelope.parsed.attachments:
            if not att.container:
                self.put(att.data, "file", durable)
        return self.put(envelope.raw, "raw", durable)
