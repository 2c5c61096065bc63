"""A pass over the mailbox: record what the source holds, committing in groups.

Analysis runs ahead in worker processes while the main process records; each group of up to
COMMIT_EVERY messages (or COMMIT_SECONDS) is made durable in one write per changed table file,
then the source marks its messages done, and a thread sends the group's replies. One message
that breaks a stage is set aside, never allowed to stop the pass: if it had already written part
of its records, the group is done again without it (Group.redo). A register that cannot be
written (a full disk) ends the pass, keeps the messages in the mailbox, and is one incident.
"""

from __future__ import annotations

import copy
import functools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mailbot.analysis.workers import Analyser, Deferred
from mailbot.envelope import Envelope
from mailbot.errors import StoreError
from mailbot.intake.sources import Incoming
from mailbot.replies.outbox import Sender

if TYPE_CHECKING:
    from mailbot.pipeline import Runner, Source

log = logging.getLogger(__name__)

COMMIT_EVERY = 32  # messages recorded per group commit
COMMIT_SECONDS = 0.5  # ... or after this long, whichever comes first


@dataclass
class PassResult:
    recorded: int = 0
    duplicates: int = 0
    errors: int = 0
    dispositions: dict[str, int] = field(default_factory=dict)
    sent: int = 0  # replies sent alongside the pass
    failed: int = 0
    store_error: str | None = None  # the register could not be written (a full disk): nothing was lost


@dataclass
class Group:
    """The messages recorded since the last group commit: what the source marks done once it is
    durable, and how to record each again should a later message's failure undo the group."""

    items: list[tuple[Incoming, str | None]] = field(default_factory=list)
    redo: list[Callable[[], object]] = field(default_factory=list)
    recorded: list[str] = field(default_factory=list)  # dispositions of the new records, counted once committed

    def add(self, item: Incoming, disposition: str | None, again: Callable[[], object] | None = None) -> None:
        self.items.append((item, disposition))
        if again is not None:
            self.redo.append(again)

    def clear(self) -> None:
        self.items.clear()
        self.redo.clear()
        self.recorded.clear()


def run_pass(
    runner: Runner, source: Source, stop: threading.Event | None = None, send_alongside: bool = False
) -> PassResult:
    """Record what the source holds, committing in groups (one write per changed table file).

    With `send_alongside`, a thread sends the replies of each group once it is committed,
    while the next group is analysed (for a backlog); else the caller flushes after.
    """
    result = PassResult()
    sender = Sender(lambda: runner.flush(stop=stop)) if send_alongside else None
    analyser = runner.analyser or Analyser(runner.config, 1)
    wanted = lambda item: item.source_id not in runner._set_aside and runner.is_new(item)  # noqa: E731
    group = Group()
    started = time.monotonic()
    claim = getattr(source, "claim", None)  # a per-message fence on the server (imap_claim)
    try:
        defer = analyser.isolate and bool(getattr(source, "defers", False))
        for item, analysed in analyser.stream(source.pending(), wanted, runner.beat, stop, defer=defer):
            runner.beat()
            if stop is not None and stop.is_set():
                break
            if item.source_id in runner._set_aside:
                continue
            if isinstance(analysed, Deferred):  # a long scan: recorded by a later pass, the source keeps it
                source.hold(item)  # type: ignore[attr-defined]
                continue
            if claim is not None and runner.is_new(item):
                verdict, holder = claim(item)
                if verdict == "gone":
                    continue  # expunged, or claimed by another instance meanwhile: not ours to record
                if verdict == "other":
                    _claimed_elsewhere(runner, group, item, holder)
                    continue
            before = runner.store.changes
            # process() fills in the envelope: a redo of the group starts again from this copy
            pristine = copy.deepcopy(analysed) if isinstance(analysed, Envelope) else None
            try:
                if isinstance(analysed, BaseException):
                    raise analysed
                with runner.lock:
                    envelope = runner.process(item, analysed)
            except (OSError, StoreError) as exc:
                _store_failed(runner, result, exc, group, item.source_id)
                break  # the disk or the state is in trouble: stop this pass, keep the messages
            except Exception as exc:  # a bug or a record that cannot be stored: set the message aside
                result.errors += 1
                log.exception("message %s set aside after an unexpected error", item.source_id)
                runner._set_aside.add(item.source_id)
                try:
                    with runner.lock:
                        if runner.store.changes != before:  # it left part of its records: undo them
                            _redo(runner, group)
                        runner._set_aside_record(item, exc)
                except (OSError, StoreError) as err:
                    _store_failed(runner, result, err, group, item.source_id)
                    break
                except Exception:
                    log.exception("could not record the set-aside message %s", item.source_id)
                    continue
                group.add(item, "error", functools.partial(runner._set_aside_record, item, exc))
            else:
                if envelope is None:
                    result.duplicates += 1
                    group.add(item, runner._recorded_disposition(item))
                else:
                    group.recorded.append(envelope.disposition or "?")
                    group.add(
                        item,
                        envelope.disposition,
                        functools.partial(runner._process_again, item, pristine),
                    )
            if len(group.items) >= COMMIT_EVERY or time.monotonic() - started > COMMIT_SECONDS:
                try:
                    _commit(runner, source, group, result)
                except StoreError as exc:
                    _store_failed(runner, result, exc, group, rolled_back=True)
                    break
                if sender is not None:
                    sender.wake()
                started = time.monotonic()
    finally:
        try:
            _commit(runner, source, group, result)
        except StoreError as exc:
            _store_failed(runner, result, exc, group, rolled_back=True)
        finally:
            if sender is not None:
                sender.stop(runner.beat)
                result.sent, result.failed = sender.sent, sender.failed
    return result


