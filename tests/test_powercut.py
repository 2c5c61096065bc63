"""A power cut loses nothing: files checked against their hash, replies never sent empty, sent
marks and blobs fsynced, also on FUSE (where syncfs does nothing); under real power cuts with LazyFS
(tests/lazyfs.py) when it is built, skipped with the reason otherwise."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os

import pytest

from mailbot.errors import BlobDamaged
from mailbot.register.blobs import Blobs
from mailbot.register.store import Store
from mailbot.replies.outbox import DirectoryTransport, flush
from tests import lazyfs

NOW = dt.datetime(2021, 3, 29, 9, 15, tzinfo=dt.timezone.utc)
REPLY = b"From: pbcvt@dongthap.gov.vn\r\nMessage-ID: <ack.1@dongthap.gov.vn>\r\nSubject: x\r\n\r\nDa nhan.\r\n"


def queue_reply(store: Store, key: str = "ack.1@dongthap.gov.vn", raw: bytes = REPLY) -> dict:
    return store.enqueue(
        {
            "key": key,
            "kind": "ack",
            "to": ["kt@vnpt.vn"],
            "subject": "x",
            "raw_sha256": store.put_blob(raw, "raw", durable=False),
            "created_at": NOW.isoformat(),
            "status": "pending",
            "attempts": 0,
        }
    )


# -- a file left empty or torn by a cut is never trusted ------------------------------------


@pytest.mark.parametrize("left", [b"", b"From: pbcvt@dongthap.gov.vn\r\nMessage-ID: <ack"])
def test_an_empty_or_torn_blob_is_written_again_from_the_source(tmp_path, left) -> None:
    blobs = Blobs(tmp_path)
    path = blobs.path(hashlib.sha256(REPLY).hexdigest(), "raw")
    path.parent.mkdir(parents=True)
    path.write_bytes(left)  # the name reached the disk, the data did not (all or part)
    digest = blobs.put(REPLY, "raw")
    assert path.read_bytes() == REPLY
    assert blobs.read(digest, "raw") == REPLY


def test_a_damaged_blob_is_never_read_as_good(tmp_path) -> None:
    blobs = Blobs(tmp_path)
    digest = blobs.put(REPLY, "raw")
    path = blobs.path(digest, "raw")
    for damage in (b"", REPLY[:-3], REPLY.replace(b"Da", b"Xa")):
        path.write_bytes(damage)
        with pytest.raises(BlobDamaged) as info:
            blobs.read(digest, "raw")
        assert path.name in str(info.value)
    path.unlink()
    with pytest.raises(BlobDamaged):
        blobs.read(digest, "raw")


def test_a_reply_whose_copy_is_damaged_is_held_and_said_never_sent_empty(tmp_path, caplog) -> None:
    store = Store(tmp_path / "state")
    mail = queue_reply(store)
    store.commit()
    store.blob_path(mail["raw_sha256"], "raw").write_bytes(b"")  # what the old syncfs-on-FUSE left
    sent = tmp_path / "sent"
    with caplog.at_level(logging.ERROR):
        result = flush(store, DirectoryTransport(sent), "pbcvt@dongthap.gov.vn", NOW, dry_run=True)
    assert result.sent == 0 and result.failed == 1
    assert not sent.exists() or list(sent.iterdir()) == []  # nothing went out, empty or not
    stored = store.outbox.get(mail["key"])
    assert stored["status"] == "failed" and "hỏng" in stored["last_error"]
    assert any("NOT SENT" in r.getMessage() for r in caplog.records)
    store.close()
    again = Store(tmp_path / "state")  # the decision is on disk: not retried empty after a restart
    assert again.outbox.get(mail["key"])["status"] == "failed"
    assert again.pending_mail() == []
    again.close()


def test_a_mail_queued_but_not_committed_is_neither_sent_nor_written_by_a_sent_mark(tmp_path) -> None:
    """The sending thread marks mails while the main thread queues the next group: a mark must not
    carry the new group's mails to disk before their files and message are durable."""
    store = Store(tmp_path / "state")
    first = queue_reply(store)
    store.commit()
    second = queue_reply(store, "ack.2@dongthap.gov.vn", REPLY.replace(b"ack.1", b"ack.2"))
    assert [m["key"] for m in store.pending_mail()] == [first["key"]]  # the second is not committed
    store.update_mail(first["key"], {"status": "sent"})
    store.commit_outbox()
    on_disk = json.loads((tmp_path / "state" / "db" / "outbox" / "000001.json").read_bytes())["records"]
    assert {r["key"]: r["status"] for r in on_disk.values()} == {first["key"]: "sent"}
    store.commit()
    assert [m["key"] for m in store.pending_mail()] == [second["key"]]
    store.close()


