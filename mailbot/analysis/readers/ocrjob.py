"""OCR of one file in a child process, under a time, a CPU and a memory limit: a decoder bomb (a JBIG2
or CCITT image of 100,000 × 100,000 pixels, a PDF of 10,000 pages) or a crash in Leptonica ends that
child, never the worker that asked. The child dies with the worker (readers/confine.py), so a worker
killed for taking too long leaves no OCR running behind it.

    python -m mailbot.analysis.readers.ocrjob KIND MAX_PAGES [SHARE/CHILDREN] < file   →   JSON on stdout

A file of several pages is read by up to CHILDREN processes at once (one per core, at most two):
child k reads pages k, k + CHILDREN, … and the parent puts the pages back in order. KIND is "pdf",
an image kind, or an office file ("docx", "xlsx", "odt", "ods") whose pictures are its pages (a
copier's "scan to Word").
"""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from mailbot.analysis.readers import confine
from mailbot.errors import ReaderError


class TooSlow(ReaderError):
    """The OCR child did not finish within its time."""


MEMORY = 1 << 30  # address space of the child: 1 GiB
MIN_TEXT_PER_PAGE = 40  # a PDF page with fewer characters of text than this is read as a scan
MAX_CHILDREN = 2  # processes reading one file's pages at once (never more than the cores)
NICENESS = 5  # OCR children yield the cores to the analysis of plain mail
# the pictures of an office file, read as its pages when it has (almost) no text of its own
MEDIA_FOLDERS = {"docx": "word/media/", "xlsx": "xl/media/", "odt": "Pictures/", "ods": "Pictures/"}
PICTURE_SUFFIXES = (".jpeg", ".jpg", ".jpe", ".png", ".tif", ".tiff", ".bmp", ".gif")
MIN_PICTURE_BYTES = 20_000  # smaller pictures are logos and signatures (as envelope.MIN_SCAN_BYTES)
MAX_PICTURE_BYTES = 30 * 1024 * 1024
MIN_PICTURE_SIDE = 600  # pixels on the long side of a picture worth reading


@dataclass
class OcrResult:
    rows: list[list[str]] = field(default_factory=list)
    uncertain: list[str] = field(default_factory=list)  # numbers (digits only) not read for sure
    numbers: int = 0
    pages: int = 0  # pages read
    skipped: int = 0  # pages beyond max_ocr_pages
    seconds: float = 0.0
    source: str = "scan"  # what the pages were: "photo" (a phone's), "fax" or "scan"

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


def _limits(seconds: float) -> Callable[[], None]:
    """preexec_fn of an OCR child: dies with the worker, 1 GiB, CPU time at most the budget
    (readers/confine.py), and niced, so that plain mail's analysis keeps its core."""
    confined = confine.limits(MEMORY, seconds)

    def in_child() -> None:
        confined()
        os.nice(NICENESS)

    return in_child


