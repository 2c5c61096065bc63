"""Files written whole or not at all, and made to survive a power cut, for every layer (the register,
the sources' progress, the outbox, the daemon's health and hand-off files): atomic_write, fsync, and
syncfs(2) where it can be trusted.

A file written to a temporary name and renamed survives a power cut only if its data
was fsynced before the rename and its folder after: otherwise XFS, or ext4 mounted
with `noauto_da_alloc`, may keep the new name with no data (a 0-byte file).
syncfs(2) flushes a whole filesystem in one call, but on FUSE (and on some network
filesystems) it returns 0 without reaching the filesystem behind it, so it is used only
on local filesystems known to implement it; everywhere else each file is fsynced.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import re
from collections.abc import Iterable
from pathlib import Path

# statfs(2) f_type of the local filesystems whose syncfs reaches the disk
_SYNCFS_TRUSTED = {
    0xEF53: "ext4",  # ext2/3/4
    0x58465342: "xfs",
    0x9123683E: "btrfs",
    0xF2F52010: "f2fs",
    0x2FC12FC1: "zfs",
    0x01021994: "tmpfs",  # nothing to sync: gone at power-off anyway
    0x794C7630: "overlay",  # syncs its upper filesystem
}
FUSE_MAGIC = 0x65735546
# filesystems where state_dir does not belong: the data lives on another machine or
# behind a user-space process, and fsync is only as good as that process makes it
REMOTE_TYPES = ("fuse", "nfs", "cifs", "smb", "smb3", "9p", "ceph", "glusterfs", "sshfs", "davfs", "afs")


def fsync_path(path: Path) -> None:
    """A file's data, or a folder's entries, on disk (both are opened read-only and fsynced)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


fsync_dir = fsync_file = fsync_path  # the names say what the caller makes durable


def atomic_write(path: Path, data: bytes, durable: bool = True) -> None:
    """Write all of `data` to `path` or nothing: temp file, fsync, rename, fsync folder.

    Without `durable` the fsyncs are left out: still whole after a kill -9 (the
    page cache outlives the process), but after a power cut the file may be the
    old version, missing, or the new name with no data. Only for files that are
    made durable later (blobs: Blobs.sync before the commit) or whose loss is
    harmless (health.json, a handoff answer, the IMAP and EWS progress hints).
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


def fs_magic(path: Path) -> int | None:
    """statfs(2) f_type of the filesystem holding `path` (Linux), else None."""

    class _Statfs(ctypes.Structure):  # only f_type is read: a long at the start on Linux
        _fields_ = [("f_type", ctypes.c_long), ("rest", ctypes.c_byte * 256)]

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        buf = _Statfs()
        if libc.statfs(os.fsencode(path), ctypes.byref(buf)) != 0:
            return None
    except (OSError, AttributeError):
        return None
    return buf.f_type & 0xFFFFFFFF


def filesystem_type(path: Path) -> str | None:
    """The type /proc/self/mountinfo gives the mount holding `path` ("ext4", "fuse.lazyfs", "nfs4")."""
    try:
        target = os.path.realpath(path)
        lines = Path("/proc/self/mountinfo").read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    best, kind = "", None
    for line in lines:
        fields = line.split(" ")
        try:
            sep = fields.index("-")
        except ValueError:
            continue
        point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[4])  # \040: a space
        inside = target == point or target.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best) and sep + 1 < len(fields):
            best, kind = point, fields[sep + 1]
    return kind


def remote_filesystem(path: Path) -> str | None:
    """The filesystem type when `path` is on FUSE or a network filesystem, else None."""
    existing = next((p for p in [path, *path.parents] if p.exists()), Path("/"))
    kind = filesystem_type(existing) or ""
    if fs_magic(existing) == FUSE_MAGIC or kind.split(".")[0] in REMOTE_TYPES or kind.startswith("fuse"):
        return kind or "fuse"
    return None


def syncfs_trusted(folder: Path) -> bool:
    return fs_magic(folder) in _SYNCFS_TRUSTED


def _syncfs(folder: Path) -> bool:
    try:
        syncfs = ctypes.CDLL(None, use_errno=True).syncfs
    except (OSError, AttributeError):
        return False
    fd = os.open(folder, os.O_RDONLY)
    try:
        return bool(syncfs(fd) == 0)
    finally:
        os.close(fd)


def sync_files(folder: Path, files: Iterable[Path], trusted: bool | None = None) -> None:
    """Make files written without fsync durable, with their folders and the folders' parents
    (a folder created for them). One syncfs(2) where `folder`'s filesystem is trusted with it,
    else an fsync of each. `trusted`: syncfs_trusted(folder), when the caller knows it already."""
    paths = list(dict.fromkeys(files))
    if not paths:
        return
    if trusted is None:
        trusted = syncfs_trusted(folder)
    if trusted and _syncfs(folder):
        return
    for path in paths:
        fsync_file(path)
    folders = {p.parent for p in paths}
    for parent in sorted(folders | {f.parent for f in folders}, key=lambda p: -len(p.parts)):
        fsync_dir(parent)
