"""`mailbot backup --to DIR`: a consistent copy of the state folder, while the daemon runs.

The register's files are only ever replaced whole (write, rename), and every
commit happens under the store's lock. So a snapshot is hard links to the
current files, made under that lock: by the daemon when it runs (asked through
the state folder, as the staff commands are), else by this command holding the
state folder's lock. It costs milliseconds however large the register. The
files of the mail (raw/, files/) are named by their SHA-256 and never change,
so they are copied after, outside any lock: everything the snapshot refers to
was written before it; one already in the previous backup in the same folder is
hard-linked from there rather than copied again (a nightly backup copies only
the day's mail, and removing an old backup removes nothing a newer one holds). The copy is made under a temporary name, checked (every
table loads, every message's file is there) and only then given its final name.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import time
import uuid
from pathlib import Path

from mailbot import config as configmod
from mailbot.clockskew import SLACK, ahead_seconds
from mailbot.errors import MailbotError, StateReadOnly
from mailbot.register.storage import scan
from mailbot.replies.timefmt import size_text

SNAPSHOTS = ".snapshots"
STALE_SECONDS = 86400.0
MUTABLE = ("known_senders.json", "imap-state.json", "ews-state.json")  # small files replaced whole
IMMUTABLE = ("raw", "files", "outbox")  # content-addressed blobs; dry-run .eml files


def snapshot(state_dir: Path, into: Path | None = None) -> Path:
    """Hard links to the committed register; call it with the store's lock held. `into`: copies in
    that folder instead (the state folder cannot be written, so nothing can change it meanwhile)."""
    if into is not None:
        into.mkdir(mode=0o700)
        for path in sorted((state_dir / "db").rglob("*.json")):
            if not path.name.startswith("."):
                (into / "db" / path.relative_to(state_dir / "db")).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, into / "db" / path.relative_to(state_dir / "db"))
        for name in MUTABLE:
            if (state_dir / name).exists():
                shutil.copy2(state_dir / name, into / name)
        return into
    for old in (state_dir / SNAPSHOTS).glob("*"):  # left by a backup that died before removing its own
        made, now = old.stat().st_mtime, time.time()
        if made < now - STALE_SECONDS or ahead_seconds(made, now):  # or from a clock that ran ahead
            shutil.rmtree(old, ignore_errors=True)
    target = state_dir / SNAPSHOTS / f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
    target.mkdir(parents=True)
    db = state_dir / "db"
    for path in sorted(db.rglob("*.json")) if db.is_dir() else []:
        if path.name.startswith("."):
            continue  # a write in progress (none under the lock; left by a kill)
        dest = target / "db" / path.relative_to(db)
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.link(path, dest)
    for name in MUTABLE:
        if (state_dir / name).exists():
            os.link(state_dir / name, target / name)
    return target


def _copy_tree(src: Path, dest: Path, previous: Path | None = None) -> tuple[int, int]:
    """Copy a folder; a file already in `previous` (the last backup's same folder, whose files are
    named by their content) is hard-linked from there instead. Returns (bytes copied, bytes linked)."""
    copied = linked = 0
    for root, _, files in os.walk(src):
        rel = Path(root).relative_to(src)
        out = dest / rel
        out.mkdir(parents=True, exist_ok=True)
        for name in files:
            if name.startswith("."):
                continue  # temporary files of a write in progress
            size = (Path(root) / name).stat().st_size
            before = previous / rel / name if previous is not None else None
            if before is not None and before.is_file() and before.stat().st_size == size:
                try:
                    os.link(before, out / name)
                    linked += size
                    continue
                except OSError:
                    pass  # another file system: copy
            shutil.copy2(Path(root) / name, out / name)
            copied += size
    return copied, linked


def verify(folder: Path) -> dict[str, int]:
    """Every table loads and every file a record names is there; raises MailbotError if not."""
    counts = {}
    for table in ("messages", "submissions", "outbox"):
        counts[table] = 0
        for _, doc in scan(folder / "db" / table):
            counts[table] += 1
            wanted = [("raw", doc.get("raw_sha256"))]
            if table == "messages":
                wanted += [
                    ("files", a.get("sha256"))
                    for a in doc.get("attachments") or []
                    if not a.get("container") and a.get("sha256")
                ]
            for kind, digest in wanted:
                if not digest:
                    continue
                name = f"{digest}.eml" if kind == "raw" else digest
                if not (folder / kind / digest[:2] / name).is_file():
                    raise MailbotError(f"the copy lacks {kind}/{digest[:2]}/{name} named by {table} {doc.get('key')}")
    return counts


def make(state_dir: Path, snap: Path, to: Path, now: dt.datetime) -> tuple[Path, dict[str, int], int, int]:
    to.mkdir(parents=True, exist_ok=True)
    stem = f"mailbot-{now.strftime('%Y%m%d-%H%M%S')}"
    final, n = to / stem, 1
    while final.exists():  # two backups in one second
        n += 1
        final = to / f"{stem}-{n}"
    work = to / f".{final.name}.partial"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(mode=0o700)  # the mail of the carriers: readable by the owner only
    last = _backups(to)[-1] if _backups(to) else None
    copied, linked = _copy_tree(snap, work)
    for name in IMMUTABLE:
        if (state_dir / name).is_dir():
            more, shared = _copy_tree(state_dir / name, work / name, last / name if last else None)
            copied, linked = copied + more, linked + shared
    counts = verify(work)
    os.rename(work, final)
    return final, counts, copied, linked


def _backups(to: Path, now: dt.datetime | None = None) -> list[Path]:
    """The complete backups in `to`, oldest first (by name: the time they were made). With `now`,
    one named after it (made by a clock that ran ahead, since corrected) counts as older than
    every other: it is not the newest, and goes first."""
    latest = (now + SLACK).strftime("mailbot-%Y%m%d-%H%M%S") if now is not None else None
    return sorted(
        (p for p in to.iterdir() if p.is_dir() and p.name.startswith("mailbot-")),
        key=lambda p: (latest is None or p.name[:23] <= latest, p.name[:23], int(p.name[24:] or 1)),
    )


def prune(to: Path, keep: int, now: dt.datetime | None = None) -> list[Path]:
    """Remove all but the `keep` newest backups in `to` (see _backups for `now`)."""
    copies = _backups(to, now)
    old = copies[:-keep] if keep > 0 else []
    for path in old:
        shutil.rmtree(path)
    return old


def cmd_backup(args: argparse.Namespace) -> int:
    from mailbot.runtime import LockBusy, require_state, state_lock
    from mailbot.service import handoff

    config = configmod.load(args.config)
    require_state(config)
    to = Path(args.to).resolve()
    if to == config.state_dir.resolve() or config.state_dir.resolve() in to.parents:
        raise MailbotError(f"--to {to} is inside the state folder {config.state_dir}: choose another place")
    try:
        with state_lock(config.state_dir):
            snap = snapshot(config.state_dir)
    except LockBusy as busy:  # the daemon runs: it takes the snapshot under its store lock
        answer = handoff.submit(config.state_dir, busy.pid, "snapshot", {})
        if not answer.get("ok"):
            raise MailbotError(answer.get("error") or "the running mailbot could not take a snapshot") from None
        snap = Path(answer["output"])
    except StateReadOnly:  # a read-only state folder: nothing can change it, copy it as it is
        to.mkdir(parents=True, exist_ok=True)
        snap = snapshot(config.state_dir, to / f".snapshot-{uuid.uuid4().hex[:6]}")
    now = dt.datetime.now(config.timezone)
    try:
        final, counts, copied, linked = make(config.state_dir, snap, to, now)
    finally:
        shutil.rmtree(snap, ignore_errors=True)
    removed = prune(to, args.keep, now) if args.keep else []
    print(
        f"Đã sao lưu vào {final}: {counts['messages']} thư, {counts['submissions']} tài liệu đã nộp, "
        f"{counts['outbox']} thư gửi đi, {size_text(copied + linked)} (chép mới {size_text(copied)}, phần còn lại "
        f"dùng chung tệp với bản sao trước); đã kiểm tra bản sao đọc được và đủ tệp."
    )
    if removed:
        print(f"Đã xoá {len(removed)} bản sao lưu cũ (giữ {args.keep} bản mới nhất).")
    print(
        f"Khôi phục (khi dịch vụ đã dừng): thay thư mục {config.state_dir} bằng bản sao này (xem docs/operator.md, mục Sao lưu và khôi phục)."
    )
    return 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("backup", help="a consistent, checked copy of the state folder (also while the daemon runs)")
    p.add_argument("--config", required=True)
    p.add_argument("--to", required=True, metavar="DIR", help="the copy goes into DIR/mailbot-YYYYmmdd-HHMMSS")
    p.add_argument(
        "--keep",
        type=int,
        default=0,
        metavar="N",
        help="then remove all but the N newest backups in DIR (default: remove none)",
    )
    p.set_defaults(func=cmd_backup)
