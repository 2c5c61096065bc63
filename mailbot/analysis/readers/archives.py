"""The files inside a container, listed the same way whatever the format: zip (stdlib), 7z
(py7zr), rar (rarfile, through Debian's bsdtar or unar), and Outlook's winmail.dat and .msg
(readers/outlook.py). extract.py applies one set of limits to all of them.

Each entry declares its size before a byte is unpacked; `read(limit)` never returns more than
`limit + 1` bytes, so a member that lies about its size is caught without unpacking it whole.
"""

from __future__ import annotations

import functools
import io
import re
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from mailbot.analysis.textnorm import nfc


class MemberTooLarge(Exception):
    """A member produced more bytes than the budget allows."""


@dataclass
class Entry:
    name: str  # decoded, NFC, "/"-separated; never used as a path
    size: int  # declared unpacked size
    packed: int  # bytes it takes in the archive (0: unknown)
    encrypted: bool
    read: Callable[[int], bytes]  # at most limit + 1 bytes
    content_type: str = "application/octet-stream"


def clean_name(name: str) -> str:
    name = re.sub(r"[\x00-\x1f\x7f]", "", name.replace("\\", "/"))
    return nfc(name)


# -- zip ------------------------------------------------------------------------------------------------
def zip_entries(data: bytes) -> Iterator[Entry]:
    zf = zipfile.ZipFile(io.BytesIO(data))
    for info in zf.infolist():
        if info.is_dir():
            continue
        yield Entry(
            name=_zip_name(info),
            size=info.file_size,
            packed=info.compress_size,
            encrypted=bool(info.flag_bits & 0x1),
            read=functools.partial(_zip_read, zf, info),
        )


def _zip_read(zf: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> bytes:
    with zf.open(info) as fh:
        return fh.read(limit + 1)


def _zip_name(info: zipfile.ZipInfo) -> str:
    name = info.filename
    if not info.flag_bits & 0x800:  # not flagged UTF-8: cp437 by the spec, often UTF-8 or cp1258 in fact
        raw = name.encode("cp437", errors="replace")
        try:
            name = raw.decode("utf-8")
        except UnicodeDecodeError:
            name = raw.decode("cp1258", errors="replace")
    return clean_name(name)


# -- 7z -------------------------------------------------------------------------------------------------
def sevenzip_entries(data: bytes) -> Iterator[Entry]:
    import py7zr

    archive = py7zr.SevenZipFile(io.BytesIO(data))
    encrypted = archive.needs_password()
    for info in archive.list():
        if info.is_directory:
            continue
        yield Entry(
            name=clean_name(info.filename),
            size=int(info.uncompressed or 0),
            packed=int(info.compressed or 0),
            encrypted=encrypted,
            read=functools.partial(_sevenzip_read, archive, info.filename),
        )


def _sevenzip_read(archive: object, name: str, limit: int) -> bytes:
    from py7zr.io import Py7zIO, WriterFactory

    class Bounded(Py7zIO):
        """py7zr's own in-memory writer drops what is over its limit but goes on unpacking: stop instead."""

        def __init__(self) -> None:
            self.buffer = io.BytesIO()

        def write(self, s: bytes | bytearray) -> int:
            if self.buffer.tell() + len(s) > limit + 1:
                raise MemberTooLarge(name)
            return self.buffer.write(s)

        def read(self, size: int | None = None) -> bytes:
            return self.buffer.read(size)

        def seek(self, offset: int, whence: int = 0) -> int:
            return self.buffer.seek(offset, whence)

        def flush(self) -> None:
            pass

        def size(self) -> int:
            return self.buffer.getbuffer().nbytes

    class Factory(WriterFactory):
        def __init__(self) -> None:
            self.products: dict[str, Bounded] = {}

        def create(self, filename: str) -> Py7zIO:
            self.products[filename] = Bounded()
            return self.products[filename]

    factory = Factory()
    archive.reset()  # type: ignore[attr-defined]
    archive.extract(targets=[name], factory=factory)  # type: ignore[attr-defined]
    product = factory.products.get(name)
    return product.buffer.getvalue() if product else b""


# -- rar ------------------------------------------------------------------------------------------------
def rar_entries(data: bytes) -> Iterator[Entry]:
    import rarfile

    archive = rarfile.RarFile(io.BytesIO(data))
    for info in archive.infolist():
        if info.is_dir():
            continue
        yield Entry(
            name=clean_name(info.filename or ""),
            size=int(info.file_size or 0),
            packed=int(info.compress_size or 0),
            encrypted=info.needs_password(),
            read=functools.partial(_rar_read, archive, info),
        )


def _rar_read(archive: object, info: object, limit: int) -> bytes:
    with archive.open(info) as fh:  # type: ignore[attr-defined]
        return bytes(fh.read(limit + 1))


def rar_tool() -> str | None:
    """The program rarfile unpacks with (stored members need none), or None."""
    import rarfile

    try:
        setup = rarfile.tool_setup()
    except rarfile.RarCannotExec:
        return None
    return str(setup.get_cmdline("check_cmd", None)[0])


def held(content: bytes, limit: int) -> bytes:
    """`read` for a member already in memory (Outlook's wrappers)."""
    return content[: limit + 1]
