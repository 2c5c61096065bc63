"""Fetch the public test-mail corpora that tests/test_poison.py runs through the whole runner.

mail-parser's own test mails come from its source distribution on PyPI (the version installed
here), unpacked into .corpora/mail-parser/ on first use. CPython's email test data needs nothing:
it ships with the interpreter's `test` package.
"""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def mail_parser(target: Path) -> int:
    if target.is_dir() and any(target.iterdir()):
        return len(list(target.iterdir()))
    version = importlib.metadata.version("mail-parser")
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "-q",
                "--no-deps",
                "--no-binary",
                ":all:",
                "-d",
                tmp,
                f"mail-parser=={version}",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        [sdist] = Path(tmp).glob("*.tar.gz")
        target.mkdir(parents=True, exist_ok=True)
        with tarfile.open(sdist) as tar:
            for member in tar.getmembers():
                parts = Path(member.name).parts
                if member.isfile() and len(parts) == 4 and parts[1:3] == ("tests", "mails"):
                    source = tar.extractfile(member)
                    if source is not None:
                        (target / parts[3]).write_bytes(source.read())
    return len(list(target.iterdir()))


if __name__ == "__main__":
    print(f"mail-parser test mails: {mail_parser(ROOT / '.corpora' / 'mail-parser')}")
