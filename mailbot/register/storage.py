"""TinyDB storage that survives kill -9, and tables whose write cost does not grow.

TinyDB's JSONStorage rewrites its file in place, so a kill mid-write leaves it
unreadable, and every insert rewrites every record. TinyDB ships nothing
better, hence these two small pieces:

- AtomicJSONStorage writes a temporary file, fsyncs it, renames it over the
  old one and fsyncs the folder: the file on disk is always a complete
  version, the old or the new, after a kill -9 or a power cut.
- SegmentedTable keeps a table as numbered TinyDB files of at most
  `segment_size` records each; an insert rewrites only the newest segment,
  an update only the segment holding the record, whatever the table's size.
Writes are kept in memory until flush(), so that many records cost one
write of each changed segment (group commit); the caller decides the order
in which tables reach the disk.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from tinydb import Query, TinyDB
from tinydb.storages import Storage
from tinydb.table import Table

from mailbot.durable import atomic_write, fsync_dir
from mailbot.errors import RecordError, StateDamaged

TABLE = "records"


def check_record(doc: dict[str, Any]) -> None:
    """Raise RecordError unless the segment file could hold `doc` (as flush() will write it)."""
    try:
        json.dumps(doc, ensure_ascii=False).encode("utf-8")
    except (TypeError, ValueError) as exc:  # UnicodeEncodeError is a ValueError
        raise RecordError(f"record {str(doc.get('key'))[:80]!a} cannot be stored: {exc}") from None


class AtomicJSONStorage(Storage):
    """A TinyDB storage written atomically, with the last good data kept in memory.

    mailbot is the only writer of its state folder (one instance per folder),
    so the in-memory copy is the file's content.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._data: dict[str, Any] | None = None
        self.dirty = False

    def read(self) -> dict[str, Any] | None:
        if self._data is None:
            try:
                raw = self.path.read_bytes()
            except FileNotFoundError:
                return None
            try:
                self._data = json.loads(raw)
            except ValueError as exc:
                raise StateDamaged(self.path, exc) from None
        return self._data

    def write(self, data: dict[str, Any]) -> None:
        """Kept in memory until flush()."""
        self._data = data
        self.dirty = True

    def flush(self, durable: bool = True, leave_out: frozenset[str] = frozenset()) -> None:
        """Write the file; records whose key is in `leave_out` are not written (the storage stays
        dirty, so that a later flush without them writes them)."""
        if not self.dirty or self._data is None:
            return
        data, left = self._data, False
        if leave_out:
            data = {}
            for name, records in self._data.items():
                kept = {i: d for i, d in records.items() if d.get("key") not in leave_out}
                left = left or len(kept) != len(records)
                data[name] = kept
        atomic_write(self.path, json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8"), durable)
        self.dirty = left

    def evict(self) -> None:
        """Forget the in-memory copy (read again when needed); never unflushed changes."""
        if not self.dirty:
            self._data = None

    def close(self) -> None:
        self._data = None
        self.dirty = False


_SEGMENT_RE = re.compile(r"^(\d{6})\.json$")


class SegmentedTable:
    """A keyed table stored as numbered TinyDB files of bounded size."""

    def __init__(
        self, folder: Path, segment_size: int = 200, observe: Callable[[dict[str, Any]], None] | None = None
    ) -> None:
        """`observe` sees every record once as the table opens (to derive in-memory indexes)."""
        self.folder = folder
        self.segment_size = segment_size
        if not folder.is_dir():
            folder.mkdir(parents=True)
            fsync_dir(folder.parent)  # the new folder's own name survives a power cut
        for stale in folder.glob(".*.tmp"):  # left by a kill or a power cut during a write: never read
            stale.unlink(missing_ok=True)
        self._dbs: dict[int, TinyDB] = {}
        self._dirty: set[int] = set()  # segments changed since the last flush
        self._index: dict[str, int] = {}
        self._counts: dict[int, int] = {}
        numbers = sorted(int(m.group(1)) for p in folder.iterdir() if (m := _SEGMENT_RE.match(p.name)))
        for number in numbers:
            count = 0
            for doc in self._table(number).all():
                self._index[doc["key"]] = number
                count += 1
                if observe is not None:
                    observe(doc)
            self._counts[number] = count
            if number != numbers[-1]:
                self._dbs.pop(number).close()  # reopened on demand
        self._last = numbers[-1] if numbers else 1

    def _db(self, number: int) -> TinyDB:
        db = self._dbs.get(number)
        if db is None:
            db = TinyDB(self.folder / f"{number:06d}.json", storage=AtomicJSONStorage)
            self._dbs[number] = db
        return db

    def _table(self, number: int) -> Table:
        return self._db(number).table(TABLE, cache_size=0)

    def _evict(self, number: int) -> None:
        db = self._dbs.get(number)
        if db is not None:
            db.storage.evict()  # type: ignore[attr-defined]

    def __len__(self) -> int:
        return len(self._index)

    def __contains__(self, key: str) -> bool:
        return key in self._index

    def get(self, key: str) -> dict[str, Any] | None:
        number = self._index.get(key)
        if number is None:
            return None
        doc = self._table(number).get(Query().key == key)
        if number != self._last:
            self._evict(number)
        return dict(doc) if doc is not None else None

    def insert(self, doc: dict[str, Any]) -> bool:
        """Insert a record with a new `key`; False (and nothing written) if the key exists."""
        key = doc["key"]
        if key in self._index:
            return False
        check_record(doc)
        if self._counts.get(self._last, 0) >= self.segment_size:
            self._evict(self._last)
            self._last += 1
        self._table(self._last).insert(doc)
        self._dirty.add(self._last)
        self._index[key] = self._last
        self._counts[self._last] = self._counts.get(self._last, 0) + 1
        return True

    def update(self, key: str, fields: dict[str, Any]) -> None:
        number = self._index[key]
        check_record({"key": key, **fields})
        self._table(number).update(fields, Query().key == key)
        self._dirty.add(number)
        if number != self._last:
            self._evict(number)

    def flush(self, durable: bool = True, leave_out: frozenset[str] = frozenset()) -> None:
        """Write every changed segment (one write each, however many records changed), without the
        records whose key is in `leave_out` (their segments stay to be written)."""
        for number in sorted(self._dirty):
            storage = self._dbs[number].storage
            storage.flush(durable, leave_out)  # type: ignore[attr-defined]
            if storage.dirty:  # type: ignore[attr-defined]
                continue
            if number != self._last:
                storage.evict()  # type: ignore[attr-defined]
            self._dirty.discard(number)

    def all(self) -> Iterator[dict[str, Any]]:
        """Every record, oldest segment first, one segment in memory at a time."""
        for number in sorted(self._counts):
            docs = [dict(d) for d in self._table(number).all()]
            if number != self._last:
                self._evict(number)
            yield from docs

    def close(self) -> None:
        for db in self._dbs.values():
            db.close()
        self._dbs.clear()
        self._dirty.clear()


def scan(folder: Path) -> Iterator[tuple[Path, dict[str, Any]]]:
    """Every record of a SegmentedTable folder, read only (nothing created, nothing removed).

    Raises StoreError naming the first file that does not load.
    """
    if not folder.is_dir():
        return
    for path in sorted(p for p in folder.iterdir() if _SEGMENT_RE.match(p.name)):
        try:
            data = json.loads(path.read_bytes())
            records = data.get(TABLE, {}) if isinstance(data, dict) else None
            if not isinstance(records, dict):
                raise ValueError(f"no {TABLE!r} table")
        except (OSError, ValueError) as exc:
            raise StateDamaged(path, exc) from None
        for doc in records.values():
            yield path, doc
