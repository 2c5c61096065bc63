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


def msg(data: bytes) -> tuple[list[Entry], str]:
    """(the attachments of an Outlook .msg, its subject and body as text)."""
    import logging

    import extract_msg

    logging.getLogger("extract_msg").setLevel(logging.CRITICAL)  # it logs every oddity of a file
    message = extract_msg.openMsg(io.BytesIO(data), delayAttachments=False)
    try:
        entries = []
        for att in message.attachments:
            content = att.data
            if not isinstance(content, bytes):  # an embedded message, or a reference to a file elsewhere
                continue
            name = att.longFilename or att.shortFilename or getattr(att, "displayName", None) or "(không tên)"
            entries.append(
                Entry(
                    name=clean_name(str(name)),
                    size=len(content),
                    packed=len(content),
                    encrypted=False,
                    read=functools.partial(held, content),
                    content_type=str(getattr(att, "mimetype", None) or "application/octet-stream"),
                )
            )
        parts = (getattr(message, "subject", None), getattr(message, "body", None))
        text = "\n".join(str(part) for part in parts if part)
        return entries, text
    finally:
        message.close()
