"""The atomic TinyDB storage and the segmented tables."""

from __future__ import annotations

import json

import pytest

from mailbot.errors import StoreError
from mailbot.register.storage import AtomicJSONStorage, SegmentedTable
from mailbot.register.store import Store


def test_segments_stay_bounded_and_reopen(tmp_path) -> None:
    table = SegmentedTable(tmp_path / "t", segment_size=10)
    for i in range(35):
        assert table.insert({"key": f"k{i}", "n": i})
    assert not table.insert({"key": "k3", "n": 99})  # a key is recorded once
    table.update("k3", {"n": -3})
    assert not (tmp_path / "t" / "000001.json").exists()  # nothing is written before flush()
    table.flush()
    table.close()
    files = sorted(p.name for p in (tmp_path / "t").iterdir())
    assert files == ["000001.json", "000002.json", "000003.json", "000004.json"]
    for f in (tmp_path / "t").iterdir():
        assert len(json.loads(f.read_text())["records"]) <= 10
    again = SegmentedTable(tmp_path / "t", segment_size=10)
    assert len(again) == 35
    assert again.get("k3")["n"] == -3
    assert [d["n"] for d in again.all()][:5] == [0, 1, 2, -3, 4]
    assert again.insert({"key": "k35", "n": 35})
    assert again.get("k35")["n"] == 35


def test_a_damaged_file_is_refused_and_never_overwritten(tmp_path) -> None:
    table = SegmentedTable(tmp_path / "t")
    table.insert({"key": "a"})
    table.flush()
    table.close()
    segment = tmp_path / "t" / "000001.json"
    segment.write_bytes(b'{"records": {"1": {"key": "a"')  # a torn write, as JSONStorage can leave
    with pytest.raises(StoreError) as info:
        SegmentedTable(tmp_path / "t")
    assert str(segment) in str(info.value) and "backup" in str(info.value)
    assert segment.read_bytes() == b'{"records": {"1": {"key": "a"'


def test_stale_temporary_files_are_removed(tmp_path) -> None:
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / ".000001.json.123.tmp").write_bytes(b"partial")
    SegmentedTable(tmp_path / "t").close()
    assert list((tmp_path / "t").iterdir()) == []


def test_failed_write_leaves_the_old_file_and_forgets_the_cache(tmp_path, monkeypatch) -> None:
    storage = AtomicJSONStorage(tmp_path / "x.json")
    storage.write({"a": 1})
    storage.flush()

    def boom(*_a, **_k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("mailbot.durable.os.replace", boom)
    data = storage.read()
    data["b"] = 2
    storage.write(data)
    with pytest.raises(OSError):
        storage.flush()
    monkeypatch.undo()
    assert json.loads((tmp_path / "x.json").read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]


def test_store_rollback_forgets_what_was_not_committed(tmp_path) -> None:
    store = Store(tmp_path)
    store.record_message({"key": "m1"})
    store.commit()
    store.record_message({"key": "m2"})
    assert store.has_message("m2")
    store.rollback()
    assert store.has_message("m1") and not store.has_message("m2")
    store.close()


def test_a_failed_commit_rolls_back_and_says_so(tmp_path, monkeypatch) -> None:
    store = Store(tmp_path)
    store.record_message({"key": "m1"})

    def full(*_a, **_k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("mailbot.durable.os.replace", full)
    with pytest.raises(StoreError, match="No space left"):
        store.commit()
    monkeypatch.undo()
    assert not store.has_message("m1")
    store.close()


def test_blobs_are_named_by_hash_only(tmp_path) -> None:
    store = Store(tmp_path)
    digest = store.put_blob(b"noi dung", "file")
    assert store.blob_path(digest, "file").read_bytes() == b"noi dung"
    assert store.blob_path(digest, "file").parent.parent == tmp_path / "files"
    with pytest.raises(ValueError):
        store.blob_path("../../etc/passwd", "file")
    store.close()


def test_receipts_versions_and_redo(tmp_path) -> None:
    store = Store(tmp_path)
    base = {
        "campaign": "c",
        "organization": "o",
        "document": "plan",
        "received_at": "2021-03-29T02:15:00+00:00",
        "on_time": True,
        "files": [],
    }
    r1 = store.receipt_for("m1", "c", "BC2021")
    s1 = store.add_submission({**base, "key": "m1#c#plan", "receipt": r1, "message_key": "m1"})
    assert (r1, s1["version"]) == ("BC2021-0001", 1)
    assert store.receipt_for("m1", "c", "BC2021") == "BC2021-0001"  # a redo reuses it
    assert store.add_submission({**base, "key": "m1#c#plan", "receipt": r1, "message_key": "m1"}) == s1
    r2 = store.receipt_for("m2", "c", "BC2021")
    s2 = store.add_submission({**base, "key": "m2#c#plan", "receipt": r2, "message_key": "m2"})
    assert (r2, s2["version"]) == ("BC2021-0002", 2)
    store.close()  # commits
    again = Store(tmp_path)
    assert again.latest_submission("c", "o", "plan")["receipt"] == "BC2021-0002"
    assert again.first_submission("c", "o", "plan")["receipt"] == "BC2021-0001"
    assert again.receipt_for("m3", "c", "BC2021") == "BC2021-0003"
    again.close()
