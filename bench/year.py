"""A year of mail: how long the register takes to open, `status`, `review` and the daemon's READY
take, with 20,000 messages recorded (11,063 acknowledgements, 7,001 open review items).

    .venv/bin/python bench/year.py [--messages 20000] [--repeat 3]

The register is filled through the Store API with records shaped like real ones; the commands
run as the operator and staff run them (`python -m mailbot ...`, a fresh process each time);
READY is read from a real notify socket. Medians of --repeat runs are printed, and the peak
memory (RSS) of the daemon once READY.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from mailbot import config as configmod  # noqa: E402
from mailbot.register.store import Store  # noqa: E402
from tests.conftest import write_config  # noqa: E402
from tests.notifysock import NotifySocket  # noqa: E402

ORGS = ["vnpt-dongthap", "viettel-dongthap", "mobifone-mien-nam", "vnpost-dongthap", "viettelpost-dongthap"]


def fill(store: Store, count: int, acks: int, review: int) -> None:
    """`acks` submissions with their acknowledgement, `review` open review items, the rest automated."""
    for n in range(count):
        key = f"mid:year.{n}@example.vn"
        org = ORGS[n % 5]
        kind = "submission" if n < acks else "unknown-sender" if n < acks + review else "automated"
        record = {
            "key": key,
            "message_id": key[4:],
            "raw_sha256": "0" * 64,
            "size": 180_000,
            "source": f"imap:INBOX:1:{n}",
            "from": f"nv{n % 97}@{org}.vn",
            "from_display": "Nhân viên",
            "reply_to": [],
            "subject": f"Phương án bảo đảm thông tin liên lạc số {n}",
            "organization": org if kind != "unknown-sender" else None,
            "date": "2021-03-29T02:15:00+00:00",
            "disposition": kind,
            "received_at": f"2021-{1 + n % 12:02d}-{1 + n % 28:02d}T02:15:00+00:00",
            "recorded_at": f"2021-{1 + n % 12:02d}-{1 + n % 28:02d}T02:15:01+00:00",
            "campaign": "bau-cu-2021",
            "reasons": ["người gửi không thuộc đơn vị nào trong danh sách"],
            "documents": ["plan"] if kind == "submission" else [],
            "defects": [],
            "auth": {"trusted": True, "dmarc": "pass", "spf": None, "dkim": None, "aligned": "dmarc"},
            "attachments": [
                {
                    "filename": f"PA {n}.docx",
                    "size": 30_000,
                    "sha256": "1" * 64,
                    "content_type": "x",
                    "container": "",
                    "inline": False,
                    "document": "plan",
                    "defects": [],
                }
            ],
            "receipt": f"BC2021-{n + 1:05d}" if kind == "submission" else None,
            "reply": f"ack.{n}" if kind == "submission" else None,
            "reply_note": None,
            "fingerprint": f"{n:016x}",
        }
        if kind == "unknown-sender":
            record["review_id"] = store.next_review_id()
        store.record_message(record)
        if kind == "submission":
            store.add_submission(
                {
                    "key": f"{key}#bau-cu-2021#plan",
                    "receipt": record["receipt"],
                    "campaign": "bau-cu-2021",
                    "organization": org,
                    "document": "plan",
                    "message_key": key,
                    "received_at": record["received_at"],
                    "on_time": True,
                    "files": [f"PA {n}.docx"],
                }
            )
            store.enqueue(
                {
                    "key": f"ack.{n}",
                    "kind": "ack",
                    "to": [record["from"]],
                    "subject": "Re: PA",
                    "message_key": key,
                    "raw_sha256": "2" * 64,
                    "created_at": record["recorded_at"],
                    "status": "sent",
                    "attempts": 1,
                }
            )
        if n % 1000 == 999:
            store.commit(durable=False)
    store.commit()


def timed(*args: str, env: dict[str, str] | None = None) -> tuple[float, str]:
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "mailbot", *args], capture_output=True, text=True, env=env)
    if out.returncode != 0:
        raise SystemExit(f"mailbot {' '.join(args)} failed: {out.stderr[-2000:]}")
    return time.perf_counter() - started, out.stdout


def ready(config: Path, folder: Path) -> tuple[float, float, float, float]:
    """Seconds from start to READY=1, the daemon's RSS in MB then, and `status` and `review` while
    it runs (handed over to the daemon)."""
    (folder / "notify").unlink(missing_ok=True)
    sock = NotifySocket(folder / "notify")
    env = {**os.environ, "NOTIFY_SOCKET": str(sock.path)}
    started = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-m", "mailbot", "run", "--config", str(config)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while sock.first("READY") is None:
            if time.perf_counter() - started > 120:
                raise SystemExit("no READY within 120 s")
            time.sleep(0.01)
        took = time.perf_counter() - started
        rss = (
            next(
                int(line.split()[1])
                for line in Path(f"/proc/{child.pid}/status").read_text().splitlines()
                if line.startswith("VmRSS:")
            )
            / 1024
        )
        status = timed("status", "--config", str(config))[0]
        review = timed("review", "--config", str(config))[0]
    finally:
        child.terminate()
        child.wait(30)
        sock.close()
    return took, rss, status, review


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--acks", type=int, default=11063)
    parser.add_argument("--review", type=int, default=7001)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        config = write_config(root, 25)
        cfg = configmod.load(config)
        started = time.perf_counter()
        store = Store(cfg.state_dir)
        fill(store, args.messages, args.acks, args.review)
        store.close()
        print(f"filled {args.messages} messages in {time.perf_counter() - started:.1f} s")
        opens, statuses, reviews, readies, rss, live_status, live_review = [], [], [], [], [], [], []
        lines = 0
        for _ in range(args.repeat):
            started = time.perf_counter()
            Store(cfg.state_dir).close()
            opens.append(time.perf_counter() - started)
            statuses.append(timed("status", "--config", str(config))[0])
            took, text = timed("review", "--config", str(config))
            reviews.append(took)
            lines = len(text.splitlines())
            took, mb, status, review = ready(config, root)
            readies.append(took)
            rss.append(mb)
            live_status.append(status)
            live_review.append(review)
        med = statistics.median
        print(f"register opens (in process): {med(opens):.2f} s")
        print(f"mailbot status:              {med(statuses):.2f} s")
        print(f"mailbot review:              {med(reviews):.2f} s, {lines} lines printed")
        print(f"daemon start to READY=1:     {med(readies):.2f} s, RSS {med(rss):.0f} MB")
        print(f"while the daemon runs:       status {med(live_status):.2f} s, review {med(live_review):.2f} s")


if __name__ == "__main__":
    main()
