"""Scans and photos read with Tesseract's Vietnamese model (tesserocr), the way a careful clerk
would: straighten the page, lift the red seal, take the table rules out and read cell by cell,
then read every telephone number a second time as digits only.

What plain Tesseract got wrong on these documents, measured here: a ruled table came back as one
row of four (the rules break its page segmentation), a photo 2° off broke rows, and a spaced mobile
number came back with 11 digits. So: deskew, remove rules, read by cells (or, without rules, by
line), and a number whose two readings differ or whose digits Tesseract is unsure of is
*uncertain*: the duty list flags it, never passes it as clean.

Runs in a child process (readers/ocrjob.py) with a time and memory limit; this module is what
that child executes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

DPI = 300
MAX_PIXELS = 60_000_000  # a page or image larger than this (A4 at 300 dpi is 8.7 million) is not read
DIGIT_CONFIDENCE = 85.0  # a digit Tesseract is less sure of than this makes its number uncertain
ARBITER_CONFIDENCE = 95.0  # when the two readings differ: how sure the digits-only readings must both be
_NUMBERISH = re.compile(r"(?:\+?84|0)[\d .\-()]{7,16}\d")
_DIGITS = "0123456789"
_DATE = re.compile(r"\b\d{1,2}\s*/\s*\d{1,2}\b")  # 22/5, 23/5/2021


@dataclass
class PageText:
    rows: list[list[str]] = field(default_factory=list)  # table rows (cells) and plain lines (one cell)
    uncertain: list[str] = field(default_factory=list)  # numbers (digits only) not read for sure
    numbers: int = 0  # numbers read twice


def tessdata() -> str | None:
    """Where Tesseract's models are (TESSDATA_PREFIX, else Debian's paths), with vie in it."""
    import os

    for folder in (
        os.environ.get("TESSDATA_PREFIX", ""),
        "/usr/share/tesseract-ocr/5/tessdata",
        "/usr/share/tesseract-ocr/4.00/tessdata",
        "/usr/share/tessdata",
    ):
        if folder and os.path.isfile(os.path.join(folder, "vie.traineddata")):
            return folder.rstrip("/") + "/"
    return None


# -- the page image ---------------------------------------------------------------------------------
def prepare(image: Any) -> Any:
    """Grey page, red seal lifted (a channel's maximum: red ink is light in it, black text stays dark).
    Returns a numpy array (0 ink .. 255 paper)."""
    import numpy as np
    from PIL import ImageChops

    if image.mode not in ("L", "RGB"):
        image = image.convert("RGB")
    if image.mode == "RGB":  # the channels' maximum, in Pillow's C (numpy's takes ten times longer)
        red, green, blue = image.split()
        image = ImageChops.lighter(ImageChops.lighter(red, green), blue)
    return np.asarray(image, dtype=np.uint8).copy()


def _otsu(grey: Any) -> int:
    import numpy as np

    hist = np.bincount(grey.ravel(), minlength=256).astype(float)
    if np.count_nonzero(hist) < 2:
        return 128  # one shade only: a blank page
    total = grey.size
    cum = np.cumsum(hist)
    mean = np.cumsum(hist * np.arange(256))
    with np.errstate(divide="ignore", invalid="ignore"):
        between = np.nan_to_num((mean[-1] * cum - mean * total) ** 2 / (cum * (total - cum)))
    return int(np.argmax(between))


def _deskew(grey: Any) -> Any:
    """Turn the page so its lines are level: the angle (±5°) that makes the rows of ink sharpest,
    looked for every 0.5° on the page at an eighth of its size, then every 0.25° around the best at
    a quarter (the same angle as a search every 0.25° at a quarter, in a quarter of the time)."""
    import numpy as np
    from PIL import Image

    coarse = _sharpest(_ink(grey, 8), np.arange(-5.0, 5.01, 0.5))
    best = _sharpest(_ink(grey, 4), np.arange(coarse - 0.5, coarse + 0.51, 0.25))
    if abs(best) < 0.2:
        return grey
    turned = Image.fromarray(grey).rotate(best, resample=Image.Resampling.BICUBIC, expand=False, fillcolor=255)
    return np.asarray(turned)


def _ink(grey: Any, factor: int) -> Any:
    """The page reduced `factor` times, its ink white on black."""
    import numpy as np
    from PIL import Image

    small = np.asarray(Image.fromarray(grey).reduce(factor))
    return Image.fromarray(((small < _otsu(small)) * 255).astype(np.uint8))


def _sharpest(ink: Any, angles: Any) -> float:
    """The angle among `angles` whose rows of ink vary most (text lines and rules level)."""
    import numpy as np
    from PIL import Image

    best, best_score = 0.0, -1.0
    for angle in angles:
        rows = np.asarray(ink.rotate(float(angle), resample=Image.Resampling.BILINEAR)).sum(axis=1, dtype=np.float64)
        score = float(np.var(rows))
        if score > best_score:
            best, best_score = round(float(angle), 3), score
    return best


def _runs(ink: Any, length: int) -> Any:
    """Pixels lying on a run of ink at least `length` long along axis 1 (allowing a tenth missing).
    Running sums in 16 bits and slices, not gathers: a quarter of the time on an A4 page."""
    import numpy as np

    height, width = ink.shape
    if width <= length:
        return np.zeros_like(ink, dtype=bool)
    dtype = np.int16 if width < 32_000 else np.int32
    csum = np.zeros((height, width + 1), dtype=dtype)
    np.cumsum(ink, axis=1, dtype=dtype, out=csum[:, 1:])
    full = (csum[:, length:] - csum[:, :-length]) >= int(length * 0.9)  # window [i, i+length) nearly all ink
    count = full.shape[1]
    cover = np.zeros((height, count + 1), dtype=dtype)
    np.cumsum(full, axis=1, dtype=dtype, out=cover[:, 1:])
    # pixel j is covered when some window starting in [j-length+1, j] (within [0, count)) is full
    pad = length - 1
    hi = np.concatenate([cover[:, 1:], np.broadcast_to(cover[:, count:], (height, pad))], axis=1)
    lo = np.concatenate([np.broadcast_to(cover[:, :1], (height, pad)), cover[:, :count]], axis=1)
    return hi > lo


def _lines(mask: Any, axis: int, minimum: int) -> list[int]:
    """Centres of the rules in a mask: rows (axis 1) or columns (axis 0) with enough rule pixels."""
    import numpy as np

    counts = mask.sum(axis=axis)
    hits = np.flatnonzero(counts >= minimum)
    centres: list[int] = []
    runs: list[list[int]] = []
    for value in (int(v) for v in hits):
        if runs and value - runs[-1][-1] <= 3:
            runs[-1].append(value)
        else:
            runs.append([value])
    for run in runs:
        centres.append((run[0] + run[-1]) // 2)
    return centres


def grid(grey: Any) -> tuple[Any, list[int], list[int]]:
    """(the page with its rules whitened, the rows' y, the columns' x) of a ruled table."""

    ink = grey < _otsu(grey)
    height, width = ink.shape
    horizontal = _runs(ink, max(60, width // 8))
    vertical = _runs(ink.T, max(60, height // 25)).T
    clean = grey.copy()
    clean[horizontal | vertical] = 255
    ys = _lines(horizontal, 1, width // 8)
    xs = _lines(vertical, 0, height // 25)
    if len(ys) >= 2:  # a line running on above or below the table is no column's rule (whitened all the same)
        xs = [x for x in xs if not _stray(vertical[:, max(0, x - 3) : x + 4], ys[0], ys[-1], height // 25)]
    return clean, ys, xs


def _stray(rule: Any, top: int, bottom: int, length: int) -> bool:
    """A vertical line with `length` pixels or more outside the table's top and bottom rules (margin
    20 px): a scanner's dirty glass, a fold; not a border between two columns."""
    seen = rule.any(axis=1)
    return int(seen[: max(0, top - 20)].sum()) + int(seen[bottom + 20 :].sum()) >= length


