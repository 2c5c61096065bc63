"""Assigning a queued message never stops the service (issue 23, item 2).

The message is read again in a worker process under the analysis time limit, the watchdog fed
meanwhile; a command that fails or times out is answered with the reason and marked done; one during
which mailbot died is answered, never run again (no crash loop). The hostile file: a few KB of PDF
whose pages draw a content stream of 1.9 M operands each (tests/hostile.py), tens of seconds per page
for the duty-list reader. Real processes throughout: `mailbot run` under a real NOTIFY_SOCKET,
`mailbot assign`, aiosmtpd."""

from __future__ import annotations

import email.utils
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import build, daemon, deliver, mailbot, wait_for, write_config
from tests.hostile import heavy_content_pdf
from tests.notifysock import NotifySocket
from tests.test_staff_email import SIGNED, STAFF, STAFF_DIGEST, answers, text

WATCHDOG_USEC = 2_000_000  # the daemon must feed it at least every second


def heavy_mail(pages: int) -> bytes:
    """A duty list from a Gmail address (XL-0001 once recorded) whose PDF is the hostile one."""
    return build(
        sender="anh.kythuat@gmail.com",
        subject="Gửi danh sách trực của VNPT",
        files=(("DS truc VNPT.pdf", heavy_content_pdf(pages)),),
        auth="mail.dongthap.gov.vn; dkim=pass header.d=gmail.com; dmarc=pass header.from=gmail.com",
    )


def setup(tmp_path: Path, port: int, seconds: int) -> Path:
    """Staff may command by mail; analysis given up after `seconds` (OCR off: no budget added)."""
    extra = {
        **STAFF_DIGEST,
        r"(?m)^poll_interval = .*$": f"poll_interval = 0.2\nanalyse_seconds = {seconds}\nmax_ocr_pages = 0",
    }
    return write_config(tmp_path, port, extra)


def records(tmp_path: Path) -> list[dict[str, Any]]:
    """The message records as the register holds them on disk (read beside a running daemon)."""
    out: list[dict[str, Any]] = []
    for path in sorted((tmp_path / "state" / "db" / "messages").glob("*.json")):
        try:
            out += json.loads(path.read_text(encoding="utf-8")).get("records", {}).values()
        except (OSError, ValueError):
            pass  # replaced under our feet: read again at the next poll
    return out


def item(tmp_path: Path, review_id: str = "XL-0001") -> dict[str, Any] | None:
    return next((r for r in records(tmp_path) if r.get("review_id") == review_id), None)


def command_record(tmp_path: Path, word: str = "giao") -> dict[str, Any] | None:
    return next((r for r in records(tmp_path) if (r.get("command") or "").lower().startswith(word)), None)


def now_header() -> str:
    return email.utils.format_datetime(email.utils.localtime())


def send_command(tmp_path: Path, recorder, line: str, name: str) -> None:  # noqa: ANN001
    """`line` as staff send it: a reply to an answer mailbot sent (asked for first with a question),
    dated now, authenticated by our server."""
    before = len(answers(recorder))
    ask = build(sender=STAFF, subject="Hỏi", body="trạng thái", auth=SIGNED, headers={"Date": now_header()})
    deliver(tmp_path, ask, f"{name}-ask.eml")
    wait_for(lambda: len(answers(recorder)) > before, 30, "the answer to a question")
    asked = answers(recorder)[-1]["Message-ID"]
    order = build(
        sender=STAFF,
        subject="Re: Tình hình nộp tài liệu",
        body=f"{line}\n\n> Tình hình nộp tài liệu",
        auth=SIGNED,
        headers={"Date": now_header(), "In-Reply-To": asked, "References": asked},
    )
    deliver(tmp_path, order, f"{name}.eml")


def under_watch(config: Path, sock: NotifySocket) -> subprocess.Popen[str]:
    return daemon(config, env={**os.environ, "NOTIFY_SOCKET": str(sock.path), "WATCHDOG_USEC": str(WATCHDOG_USEC)})


def stop(child: subprocess.Popen[str]) -> str:
    if child.poll() is None:
        child.send_signal(signal.SIGTERM)
    try:
        _, err = child.communicate(timeout=20)
    except subprocess.TimeoutExpired:  # stuck (the old code, in an assign): no process left behind
        child.kill()
        _, err = child.communicate()
        raise
    return err


