"""The daemon as systemd runs it: a real NOTIFY_SOCKET, Dovecot and aiosmtpd on loopback, signals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from email import message_from_bytes, policy
from pathlib import Path

from tests import dovecot as dc
from tests.conftest import build, deliver, imap_config, wait_for, write_config
from tests.notifysock import NotifySocket

ENV = {**os.environ, "MAILBOT_TEST_IMAP_PASSWORD": dc.PASSWORD}
WATCHDOG_USEC = 2_000_000  # a 2 s watchdog: the daemon must feed it at least every second


def plan(n: int) -> bytes:
    return build(subject=f"Phương án bảo đảm thông tin liên lạc {n}", files=((f"PA-{n}.docx", b"plan %d" % n),))


@contextmanager
def service(config: Path, sock: NotifySocket, *extra: str) -> Iterator[subprocess.Popen[str]]:
    env = {**ENV, "NOTIFY_SOCKET": str(sock.path), "WATCHDOG_USEC": str(WATCHDOG_USEC)}
    child = subprocess.Popen(
        [sys.executable, "-m", "mailbot", "run", "--config", str(config), "--log-level", "INFO", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        yield child
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()


def terminate(child: subprocess.Popen[str], sock: NotifySocket) -> str:
    started = time.monotonic()
    child.send_signal(signal.SIGTERM)
    _, err = child.communicate(timeout=15)
    assert child.returncode == 0, err
    assert time.monotonic() - started < 5, "SIGTERM took longer than a few seconds"
    assert sock.first("STOPPING") is not None
    return err


def test_ready_after_connecting_watchdog_through_an_outage_stopping_on_sigterm(
    tmp_path, smtp_server, dovecot_server, dovecot
) -> None:
    recorder, port = smtp_server
    config = imap_config(tmp_path, port, dovecot.port)
    sock = NotifySocket(tmp_path / "notify")
    try:
        with service(config, sock) as child:
            wait_for(lambda: sock.first("READY") is not None, 30, "READY=1")
            _, ready = sock.first("READY")  # type: ignore[misc]
            assert ready["STATUS"].startswith("đang chờ thư mới") and ready["MAINPID"] == str(child.pid)
            health = json.loads((tmp_path / "state" / "health.json").read_text(encoding="utf-8"))
            assert health["last_contact"] and health["state"] == "ready"  # connected before READY

            dovecot.append(plan(1))
            wait_for(lambda: len(recorder.messages) == 1, 20, "the acknowledgement")

            dovecot_server.stop()  # the mailbox unreachable
            wait_for(lambda: any(s.startswith("mất kết nối hộp thư") for s in sock.statuses()), 20, "lost STATUS")
            lost_at = time.monotonic()
            time.sleep(4)
            beats = [t for t, _ in sock.with_key("WATCHDOG") if t > lost_at]
            assert len(beats) >= 3, f"only {len(beats)} WATCHDOG=1 in 4 s without a mailbox"

            dovecot_server.start()
            wait_for(lambda: sock.statuses()[-1].startswith("đang chờ thư mới"), 60, "reconnection")
            dovecot.append(plan(2))
            wait_for(lambda: len(recorder.messages) == 2, 20, "the acknowledgement after reconnecting")
            err = terminate(child, sock)
    finally:
        sock.close()
    ready_at = sock.first("READY")[0]  # type: ignore[index]
    beats = [t for t, _ in sock.with_key("WATCHDOG") if t >= ready_at]
    gaps = [b - a for a, b in zip([ready_at, *beats], beats)]
    assert max(gaps) < WATCHDOG_USEC / 1e6, f"systemd would have killed it: a {max(gaps):.2f} s gap"
    # one line per message, with its receipt, organization and disposition
    recorded = [line for line in err.splitlines() if " recorded " in line]
    assert len(recorded) == 2 and all(
        "organization=vnpt-dongthap disposition=submission receipt=" in line for line in recorded
    )
    assert err.count("mailbox imap://") and "unavailable, reconnecting with backoff" in err


def test_sighup_reloads_and_keeps_the_old_configuration_when_the_new_is_broken(tmp_path, smtp_server) -> None:
    recorder, port = smtp_server
    config = write_config(tmp_path, port)
    good = config.read_text(encoding="utf-8")
    sock = NotifySocket(tmp_path / "notify")
    try:
        with service(config, sock) as child:
            wait_for(lambda: sock.first("READY") is not None, 30, "READY=1")

            config.write_text(good + "\n[mailbot\n", encoding="utf-8")  # a TOML syntax error
            child.send_signal(signal.SIGHUP)
            wait_for(lambda: len(sock.with_key("READY")) == 2, 20, "READY=1 after the failed reload")
            assert sock.first("RELOADING") is not None
            assert "thất bại" in sock.with_key("READY")[1][1]["STATUS"]
            deliver(tmp_path, plan(1), "1.eml")
            wait_for(lambda: len(recorder.messages) == 1, 20, "an acknowledgement on the old configuration")
            wait_for(lambda: "1 thư đã ghi nhận" in sock.statuses()[-1], 20, "STATUS after the message")
            assert "nạp lại cấu hình lúc" in sock.statuses()[-1]  # the failure stays visible in systemctl status

            broken = tmp_path / "broken-templates"
            broken.mkdir()
            (broken / "ack.txt.j2").write_text("{% if %}", encoding="utf-8")
            config.write_text(
                good.replace("[mailbot]\n", f'[mailbot]\ntemplates_dir = "{broken}"\n', 1), encoding="utf-8"
            )
            child.send_signal(signal.SIGHUP)
            wait_for(lambda: len(sock.with_key("READY")) == 3, 20, "READY=1 after the second failed reload")

            config.write_text(
                good.replace(
                    'signature = "Phòng Bưu chính, Viễn thông"',
                    'signature = "Phòng Bưu chính, Viễn thông (cấu hình mới)"',
                ),
                encoding="utf-8",
            )
            child.send_signal(signal.SIGHUP)
            wait_for(lambda: len(sock.with_key("READY")) == 4, 20, "READY=1 after the reload")
            assert "thất bại" not in sock.with_key("READY")[3][1]["STATUS"]
            deliver(
                tmp_path,
                build(sender="kt@vnpt.vn", subject="Danh sách trực", files=(("DS-truc.xlsx", b"not really"),)),
                "2.eml",
            )
            wait_for(lambda: len(recorder.messages) == 2, 20, "an acknowledgement on the new configuration")
            err = terminate(child, sock)
    finally:
        sock.close()
    bodies = [message_from_bytes(m, policy=policy.default) for m in recorder.messages]
    texts = [b.get_body(("plain",)).get_content() for b in bodies]  # type: ignore[union-attr]
    assert "(cấu hình mới)" not in texts[0] and "(cấu hình mới)" in texts[1]
    assert err.count("reload failed; still running on the previous configuration") == 2
    assert "ack.txt.j2" in err and "configuration and templates reloaded" in err


def test_a_second_instance_is_refused_naming_the_first(tmp_path, smtp_server) -> None:
    _, port = smtp_server
    config = write_config(tmp_path, port)
    sock = NotifySocket(tmp_path / "notify")
    try:
        with service(config, sock) as first:
            wait_for(lambda: sock.first("READY") is not None, 30, "READY=1")
            started = time.monotonic()
            second = subprocess.run(
                [sys.executable, "-m", "mailbot", "run", "--config", str(config)],
                capture_output=True,
                text=True,
                env=ENV,
                timeout=60,
            )
            assert second.returncode == 1 and time.monotonic() - started < 10
            assert f"another mailbot (pid {first.pid}) is using {tmp_path / 'state'}" in second.stderr
            assert first.poll() is None  # the first goes on
            terminate(first, sock)
    finally:
        sock.close()


def test_commands_refuse_a_state_folder_of_another_user(tmp_path, smtp_server) -> None:
    """Run as root on the service's state, a command would leave files the service cannot write."""
    if os.geteuid() != 0:
        import pytest

        pytest.skip("needs root to give the state folder to another user")
    _, port = smtp_server
    config = write_config(tmp_path, port)
    deliver(tmp_path, plan(1), "1.eml")
    assert (
        subprocess.run(
            [sys.executable, "-m", "mailbot", "run", "--config", str(config), "--once"], capture_output=True, env=ENV
        ).returncode
        == 0
    )
    for path in [tmp_path / "state", *(tmp_path / "state").rglob("*")]:
        os.chown(path, 65534, 65534, follow_symlinks=False)
    before = sorted((p, p.stat().st_uid) for p in (tmp_path / "state").rglob("*"))
    for command in (["status"], ["review"], ["backup", "--to", str(tmp_path / "b")], ["run", "--once"]):
        done = subprocess.run(
            [sys.executable, "-m", "mailbot", *command, "--config", str(config)],
            capture_output=True,
            text=True,
            env=ENV,
        )
        assert done.returncode == 1, (command, done.stderr)
        assert done.stderr.strip().endswith(
            "belongs to user nobody; run this command as that user (sudo -u nobody mailbot ...)"
        ), done.stderr
    assert sorted((p, p.stat().st_uid) for p in (tmp_path / "state").rglob("*")) == before  # nothing written
