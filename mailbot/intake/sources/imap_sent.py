"""A copy of every reply in the IMAP Sent folder, for staff to see in their mail client."""

from __future__ import annotations

import imaplib
import logging
from typing import Any

from imap_tools import BaseMailBox
from imap_tools.utils import encode_folder

from mailbot.errors import SourceError
from mailbot.intake.sources.imap import CONNECTION_ERRORS, ImapSource, logout

log = logging.getLogger(__name__)


class SentCopy:
    """Sends with another transport, then APPENDs a copy to the IMAP Sent folder (read), so that
    staff see in their mail client what mailbot answered. Its own connection: the source's is
    used by the recording thread. A failed copy is logged, never a failed send."""

    def __init__(self, inner: Any, source: ImapSource, folder: str) -> None:
        self.inner = inner
        self.source = source
        self.folder = folder
        self.box: BaseMailBox | None = None

    def send(self, sender: str, to: list[str], raw: bytes) -> str:
        answer = self.inner.send(sender, to, raw)
        try:
            if self.box is None:
                self.box = self.source.login()
                if not self.box.folder.exists(self.folder):
                    self.box.folder.create(self.folder)
            typ, data = self.box.client.append(encode_folder(self.folder).decode("ascii"), r"(\Seen)", None, raw)
            if typ != "OK":
                raise imaplib.IMAP4.error(f"APPEND: {typ} {data!r}")
        except (*CONNECTION_ERRORS, SourceError) as exc:
            log.warning("sent, but no copy in %s: %s", self.folder, exc)
            self._close_box()
        return answer

    def _close_box(self) -> None:
        box, self.box = self.box, None
        logout(box)

    def close(self) -> None:
        self.inner.close()
        self._close_box()
