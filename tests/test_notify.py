"""sd_notify over a real datagram socket: Vietnamese STATUS intact, the watchdog rate-limited."""

from __future__ import annotations

import os
import time

from mailbot.service.notify import Notifier
from tests.conftest import wait_for
from tests.notifysock import NotifySocket


def test_vietnamese_status_arrives_whole_in_utf8(tmp_path) -> None:
    sock = NotifySocket(tmp_path / "notify")
    try:
        notifier = Notifier.from_env({"NOTIFY_SOCKET": str(sock.path)})
        notifier.ready("đang chờ thư mới; 3 thư đã ghi nhận")
        notifier.stopping()
        wait_for(lambda: len(sock.messages) == 2, 5, "two datagrams")
    finally:
        sock.close()
    ready = sock.messages[0][1]
    assert ready["READY"] == "1" and ready["MAINPID"] == str(os.getpid())
    assert ready["STATUS"] == "đang chờ thư mới; 3 thư đã ghi nhận"  # sdnotify would drop this line
    assert sock.messages[1][1]["STOPPING"] == "1"


def test_an_abstract_socket_address_works(tmp_path) -> None:
    import socket

    name = f"mailbot-test-{os.getpid()}"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind("\0" + name)
    server.settimeout(5)
    try:
        Notifier.from_env({"NOTIFY_SOCKET": "@" + name}).status("mất kết nối hộp thư")
        assert server.recv(1024).decode("utf-8") == "STATUS=mất kết nối hộp thư"
    finally:
        server.close()


def test_without_notify_socket_every_call_is_a_no_op() -> None:
    notifier = Notifier.from_env({})
    notifier.ready("x")
    notifier.beat()
    notifier.stopping()
    assert notifier.beat_interval is None


def test_the_watchdog_is_fed_at_most_once_a_second_and_only_when_it_is_ours(tmp_path) -> None:
    sock = NotifySocket(tmp_path / "notify")
    try:
        ours = Notifier.from_env(
            {"NOTIFY_SOCKET": str(sock.path), "WATCHDOG_USEC": "4000000", "WATCHDOG_PID": str(os.getpid())}
        )
        assert ours.beat_interval == 2.0  # half the period
        started = time.monotonic()
        while time.monotonic() - started < 2.5:
            ours.beat()
            time.sleep(0.01)
        other = Notifier.from_env({"NOTIFY_SOCKET": str(sock.path), "WATCHDOG_USEC": "4000000", "WATCHDOG_PID": "1"})
        assert other.beat_interval is None
        other.beat()
        time.sleep(0.3)
    finally:
        sock.close()
    assert len(sock.with_key("WATCHDOG")) == 3  # at 0, 1 and 2 s, not 250 times
