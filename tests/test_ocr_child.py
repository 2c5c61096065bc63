"""The OCR child (readers/ocrjob.py) never outlives the worker that started it, and has a CPU limit:
real processes, watched through /proc."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mailbot.analysis.readers import confine, ocrjob
from tests import scans

needs_ocr = pytest.mark.skipif(
    ocrjob.available() is not None and not os.environ.get("CI"),
    reason=f"OCR is not available here: {ocrjob.available()}",
)

WORKER = (
    "import sys; from mailbot.analysis.readers import ocrjob; "
    "ocrjob.run(open(sys.argv[1], 'rb').read(), 'pdf', 20, float(sys.argv[2]))"
)


def children(parent: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("PPid:"))
        if ppid == parent and b"mailbot.analysis.readers.ocrjob" in cmdline:
            found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    """Running, not a zombie waiting for whoever adopted it to reap it."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    state = next(line.split()[1] for line in status.splitlines() if line.startswith("State:"))
    return state not in ("Z", "X")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def cpu_limit(pid: int) -> str:
    limits = Path(f"/proc/{pid}/limits").read_text()
    return next(line for line in limits.splitlines() if line.startswith("Max cpu time"))


def start_worker(tmp_path: Path, seconds: float) -> tuple[subprocess.Popen[bytes], int]:
    scan = tmp_path / "scan.pdf"
    scan.write_bytes(scans.multipage_pdf([scans.duty_list() for _ in range(20)]))  # shared by 2 children
    worker = subprocess.Popen([sys.executable, "-c", WORKER, str(scan), str(seconds)], stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = children(worker.pid)
        if found:
            return worker, found[0]
        assert worker.poll() is None, worker.stderr.read() if worker.stderr else ""
        time.sleep(0.05)
    worker.kill()
    pytest.fail("the worker started no OCR child within 30 s")


@needs_ocr
def test_the_ocr_child_dies_with_a_killed_worker(tmp_path) -> None:
    worker, child = start_worker(tmp_path, 600)
    try:
        # past reading the file and the imports: reading pages (killed earlier, it would stop at a cut file)
        deadline = time.monotonic() + 60
        while cpu_seconds(child) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert alive(child)
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)
        deadline = time.monotonic() + 3
        while alive(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not alive(child), "the OCR child runs on after its worker was killed"
    finally:
        if alive(child):
            os.kill(child, signal.SIGKILL)


@needs_ocr
def test_the_ocr_child_has_a_cpu_limit_of_its_time_budget(tmp_path) -> None:
    worker, child = start_worker(tmp_path, 90)
    try:
        assert cpu_limit(child).split()[3:5] == ["90", "91"], cpu_limit(child)
    finally:
        worker.kill()
        worker.wait(timeout=10)


def test_a_confined_program_stops_at_its_cpu_limit() -> None:
    started = time.monotonic()
    busy = subprocess.run([sys.executable, "-c", "while True: pass"], preexec_fn=confine.limits(1 << 30, 1), timeout=30)
    assert busy.returncode in (-signal.SIGXCPU, -signal.SIGKILL)
    assert time.monotonic() - started < 10


def test_a_confined_program_whose_parent_died_before_it_started_ends_at_once() -> None:
    """The race prctl leaves open: the parent gone between fork and prctl. The child then ends."""
    script = (
        "import os, sys, time; from mailbot.analysis.readers import confine; "
        "confine.die_with_parent(int(sys.argv[1])); time.sleep(30)"
    )
    started = time.monotonic()
    # the 'parent' named is not our pid: as if the real parent had died and we had been adopted
    done = subprocess.run([sys.executable, "-c", script, str(os.getpid() + 1_000_000)], timeout=30)
    assert done.returncode == 1
    assert time.monotonic() - started < 10
