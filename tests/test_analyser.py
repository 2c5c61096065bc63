"""The daemon's analysis in worker processes: a hung or crashing parse is set aside, never the daemon."""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import threading
import time
from collections.abc import Mapping

import pytest

from mailbot import config as configmod
from mailbot.analysis import workers
from mailbot.analysis.workers import Abandoned, Analyser, AnalysisTimeout
from mailbot.envelope import Envelope
from mailbot.intake.sources import Incoming
from tests.conftest import build, write_config


def hang_or_die(
    raw: bytes, source_id: str, delivered: object, config: configmod.Config, known: Mapping[str, str] | None
) -> Envelope:
    """Runs in the worker: a parser stuck for an hour, or a worker killed (as by the OOM killer)."""
    if b"X-Test: hang" in raw:
        time.sleep(3600)
    if b"X-Test: die" in raw:
        os._exit(9)
    return workers._analyse_remote(raw, source_id, delivered, config, known)


def item(name: str, header: str | None = None) -> Incoming:
    raw = build(
        subject=f"Phương án {name}", files=((f"{name}.docx", b"x"),), headers={"X-Test": header} if header else None
    )
    return Incoming(source_id=name, raw=raw, delivered=None)


@pytest.fixture
def analyser(tmp_path, monkeypatch):
    # no OCR: its budget would be added to the 3 s (hang_or_die reads no scan)
    config = dataclasses.replace(configmod.load(write_config(tmp_path)), max_ocr_pages=0, analyse_seconds=3)
    made = Analyser(config, 1, isolate=True, task=hang_or_die)
    yield made
    made.close()


def test_a_hung_parse_is_given_up_and_the_next_message_analysed(analyser) -> None:
    beats: list[float] = []
    started = time.monotonic()
    results = list(
        analyser.stream(
            [item("a"), item("b", "hang"), item("c")], lambda _: True, beat=lambda: beats.append(time.monotonic())
        )
    )
    elapsed = time.monotonic() - started
    assert [type(r).__name__ for _, r in results] == ["Envelope", "AnalysisTimeout", "Envelope"]
    assert str(results[1][1]) == "phân tích thư quá 3 giây"
    assert results[2][1].disposition == "submission"  # type: ignore[union-attr]
    assert 3 <= elapsed < 30
    assert len(beats) >= 3 and max(b - a for a, b in zip(beats, beats[1:])) < 2  # the watchdog kept fed


def test_a_worker_that_dies_twice_on_a_message_sets_it_aside(analyser) -> None:
    results = list(analyser.stream([item("a", "die"), item("b")], lambda _: True))
    assert isinstance(results[0][1], AnalysisTimeout) and "hai lần" in str(results[0][1])
    assert isinstance(results[1][1], Envelope)


def test_sigterm_abandons_a_long_parse_at_once_and_close_leaves_no_worker(analyser) -> None:
    stop = threading.Event()
    threading.Timer(0.5, stop.set).start()
    started = time.monotonic()
    [(_, result)] = list(analyser.stream([item("a", "hang")], lambda _: True, stop=stop))
    assert isinstance(result, Abandoned) and time.monotonic() - started < 3
    analyser.close()
    deadline = time.monotonic() + 5
    while multiprocessing.active_children() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not multiprocessing.active_children()
