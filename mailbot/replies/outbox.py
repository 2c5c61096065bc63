"""Sending what the outbox holds: SMTP (none, STARTTLS, TLS) or a folder for dry runs.

A mail is stored before it is sent and marked sent once the server accepted
it. Temporary failures (4xx, refused connection, timeout) are retried with
backoff; permanent ones (5xx) are marked failed with the server's answer.
A kill between acceptance and marking means one resend of the same stored
bytes, with the same Message-ID, so the recipient can recognise it. A connection
lost after the final dot of DATA (RFC 1047: the server may have taken it) gets one
more try; lost so twice, the mail is "uncertain", never sent a third time, and the
digest says so.
"""

from __future__ import annotations

import base64
import datetime as dt
import logging
import smtplib
import ssl
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from mailbot import oauth, tls
from mailbot.clockskew import SLACK, ahead
from mailbot.config import SmtpConfig, read_secret
from mailbot.durable import atomic_write
from mailbot.errors import BlobDamaged, SendError, StoreError, TokenError
from mailbot.register.store import Store, parse_iso, utc_iso

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 30  # about two days of retries with the backoff below
BACKOFF_FIRST = 60.0
BACKOFF_MAX = 3600.0


class Transport(Protocol):
    def send(self, sender: str, to: list[str], raw: bytes) -> str:
        """Hand one mail over; return the server's answer. Raise SendError."""
        ...

    def close(self) -> None: ...


def _login(conn: smtplib.SMTP, username: str, password: str) -> None:
    """smtplib encodes credentials as ASCII (a Vietnamese password raises UnicodeEncodeError):
    such a login goes as SASL PLAIN, which carries UTF-8 (RFC 4616)."""
    if (username + password).isascii():
        conn.login(username, password)
        return
    if "plain" not in conn.esmtp_features.get("auth", "").lower().split():
        raise smtplib.SMTPException("the server offers no AUTH PLAIN, needed for a non-ASCII password")
    token = base64.b64encode(b"\0" + username.encode("utf-8") + b"\0" + password.encode("utf-8")).decode("ascii")
    code, answer = conn.docmd("AUTH", "PLAIN " + token)
    if code != 235:
        raise smtplib.SMTPAuthenticationError(code, answer)


def _xoauth2(conn: smtplib.SMTP, username: str, token: str) -> None:
    """SASL XOAUTH2 as Microsoft documents it for SMTP: `AUTH XOAUTH2`, the server's empty 334, then the
    base64 string on its own line (an access token of 1-4 KB would break the 512-octet limit of a
    command line, so RFC 4954 forbids sending it as an initial response). A server that answers a bad
    token with a 334 challenge (an error JSON, as Google does) gets the empty line the mechanism asks
    for, then says 535; the error's status is kept in the message."""
    if "xoauth2" not in conn.esmtp_features.get("auth", "").lower().split():
        offered = conn.esmtp_features.get("auth", "").strip() or "no AUTH at all"
        raise SendError(
            f'the SMTP server offers no AUTH XOAUTH2 (it offers: {offered}), needed for auth = "xoauth2"',
            permanent=False,
            connection=True,
        )
    code, answer = conn.docmd("AUTH", "XOAUTH2")
    if code != 334:
        raise smtplib.SMTPAuthenticationError(code, answer)
    code, answer = conn.docmd(oauth.xoauth2(username, token))
    if code == 334:
        detail = _challenge(answer)
        code, answer = conn.docmd("")
        raise smtplib.SMTPAuthenticationError(code, f"{_text(answer)} ({detail})".encode())
    if code != 235:
        raise smtplib.SMTPAuthenticationError(code, answer)


def _challenge(answer: bytes) -> str:
    """The error a 334 XOAUTH2 challenge carries (base64 JSON: status, schemes, scope), shortened."""
    try:
        text = base64.b64decode(answer, validate=True).decode("utf-8", "replace")
    except ValueError:
        text = _text(answer)
    return "".join(c if c.isprintable() else " " for c in text)[:300]