# -- reading ------------------------------------------------------------------------------------------
class Reader:
    """One Tesseract for text (vie) and one for digits, reused for every cell of every page."""

    def __init__(self, path: str) -> None:
        import tesserocr

        self.text = tesserocr.PyTessBaseAPI(path=path, lang="vie", psm=tesserocr.PSM.SINGLE_BLOCK)
        self.digits = tesserocr.PyTessBaseAPI(path=path, lang="eng", psm=tesserocr.PSM.SINGLE_LINE)
        self.digits.SetVariable("tessedit_char_whitelist", _DIGITS + " .-+()")

    def close(self) -> None:
        self.text.End()
        self.digits.End()

    def read(self, image: Any, psm: int | None = None) -> str:
        import tesserocr

        self.text.SetPageSegMode(psm if psm is not None else tesserocr.PSM.SINGLE_BLOCK)
        self.text.SetImage(image)
        return str(self.text.GetUTF8Text() or "").strip()

    def digits_of(self, image: Any) -> tuple[str, float]:
        """(the digits read, the lowest confidence among them)."""
        import tesserocr

        self.digits.SetImage(image)
        self.digits.Recognize()
        found, lowest = "", 100.0
        iterator = self.digits.GetIterator()
        level = tesserocr.RIL.SYMBOL
        for symbol in tesserocr.iterate_level(iterator, level):
            try:
                char = symbol.GetUTF8Text(level) or ""
            except RuntimeError:  # "No text returned": an empty symbol
                continue
            if char.isdigit():
                found += char
                lowest = min(lowest, float(symbol.Confidence(level)))
        return found, lowest if found else 0.0


