"""The files inside a container, listed the same way whatever the format: zip (stdlib), 7z
(py7zr), rar (rarfile lists, libarchive unpacks), and Outlook's winmail.dat and .msg
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
from typing import Any

from mailbot.analysis.textnorm import nfc
from mailbot.errors import ReaderError


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
    memory = max((_coder_memory(c) for f in _folders(archive) for c in f.coders), default=0)
    if memory > MAX_CODER_MEMORY:
        raise ReaderError(
            f"tệp nén .7z cần {-(-memory // (1 << 20))} MB bộ nhớ để giải nén (từ điển nén), "
            f"trên giới hạn {MAX_CODER_MEMORY // (1 << 20)} MB: không mở"
        )
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


MAX_CODER_MEMORY = 64 << 20  # 7-Zip's "ultra" dictionary; 7-Zip shrinks it to the data when smaller


def _folders(archive: Any) -> list[Any]:
    streams = getattr(archive.header, "main_streams", None)
    info = getattr(streams, "unpackinfo", None)
    return list(getattr(info, "folders", None) or [])


def _coder_memory(coder: dict[str, Any]) -> int:
    """What a decoder allocates before it unpacks a byte, from its properties in the header: the
    LZMA or LZMA2 dictionary, the PPMd model (bytes; 0: a coder that needs little)."""
    method, props = bytes(coder.get("method") or b""), bytes(coder.get("properties") or b"")
    if method == b"\x21" and props:  # LZMA2: one byte
        return 0xFFFFFFFF if props[0] >= 40 else (2 | (props[0] & 1)) << (props[0] // 2 + 11)
    if method in (b"\x03\x01\x01", b"\x03\x04\x01") and len(props) >= 5:  # LZMA, PPMd: 4 bytes after the first
        return int.from_bytes(props[1:5], "little")
    return 0


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
# rarfile reads the list (names, sizes, packed sizes, passwords; pure Python, no program run);
# libarchive (libarchive-c over Debian's libarchive13) unpacks, in this process, from memory, one
# member at a time in archive order. rarfile's own unpacking runs an outside program per member
# (and its bsdtar command line never worked: bsdtar took its "--" for the archive).
class RarUnreadable(ReaderError):
    """libarchive could not unpack a member (a solid RAR 4 archive, a damaged one)."""


def rar_entries(data: bytes) -> Iterator[Entry]:
    import rarfile

    missing = rar_unpacker()
    if missing:
        raise ReaderError(f"máy chủ thiếu {missing}: chưa giải nén được tệp .rar")
    listing = rarfile.RarFile(io.BytesIO(data))
    if listing.needs_password() and not listing.infolist():
        raise ReaderError("tệp nén .rar có mật khẩu (cả danh sách tệp): không đọc được")
    rar5 = rarfile.get_rar_version(io.BytesIO(data)) == rarfile.RAR_V5
    unpacker = _RarUnpacker(data, rar5, listing.is_solid())
    for info in listing.infolist():
        if not info.is_file():  # folders, links
            continue
        name = _rar_name(info, rar5)
        yield Entry(
            name=clean_name(name),
            size=int(info.file_size or 0),
            packed=int(info.compress_size or 0),
            encrypted=info.needs_password(),
            read=functools.partial(unpacker.read, name, int(info.file_size or 0)),
        )


def _rar_name(info: Any, rar5: bool) -> str:
    """RAR 5 names are UTF-8, and so are RAR 4 names flagged Unicode; older ones are in the writer's
    code page, which rarfile guesses as UTF-16 (garbage): UTF-8 or, failing that, Windows-1258."""
    import rarfile

    if rar5 or info.flags & rarfile.RAR_FILE_UNICODE or not isinstance(info.orig_filename, bytes):
        return str(info.filename or "")
    try:
        return str(info.orig_filename.decode("utf-8"))
    except UnicodeDecodeError:
        return str(info.orig_filename.decode("cp1258", errors="replace"))


class _RarUnpacker:
    """libarchive's pass over the archive, in order: members not asked for (too large, a password)
    are passed over, and a member is read before the next is asked for."""

    def __init__(self, data: bytes, rar5: bool, solid: bool) -> None:
        self.entries = self._entries(data, "rar5" if rar5 else "rar")
        self.solid4 = solid and not rar5
        self.failed = ""

    @staticmethod
    def _entries(data: bytes, format_name: str) -> Iterator[Any]:
        import libarchive

        with libarchive.memory_reader(data, format_name=format_name, filter_name="none") as archive:
            yield from archive

    def read(self, name: str, size: int, limit: int) -> bytes:
        import libarchive

        if self.failed:
            raise RarUnreadable(self.failed)
        try:
            for entry in self.entries:
                if not _same(entry, name, size):
                    continue  # another member, or an older version of this one ("name;1")
                out = bytearray()
                for block in entry.get_blocks(min(limit + 1, 1 << 16)):
                    out += block
                    if len(out) > limit:
                        return bytes(out[: limit + 1])
                return bytes(out)
        except libarchive.ArchiveError as exc:
            self.failed = (
                "tệp .rar dạng solid (RAR 4): máy chủ chỉ giải nén được tệp đầu"
                if self.solid4
                else f"tệp .rar hỏng, không giải nén được ({exc.msg})"
            )
            raise RarUnreadable(self.failed) from None
        raise RarUnreadable("không thấy tệp này khi giải nén .rar")


def _same(entry: Any, name: str, size: int) -> bool:
    """libarchive's entry is the member rarfile listed: the same name, or, for a name the two decode
    differently (written without RAR's Unicode flag, in a Windows code page), the same printable
    ASCII in it and the same size."""
    if entry.pathname == name:
        return True
    return _skeleton(entry.pathname) == _skeleton(name) and entry.size in (None, size)


def _skeleton(name: str | bytes) -> str:
    if isinstance(name, bytes):
        name = name.decode("latin-1")
    return re.sub(r"[^!-~]", "", name.replace("\\", "/"))


def rar_unpacker() -> str | None:
    """None when .rar members can be unpacked here, else what is missing (for `mailbot check`)."""
    try:
        import libarchive  # noqa: F401 - loads libarchive13 too
    except ImportError:
        return "thư viện libarchive-c (pip install libarchive-c)"
    except (OSError, AttributeError):
        return "thư viện libarchive của Debian (apt-get install libarchive13)"
    return None


def held(content: bytes, limit: int) -> bytes:
    """`read` for a member already in memory (Outlook's wrappers)."""
    return content[: limit + 1]
