"""Outlook's wrappers: winmail.dat (application/ms-tnef, with tnefparse) and attached .msg files
(extract-msg). Their attachments are listed as archive entries (readers/archives.py), and their
body text is what the wrapper "says" (extract.py reads it like a document's text).
"""

from __future__ import annotations

import functools
import io
import struct
from collections.abc import Iterator
from typing import Any

from mailbot.analysis.readers.archives import Entry, clean_name, held
from mailbot.errors import ReaderError

MAX_OBJECTS = 20_000  # TNEF objects walked; a winmail.dat carries a handful per attachment


def _tnef_objects(data: bytes) -> Iterator[Any]:
    """tnefparse's objects, one by one. Its own TNEF() slices the rest of the file for every object
    (quadratic: minutes on a winmail.dat of 10,000 small attachments); here each object gets its own
    bytes only, then tnefparse decodes it."""
    from tnefparse.tnef import TNEFObject

    offset, count = 6, 0
    while offset + 11 <= len(data) and count < MAX_OBJECTS:
        (length,) = struct.unpack_from("<I", data, offset + 5)
        end = min(len(data), offset + 11 + length)
        yield TNEFObject(data[offset:end], do_checksum=False)
        offset, count = end, count + 1


def tnef(data: bytes) -> tuple[list[Entry], str]:
    """(the attachments of a winmail.dat, its body text)."""
    from tnefparse import properties as Attribute
    from tnefparse.mapi import decode_mapi
    from tnefparse.tnef import TNEF, TNEFAttachment

    if struct.unpack_from("<I", data, 0)[0] != TNEF.TNEF_SIGNATURE:
        raise ValueError("not a TNEF stream")
    attachments: list[Any] = []
    body = ""
    codepage = "cp1252"
    for obj in _tnef_objects(data):
        if obj.name == TNEF.ATTOEMCODEPAGE and len(obj.data) >= 4:
            codepage = f"cp{struct.unpack_from('<I', obj.data, 0)[0]}"
        if obj.name == TNEF.ATTATTACHRENDDATA:
            attachments.append(TNEFAttachment(codepage))
        if obj.level == TNEF.LVL_ATTACHMENT and attachments:
            attachments[-1].add_attr(obj)
        elif obj.name == TNEF.ATTBODY:
            body = _text(obj.data, codepage)
        elif obj.name == TNEF.ATTMAPIPROPS and not body:
            for prop in decode_mapi(obj.data, codepage):
                if prop.name in (Attribute.MAPI_BODY, Attribute.MAPI_UNCOMPRESSED_BODY):
                    body = _text(prop.data, codepage)
    entries = []
    for att in attachments:
        content = att.data if isinstance(att.data, bytes) else b""
        entries.append(
            Entry(
                name=clean_name(_tnef_name(att, codepage)) or "(không tên)",
                size=len(content),
                packed=len(content),
                encrypted=False,
                read=functools.partial(held, content),
            )
        )
    return entries, body


def _tnef_name(att: Any, codepage: str) -> str:
    try:
        name = att.long_filename()
    except (UnicodeDecodeError, AttributeError):
        name = ""
    if isinstance(name, bytes) or not name:
        raw = name if isinstance(name, bytes) else att._name
        name = _text(raw, codepage) if isinstance(raw, bytes) else str(raw or "")
    return name.strip("\x00")


def _text(value: object, codepage: str) -> str:
    if isinstance(value, str):
        return value.strip("\x00")
    if isinstance(value, bytes):
        try:
            return value.decode(codepage, errors="replace").strip("\x00")
        except LookupError:
            return value.decode("cp1252", errors="replace").strip("\x00")
    return ""


MAX_ITEM_DEPTH = 1  # messages attached as items: the files of one are read, an item inside it is named
MAX_OLE_ENTRIES = 4_000  # streams and storages in a .msg: about 500 attachments (extract-msg is quadratic in them)


def msg(data: bytes) -> tuple[list[Entry], str]:
    """(the attachments of an Outlook .msg, and of a message attached to it as an item; its subject
    and body as text, and theirs)."""
    import logging

    import extract_msg
    import olefile

    logging.getLogger("extract_msg").setLevel(logging.CRITICAL)  # it logs every oddity of a file
    with olefile.OleFileIO(io.BytesIO(data)) as ole:
        count = len(ole.direntries)
    if count > MAX_OLE_ENTRIES:
        raise ReaderError(f"gói Outlook .msg có {count} mục (trên {MAX_OLE_ENTRIES}): không mở")
    # Attachments read when asked for: extract-msg would otherwise open every message attached as an
    # item, and every one inside it, at once (100 levels, a 460 KB file: 25 s and 2.7 GB).
    message = extract_msg.openMsg(io.BytesIO(data), delayAttachments=True)
    try:
        entries: list[Entry] = []
        texts: list[str] = []
        _msg_contents(message, "", 0, entries, texts)
        return entries, "\n".join(texts)
    finally:
        message.close()


def _msg_contents(message: Any, prefix: str, level: int, entries: list[Entry], texts: list[str]) -> None:
    texts.extend(str(part) for part in (getattr(message, "subject", None), getattr(message, "body", None)) if part)
    for att in message.attachments:
        content = att.data
        if hasattr(content, "attachments"):  # a message attached as an item ("attach item" in Outlook)
            title = clean_name(str(getattr(content, "subject", None) or "thư đính kèm")).replace("/", "-")
            if level >= MAX_ITEM_DEPTH:
                entries.append(Entry(f"{prefix}{title}.msg", 0, 0, False, _too_deep))
            else:
                _msg_contents(content, f"{prefix}{title}/", level + 1, entries, texts)
            continue
        if not isinstance(content, bytes):  # a reference to a file elsewhere
            continue
        name = att.longFilename or att.shortFilename or getattr(att, "displayName", None) or "(không tên)"
        entries.append(
            Entry(
                name=prefix + clean_name(str(name)),
                size=len(content),
                packed=len(content),
                encrypted=False,
                read=functools.partial(held, content),
                content_type=str(getattr(att, "mimetype", None) or "application/octet-stream"),
            )
        )


def _too_deep(limit: int) -> bytes:
    raise ReaderError("thư Outlook đính kèm lồng quá sâu: không mở")
