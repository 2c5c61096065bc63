"""Duty-list extraction: a 5,000-row xlsx and a 50-page text PDF, time and peak memory.

    .venv/bin/python bench/dutylist.py

Each case runs in a child process, so its peak memory (ru_maxrss) is its own.
"""

from __future__ import annotations

import io
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def xlsx(rows: int) -> bytes:
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["DANH SÁCH TRỰC"])
    ws.append(["STT", "Họ và tên", "Chức vụ", "Đơn vị", "Số điện thoại", "Thời gian trực"])
    for n in range(1, rows + 1):
        ws.append(
            [n, f"Nguyễn Văn {n}", "Trực ban", "Trung tâm Điều hành", f"0913.{n % 1000:03d}.{n % 997:03d}", "Ca 1"]
        )
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def pdf(pages: int, rows_per_page: int = 40) -> bytes:
    """A plain text PDF (Helvetica, ASCII), one table of rows per page, written by hand for the benchmark."""
    objects = ["<< /Type /Catalog /Pages 2 0 R >>", "", "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    kids = []
    for page in range(pages):
        lines = ["BT /F1 9 Tf 40 800 Td 12 TL", "(STT     Ho va ten              Chuc vu          So dien thoai) Tj T*"]
        for r in range(rows_per_page):
            n = page * rows_per_page + r + 1
            lines.append(f"({n:<6}  Nguyen Van {n:<10}   Truc ban         0913 {n % 1000:03d} {n % 997:03d}) Tj T*")
        lines.append("ET")
        stream = "\n".join(lines)
        objects.append(f"<< /Length {len(stream)} >>\nstream\n{stream}\nendstream")
        content = len(objects)
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents {content} 0 R "
            f"/Resources << /Font << /F1 3 0 R >> >> >>"
        )
        kids.append(f"{len(objects)} 0 R")
    objects[1] = f"<< /Type /Pages /Kids [{' '.join(kids)}] /Count {pages} >>"
    out, offsets = b"%PDF-1.4\n", []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode("latin-1")
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += "".join(f"{o:010d} 00000 n \n" for o in offsets).encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return out


def case(path: str) -> None:
    import openpyxl  # noqa: F401  imported before the baseline: its code is not what is measured
    import pypdf  # noqa: F401

    from mailbot.analysis import dutylist

    data = Path(path).read_bytes()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    rows = [r for s, t in dutylist.tables(Path(path).name, data) for r in dutylist.rows_of(t, s)]
    elapsed = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"{Path(path).name}: {len(data) / 1e6:.2f} MB, {len(rows)} rows read in {elapsed:.2f} s; "
        f"peak memory {peak:.0f} MB ({peak - before:+.0f} MB over the process before reading)"
    )


def main() -> None:
    if len(sys.argv) > 1:
        case(sys.argv[1])
        return
    with tempfile.TemporaryDirectory() as tmp:
        files = {Path(tmp) / "DS 5000 dong.xlsx": xlsx(5000), Path(tmp) / "DS 50 trang.pdf": pdf(50)}
        for path, data in files.items():
            path.write_bytes(data)
            subprocess.run([sys.executable, __file__, str(path)], check=True)


if __name__ == "__main__":
    main()