def beats_gap(sock: NotifySocket, since: float) -> float:
    times = [since] + [t for t, _ in sock.with_key("WATCHDOG") if t >= since] + [time.monotonic()]
    return max(b - a for a, b in zip(times, times[1:]))


@pytest.mark.parametrize("pages", [20])  # the 20 pages (5 pages: bench/assign.py)
def test_mailbot_assign_of_a_hostile_pdf_returns_within_the_limit(tmp_path, smtp_server, pages) -> None:
    recorder, port = smtp_server
    config = str(setup(tmp_path, port, 3))
    deliver(tmp_path, heavy_mail(pages), "1.eml")
    assert mailbot("run", "--config", config, "--once").returncode == 0
    assert item(tmp_path) is not None and item(tmp_path)["disposition"] == "unknown-sender"  # type: ignore[index]

    started = time.monotonic()
    out = mailbot("assign", "--config", config, "XL-0001", "vnpt-dongthap", timeout=60)
    assert time.monotonic() - started < 30  # the old code read the pages for 20 s each
    assert out.returncode == 1
    assert "phân tích thư quá 3 giây" in out.stderr and "thư vẫn chờ xem xét" in out.stderr
    assert not (item(tmp_path) or {}).get("review_closed")  # nothing recorded: it waits as before
    assert recorder.messages == []  # no acknowledgement went out

    started = time.monotonic()  # the same again (a careless repeat): refused at once, not 3 s more
    again = mailbot("assign", "--config", config, "XL-0001", "vnpt-dongthap", timeout=60)
    assert again.returncode == 1 and "không thử lại với cùng giới hạn" in again.stderr
    assert time.monotonic() - started < 3  # the process's own start only

    path = Path(config)  # the operator raises the limit: tried again, within the new one
    path.write_text(path.read_text(encoding="utf-8").replace("analyse_seconds = 3", "analyse_seconds = 4"), "utf-8")
    started = time.monotonic()
    raised = mailbot("assign", "--config", config, "XL-0001", "vnpt-dongthap", timeout=60)
    assert raised.returncode == 1 and "phân tích thư quá 4 giây" in raised.stderr
    assert 4 <= time.monotonic() - started < 30
    assert recorder.messages == []


def test_the_daemon_answers_a_giao_that_times_out_and_never_runs_it_again(tmp_path, smtp_server) -> None:
    recorder, port = smtp_server
    config = setup(tmp_path, port, 3)
    deliver(tmp_path, heavy_mail(20), "1.eml")
    sock = NotifySocket(tmp_path / "notify.sock")
    child = under_watch(config, sock)
    try:
        wait_for(lambda: sock.first("READY") is not None, 30, "READY")
        ready = sock.first("READY")[0]  # type: ignore[index]
        wait_for(lambda: item(tmp_path) is not None, 30, "XL-0001 recorded")
        send_command(tmp_path, recorder, "giao XL-0001 vnpt-dongthap", "2")
        wait_for(lambda: len(answers(recorder)) == 2, 40, "the answer to the assign")
        answer = text(answers(recorder)[-1])
        assert "Không giao được XL-0001" in answer and "phân tích thư quá 3 giây" in answer
        assert "bỏ qua XL-0001" in answer  # what staff can do instead

        started = time.monotonic()  # `mailbot assign` handed to the daemon: refused at once, it timed out before
        out = mailbot("assign", "--config", str(config), "XL-0001", "vnpt-dongthap", timeout=60)
        assert out.returncode == 1 and "(phân tích thư quá 3 giây); không thử lại với cùng giới hạn" in out.stderr
        assert time.monotonic() - started < 10

        assert child.poll() is None  # alive, and the watchdog never starved
        assert beats_gap(sock, ready) < WATCHDOG_USEC / 1e6
        done = command_record(tmp_path)
        assert done is not None and done["command_done"]["title"] == "Không thực hiện được lệnh"
        assert not (item(tmp_path) or {}).get("review_closed")
        stop(child)
        assert child.returncode == 0

        child = under_watch(config, sock)  # a restart: the command is done, not run again
        wait_for(lambda: len(sock.with_key("READY")) >= 2, 30, "READY again")
        time.sleep(3)
        assert len(answers(recorder)) == 2
        assert not any(m["To"] == "anh.kythuat@gmail.com" for m in recorder.parsed())
    finally:
        stop(child)
        sock.close()


