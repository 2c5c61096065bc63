"""The [mailbox] section: where mail is read (Maildir, IMAP, Exchange) and how."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mailbot.config.table import Section, date_value, resolve
from mailbot.tls import check_ca_file, is_loopback

SECURITY = ("none", "starttls", "tls")
BACKENDS = ("maildir", "imap", "ews")
EWS_VERSIONS = ("Exchange2013", "Exchange2016", "Exchange2019", "Office365")
EWS_AUTH = ("ntlm", "basic", "oauth2")


@dataclass(frozen=True)
class MailboxConfig:
    backend: str
    path: Path | None = None  # maildir
    host: str = ""  # imap
    port: int = 993
    security: str = "tls"
    username: str = ""
    password_env: str = ""
    auth: str = "password"  # or "xoauth2": a token from oauth_token_command at every connection
    oauth_token_command: tuple[str, ...] = ()
    folder: str = "INBOX"
    processed_folder: str = "Đã xử lý"
    review_folder: str = "Cần xem xét"
    max_message_bytes: int = 30 * 1024 * 1024  # larger messages are not downloaded
    start_date: dt.date | None = None  # older messages are recorded, never answered
    idle_seconds: float = 25 * 60  # IDLE re-issued at least this often
    timeout: float = 30.0
    # ews: an explicit endpoint and version (autodiscover is slow and fragile)
    ews_url: str = ""
    ews_version: str = "Exchange2016"
    ews_auth: str = "ntlm"  # "ntlm" | "basic" (on-premises) | "oauth2" (Microsoft 365, client credentials)
    mailbox_address: str = ""  # the mailbox read (impersonated with oauth2); default: username
    client_id: str = ""
    tenant_id: str = ""
    client_secret_env: str = ""
    autodiscover: bool = False
    send_via_ews: bool = False  # replies through Exchange (saved in Sent Items) instead of [smtp]
    sent_folder: str = ""  # imap: a copy of every reply APPENDed here ("" = none)
    ca_file: Path | None = None  # a private CA (PEM) trusted besides the system's, for IMAP and EWS
    allow_plaintext_login: bool = False  # a password in clear to a host that is not loopback
    lease_seconds: float = 300.0  # imap: another instance takes over after this long without our heartbeat
    lease_secret_env: str = ""  # imap: the secret that signs lease entries ("" = derived from the password)


def mailbox_section(mb: Section, base: Path) -> MailboxConfig:
    backend = mb.choice("backend", BACKENDS, "maildir")
    mb_path = mb.text("path", "")
    if backend == "maildir" and not mb_path:
        raise mb.fail("path", "is required for the maildir backend")
    security = mb.choice("security", SECURITY, "tls")
    port = mb.get("port", int, {"none": 143, "starttls": 143, "tls": 993}[security], "an integer")
    if not 0 < port < 65536:
        raise mb.fail("port", f"{port} is not a TCP port")
    host = mb.text("host", "")
    username = mb.text("username", "")
    if backend == "imap" and not (host and username):
        raise mb.fail("host" if not host else "username", "is required for the imap backend")
    ews: dict[str, Any] = {
        "ews_url": mb.text("ews_url", ""),
        "ews_version": mb.choice("ews_version", EWS_VERSIONS, "Exchange2016"),
        "ews_auth": mb.choice("ews_auth", EWS_AUTH, "ntlm"),
        "mailbox_address": mb.text("mailbox_address", "").lower(),
        "client_id": mb.text("client_id", ""),
        "tenant_id": mb.text("tenant_id", ""),
        "client_secret_env": mb.text("client_secret_env", ""),
        "autodiscover": mb.get("autodiscover", bool, False),
        "send_via_ews": mb.get("send_via_ews", bool, False),
    }
    if ews["send_via_ews"] and backend != "ews":
        raise mb.fail("send_via_ews", 'needs backend = "ews"')
    if backend == "ews":
        if not ews["ews_url"].startswith(("https://", "http://")) and not ews["autodiscover"]:
            raise mb.fail(
                "ews_url", "is required for the ews backend (https://…/EWS/Exchange.asmx), or autodiscover = true"
            )
        if not (username or ews["mailbox_address"]):
            raise mb.fail("username", "is required for the ews backend")
        if ews["ews_auth"] == "oauth2":
            for key in ("client_id", "tenant_id", "client_secret_env"):
                if not ews[key]:
                    raise mb.fail(key, 'is required with ews_auth = "oauth2"')
    auth = mb.choice("auth", ("password", "xoauth2"), "password")
    command = mb.strings("oauth_token_command", ())
    if auth == "xoauth2" and not command:
        raise mb.fail("oauth_token_command", 'is required with auth = "xoauth2" (a command printing a token)')
    folders: dict[str, Any] = {
        name: mb.text(name, default)
        for name, default in (("folder", "INBOX"), ("processed_folder", "Đã xử lý"), ("review_folder", "Cần xem xét"))
    }
    folders["sent_folder"] = mb.text("sent_folder", "")
    for name, value in folders.items():
        if name == "sent_folder" and not value:
            continue
        if not value.strip() or any(c in value for c in '\r\n"*%'):
            raise mb.fail(name, f"{value!r} is not a usable folder name")
    max_mb = mb.get("max_message_mb", int, 30, "an integer")
    if max_mb < 1:
        raise mb.fail("max_message_mb", "must be at least 1")
    idle = mb.get("idle_minutes", (int, float), 25, "a number of minutes")
    if not 1 <= idle <= 29:
        raise mb.fail("idle_minutes", "must be between 1 and 29 (RFC 2177)")
    timeout = mb.get("timeout", (int, float), 30, "a number of seconds")
    if timeout <= 0:
        raise mb.fail("timeout", "must be positive")
    start = date_value(mb, "start_date")
    lease = mb.get("lease_seconds", (int, float), 300, "a number of seconds")
    if not 5 <= lease <= 3600:
        raise mb.fail("lease_seconds", "must be between 5 and 3600")
    lease_secret_env = mb.text("lease_secret_env", "")
    password_env = mb.text("password_env", "")
    ca_file = ca_file_value(mb, base)
    plaintext = mb.get("allow_plaintext_login", bool, False)
    if not plaintext:
        if backend == "imap" and security == "none" and not is_loopback(host):
            raise plaintext_refused(mb, 'security = "none"', host)
        if backend == "ews" and ews["ews_url"].startswith("http://"):
            ews_host = ews["ews_url"].split("/")[2].rsplit(":", 1)[0]
            if not is_loopback(ews_host):
                raise plaintext_refused(mb, 'ews_url = "http://…"', ews_host, key="ews_url")
    mb.done()
    return MailboxConfig(
        backend=backend,
        path=resolve(base, mb_path) if mb_path else None,
        host=host,
        port=port,
        security=security,
        username=username,
        password_env=password_env,
        auth=auth,
        oauth_token_command=command,
        max_message_bytes=max_mb * 1024 * 1024,
        start_date=start,
        idle_seconds=float(idle) * 60,
        timeout=float(timeout),
        ca_file=ca_file,
        allow_plaintext_login=plaintext,
        lease_seconds=float(lease),
        lease_secret_env=lease_secret_env,
        **folders,
        **ews,
    )


def ca_file_value(sec: Section, base: Path) -> Path | None:
    """`ca_file`: a PEM (or DER) file relative to the config file, loaded now so a bad one fails here."""
    text = sec.text("ca_file", "")
    if not text:
        return None
    path = resolve(base, text)
    problem = check_ca_file(path)
    if problem:
        raise sec.fail("ca_file", problem)
    return path


def plaintext_refused(sec: Section, what: str, host: str, key: str = "security") -> Exception:
    return sec.fail(
        key,
        f'{what} would send the password in clear to {host}: use TLS ("tls" or "starttls", '
        f"or https://), or set allow_plaintext_login = true if the network to it is trusted",
    )
