"""Growth: the cost of recording one message with 1,000 and with 50,000 messages already stored.

    .venv/bin/python bench/growth.py [--sizes 1000 50000] [--sample 300]

The register is filled through the Store API (records shaped like real ones,
55% with a submission and an acknowledgement), then the same sample of new
messages is recorded through the real pipeline, each committed on its own
(the worst case: no group commit). Medians are printed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.corpus import generate  # noqa: E402
from mailbot import config as configmod  # noqa: E402
from mailbot.analysis.workers import analyse  # noqa: E402
from mailbot.intake.sources import Incoming  # noqa: E402
from mailbot.pipeline import Runner  # noqa: E402
from mailbot.register.store import Store  # noqa: E402
from mailbot.replies.outbox import DirectoryTransport  # noqa: E402
from mailbot.replies.reply import Templates  # noqa: E402
from tests.conftest import write_config  # noqa: E402


def prefill(store: Store, count: int) -> None:
    for n in range(count):
        key = f"mid:old.{n}@vnpt.vn"
        store.record_message(
            {
                "key": key,
                "message_id": key[4:],
                "raw_sha256": "0" * 64,
                "size": 250_000,
                "source": f"/m/{n}",
                "from": f"nv{n % 37}@vnpt.vn",
                "from_display": "Nhân viên",
                "reply_to": [],
                "subject": "Phương án " * 5,
                "organization": "vnpt-dongthap",
                "date": "2021-03-29T02:15:00+00:00",
                "disposition": "submission",
                "received_at": "2021-03-29T02:15:00+00:00",
                "recorded_at": "2021-03-29T02:15:01+00:00",
                "campaign": "bau-cu-2021",
                "reasons": ["Viễn thông Đồng Tháp gửi Phương án (bau-cu-2021)"] * 2,
                "documents": ["plan"],
                "defects": [],
                "auth": {"trusted": True, "dmarc": "pass", "spf": None, "dkim": None},
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
                "receipt": f"OLD-{n:06d}",
                "reply": f"ack.{n}",
                "reply_note": None,
            }
        )
        if n % 100 < 55:
            store.add_submission(
                {
                    "key": f"{key}#old#plan",
                    "receipt": f"OLD-{n:06d}",
                    "campaign": "old",
                    "organization": "vnpt-dongthap",
                    "document": "plan",
                    "message_key": key,
                    "received_at": "2021-03-29T02:15:00+00:00",
                    "on_time": True,
                    "files": [],
                }
            )
            store.enqueue(
                {
                    "key": f"ack.{n}",
                    "kind": "ack",
                    "to": [f"nv{n % 37}@vnpt.vn"],
                    "subject": "Re: PA",
                    "message_key": key,
                    "raw_sha256": "2" * 64,
                    "created_at": "2021-03-29T02:15:01+00:00",
                    "status": "sent",
                    "attempts": 1,
                }
            )
        if n % 1000 == 999:
            store.commit()
    store.commit()


def measure(existing: int, sample: list[bytes]) -> tuple[float, float]:
    with tempfile.TemporaryDirectory(dir=Path(__file__).resolve().parent.parent / "state") as tmp:
        root = Path(tmp)
        config = configmod.load(
            write_config(root, 25, {r"(?m)^auto_reply_cap_per_day = .*$": "auto_reply_cap_per_day = 100000"})
        )
        store = Store(config.state_dir)
        prefill(store, existing)
        store.close()
        started = time.perf_counter()
        store = Store(config.state_dir)
        opened = time.perf_counter() - started
        runner = Runner(config, store, Templates(), DirectoryTransport(root / "out"))
        analysed = [(Incoming(f"s{n}", raw, None), analyse(raw, f"s{n}", None, config)) for n, raw in enumerate(sample)]
        times = []
        for item, envelope in analysed:
            start = time.perf_counter()
            runner.process(item, envelope)
            store.commit()
            times.append(time.perf_counter() - start)
        store.close()
    print(
        f"{existing:>6} stored: record + commit one message: median {statistics.median(times) * 1000:.2f} ms, "
        f"p90 {statistics.quantiles(times, n=10)[-1] * 1000:.2f} ms (opening the register took {opened:.2f} s)"
    )
    return statistics.median(times), opened


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 50000])
    parser.add_argument("--sample", type=int, default=300)
    args = parser.parse_args()
    sample = generate(args.sample, seed=7)
    results = [measure(n, sample)[0] for n in args.sizes]
    print(f"ratio {args.sizes[-1]} / {args.sizes[0]}: {results[-1] / results[0]:.2f}x (target within 1.3x)")


if __name__ == "__main__":
    main()
