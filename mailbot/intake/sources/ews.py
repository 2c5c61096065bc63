"""An Exchange mailbox over EWS (exchangelib): inbox sync with a saved sync state.

The sync state is saved only once every message of the sync that produced it
has been recorded and moved, so a crash in between means the same changes
again, which the Message-ID register makes harmless. Messages are marked read
and moved to the processed or review folder as with IMAP. Exchange offers no
IDLE here: the inbox is synchronised every `poll_interval` (a SyncFolderItems
call with no changes is cheap).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import requests.adapters
import requests.exceptions
from exchangelib import (
    BASIC,
    DELEGATE,
    IMPERSONATION,
    NTLM,
    OAUTH2,
    Account,
    Build,
    Configuration,
    Credentials,
    FailFast,
    Folder,
    Identity,
    Mailbox,
    Message,
    OAuth2Credentials,
    Version,
)
from exchangelib.errors import ErrorInternalServerTransientError, ErrorServerBusy, EWSError, ResponseMessageError
from exchangelib.folders import FolderCollection, Inbox, MsgFolderRoot
from exchangelib.protocol import BaseProtocol

from mailbot.config import MailboxConfig
from mailbot.durable import atomic_write
from mailbot.envelope import REVIEW
from mailbot.errors import SendError, SourceError
from mailbot.intake.sources import Incoming

log = logging.getLogger(__name__)

BUILDS = {
    "Exchange2013": Build(15, 0),
    "Exchange2016": Build(15, 1),
    "Exchange2019": Build(15, 2),
    "Office365": Build(15, 20),
}
AUTH = {"ntlm": NTLM, "basic": BASIC, "oauth2": OAUTH2}
SYNC_PAGE = 100  # changes per SyncFolderItems call
CONNECTION_ERRORS = (EWSError, requests.exceptions.RequestException, OSError)


def _source_error(exc: BaseException, what: str) -> SourceError:
    error = SourceError(f"EWS {what}: {type(exc).__name__}: {exc}")
    # Exchange's own request to wait (BackOffMilliseconds); exchangelib's "Reraised from ..." busy
    # errors carry its local retry delay instead, which our backoff replaces.
    if isinstance(exc, ErrorServerBusy) and exc.back_off and not str(exc).startswith("Reraised from"):
        error.retry_after = float(exc.back_off)
    return error


def trust_ca_file(ca_file: Path) -> None:
    """Verify Exchange's certificate against `ca_file` (the system's roots are not added then:
    requests takes one bundle). exchangelib takes its HTTP adapter from a class attribute of
    BaseProtocol, its documented hook; one mailbox per process, so one setting."""

    class CaFileAdapter(requests.adapters.HTTPAdapter):
        def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
            super().cert_verify(conn, url, str(ca_file), cert)

        def get_connection_with_tls_context(
            self, request: Any, verify: Any, proxies: Any = None, cert: Any = None
        ) -> Any:
            return super().get_connection_with_tls_context(request, str(ca_file), proxies, cert)

    BaseProtocol.HTTP_ADAPTER_CLS = CaFileAdapter


class EwsSource:
    def __init__(
        self,
        config: MailboxConfig,
        state_dir: Path,
        secret: Callable[[str], str | None],
        poll_interval: float = 10.0,
        read_only: bool = False,
    ) -> None:
        """`read_only` (a dry run): the mailbox is never changed: nothing marked read, moved or created."""
        self.read_only = read_only
        self.config = config
        self.secret = secret
        self.poll_interval = poll_interval
        self.state_path = state_dir / "ews-state.json"
        self.account: Account | None = None
        self.inbox: Folder | None = None
        self.folders: dict[str, Folder] = {}
        self.missing_folders: list[str] = []
        self._next_state: str | None = None  # saved once every message of its sync is done
        self._outstanding: set[str] = set()
        self._lock = threading.Lock()
        self._wake = threading.Event()

    @property
    def address(self) -> str:
        return self.config.mailbox_address or self.config.username

    # -- connection --------------------------------------------------------------------
    def _credentials(self) -> Any:
        cfg = self.config
        if cfg.ews_auth == "oauth2":
            secret = self.secret(cfg.client_secret_env)
            if not secret:
                raise SourceError(f"no OAuth2 client secret: set {cfg.client_secret_env}")
            return OAuth2Credentials(
                client_id=cfg.client_id,
                client_secret=secret,
                tenant_id=cfg.tenant_id,
                identity=Identity(primary_smtp_address=self.address),
            )
        password = self.secret(cfg.password_env) if cfg.password_env else None
        if password is None:
            raise SourceError(f"no EWS password: set {cfg.password_env or '[mailbox] password_env'}")
        if cfg.ews_auth == "basic" and not password.isascii():
            # HTTP Basic carries Latin-1 at best and servers differ beyond ASCII
            raise SourceError('a password with non-ASCII characters needs ews_auth = "ntlm" or "oauth2"')
        return Credentials(cfg.username, password)

    def connect(self, create_folders: bool = True) -> Account:
        """Log in and find (or create) the folders; without `create_folders` the missing are listed
        in self.missing_folders instead (for `mailbot check`)."""
        if self.account is not None:
            return self.account
        cfg = self.config
        credentials = self._credentials()
        if cfg.ca_file:
            trust_ca_file(cfg.ca_file)
        try:
            if cfg.autodiscover:
                account = Account(
                    self.address,
                    credentials=credentials,
                    autodiscover=True,
                    access_type=IMPERSONATION if cfg.ews_auth == "oauth2" else DELEGATE,
                )
            else:
                # FailFast: mailbot's own loop retries with backoff, bounded below the watchdog.
                configuration = Configuration(
                    service_endpoint=cfg.ews_url,
                    credentials=credentials,
                    auth_type=AUTH[cfg.ews_auth],
                    version=Version(BUILDS[cfg.ews_version]),
                    retry_policy=FailFast(),
                )
                account = Account(
                    self.address,
                    config=configuration,
                    autodiscover=False,
                    access_type=IMPERSONATION if cfg.ews_auth == "oauth2" else DELEGATE,
                )
            root = account.root
            self.inbox = Inbox.get_distinguished(root=root)
            top = MsgFolderRoot.get_distinguished(root=root)
            existing = {
                f.name: f
                for f in FolderCollection(account=account, folders=[top]).find_folders()
                if isinstance(f, Folder)
            }
            self.missing_folders = []
            for name in (cfg.processed_folder, cfg.review_folder):
                folder = existing.get(name)
                if folder is None and not create_folders:
                    self.missing_folders.append(name)
                    continue
                if folder is None:
                    folder = Folder(parent=top, name=name)
                    folder.save()
                    log.warning("created Exchange folder %s", name)
                self.folders[name] = folder
        except CONNECTION_ERRORS as exc:
            raise _source_error(exc, f"{cfg.ews_url or 'autodiscover'}") from exc
        self.account = account
        return account

    def close(self) -> None:
        account, self.account = self.account, None
        if account is not None:
            try:
                account.protocol.close()
            except Exception:  # closing must never fail the shutdown
                pass

    def interrupt(self) -> None:
        self._wake.set()

    def describe(self) -> str:
        return f"ews://{self.address}@{self.config.ews_url or 'autodiscover'}"

    # -- messages ----------------------------------------------------------------------
    def _load_state(self) -> str | None:
        try:
            data = json.loads(self.state_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data.get("sync_state") if data.get("mailbox") == self.address else None

    def _save_state(self) -> None:
        if self._next_state is None or self._outstanding:
            return
        atomic_write(
            self.state_path,
            json.dumps({"mailbox": self.address, "sync_state": self._next_state}).encode(),
            durable=False,
        )
        self._next_state = None

    def pending(self) -> Iterator[Incoming]:
        """Messages created in the inbox since the saved sync state, oldest first."""
        account = self.connect(create_folders=not self.read_only)
        assert self.inbox is not None
        created: list[Message] = []
        try:
            for change, item in self.inbox.sync_items(
                sync_state=self._load_state(),
                only_fields=["id", "changekey", "size", "datetime_received"],
                max_changes_returned=SYNC_PAGE,
            ):
                if change == "create" and isinstance(item, Message):
                    created.append(item)
        except CONNECTION_ERRORS as exc:
            raise self._lost(exc) from exc
        next_state = self.inbox.item_sync_state
        created.sort(key=lambda m: (m.datetime_received is None, m.datetime_received))
        with self._lock:
            self._outstanding.update(m.id for m in created)
            self._next_state = next_state
            self._save_state()
        for item in created:
            try:
                incoming = self._fetch(account, item)
            except CONNECTION_ERRORS as exc:
                raise self._lost(exc) from exc
            if incoming is None:
                with self._lock:
                    self._outstanding.discard(item.id)
                    self._save_state()
                continue
            yield incoming

    def _fetch(self, account: Account, item: Message) -> Incoming | None:
        oversized = (item.size or 0) > self.config.max_message_bytes
        fields = ["headers"] if oversized else ["mime_content"]
        [full] = list(account.fetch(ids=[(item.id, item.changekey)], only_fields=fields))
        if isinstance(full, Exception):  # gone meanwhile (moved or deleted by a person)
            return None
        if oversized:
            raw = "".join(f"{h.name}: {h.value}\r\n" for h in (full.headers or [])).encode("utf-8") + b"\r\n"
        else:
            raw = full.mime_content or b""
        return Incoming(
            source_id=f"ews:{item.id}|{item.changekey}",
            raw=raw,
            delivered=item.datetime_received,
            oversize=item.size if oversized else None,
        )

    def done(self, items: list[tuple[Incoming, str | None]]) -> None:
        """Recorded: mark read, move to the processed or review folder; then the sync state may advance."""
        if self.account is None:
            return
        targets: dict[str, list[tuple[str, str]]] = {}
        for item, disposition in items:
            if not item.source_id.startswith("ews:"):
                continue
            item_id, _, changekey = item.source_id[4:].partition("|")
            target = self.config.review_folder if disposition in REVIEW else self.config.processed_folder
            targets.setdefault(target, []).append((item_id, changekey))
        try:
            for target, ids in targets.items() if not self.read_only else ():
                messages = []
                for item_id, changekey in ids:
                    message = Message(account=self.account, id=item_id, changekey=changekey or None)
                    message.is_read = True
                    messages.append(message)
                updated = list(self.account.bulk_update([(m, ["is_read"]) for m in messages]))
                moved_ids = [u if isinstance(u, tuple) else ids[n] for n, u in enumerate(updated)]
                for result in self.account.bulk_move(ids=moved_ids, to_folder=self.folders[target]):
                    if isinstance(result, Exception):
                        log.warning("could not move a message to %s: %s", target, result)
        except CONNECTION_ERRORS as exc:
            raise self._lost(exc) from exc
        with self._lock:
            for ids in targets.values():
                self._outstanding.difference_update(i for i, _ in ids)
            self._save_state()

    def wait(self, stop: threading.Event, timeout: float) -> None:
        """Exchange is synchronised every poll interval (or sooner: a scheduled job, interrupt())."""
        if not stop.is_set():
            self._wake.wait(min(timeout, self.poll_interval))
        self._wake.clear()

    def _lost(self, exc: BaseException) -> SourceError:
        self.account = None
        with self._lock:
            self._outstanding.clear()
            self._next_state = None  # the same changes come again from the saved state
        return _source_error(exc, self.config.ews_url or "autodiscover")


class EwsTransport:
    """Replies sent through Exchange (CreateItem, SendAndSaveCopy): staff see them in Sent Items.

    Shares the source's account; exchangelib's sessions are thread-safe.
    """

    def __init__(self, source: EwsSource) -> None:
        self.source = source

    def send(self, sender: str, to: list[str], raw: bytes) -> str:
        try:
            account = self.source.connect()
            message = Message(
                account=account,
                folder=account.sent,
                mime_content=raw,
                to_recipients=[Mailbox(email_address=a) for a in to],
            )
            message.send_and_save()
        except SourceError as exc:
            raise SendError(f"Exchange unreachable: {exc}", permanent=False) from exc
        except ResponseMessageError as exc:  # a verdict on this mail (e.g. ErrorInvalidRecipients)
            busy = isinstance(exc, (ErrorServerBusy, ErrorInternalServerTransientError))
            raise SendError(f"Exchange refused: {type(exc).__name__}: {exc}", permanent=not busy) from exc
        except CONNECTION_ERRORS as exc:
            raise SendError(f"Exchange unreachable: {type(exc).__name__}: {exc}", permanent=False) from exc
        return "sent by Exchange, copy in Sent Items"

    def close(self) -> None:
        return None


__all__ = ["EwsSource", "EwsTransport"]
