"""IMAP figures against a private Dovecot on loopback (Debian's dovecot-imapd).

.venv/bin/python bench/imap.py latency [--count 50]
    APPEND -> acknowledgement accepted by an SMTP server on loopback, one message at a
    time, while `mailbot run` IDLEs; p50 and p95.
.venv/bin/python bench/imap.py backlog [--count 2000] [--sizes uniform|log]
    COUNT messages waiting in INBOX when `mailbot run --once` starts: messages per second
    end to end, beside a plain bulk fetch of the same messages by imap-tools.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.corpus import generate  # noqa: E402
from tests import dovecot as dc  # noqa: E402
from tests.conftest import Recorder, build, free_port, imap_config  # noqa: E402

ENV = {**os.environ, "MAILBOT_TEST_IMAP_PASSWORD": dc.PASSWORD}


@contextmanager
def servers() -> Iterator[tuple[Path, dc.Dovecot, Recorder, int]]:
    """A state folder, a private Dovecot and an SMTP server on loopback; all gone after."""
    from aiosmtpd.controller import Controller

    with tempfile.TemporaryDirectory() as tmp, tempfile.TemporaryDirectory(prefix="mailbot-bench-dovecot-") as mail:
        server = dc.Dovecot(Path(mail))
        server.start()
        recorder = Recorder()
        controller = Controller(recorder, hostname="127.0.0.1", port=free_port())
        controller.start()
        try:
            yield Path(tmp), server, recorder, controller.port
        finally:
            controller.stop()
            server.stop()


def latency(count: int) -> None:
    with servers() as (root, server, recorder, smtp_port):
        config = imap_config(root, smtp_port, server.port)
        child = subprocess.Popen(
            [sys.executable, "-m", "mailbot", "run", "--config", str(config)], stderr=subprocess.DEVNULL, env=ENV
        )
        try:
            server.append(build(sender="kt@vnpt.vn", subject="khởi động", files=(("PA-0.docx", b"0"),)))
            _wait(lambda: len(recorder.messages) == 1, 60)  # started, connected, idling
            samples = []
            with server.client() as box:
                for n in range(1, count + 1):
                    raw = build(sender=f"kt{n}@vnpt.vn", subject=f"Phương án {n}", files=((f"PA-{n}.docx", b"%d" % n),))
                    time.sleep(0.3)  # back in IDLE
                    start = time.monotonic()
                    box.append(raw, "INBOX")
                    _wait(lambda: len(recorder.messages) == n + 1, 30)
                    samples.append(recorder.arrivals[n] - start)
        finally:
            child.terminate()
            child.wait(15)
    samples.sort()
    p50 = statistics.median(samples)
    p95 = samples[max(0, int(round(0.95 * len(samples))) - 1)]
    print(
        f"{count} deliveries: APPEND -> acknowledgement accepted by SMTP: p50 {p50:.3f} s, p95 {p95:.3f} s, "
        f"max {samples[-1]:.3f} s (Dovecot announces new mail 0.5 s after it arrives)"
    )


def backlog(count: int, sizes: str) -> None:
    messages = generate(count, sizes=sizes)
    total_mb = sum(len(m) for m in messages) / 1e6
    with servers() as (root, server, recorder, smtp_port):
        _fill(server, messages)
        with server.client() as box:  # a plain bulk fetch of the same messages
            box.folder.set("INBOX")
            start = time.perf_counter()
            fetched = sum(1 for _ in box.fetch(mark_seen=False, bulk=100))
            fetch_rate = fetched / (time.perf_counter() - start)
        config = imap_config(
            root, smtp_port, server.port, {r"(?m)^auto_reply_cap_per_day = .*$": "auto_reply_cap_per_day = 100000"}
        )
        start = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "mailbot", "run", "--config", str(config), "--once"],
            capture_output=True,
            text=True,
            env=ENV,
        )
        elapsed = time.perf_counter() - start
        if proc.returncode != 0:
            raise SystemExit(proc.stderr)
        left = len(server.folder_uids("INBOX"))
    print(f"{count} messages ({total_mb:.0f} MB) waiting in INBOX")
    print(f"imap-tools bulk fetch alone: {fetch_rate:7.1f} messages/s")
    print(
        f"mailbot run --once:          {count / elapsed:7.1f} messages/s end to end "
        f"({len(recorder.messages)} acknowledgements accepted by SMTP, {left} left in INBOX)"
    )


def _fill(server: dc.Dovecot, messages: list[bytes]) -> None:
    """Straight into the Maildir (as the delivery agent would), then one SELECT indexes them."""
    new = server.home / "Maildir" / "new"
    for sub in ("cur", "new", "tmp"):
        (server.home / "Maildir" / sub).mkdir(parents=True, exist_ok=True)
    for n, raw in enumerate(messages):
        path = new / f"{1617000000 + n}.M{n}P1.bench"
        path.write_bytes(raw)
        if os.geteuid() == 0:
            os.chown(path, server.uid, server.gid)
    if os.geteuid() == 0:
        for folder in (
            server.home,
            server.home / "Maildir",
            *(server.home / "Maildir" / s for s in ("cur", "new", "tmp")),
        ):
            os.chown(folder, server.uid, server.gid)
    with server.client() as box:
        box.folder.set("INBOX")


def _wait(check, timeout: float) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit("timed out")
        time.sleep(0.002)


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="what", required=True)
    p = sub.add_parser("latency")
    p.add_argument("--count", type=int, default=50)
    p = sub.add_parser("backlog")
    p.add_argument("--count", type=int, default=2000)
    p.add_argument("--sizes", choices=["uniform", "log"], default="uniform")
    args = parser.parse_args()
    if args.what == "latency":
        latency(args.count)
    else:
        backlog(args.count, args.sizes)


if __name__ == "__main__":
    main()
