"""Assigning a message whose PDF is hostile: what reading it costs, and what `mailbot assign` costs.

    .venv/bin/python bench/assign.py [--seconds 3]

Prints, for the PDF of tests/hostile.py (each page one content stream of 1.9 M operands):
its size, the time pypdf's layout-mode reader (the duty-list reader) takes on one page, and
the wall time of `mailbot assign` of such a message from a Gmail address, 5 and 20 pages, with
`[mailbot] analyse_seconds` set to --seconds and OCR off (interpreter start included). The
first figure times what the daemon's loop ran before the fix, per page; the second is the bound
now (the limit, plus a worker process's start).
"""

from __future__ import annotations

import argparse
import io
import logging
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.conftest import deliver  # noqa: E402
from tests.hostile import heavy_content_pdf  # noqa: E402
from tests.test_assign_bounded import heavy_mail, setup  # noqa: E402


def page_seconds() -> float:
    import pypdf

    logging.getLogger("pypdf").setLevel(logging.ERROR)
    reader = pypdf.PdfReader(io.BytesIO(heavy_content_pdf(1)))
    started = time.monotonic()
    reader.pages[0].extract_text(extraction_mode="layout")
    return time.monotonic() - started


def assign_seconds(pages: int, seconds: int) -> tuple[float, str]:
    folder = Path(tempfile.mkdtemp(prefix="mailbot-bench-assign-"))
    config = str(setup(folder, 25, seconds))
    deliver(folder, heavy_mail(pages), "1.eml")
    subprocess.run([sys.executable, "-m", "mailbot", "run", "--config", config, "--once"], capture_output=True)
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "mailbot", "assign", "--config", config, "XL-0001", "vnpt-dongthap"],
        capture_output=True,
        text=True,
    )
    return time.monotonic() - started, done.stderr.strip().splitlines()[-1][:100] if done.stderr else "ok"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=3, help="[mailbot] analyse_seconds for the assign")
    args = parser.parse_args()
    for pages in (5, 20):
        print(f"hostile PDF, {pages} pages: {len(heavy_content_pdf(pages)):,} bytes")
    print(f"layout-mode text of one page: {page_seconds():.1f} s")
    for pages in (5, 20):
        took, said = assign_seconds(pages, args.seconds)
        print(f"mailbot assign, {pages} pages, analyse_seconds={args.seconds}: {took:.2f} s — {said}")


if __name__ == "__main__":
    main()
