"""Files kept by content hash: raw messages under raw/, attachments under files/.

Content-addressed and written atomically, so writing one is idempotent and
can happen in any process, before the record that refers to it.
A name taken from a message never becomes a path: only the hash does.
A content-addressed file can check itself: a file found at its path is trusted only
when its length and hash match (a power cut can leave the name with no data), and
read() never returns bytes that do not hash to the name.
"""

from __future__ import annotations

import hashlib
import logging
import re
from pathlib import Path

from mailbot.durable import atomic_write, fsync_dir, fsync_file, sync_files, syncfs_trusted
from mailbot.envelope import Envelope
from mailbot.errors import BlobDamaged

log = logging.getLogger(__name__)

_CHUNK = 1 << 20


def file_digest(path: Path) -> tuple[int, str] | None:
    """(length, SHA-256) of a file, None if it cannot be read."""
    sha = hashlib.sha256()
    size = 0
    try:
        with open(path, "rb") as fh:
            while chunk := fh.read(_CHUNK):
                sha.update(chunk)
                size += len(chunk)
    except OSError:
        return None
    return size, sha.hexdigest()


class Blobs:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.unsynced: list[Path] = []  # written with durable=False, made durable by sync()
        self._syncfs: bool | None = None  # syncfs(2) reaches the disk here (not FUSE): found once

    def path(self, digest: str, kind: str) -> Path:
        if not re.fullmatch(r"[0-9a-f]{64}", digest):
            raise ValueError("not a SHA-256 digest")
        folder = self.root / ("raw" if kind == "raw" else "files") / digest[:2]
        return folder / (f"{digest}.eml" if kind == "raw" else digest)

    def intact(self, digest: str, kind: str, size: int | None = None) -> bool:
        """The file is there, `size` bytes long when given, and hashes to its name."""
        path = self.path(digest, kind)
        try:
            if size is not None and path.stat().st_size != size:
                return False
        except OSError:
            return False
        found = file_digest(path)
        return found is not None and found[1] == digest

    def put(self, data: bytes, kind: str, durable: bool = True) -> str:
        """Store bytes under their SHA-256 (kind 'raw' adds .eml); return the hash.

        A file already there is kept only if intact; a torn or empty one is written again
        from `data`. With durable=False the file is made durable by the next sync() (group
        commit), whoever wrote it first: a file another process left unsynced is synced too.
        """
        digest = hashlib.sha256(data).hexdigest()
        path = self.path(digest, kind)
        if not self.intact(digest, kind, len(data)):
            if path.exists():
                log.warning("stored file %s was damaged (a power cut?): written again", path.name)
            created = not path.parent.is_dir()
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(path, data, durable)
            if durable and created:
                fsync_dir(path.parent.parent)
        elif durable:  # intact, but perhaps still only in the page cache of its first writer
            fsync_file(path)
            fsync_dir(path.parent)
            fsync_dir(path.parent.parent)
        if not durable:
            self.unsynced.append(path)
        return digest

    def read(self, digest: str, kind: str) -> bytes:
        """The file's bytes, checked against its name; BlobDamaged if missing, empty or different."""
        path = self.path(digest, kind)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise BlobDamaged(path, f"không đọc được: {exc.strerror or exc}") from exc
        if hashlib.sha256(data).hexdigest() != digest:
            raise BlobDamaged(path, f"nội dung không khớp mã băm ({len(data)} byte)")
        return data

    def sync(self) -> None:
        if self.unsynced and self._syncfs is None:
            self._syncfs = syncfs_trusted(self.root)
        sync_files(self.root, self.unsynced, self._syncfs)
        self.unsynced.clear()

    def put_message(self, envelope: Envelope, durable: bool = True) -> str:
        """The raw message and each of its attachments (archive members live inside their archive)."""
        for att in envelope.parsed.attachments:
            if not att.container:
                self.put(att.data, "file", durable)
        return self.put(envelope.raw, "raw", durable)
