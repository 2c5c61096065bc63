"""Word 97–2003 (.doc) and RTF files, still common in Vietnamese offices.

.doc: Debian's `antiword` (GPL, a separate program: no Python library reads Word's binary format),
run with a time and memory limit on a private temporary copy; its tables come out as "|cell|cell|"
lines, which the duty-list reader splits. RTF: `striprtf`, pure Python; Word writes Vietnamese as
\\uN escapes, which it decodes, and table cells as "|".
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

from mailbot.analysis.readers import confine
from mailbot.errors import ReaderError

ANTIWORD_SECONDS = 20
ANTIWORD_MEMORY = 512 * 1024 * 1024  # address space of the converter
MAX_OUTPUT = 4 * 1024 * 1024


def antiword() -> str | None:
    return shutil.which("antiword")


def read_doc(data: bytes) -> str:
    program = antiword()
    if program is None:
        raise ReaderError("máy chủ chưa cài antiword (apt-get install antiword): chưa đọc được tệp Word .doc")
    with tempfile.TemporaryDirectory(prefix="mailbot-doc-") as folder:
        path = os.path.join(folder, "file.doc")  # a fixed name: the sender's name never reaches a path
        with open(path, "wb") as fh:
            fh.write(data)
        try:
            done = subprocess.run(
                [program, "-m", "UTF-8.txt", "-w", "0", path],
                capture_output=True,
                timeout=ANTIWORD_SECONDS,
                preexec_fn=confine.limits(ANTIWORD_MEMORY, ANTIWORD_SECONDS),
                env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
            )
        except subprocess.TimeoutExpired:
            raise ReaderError(f"đọc tệp Word .doc quá {ANTIWORD_SECONDS} giây: bỏ qua nội dung") from None
    if done.returncode != 0:
        detail = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise ValueError(f"antiword: {detail[0] if detail else done.returncode}")
    return done.stdout[:MAX_OUTPUT].decode("utf-8", errors="replace")


def read_rtf(data: bytes) -> str:
    from striprtf.striprtf import rtf_to_text

    text = data[:MAX_OUTPUT].decode("latin-1")  # RTF is 7-bit; \\'xx and \\uN escapes carry the rest
    return rtf_to_text(text, encoding="cp1258", errors="replace")