class _MarksFinalDot:
    """Remembers that the whole message, final dot included, went out in DATA: a connection lost
    after that may have delivered it (RFC 1047's duplicate window)."""

    final_dot_sent = False

    def send(self, s: Any) -> None:
        super().send(s)  # type: ignore[misc]
        if isinstance(s, bytes) and s.endswith(b"\r\n.\r\n"):  # only DATA's content ends so
            self.final_dot_sent = True


class _SMTP(_MarksFinalDot, smtplib.SMTP):
    pass


class _SMTP_SSL(_MarksFinalDot, smtplib.SMTP_SSL):
    pass


class SmtpTransport:
    """One connection reused for a flush pass."""

    def __init__(self, cfg: SmtpConfig) -> None:
        self.cfg = cfg
        self.conn: smtplib.SMTP | None = None

    @property
    def context(self) -> ssl.SSLContext:
        return tls.client_context(self.cfg.ca_file)

    def connect(self) -> smtplib.SMTP:
        """A connection through EHLO, STARTTLS and login as configured; SendError if any step fails
        (and then the socket is closed at once, not left to the garbage collector)."""
        opened: list[smtplib.SMTP] = []
        try:
            return self._connect(opened)
        except BaseException:
            for conn in opened:
                conn.close()
            raise

    def _connect(self, opened: list[smtplib.SMTP]) -> smtplib.SMTP:
        cfg = self.cfg
        try:
            # a fresh token for every connection (they expire after about an hour), before
            # anything is opened: a helper that fails leaves no connection waiting on it
            token = oauth.fetch_token(cfg.oauth_token_command, cfg.timeout) if cfg.auth == "xoauth2" else ""
            if cfg.security == "tls":
                conn: smtplib.SMTP = _SMTP_SSL(cfg.host, cfg.port, timeout=cfg.timeout, context=self.context)
            else:
                conn = _SMTP(cfg.host, cfg.port, timeout=cfg.timeout)
            opened.append(conn)
            conn.ehlo()
            if cfg.security == "starttls":
                conn.starttls(context=self.context)
                conn.ehlo()
            if cfg.auth == "xoauth2":
                _xoauth2(conn, cfg.username, token)
            elif cfg.username:
                password = read_secret(cfg.password_env)
                if password is None:
                    raise SendError(
                        f"no SMTP password: set {cfg.password_env or 'smtp.password_env'}",
                        permanent=False,
                        connection=True,
                    )
                _login(conn, cfg.username, password)
        except TokenError as exc:
            raise SendError(f"no token for the SMTP login: {exc}", permanent=False, connection=True) from None
        except smtplib.SMTPAuthenticationError as exc:
            how = " (XOAUTH2: the token from oauth_token_command was refused)" if cfg.auth == "xoauth2" else ""
            raise SendError(
                f"SMTP login refused{how}: {exc.smtp_code} {_text(exc.smtp_error)}",
                False,
                exc.smtp_code,
                connection=True,
            ) from exc
        except smtplib.SMTPResponseException as exc:
            raise SendError(
                f"SMTP server said {exc.smtp_code} {_text(exc.smtp_error)}", False, exc.smtp_code, connection=True
            ) from exc
        except (OSError, smtplib.SMTPException, ssl.SSLError) as exc:
            raise SendError(
                f"cannot reach SMTP server {cfg.host}:{cfg.port}: {exc}", permanent=False, connection=True
            ) from exc
        return conn

    def send(self, sender: str, to: list[str], raw: bytes) -> str:
        if self.conn is None:
            self.conn = self.connect()
        self.conn.final_dot_sent = False  # type: ignore[attr-defined]
        try:
            refused = self.conn.sendmail(sender, to, raw)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            answer = "; ".join(f"{r}: {c} {_text(m)}" for r, (c, m) in exc.recipients.items())
            raise SendError(answer, permanent=all(c >= 500 for c in codes), code=max(codes)) from exc
        except smtplib.SMTPResponseException as exc:
            self.close()
            raise SendError(f"{exc.smtp_code} {_text(exc.smtp_error)}", exc.smtp_code >= 500, exc.smtp_code) from exc
        except (OSError, smtplib.SMTPException) as exc:
            uncertain = bool(getattr(self.conn, "final_dot_sent", False))
            self.close()
            if uncertain:
                raise SendError(
                    f"connection lost after the whole message was sent: {exc}", permanent=False, uncertain=True
                ) from exc
            raise SendError(f"connection lost: {exc}", permanent=False) from exc
        if refused:
            return "accepted for some recipients: " + "; ".join(f"{r}: {c}" for r, (c, _) in refused.items())
        return "250 accepted"

    def close(self) -> None:
        if self.conn is not None:
            try:
                self.conn.quit()
            except (OSError, smtplib.SMTPException):
                pass
            self.conn = None


