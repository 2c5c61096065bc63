"""Commands that keep state: run, demo, status."""

from __future__ import annotations

import argparse
import dataclasses
import fcntl
import logging
import os
import pwd
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mailbot import config as configmod
from mailbot import demo, handoff, logs, status
from mailbot.daemon import Daemon
from mailbot.errors import MailbotError, StoreError
from mailbot.outbox import DirectoryTransport, SmtpTransport, Transport
from mailbot.jobs import scheduler_for
from mailbot.notify import Notifier
from mailbot.pipeline import PassResult, Runner, Source
from mailbot.reply import Templates
from mailbot.review import KnownSenders
from mailbot.sources.imap import ImapSource, SentCopy
from mailbot.sources.maildir import MaildirSource
from mailbot.store import Store
from mailbot.workers import Analyser, default_workers

log = logging.getLogger("mailbot")


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
    state_dir.mkdir(parents=True, exist_ok=True)
    owner = state_dir.stat().st_uid
    if owner != os.geteuid():  # e.g. root: files it wrote would lock the service out of its own state
        name = _user_name(owner)
        raise MailbotError(f"{state_dir} belongs to user {name}; run this command as that user "
                           f"(sudo -u {name} mailbot ...)")
    path = state_dir / "mailbot.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
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


def transport_for(config: configmod.Config, source: Source | None = None) -> Transport:
    if config.dry_run:
        return DirectoryTransport(config.state_dir / "outbox")
    if config.mailbox.send_via_ews and source is not None:
        from mailbot.sources.ews import EwsSource, EwsTransport

        if isinstance(source, EwsSource):
            return EwsTransport(source)
    if config.mailbox.sent_folder and isinstance(source, ImapSource):
        return SentCopy(SmtpTransport(config.smtp), source, config.mailbox.sent_folder)
    return SmtpTransport(config.smtp)


def source_for(config: configmod.Config) -> Source:
    if config.mailbox.backend == "imap":
        return ImapSource(config.mailbox, config.state_dir, config.secret, config.poll_interval,
                          read_only=config.dry_run)
    if config.mailbox.backend == "ews":
        from mailbot.sources.ews import EwsSource  # exchangelib is slow to import: only when used

        return EwsSource(config.mailbox, config.state_dir, config.secret, config.poll_interval)
    if config.mailbox.backend != "maildir" or config.mailbox.path is None:
        raise MailbotError(f"mailbox backend {config.mailbox.backend!r} is not available in this version")
    source = MaildirSource(config.mailbox.path, config.poll_interval)
    source.ensure()
    return source


def share_known(source: Source, runner: Runner) -> None:
    """An IMAP source asks the register before downloading: recorded mail is not fetched again."""
    if isinstance(source, ImapSource):
        source.known = runner.is_recorded_header


def summary(result: PassResult, sent: int, deferred: int, failed: int, dry_run: bool) -> str:
    done = f"ghi ra tệp {sent} (chạy thử, không gửi)" if dry_run else f"đã gửi {sent}"
    return (f"Đã ghi nhận {result.recorded} thư mới, bỏ qua {result.duplicates} thư đã ghi nhận trước đó, "
            f"{result.errors} thư lỗi; thư trả lời: {done}, chờ gửi lại {deferred}, gửi lỗi {failed}.")


@contextmanager
def open_runner(config: configmod.Config, workers: int = 1, source: Source | None = None,
                isolate: bool = False) -> Iterator[Runner]:
    """Templates checked, the state folder locked and opened; everything closed after.

    `isolate`: every message analysed in a worker process (the daemon; see workers.Analyser)."""
    templates = Templates(config.templates_dir)
    with state_lock(config.state_dir):
        store = Store(config.state_dir)
        known = KnownSenders(config.state_dir).addresses
        runner = Runner(config, store, templates, transport_for(config, source),
                        analyser=Analyser(config, workers, known, isolate), known=known)
        try:
            yield runner
        finally:
            if runner.analyser is not None:  # a reload may have replaced it
                runner.analyser.close()
            runner.transport.close()
            store.close()


def run_once(config: configmod.Config) -> str:
    source = source_for(config)
    try:
        with open_runner(config, config.workers or default_workers(), source) as runner:
            share_known(source, runner)
            result = runner.run_pass(source, send_alongside=True)
            flushed = runner.flush(ignore_backoff=True)
    finally:
        source.close()
    return summary(result, result.sent + flushed.sent, flushed.deferred, result.failed + flushed.failed,
                   config.dry_run)


def cmd_run(args: argparse.Namespace) -> int:
    config = configmod.load(args.config)
    if args.dry_run:
        config = dataclasses.replace(config, dry_run=True)
    logs.protect(config.secret(name) for name in config.secret_names)
    if args.once:
        print(run_once(config))
        return 0
    from mailbot.staff import serve_requests  # the staff commands use this module

    notifier = Notifier.from_env()
    daemon = Daemon(config, notifier)
    daemon.install_signals()
    source = source_for(config)
    try:
        with open_runner(config, config.workers or default_workers(), source, isolate=True) as runner:
            share_known(source, runner)

            def requests() -> None:
                if handoff.waiting(config.state_dir):
                    daemon.health.save(config.state_dir, runner.clock(), force=True)  # `status` reads it
                    serve_requests(runner)

            daemon.run(runner, source, scheduler_for(runner), requests)
    finally:
        (daemon.source or source).close()
        notifier.close()
    log.warning("mailbot stopped")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    folder = Path(args.dir).resolve()
    config_path = demo.prepare(folder, configmod.example_path())
    config = configmod.load(config_path)
    print(f"Hộp thư mẫu: {len(demo.messages())} thư trong {config.mailbox.path}/new")
    print(run_once(config))
    with state_lock(config.state_dir):
        store = Store(config.state_dir)
        try:
            print()
            print(status.render_table(config, store))
        finally:
            store.close()
    print()
    print(f"Thư trả lời (tệp .eml, chưa gửi đi): {config.state_dir / 'outbox'}")
    print(f"Sổ ghi nhận (TinyDB) và thư gốc:      {config.state_dir}")
    print(f"Cấu hình của bản chạy thử:            {config_path}")
    print(f"Xem lại bảng: mailbot status --config {config_path}")
    print(f"Thư chờ xem xét: mailbot review --config {config_path}")
    return 0


def require_state(config: configmod.Config) -> None:
    if not (config.state_dir / "db").is_dir():
        raise StoreError(f"no state in {config.state_dir} yet: run `mailbot run --config {config.path}` first")


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("run", help="record new mail, acknowledge submissions, send the outbox")
    p.add_argument("--config", required=True)
    p.add_argument("--once", action="store_true", help="process everything waiting, flush the outbox and exit")
    p.add_argument("--dry-run", action="store_true", help="write replies under state_dir/outbox, send nothing")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("demo", help="the main job on an embedded demo mailbox, with no server")
    p.add_argument("--dir", default="mailbot-demo", help="demo folder (recreated each time; default ./mailbot-demo)")
    p.set_defaults(func=cmd_demo)



__all__ = ["LockBusy", "add_parsers", "open_runner", "require_state", "run_once", "share_known", "state_lock"]
