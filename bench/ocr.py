"""OCR of scans and phone photos: accuracy on drawn test documents, speed, memory, and the
acknowledgement latency of a plain plan behind a 20-page scan.

    .venv/bin/python bench/ocr.py [--no-accuracy] [--skip-latency] [--only-daemon] [--burst] [--twenty]

1. Accuracy: duty lists of 6 people with numbers drawn at random (seeded), in 8 shapes: printed
   with ruled and unruled tables, blurred like a scanner, photographed 2° and -1.5° off, and under a
   red seal; 10 of each (480 numbers). Each message goes through workers.analyse as the daemon's
   workers do. Printed: numbers exactly right and clean, flagged (uncertain, invalid or missing),
   and WRONG BUT CLEAN, which must be 0.
2. Speed: seconds per A4 page at 300 dpi (ruled tables, 10 pages; 20 with --twenty), read by one
   OCR child and by one child per core (at most ocrjob.MAX_CHILDREN), and a child's peak memory.
3. Memory: the daemon's RSS before its first mail, with its workers alive after one, and once the
   workers have ended (worker_idle_seconds = 5).
4. Latency: with the daemon running, a 20-page scan is delivered, then a plain plan 1 s later; the
   seconds until the plan's acknowledgement reaches the SMTP server, and until the scan's.
5. A burst (--burst: only this): ten 3-page scans, then five plain plans, delivered together to the
   running daemon; when each plan's acknowledgement arrives, when the scans' do, the peak memory of
   the daemon and its children meanwhile.
"""

from __future__ import annotations

import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mailbot import config as configmod
from mailbot.analysis.workers import analyse
from tests import scans
from tests.conftest import build, deliver, write_config

NAMES = [
    "Trần Văn Nam",
    "Nguyễn Thị Lan",
    "Lê Văn Hùng",
    "Võ Thị Em",
    "Phạm Minh Tuấn",
    "Huỳnh Thanh Bình",
    "Đỗ Quang Vinh",
    "Bùi Thị Hạnh",
    "Đặng Hữu Phước",
    "Ngô Thị Mỹ Linh",
    "Dương Văn Lộc",
    "Lý Thanh Tâm",
]
ROLES = ["Giám đốc", "Phó Giám đốc", "Trưởng phòng", "Chuyên viên", "Kỹ thuật viên", "Nhân viên", "Tổ trưởng"]
PREFIXES = ["091", "094", "088", "098", "097", "086", "090", "093", "089", "070", "079", "077", "081", "083", "085"]


def people(rng: random.Random) -> list[tuple[str, str, str]]:
    out = []
    import phonenumbers

    for name in rng.sample(NAMES, 6):
        while True:  # a number phonenumbers holds valid: an invalid one would be flagged for that alone
            digits = rng.choice(PREFIXES) + "".join(rng.choice("0123456789") for _ in range(7))
            if phonenumbers.is_valid_number(phonenumbers.parse(digits, "VN")):
                break
        out.append((name, rng.choice(ROLES), f"{digits[:4]} {digits[4:7]} {digits[7:]}"))
    return out


SHAPES = {
    "printed, ruled": lambda p: (scans.duty_list(p, ruled=True), "pdf"),
    "printed, unruled": lambda p: (scans.duty_list(p, ruled=False), "pdf"),
    "scanner blur, ruled": lambda p: (scans.blurred(scans.duty_list(p, ruled=True)), "pdf"),
    "scanner blur, unruled": lambda p: (scans.blurred(scans.duty_list(p, ruled=False)), "pdf"),
    "photo 2°, ruled": lambda p: (scans.photographed(scans.duty_list(p, ruled=True), 2.0), "jpeg"),
    "photo 2°, unruled": lambda p: (scans.photographed(scans.duty_list(p, ruled=False), 2.0), "jpeg"),
    "photo -1.5°, ruled": lambda p: (scans.photographed(scans.duty_list(p, ruled=True), -1.5), "jpeg"),
    "red seal, ruled": lambda p: (scans.sealed(scans.duty_list(p, ruled=True)), "pdf"),
}


