"""A short sample of bench/fuzz.py in CI: 1,500 coverage-guided inputs through parse + classify."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_a_short_fuzzing_run_finds_no_crash(tmp_path) -> None:
    pytest.importorskip("atheris", reason="atheris is in the test extras: pip install -e '.[test]'")
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "fuzz.py"),
            "-runs=1500",
            "-max_len=65536",
            "-rss_limit_mb=2048",
            "-timeout=20",
            "-seed=2021",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Done 1500 runs" in done.stderr
    assert not list(tmp_path.glob("crash-*")) and not list(tmp_path.glob("timeout-*"))
