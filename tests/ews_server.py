"""A small EWS endpoint on loopback for exchangelib's real code path (no Exchange runs here).

It answers the SOAP operations mailbot uses - GetFolder, FindFolder, CreateFolder,
SyncFolderItems, GetItem, UpdateItem, MoveItem - with responses shaped as
Exchange 2016 sends them (Microsoft's EWS reference), over a small in-memory
mailbox, so that exchangelib parses real XML over real HTTP. It is a stand-in
for a server, not a recording of one: see docs/operator.md, "What is and is not tested".
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import http.server
import ssl
import threading
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

S = "http://schemas.xmlsoap.org/soap/envelope/"
M = "http://schemas.microsoft.com/exchange/services/2006/messages"
T = "http://schemas.microsoft.com/exchange/services/2006/types"
DISTINGUISHED = {"root": "Root", "msgfolderroot": "Top of Information Store", "inbox": "Inbox"}


def _id(text: str) -> str:
    return base64.b64encode(hashlib.sha256(text.encode()).digest()[:24]).decode()


@dataclass
class Item:
    id: str
    mime: bytes
    folder: str
    received: dt.datetime
    changekey: str = "CQAAABYAAAA"
    is_read: bool = False


@dataclass
class Mailbox:
    folders: dict[str, tuple[str, str | None]] = field(default_factory=dict)  # id -> (name, parent id)
    items: dict[str, Item] = field(default_factory=dict)
    log: list[tuple[int, str, str]] = field(default_factory=list)  # (seq, "create"|"delete", item id) in inbox
    seq: int = 0

    def __post_init__(self) -> None:
        self.folders = {_id("root"): ("Root", None)}
        self.folders[_id("msgfolderroot")] = ("Top of Information Store", _id("root"))
        self.folders[_id("inbox")] = ("Inbox", _id("msgfolderroot"))
        self.folders[_id("sentitems")] = ("Sent Items", _id("msgfolderroot"))
        self.sent: list[tuple[bytes, list[str]]] = []  # (MIME, recipients) of each mail sent through EWS

    def deliver(self, mime: bytes, received: dt.datetime | None = None) -> str:
        item_id = _id(f"item-{len(self.items)}-{hashlib.sha256(mime).hexdigest()}")
        self.items[item_id] = Item(item_id, mime, _id("inbox"), received or dt.datetime.now(dt.timezone.utc))
        self.seq += 1
        self.log.append((self.seq, "create", item_id))
        return item_id

    def in_folder(self, name: str) -> list[Item]:
        ids = [fid for fid, (n, _) in self.folders.items() if n == name]
        return [i for i in self.items.values() if i.folder in ids]


class EwsServer:
    def __init__(self, tls: tuple[Path, Path] | None = None) -> None:
        """`tls`: a certificate and key, for https:// (else http:// on loopback)."""
        self.mailbox = Mailbox()
        self.requests: list[str] = []  # operation names, in order
        self.bodies: list[bytes] = []
        self.fail_next: int = 0  # answer this many requests with HTTP 503 (the server away)
        self.lock = threading.Lock()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                status, payload = server.answer(body)
                self.send_response(status)
                self.send_header("Content-Type", "text/xml; charset=utf-8")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: object) -> None:
                return None

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.scheme = "http"
        if tls is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(*tls)
            self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
            self.scheme = "https"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.httpd.server_port}/EWS/Exchange.asmx"

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    # -- dispatch ------------------------------------------------------------------------
    def answer(self, body: bytes) -> tuple[int, bytes]:
        root = ET.fromstring(body)
        request = root.find(f"{{{S}}}Body")[0]  # type: ignore[index]
        operation = request.tag.split("}", 1)[1]
        with self.lock:
            self.requests.append(operation)
            self.bodies.append(body)
            if self.fail_next > 0:
                self.fail_next -= 1
                return 503, b""
            handler = getattr(self, f"_{operation}", None)
            if handler is None:
                return 500, _fault(f"{operation} is not served by this test endpoint")
            try:
                return 200, _envelope(handler(request))
            except Exception as exc:  # a request this endpoint does not understand: say so
                return 500, _fault(f"{operation}: {type(exc).__name__}: {exc}")

    def _folder_id(self, element: ET.Element) -> str:
        dist = element.find(f".//{{{T}}}DistinguishedFolderId")
        if dist is not None:
            return _id(dist.get("Id", ""))
        return element.find(f".//{{{T}}}FolderId").get("Id", "")  # type: ignore[union-attr]

    def _folder_xml(self, fid: str) -> str:
        name, parent = self.mailbox.folders[fid]
        children = sum(1 for _, p in self.mailbox.folders.values() if p == fid)
        items = [i for i in self.mailbox.items.values() if i.folder == fid]
        parent_xml = f'<t:ParentFolderId Id="{parent}" ChangeKey="AQAAAA=="/>' if parent else ""
        return (
            f'<t:Folder><t:FolderId Id="{fid}" ChangeKey="AQAAAA=="/>{parent_xml}'
            f"<t:FolderClass>IPF.Note</t:FolderClass><t:DisplayName>{escape(name)}</t:DisplayName>"
            f"<t:TotalCount>{len(items)}</t:TotalCount><t:ChildFolderCount>{children}</t:ChildFolderCount>"
            f"<t:UnreadCount>{sum(1 for i in items if not i.is_read)}</t:UnreadCount></t:Folder>"
        )

    def _GetFolder(self, request: ET.Element) -> str:  # noqa: N802
        parts = []
        for ref in request.find(f"{{{M}}}FolderIds"):  # type: ignore[union-attr]
            fid = _id(ref.get("Id", "")) if ref.tag.endswith("DistinguishedFolderId") else ref.get("Id", "")
            if fid not in self.mailbox.folders:  # a distinguished folder this mailbox does not have
                parts.append(
                    _error("GetFolder", "ErrorFolderNotFound", "The specified folder could not be found in the store.")
                )
                continue
            parts.append(_ok("GetFolder", f"<m:Folders>{self._folder_xml(fid)}</m:Folders>"))
        return _response("GetFolder", "".join(parts))

    def _FindFolder(self, request: ET.Element) -> str:  # noqa: N802
        parent = self._folder_id(request.find(f"{{{M}}}ParentFolderIds"))  # type: ignore[arg-type]
        children = [fid for fid, (_, p) in self.mailbox.folders.items() if p == parent]
        folders = "".join(self._folder_xml(fid) for fid in children)
        body = (
            f'<m:RootFolder TotalItemsInView="{len(children)}" IncludesLastItemInRange="true">'
            f"<t:Folders>{folders}</t:Folders></m:RootFolder>"
        )
        return _response("FindFolder", _ok("FindFolder", body))

    def _CreateFolder(self, request: ET.Element) -> str:  # noqa: N802
        parent = self._folder_id(request.find(f"{{{M}}}ParentFolderId"))  # type: ignore[arg-type]
        parts = []
        for folder in request.find(f"{{{M}}}Folders"):  # type: ignore[union-attr]
            name = folder.find(f"{{{T}}}DisplayName").text or ""  # type: ignore[union-attr]
            fid = _id(f"folder-{name}")
            self.mailbox.folders[fid] = (name, parent)
            parts.append(
                _ok(
                    "CreateFolder",
                    f'<m:Folders><t:Folder><t:FolderId Id="{fid}" ChangeKey="AQAAAA=="/></t:Folder></m:Folders>',
                )
            )
        return _response("CreateFolder", "".join(parts))

    def _SyncFolderItems(self, request: ET.Element) -> str:  # noqa: N802
        state_el = request.find(f"{{{M}}}SyncState")
        since = int(state_el.text.split("-")[1]) if state_el is not None and state_el.text else 0
        limit = int(request.findtext(f"{{{M}}}MaxChangesReturned") or "100")
        changes = [entry for entry in self.mailbox.log if entry[0] > since][:limit]
        last = changes[-1][0] if changes else max(since, 0)
        xml = []
        for _, kind, item_id in changes:
            item = self.mailbox.items.get(item_id)
            if kind == "create" and item is not None and item.folder == _id("inbox"):
                xml.append(
                    f"<t:Create><t:Message>{_item_ref(item)}<t:Size>{len(item.mime)}</t:Size>"
                    f"<t:DateTimeReceived>{_time(item.received)}</t:DateTimeReceived></t:Message></t:Create>"
                )
            elif kind == "delete":
                xml.append(f'<t:Delete><t:ItemId Id="{item_id}" ChangeKey="AQAAAA=="/></t:Delete>')
        done = "true" if not [e for e in self.mailbox.log if e[0] > last] else "false"
        body = (
            f"<m:SyncState>state-{last}</m:SyncState><m:IncludesLastItemInRange>{done}"
            f"</m:IncludesLastItemInRange><m:Changes>{''.join(xml)}</m:Changes>"
        )
        return _response("SyncFolderItems", _ok("SyncFolderItems", body))

    def _GetItem(self, request: ET.Element) -> str:  # noqa: N802
        want_mime = request.find(f".//{{{T}}}FieldURI[@FieldURI='item:MimeContent']") is not None
        want_headers = request.find(f".//{{{T}}}FieldURI[@FieldURI='item:InternetMessageHeaders']") is not None
        parts = []
        for ref in request.find(f"{{{M}}}ItemIds"):  # type: ignore[union-attr]
            item = self.mailbox.items.get(ref.get("Id", ""))
            if item is None:
                parts.append(_error("GetItem", "ErrorItemNotFound", "The specified object was not found in the store."))
                continue
            extra = ""
            if want_mime:
                extra += f'<t:MimeContent CharacterSet="UTF-8">{base64.b64encode(item.mime).decode()}</t:MimeContent>'
            extra += _item_ref(item)
            if want_headers:
                head = item.mime.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace").replace("\r\n ", " ")
                headers = "".join(
                    f"<t:InternetMessageHeader HeaderName={quoteattr(n)}>{escape(v.strip())}</t:InternetMessageHeader>"
                    for n, _, v in (line.partition(":") for line in head.split("\r\n"))
                )
                extra += f"<t:InternetMessageHeaders>{headers}</t:InternetMessageHeaders>"
            parts.append(_ok("GetItem", f"<m:Items><t:Message>{extra}</t:Message></m:Items>"))
        return _response("GetItem", "".join(parts))

    def _UpdateItem(self, request: ET.Element) -> str:  # noqa: N802
        parts = []
        for change in request.find(f"{{{M}}}ItemChanges"):  # type: ignore[union-attr]
            item = self.mailbox.items.get(change.find(f"{{{T}}}ItemId").get("Id", ""))  # type: ignore[union-attr]
            if item is None:
                parts.append(
                    _error("UpdateItem", "ErrorItemNotFound", "The specified object was not found in the store.")
                )
                continue
            if change.findtext(f".//{{{T}}}IsRead") in ("true", "1"):  # xs:boolean
                item.is_read = True
            item.changekey = "CQAAABYAAAB"
            parts.append(
                _ok(
                    "UpdateItem",
                    f"<m:Items><t:Message>{_item_ref(item)}</t:Message></m:Items>"
                    "<m:ConflictResults><t:Count>0</t:Count></m:ConflictResults>",
                )
            )
        return _response("UpdateItem", "".join(parts))

    def _CreateItem(self, request: ET.Element) -> str:  # noqa: N802
        disposition = request.get("MessageDisposition")
        saved = request.find(f"{{{M}}}SavedItemFolderId")
        folder = self._folder_id(saved) if saved is not None else _id("drafts")
        parts = []
        for message in request.find(f"{{{M}}}Items"):  # type: ignore[union-attr]
            mime = base64.b64decode(message.findtext(f"{{{T}}}MimeContent") or "")
            rcpts = [e.text or "" for e in message.iter(f"{{{T}}}EmailAddress")]
            if disposition in ("SendOnly", "SendAndSaveCopy"):
                self.mailbox.sent.append((mime, rcpts))
            if disposition in ("SaveOnly", "SendAndSaveCopy"):
                item_id = _id(f"created-{len(self.mailbox.items)}")
                self.mailbox.items[item_id] = Item(
                    item_id, mime, folder, dt.datetime.now(dt.timezone.utc), is_read=True
                )
            parts.append(_ok("CreateItem", "<m:Items/>"))
        return _response("CreateItem", "".join(parts))

    def _MoveItem(self, request: ET.Element) -> str:  # noqa: N802
        target = self._folder_id(request.find(f"{{{M}}}ToFolderId"))  # type: ignore[arg-type]
        parts = []
        for ref in request.find(f"{{{M}}}ItemIds"):  # type: ignore[union-attr]
            item = self.mailbox.items.pop(ref.get("Id", ""), None)
            if item is None:
                parts.append(
                    _error("MoveItem", "ErrorItemNotFound", "The specified object was not found in the store.")
                )
                continue
            if item.folder == _id("inbox"):
                self.mailbox.seq += 1
                self.mailbox.log.append((self.mailbox.seq, "delete", item.id))
            item.id = _id(f"moved-{item.id}")  # a move gives the item a new id, as Exchange does
            item.folder = target
            self.mailbox.items[item.id] = item
            parts.append(_ok("MoveItem", f"<m:Items><t:Message>{_item_ref(item)}</t:Message></m:Items>"))
        return _response("MoveItem", "".join(parts))


