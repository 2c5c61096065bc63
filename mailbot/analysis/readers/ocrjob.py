"""OCR of one file in a child process, under a time, a CPU and a memory limit: a decoder bomb (a JBIG2
or CCITT image of 100,000 × 100,000 pixels, a PDF of 10,000 pages) or a crash in Leptonica ends that
child, never the worker that asked. The child dies with the worker (readers/confine.py), so a worker
killed for taking too long leaves no OCR running behind it.

    python -m mailbot.analysis.readers.ocrjob KIND MAX_PAGES < file   →   JSON on stdout
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from mailbot.analysis.readers import confine
from mailbot.errors import ReaderError


class TooSlow(ReaderError):
    """The OCR child did not finish within its time."""


MEMORY = 1 << 30  # address space of the child: 1 GiB
MIN_TEXT_PER_PAGE = 40  # a PDF page with fewer characters of text than this is read as a scan


@dataclass
class OcrResult:
    rows: list[list[str]] = field(default_factory=list)
    uncertain: list[str] = field(default_factory=list)  # numbers (digits only) not read for sure
    numbers: int = 0
    pages: int = 0  # pages read
    skipped: int = 0  # pages beyond max_ocr_pages
    seconds: float = 0.0

    @property
    def text(self) -> str:
        return "\n".join(" | ".join(cell for cell in row if cell) for row in self.rows)


def available() -> str | None:
    """None when OCR can run here, else what is missing (for `mailbot check` and the defect)."""
    import importlib.util

    from mailbot.analysis.readers.ocr import tessdata

    missing = [name for name in ("tesserocr", "pypdfium2", "PIL", "numpy") if importlib.util.find_spec(name) is None]
    if missing:
        return f"thiếu thư viện {', '.join(missing)} (pip install 'mailbot[ocr]')"
    if tessdata() is None:
        return "thiếu mô hình tiếng Việt của Tesseract (apt-get install tesseract-ocr tesseract-ocr-vie)"
    return None


def run(data: bytes, kind: str, max_pages: int, seconds: float) -> OcrResult:
    """OCR a file (kind "pdf", "jpeg", "png" or "tiff") in a child process; ReaderError with the reason
    in Vietnamese when it cannot be done."""
    missing = available()
    if missing:
        raise ReaderError(f"chưa đọc được bản quét: máy chủ {missing}")
    started = time.monotonic()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "mailbot.analysis.readers.ocrjob", kind, str(max_pages)],
            input=data,
            capture_output=True,
            timeout=seconds,
            # dies with the worker (a killed worker leaves no OCR running), CPU time at most the budget
            preexec_fn=confine.limits(MEMORY, seconds),
            env={**os.environ, "OMP_THREAD_LIMIT": "1"},  # one core per job: the workers share the rest
        )
    except subprocess.TimeoutExpired:
        raise TooSlow(f"đọc bản quét quá {seconds:.0f} giây: dừng lại, cán bộ xem tệp gốc") from None
    if done.returncode != 0:
        last = done.stderr.decode("utf-8", "replace").strip().splitlines()
        reason = last[-1] if last else f"mã thoát {done.returncode}"
        if "MemoryError" in reason:
            reason = "vượt giới hạn bộ nhớ 1 GiB"
        elif done.returncode == -signal.SIGXCPU:
            raise TooSlow(f"đọc bản quét dùng quá {seconds:.0f} giây CPU: dừng lại, cán bộ xem tệp gốc")
        elif done.returncode < 0:
            reason = f"tiến trình bị dừng ({reason})"
        raise ReaderError(f"không đọc được bản quét: {reason[:200]}")
    result = OcrResult(**json.loads(done.stdout))
    result.seconds = time.monotonic() - started
    return result


# -- the child -----------------------------------------------------------------------------------------
def _pages(data: bytes, kind: str, max_pages: int) -> tuple[Iterator[Any], int]:
    """The page images to read, one at a time (20 rendered A4 pages held together would take 500 MB),
    and how many pages are beyond max_pages."""
    from PIL import Image

    from mailbot.analysis.readers.ocr import DPI, MAX_PIXELS

    Image.MAX_IMAGE_PIXELS = MAX_PIXELS  # Pillow refuses a larger image (DecompressionBombError)
    if kind == "heic":
        try:
            import pillow_heif
        except ImportError:
            raise ValueError("ảnh HEIC cần thư viện pillow-heif (pip install 'mailbot[ocr]')") from None
        pillow_heif.register_heif_opener()
    if kind != "pdf":
        try:
            image = Image.open(io.BytesIO(data))
        except Image.DecompressionBombError:
            raise ValueError(f"ảnh quá lớn (trên {MAX_PIXELS // 1_000_000} triệu điểm ảnh): không đọc") from None
        if image.width * image.height > MAX_PIXELS:
            raise ValueError(f"ảnh {image.width} × {image.height} điểm ảnh, quá lớn: không đọc")
        frames = getattr(image, "n_frames", 1)

        def frames_of() -> Iterator[Any]:
            for index in range(min(frames, max_pages)):  # a multi-page TIFF
                image.seek(index)
                yield image.copy()

        return frames_of(), max(0, frames - max_pages)
    import pypdfium2

    pdf = pypdfium2.PdfDocument(data)
    count = len(pdf)

    def rendered() -> Iterator[Any]:
        for index in range(min(count, max_pages)):
            page = pdf[index]
            width, height = page.get_size()
            if width * height * (DPI / 72) ** 2 > MAX_PIXELS:
                raise ValueError(
                    f"trang {index + 1} khổ {width / 72 * 2.54:.0f} × {height / 72 * 2.54:.0f} cm, quá lớn"
                )
            if len(page.get_textpage().get_text_range().strip()) >= MIN_TEXT_PER_PAGE:
                continue  # a page with text of its own (the text reader has it)
            yield page.render(scale=DPI / 72).to_pil()  # in colour: a red seal is lifted by its colour

    return rendered(), max(0, count - max_pages)


def main(argv: list[str]) -> int:
    from mailbot.analysis.readers import ocr, pageimage

    kind, max_pages = argv[0], int(argv[1])
    data = sys.stdin.buffer.read()
    images, skipped = _pages(data, kind, max_pages)
    tessdata = ocr.tessdata() or ""
    reader = ocr.Reader(tessdata)
    result: dict[str, Any] = {"rows": [], "uncertain": [], "numbers": 0, "pages": 0, "skipped": skipped}
    try:
        for image in images:
            result["pages"] += 1
            page = ocr.read_page(reader, pageimage.prepared(image, tessdata, photo=kind != "pdf"))
            result["rows"] += page.rows
            result["uncertain"] += page.uncertain
            result["numbers"] += page.numbers
    finally:
        reader.close()
    json.dump(result, sys.stdout, ensure_ascii=False)
    return 0


if __name__ == "__main__":
    from mailbot import logs

    logs.route_warnings()  # a library's warning on stderr would be taken for the reason of a failure
    try:
        sys.exit(main(sys.argv[1:]))
    except ValueError as exc:  # our own reasons, in Vietnamese
        print(str(exc), file=sys.stderr)
        sys.exit(1)
    except Exception as exc:  # the reason, one line, for the parent (the traceback would say the same)
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        sys.exit(1)
