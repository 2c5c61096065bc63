"""Files in the shapes carriers send, written at test time: Outlook's winmail.dat (TNEF) and .msg,
.7z and .rar archives, and duty lists as .docx/.xlsx. Shared by tests/test_formats.py,
tests/hostile.py and bench/.

TNEF and RAR are written by hand here (no library writes them; mailbot only reads them, with
tnefparse, rarfile and libarchive): the smallest valid files, from [MS-OXTNEF] and RARLAB's RAR 4.x technote.
RAR members are stored, not compressed (compressing needs RARLAB's own program); compressed RAR 4
and RAR 5 archives made by RARLAB's rar are in tests/fixtures/files/rar/ (tests/test_rar.py).
"""

from __future__ import annotations

import io
import struct
import tempfile
import zlib
from pathlib import Path

FILES = Path(__file__).parent / "fixtures" / "files"
DUTY_ROWS = [
    ("STT", "Họ và tên", "Chức vụ", "Số điện thoại"),
    ("1", "Trần Văn Nam", "Phó Giám đốc", "0912.345.678"),
    ("2", "Nguyễn Thị Lan", "Chuyên viên", "0913 123 456"),
    ("3", "Lê Văn Hùng", "Trưởng phòng Kỹ thuật", "0987654321"),
]
NAMES = {"Trần Văn Nam", "Nguyễn Thị Lan", "Lê Văn Hùng"}


def duty_xlsx() -> bytes:
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["DANH SÁCH CÁN BỘ TRỰC"])
    for row in DUTY_ROWS:
        ws.append(list(row))
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def plan_docx(title: str = "PHƯƠNG ÁN BẢO ĐẢM THÔNG TIN LIÊN LẠC PHỤC VỤ BẦU CỬ") -> bytes:
    import docx

    document = docx.Document()
    document.add_paragraph("VIỄN THÔNG ĐỒNG THÁP")
    document.add_paragraph(title)
    document.add_paragraph("1. Mục đích, yêu cầu: bảo đảm thông tin liên lạc thông suốt trong thời gian bầu cử.")
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def sevenzip(members: dict[str, bytes]) -> bytes:
    import py7zr

    out = io.BytesIO()
    with py7zr.SevenZipFile(out, "w") as archive:
        for name, data in members.items():
            archive.writestr(data, name)
    return out.getvalue()


def sevenzip_declaring(members: dict[str, bytes], lzma2_property: int | None) -> bytes:
    """A 7z (LZMA2, header not compressed) whose LZMA2 dictionary property byte is then set to
    `lzma2_property` (40: 4 GiB), the header's CRCs made right again; None: left as written."""
    import py7zr

    out = io.BytesIO()
    with py7zr.SevenZipFile(out, "w", filters=[{"id": py7zr.FILTER_LZMA2, "dict_size": 1 << 20}]) as archive:
        archive.encoded_header_mode = False
        for name, data in members.items():
            archive.writestr(data, name)
    data = bytearray(out.getvalue())
    if lzma2_property is None:
        return bytes(data)
    coder = data.index(b"\x21\x21\x01\x10")  # one-byte id 0x21 (LZMA2) with 1 byte of properties: 1 MiB
    data[coder + 3] = lzma2_property
    offset, size = struct.unpack("<QQ", data[12:28])
    data[28:32] = struct.pack("<I", zlib.crc32(data[32 + offset : 32 + offset + size]))
    data[8:12] = struct.pack("<I", zlib.crc32(data[12:32]))
    return bytes(data)


# -- RAR 4.x, stored ------------------------------------------------------------------------------------
def _rar_block(kind: int, flags: int, body: bytes, extra: bytes = b"") -> bytes:
    header = struct.pack("<BHH", kind, flags, 7 + len(body)) + body
    return struct.pack("<H", zlib.crc32(header) & 0xFFFF) + header + extra


def rar_stored(members: dict[str, bytes], declared: dict[str, int] | None = None, encoding: str = "utf-8") -> bytes:
    """A RAR 4 archive of stored members; `declared` lies about a member's unpacked size. Names are
    written in `encoding` without RAR's Unicode flag, as old archivers did."""
    out = [b"Rar!\x1a\x07\x00" + _rar_block(0x73, 0, b"\x00" * 6)]
    for name, data in members.items():
        raw_name = name.encode(encoding, errors="replace")
        unpacked = (declared or {}).get(name, len(data))
        body = struct.pack(
            "<IIBIIBBHI", len(data), unpacked, 3, zlib.crc32(data), 0x52A00000, 20, 0x30, len(raw_name), 0o100644
        )
        out.append(_rar_block(0x74, 0x8000 | 0x0200 * 0, body + raw_name, data))
    return b"".join(out) + _rar_block(0x7B, 0x4000, b"")


# -- TNEF (winmail.dat) -----------------------------------------------------------------------------------
def _tnef_attr(level: int, name: int, kind: int, data: bytes) -> bytes:
    return struct.pack("<BHHI", level, name, kind, len(data)) + data + struct.pack("<H", sum(data) & 0xFFFF)


