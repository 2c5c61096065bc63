"""Power cuts under the state folder (LazyFS, tests/lazyfs.py) while `mailbot run --once` works a backlog.

One round: a batch of mail arrives in the Maildir (on the real disk, as a mail server's would be),
`mailbot run --once` starts with its state folder on LazyFS, and at a random moment the power goes:
every mailbot process frozen (SIGSTOP), LazyFS drops every write not fsynced (`lazyfs::clear-cache`),
the processes killed (SIGKILL), LazyFS unmounted and mounted again over what reached its disk.
When the run ended before the moment, the power goes all the same: what a finished run made durable
must stay. Then `mailbot status` must open the register (exit 3 is the "restore from backup" refusal,
on which systemd does not restart the service). After the last round the backlog is finished without
cuts, the power cut once more, and the figures read from the disk and the SMTP server (aiosmtpd).
Used by bench/powercut.py (the figures) and tests/test_powercut.py (a small run).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from email import message_from_bytes
from email.policy import default
from pathlib import Path

from tests.conftest import FIXTURES, deliver, smtp_sink, write_config
from tests.lazyfs import LazyFS

EXIT_DAMAGED = 3


def backlog(copies: int) -> list[tuple[bytes, bool]]:
    """52 fixtures x `copies` distinct messages, and whether each is a submission."""
    out = []
    for copy in range(copies):
        for eml in sorted(FIXTURES.glob("*.eml")):
            raw = eml.read_bytes()
            raw, found = re.subn(rb"(?im)^(Message-ID:\s*<[^>]+)>", rb"\1.p%d>" % copy, raw, count=1)
            if not found:
                raw = b"X-Copy: %d\r\n" % copy + raw
            expected = json.loads(eml.with_suffix(".json").read_text(encoding="utf-8"))
            out.append((raw, expected["disposition"] == "submission"))
    return out


@dataclass
class Figures:
    cuts: int = 0  # power cuts in all
    cuts_while_working: int = 0  # of which with `run --once` still running
    messages: int = 0  # in the backlog
    delivered: int = 0  # of which delivered before the end (all, unless the register refused to open)
    recorded: int = 0  # distinct messages in the register
    recorded_twice: int = 0
    left_in_mailbox: int = 0  # not marked done at the end
    submissions: int = 0  # messages owed an acknowledgement
    acknowledged: int = 0  # submissions with at least one acknowledgement at the SMTP server
    resent_same_id: int = 0  # extra copies carrying the same Message-ID (the documented resend)
    doubles: int = 0  # submissions answered under two Message-IDs
    empties: int = 0  # mails the SMTP server received empty, or without a Message-ID
    damaged_files: int = 0  # stored files a record refers to that are empty or do not hash to their name
    held: int = 0  # replies not sent because their stored copy was damaged (status failed, said)
    rewritten: int = 0  # files found empty or torn after a cut and written again from the message (logged)
    refused_starts: int = 0  # times the register did not open after a cut
    service_restarts: int = 0  # --daemon: the service exited on its own while finishing (and was started again)
    refusal: str = ""  # what mailbot said then
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    def line(self) -> str:
        shown = {k: v for k, v in asdict(self).items() if k not in ("notes", "refusal")}
        return ", ".join(f"{k}={v}" for k, v in shown.items())


def _status_opens(cmd: list[str], log: Path) -> tuple[bool, str]:
    with open(log, "ab") as out:
        proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=300)
        out.write(proc.stderr)
    text = proc.stderr.decode("utf-8", "replace").strip().splitlines()
    return proc.returncode != EXIT_DAMAGED, (text[-1] if text else f"exit {proc.returncode}")


def _cut(fs: LazyFS, child: subprocess.Popen[bytes] | None) -> None:
    if child is not None and child.poll() is None:
        os.killpg(child.pid, signal.SIGSTOP)  # the whole machine stops at once
    fs.clear_cache()
    if child is not None:
        try:
            os.killpg(child.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        child.wait()
    fs.stop()
    fs.start()


def run(
    tmp: Path,
    cuts: int,
    copies: int,
    seed: int,
    window: tuple[float, float] = (0.5, 6.0),
    say: object = None,
    daemon: bool = False,
) -> Figures:
    """The whole experiment in `tmp`; returns the figures (nothing asserted here). `daemon`: the
    service (`mailbot run`, started again after each cut as systemd would) instead of `run --once`."""
    started = time.monotonic()
    tmp.mkdir(parents=True, exist_ok=True)
    figures = Figures()
    rng = random.Random(seed)
    mail = backlog(copies)
    rng.shuffle(mail)
    figures.messages, figures.submissions = len(mail), sum(1 for _, sub in mail if sub)
    log = tmp / "mailbot.log"
    with smtp_sink() as (recorder, port):
        config = write_config(tmp, port, {r"(?m)^auto_reply_cap_per_day = .*$": "auto_reply_cap_per_day = 100000"})
        state = tmp / "state"  # state_dir of write_config, on LazyFS
        fs = LazyFS(disk=tmp / "disk", mount=state, work=tmp / "lazyfs")
        fs.start()
        once = [sys.executable, "-m", "mailbot", "run", "--config", str(config), "--once"]
        work = once[:-1] if daemon else once
        status = [sys.executable, "-m", "mailbot", "status", "--config", str(config)]
        try:
            batch = -(-len(mail) // cuts)
            for round_ in range(cuts):
                for n, (raw, _) in enumerate(mail[round_ * batch : (round_ + 1) * batch]):
                    deliver(tmp, raw, f"{1617000000 + round_ * batch + n}.M{n}.cut")
                    figures.delivered += 1
                with open(log, "ab") as out:
                    child = subprocess.Popen(work, stdout=out, stderr=out, start_new_session=True)
                try:
                    child.wait(timeout=rng.uniform(*window))
                except subprocess.TimeoutExpired:
                    figures.cuts_while_working += 1
                _cut(fs, child)
                figures.cuts += 1
                opens, said = _status_opens(status, log)
                if callable(say):
                    say(f"cut {figures.cuts}: {'register opens' if opens else 'REGISTER REFUSES: ' + said}")
                if not opens:
                    figures.refused_starts += 1
                    figures.refusal = said
                    break  # systemd does not restart on exit 3: the service is down until restored
            if not figures.refused_starts:  # finish the backlog without cuts, then one last cut
                if daemon:
                    _finish_with_daemon(work, log, tmp, recorder, figures)
                else:
                    for _ in range(4):
                        with open(log, "ab") as out:
                            done = subprocess.run(once, stdout=out, stderr=out, timeout=900)
                        if done.returncode == EXIT_DAMAGED or not any((tmp / "maildir" / "new").iterdir()):
                            break
                _cut(fs, None)
                figures.cuts += 1
                opens, said = _status_opens(status, log)
                if not opens:
                    figures.refused_starts += 1
                    figures.refusal = said
            _read_figures(figures, state, tmp, recorder.messages)
            figures.rewritten = log.read_text(encoding="utf-8", errors="replace").count("was damaged (a power cut?)")
        finally:
            fs.close()
    figures.seconds = round(time.monotonic() - started, 1)
    return figures


def _finish_with_daemon(cmd: list[str], log: Path, tmp: Path, recorder: object, figures: Figures) -> None:
    """The service until the Maildir is empty and no mail arrived at the SMTP server for 3 s, then
    SIGTERM; started again if it exits (as systemd's Restart=on-failure does)."""
    seen, quiet_since, deadline = -1, time.monotonic(), time.monotonic() + 900
    service: subprocess.Popen[bytes] | None = None
    try:
        while time.monotonic() < deadline:
            if service is None or service.poll() is not None:
                if service is not None:
                    figures.service_restarts += 1
                    if service.returncode == EXIT_DAMAGED:
                        return
                with open(log, "ab") as out:
                    service = subprocess.Popen(cmd, stdout=out, stderr=out, start_new_session=True)
            count = len(recorder.messages)  # type: ignore[attr-defined]
            if count != seen or any((tmp / "maildir" / "new").iterdir()):
                seen, quiet_since = count, time.monotonic()
            elif time.monotonic() - quiet_since > 3:
                break
            time.sleep(0.2)
    finally:
        if service is not None and service.poll() is None:
            service.send_signal(signal.SIGTERM)
            try:
                service.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(service.pid, signal.SIGKILL)
                service.wait()


def _records(folder: Path) -> list[dict]:
    docs: list[dict] = []
    for path in sorted(folder.glob("[0-9]*.json")) if folder.is_dir() else []:
        try:
            docs.extend(json.loads(path.read_bytes()).get("records", {}).values())
        except ValueError:
            pass  # a damaged segment: counted by refused_starts
    return docs


def _read_figures(figures: Figures, state: Path, tmp: Path, mails: list[bytes]) -> None:
    messages = _records(state / "db" / "messages")
    keys = Counter(m["key"] for m in messages)
    figures.recorded = len(keys)
    figures.recorded_twice = sum(n - 1 for n in keys.values())
    figures.left_in_mailbox = sum(1 for _ in (tmp / "maildir" / "new").iterdir())
    outbox = _records(state / "db" / "outbox")
    figures.held = sum(1 for m in outbox if m["status"] == "failed" and "hỏng" in m.get("last_error", ""))
    referenced = [("raw", m["raw_sha256"]) for m in messages if m.get("raw_sha256")]
    referenced += [("raw", m["raw_sha256"]) for m in outbox if m.get("raw_sha256")]
    for kind, digest in referenced:
        path = state / "raw" / digest[:2] / f"{digest}.eml"
        try:
            if hashlib.sha256(path.read_bytes()).hexdigest() != digest:
                figures.damaged_files += 1
        except OSError:
            figures.damaged_files += 1
    # each acknowledgement counted against the message it answers: by its outbox record (the reply's
    # Message-ID is the record's key), else by In-Reply-To (a mail the register has forgotten)
    answers = {m["key"]: m.get("message_key") or m["key"] for m in outbox}
    per_original: dict[str, Counter[str]] = {}
    for raw in mails:
        msg = message_from_bytes(raw, policy=default)
        mid = str(msg.get("Message-ID") or "").strip("<> ")
        body = msg.get_body(("plain", "html")) if raw.strip() else None
        if not mid or body is None or not body.get_content().strip():
            figures.empties += 1
            continue
        original = answers.get(mid) or f"in-reply-to:{msg.get('In-Reply-To') or mid}"
        per_original.setdefault(original, Counter())[mid] += 1
    figures.acknowledged = len(per_original)
    figures.resent_same_id = sum(n - 1 for ids in per_original.values() for n in ids.values())
    figures.doubles = sum(1 for ids in per_original.values() if len(ids) > 1)