def children(pages: int | None) -> int:
    """How many processes read a file of `pages` pages (None: not known) on this machine."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(MAX_CHILDREN, cores, pages if pages is not None else MAX_CHILDREN))


def pictures(data: bytes, kind: str, max_pages: int | None = None) -> list[str]:
    """The pictures of an office file worth reading as pages (not logos), the largest `max_pages`,
    in the order they were inserted (image1, image2, … image10)."""
    folder = MEDIA_FOLDERS.get(kind)
    if folder is None:
        return []
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        found = [
            i
            for i in zf.infolist()
            if i.filename.startswith(folder)
            and i.filename.lower().endswith(PICTURE_SUFFIXES)
            and MIN_PICTURE_BYTES <= i.file_size <= MAX_PICTURE_BYTES
        ]
    if max_pages is not None:
        found = sorted(found, key=lambda i: -i.file_size)[:max_pages]
    return sorted(
        (i.filename for i in found), key=lambda n: [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", n)]
    )


def run(data: bytes, kind: str, max_pages: int, seconds: float, pages: int | None = None) -> OcrResult:
    """OCR a file (kind "pdf", an image kind or an office file's pictures) in child processes, its
    pages shared among them (`pages`: how many there are, when known); ReaderError with the reason in
    Vietnamese when it cannot be done, TooSlow past `seconds` (one deadline for all the children)."""
    missing = available()
    if missing:
        raise ReaderError(f"chưa đọc được bản quét: máy chủ {missing}")
    started = time.monotonic()
    count = children(None if pages is None else min(pages, max_pages))
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "mailbot.analysis.readers.ocrjob", kind, str(max_pages), f"{k}/{count}"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            preexec_fn=_limits(seconds),
            env={**os.environ, "OMP_THREAD_LIMIT": "1"},  # one core per child: the workers share the rest
        )
        for k in range(count)
    ]
    outputs: list[tuple[bytes, bytes] | None] = [None] * count

    def talk(k: int) -> None:
        try:
            outputs[k] = procs[k].communicate(data, timeout=max(0.0, seconds - (time.monotonic() - started)))
        except subprocess.TimeoutExpired:
            pass
        except OSError:  # it ended before reading all its input: its stderr says why
            stderr = procs[k].stderr
            outputs[k] = (b"", stderr.read() if stderr is not None else b"")

    threads = [threading.Thread(target=talk, args=(k,), daemon=True) for k in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
    if any(out is None for out in outputs):
        raise TooSlow(f"đọc bản quét quá {seconds:.0f} giây: dừng lại, cán bộ xem tệp gốc")
    result = OcrResult()
    read: list[dict[str, Any]] = []
    sources = set()
    for proc, out in zip(procs, outputs):
        assert out is not None
        if proc.returncode != 0:
            last = out[1].decode("utf-8", "replace").strip().splitlines()
            reason = last[-1] if last else f"mã thoát {proc.returncode}"
            if "MemoryError" in reason:
                reason = "vượt giới hạn bộ nhớ 1 GiB"
            elif proc.returncode == -signal.SIGXCPU:
                raise TooSlow(f"đọc bản quét dùng quá {seconds:.0f} giây CPU: dừng lại, cán bộ xem tệp gốc")
            elif proc.returncode < 0:
                reason = f"tiến trình bị dừng ({reason})"
            raise ReaderError(f"không đọc được bản quét: {reason[:200]}")
        done = json.loads(out[0])
        read += done["pages"]
        result.skipped = max(result.skipped, max(0, done["count"] - max_pages))
    for page in sorted(read, key=lambda p: p["index"]):
        result.rows += page["rows"]
        result.uncertain += page["uncertain"]
        result.numbers += page["numbers"]
        result.pages += 1
        sources.add(page["source"])
    result.source = next((s for s in ("photo", "fax") if s in sources), "scan")
    result.seconds = time.monotonic() - started
    return result


# -- the child -----------------------------------------------------------------------------------------
def _open(data: bytes) -> Any:
    from PIL import Image

    from mailbot.analysis.readers.ocr import MAX_PIXELS

    try:
        image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError:
        raise ValueError(f"ảnh quá lớn (trên {MAX_PIXELS // 1_000_000} triệu điểm ảnh): không đọc") from None
    if image.width * image.height > MAX_PIXELS:
        raise ValueError(f"ảnh {image.width} × {image.height} điểm ảnh, quá lớn: không đọc")
    return image


def _pages(data: bytes, kind: str, max_pages: int, share: int, of: int) -> tuple[Iterator[tuple[int, Any]], int]:
    """(index, page image) of the pages this child reads (index % of == share), one at a time (20
    rendered A4 pages held together would take 500 MB), and how many pages the file has."""
    from PIL import Image

    from mailbot.analysis.readers.ocr import DPI, MAX_PIXELS

    Image.MAX_IMAGE_PIXELS = MAX_PIXELS  # Pillow refuses a larger image (DecompressionBombError)
    mine = lambda index: index % of == share  # noqa: E731
    if kind in MEDIA_FOLDERS:
        names = pictures(data, kind)
        chosen = pictures(data, kind, max_pages)

        def inside() -> Iterator[tuple[int, Any]]:
            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                for index, name in enumerate(chosen):
                    if not mine(index):
                        continue
                    try:
                        image = _open(zf.read(name))
                        image.load()
                    except ValueError:
                        raise
                    except Exception:  # a picture Pillow cannot read (a WMF, a damaged JPEG): not a page
                        continue
                    if max(image.size) >= MIN_PICTURE_SIDE:
                        yield index, image

        return inside(), len(names)
    if kind == "heic":
        try:
            import pillow_heif
        except ImportError:
            raise ValueError("ảnh HEIC cần thư viện pillow-heif (pip install 'mailbot[ocr]')") from None
        pillow_heif.register_heif_opener()
    if kind != "pdf":
        image = _open(data)
        frames = getattr(image, "n_frames", 1)

        def frames_of() -> Iterator[tuple[int, Any]]:
            for index in range(min(frames, max_pages)):  # a multi-page TIFF
                if mine(index):
                    image.seek(index)
                    yield index, image.copy()

        return frames_of(), frames
    import pypdfium2

    pdf = pypdfium2.PdfDocument(data)
    count = len(pdf)

    def rendered() -> Iterator[tuple[int, Any]]:
        for index in range(min(count, max_pages)):
            if not mine(index):
                continue
            page = pdf[index]
            width, height = page.get_size()
            if width * height * (DPI / 72) ** 2 > MAX_PIXELS:
                raise ValueError(
                    f"trang {index + 1} khổ {width / 72 * 2.54:.0f} × {height / 72 * 2.54:.0f} cm, quá lớn"
                )
            if len(page.get_textpage().get_text_range().strip()) >= MIN_TEXT_PER_PAGE:
                continue  # a page with text of its own (the text reader has it)
            yield index, page.render(scale=DPI / 72).to_pil()  # in colour: a red seal is lifted by its colour

    return rendered(), count


def main(argv: list[str]) -> int:
    from mailbot.analysis.readers import ocr, pageimage

    kind, max_pages = argv[0], int(argv[1])
    share, of = (int(n) for n in (argv[2] if len(argv) > 2 else "0/1").split("/"))
    data = sys.stdin.buffer.read()
    images, count = _pages(data, kind, max_pages, share, of)
    tessdata = ocr.tessdata() or ""
    reader: ocr.Reader | None = None
    pages: list[dict[str, Any]] = []
    try:
        for index, image in images:
            reader = reader or ocr.Reader(tessdata)  # loaded only when there is a page to read
            ready, source = pageimage.prepared(image, tessdata, photo=kind != "pdf")
            page = ocr.read_page(reader, ready)
            pages.append(
                {
                    "index": index,
                    "rows": page.rows,
                    "uncertain": page.uncertain,
                    "numbers": page.numbers,
                    "source": source,
                }
            )
    finally:
        if reader is not None:
            reader.close()
    json.dump({"pages": pages, "count": count}, sys.stdout, ensure_ascii=False)
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
