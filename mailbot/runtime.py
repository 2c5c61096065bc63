"""What every command that opens the state shares: the state lock, the mailbox source and the
transport a configuration names, and a Runner opened on them. Below the commands (run, the staff
commands, backup) and the daemon, which all use it."""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import pwd
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mailbot import config as configmod
from mailbot.analysis.workers import Analyser
from mailbot.durable import remote_filesystem
from mailbot.errors import MailbotError, StateReadOnly, StoreError
from mailbot.intake.sources.imap import ImapSource
from mailbot.intake.sources.imap_sent import SentCopy
from mailbot.intake.sources.maildir import MaildirSource
from mailbot.pipeline import Runner, Source
from mailbot.register.known import KnownSenders
from mailbot.register.store import Store
from mailbot.replies.outbox import DirectoryTransport, SmtpTransport, Transport
from mailbot.replies.reply import Templates

log = logging.getLogger(__name__)


class LockBusy(MailbotError):
    """Another mailbot holds the state folder."""

    def __init__(self, pid: int | None, state_dir: Path) -> None:
        super().__init__(f"another mailbot (pid {pid or '?'}) is using {state_dir}; stop it first")
        self.pid = pid


def _user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


@contextmanager
def state_lock(state_dir: Path) -> Iterator[None]:
    """One mailbot per state folder: the store assumes it is the only writer."""
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise unwritable(state_dir, exc) from exc
    owner = state_dir.stat().st_uid
    if owner != os.geteuid():  # e.g. root: files it wrote would lock the service out of its own state
        name = _user_name(owner)
        raise MailbotError(
            f"{state_dir} belongs to user {name}; run this command as that user (sudo -u {name} mailbot ...)"
        )
    path = state_dir / "mailbot.lock"
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise unwritable(state_dir, exc) from exc
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode("ascii", "replace").strip()
            raise LockBusy(int(holder) if holder.isdigit() else None, state_dir) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)


def unwritable(state_dir: Path, exc: OSError) -> MailbotError:
    """StateReadOnly when the folder cannot be written, else a StoreError naming the problem."""
    if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return StateReadOnly(state_dir, exc.strerror or exc)
    return StoreError(f"cannot use the state folder {state_dir}: {exc.strerror or exc}")


def transport_for(config: configmod.Config, source: Source | None = None) -> Transport:
    if config.dry_run:
        return DirectoryTransport(config.state_dir / "outbox")
    if config.mailbox.send_via_ews and source is not None:
        from mailbot.intake.sources.ews import EwsSource, EwsTransport

        if isinstance(source, EwsSource):
            return EwsTransport(source)
    if config.mailbox.sent_folder and isinstance(source, ImapSource):
        return SentCopy(SmtpTransport(config.smtp), source, config.mailbox.sent_folder)
    return SmtpTransport(config.smtp)


def source_for(config: configmod.Config) -> Source:
    if config.mailbox.backend == "imap":
        return ImapSource(
            config.mailbox, config.state_dir, config.secret, config.poll_interval, read_only=config.dry_run
        )
    if config.mailbox.backend == "ews":
        from mailbot.intake.sources.ews import EwsSource  # exchangelib is slow to import: only when used

        return EwsSource(
            config.mailbox, config.state_dir, config.secret, config.poll_interval, read_only=config.dry_run
        )
    if config.mailbox.backend != "maildir" or config.mailbox.path is None:
        raise MailbotError(f"mailbox backend {config.mailbox.backend!r} is not available in this version")
    source = MaildirSource(config.mailbox.path, config.poll_interval)
    source.ensure()
    return source


def share_known(source: Source, runner: Runner) -> None:
    """An IMAP source asks the register before downloading: recorded mail is not fetched again."""
    if isinstance(source, ImapSource):
        source.known = runner.is_recorded_header


@contextmanager
def open_runner(
    config: configmod.Config, workers: int = 1, source: Source | None = None, isolate: bool = False
) -> Iterator[Runner]:
    """Templates checked, the state folder locked and opened; everything closed after.

    `isolate`: every message analysed in a worker process (the daemon; see workers.Analyser)."""
    templates = Templates(config.templates_dir)
    with state_lock(config.state_dir):
        store = Store(config.state_dir)
        remote = remote_filesystem(config.state_dir)
        if remote is not None:
            log.warning(
                "state_dir %s is on %s (FUSE or a network filesystem): a power cut may lose what mailbot "
                "made durable; keep it on a local disk (see `mailbot check`)",
                config.state_dir,
                remote,
            )
        known = KnownSenders(config.state_dir).addresses
        runner = Runner(
            config,
            store,
            templates,
            transport_for(config, source),
            analyser=Analyser(config, workers, known, isolate),
            known=known,
        )
        try:
            yield runner
        finally:
            if runner.analyser is not None:  # a reload may have replaced it
                runner.analyser.close()
            runner.transport.close()
            store.close()


@contextmanager
def open_reader(config: configmod.Config) -> Iterator[Runner]:
    """The register opened to read only, without the lock (which cannot be created): for the staff
    commands that only read, when the state folder cannot be written. No transport, no analyser;
    anything that tries to commit a change gets StateReadOnly."""
    templates = Templates(config.templates_dir)
    store = Store(config.state_dir, read_only=True)
    runner = Runner(config, store, templates, DirectoryTransport(config.state_dir / "outbox"), known=_known(config))
    try:
        yield runner
    finally:
        store.close()


def _known(config: configmod.Config) -> dict[str, str]:
    return KnownSenders(config.state_dir).addresses


def require_state(config: configmod.Config) -> None:
    if not (config.state_dir / "db").is_dir():
        raise StoreError(f"no state in {config.state_dir} yet: run `mailbot run --config {config.path}` first")


__all__ = [
    "LockBusy",
    "open_reader",
    "open_runner",
    "require_state",
    "share_known",
    "source_for",
    "state_lock",
    "transport_for",
]
