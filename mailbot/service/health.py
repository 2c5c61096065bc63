"""The daemon's health: mailbox contact, the outbox backlog, the next scheduled job.

The running daemon keeps a Health and writes it to state_dir/health.json when
its state changes (and at most every HEARTBEAT_SECONDS otherwise), so that
`mailbot status` can tell a stopped or stuck daemon from a healthy one.
"""

from __future__ import annotations

import datetime as dt
import errno
import json
import logging
import os
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from mailbot.config import Config
from mailbot.durable import atomic_write
from mailbot.register.store import Store, parse_iso, utc_iso
from mailbot.replies.reminders import steps
from mailbot.replies.timefmt import short_time

log = logging.getLogger(__name__)

FILE = "health.json"
PADDED = 4096  # bytes of health.json, padded with spaces
HEARTBEAT_SECONDS = 60.0  # health.json is rewritten at least this often while the daemon runs
STATES = {
    "starting": "đang khởi động",
    "ready": "đang chờ thư mới",
    "unreachable": "mất kết nối hộp thư",
    "stopped": "đã dừng",
}


@dataclass
class Health:
    pid: int
    started_at: str
    mailbox: str = ""
    state: str = "starting"
    updated_at: str = ""
    last_contact: str | None = None  # last successful exchange with the mailbox
    lost_since: str | None = None  # the mailbox unreachable since ...
    last_error: str | None = None
    recorded: int = 0  # messages recorded since start
    store_error: str | None = None  # the register cannot be written now (a full disk)
    _saved: float = 0.0

    def as_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if not k.startswith("_")}

    def contact(self, now: dt.datetime) -> bool:
        """The mailbox answered; True when that ends an outage."""
        was_lost = self.state == "unreachable"
        self.last_contact, self.lost_since, self.state = utc_iso(now), None, "ready"
        return was_lost

    def lost(self, now: dt.datetime, error: str) -> bool:
        """The mailbox did not answer; True when an outage begins."""
        began = self.state != "unreachable"
        if began:
            self.lost_since = utc_iso(now)
        self.state, self.last_error = "unreachable", error
        return began

    def save(self, state_dir: Path, now: dt.datetime, force: bool = False) -> None:
        """Write health.json (never fsynced: it is rewritten often and lost harmlessly)."""
        if not force and time.monotonic() - self._saved < HEARTBEAT_SECONDS:
            return
        self.updated_at = utc_iso(now)
        data = json.dumps(self.as_json(), ensure_ascii=False).encode("utf-8")
        data += b" " * max(0, PADDED - len(data))  # a fixed size, so that it can be rewritten in place
        path = state_dir / FILE
        try:
            try:
                atomic_write(path, data, durable=False)
            except OSError as exc:
                if exc.errno not in (errno.ENOSPC, errno.EDQUOT) or not path.exists() or len(data) > PADDED:
                    raise
                # A full disk is exactly when staff must hear of it: overwrite the old blocks, no new ones.
                fd = os.open(path, os.O_WRONLY)
                try:
                    os.pwrite(fd, data, 0)
                finally:
                    os.close(fd)
            self._saved = time.monotonic()
        except OSError as exc:  # must not stop the daemon; status then shows it as stale
            log.warning("cannot write %s: %s", path, exc)


def load(state_dir: Path) -> Health | None:
    try:
        data = json.loads((state_dir / FILE).read_text(encoding="utf-8"))
        names = {f.name for f in fields(Health) if not f.name.startswith("_")}
        return Health(**{k: v for k, v in data.items() if k in names})
    except (OSError, ValueError, TypeError):
        return None


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


