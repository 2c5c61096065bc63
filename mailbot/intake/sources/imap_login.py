"""Connecting to the IMAP server: TLS verified before anything is sent, password or OAuth2 login,
and the key that signs the lease, for the source (imap.py), its lease and its Sent copy."""

from __future__ import annotations

from collections.abc import Callable

from imap_tools import BaseMailBox, MailBox, MailBoxStartTls, MailBoxUnencrypted

from mailbot import oauth, tls
from mailbot.config import MailboxConfig
from mailbot.errors import SourceError, TokenError
from mailbot.intake.sources.imap_lease import lease_key


class Login:
    """Mixed into ImapSource: `config` and `secret` are its."""

    config: MailboxConfig
    secret: Callable[[str], str | None]

    def _mailbox(self) -> BaseMailBox:
        """Connected, and for TLS verified (certificate and host name) before anything is sent:
        imaplib's own default context verifies nothing."""
        cfg = self.config
        if cfg.security == "tls":
            return MailBox(cfg.host, cfg.port, timeout=cfg.timeout, ssl_context=tls.client_context(cfg.ca_file))
        if cfg.security == "starttls":
            return MailBoxStartTls(cfg.host, cfg.port, timeout=cfg.timeout, ssl_context=tls.client_context(cfg.ca_file))
        return MailBoxUnencrypted(cfg.host, cfg.port, timeout=cfg.timeout)

    def certificate_problem(self, exc: BaseException) -> str | None:
        """What is wrong with the server's certificate, and whose it is; None if `exc` is not that."""
        explained = tls.explain(exc)
        if explained is None:
            return None
        cfg = self.config
        cert = tls.peer_certificate(cfg.host, cfg.port, "imap" if cfg.security == "starttls" else None, cfg.timeout)
        return f"{explained[0]}; chứng thư: {cert}"

    def login(self) -> BaseMailBox:
        """A new logged-in connection, capabilities read again (no folder selected)."""
        cfg = self.config
        token = ""
        if cfg.auth == "xoauth2":  # fetched before connecting: a helper that fails leaves no connection waiting
            try:
                token = oauth.fetch_token(cfg.oauth_token_command, cfg.timeout)
            except TokenError as exc:
                raise SourceError(str(exc)) from None
        box = self._mailbox()
        try:
            if cfg.auth == "xoauth2":
                box.xoauth2(cfg.username, token, initial_folder=None)
            else:
                password = self.secret(cfg.password_env) if cfg.password_env else None
                if password is None:
                    raise SourceError(f"no IMAP password: set {cfg.password_env or '[mailbox] password_env'}")
                if (cfg.username + password).isascii():
                    box.login(cfg.username, password, initial_folder=None)
                else:  # LOGIN is ASCII only: SASL PLAIN carries UTF-8 (RFC 4616)
                    box.login_utf8(cfg.username, password, initial_folder=None)
            # Servers (Dovecot among them) announce MOVE and UIDPLUS only after login.
            typ, data = box.client.capability()
            if typ == "OK" and data and data[-1]:
                box.client.capabilities = tuple(data[-1].decode("ascii", "replace").upper().split())
        except BaseException:
            try:
                box.client.shutdown()
            except Exception:  # the socket may already be gone
                pass
            raise
        return box

    def _lease_key(self) -> bytes:
        """The key that signs our lease entries: from [mailbox] lease_secret_env, else the password."""
        cfg = self.config
        name = cfg.lease_secret_env or (cfg.password_env if cfg.auth == "password" else "")
        secret = self.secret(name) if name else None
        if not secret:
            raise SourceError(
                f"no secret to sign the lease with: set {cfg.lease_secret_env or '[mailbox] lease_secret_env'}"
            )
        return lease_key(secret, cfg.username)
