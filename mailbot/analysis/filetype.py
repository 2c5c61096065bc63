"""What a file is, by its bytes: the name may lie (Outlook's ATT00001.bin, a part with no name, a
name mangled in transit) and a content type is whatever the sender's client guessed.

Magic numbers decide; a zip package is a document when it is one (OOXML's [Content_Types].xml,
ODF's mimetype), an OLE2 compound file by the streams it holds (Word, Excel, Outlook).
"""

from __future__ import annotations

import io
import zipfile

from mailbot.envelope import CONTAINER_KINDS, DOCUMENT_KINDS

# what each kind is called in replies and the digest
LABELS = {
    "pdf": "PDF",
    "docx": "Word .docx",
    "xlsx": "Excel .xlsx",
    "odt": "OpenDocument .odt",
    "ods": "OpenDocument .ods",
    "doc": "Word 97–2003 .doc",
    "xls": "Excel 97–2003 .xls",
    "msg": "thư Outlook .msg",
    "rtf": "RTF",
    "zip": "tệp nén .zip",
    "7z": "tệp nén .7z",
    "rar": "tệp nén .rar",
    "tnef": "gói Outlook winmail.dat",
    "text": "văn bản",
    "jpeg": "ảnh JPEG",
    "png": "ảnh PNG",
    "tiff": "ảnh TIFF",
    "heic": "ảnh HEIC",
}
DOCUMENTS = DOCUMENT_KINDS
CONTAINERS = CONTAINER_KINDS
_OOXML = {"word/document.xml": "docx", "xl/workbook.xml": "xlsx"}
_ODF = {b"application/vnd.oasis.opendocument.text": "odt", b"application/vnd.oasis.opendocument.spreadsheet": "ods"}


def sniff(data: bytes, extension: str = "", content_type: str = "") -> str:
    """The kind of a file by its content ("" when unknown); the extension only breaks ties."""
    head = data[:8]
    if head.startswith(b"%PDF") or data[:1024].lstrip().startswith(b"%PDF"):
        return "pdf"
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return _zip_kind(data)
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return _ole_kind(data, extension)
    if head.startswith(b"{\\rtf"):
        return "rtf"
    if head.startswith(b"7z\xbc\xaf\x27\x1c"):
        return "7z"
    if head.startswith(b"Rar!\x1a\x07"):
        return "rar"
    if head.startswith(b"\x78\x9f\x3e\x22"):  # TNEF signature 0x223E9F78, little-endian
        return "tnef"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return "tiff"
    if data[4:12] in (b"ftypheic", b"ftypheix", b"ftyphevc", b"ftypmif1", b"ftypheim", b"ftypheis"):
        return "heic"  # an iPhone's photo
    if extension in ("csv", "txt") or content_type in ("text/csv", "text/plain"):
        return "text"
    return ""


def _zip_kind(data: bytes) -> str:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            names = set(zf.namelist()[:2000])
            if "mimetype" in names:
                info = zf.getinfo("mimetype")
                if info.file_size < 200:
                    kind = _ODF.get(zf.read(info).strip())
                    if kind:
                        return kind
    except (zipfile.BadZipFile, OSError, ValueError, KeyError, NotImplementedError, RuntimeError):
        return "zip"  # a damaged zip: opening it says what is wrong
    if "[Content_Types].xml" in names:
        return next((kind for part, kind in _OOXML.items() if part in names), "zip")
    return "zip"


def _ole_kind(data: bytes, extension: str) -> str:
    """Word, Excel or Outlook by the streams of the compound file (olefile)."""
    try:
        import olefile
    except ImportError:
        return {"doc": "doc", "msg": "msg"}.get(extension, "xls")
    try:
        with olefile.OleFileIO(io.BytesIO(data)) as ole:
            streams = {"/".join(entry) for entry in ole.listdir(streams=True, storages=True)[:500]}
    except Exception:  # olefile raises its own errors, and others, on a damaged file
        return {"doc": "doc", "msg": "msg"}.get(extension, "xls")
    if "WordDocument" in streams:
        return "doc"
    if {"Workbook", "Book"} & streams:
        return "xls"
    if any(s.startswith("__substg1.0_") or s.startswith("__properties_version1.0") for s in streams):
        return "msg"
    return extension if extension in ("doc", "xls", "msg") else "ole"


def label(kind: str) -> str:
    return LABELS.get(kind, kind)
