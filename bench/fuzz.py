"""Coverage-guided fuzzing of parse + classify with atheris (libFuzzer), seeded with the golden fixtures.

    .venv/bin/pip install -e '.[fuzz]'
    .venv/bin/python bench/fuzz.py -runs=200000 -max_len=65536 -rss_limit_mb=2048 -timeout=20

Any exception out of classify_bytes (which must record whatever it is given, with its
defects) or a run over the time or memory limit is a crash: libFuzzer stops and writes
the input to crash-*/timeout-*/oom-* in the current folder. The corpus grows in
.fuzz-corpus/ (seeded with tests/fixtures/eml/*.eml).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import atheris

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

with atheris.instrument_imports():
    from mailbot import config as configmod
    from mailbot.analysis.classify import classify_bytes

CONFIG = configmod.load(configmod.example_path())
DISPOSITIONS = {"automated", "suspicious", "unknown-sender", "submission", "correspondence"}


def one_input(data: bytes) -> None:
    envelope = classify_bytes(data, CONFIG)
    if envelope.disposition not in DISPOSITIONS or not envelope.reasons:
        raise AssertionError(f"no decision for the input: {envelope.disposition!r}")


def main() -> None:
    corpus = Path(".fuzz-corpus")
    if not corpus.is_dir():
        corpus.mkdir()
        for eml in sorted((ROOT / "tests" / "fixtures" / "eml").glob("*.eml")):
            shutil.copy(eml, corpus / eml.name)
    atheris.Setup([sys.argv[0], str(corpus), *sys.argv[1:]], one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