def read_page(reader: Reader, image: Any) -> PageText:
    import tesserocr
    from PIL import Image

    grey = prepare(image)
    page = PageText()
    if int(grey.min()) > 200:  # nothing printed on it
        return page
    clean, ys, xs = grid(_deskew(grey))
    ys, xs = _spaced_out(ys), _spaced_out(xs)
    picture = Image.fromarray(clean)
    if len(ys) >= 3 and len(xs) >= 3:
        top = ys[0]
        if top > 40:  # the title above the table
            page.rows += [
                [line] for line in reader.read(picture.crop((0, 0, picture.width, top))).splitlines() if line.strip()
            ]
        for y0, y1 in zip(ys, ys[1:]):
            cells = []
            for x0, x1 in zip(xs, xs[1:]):
                cell = _without_edges(picture.crop((x0 + 6, y0 + 6, x1 - 6, y1 - 6)))
                text = " ".join(reader.read(cell, tesserocr.PSM.SINGLE_BLOCK).split())
                cells.append(_checked(reader, cell, text, page))
            if any(cells):
                page.rows.append(cells)
        bottom = ys[-1]
        if picture.height - bottom > 40:
            page.rows += [
                [line]
                for line in reader.read(picture.crop((0, bottom, picture.width, picture.height))).splitlines()
                if line.strip()
            ]
        return page
    page.rows = _lines_of(reader, picture, page)
    return page


def _without_edges(cell: Any, band: int = 14) -> Any:
    """A cell with what is left of its rules whitened: on a photo the rules are not quite straight,
    so a sliver of border stays at the cell's edge and reads as "|", "I" or "l". Columns and rows
    of the outer `band` pixels that are nearly all ink are rule, not letters."""
    import numpy as np
    from PIL import Image

    grey = np.array(cell)
    if grey.ndim != 2 or min(grey.shape) <= 2 * band:
        return cell
    ink = grey < _otsu(grey)
    cols, rows = ink.mean(axis=0), ink.mean(axis=1)
    for edge in (slice(0, band), slice(grey.shape[1] - band, grey.shape[1])):
        hit = np.flatnonzero(cols[edge] > 0.8) + (edge.start or 0)
        if hit.size:
            lo, hi = (0, hit.max() + 3) if edge.start == 0 else (hit.min() - 2, grey.shape[1])
            grey[:, max(0, lo) : hi] = 255
    for edge in (slice(0, band), slice(grey.shape[0] - band, grey.shape[0])):
        hit = np.flatnonzero(rows[edge] > 0.8) + (edge.start or 0)
        if hit.size:
            lo, hi = (0, hit.max() + 3) if edge.start == 0 else (hit.min() - 2, grey.shape[0])
            grey[max(0, lo) : hi, :] = 255
    return Image.fromarray(grey)


