"""Signature checking: time per signed PDF and per S/MIME mail, and the hostile signatures' time
and peak memory.

    .venv/bin/python bench/signatures.py

Part 1 verifies, in this process, a signed two-page plan (the golden fixture's PDF signed by a
carrier certificate of a test PKI: root, intermediate, carrier) REPEAT times each way, no network
(allow_fetching off): trusted, altered after signing, and an S/MIME mail. It prints the median and
the slowest. Part 2 runs `mailbot classify` on each hostile message in a child process of its own,
with the test PKI's root trusted, and prints wall time and peak RSS (interpreter start included).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mailbot.analysis.readers import pdfsig, smime
from mailbot.config.signatures import SignatureSettings, load_certificates
from tests import hostile
from tests.signing import (
    SigningPKI,
    add_page_content,
    flip_signed_byte,
    hostile_pki,
    plan_pdf,
    sign_pdf,
    signed_config,
    smime_sign,
)

REPEAT = 50


def timed(check: Callable[[], object]) -> tuple[float, float]:
    check()  # the first call imports pyhanko; measured on its own below
    times = []
    for _ in range(REPEAT):
        started = time.perf_counter()
        check()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000, max(times) * 1000


def padded(pdf: bytes, size: int) -> bytes:
    """The PDF with an unreferenced stream of `size` random bytes added: the size of a scanned plan."""
    import io

    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    writer.add_object(generic.StreamObject(stream_data=os.urandom(size)))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def import_seconds() -> float:
    code = "import time; t = time.perf_counter(); import pyhanko.sign.validation; print(time.perf_counter() - t)"
    return float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)


def main() -> None:
    folder = Path(tempfile.mkdtemp(prefix="mailbot-bench-sig-"))
    pki = SigningPKI(folder / "pki")
    holder = pki.holder("VIỄN THÔNG ĐỒNG THÁP", "VNPT", "0100684378-036")
    settings = SignatureSettings(trust_roots=tuple(load_certificates(pki.root_pem)))  # type: ignore[arg-type]
    signed = sign_pdf(plan_pdf(), holder)
    large = sign_pdf(padded(plan_pdf(), 5 * 1024 * 1024), holder)
    altered, changed = flip_signed_byte(signed), add_page_content(signed)
    print(f"importing pyhanko's validation in a fresh process: {import_seconds() * 1000:.0f} ms")
    body = b"Content-Type: text/plain; charset=utf-8\r\n\r\nKinh gui So.\r\n"
    mail = smime_sign(body, holder, b"From: kt@vnpt.vn\r\n")
    parts = smime.signed_parts(mail)
    assert parts is not None
    cases: dict[str, Callable[[], object]] = {
        f"signed PDF, {len(signed) // 1024} KB, trusted": lambda: pdfsig.verify(signed, settings),
        "the same, one byte altered": lambda: pdfsig.verify(altered, settings),
        "the same, a page changed after signing": lambda: pdfsig.verify(changed, settings),
        f"signed PDF, {len(large) // 1024 // 1024} MB (a scan's size), trusted": lambda: pdfsig.verify(large, settings),
        "the same, no roots configured": lambda: pdfsig.verify(signed, SignatureSettings()),
        "S/MIME mail": lambda: smime.verify(*parts, settings),
    }
    print(f"\n{'verification (no network)':45} {'median':>8} {'slowest':>8}   ({REPEAT} runs)")
    for name, check in cases.items():
        median, worst = timed(check)
        print(f"{name:45} {median:>6.1f}ms {worst:>6.1f}ms")

    hostile_cases(folder)


def write(folder: Path) -> None:
    """The hostile messages and a configuration trusting their root, written by a child process: a
    forked child counts its parent's memory in its own peak RSS."""
    signed_config(folder, hostile_pki().root_pem)
    for name, make in hostile.CASES.items():
        if name.startswith("signature-"):
            (folder / f"{name}.eml").write_bytes(make())


# Run by a fresh interpreter that imports nothing else: a forked child counts its parent's memory
# in its own peak RSS, and this benchmark's own process holds pyhanko and the test PKI.
MEASURE = """
import os, subprocess, sys, time
from pathlib import Path
cases = Path(sys.argv[1])
for path in sorted(cases.glob("*.eml")):
    begun = time.monotonic()
    child = subprocess.Popen([sys.executable, "-m", "mailbot", "classify", "--config", str(cases / "config.toml"),
                              str(path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    print(f"{path.stem:40} {time.monotonic() - begun:>7.2f}s {usage.ru_maxrss // 1024:>7d}MB  "
          f"{os.waitstatus_to_exitcode(status)}", flush=True)
"""


def hostile_cases(folder: Path) -> None:
    cases = folder / "hostile"
    cases.mkdir()
    subprocess.run([sys.executable, __file__, "--write", str(cases)], check=True)
    print(f"\n{'hostile message (mailbot classify)':40} {'time':>8} {'peak RSS':>9}  exit", flush=True)
    subprocess.run([sys.executable, "-c", MEASURE, str(cases)], check=True)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--write":
        write(Path(sys.argv[2]))
    else:
        main()
