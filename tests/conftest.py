"""Shared fixtures: the example configuration and a small message builder."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from mailbot import config as configmod
from mailbot.analysis.classify import classify_bytes
from mailbot.envelope import Envelope
from tests.tools import require

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "config.example.toml"
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "eml"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "needs(*tools): the Debian programs the test uses (tests/tools.py)")


def pytest_runtest_setup(item: pytest.Item) -> None:
    """A test marked needs(...) is skipped with the reason when a program is missing (failed under CI=true)."""
    for mark in item.iter_markers("needs"):
        require(*mark.args)


@pytest.fixture(scope="session")
def config() -> configmod.Config:
    return configmod.load(EXAMPLE)


AUTHENTICATED = "authenticated"  # build()'s default: our server's DMARC pass for the sender's own domain


def build(
    sender: str = "kt@vnpt.vn",
    subject: str | None = "Gửi tài liệu",
    body: str = "Kính gửi Sở.",
    files: tuple[tuple[str, bytes], ...] = (),
    headers: dict[str, str] | None = None,
    auth: str | None = AUTHENTICATED,
) -> bytes:
    """A message as a carrier's mail client would write it, authenticated by our server unless `auth` says otherwise."""
    msg = EmailMessage(policy=SMTP)
    if auth == AUTHENTICATED:
        domain = sender.rsplit("@", 1)[-1].rstrip(">").lower()
        auth = f"mail.dongthap.gov.vn; dmarc=pass header.from={domain}"
    if auth:
        msg["Authentication-Results"] = auth
    msg["From"] = sender
    msg["To"] = "pbcvt@dongthap.gov.vn"
    if subject is not None:
        msg["Subject"] = subject
    headers = dict(headers or {})
    msg["Date"] = headers.pop("Date", "Mon, 29 Mar 2021 09:15:00 +0700")
    msg["Message-ID"] = headers.pop("Message-ID", f"<{abs(hash((sender, subject, body, files)))}@test>")
    for name, value in headers.items():
        msg[name] = value
    msg.set_content(body)
    for name, data in files:
        msg.add_attachment(data, maintype="application", subtype="octet-stream", filename=name)
    return msg.as_bytes()


def classify(raw: bytes, cfg: configmod.Config) -> Envelope:
    return classify_bytes(raw, cfg)


# -- a real SMTP server on loopback (aiosmtpd) and configurations that point at it ----------


class Recorder:
    """An aiosmtpd handler that keeps every mail and can be told to refuse."""

    def __init__(self) -> None:
        self.messages: list[bytes] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.answer: str | None = None  # e.g. "451 4.3.0 try again later"
        self.arrivals: list[float] = []  # time.monotonic() of each accepted mail
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: ANN001
        with self.lock:
            if self.answer:
                return self.answer
            self.messages.append(envelope.original_content or envelope.content)
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
            self.arrivals.append(time.monotonic())
        return "250 2.0.0 OK"

    def parsed(self) -> list:
        from email import message_from_bytes
        from email.policy import default

        with self.lock:
            return [message_from_bytes(m, policy=default) for m in self.messages]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def smtp_sink() -> Iterator[tuple[Recorder, int]]:
    """aiosmtpd on a free loopback port, keeping every mail it accepts."""
    recorder = Recorder()
    controller = Controller(recorder, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield recorder, controller.port
    finally:
        controller.stop()


@pytest.fixture
def smtp_server():
    with smtp_sink() as sink:
        yield sink


@pytest.fixture(scope="module")
def smtp_server_module():
    """The same, shared by the tests of one module (for a costly setup done once)."""
    with smtp_sink() as sink:
        yield sink


def write_config(tmp_path: Path, smtp_port: int = 25, extra: dict[str, str] | None = None) -> Path:
    """The example deployment pointed at tmp_path and an SMTP server on loopback."""
    text = EXAMPLE.read_text(encoding="utf-8")
    changes = {
        r"(?m)^state_dir = .*$": 'state_dir = "state"',
        r"(?m)^poll_interval = .*$": "poll_interval = 0.2",
        r'(?m)^to = \["ddthong@dongthap.gov.vn"\].*$': "to = []",  # no daily digest unless a test wants one
        **(extra or {}),
        r'(?m)^path = "state/maildir"$': 'path = "maildir"',
        r"(?ms)^(\[smtp\]\n)host = .*?$": '\\1host = "127.0.0.1"',
        r"(?ms)^(\[smtp\]\n.*?)^port = .*?$": f"\\1port = {smtp_port}",
        r"(?ms)^(\[smtp\]\n.*?)^security = .*?$": '\\1security = "none"',
        r"(?ms)^(\[smtp\]\n.*?)^username = .*?$": '\\1username = ""',
    }
    for pattern, new in changes.items():
        text, count = re.subn(pattern, new, text, count=1)
        assert count == 1 or pattern.endswith('"state/maildir"$'), pattern
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    for sub in ("tmp", "new", "cur"):
        (tmp_path / "maildir" / sub).mkdir(parents=True, exist_ok=True)
    return path


def deliver(tmp_path: Path, raw: bytes, name: str) -> Path:
    path = tmp_path / "maildir" / "new" / name
    path.write_bytes(raw)
    return path


@pytest.fixture(scope="session")
def dovecot_server():
    """One private Dovecot for the session (it takes about 1 s to stop)."""
    import tempfile

    from tests import dovecot as dc

    require("dovecot")
    server = dc.Dovecot(Path(tempfile.mkdtemp(prefix="mailbot-dovecot-")))
    server.start()
    try:
        yield server
    finally:
        server.stop()
        import shutil

        shutil.rmtree(server.root, ignore_errors=True)


@pytest.fixture
def dovecot(dovecot_server):
    """The session's Dovecot, running, with an empty mailbox."""
    if dovecot_server.proc is None or dovecot_server.proc.poll() is not None:
        dovecot_server.start()
    dovecot_server.reset()
    return dovecot_server


def imap_config(tmp_path: Path, smtp_port: int, imap_port: int, extra: dict[str, str] | None = None) -> Path:
    """The example deployment reading the private Dovecot's INBOX."""
    from tests import dovecot as dc

    mailbox = (
        f'[mailbox]\nbackend = "imap"\nhost = "127.0.0.1"\nport = {imap_port}\nsecurity = "none"\n'
        f'username = "{dc.USER}"\npassword_env = "MAILBOT_TEST_IMAP_PASSWORD"\ntimeout = 10\n'
    )
    changes = {r"(?ms)^\[mailbox\]\n.*?(?=^\[smtp\])": mailbox + "\n", **(extra or {})}
    return write_config(tmp_path, smtp_port, changes)


def daemon(config_path: Path, level: str | None = "INFO", env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """`mailbot run` (the service) in a child process, its output captured as text; `level`: its
    --log-level (None: the default, WARNING). Stop it with SIGTERM."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mailbot",
            "run",
            "--config",
            str(config_path),
            *(["--log-level", level] if level else []),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def mailbot(
    *args: str, env: dict[str, str] | None = None, cwd: Path | str | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """`python -m mailbot ARGS` in a child process, its output captured as text."""
    return subprocess.run(
        [sys.executable, "-m", "mailbot", *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout
    )


def wait_for(check: Callable[[], bool], timeout: float = 20.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")