def _spaced_out(lines: list[int], gap: int = 24) -> list[int]:
    """Rules closer than `gap` pixels are one rule (a double border, a page edge beside a rule)."""
    out: list[int] = []
    for line in lines:
        if not out or line - out[-1] >= gap:
            out.append(line)
    return out


def _checked(reader: Reader, crop: Any, text: str, page: PageText) -> str:
    """A cell or a stretch of line holding a telephone number (or what may be one, a seal over it):
    read again as digits only. The number is clean when both readings agree with every digit read
    confidently; when they differ, a third reading (the digits-only one again, on the crop enlarged
    1.5 times) decides only if it agrees with the second, confidently. Otherwise the number is
    uncertain: the duty list flags it. When the first reading is no number at all, the digits-only
    one stands in for it (still uncertain). A date ("22/5 - 23/5/2021") with no number beside it is
    left as read: its digits are no telephone (and the duty list splits a number at a "/")."""
    match = _NUMBERISH.search(text)
    if match is None and (sum(c.isdigit() for c in text) < 6 or _DATE.search(text)):
        return text
    first = re.sub(r"\D", "", match.group(0)) if match else re.sub(r"\D", "", text)
    second, confidence = reader.digits_of(crop)
    page.numbers += 1
    if first == second and confidence >= DIGIT_CONFIDENCE:
        return text
    if len(second) in (10, 11) and confidence >= ARBITER_CONFIDENCE:
        from PIL import Image

        larger = crop.resize((crop.width * 3 // 2, crop.height * 3 // 2), Image.Resampling.LANCZOS)
        third, again = reader.digits_of(larger)
        if third == second and again >= ARBITER_CONFIDENCE:
            return _spaced(second)
    page.uncertain += [d for d in dict.fromkeys((first, second)) if d]
    if match is None and len(second) in (10, 11):
        return second
    return text


def _spaced(digits: str) -> str:
    """0912345678 -> '0912 345 678' (how the duty list shows it anyway)."""
    return f"{digits[:4]} {digits[4:7]} {digits[7:]}" if len(digits) == 10 else digits


def _lines_of(reader: Reader, picture: Any, page: PageText) -> list[list[str]]:
    """A page without rules: its lines, each cut into cells at wide gaps between words."""
    import tesserocr

    api = reader.text
    api.SetPageSegMode(tesserocr.PSM.SINGLE_BLOCK)
    api.SetImage(picture)
    api.Recognize()
    level = tesserocr.RIL.WORD
    lines: dict[int, list[tuple[int, int, int, int, str]]] = {}
    for word in tesserocr.iterate_level(api.GetIterator(), level):
        text = word.GetUTF8Text(level)
        box = word.BoundingBox(level)
        if not text or box is None:
            continue
        key = next((k for k in lines if abs(k - box[1]) < 25), box[1])
        lines.setdefault(key, []).append((*box, text))
    rows: list[list[str]] = []
    for key in sorted(lines):
        words = sorted(lines[key])
        height = max(1, max(w[3] - w[1] for w in words))
        cells: list[list[tuple[int, int, int, int, str]]] = [[words[0]]]
        for prev, word in zip(words, words[1:]):
            if word[0] - prev[2] > 1.5 * height:
                cells.append([word])
            else:
                cells[-1].append(word)
        row = []
        for cell in cells:
            text = " ".join(w[4] for w in cell)
            box = (
                min(w[0] for w in cell) - 8,
                min(w[1] for w in cell) - 8,
                max(w[2] for w in cell) + 8,
                max(w[3] for w in cell) + 8,
            )
            row.append(_checked(reader, picture.crop(box), text, page))
        rows.append(row)
    return rows
