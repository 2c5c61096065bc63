"""Throughput: N generated messages through `mailbot run --once` to an SMTP server on loopback,
beside the parse-only rate of mail-parser on the same messages in the same run.

    .venv/bin/python bench/throughput.py [--count 2000] [--sizes uniform|log]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import mailparser

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.corpus import generate  # noqa: E402
from tests.conftest import Recorder, free_port, write_config  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--sizes", choices=["uniform", "log"], default="uniform")
    args = parser.parse_args()
    from aiosmtpd.controller import Controller

    messages = generate(args.count, sizes=args.sizes)
    sizes = [len(m) for m in messages]
    total_mb = sum(sizes) / 1e6
    print(
        f"{len(messages)} messages, {min(sizes) // 1000}-{max(sizes) // 1000} KB "
        f"(median {statistics.median(sizes) / 1000:.0f} KB), {total_mb:.0f} MB in all"
    )

    start = time.perf_counter()
    for raw in messages:
        mailparser.parse_from_bytes(raw)
    parse_rate = len(messages) / (time.perf_counter() - start)
    print(f"mail-parser alone:   {parse_rate:7.1f} messages/s")

    recorder = Recorder()
    controller = Controller(recorder, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            config = write_config(
                root, controller.port, {r"(?m)^auto_reply_cap_per_day = .*$": "auto_reply_cap_per_day = 100000"}
            )
            for n, raw in enumerate(messages):
                (root / "maildir" / "new" / f"{1617000000 + n}.M{n}.bench").write_bytes(raw)
            start = time.perf_counter()
            proc = subprocess.run(
                [sys.executable, "-m", "mailbot", "run", "--config", str(config), "--once"],
                capture_output=True,
                text=True,
            )
            elapsed = time.perf_counter() - start
            if proc.returncode != 0:
                raise SystemExit(proc.stderr)
    finally:
        controller.stop()
    rate = len(messages) / elapsed
    print(
        f"mailbot run --once:  {rate:7.1f} messages/s end to end "
        f"({len(recorder.messages)} acknowledgements accepted by SMTP, process start included)"
    )
    print(f"end to end / parse-only: {rate / parse_rate:.0%} (target at least 70%)")
    print(f"mailbot said: {proc.stdout.strip()}")


if __name__ == "__main__":
    main()