def test_a_command_under_way_when_the_daemon_died_is_answered_not_run_again(tmp_path, smtp_server) -> None:
    recorder, port = smtp_server
    config = setup(tmp_path, port, 600)  # the assign would run for minutes: the daemon dies first
    deliver(tmp_path, heavy_mail(20), "1.eml")
    child = daemon(config)
    try:
        wait_for(lambda: item(tmp_path) is not None, 30, "XL-0001 recorded")
        send_command(tmp_path, recorder, "giao XL-0001 vnpt-dongthap", "2")
        wait_for(lambda: bool((command_record(tmp_path) or {}).get("command_started")), 30, "the assign under way")
        child.kill()  # as systemd's watchdog, the OOM killer or a power cut would
        child.communicate(timeout=10)
        assert len(answers(recorder)) == 1  # the question's

        child = daemon(config)
        wait_for(lambda: len(answers(recorder)) == 2, 30, "the answer to the interrupted command")
        answer = text(answers(recorder)[-1])
        assert "Lệnh chưa thực hiện xong" in answer and "giao XL-0001 vnpt-dongthap" in answer
        assert "không được thực hiện lại" in answer
        assert "(bắt đầu lúc " in answer and " giờ " in answer and "+00:00" not in answer  # Vietnam's time
        wait_for(lambda: bool((command_record(tmp_path) or {}).get("command_done")), 10, "the command marked done")
        assert child.poll() is None and not (item(tmp_path) or {}).get("review_closed")
        stop(child)
        assert child.returncode == 0
    finally:
        stop(child)


def test_sigterm_during_an_assign_leaves_the_command_for_the_next_start(tmp_path, smtp_server) -> None:
    recorder, port = smtp_server
    config = setup(tmp_path, port, 600)
    deliver(tmp_path, heavy_mail(20), "1.eml")
    child = daemon(config)
    try:
        wait_for(lambda: item(tmp_path) is not None, 30, "XL-0001 recorded")
        send_command(tmp_path, recorder, "giao XL-0001 vnpt-dongthap", "2")
        wait_for(lambda: bool((command_record(tmp_path) or {}).get("command_started")), 30, "the assign under way")
        started = time.monotonic()
        stop(child)
        assert child.returncode == 0 and time.monotonic() - started < 10
        record = command_record(tmp_path)
        assert record is not None and not record.get("command_started") and not record.get("command_done")
        assert len(answers(recorder)) == 1  # no answer yet: it runs at the next start
    finally:
        stop(child)


def test_mailbot_assign_handed_to_a_daemon_that_dies_is_told_and_not_run_again(tmp_path, smtp_server) -> None:
    recorder, port = smtp_server
    config = setup(tmp_path, port, 600)
    deliver(tmp_path, heavy_mail(20), "1.eml")
    child = daemon(config)
    requests = tmp_path / "state" / "requests"
    try:
        wait_for(lambda: item(tmp_path) is not None, 30, "XL-0001 recorded")
        command = subprocess.Popen(
            [sys.executable, "-m", "mailbot", "assign", "--config", str(config), "XL-0001", "vnpt-dongthap"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        wait_for(lambda: any(requests.glob("*.taken")), 30, "the request taken by the daemon")
        child.kill()
        child.communicate(timeout=10)
        _, err = command.communicate(timeout=10)  # told at once, not after a minute
        assert command.returncode == 1 and "stopped while carrying out the request" in err

        child = daemon(config)
        wait_for(lambda: not any(requests.glob("*.taken")), 30, "the interrupted request answered")
        [answer] = [json.loads(p.read_text(encoding="utf-8")) for p in requests.glob("*.answer.json")]
        assert answer["ok"] is False and "not run again" in answer["error"]
        shown = mailbot("review", "--config", str(config), "--json", timeout=60)  # served by the new daemon
        assert [r["id"] for r in json.loads(shown.stdout)] == ["XL-0001"]
        assert child.poll() is None
        assert not any(m["To"] == "anh.kythuat@gmail.com" for m in recorder.parsed())  # no acknowledgement
    finally:
        stop(child)