def next_jobs(config: Config, store: Store, now: dt.datetime) -> list[tuple[dt.datetime, str]]:
    """The next reminder step and the next daily digest, soonest first."""
    out: list[tuple[dt.datetime, str]] = []
    for campaign in config.campaigns:
        for doc in campaign.documents:
            if doc.reminders is None:
                continue
            owing = [
                o
                for o in config.organizations
                if o.id in doc.organizations and not store.latest_submission(campaign.id, o.id, doc.id)
            ]
            upcoming = [s for s in steps(config, campaign, doc, doc.reminders) if s.due > now]
            if owing and upcoming:
                out.append((upcoming[0].due, f"nhắc hạn “{doc.name}” cho {len(owing)} đơn vị chưa gửi"))
    if config.digest.to:
        local = now.astimezone(config.timezone)
        at = dt.datetime.combine(local.date(), config.digest.time, tzinfo=config.timezone)
        out.append((at if at > local else at + dt.timedelta(days=1), "bản tổng hợp hằng ngày cho cán bộ"))
    return sorted(out, key=lambda job: job[0])


def outbox_figures(store: Store) -> dict[str, Any]:
    pending = store.pending_mail()  # kept in memory by the store
    failed = sum(1 for m in store.outbox.all() if m["status"] == "failed")
    oldest = min((m["created_at"] for m in pending), default=None)
    return {
        "pending": len(pending),
        "oldest_pending": oldest,
        "failed": failed,
        "retrying": sum(1 for m in pending if m.get("attempts")),
    }


def report(config: Config, store: Store, health: Health | None, running: bool, now: dt.datetime) -> dict[str, Any]:
    return {
        "running": running,
        "daemon": health.as_json() if health else None,
        "outbox": outbox_figures(store),
        "next_jobs": [{"at": at.isoformat(), "what": what} for at, what in next_jobs(config, store, now)],
    }


def render(config: Config, data: dict[str, Any]) -> str:
    tz = config.timezone
    when = lambda iso: short_time(parse_iso(iso), tz)  # noqa: E731
    daemon = data["daemon"]
    lines = []
    if data["running"] and daemon:
        lines.append(
            f"Dịch vụ: đang chạy (pid {daemon['pid']}), khởi động lúc {when(daemon['started_at'])}; "
            f"{STATES.get(daemon['state'], daemon['state'])}; "
            f"{daemon['recorded']} thư ghi nhận từ khi khởi động."
        )
    elif daemon:
        lines.append(f"Dịch vụ: không chạy (lần cuối ghi nhận trạng thái lúc {when(daemon['updated_at'])}).")
    else:
        lines.append("Dịch vụ: không chạy (chưa từng chạy ở chế độ dịch vụ với thư mục trạng thái này).")
    if daemon:
        contact = when(daemon["last_contact"]) if daemon.get("last_contact") else "chưa lần nào"
        line = f"Hộp thư {daemon['mailbox']}: liên lạc được lần cuối lúc {contact}"
        if daemon.get("lost_since"):
            line += f"; mất kết nối từ {when(daemon['lost_since'])}: {daemon.get('last_error')}"
        lines.append(line + ".")
    if daemon and daemon.get("store_error"):
        lines.append(
            f"Sổ ghi nhận: KHÔNG GHI ĐƯỢC ({daemon['store_error']}) — kiểm tra dung lượng đĩa; thư chưa "
            f"ghi nhận vẫn nằm trong hộp thư và sẽ được xử lý khi ghi được."
        )
    box = data["outbox"]
    line = f"Thư gửi đi: {box['pending']} thư chờ gửi"
    if box["pending"]:
        line += f" (cũ nhất từ {when(box['oldest_pending'])}, {box['retrying']} thư đang thử gửi lại)"
    line += f", {box['failed']} thư gửi lỗi"
    lines.append(line + (" — xem `mailbot digest` hoặc nhật ký dịch vụ." if box["failed"] else "."))
    jobs = data["next_jobs"]
    if jobs:
        lines.append(
            "Việc sắp tới: "
            + "; ".join(f"{j['what']} lúc {short_time(dt.datetime.fromisoformat(j['at']), tz)}" for j in jobs[:3])
            + "."
        )
    else:
        lines.append("Việc sắp tới: không có lời nhắc hay bản tổng hợp nào được lên lịch.")
    return "\n".join(lines)
