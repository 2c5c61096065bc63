"""The programs from Debian the tests use, in one place: how each is found and which package brings it.

A test that needs one says so with `@needs("antiword")` (or `pytestmark = needs("tesseract")`, or
`pytest.param(..., marks=needs("antiword"))`); a fixture calls `require("dovecot")`. Without the
program the test is skipped with the reason; under CI=true, where .ci/run installed every package
named here, it fails instead. Add a new program here and its package to .ci/run's list.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

import pytest


def _program(*names: str) -> Callable[[], bool]:
    return lambda: any(shutil.which(name) for name in names)


def _dovecot() -> bool:
    from tests import dovecot

    return dovecot.available()


def _antiword() -> bool:
    from mailbot.analysis.readers import word97

    return word97.antiword() is not None


def _ocr() -> bool:
    from mailbot.analysis.readers import ocrjob

    return ocrjob.available() is None


def _libarchive() -> bool:
    from mailbot.analysis.readers import archives

    return archives.rar_unpacker() is None


def _liberation() -> bool:
    from pathlib import Path

    return Path("/usr/share/fonts/truetype/liberation/LiberationSerif-Regular.ttf").is_file()


def _dejavu() -> bool:
    from tests import scans

    return (scans.FONT_DIR / "DejaVuSerif.ttf").is_file()


# name -> (is it here?, the Debian packages that bring it)
TOOLS: dict[str, tuple[Callable[[], bool], str]] = {
    "dovecot": (_dovecot, "dovecot-imapd"),
    "systemd-analyze": (_program("systemd-analyze"), "systemd"),
    "antiword": (_antiword, "antiword"),
    "libarchive": (_libarchive, "libarchive13"),  # .rar members unpacked through libarchive-c
    "openssl": (_program("openssl"), "openssl"),
    # the Vietnamese model and the [ocr] extra's tesserocr; ocrjob.available() says which is missing
    "tesseract": (_ocr, "tesseract-ocr tesseract-ocr-vie"),
    "dejavu": (_dejavu, "fonts-dejavu-core"),  # the test scans are drawn in DejaVu Serif
    "libreoffice": (_program("soffice", "libreoffice"), "libreoffice-writer-nogui libreoffice-calc-nogui"),
    "liberation": (_liberation, "fonts-liberation"),  # the office corpus is set in Liberation Serif
    "poppler": (_program("pdftoppm"), "poppler-utils"),  # the office corpus is printed and scanned through it
}


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}


def unavailable(reason: str) -> NoReturn:
    """Skip the test, saying why; under CI=true fail, since CI promises to have everything."""
    if in_ci():
        pytest.fail(f"{reason} (CI=true: .ci/run should have installed it)", pytrace=False)
    pytest.skip(reason)


@functools.cache
def missing(tool: str) -> str | None:
    """Why `tool` cannot be used here, or None when it can."""
    found, packages = TOOLS[tool]
    if found():
        return None
    if tool == "tesseract":
        from mailbot.analysis.readers import ocrjob

        return f"OCR is not available here: {ocrjob.available()}"
    return f"{tool} is not installed (apt-get install {packages}; .ci/run installs it)"


def require(*tools: str) -> None:
    for tool in tools:
        reason = missing(tool)
        if reason is not None:
            unavailable(reason)


def needs(*tools: str) -> pytest.MarkDecorator:
    """Mark a test (or a module, or one parameter) as using these programs; conftest.py checks them."""
    unknown = set(tools) - set(TOOLS)
    assert not unknown, f"not in tests/tools.py: {unknown}"
    return pytest.mark.needs(*tools)


@contextmanager
def tmpfs(folder: Path, size: str) -> Iterator[Path]:
    """`folder` as a tmpfs of `size` ("6m") while the block runs (a small or read-only disk for a
    test); mounting needs root: without it the test is skipped with the reason, failed under CI=true."""
    folder.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(folder)], capture_output=True, text=True
    )
    if done.returncode != 0:
        unavailable(f"cannot mount a tmpfs here ({done.stderr.strip()}); needs root")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)
