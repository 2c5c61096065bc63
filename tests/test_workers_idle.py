"""Worker processes start with the first mail and end after [mailbot] worker_idle_seconds without
work; the next mail starts them again and is answered as before."""

from __future__ import annotations

import signal
import time
from pathlib import Path

from tests.conftest import build, daemon, deliver, write_config


def children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            text = (task / "children").read_text().split()
        except FileNotFoundError:  # a thread that ended while we looked
            continue
        found.update(int(c) for c in text)
    return found


def workers(pid: int) -> set[int]:
    """Child processes running multiprocessing's spawn_main (the workers), not its resource tracker."""
    out = set()
    for child in children(pid):
        try:
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
        except FileNotFoundError:
            continue
        if b"spawn_main" in cmdline:
            out.add(child)
    return out


def wait_for(condition, seconds: float) -> bool:  # noqa: ANN001
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def test_workers_start_on_demand_and_end_when_idle(tmp_path, smtp_server) -> None:
    recorder, port = smtp_server
    path = write_config(tmp_path, port, {r"(?m)^workers = .*$": "workers = 1\nworker_idle_seconds = 2"})
    child = daemon(path)
    try:
        time.sleep(1.0)
        assert workers(child.pid) == set()  # none before the first mail
        for n in (1, 2):
            deliver(
                tmp_path, build(sender=f"kt{n}@vnpt.vn", subject="Phương án", files=(("PA.docx", b"pa"),)), f"{n}.eml"
            )
            assert wait_for(lambda: len(recorder.messages) == n, 20)
            assert workers(child.pid)  # started for it
            assert wait_for(lambda: not workers(child.pid), 10)  # ended 2 s after
    finally:
        child.send_signal(signal.SIGTERM)
        _, err = child.communicate(timeout=30)
    assert err.count("worker processes idle for 2 s: ended") == 2
