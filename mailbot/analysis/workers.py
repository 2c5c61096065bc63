"""Parse and classify, inline or in worker processes for a backlog.

Parsing and classifying are pure (bytes and configuration in, an Envelope
out), so a backlog can use every core; recording, numbering and replying stay
in the main process, in the order the source gave the messages.

The daemon has two lanes: plain analysis in `workers` processes that never run OCR, and half
as many OCR processes (at least one). A message the plain lane finds needing OCR
(extract.OcrGate) is analysed again in the OCR lane; a plain message never waits for the scans
of other messages.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from typing import TypeVar

from mailbot import logs
from mailbot.analysis.classify import classify
from mailbot.analysis.extract import Budget
from mailbot.analysis.readers import confine
from mailbot.analysis.rosters import read_rosters
from mailbot.config import Config
from mailbot.envelope import Envelope
from mailbot.intake.parse import parse_message
from mailbot.intake.sources import Incoming
from mailbot.register.blobs import Blobs

log = logging.getLogger(__name__)

WINDOW_PER_WORKER = 8  # messages in flight per worker process
WINDOW_BYTES = 64 * 1024 * 1024  # ... and at most this many bytes of them
WAIT_SLICE = 1.0  # seconds the main loop waits on a worker before feeding the watchdog again
T = TypeVar("T")


def ocr_lane_workers(workers: int) -> int:
    """Processes reading scans: half the plain lane's, at least one (2 cores: one scan at a time, a
    core left to plain mail; each OCR child may take up to 1 GiB)."""
    return max(1, workers // 2)


Result = Envelope | BaseException | None  # None: not analysed (a duplicate or set aside)


class NeedsOcr(Exception):
    """The plain lane met a scan that OCR would read: the message goes to the OCR lane."""


def analyse(
    raw: bytes,
    source_id: str,
    delivered: object,
    config: Config,
    known: Mapping[str, str] | None = None,
    ocr: bool = True,
) -> Envelope:
    """Parse and classify one message; never touches the state.

    `known` maps addresses staff confirmed (assign --remember-sender) to organizations.
    `ocr` False (the plain lane): raise NeedsOcr instead of reading a scan.
    """
    budget = Budget.of(config, ocr)
    envelope = Envelope(raw=raw, parsed=parse_message(raw, config.max_attachment_bytes, budget), source=source_id)
    classify(envelope, config, known, received=delivered)  # type: ignore[arg-type]
    campaign = config.campaign(envelope.campaign or "")
    if campaign is not None and envelope.disposition == "submission":
        envelope.duty_rows = read_rosters(envelope, campaign)
    if budget.gate.wanted:
        raise NeedsOcr(source_id)
    return envelope


def _analyse_plain(
    raw: bytes, source_id: str, delivered: object, config: Config, known: Mapping[str, str] | None
) -> Envelope:
    return _analyse_remote(raw, source_id, delivered, config, known, ocr=False)


def _analyse_remote(
    raw: bytes,
    source_id: str,
    delivered: object,
    config: Config,
    known: Mapping[str, str] | None,
    ocr: bool = True,
) -> Envelope:
    envelope = analyse(raw, source_id, delivered, config, known, ocr)
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
    logs.route_warnings()
    logs.setup(level, fmt)
    confine.die_with_parent(parent)  # a worker ends when mailbot does, even after a kill -9


def limit(config: Config) -> float:
    """Seconds one message's analysis may take: [mailbot] analyse_seconds, and its OCR budget when
    OCR is on (the OCR child stops itself at that budget; this is the guard behind it)."""
    return config.analyse_seconds + (config.ocr_seconds if config.max_ocr_pages else 0)


def run_bounded(
    task: Callable[..., T],
    args: tuple[object, ...],
    seconds: float,
    beat: Callable[[], None] | None = None,
    stop: threading.Event | None = None,
) -> T:
    """task(*args) in a worker process of its own, for work on one message outside the pipeline
    (staff's assign): the caller waits in slices, feeding the watchdog and watching for stop, and
    the worker is killed after `seconds`. Raises AnalysisTimeout (over time, or the worker died),
    Abandoned (stop), or what the task raised. `task` is a module-level function; its arguments
    and result are pickled."""
    context = multiprocessing.get_context("spawn")  # see Analyser._submit
    pool = ProcessPoolExecutor(
        max_workers=1, mp_context=context, initializer=_init_worker, initargs=(os.getpid(), *logs.current())
    )
    started = time.monotonic()
    try:
        future = pool.submit(task, *args)
        while True:
            try:
                return future.result(timeout=WAIT_SLICE)
            except FutureTimeout:
                if beat is not None:
                    beat()
                if stop is not None and stop.is_set():
                    raise Abandoned("mailbot đang dừng") from None
                if time.monotonic() - started > seconds:
                    raise AnalysisTimeout(f"phân tích thư quá {seconds:.0f} giây") from None
            except BrokenProcessPool:
                raise AnalysisTimeout("tiến trình phân tích thư bị dừng đột ngột") from None
    finally:
        _end(pool)
        if beat is not None:
            beat()


def default_workers() -> int:
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(cpus, 4))


class AnalysisTimeout(Exception):
    """A message took longer than limit() to parse and classify; its worker was killed."""


class Abandoned(Exception):
    """The analysis was given up because mailbot is stopping."""


class Deferred(Exception):
    """Still being analysed (a long scan): the pass goes on without it, and a later pass takes its
    result, so that the mail behind it is not kept waiting."""


DEFER_AFTER = 1.5  # seconds a message may hold up the ones behind it before it is deferred


def _end(pool: ProcessPoolExecutor) -> None:
    """End a pool's workers now, whatever they are doing (Python 3.11 has no terminate_workers())."""
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        try:
            process.kill()
        except (OSError, AttributeError):
            pass
    pool.shutdown(wait=False, cancel_futures=True)
    # Let the pool's manager thread see the dead workers and finish: left running, its pipe can
    # be closed under the interpreter's exit hook, which then prints "Bad file descriptor".
    manager = getattr(pool, "_executor_manager_thread", None)
    if manager is not None:
        manager.join(2)


class Analyser:
    """Yields (item, envelope) in source order, analysing up to `workers` messages at once.

    With `isolate` (the daemon) every message is analysed in a worker process, even with one
    worker: the main loop then waits in slices, feeding the watchdog and watching for SIGTERM,
    and a message that hangs the parser or kills its worker is given up after
    limit() (or a second death) and set aside, instead of stopping the daemon.
    The daemon also has the two lanes (module docstring): `workers` plain processes and
    ocr_lane_workers(workers) for scans.
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
        self.lanes = isolate and task is None  # the daemon's real analysis: plain and OCR lanes
        self._pools: dict[str, ProcessPoolExecutor] = {}  # lane ("plain", "ocr") -> its processes
        self._lane_of: dict[Future[Envelope], str] = {}
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

    def _submit(self, item: Incoming, lane: str = "plain") -> Future[Envelope] | None:
        self._last_used = time.monotonic()
        earlier = self._deferred.pop(item.source_id, None) if lane == "plain" else None
        if earlier is not None:
            self._again.add(earlier)
            return earlier  # deferred by an earlier pass: its result, or its analysis still running
        pool = self._pools.get(lane)
        if pool is None:
            # spawn: the workers are our own children (so they can die with us) and start clean
            # beside threads, unlike fork; forkserver would leave its server behind after a kill -9.
            context = multiprocessing.get_context("spawn")
            pool = self._pools[lane] = ProcessPoolExecutor(
                max_workers=ocr_lane_workers(self.workers) if lane == "ocr" else max(self.workers, 1),
                mp_context=context,
                initializer=_init_worker,
                initargs=(os.getpid(), *logs.current()),
            )
        task = self.task if not self.lanes else _analyse_plain if lane == "plain" else _analyse_remote
        try:
            future = pool.submit(task, item.raw, item.source_id, item.delivered, self.config, self.known)
            self._started[future] = time.monotonic()
            self._lane_of[future] = lane
            return future
        except (BrokenProcessPool, RuntimeError):
            self._kill_pool(lane)
            if self.isolate:
                return self._submit(item, lane)  # a fresh pool
            log.error("worker processes failed; analysing in the main process")
            self.workers = 1
            return None

    def _ocr_busy(self, future: Future[Envelope]) -> bool:
        """The OCR lane has other work ahead of or beside this one's."""
        return any(lane == "ocr" and f is not future and not f.done() for f, lane in self._lane_of.items())

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
                    self._kill_pool(self._lane_of.get(future, "plain"))  # the others: submitted again as they come up
                    return item, AnalysisTimeout(f"phân tích thư quá {self.limit:.0f} giây")
            except BrokenProcessPool:
                lane = self._lane_of.get(future, "plain")
                self._kill_pool(lane)
                if self.isolate and not retried:  # perhaps another message killed the worker: once more
                    log.warning("a worker process died; analysing %s again in a new one", item.source_id)
                    return self._resolve(item, self._submit(item, lane), beat, stop, retried=True, defer=defer)
                if self.isolate:
                    return item, AnalysisTimeout("tiến trình phân tích thư bị dừng đột ngột hai lần")
                log.error("a worker process died; analysing %s in the main process", item.source_id)
                return item, self._inline(item)
            except NeedsOcr:  # the plain lane found a scan: the OCR lane reads it
                self._forget(future)
                ocr = self._submit(item, "ocr")
                if ocr is None:
                    return item, self._inline(item)
                future, started = ocr, time.monotonic()
                if defer and self._ocr_busy(future):  # behind other scans: the mail behind it goes first now
                    self._defer(item, future)
                    return item, Deferred(item.source_id)
            except Exception as exc:
                self._forget(future)
                return item, exc
        self._forget(future)
        envelope.raw = item.raw
        return item, envelope

    def _forget(self, future: Future[Envelope]) -> None:
        self._started.pop(future, None)
        self._lane_of.pop(future, None)

    @property
    def limit(self) -> float:
        """Seconds a message's analysis may take (see limit())."""
        return limit(self.config)

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
        if not self._pools or self._deferred or self._started:
            return None  # none running, or busy (a deferred analysis wakes the daemon when done)
        return max(0.0, self.config.worker_idle_seconds - (time.monotonic() - self._last_used)) + 0.1

    def trim(self) -> bool:
        """End the worker processes after [mailbot] worker_idle_seconds without work; True when it did.
        They start again with the next message (a worker holds tens of MB, more once OCR was loaded)."""
        if not self._pools or self._deferred or self._started:
            return False
        if time.monotonic() - self._last_used < self.config.worker_idle_seconds:
            return False
        pools, self._pools = self._pools, {}
        for pool in pools.values():
            pool.shutdown(wait=True, cancel_futures=True)
        log.info("worker processes idle for %.0f s: ended", self.config.worker_idle_seconds)
        return True

    def _kill_pool(self, lane: str | None = None) -> None:
        """End a lane's workers now (`None`: every lane), whatever they are doing (Python 3.11 has no
        terminate_workers()). Its analyses in flight are forgotten: submitted again as they come up."""
        for name in [lane] if lane is not None else ["plain", "ocr"]:
            pool = self._pools.pop(name, None)
            if pool is not None:
                _end(pool)
            gone = {f for f, of in self._lane_of.items() if of == name}
            for future in gone:
                self._forget(future)
            self._again -= gone
            for source_id in [s for s, f in self._deferred.items() if f in gone]:
                del self._deferred[source_id]

    def close(self) -> None:
        """At exit: anything still in flight is uncommitted and will be analysed again next time."""
        self._kill_pool()
