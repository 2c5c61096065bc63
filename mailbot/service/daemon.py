"""The long-running service: `mailbot run`.

One loop in the main thread: record and answer what the mailbox holds, run the
jobs due, carry out staff requests, send the outbox, wait for new mail. Around
it, what a supervised daemon owes systemd:
- READY=1 once the state is open and the mailbox was tried (connected, or
  unreachable: the loop keeps reconnecting with backoff, and STATUS says so;
  withholding READY would only make systemd kill and restart us in a loop
  while the mail server is down);
- WATCHDOG=1 from this loop, each wait bounded to half the watchdog period;
- SIGTERM/SIGINT: stop between two messages, commit, close, exit 0;
- SIGHUP: reload the configuration and templates; if the new ones are
  invalid, say why and keep running on the old;
- SIGUSR1: a staff request waits in state_dir/requests/.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import os
import random
import signal
import threading
import time
from collections.abc import Callable

from schedule import Scheduler

from mailbot import config as configmod
from mailbot.analysis.workers import Analyser, default_workers
from mailbot.errors import MailbotError, SourceError, StoreError
from mailbot.intake.sources import suggested_backoff
from mailbot.pipeline import Runner, Source, utc_now
from mailbot.register.store import parse_iso, utc_iso
from mailbot.replies.reply import Templates
from mailbot.service.health import Health
from mailbot.service.notify import Notifier

log = logging.getLogger(__name__)

IDLE_FOREVER = 3600.0  # no job scheduled, no watchdog: the source bounds its own wait (IDLE, poll interval)
RECONNECT_FIRST = 1.0  # seconds before the first reconnection attempt, doubled up to
RECONNECT_MAX = 120.0


def reconnect_delay(failures: int, suggested: float | None = None) -> float:
    """Exponential backoff with full jitter; a server's own suggestion (throttling) wins."""
    if suggested is not None:
        return min(suggested, RECONNECT_MAX)
    ceiling = min(RECONNECT_MAX, RECONNECT_FIRST * 2 ** (failures - 1))
    return random.uniform(ceiling / 2, ceiling)


