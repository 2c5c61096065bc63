"""The commands that run the pipeline: `run` (once, or as the service) and `demo`."""

from __future__ import annotations

import argparse
import dataclasses
import logging
from pathlib import Path

from mailbot import config as configmod
from mailbot import demo, logs
from mailbot.analysis.workers import default_workers
from mailbot.errors import StateReadOnly
from mailbot.jobs import scheduler_for
from mailbot.passes import PassResult
from mailbot.register.store import Store
from mailbot.runtime import open_runner, share_known, source_for, state_lock
from mailbot.service import handoff
from mailbot.service.daemon import Daemon
from mailbot.service.notify import Notifier
from mailbot.staff import mailcommands, status

log = logging.getLogger("mailbot")


def summary(result: PassResult, sent: int, deferred: int, failed: int, dry_run: bool) -> str:
    done = f"ghi ra tệp {sent} (chạy thử, không gửi)" if dry_run else f"đã gửi {sent}"
    return (
        f"Đã ghi nhận {result.recorded} thư mới, bỏ qua {result.duplicates} thư đã ghi nhận trước đó, "
        f"{result.errors} thư lỗi; thư trả lời: {done}, chờ gửi lại {deferred}, gửi lỗi {failed}."
    )


def run_once(config: configmod.Config) -> str:
    source = source_for(config)
    try:
        with open_runner(config, config.workers or default_workers(), source) as runner:
            share_known(source, runner)
            result = runner.run_pass(source, send_alongside=True)
            mailcommands.run_pending(runner)
            flushed = runner.flush(ignore_backoff=True)
    finally:
        source.close()
    return summary(result, result.sent + flushed.sent, flushed.deferred, result.failed + flushed.failed, config.dry_run)


def cmd_run(args: argparse.Namespace) -> int:
    config = configmod.load(args.config)
    if args.dry_run:
        config = dataclasses.replace(config, dry_run=True)
    logs.protect(config.secret(name) for name in config.secret_names)
    if args.once:
        print(run_once(config))
        return 0
    from mailbot.staff.commands import serve_requests  # the staff commands use this module

    notifier = Notifier.from_env()
    daemon = Daemon(config, notifier)
    daemon.install_signals()
    source = source_for(config)
    try:
        with open_runner(config, config.workers or default_workers(), source, isolate=True) as runner:
            share_known(source, runner)

            def requests() -> None:
                mailcommands.run_pending(runner)  # staff commands by mail, recorded by the pass
                if handoff.waiting(config.state_dir):
                    daemon.health.save(config.state_dir, runner.clock(), force=True)  # `status` reads it
                    serve_requests(runner)

            daemon.run(runner, source, scheduler_for(runner), requests)
    except StateReadOnly as exc:  # exit 4: the unit does not restart on it (RestartPreventExitStatus)
        notifier.status(str(exc))
        raise
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


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("run", help="record new mail, acknowledge submissions, send the outbox")
    p.add_argument("--config", required=True)
    p.add_argument("--once", action="store_true", help="process everything waiting, flush the outbox and exit")
    p.add_argument("--dry-run", action="store_true", help="write replies under state_dir/outbox, send nothing")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("demo", help="the main job on an embedded demo mailbox, with no server")
    p.add_argument("--dir", default="mailbot-demo", help="demo folder (recreated each time; default ./mailbot-demo)")
    p.set_defaults(func=cmd_demo)


__all__ = ["add_parsers", "run_once"]
