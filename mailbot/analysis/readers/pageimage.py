"""The page in a picture, before it is read: as the phone meant it (EXIF orientation), at the
resolution Tesseract reads best (a fax's 204 × 196 dpi and a scanner's 1-bit pages resampled and
smoothed to 300 dpi grey), found on the desk it was photographed on and flattened (OpenCV's
contour and perspective transform), and turned upright (Tesseract's orientation detection, OSD).

Runs in the OCR child (ocrjob.py). OpenCV is optional: without it a photo is read as it is.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)

TARGET_DPI = 300
MIN_DPI = 250  # a picture saying less than this is resampled
OSD_CONFIDENCE = 2.0  # Tesseract's orientation confidence needed to turn a page (its docs: > 1.5 is fair)
PAGE_AREA = (0.25, 0.97)  # a page found on a photo covers this share of it


def as_taken(image: Any) -> Any:
    """The picture as the phone meant it to be seen: EXIF Orientation applied (a phone saves a
    portrait photo as landscape pixels and a tag that says to turn them)."""
    from PIL import ImageOps

    return ImageOps.exif_transpose(image) or image


def to_grey_300(image: Any) -> Any:
    """A greyscale picture at about 300 dpi: a fax (204 × 196 dpi, 1 bit) or a black-and-white scan
    is enlarged with a smoothing filter, so its letters are strokes again, not staircases."""
    from PIL import Image, ImageFilter

    dpi = image.info.get("dpi") or (0, 0)
    bilevel = image.mode == "1" or (image.mode == "L" and _two_shades(image))
    grey = image.convert("L") if image.mode in ("1", "P", "LA", "I;16") else image
    xdpi, ydpi = (float(dpi[0]), float(dpi[1])) if dpi[0] and dpi[1] else (0.0, 0.0)
    # a photo's dpi says nothing (72, 96): only a fax's or a bilevel scan's is believed
    low = xdpi and ydpi and (min(xdpi, ydpi) < MIN_DPI or abs(xdpi - ydpi) > 1)
    if low and (bilevel or abs(xdpi - ydpi) > 1):
        size = (round(grey.width * TARGET_DPI / xdpi), round(grey.height * TARGET_DPI / ydpi))
        if size[0] * size[1] <= 60_000_000:
            grey = grey.convert("L" if grey.mode == "L" else "RGB").resize(size, Image.Resampling.LANCZOS)
    if bilevel:
        grey = grey.convert("L").filter(ImageFilter.GaussianBlur(0.8))
    return grey


def _two_shades(image: Any) -> bool:
    histogram = image.histogram()
    return sum(1 for count in histogram if count) <= 2


def flatten(image: Any) -> Any:
    """A photographed page found on its background and flattened to a rectangle; the image as it was
    when no page stands out (a scan, a photo filling the frame) or OpenCV is not installed."""
    try:
        import cv2
    except ImportError:
        return image
    import numpy as np
    from PIL import Image

    rgb = np.asarray(image.convert("RGB"))
    scale = 1000 / max(rgb.shape[:2])
    small = cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else rgb
    scale = min(scale, 1.0)
    grey = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
    grey = cv2.GaussianBlur(grey, (5, 5), 0)
    _, paper = cv2.threshold(grey, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)  # paper is the bright part
    paper = cv2.morphologyEx(paper, cv2.MORPH_CLOSE, np.ones((15, 15), np.uint8))  # text holes closed
    contours, _ = cv2.findContours(paper, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return image
    largest = max(contours, key=cv2.contourArea)
    area = cv2.contourArea(largest) / (grey.shape[0] * grey.shape[1])
    if not PAGE_AREA[0] <= area <= PAGE_AREA[1]:
        return image
    quad = cv2.approxPolyDP(largest, 0.02 * cv2.arcLength(largest, True), True)
    if len(quad) != 4:
        quad = cv2.boxPoints(cv2.minAreaRect(largest)).reshape(4, 1, 2)
    corners = _ordered(quad.reshape(4, 2).astype(np.float32) / scale)
    width = int(max(np.linalg.norm(corners[1] - corners[0]), np.linalg.norm(corners[2] - corners[3])))
    height = int(max(np.linalg.norm(corners[3] - corners[0]), np.linalg.norm(corners[2] - corners[1])))
    if width < 200 or height < 200:
        return image
    target = np.array([[0, 0], [width - 1, 0], [width - 1, height - 1], [0, height - 1]], dtype=np.float32)
    matrix = cv2.getPerspectiveTransform(corners, target)
    flat = cv2.warpPerspective(rgb, matrix, (width, height), flags=cv2.INTER_CUBIC, borderValue=(255, 255, 255))
    return Image.fromarray(flat)


def _ordered(points: Any) -> Any:
    """Top-left, top-right, bottom-right, bottom-left."""
    import numpy as np

    sums, diffs = points.sum(axis=1), np.diff(points, axis=1).ravel()
    return np.array(
        [points[np.argmin(sums)], points[np.argmin(diffs)], points[np.argmax(sums)], points[np.argmax(diffs)]],
        dtype=np.float32,
    )


def upright(image: Any, tessdata: str) -> Any:
    """The page turned by the quarter turns Tesseract's orientation detection (OSD) finds, when it is
    sure enough; as it is without the osd model."""
    import os

    if not os.path.isfile(os.path.join(tessdata, "osd.traineddata")):
        return image
    import tesserocr

    small = image.convert("L")
    if max(small.size) > 2000:
        small.thumbnail((2000, 2000))
    api = tesserocr.PyTessBaseAPI(path=tessdata, lang="osd", psm=tesserocr.PSM.OSD_ONLY)
    try:
        api.SetImage(small)
        found = api.DetectOrientationScript()
    except RuntimeError:
        return image
    finally:
        api.End()
    if not found or found.get("orient_conf", 0.0) < OSD_CONFIDENCE or not found.get("orient_deg"):
        return image
    return image.rotate(found["orient_deg"], expand=True, fillcolor="white")


def prepared(image: Any, tessdata: str, photo: bool) -> tuple[Any, str]:
    """Everything above, in order; `photo`: a picture (a JPEG, PNG, TIFF or HEIC file, or a picture
    inside an office file) rather than a PDF page. Returns (the page, what it was: "photo", "fax" or
    "scan"), so that staff and the carrier are told honestly what was read."""
    source = origin(image, photo)
    if photo:
        image = as_taken(image)
    image = to_grey_300(image)
    if photo:
        flat = flatten(image)
        if flat is not image:
            source = "photo"  # a page found on its background: photographed, not scanned
        image = _enlarged(flat)
    return upright(image, tessdata), source


FAX_DPI = ((195, 210), (95, 200))  # a fax's horizontal and vertical resolutions: 204 × 98 or 204 × 196


def origin(image: Any, photo: bool) -> str:
    """ "fax" for a picture at a fax's resolution (204 × 98 or 204 × 196 dpi, whatever its coding),
    "photo" for a picture a camera took (its EXIF names the camera or how to turn it), else "scan"."""
    dpi = image.info.get("dpi") or (0, 0)
    try:
        xdpi, ydpi = float(dpi[0]), float(dpi[1])
    except (TypeError, ValueError, IndexError):
        xdpi = ydpi = 0.0
    if FAX_DPI[0][0] <= xdpi <= FAX_DPI[0][1] and FAX_DPI[1][0] <= ydpi <= FAX_DPI[1][1] and xdpi - ydpi > 1:
        return "fax"
    if photo:
        try:
            exif = image.getexif()
        except Exception:  # a damaged EXIF block says nothing
            return "scan"
        if exif.get(0x010F) or exif.get(0x0110) or exif.get(0x0112, 1) != 1:  # Make, Model, Orientation
            return "photo"
    return "scan"


def _enlarged(image: Any, long_side: int = 3508) -> Any:
    """A page photographed from afar enlarged to about A4 at 300 dpi: Tesseract reads small letters
    badly, and the cells and rules are measured in pixels at that size."""
    from PIL import Image

    side = max(image.size)
    if side >= long_side * 0.85:
        return image
    factor = long_side / side
    return image.resize((round(image.width * factor), round(image.height * factor)), Image.Resampling.LANCZOS)
