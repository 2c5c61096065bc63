"""Hostile messages and a 25 MB message: time and peak memory of analysing each one.

    .venv/bin/python bench/hostile.py

Each message is analysed by `mailbot classify` in a child process of its own (parse,
attachments and archives read, classification; what a worker process of the daemon
does), so the wall time and peak memory (ru_maxrss) printed are that message's alone,
interpreter start (about 0.2 s and 30 MB) included.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.hostile import CASES, _attachment, _mixed, _text  # noqa: E402


def large(size: int = 25 * 1024 * 1024) -> bytes:
    """A plan of 25 MB: a docx-named attachment of random bytes (base64 in the mail: 34 MB)."""
    return _mixed("large", [_text(), _attachment(b"Phuong-an-25MB.docx", os.urandom(size))])


def run(path: Path) -> tuple[float, int, int]:
    started = time.monotonic()
    child = subprocess.Popen(
        [sys.executable, "-m", "mailbot", "classify", str(path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    _, status, usage = os.wait4(child.pid, 0)
    return time.monotonic() - started, usage.ru_maxrss // 1024, os.waitstatus_to_exitcode(status)


def write(folder: Path) -> None:
    """Write every case into folder (run in a child: building a case can take hundreds of MB, which
    a forked child would count in its own peak RSS)."""
    for name, make in {**CASES, "message-25MB": large}.items():
        (folder / f"{name}.eml").write_bytes(make())


def main() -> None:
    print(f"{'case':40} {'size':>10} {'time':>8} {'peak RSS':>9}  exit")
    with tempfile.TemporaryDirectory() as folder:
        subprocess.run([sys.executable, __file__, "--write", folder], check=True)
        for name in [*CASES, "message-25MB"]:
            path = Path(folder) / f"{name}.eml"
            seconds, peak, code = run(path)
            print(f"{name:40} {path.stat().st_size / 1e6:>8.2f}MB {seconds:>7.2f}s {peak:>7d}MB  {code}")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--write":
        write(Path(sys.argv[2]))
    else:
        main()