def test_an_empty_leftover_temp_file_in_the_register_is_ignored(tmp_path) -> None:
    store = Store(tmp_path / "state")
    queue_reply(store)
    store.commit()
    store.close()
    leftover = tmp_path / "state" / "db" / "outbox" / ".000001.json.4242.tmp"
    leftover.write_bytes(b"")  # a cut between creating the temp file and its fsync
    again = Store(tmp_path / "state")
    assert len(again.outbox) == 1 and not leftover.exists()
    again.close()


# -- real power cuts: LazyFS drops what was not fsynced -------------------------------------


def need_lazyfs() -> None:
    why = lazyfs.unavailable()
    if why:  # .ci/run does not build LazyFS (its source is fetched from GitHub): skipped there too
        pytest.skip(why)


@pytest.fixture
def lazy(tmp_path):
    need_lazyfs()
    fs = lazyfs.LazyFS(tmp_path / "disk", tmp_path / "mnt", tmp_path / "lazyfs")
    fs.start()
    try:
        yield fs
    finally:
        fs.close()


def test_lazyfs_drops_what_was_not_fsynced(lazy) -> None:
    """The layer itself: otherwise the tests below would prove nothing."""
    (lazy.mount / "a").write_bytes(b"lost")
    os.replace(lazy.mount / "a", lazy.mount / "b")
    lazy.power_cut()
    assert (lazy.mount / "b").read_bytes() == b""  # the name survived, the data did not


def test_a_sent_mark_survives_a_power_cut_and_the_register_opens(lazy) -> None:
    store = Store(lazy.mount / "state")
    mail = queue_reply(store)
    store.commit()
    store.update_mail(mail["key"], {"status": "sent", "sent_at": NOW.isoformat()})
    store.commit_outbox()
    lazy.power_cut()
    again = Store(lazy.mount / "state")  # was: outbox/000001.json at 0 bytes, StateDamaged, exit 3
    assert again.outbox.get(mail["key"])["status"] == "sent"
    again.close()


def test_files_written_by_workers_survive_a_power_cut_on_fuse(lazy) -> None:
    """Written without fsync (as a worker process does), made durable by the commit: on FUSE
    syncfs(2) returns 0 and syncs nothing, so each file is fsynced."""
    store = Store(lazy.mount / "state")
    worker = Blobs(lazy.mount / "state")
    digests = [worker.put(b"attachment %d " % n * 500, "file", durable=False) for n in range(20)]
    store.blobs.unsynced.extend(worker.unsynced)
    store.commit()
    lazy.power_cut()
    blobs = Blobs(lazy.mount / "state")
    assert all(blobs.intact(d, "file") for d in digests)


def test_check_says_the_state_folder_is_on_fuse(lazy, tmp_path) -> None:
    from mailbot import config as configmod
    from mailbot.staff.check import check_filesystem
    from tests.conftest import write_config

    path = write_config(tmp_path)
    text = path.read_text(encoding="utf-8").replace('state_dir = "state"', f'state_dir = "{lazy.mount / "state"}"')
    path.write_text(text, encoding="utf-8")
    line = check_filesystem(configmod.load(path))
    assert line.warning and "fuse.lazyfs" in str(line) and "cục bộ" in str(line)
    (tmp_path / "local").mkdir()
    local = check_filesystem(configmod.load(write_config(tmp_path / "local")))
    assert local.ok and not local.warning


def test_power_cuts_while_a_backlog_is_worked_lose_nothing(tmp_path) -> None:
    """A small version of bench/powercut.py (figures in docs/reliability.md)."""
    from tests.powercut import run

    need_lazyfs()
    figures = run(tmp_path / "run", cuts=3, copies=1, seed=7)
    print("\n" + figures.line())
    assert figures.refused_starts == 0, figures.refusal
    assert figures.cuts_while_working >= 1, "a cut must land while mailbot works"
    assert figures.recorded == figures.messages and figures.recorded_twice == 0
    assert figures.left_in_mailbox == 0
    assert figures.acknowledged == figures.submissions and figures.doubles == 0
    assert figures.empties == 0 and figures.damaged_files == 0 and figures.held == 0
    assert figures.resent_same_id <= figures.cuts_while_working  # at most the mail a cut interrupted
