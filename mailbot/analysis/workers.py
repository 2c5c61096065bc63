"""Parse and classify, inline or in worker processes for a backlog.

Parsing and classifying are pure (bytes and configuration in, an Envelope
out), so a backlog can use every core; recording, numbering and replying stay
in the main process, in the order the source gave the messages.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool

from mailbot.analysis.classify import classify
from mailbot.analysis.extract import Budget
from mailbot.analysis.rosters import read_rosters
from mailbot.config import Config
from mailbot.envelope import Envelope
from mailbot.intake.parse import parse_message
from mailbot.intake.sources import Incoming
from mailbot.register.blobs import Blobs
from mailbot.service import logs

log = logging.getLogger(__name__)

WINDOW_PER_WORKER = 8  # messages in flight per worker process
WINDOW_BYTES = 64 * 1024 * 1024  # ... and at most this many bytes of them
WAIT_SLICE = 1.0  # seconds the main loop waits on a worker before feeding the watchdog again
ANALYSE_SECONDS = 120  # a message still not analysed after this is set aside (its worker killed)

Result = Envelope | BaseException | None  # None: not analysed (a duplicate or set aside)


def analyse(
    raw: bytes, source_id: str, delivered: object, config: Config, known: Mapping[str, str] | None = None
) -> Envelope:
    """Parse and classify one message; never touches the state.

    `known` maps addresses staff confirmed (assign --remember-sender) to organizations.
    """
    envelope = Envelope(
        raw=raw, parsed=parse_message(raw, config.max_attachment_bytes, Budget.of(config)), source=source_id
    )
    classify(envelope, config, known, received=delivered)  # type: ignore[arg-type]
    campaign = config.campaign(envelope.campaign or "")
    if campaign is not None and envelope.disposition == "submission":
        envelope.duty_rows = read_rosters(envelope, campaign)
    return envelope


def _analyse_remote(
    raw: bytes, source_id: str, delivered: object, config: Config, known: Mapping[str, str] | None
) -> Envelope:
    envelope = analyse(raw, source_id, delivered, config, known)
    # Idempotent, so safe before the record exists (a torn file left by a power cut is written
    # again); made durable by the main process's next group commit (Blobs.sync: one syncfs where
    # it can be trusted, else an fsync per file) before any record names it.
    blobs = Blobs(config.state_dir)
    envelope.raw_sha256 = blobs.put_message(envelope, durable=False)
    envelope.unsynced_blobs = [str(path) for path in blobs.unsynced]
    envelope.raw = b""  # the main process has the bytes already
    for att in envelope.parsed.attachments:
        att.release()  # kept on disk; text read during classification stays, a reader does not pickle
    return envelope


def _init_worker(parent: int, level: str, fmt: str) -> None:
    """Log as the parent does (not Python's bare last-resort handler), and die with it."""
    logs.setup(level, fmt)
    _die_with_parent(parent)


def _die_with_parent(parent: int) -> None:
    """A worker ends when mailbot does, even after a kill -9 (Linux prctl PR_SET_PDEATHSIG)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return  # not Linux: idle workers end when the pool's pipes close
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def default_workers() -> int:
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(cpus, 4))


class AnalysisTimeout(Exception):
    """A message took longer than ANALYSE_SECONDS to parse and classify; its worker was killed."""


class Abandoned(Exception):
    """The analysis was given up because mailbot is stopping."""


class Deferred(Exception):
    """Still being analysed (a long scan): the pass goes on without it, and a later pass takes its
    result, so that the mail behind it is not kept waiting."""


DEFER_AFTER = 1.5  # seconds a message may hold up the ones behind it before it is deferred


class Analyser:
    """Yields (item, envelope) in source order, analysing up to `workers` messages at once.

    With `isolate` (the daemon) every message is analysed in a worker process, even with one
    worker: the main loop then waits in slices, feeding the watchdog and watching for SIGTERM,
    and a message that hangs the parser or kills its worker is given up after
    ANALYSE_SECONDS (or a second death) and set aside, instead of stopping the daemon.
    """

    def __init__(
        self,
        config: Config,
        workers: int,
        known: Mapping[str, str] | None = None,
        isolate: bool = False,
        task: Callable[..., Envelope] | None = None,
    ) -> None:
        self.config = config
        self.task = task or _analyse_remote  # what a worker runs (a module-level function)
        self.known = known  # the same dict the review commands add to
        self.workers = workers
        self.isolate = isolate
        self._pool: ProcessPoolExecutor | None = None
        self._started: dict[Future[Envelope], float] = {}  # when each analysis in flight began
        self._deferred: dict[str, Future[Envelope]] = {}  # source id -> its analysis, still running
        self._again: set[Future[Envelope]] = set()  # deferred before: not waited for again while running
        self.on_ready: Callable[[], None] | None = None  # called when a deferred analysis finishes
        self._last_used = time.monotonic()

    @property
    def inline(self) -> bool:
        return self.workers <= 1 and not self.isolate

    def _inline(self, item: Incoming) -> Result:
        try:
            return analyse(item.raw, item.source_id, item.delivered, self.config, self.known)
        except Exception as exc:
            return exc

    def stream(
        self,
        items: Iterable[Incoming],
        wanted: Callable[[Incoming], bool],
        beat: Callable[[], None] | None = None,
        stop: threading.Event | None = None,
        defer: bool = False,
    ) -> Iterator[tuple[Incoming, Result]]:
        """`defer`: a message still being analysed after DEFER_AFTER seconds is yielded as Deferred
        (its analysis goes on) so that the ones behind it are recorded and answered now."""
        it = iter(items)
        if self.inline:
            for item in it:
                yield item, (self._inline(item) if wanted(item) else None)
            return
        # Enough messages in flight that the workers keep busy while the main process commits,
        # bounded in number and in bytes held.
        window: deque[tuple[Incoming, Future[Envelope] | None]] = deque()
        held = 0

        def resolve(pair: tuple[Incoming, Future[Envelope] | None]) -> tuple[Incoming, Envelope | BaseException | None]:
            return self._resolve(pair[0], pair[1], beat=beat, stop=stop, defer=defer)

        for item in it:
            window.append((item, self._submit(item) if wanted(item) else None))
            held += len(item.raw)
            while window and (len(window) >= WINDOW_PER_WORKER * max(self.workers, 1) or held > WINDOW_BYTES):
                done = resolve(window.popleft())
                held -= len(done[0].raw)
                yield done
        while window:
            yield resolve(window.popleft())

    def _submit(self, item: Incoming) -> Future[Envelope] | None:
        self._last_used = time.monotonic()
        earlier = self._deferred.pop(item.source_id, None)
        if earlier is not None:
            self._again.add(earlier)
            return earlier  # deferred by an earlier pass: its result, or its analysis still running
        if self._pool is None:
            # spawn: the workers are our own children (so they can die with us) and start clean
            # beside threads, unlike fork; forkserver would leave its server behind after a kill -9.
            context = multiprocessing.get_context("spawn")
            self._pool = ProcessPoolExecutor(
                max_workers=max(self.workers, 1),
                mp_context=context,
                initializer=_init_worker,
                initargs=(os.getpid(), *logs.current()),
            )
        try:
            future = self._pool.submit(self.task, item.raw, item.source_id, item.delivered, self.config, self.known)
            self._started[future] = time.monotonic()
            return future
        except (BrokenProcessPool, RuntimeError):
            self._kill_pool()
            if self.isolate:
                return self._submit(item)  # a fresh pool
            log.error("worker processes failed; analysing in the main process")
            self.workers = 1
            return None

    def _resolve(
        self,
        item: Incoming,
        future: Future[Envelope] | None,
        beat: Callable[[], None] | None = None,
        stop: threading.Event | None = None,
        retried: bool = False,
        defer: bool = False,
    ) -> tuple[Incoming, Result]:
        if future is None:
            return item, (self._inline(item) if self.inline else None)
        waiting = time.monotonic()
        started = self._started.get(future, waiting)
        if future in self._again:
            self._again.discard(future)
            if defer and not future.done():  # still running: the mail behind it goes first again
                self._defer(item, future, quietly=True)
                return item, Deferred(item.source_id)
        while True:
            try:
                envelope = future.result(timeout=WAIT_SLICE)
                break
            except FutureTimeout:
                if beat is not None:
                    beat()
                if stop is not None and stop.is_set():
                    return item, Abandoned("mailbot is stopping")
                if defer and time.monotonic() - waiting > DEFER_AFTER:
                    self._defer(item, future)
                    return item, Deferred(item.source_id)
                if time.monotonic() - started > self.limit:
                    log.error(
                        "analysing %s took over %d s: worker killed, message set aside", item.source_id, self.limit
                    )
                    self._kill_pool()  # the others in flight are submitted again as they come up
                    return item, AnalysisTimeout(f"phân tích thư quá {self.limit:.0f} giây")
            except BrokenProcessPool:
                self._kill_pool()
                if self.isolate and not retried:  # perhaps another message killed the worker: once more
                    log.warning("a worker process died; analysing %s again in a new one", item.source_id)
                    return self._resolve(item, self._submit(item), beat, stop, retried=True)
                if self.isolate:
                    return item, AnalysisTimeout("tiến trình phân tích thư bị dừng đột ngột hai lần")
                log.error("a worker process died; analysing %s in the main process", item.source_id)
                return item, self._inline(item)
            except Exception as exc:
                self._started.pop(future, None)
                return item, exc
        self._started.pop(future, None)
        envelope.raw = item.raw
        return item, envelope

    @property
    def limit(self) -> float:
        """Seconds a message's analysis may take: ANALYSE_SECONDS, and its OCR budget when OCR is on
        (the OCR child stops itself at that budget; this is the guard behind it)."""
        return ANALYSE_SECONDS + (self.config.ocr_seconds if self.config.max_ocr_pages else 0)

    def _defer(self, item: Incoming, future: Future[Envelope], quietly: bool = False) -> None:
        self._deferred[item.source_id] = future
        if quietly:
            return  # deferred before: said once, and its callback is set
        log.info("%s is taking long (a scan?): the mail behind it goes first", item.source_id)
        if self.on_ready is not None:
            ready = self.on_ready
            future.add_done_callback(lambda _: ready())

    def idle_left(self) -> float | None:
        """Seconds until idle workers would end (for the daemon's wait), None when none are running."""
        if self._pool is None or self._deferred or self._started:
            return None  # none running, or busy (a deferred analysis wakes the daemon when done)
        return max(0.0, self.config.worker_idle_seconds - (time.monotonic() - self._last_used)) + 0.1

    def trim(self) -> bool:
        """End the worker processes after [mailbot] worker_idle_seconds without work; True when it did.
        They start again with the next message (a worker holds tens of MB, more once OCR was loaded)."""
        if self._pool is None or self._deferred or self._started:
            return False
        if time.monotonic() - self._last_used < self.config.worker_idle_seconds:
            return False
        pool, self._pool = self._pool, None
        pool.shutdown(wait=True, cancel_futures=True)
        log.info("worker processes idle for %.0f s: ended", self.config.worker_idle_seconds)
        return True

    def _kill_pool(self) -> None:
        """End the workers now, whatever they are doing (Python 3.11 has no terminate_workers())."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        for process in list(getattr(pool, "_processes", {}).values()):
            try:
                process.kill()
            except (OSError, AttributeError):
                pass
        pool.shutdown(wait=False, cancel_futures=True)
        self._started.clear()
        self._deferred.clear()
        self._again.clear()
        # Let the pool's manager thread see the dead workers and finish: left running, its pipe can
        # be closed under the interpreter's exit hook, which then prints "Bad file descriptor".
        manager = getattr(pool, "_executor_manager_thread", None)
        if manager is not None:
            manager.join(2)

    def close(self) -> None:
        """At exit: anything still in flight is uncommitted and will be analysed again next time."""
        self._kill_pool()