class Daemon:
    def __init__(
        self, config: configmod.Config, notifier: Notifier | None = None, clock: Callable[[], dt.datetime] = utc_now
    ) -> None:
        self.config = config
        self.notifier = notifier or Notifier(None)
        self.clock = clock
        self.stop = threading.Event()
        self._wake = threading.Event()  # ends a backoff sleep early: stop, reload, a staff request
        self._reload = threading.Event()
        self.source: Source | None = None
        self.runner: Runner | None = None
        self.jobs: Scheduler | None = None
        self.health = Health(pid=os.getpid(), started_at=utc_iso(clock()))
        self.reload_error: str | None = None  # shown in STATUS until a reload succeeds

    # -- signals (handlers only set flags and wake the wait) ----------------------------
    def install_signals(self) -> None:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: self.request_stop())
        signal.signal(signal.SIGHUP, lambda *_: self.request_reload())
        signal.signal(signal.SIGUSR1, lambda *_: self.wake())

    def request_stop(self) -> None:
        self.stop.set()
        self.wake()

    def request_reload(self) -> None:
        self._reload.set()
        self.wake()

    def wake(self) -> None:
        self._wake.set()
        if self.source is not None:
            self.source.interrupt()  # an IDLE in progress returns at once

    # -- the watchdog ---------------------------------------------------------------------
    def beat(self) -> None:
        self.notifier.beat()

    def _beat_and_keep(self) -> None:
        """The watchdog's ping from inside a pass or a flush, with the IMAP lease's heartbeat when
        one is due: a pass or a flush longer than the lease does not let another instance in. A lost
        lease is not an error here (sending what we recorded stays right: imap_claim); the next
        commit or pass finds it."""
        self.beat()
        keep = getattr(self.source, "keep", None)
        if keep is not None:
            try:
                keep(strict=False)
            except SourceError as exc:
                log.debug("lease heartbeat: %s", exc)

    def _bound(self, seconds: float) -> float:
        limit = self.notifier.beat_interval
        return min(seconds, limit) if limit else seconds

    def sleep(self, seconds: float) -> None:
        """A pause (backoff) that keeps the watchdog fed and ends on stop, reload or a request."""
        end = time.monotonic() + seconds
        while not self.stop.is_set() and not self._reload.is_set():
            left = end - time.monotonic()
            if left <= 0:
                break
            if self._wake.wait(self._bound(left)):
                self._wake.clear()
                break
            self.beat()
        self.beat()

    # -- the loop -------------------------------------------------------------------------
    def run(
        self,
        runner: Runner,
        source: Source,
        jobs: Scheduler | None = None,
        requests: Callable[[], object] | None = None,
    ) -> None:
        """Until stop: connect, say READY, then record, answer, run jobs, wait."""
        self.runner, self.source, self.jobs = runner, source, jobs
        runner.beat, runner.stop = self._beat_and_keep, self.stop
        if runner.analyser is not None:
            runner.analyser.on_ready = self.wake  # a deferred scan is done: record it now
        self.health.mailbox = source.describe()
        failures = self._connect()
        self.notifier.ready(self._status_text())
        log.warning("mailbot started: watching %s", source.describe())
        if jobs is not None:
            jobs.run_all()  # at start: whatever is due after downtime
        while not self.stop.is_set():
            if self._reload.is_set():
                self.reload()
            source = self.source
            try:
                result = runner.run_pass(source, self.stop, send_alongside=True)
                self._contact()
                self._register(runner.store_error)
                self.health.recorded += result.recorded
                if jobs is not None:
                    jobs.run_pending()
                if requests is not None:
                    requests()  # staff commands handed over while this daemon runs
                runner.flush(beat=True, stop=self.stop)
                if runner.analyser is not None:
                    runner.analyser.trim()  # idle workers end; they start again with the next mail
                if failures:
                    log.warning("mailbox %s reachable again after %d failed attempts", source.describe(), failures)
                    failures = 0
                self.notifier.status(self._status_text())
                self.health.save(self.config.state_dir, self.clock())
                idle = jobs.idle_seconds if jobs is not None else None
                idle = min(idle if idle is not None else IDLE_FOREVER, self._next_retry())
                workers_idle = runner.analyser.idle_left() if runner.analyser is not None else None
                if workers_idle is not None:
                    idle = min(idle, workers_idle)  # wake to end idle workers
                self.beat()
                source.wait(self.stop, self._bound(max(0.0, idle)))
                self.beat()
            except SourceError as exc:
                if self.stop.is_set():
                    break  # SIGTERM shut the connection on purpose
                failures += 1
                self._lost(exc, failures)
                delay = reconnect_delay(failures, suggested_backoff(exc))
                self.notifier.status(f"mất kết nối hộp thư, thử lại sau {delay:.0f} giây / mailbox unreachable")
                self.sleep(delay)
            except StoreError:  # the outbox's sent marks could not be written (a full disk): the runner said so
                self._register(runner.store_error)
                self.notifier.status(self._status_text())
                self.sleep(self.config.poll_interval)
            except Exception:
                log.exception("pass failed; trying again in %s s", self.config.poll_interval)
                self.sleep(self.config.poll_interval)
        self.notifier.stopping()
        self.health.state = "stopped"
        self.health.save(self.config.state_dir, self.clock(), force=True)

    def _next_retry(self) -> float:
        """Seconds until a mail refused for now may be tried again (no wait outlasts it)."""
        assert self.runner is not None
        times = [m["next_attempt"] for m in self.runner.store.pending_mail() if m.get("next_attempt")]
        if not times:
            return IDLE_FOREVER
        # never longer than the longest backoff (a retry time set by a clock that ran ahead)
        wait = (parse_iso(min(times)) - self.clock()).total_seconds()
        return max(0.5, min(wait, self.config.smtp.retry_max))

    def _connect(self) -> int:
        """The first contact; 0 when it worked, else 1 (the loop goes on with backoff)."""
        assert self.source is not None
        try:
            self.source.connect()
        except SourceError as exc:
            self._lost(exc, 1)
            return 1
        self.health.contact(self.clock())
        self.health.save(self.config.state_dir, self.clock(), force=True)  # what `status` reads, before READY
        return 0

    def _contact(self) -> None:
        if self.health.contact(self.clock()):
            self.health.save(self.config.state_dir, self.clock(), force=True)

    def _register(self, error: str | None) -> bool:
        """Track in health.json and STATUS whether the register can be written. True on a change."""
        if error == self.health.store_error:
            return False
        self.health.store_error = error
        self.health.save(self.config.state_dir, self.clock(), force=True)  # may fail too: then status is stale
        return True

    def _lost(self, exc: SourceError, failures: int) -> None:
        assert self.source is not None
        if self.health.lost(self.clock(), str(exc)):
            self.health.save(self.config.state_dir, self.clock(), force=True)
        if failures == 1:
            log.error("mailbox %s unavailable, reconnecting with backoff: %s", self.source.describe(), exc)
        else:
            log.debug("mailbox still unavailable (attempt %d): %s", failures, exc)

    def _status_text(self) -> str:
        if self.health.state == "unreachable":
            text = f"mất kết nối hộp thư: {self.health.last_error} / mailbox unreachable"
        else:
            assert self.runner is not None
            pending = len(self.runner.store.pending_mail())
            text = (
                f"đang chờ thư mới; {self.health.recorded} thư đã ghi nhận, {pending} thư chờ gửi / "
                f"waiting: {self.health.recorded} recorded, {pending} to send"
            )
        if self.health.store_error:
            text += " — KHÔNG GHI ĐƯỢC SỔ GHI NHẬN (kiểm tra dung lượng đĩa) / cannot write the register"
        if self.reload_error:
            text += f" — {self.reload_error}"
        return text

    # -- SIGHUP ---------------------------------------------------------------------------
    def reload(self) -> None:
        """New configuration and templates, or the old ones kept (logged) if the new are invalid."""
        self._reload.clear()
        self._wake.clear()
        runner, old = self.runner, self.config
        assert runner is not None and self.source is not None
        self.notifier.reloading()
        try:
            new = configmod.load(old.path)
            if old.dry_run:
                new = dataclasses.replace(new, dry_run=True)
            if new.state_dir != old.state_dir:
                raise MailbotError(
                    f"state_dir cannot change while running ({old.state_dir} -> {new.state_dir}); "
                    f"restart the service for that"
                )
            templates = Templates(new.templates_dir)
        except (MailbotError, OSError) as exc:
            log.error("reload failed; still running on the previous configuration and templates: %s", exc)
            when = self.clock().astimezone(old.timezone).strftime("%H:%M %d/%m/%Y")
            self.reload_error = (
                f"nạp lại cấu hình lúc {when} thất bại, vẫn chạy theo cấu hình cũ "
                f"(journalctl -u mailbot) / reload failed"
            )
            self.notifier.ready(self._status_text())
            return
        from mailbot.runtime import share_known, source_for, transport_for  # built from a config there

        if (new.mailbox, new.poll_interval) != (old.mailbox, old.poll_interval):
            self.source.close()
            self.source = source_for(new)
            self.health.mailbox = self.source.describe()
            share_known(self.source, runner)
        runner.transport.close()
        if runner.analyser is not None:
            runner.analyser.close()
        runner.config, runner.templates = new, templates
        runner.transport = transport_for(new, self.source)
        runner.analyser = Analyser(new, new.workers or default_workers(), runner.known, isolate=True)
        runner.analyser.on_ready = self.wake
        self.config = new
        self.reload_error = None
        log.warning("configuration and templates reloaded from %s", new.path)
        self.notifier.ready(self._status_text())


__all__ = ["Daemon", "reconnect_delay"]
