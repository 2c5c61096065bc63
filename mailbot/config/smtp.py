"""The [smtp] section: where replies are sent, and how mailbot logs in (a password or an OAuth2 token)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mailbot.config.mailbox import SECURITY, MailboxConfig, ca_file_value, plaintext_refused
from mailbot.config.table import Section
from mailbot.tls import is_loopback

SMTP_AUTH = ("password", "xoauth2")


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    security: str
    username: str
    password_env: str
    timeout: float
    retry_first: float = 60.0  # seconds before the first retry of a mail refused for now, doubled up to
    retry_max: float = 3600.0
    ca_file: Path | None = None  # a private CA (PEM) trusted besides the system's
    allow_plaintext_login: bool = False  # a login in clear to a host that is not loopback
    auth: str = "password"  # or "xoauth2": SASL XOAUTH2 with a token from oauth_token_command per connection
    oauth_token_command: tuple[str, ...] = ()  # [smtp]'s own, else [mailbox]'s


def smtp_section(sm: Section, base: Path, mailbox: MailboxConfig) -> SmtpConfig:
    security = sm.choice("security", SECURITY, "starttls")
    port = sm.get("port", int, {"none": 25, "starttls": 587, "tls": 465}[security], "an integer")
    if not 0 < port < 65536:
        raise sm.fail("port", f"{port} is not a TCP port")
    retry_first = float(sm.get("retry_first_seconds", (int, float), 60, "a number of seconds"))
    retry_max = float(sm.get("retry_max_seconds", (int, float), 3600, "a number of seconds"))
    if not 0 < retry_first <= retry_max:
        raise sm.fail("retry_first_seconds", "must be above 0 and at most retry_max_seconds")
    timeout = float(sm.get("timeout", (int, float), 30, "a number of seconds"))
    if timeout <= 0:
        raise sm.fail("timeout", "must be positive")
    username = sm.text("username", "")
    password_env = sm.text("password_env", "")
    auth = sm.choice("auth", SMTP_AUTH, "password")
    command = sm.strings("oauth_token_command", ())
    if auth == "xoauth2":
        if not username:
            raise sm.fail("username", 'is required with auth = "xoauth2" (the mailbox the token is for)')
        if password_env:
            raise sm.fail("password_env", 'is not used with auth = "xoauth2": remove it')
        command = command or mailbox.oauth_token_command
        if not command:
            raise sm.fail(
                "oauth_token_command",
                'is required with auth = "xoauth2" (a command printing an access token; '
                "[mailbox] oauth_token_command is used when [smtp] has none)",
            )
    elif command:
        raise sm.fail("oauth_token_command", 'is only used with auth = "xoauth2"')
    smtp = SmtpConfig(
        host=sm.text("host", "localhost"),
        port=port,
        security=security,
        username=username,
        password_env=password_env,
        timeout=timeout,
        retry_first=retry_first,
        retry_max=retry_max,
        ca_file=ca_file_value(sm, base),
        allow_plaintext_login=sm.get("allow_plaintext_login", bool, False),
        auth=auth,
        oauth_token_command=command,
    )
    if security == "none" and smtp.username and not smtp.allow_plaintext_login and not is_loopback(smtp.host):
        raise plaintext_refused(sm, 'security = "none"', smtp.host)
    sm.done()
    return smtp