def cp1258(text: str) -> bytes:
    """Vietnamese in Windows-1258, as Outlook writes it: precomposed â ă ê ô ơ ư đ, tones as combining marks."""
    import unicodedata

    tones = "\u0300\u0301\u0303\u0309\u0323"
    out = []
    for char in unicodedata.normalize("NFC", text):
        parts = unicodedata.normalize("NFD", char)
        base = unicodedata.normalize("NFC", "".join(c for c in parts if c not in tones))
        out.append(base + "".join(c for c in parts if c in tones))
    return "".join(out).encode("cp1258")


def winmail_dat(files: dict[str, bytes], body: str = "Kính gửi Sở, đơn vị gửi kèm tài liệu.") -> bytes:
    out = struct.pack("<IH", 0x223E9F78, 0x0101)
    out += _tnef_attr(1, 0x9006, 0x0008, struct.pack("<I", 0x00010000))  # attTnefVersion
    out += _tnef_attr(1, 0x9007, 0x0006, struct.pack("<II", 1258, 0))  # attOemCodepage: cp1258
    out += _tnef_attr(1, 0x8008, 0x0007, b"IPM.Microsoft Mail.Note\x00")
    out += _tnef_attr(1, 0x800C, 0x0002, cp1258(body))
    for name, data in files.items():
        out += _tnef_attr(2, 0x9002, 0x0006, b"\x01\x00" + b"\xff" * 8 + b"\x00" * 4)  # attAttachRendData
        out += _tnef_attr(2, 0x8010, 0x0001, cp1258(name) + b"\x00")  # attAttachTitle
        out += _tnef_attr(2, 0x800F, 0x0006, data)  # attAttachData
    return out


# -- Outlook .msg -------------------------------------------------------------------------------------------
def outlook_msg(files: dict[str, bytes], subject: str = "Gửi danh sách trực", body: str = "Kính gửi Sở.") -> bytes:
    from msgforge import Message

    message = Message(subject=subject, text_body=body, to=[("pbcvt@dongthap.gov.vn", "Sở TT&TT")])
    with tempfile.TemporaryDirectory() as folder:
        for name, data in files.items():
            path = Path(folder) / name
            path.write_bytes(data)
            message.attach(path)
        return bytes(message.as_bytes())


# -- Outlook .msg carrying messages as items ------------------------------------------------------------
def outlook_msg_nested(inner: bytes, depth: int = 1, subject: str = "Fw: danh sách trực") -> bytes:
    """An Outlook .msg carrying a message as an attached item (attach method 5: "attach item", not a
    .msg file), that one carrying another, `depth` levels down to `inner` (a .msg). msgforge writes
    no items: the levels are assembled here with extract-msg's OLE writer, from [MS-OXMSG]."""
    import extract_msg
    from extract_msg.ole_writer import OleWriter

    att, item = "__attach_version1.0_#00000000", "__substg1.0_3701000D"
    carrier = extract_msg.openMsg(io.BytesIO(outlook_msg({"x.txt": b"x"}, subject=subject)), delayAttachments=True)
    last = extract_msg.openMsg(io.BytesIO(inner), delayAttachments=True)
    writer = OleWriter()
    writer.fromMsg(carrier)
    levels = [(carrier, False)] * (depth - 1) + [(last, True)]
    for level, (message, is_last) in enumerate(levels, start=1):
        above = [att, item] * (level - 1)
        writer.deleteEntry([*above, att, "__substg1.0_37010102"])
        props = bytearray(writer.getEntry([*above, att, "__properties_version1.0"]).data)
        for at in range(8, len(props) - 15, 16):
            tag = struct.unpack_from("<I", props, at)[0]
            if tag == 0x37050003:  # PR_ATTACH_METHOD: an embedded message
                struct.pack_into("<I", props, at + 8, 5)
            elif tag == 0x37010102:  # PR_ATTACH_DATA_BIN becomes PR_ATTACH_DATA_OBJ
                struct.pack_into("<IIII", props, at, 0x3701000D, 0, 0xFFFFFFFF, 0)
        writer.editEntry([*above, att, "__properties_version1.0"], data=bytes(props))
        writer.addEntry([*above, att, item], storage=True)
        for path in sorted(message.listDir(True, True, False), key=len):
            if path[0] == "__nameid_version1.0":
                continue  # an embedded message uses the top level's named properties
            if message._getOleEntry(path).entry_type == 1:  # a storage
                writer.addEntry([*above, att, item, *path], storage=True)
                continue
            data = message.getStream(path)
            if path == ["__properties_version1.0"]:
                data = data[:24] + data[32:]  # an embedded message's header is 8 bytes shorter
            writer.addEntry([*above, att, item, *path], data=data)
    out = io.BytesIO()
    writer.write(out)
    carrier.close()
    last.close()
    return out.getvalue()