def _item_ref(item: Item) -> str:
    return f'<t:ItemId Id="{item.id}" ChangeKey="{item.changekey}"/>'


def _time(value: dt.datetime) -> str:
    return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _ok(operation: str, inner: str) -> str:
    return (
        f'<m:{operation}ResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode>'
        f"{inner}</m:{operation}ResponseMessage>"
    )


def _error(operation: str, code: str, text: str) -> str:
    return (
        f'<m:{operation}ResponseMessage ResponseClass="Error"><m:MessageText>{escape(text)}</m:MessageText>'
        f"<m:ResponseCode>{code}</m:ResponseCode><m:DescriptiveLinkKey>0</m:DescriptiveLinkKey>"
        f"</m:{operation}ResponseMessage>"
    )


def _response(operation: str, messages: str) -> str:
    return (
        f'<m:{operation}Response xmlns:m="{M}" xmlns:t="{T}"><m:ResponseMessages>{messages}'
        f"</m:ResponseMessages></m:{operation}Response>"
    )


def _envelope(body: str) -> bytes:
    return (
        f'<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="{S}"><s:Header>'
        f'<h:ServerVersionInfo MajorVersion="15" MinorVersion="1" MajorBuildNumber="2507" MinorBuildNumber="6" '
        f'Version="V2017_07_11" xmlns:h="{T}" xmlns="{T}"/></s:Header><s:Body>{body}</s:Body>'
        f"</s:Envelope>"
    ).encode("utf-8")


def _fault(text: str) -> bytes:
    return (
        f'<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="{S}"><s:Body><s:Fault>'
        f"<faultcode>s:Client</faultcode><faultstring>{escape(text)}</faultstring></s:Fault></s:Body>"
        f"</s:Envelope>"
    ).encode("utf-8")