def accuracy(config: configmod.Config, per_shape: int = 10) -> None:
    rng = random.Random(2021)
    print(f"{'shape':24} {'numbers':>8} {'right':>6} {'flagged':>8} {'WRONG+CLEAN':>12} {'rows missed':>12}")
    totals: Counter[str] = Counter()
    for shape, make in SHAPES.items():
        counts: Counter[str] = Counter()
        for _ in range(per_shape):
            scan, kind = make(people(rng))
            data = scan.pdf() if kind == "pdf" else scan.jpeg()
            raw = build(
                sender="kt@vnpt.vn", subject="gửi văn bản", files=((f"scan.{'pdf' if kind == 'pdf' else 'jpg'}", data),)
            )
            env = analyse(raw, "bench", None, config)
            rows = {r["name"]: r for r in env.duty_rows.get("duty-list", [])}
            for name, number in zip(scan.names, scan.numbers):
                counts["numbers"] += 1
                row = rows.get(name)
                if row is None:
                    counts["missed"] += 1
                    continue
                clean = [p for p in row["phones"] if p["e164"] and not any(p["text"] in q for q in row["problems"])]
                if not clean or row["problems"]:
                    counts["flagged"] += 1
                elif [re.sub(r"\D", "", p["text"]) for p in clean] == [number]:
                    counts["right"] += 1
                else:
                    counts["wrong"] += 1
        totals.update(counts)
        print(
            f"{shape:24} {counts['numbers']:>8} {counts['right']:>6} {counts['flagged']:>8} {counts['wrong']:>12} {counts['missed']:>12}"
        )
    n = totals["numbers"]
    print(f"{'all':24} {n:>8} {totals['right']:>6} {totals['flagged']:>8} {totals['wrong']:>12} {totals['missed']:>12}")
    print(
        f"exactly right {100 * totals['right'] / n:.1f}%, flagged {100 * totals['flagged'] / n:.1f}%, "
        f"rows not found {100 * totals['missed'] / n:.1f}%, wrong numbers shown as clean: {totals['wrong']}"
    )


MEASURE = """
import resource, sys, time
from mailbot.analysis.readers import ocrjob
if hasattr(ocrjob, "MAX_CHILDREN"):
    ocrjob.MAX_CHILDREN = int(sys.argv[2])
data = open(sys.argv[1], "rb").read()
started = time.monotonic()
result = ocrjob.run(data, "pdf", 50, 600)
use = resource.getrusage(resource.RUSAGE_CHILDREN)
print(result.pages, time.monotonic() - started, use.ru_maxrss // 1024, use.ru_utime + use.ru_stime)
"""


def speed(folder: Path, pages: int = 10) -> None:
    """One file's pages read by one OCR child, then shared among up to MAX_CHILDREN (one per core)."""
    import os

    from mailbot.analysis.readers import ocrjob

    path = folder / "pages.pdf"
    path.write_bytes(scans.multipage_pdf([scans.duty_list(people(random.Random(n))) for n in range(pages)]))
    cores = len(os.sched_getaffinity(0))
    print(f"\n{pages} A4 pages at 300 dpi, {cores} cores (load average {os.getloadavg()[0]:.1f}):")
    for children in sorted({1, ocrjob.children(pages)}):
        out = subprocess.run(
            [sys.executable, "-c", MEASURE, str(path), str(children)], capture_output=True, text=True, check=True
        )
        read, seconds, peak, cpu = out.stdout.split()
        print(
            f"  {children} child{'ren' if children > 1 else ''}: {float(seconds):.1f} s, "
            f"{float(seconds) / int(read):.2f} s per page (start and model load included), "
            f"{float(cpu) / int(read):.2f} CPU s per page; peak RSS of a child {peak} MB"
        )


HOSTILE = """
import resource, sys, time
from mailbot.analysis.readers import ocrjob
from mailbot.errors import ReaderError
data = open(sys.argv[1], "rb").read()
started = time.monotonic()
try:
    result = ocrjob.run(data, sys.argv[2], 20, 60)
    outcome = f"read {result.pages} pages, {result.skipped} skipped"
except ReaderError as exc:
    outcome = str(exc)
print(f"{time.monotonic() - started:.2f}s", resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024, outcome)
"""


def hostile(folder: Path) -> None:
    """Each hostile scan through the OCR child (the analysis of a typed duty list reads it)."""
    cases = {
        "PNG declaring 100,000 x 100,000 px": (scans.huge_png(), "png"),
        "PDF of 10,000 pages without text": (scans.pages_pdf(10_000), "pdf"),
        "CCITT image of 100,000 x 100,000 px": (scans.image_bomb_pdf(b"CCITTFaxDecode"), "pdf"),
        "JBIG2 image of 100,000 x 100,000 px": (scans.image_bomb_pdf(b"JBIG2Decode"), "pdf"),
    }
    print(f"\n{'hostile scan (OCR child)':38} {'time':>7} {'peak RSS':>9}  outcome")
    for name, (data, kind) in cases.items():
        path = folder / "hostile.bin"
        path.write_bytes(data)
        out = subprocess.run(
            [sys.executable, "-c", HOSTILE, str(path), kind], capture_output=True, text=True, check=True
        )
        seconds, peak, outcome = out.stdout.strip().split(" ", 2)
        print(f"{name:38} {seconds:>7} {peak:>7} MB  {outcome}")


