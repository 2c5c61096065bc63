"""No library's Python warning reaches a person or the JSON log: each command, its worker processes
and the OCR child route warnings to the log at DEBUG. The commands run here with every warning forced
on (`-W always` and PYTHONWARNINGS=always), over mail that loads pyhanko (cryptography 51 warns
"DSA is deprecated" when pyhanko imports) and the other readers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from tests.conftest import build, deliver
from tests.signing import VNPT_MST, SigningPKI, plan_pdf, sign_pdf, signed_config

FORCED = {**os.environ, "PYTHONWARNINGS": "always"}
# what a Python warning looks like on stderr: "path.py:20: SomeWarning: text" and the source line under it
FOREIGN = ("Warning:", "warnings.warn", "site-packages")


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-W", "always", "-m", "mailbot", *args],
        capture_output=True,
        text=True,
        env=FORCED,
        cwd=cwd,
        timeout=180,
    )


def foreign(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if any(mark in line for mark in FOREIGN)]


@pytest.fixture
def mailbox(tmp_path, smtp_server) -> Path:
    """A Maildir with a signed plan and a plain duty list, the SMTP server on loopback."""
    pki = SigningPKI(tmp_path / "pki")
    signed = sign_pdf(plan_pdf(), pki.holder("VIỄN THÔNG ĐỒNG THÁP", "VNPT", f"{VNPT_MST}-036"))
    config = signed_config(tmp_path, pki.root_pem, smtp_server[1])
    headers = {"Date": "Mon, 29 Mar 2021 09:15:00 +0700"}  # on time for the 2021 plan
    deliver(tmp_path, build(subject="Phương án", files=(("PA-ky-so.pdf", signed),), headers=headers), "1.eml")
    deliver(tmp_path, build(subject="Danh sách trực", files=(("DS.csv", b"Ho ten,So dien thoai\n"),)), "2.eml")
    return config


def test_a_warning_inside_a_library_goes_to_the_log_at_debug_only(tmp_path) -> None:
    code = (
        "import sys, warnings; from mailbot import logs; logs.route_warnings(); logs.setup(sys.argv[1]);"
        "warnings.warn('a library is deprecated', DeprecationWarning)"
    )
    quiet = subprocess.run([sys.executable, "-W", "always", "-c", code, "WARNING"], capture_output=True, text=True)
    assert quiet.returncode == 0 and quiet.stderr == ""
    debug = subprocess.run([sys.executable, "-W", "always", "-c", code, "DEBUG"], capture_output=True, text=True)
    assert debug.returncode == 0
    [line] = debug.stderr.splitlines()
    assert " DEBUG py.warnings: " in line and "DeprecationWarning: a library is deprecated" in line


def test_commands_print_no_foreign_warning_with_warnings_forced_on(tmp_path, mailbox) -> None:
    config = str(mailbox)
    done = run("check", "--config", config, cwd=tmp_path)
    assert foreign(done.stderr + done.stdout) == [], done.stderr
    assert "chữ ký số" in done.stdout  # the line about document signatures: pyhanko was loaded

    done = run("classify", "--config", config, str(tmp_path / "maildir" / "new" / "1.eml"), cwd=tmp_path)
    assert done.returncode == 0 and done.stderr == ""
    assert json.loads(done.stdout)["signatures"]  # the signature was verified (pyhanko imported)

    done = run("run", "--config", config, "--once", "--log-level", "INFO", "--log-format", "json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stderr.splitlines()]  # every line is JSON
    assert [r["logger"] for r in records if r["logger"] == "py.warnings"] == []
    assert sum(r["message"].startswith("recorded ") for r in records) == 2

    for args in (("status",), ("review",), ("roster", "--format", "csv")):
        done = run(*args, "--config", config, cwd=tmp_path)
        assert done.returncode == 0 and done.stderr == "", (args, done.stderr)


def test_at_debug_the_warnings_are_json_records_of_the_log(tmp_path, mailbox) -> None:
    done = run(
        "--log-level", "DEBUG", "--log-format", "json", "classify", "--config", str(mailbox),
        str(tmp_path / "maildir" / "new" / "1.eml"), cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0
    records = [json.loads(line) for line in done.stderr.splitlines()]  # no bare Python line among them
    warned = [r for r in records if r["logger"] == "py.warnings"]
    assert all(r["level"] == "DEBUG" for r in warned)
    if int(version("cryptography").split(".")[0]) >= 51:  # the warning the issue met: pyhanko's DSA import
        assert any("CryptographyDeprecationWarning" in r["message"] for r in warned), warned
