"""Files written whole or not at all, for every layer: the register, the mailbox sources' progress,
the outbox, the daemon's health and hand-off files.

atomic_write writes a temporary file, fsyncs it, renames it over the old one and fsyncs the folder;
without `durable` it leaves the fsyncs out (still whole after a kill -9, not promised after a power
cut), and sync_filesystem makes such files durable later, many at once.
"""

from __future__ import annotations

import ctypes
import os
from pathlib import Path


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes, durable: bool = True) -> None:
    """Write all of `data` to `path` or nothing: temp file, fsync, rename, fsync folder.

    Without `durable` the fsyncs are left out: still whole after a kill -9 (the
    page cache outlives the process), but not promised after a power cut.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            if durable:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise
    if durable:
        fsync_dir(path.parent)


def sync_filesystem(folder: Path, files: list[Path]) -> None:
    """Make files written without fsync durable: one syncfs(2) of their filesystem
    (Linux), else an fsync of each file and folder."""
    if not files:
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        syncfs = libc.syncfs
    except (OSError, AttributeError):
        syncfs = None
    if syncfs is not None:
        fd = os.open(folder, os.O_RDONLY)
        try:
            if syncfs(fd) == 0:
                return
        finally:
            os.close(fd)
    for path in files:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    for parent in {p.parent for p in files}:
        fsync_dir(parent)
