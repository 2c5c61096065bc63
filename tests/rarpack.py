"""RAR 4 and RAR 5 archives with compressed members, written at test time (no free program writes
RAR): the smallest encoders the formats allow, from RARLAB's technote and libarchive's (BSD) readers.
Not an archiver: no search for repeats, only what the tests need.

One compressed block per member, one Huffman table set: every byte value a literal of 9 bits. RAR 5
also has two codes of 2 bits, for a match of 4,097 bytes at distance 1 and for "the last match
again", which is how a bomb is written (a few bits per 4 KB). Real archives made by RARLAB's rar
are in tests/fixtures/files/rar/.
"""

from __future__ import annotations

import struct
import zlib

SIGNATURE = b"Rar!\x1a\x07\x01\x00"
MAIN, DISTANCES, ALIGN, LENGTHS = 306, 64, 16, 44  # the four tables, 430 code lengths in all
LONGEST = 305  # main symbol 262 + 43: the longest match, 4,097 bytes with 9 extra bits all set
AGAIN = 257  # the last match again


def _vint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _header(kind: int, flags: int, fields: bytes, data_size: int | None = None) -> bytes:
    body = _vint(kind) + _vint(flags | (0x2 if data_size is not None else 0))
    if data_size is not None:
        body += _vint(data_size)
    body += fields
    sized = _vint(len(body)) + body
    return struct.pack("<I", zlib.crc32(sized)) + sized


class _Bits:
    def __init__(self) -> None:
        self.bits: list[int] = []

    def put(self, value: int, count: int) -> None:
        self.bits += [(value >> (count - 1 - i)) & 1 for i in range(count)]

    def bytes(self) -> tuple[bytes, int]:
        """The bytes, and how many bits of the last one are used (1..8)."""
        used = len(self.bits) % 8 or 8
        padded = self.bits + [0] * (-len(self.bits) % 8)
        return bytes(int("".join(map(str, padded[i : i + 8])), 2) for i in range(0, len(padded), 8)), used


def _canonical(lengths: list[int]) -> dict[int, tuple[int, int]]:
    """symbol -> (code, length), codes given by length then symbol, as RAR (and deflate) does."""
    codes: dict[int, tuple[int, int]] = {}
    code = 0
    for length in range(1, 16):
        for symbol, size in enumerate(lengths):
            if size == length:
                codes[symbol] = (code, length)
                code += 1
        code <<= 1
    return codes


def _block(symbols: list[int]) -> bytes:
    main = [9] * 256 + [0] * (MAIN - 256)
    main[AGAIN] = main[LONGEST] = 2
    distances = [1, 1] + [0] * (DISTANCES - 2)
    lengths = main + distances + [0] * ALIGN + [0] * LENGTHS
    bit_lengths = [0] * 20  # the code of the code lengths: the values 0, 1, 2 and 9, two bits each
    for value in (0, 1, 2, 9):
        bit_lengths[value] = 2
    out = _Bits()
    for size in bit_lengths:
        out.put(size, 4)
    table = _canonical(bit_lengths)
    for size in lengths:
        out.put(*table[size])
    codes = _canonical(main)
    distance = _canonical(distances)
    for symbol in symbols:
        out.put(*codes[symbol])
        if symbol == LONGEST:
            out.put(0x1FF, 9)  # the length's extra bits: 4,097
            out.put(*distance[0])  # distance slot 0: distance 1
    data, used = out.bytes()
    size = struct.pack("<I", len(data))[:3]
    flags = 0x80 | 0x40 | (2 << 3) | (used - 1)  # a table, the last block, a 3-byte size
    check = 0x5A ^ flags ^ size[0] ^ size[1] ^ size[2]
    return bytes([flags, check]) + size + data


def rar5(members: dict[str, bytes]) -> bytes:
    """A RAR 5 archive whose members are compressed (method 3, "normal"), each in its own block."""
    out = SIGNATURE + _header(1, 0, _vint(0))
    for name, content in members.items():
        out += _member(name, _block(list(content)), len(content), zlib.crc32(content))
    return out + _header(5, 0, _vint(0))


def rar5_bomb(name: str, unpacked: int, declare: int | None) -> bytes:
    """A member of `unpacked` bytes ("A" then matches), a few KB packed; it declares `declare` bytes,
    or an unknown size (RAR 5 allows it) when None."""
    repeats = max(0, (unpacked - 1) // 4097 - 1)
    return (
        SIGNATURE
        + _header(1, 0, _vint(0))
        + _member(name, _block([ord("A"), LONGEST] + [AGAIN] * repeats), declare, None)
        + _header(5, 0, _vint(0))
    )


def _member(name: str, packed: bytes, size: int | None, crc: int | None) -> bytes:
    raw = name.encode("utf-8")
    file_flags = (0x4 if crc is not None else 0) | (0x8 if size is None else 0)
    fields = _vint(file_flags) + _vint(size or 0) + _vint(0x20)  # attributes: archive
    if crc is not None:
        fields += struct.pack("<I", crc)
    fields += _vint(3 << 7) + _vint(0) + _vint(len(raw)) + raw  # method 3, 128 KB window; Windows
    return _header(2, 0, fields, data_size=len(packed)) + packed


# -- RAR 4 (the format of RAR 2.9 to 4.x) ------------------------------------------------------------------
def _rar4_block(kind: int, flags: int, body: bytes, extra: bytes = b"") -> bytes:
    header = struct.pack("<BHH", kind, flags, 7 + len(body)) + body
    return struct.pack("<H", zlib.crc32(header) & 0xFFFF) + header + extra


def _rar4_data(content: bytes) -> bytes:
    """Method 2.9 LZ: a fresh table, every byte a literal, then "end of block, end of file"."""
    main = [9] * 256 + [2, 0, 2] + [0] * (299 - 259)  # 256: end of block; 258: the last match again
    lengths = main + [0] * (60 + 17 + 28)  # distances, low distances, short lengths: unused
    bit_lengths = [0] * 20
    for value in (0, 1, 2, 9):
        bit_lengths[value] = 2
    out = _Bits()
    out.put(0, 2)  # LZ, not PPMd; do not keep the previous table
    for size in bit_lengths:
        out.put(size, 4)
    table = _canonical(bit_lengths)
    for size in lengths:
        out.put(*table[size])
    codes = _canonical(main)
    for byte in content:
        out.put(*codes[byte])
    out.put(*codes[256])
    out.put(0, 2)  # a new file follows (this one ends), no new table
    return out.bytes()[0] + b"\0" * 4  # libarchive reads a table's longest code ahead, even at the end


def rar4(members: dict[str, bytes]) -> bytes:
    """A RAR 4 archive (RAR 2.9 format) whose members are compressed (method "normal"), names in UTF-8."""
    out = [b"Rar!\x1a\x07\x00" + _rar4_block(0x73, 0, b"\x00" * 6)]
    for name, content in members.items():
        packed = _rar4_data(content)
        raw = name.encode("utf-8")
        body = struct.pack(
            "<IIBIIBBHI", len(packed), len(content), 2, zlib.crc32(content), 0x5A210000, 29, 0x33, len(raw), 0x20
        )
        out.append(_rar4_block(0x74, 0x8000 | 0x0200, body + raw, packed))  # 0x0200: the name is Unicode
    return b"".join(out) + _rar4_block(0x7B, 0x4000, b"")
