"""One bad mail never holds the others: raw 8-bit header bytes, a record that cannot be stored,
and public corpora of real-world test mail, each followed by a plan that must be acknowledged."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mailbot import config as configmod
from mailbot.pipeline import Runner
from mailbot.runtime import open_runner, source_for
from tests import corpora
from tests.conftest import ROOT, build, deliver, mailbot, wait_for, write_config
from tests.tools import unavailable

# UTF-8 written straight into the header, as some broken clients do
POISON = (
    "From: Kế toán <kt@vnpt.vn>\r\nTo: pbcvt@dongthap.gov.vn\r\nSubject: thử\r\n"
    "Message-ID: <thư-1@vnpt.vn>\r\nReply-To: kế-toán@vnpt.vn\r\nReferences: <gốc@vnpt.vn>\r\n"
    "Date: Mon, 29 Mar 2021 09:00:00 +0700\r\n"
    "Authentication-Results: mail.dongthap.gov.vn; dmarc=pass header.from=vnpt.vn\r\n\r\n"
    "Nội dung\r\n"
).encode("utf-8")


def plan(n: int = 1) -> bytes:
    return build(
        sender="kt@viettel.com.vn",
        subject=f"Phương án bảo đảm thông tin liên lạc {n}",
        files=((f"PA-{n}.docx", b"pa %d" % n),),
    )


def _records(tmp_path: Path) -> list[dict[str, Any]]:
    out = []
    for path in sorted((tmp_path / "state" / "db" / "messages").glob("*.json")):
        out.extend(json.loads(path.read_text(encoding="utf-8"))["records"].values())
    return out


def test_raw_8bit_headers_are_recorded_decoded_and_the_next_plan_answered(tmp_path, smtp_server) -> None:
    recorder, port = smtp_server
    config = write_config(tmp_path, port)
    deliver(tmp_path, POISON, "1.poison")
    deliver(tmp_path, plan(), "2.plan")
    out = mailbot("run", "--config", str(config), "--once")
    assert out.returncode == 0, out.stderr
    assert not list((tmp_path / "maildir" / "new").iterdir())
    [ack] = recorder.parsed()
    assert ack["To"] == "kt@viettel.com.vn"
    poison = next(r for r in _records(tmp_path) if r["subject"] == "thử")
    assert poison["message_id"] == "thư-1@vnpt.vn" and poison["reply_to"] == ["kế-toán@vnpt.vn"]
    assert poison["from"] == "kt@vnpt.vn" and poison["from_display"] == "Kế toán"
    assert "surrogates" not in out.stderr


def test_the_daemon_goes_on_after_a_poison_mail(tmp_path, smtp_server) -> None:
    recorder, port = smtp_server
    config = write_config(tmp_path, port)
    child = subprocess.Popen(
        [sys.executable, "-m", "mailbot", "run", "--config", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deliver(tmp_path, POISON, "1.poison")
        deliver(tmp_path, plan(), "2.plan")
        wait_for(lambda: len(recorder.messages) == 1, 30, "the plan's acknowledgement")
        deliver(tmp_path, plan(2), "3.plan")
        wait_for(lambda: len(recorder.messages) == 2, 30, "the next plan's acknowledgement")
        assert not list((tmp_path / "maildir" / "new").iterdir())
    finally:
        child.terminate()
        _, err = child.communicate(timeout=15)
    assert child.returncode == 0 and "Traceback" not in err, err


class _Breaking(Runner):
    """A runner whose message record for one subject holds text the register cannot store:
    the failure comes after its submission and reply are already in the uncommitted group."""

    def _record(self, envelope, *args):  # type: ignore[no-untyped-def, override]
        record = super()._record(envelope, *args)
        if "HỎNG" in envelope.parsed.subject:
            record["subject"] = "\udcc3"
        return record


def test_a_record_that_cannot_be_stored_is_set_aside_and_its_group_committed(tmp_path) -> None:
    config = dataclasses.replace(configmod.load(write_config(tmp_path)), dry_run=True)
    for n, subject in enumerate(["Phương án 1", "Phương án HỎNG", "Phương án 3"]):
        deliver(
            tmp_path, build(sender=f"kt{n}@vnpt.vn", subject=subject, files=((f"PA{n}.docx", b"%d" % n),)), f"{n}.eml"
        )
    source = source_for(config)
    with open_runner(config, 1, source) as runner:
        runner.__class__ = _Breaking
        result = runner.run_pass(source)
        assert (result.recorded, result.errors) == (2, 1)
        runner.flush()
    assert not list((tmp_path / "maildir" / "new").iterdir())
    records = {r["subject"] if r.get("subject") else r["disposition"]: r for r in _records(tmp_path)}
    assert set(records) == {"Phương án 1", "Phương án 3", "error"}
    assert "RecordError" in records["error"]["reasons"][0]
    subs = [
        s
        for p in (tmp_path / "state" / "db" / "submissions").glob("*.json")
        for s in json.loads(p.read_text(encoding="utf-8"))["records"].values()
    ]
    # the broken message's half-written submission never reached the disk; the receipts have no gap
    assert sorted(s["receipt"] for s in subs) == ["BC2021-0001", "BC2021-0002"]
    assert {s["message_key"] for s in subs} == {records["Phương án 1"]["key"], records["Phương án 3"]["key"]}
    assert len(list((tmp_path / "state" / "outbox").glob("*.eml"))) == 2


# -- public corpora of real-world test mail ---------------------------------------------------


def corpus_files() -> dict[str, list[Path]]:
    """CPython's email test data (from the installed `test` package), mail-parser's test mails
    (from its sdist, unpacked into .corpora/) and any folder in MAILBOT_CORPORA."""
    found: dict[str, list[Path]] = {}
    spec = importlib.util.find_spec("test")
    if spec and spec.submodule_search_locations:
        data = Path(list(spec.submodule_search_locations)[0]) / "test_email" / "data"
        found["cpython"] = sorted(data.glob("msg_*.txt"))
    target = ROOT / ".corpora" / "mail-parser"
    try:
        corpora.mail_parser(target)  # fetched once from PyPI (mail-parser's sdist), then kept
    except (OSError, subprocess.CalledProcessError, ValueError):
        pass  # offline: the test says so
    found["mail-parser"] = sorted(p for p in target.glob("*") if p.is_file())
    for folder in filter(None, os.environ.get("MAILBOT_CORPORA", "").split(os.pathsep)):
        found[folder] = sorted(p for p in Path(folder).rglob("*") if p.is_file())
    return found


@pytest.mark.parametrize("name", ["cpython", "mail-parser"])
def test_public_corpora_leave_nothing_behind(tmp_path, smtp_server, name) -> None:
    files = corpus_files().get(name) or []
    if not files:
        reason = f"the {name} corpus is not here (tests/corpora.py fetches mail-parser's from PyPI)"
        unavailable(reason)
    recorder, port = smtp_server
    config = write_config(tmp_path, port)
    for n, path in enumerate(files):
        shutil.copyfile(path, tmp_path / "maildir" / "new" / f"{n:04d}.{path.name}")
    deliver(tmp_path, plan(), "9999.plan")
    out = mailbot("run", "--config", str(config), "--once", timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert not list((tmp_path / "maildir" / "new").iterdir())
    assert any(m["To"] == "kt@viettel.com.vn" for m in recorder.parsed())
    counts = [int(n) for n in re.findall(r"(\d+) thư", out.stdout)[:3]]  # new, seen before, set aside
    assert sum(counts) == len(files) + 1 and counts[0] >= 1, out.stdout
    assert len(_records(tmp_path)) == counts[0] + counts[2]
    assert "surrogates not allowed" not in out.stderr
