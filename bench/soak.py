"""Soak: the daemon through 24 simulated hours at 10x a busy election week, memory sampled.

    .venv/bin/python bench/soak.py [--count 5000] [--batches 96] [--sizes log]

A busy election week brought the Department a few hundred messages; ten times that in one
day is 5,000. They arrive in 96 batches (one per simulated quarter hour) into the Maildir
of a running `mailbot run` (worker processes, group commits, an SMTP server on loopback).
After each batch is recorded and answered, the resident memory of the daemon and of its
worker processes is read from /proc, and the time per message of that batch noted. The
verdict compares the end with the state after warm-up (the first tenth of the batches).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiosmtpd.controller import Controller  # noqa: E402

from bench.corpus import generate  # noqa: E402
from tests.conftest import Recorder, free_port, write_config  # noqa: E402


def rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(entry.name))
            except (OSError, ValueError, IndexError):
                continue
    return out


class Sink(Recorder):
    """Counts what it receives, keeps nothing (5,000 mails would otherwise be memory of the bench)."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: ANN001
        self.count += 1
        return "250 OK"


Row = tuple[
    int, int, float, float, float, int, int
]  # batch, messages, ms/message, daemon MB, workers MB, children, replies


def soak(count: int, batches: int, sizes: str, quiet: bool = False) -> tuple[list[Row], int]:
    """Run the daemon through `count` messages in `batches`; one row per batch, and the replies received."""
    messages = generate(count, seed=24, sizes=sizes)
    per = -(-len(messages) // batches)
    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=free_port())
    controller.start()
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        config = write_config(
            tmp,
            controller.port,
            {
                r"(?m)^auto_reply_cap_per_day = .*$": "auto_reply_cap_per_day = 100000",
                r"(?m)^poll_interval = .*$": "poll_interval = 0.2",
            },
        )
        new = tmp / "maildir" / "new"
        new.mkdir(parents=True, exist_ok=True)
        daemon = subprocess.Popen(
            [sys.executable, "-m", "mailbot", "run", "--config", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        rows = []
        sent_before = 0
        try:
            time.sleep(2)
            for batch in range(batches):
                chunk = messages[batch * per : (batch + 1) * per]
                if not chunk:
                    break
                started = time.monotonic()
                for n, raw in enumerate(chunk):
                    (new / f"{1617000000 + batch * per + n}.{n}.soak").write_bytes(raw)
                while any(new.iterdir()):
                    time.sleep(0.02)
                seconds = time.monotonic() - started  # recorded (the replies go out alongside)
                time.sleep(0.3)
                main_kb = rss_kb(daemon.pid)
                kids = children(daemon.pid)
                workers_kb = sum(rss_kb(k) for k in kids)
                rows.append(
                    (
                        batch,
                        len(chunk),
                        seconds / len(chunk) * 1000,
                        main_kb / 1024,
                        workers_kb / 1024,
                        len(kids),
                        sink.count - sent_before,
                    )
                )
                sent_before = sink.count
                if not quiet:
                    print(
                        f"batch {batch:3d}: {len(chunk)} messages, {rows[-1][2]:6.1f} ms/message, daemon "
                        f"{rows[-1][3]:6.1f} MB, {len(kids)} children {rows[-1][4]:6.1f} MB",
                        flush=True,
                    )
        finally:
            daemon.terminate()
            daemon.wait(60)
            controller.stop()
    return rows, sink.count


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--batches", type=int, default=96)
    parser.add_argument("--sizes", choices=["uniform", "log"], default="log")
    args = parser.parse_args()
    rows, replies = soak(args.count, args.batches, args.sizes)
    warm = max(1, len(rows) // 10)
    after = rows[warm:]
    first, last = after[: len(after) // 4], after[-(len(after) // 4) :]
    main_warm, main_end, main_max = rows[warm - 1][3], rows[-1][3], max(r[3] for r in after)
    total_warm, total_end = rows[warm - 1][3] + rows[warm - 1][4], rows[-1][3] + rows[-1][4]
    print()
    print(f"{sum(r[1] for r in rows)} messages in {len(rows)} batches, {replies} replies received")
    print(
        f"daemon RSS after warm-up (batch {warm - 1}) {main_warm:.1f} MB, at the end {main_end:.1f} MB, "
        f"highest after warm-up {main_max:.1f} MB; with its worker processes {total_warm:.1f} -> {total_end:.1f} MB"
    )
    print(
        f"time per message, median of the first and last quarter after warm-up: "
        f"{statistics.median(r[2] for r in first):.1f} ms and {statistics.median(r[2] for r in last):.1f} ms"
    )


if __name__ == "__main__":
    main()
