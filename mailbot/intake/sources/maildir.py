"""A local Maildir: new messages are read from new/ and moved to cur/ once recorded.

Nothing is moved before the record is written, so a crash in between only
means the message is read again, and deduplication makes that harmless.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import logging
import os
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

from mailbot.errors import MailboxBusy, SourceError
from mailbot.intake.sources import Incoming

log = logging.getLogger(__name__)

LOCK_NAME = ".mailbot.lock"  # in the Maildir's root, beside cur/ new/ tmp/


def is_maildir(path: Path) -> bool:
    return (path / "cur").is_dir() and (path / "new").is_dir()


def _mtime(path: Path) -> dt.datetime | None:
    try:
        return dt.datetime.fromtimestamp(path.stat().st_mtime, dt.timezone.utc)
    except OSError:
        return None


def _read(path: Path) -> Incoming:
    return Incoming(source_id=str(path), raw=path.read_bytes(), delivered=_mtime(path))


def iter_paths(paths: Iterable[str | Path]) -> Iterator[Incoming | tuple[str, str]]:
    """Messages from .eml files and Maildir folders; (path, error) for what cannot be read."""
    for item in paths:
        path = Path(item)
        try:
            if path.is_dir():
                if not is_maildir(path):
                    files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() == ".eml")
                else:
                    files = sorted(p for sub in ("cur", "new") for p in (path / sub).iterdir() if p.is_file())
                for file in files:
                    yield _read(file)
            else:
                yield _read(path)
        except OSError as exc:
            yield (str(path), exc.strerror or str(exc))


class MaildirSource:
    """The Department's inbox as a Maildir (the embedded default)."""

    def __init__(self, root: Path, poll_interval: float = 10.0) -> None:
        self.root = root
        self.poll_interval = poll_interval
        self._wake = threading.Event()
        self._lock_fd: int | None = None

    def _take(self) -> None:
        """One mailbot per Maildir, whatever its state folder: a lock file in the Maildir itself."""
        if self._lock_fd is not None:
            return
        fd = os.open(self.root / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "?"
            os.close(fd)
            raise MailboxBusy(
                f"another mailbot ({holder}) is working the Maildir {self.root}; waiting for it to stop"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}\n".encode(), 0)
        self._lock_fd = fd

    def ensure(self) -> None:
        for sub in ("tmp", "new", "cur"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)

    def connect(self) -> Path:
        """The Maildir is there and readable (created when missing)."""
        try:
            self.ensure()
            os.listdir(self.root / "new")
        except OSError as exc:
            raise SourceError(f"cannot read Maildir {self.root}: {exc.strerror}") from exc
        return self.root

    def pending(self) -> Iterator[Incoming]:
        """Messages in new/, oldest first; read lazily, one at a time."""
        try:
            self._take()
            names = sorted(os.listdir(self.root / "new"))
        except OSError as exc:
            raise SourceError(f"cannot read Maildir {self.root}: {exc.strerror}") from exc
        for name in names:
            path = self.root / "new" / name
            try:
                yield _read(path)
            except FileNotFoundError:
                continue  # taken by another reader
            except OSError as exc:
                log.error("cannot read %s: %s", path, exc.strerror)

    def wait(self, stop: threading.Event, timeout: float) -> None:
        """A Maildir is scanned again every poll interval (or sooner: a scheduled job, interrupt())."""
        if not stop.is_set():
            self._wake.wait(min(timeout, self.poll_interval))
        self._wake.clear()

    def interrupt(self) -> None:
        self._wake.set()

    def close(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def describe(self) -> str:
        return str(self.root)

    defers = True  # a message left in new/ is listed again by the next pass

    def hold(self, item: Incoming) -> None:
        """A message still being analysed (a long scan): it stays in new/ until it is recorded."""

    def done(self, items: list[tuple[Incoming, str | None]]) -> None:
        """Recorded: mark as seen, new/NAME -> cur/NAME:2,S (whatever was decided)."""
        for item, _ in items:
            src = Path(item.source_id)
            if src.parent.name != "new":
                continue
            base = src.name.split(":", 1)[0]
            try:
                os.rename(src, self.root / "cur" / f"{base}:2,S")
            except FileNotFoundError:
                pass
