"""Shared fixtures: the example configuration and a small message builder."""

from __future__ import annotations

from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

import pytest

from mailbot import config as configmod
from mailbot.classify import classify_bytes
from mailbot.envelope import Envelope

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "config.example.toml"
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "eml"


@pytest.fixture(scope="session")
def config() -> configmod.Config:
    return configmod.load(EXAMPLE)


def build(sender: str = "kt@vnpt.vn", subject: str | None = "Gửi tài liệu", body: str = "Kính gửi Sở.",
          files: tuple[tuple[str, bytes], ...] = (), headers: dict[str, str] | None = None,
          auth: str | None = "mail.dongthap.gov.vn; dmarc=pass header.from=vnpt.vn") -> bytes:
    """A message as a carrier's mail client would write it."""
    msg = EmailMessage(policy=SMTP)
    if auth:
        msg["Authentication-Results"] = auth
    msg["From"] = sender
    msg["To"] = "pbcvt@dongthap.gov.vn"
    if subject is not None:
        msg["Subject"] = subject
    msg["Date"] = "Mon, 29 Mar 2021 09:15:00 +0700"
    msg["Message-ID"] = f"<{abs(hash((sender, subject, body, files)))}@test>"
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(body)
    for name, data in files:
        msg.add_attachment(data, maintype="application", subtype="octet-stream", filename=name)
    return msg.as_bytes()


def classify(raw: bytes, cfg: configmod.Config) -> Envelope:
    return classify_bytes(raw, cfg)