def rss(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def tree_rss(pid: int) -> tuple[float, int]:
    """(RSS of the process and its children, number of children)."""
    kids = [int(c) for task in Path(f"/proc/{pid}/task").iterdir() for c in (task / "children").read_text().split()]
    return rss(pid) + sum(rss(k) for k in kids), len(kids)


def daemon_figures(folder: Path, skip_latency: bool) -> None:
    from tests.conftest import smtp_sink

    with smtp_sink() as (recorder, port):
        _daemon_figures(folder, skip_latency, recorder, port)


def _daemon_figures(folder: Path, skip_latency: bool, recorder: Any, port: int) -> None:
    path = write_config(folder, port, {r"(?m)^workers = .*$": "workers = 0\nworker_idle_seconds = 5"})
    child = subprocess.Popen([sys.executable, "-m", "mailbot", "run", "--config", str(path)], stderr=subprocess.DEVNULL)
    try:
        time.sleep(3)
        before = tree_rss(child.pid)
        deliver(folder, build(sender="kt@vnpt.vn", subject="Phương án", files=(("PA.docx", b"pa"),)), "0.eml")
        deadline = time.monotonic() + 60
        while not recorder.messages and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)
        working = tree_rss(child.pid)
        time.sleep(7)
        after = tree_rss(child.pid)
        print(
            f"\ndaemon RSS: before its first mail {before[0]:.0f} MB ({before[1]} children); with workers "
            f"{working[0]:.0f} MB ({working[1]} children); workers ended {after[0]:.0f} MB ({after[1]} children)"
        )
        if skip_latency:
            return
        scan = scans.multipage_pdf([scans.duty_list(people(random.Random(n))) for n in range(20)])
        deliver(folder, build(sender="kt@viettel.com.vn", subject="gửi văn bản", files=(("scan.pdf", scan),)), "1.eml")
        time.sleep(1.0)
        sent = time.monotonic()
        deliver(folder, build(sender="kt@mobifone.vn", subject="Phương án", files=(("PA.docx", b"pa"),)), "2.eml")
        deadline = time.monotonic() + 300
        while len(recorder.messages) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        order = [m["To"] for m in recorder.parsed()[1:]]
        print(
            f"a plain plan 1 s behind a 20-page scan: acknowledged {recorder.arrivals[1] - sent:.2f} s after it "
            f"arrived; the scan {recorder.arrivals[2] - sent + 1:.1f} s after its own arrival; order {order}"
        )
    finally:
        child.send_signal(signal.SIGTERM)
        child.wait(60)


def burst(folder: Path) -> None:
    from tests.conftest import smtp_sink

    with smtp_sink() as (recorder, port):
        path = write_config(folder, port)
        child = subprocess.Popen(
            [sys.executable, "-m", "mailbot", "run", "--config", str(path)], stderr=subprocess.DEVNULL
        )
        try:
            time.sleep(3)
            scan = scans.multipage_pdf([scans.duty_list(people(random.Random(n))) for n in range(3)])
            start = time.monotonic()
            for n in range(10):
                raw = build(sender=f"kt{n}@vnpt.vn", subject="gửi văn bản", files=(("scan.pdf", scan),))
                deliver(folder, raw, f"{n:02d}.scan")
            for n in range(5):
                raw = build(sender=f"pa{n}@viettel.com.vn", subject="Phương án", files=(("PA.docx", b"pa"),))
                deliver(folder, raw, f"{10 + n:02d}.plain")
            peak = 0.0
            deadline = time.monotonic() + 600
            while len(recorder.messages) < 15 and time.monotonic() < deadline:
                try:
                    peak = max(peak, tree_rss(child.pid)[0])
                except OSError:
                    pass
                time.sleep(0.2)
            times = [(m["To"], t - start) for m, t in zip(recorder.parsed(), recorder.arrivals)]
            plans = [t for to, t in times if to.startswith("pa")]
            scanned = [t for to, t in times if to.startswith("kt")]
            print(
                f"burst of 10 three-page scans then 5 plans: plans acknowledged {min(plans):.1f}-{max(plans):.1f} s "
                f"after delivery; scans {min(scanned):.1f}-{max(scanned):.1f} s; "
                f"{len(times)} acknowledgements; peak RSS of the daemon and its children {peak:.0f} MB"
            )
        finally:
            child.send_signal(signal.SIGTERM)
            child.wait(60)


def main() -> None:
    config = configmod.load(Path(__file__).resolve().parent.parent / "config.example.toml")
    if "--burst" in sys.argv:
        with tempfile.TemporaryDirectory() as folder:
            burst(Path(folder))
        return
    with tempfile.TemporaryDirectory() as folder:
        if "--only-daemon" not in sys.argv:
            if "--no-accuracy" not in sys.argv:
                accuracy(config)
            speed(Path(folder), 20 if "--twenty" in sys.argv else 10)
            hostile(Path(folder))
        (Path(folder) / "daemon").mkdir()
        daemon_figures(Path(folder) / "daemon", "--skip-latency" in sys.argv)


if __name__ == "__main__":
    main()