def _redo(runner: Runner, group: Group) -> None:
    """Forget every uncommitted change, then record the group's earlier messages again:
    what a failed message had half written never reaches the disk (rare; costs a re-read)."""
    runner.store.rollback()
    for again in group.redo:
        again()


def _claimed_elsewhere(runner: Runner, group: Group, item: Incoming, holder: str) -> None:
    """Another instance claimed this message first: it may have recorded and answered it, so it is
    never answered here; it goes to staff, who see which instance had it."""
    reason = (
        f"thư đã được một phiên bản mailbot khác (mã {holder}) nhận xử lý trên máy chủ thư: "
        "không ghi nhận, không trả lời tự động; đề nghị kiểm tra người gửi đã nhận thư báo chưa"
    )
    log.warning(
        "message %s was claimed by another mailbot instance (%s): set aside, not answered", item.source_id, holder
    )
    with runner.lock:
        runner._set_aside_record(item, None, reason)
    group.add(item, "error", functools.partial(runner._set_aside_record, item, None, reason))


def _commit(runner: Runner, source: Source, group: Group, result: PassResult) -> None:
    """Check the source is still ours, make the group durable, count it, then let the source mark
    its messages done.

    A message the source cannot mark (a lost connection) is found again by the next
    scan, recognised as recorded, and marked then. An IMAP source that lost its lease (a frozen
    holder, the lease folder deleted) refuses the commit: the group is forgotten, nothing of it
    is written or sent, and its messages stay in the mailbox for the instance that holds it.
    """
    keep = getattr(source, "keep", None)
    if keep is not None and group.items:
        try:
            keep()
        except Exception:
            with runner.lock:
                runner.store.rollback()
            if group.recorded:  # their "recorded" log lines are void: say so
                log.warning(
                    "the mailbox is not ours any more: the last %d messages were not recorded after all "
                    "and are left in the mailbox for the instance that holds it",
                    len(group.recorded),
                )
            group.clear()
            raise
    try:
        with runner.lock:
            runner.store.commit()
    except StoreError:
        group.clear()  # rolled back, so not done: the next pass finds them again
        raise
    if group.items:
        runner.store_fine()
    result.recorded += len(group.recorded)
    for name in group.recorded:
        result.dispositions[name] = result.dispositions.get(name, 0) + 1
    try:
        source.done(group.items)
    finally:
        group.clear()


def _store_failed(
    runner: Runner,
    result: PassResult,
    exc: BaseException,
    group: Group,
    source_id: str | None = None,
    rolled_back: bool = False,
) -> None:
    """The register cannot be written: forget the uncommitted group (its messages stay in the
    mailbox, not marked done) and say so once; the next pass tries again. `rolled_back`: a
    failed Store.commit() has already read the register again."""
    result.errors += 1
    result.store_error = str(exc)
    runner.store_trouble(exc, f"cannot record {source_id or 'this group'}, will retry on the next pass")
    if not rolled_back:
        with runner.lock:
            runner.store.rollback()
    group.clear()