class DirectoryTransport:
    """Dry run: each mail becomes an .eml file in a folder; nothing is sent."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def send(self, sender: str, to: list[str], raw: bytes) -> str:
        self.folder.mkdir(parents=True, exist_ok=True)
        name = raw.split(b"Message-ID: <", 1)[-1].split(b">", 1)[0].decode("ascii", "replace")
        path = self.folder / f"{''.join(c if c.isalnum() or c in '.-' else '_' for c in name)[:120]}.eml"
        atomic_write(path, raw)
        return f"written to {path}"

    def close(self) -> None:
        return None


def _text(answer: bytes | str) -> str:
    return answer.decode("utf-8", "replace") if isinstance(answer, bytes) else str(answer)


_FAILURE_LOG = {
    "uncertain": (logging.ERROR, "mail %s to %s may or may not have arrived; not sent again: %s"),
    "one-more-try": (logging.WARNING, "mail %s to %s: connection lost after the message was sent; one more try: %s"),
    "failed": (logging.ERROR, "mail %s to %s failed for good: %s"),
    "deferred": (logging.WARNING, "mail %s to %s deferred: %s"),
}


def _after_failure(
    mail: dict[str, Any], exc: SendError, attempts: int, now: dt.datetime, retry: tuple[float, float]
) -> tuple[str, dict[str, Any]]:
    """What a failed attempt makes of a mail: its outcome, and the fields to record."""
    fields: dict[str, Any] = {"attempts": attempts, "last_error": str(exc)}
    later = {"next_attempt": utc_iso(now + backoff(attempts, *retry))}
    if exc.uncertain and mail.get("uncertain_at"):  # lost after the final dot twice: never a third copy
        return "uncertain", {**fields, "status": "uncertain", "failed_at": utc_iso(now)}
    if exc.uncertain:  # probably delivered: one more try, no more
        return "one-more-try", {**fields, "uncertain_at": utc_iso(now), **later}
    if exc.permanent or attempts >= MAX_ATTEMPTS:
        return "failed", {**fields, "status": "failed", "failed_at": utc_iso(now)}
    return "deferred", {**fields, **later}


@dataclass
class FlushResult:
    sent: int = 0
    deferred: int = 0
    failed: int = 0
    uncertain: int = 0  # lost after the final dot twice: state "uncertain", never sent again
    errors: list[str] = field(default_factory=list)


def backoff(attempts: int, first: float = BACKOFF_FIRST, most: float = BACKOFF_MAX) -> dt.timedelta:
    return dt.timedelta(seconds=min(first * 2 ** max(attempts - 1, 0), most))


def waits(mail: dict[str, Any], now: dt.datetime, most: float = BACKOFF_MAX) -> bool:
    """The mail's retry time has not come; a retry time further off than the longest backoff
    was set by a clock that ran ahead (since corrected): it has come."""
    if not mail.get("next_attempt"):
        return False
    when = parse_iso(mail["next_attempt"])
    return now < when and not ahead(when, now, dt.timedelta(seconds=most) + SLACK)


def flush(
    store: Store,
    transport: Transport,
    sender: str,
    now: dt.datetime,
    dry_run: bool,
    ignore_backoff: bool = False,
    lock: AbstractContextManager[object] | None = None,
    beat: Callable[[], None] | None = None,
    retry: tuple[float, float] = (BACKOFF_FIRST, BACKOFF_MAX),
    stop: threading.Event | None = None,
) -> FlushResult:
    """Try every pending mail whose message is recorded and whose retry time has come.

    `lock` guards the store when another thread records messages meanwhile; it is
    never held while talking to the server. `stop` (SIGTERM) ends the run at the next mail
    boundary: the rest stay pending and go after the restart, each once.
    """
    guard = lock if lock is not None else nullcontext()
    result = FlushResult()
    with guard:
        # a mail whose message is not committed yet (a crash in between) waits for the redo
        mails = [m for m in store.pending_mail() if not m.get("message_key") or store.has_message(m["message_key"])]
    try:
        for index, mail in enumerate(mails):
            if stop is not None and stop.is_set():
                break
            if beat is not None:
                beat()
            if not ignore_backoff and waits(mail, now, retry[1]):
                result.deferred += 1
                continue
            attempts = mail.get("attempts", 0) + 1
            try:
                raw = store.read_blob(mail["raw_sha256"], "raw")
            except BlobDamaged as exc:  # never an empty or different mail: held, said loudly
                with guard:
                    store.update_mail(
                        mail["key"],
                        {
                            "status": "failed",
                            "attempts": attempts,
                            "failed_at": utc_iso(now),
                            "last_error": f"không gửi: thư đã soạn bị hỏng hoặc mất ({exc}); cần soạn và gửi lại",
                        },
                    )
                    store.commit_outbox()
                result.failed += 1
                result.errors.append(str(exc))
                log.error("mail %s NOT SENT: its stored copy is damaged: %s", mail["key"], exc)
                continue
            try:
                answer = transport.send(sender, mail["to"], raw)
            except SendError as exc:
                outcome, fields = _after_failure(mail, exc, attempts, now, retry)
                with guard:
                    store.update_mail(mail["key"], fields)
                    store.commit_outbox()
                level, text = _FAILURE_LOG[outcome]
                log.log(level, text, mail["key"], ", ".join(mail["to"]), exc)
                if outcome == "uncertain":
                    result.uncertain += 1
                elif outcome == "failed":
                    result.failed += 1
                else:
                    result.deferred += 1
                result.errors.append(str(exc))
                if (exc.code is None or exc.connection) and not exc.permanent:
                    # the server is unreachable or refuses the login: the same for every mail, so the
                    # rest wait for the next pass (no login attempt per pending mail), counted as waiting
                    result.deferred += len(mails) - index - 1
                    break
                continue
            with guard:
                store.update_mail(
                    mail["key"],
                    {
                        "status": "dry-run" if dry_run else "sent",
                        "attempts": attempts,
                        "sent_at": utc_iso(now),
                        "server_answer": answer,
                    },
                )
                # Marked at once and fsynced, so a kill or a power cut resends at most this one mail
                # (with the same Message-ID).
                store.commit_outbox()
            result.sent += 1
            log.info("mail %s to %s: %s", mail["key"], ", ".join(mail["to"]), answer)
    finally:
        transport.close()
    return result


class Sender:
    """A thread that runs `job` (the outbox flush) each time it is woken, one run at a time."""

    def __init__(self, job: Callable[[], FlushResult]) -> None:
        self._job = job
        self.sent = 0
        self.failed = 0
        self._wake = threading.Event()
        self._stopping = False
        self._thread = threading.Thread(target=self._loop, name="mailbot-send", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, beat: Callable[[], None] | None = None) -> None:
        """Let a run in progress finish; the caller flushes what is left. `beat` is called every
        second meanwhile (the watchdog, the IMAP lease's heartbeat: a slow relay can take minutes)."""
        self._stopping = True
        self._wake.set()
        while self._thread.is_alive():
            self._thread.join(1.0)
            if beat is not None and self._thread.is_alive():
                beat()

    def _loop(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            if self._stopping:
                return
            try:
                done = self._job()
                self.sent += done.sent
                self.failed += done.failed
            except StoreError:
                pass  # the job reported it (once per incident); the caller's own flush tries again
            except Exception:  # logged; the caller's own flush tries again
                log.exception("sending alongside the pass failed")
