"""A private Dovecot IMAP server on loopback, for the tests and the benchmarks.

Everything lives in one temporary folder: configuration, passwd-file, Maildirs,
sockets, logs. `ssl = no` and plain LOGIN over loopback, unless a certificate is given.
As root, mail is owned by a non-root user (Dovecot refuses uid 0 for mail access).
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

USER = "pbcvt@dongthap.gov.vn"
PASSWORD = "mật-khẩu-thử"  # non-ASCII on purpose
DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
DOVEADM = shutil.which("doveadm") or "/usr/bin/doveadm"


def available() -> bool:
    return os.access(DOVECOT, os.X_OK) and os.access(DOVEADM, os.X_OK)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _mail_owner() -> tuple[str, int, int]:
    if os.geteuid() != 0:
        entry = pwd.getpwuid(os.geteuid())
        return entry.pw_name, entry.pw_uid, entry.pw_gid
    for name in ("dovenull", "nobody"):
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        return name, entry.pw_uid, entry.pw_gid
    raise RuntimeError("no unprivileged user for Dovecot's mail")


class Dovecot:
    def __init__(self, root: Path, tls: tuple[Path, Path] | None = None) -> None:
        """`tls`: a certificate and key; STARTTLS on `port` and TLS from the first byte on `tls_port`."""
        self.root = root
        self.port = free_port()
        self.tls = tls
        self.tls_port = free_port() if tls else 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.user, self.uid, self.gid = _mail_owner()
        self.home = root / "home" / USER
        self.conf = root / "dovecot.conf"
        self._write_config()

    def _write_config(self) -> None:
        self.root.chmod(0o755)  # Dovecot's unprivileged processes read the passwd-file and mail here
        for sub in ("run", "state", "home"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self.home.mkdir(parents=True, exist_ok=True)
        (self.root / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}::::::\n", encoding="utf-8")
        login_user = self.user if os.geteuid() != 0 else "dovenull"
        internal_user = self.user if os.geteuid() != 0 else "dovecot"
        self.conf.write_text(
            f"""
protocols = imap
listen = 127.0.0.1
base_dir = {self.root}/run
state_dir = {self.root}/state
log_path = {self.root}/dovecot.log
info_log_path = {self.root}/dovecot.log
{self._ssl()}
disable_plaintext_auth = no
auth_mechanisms = plain login
default_login_user = {login_user}
default_internal_user = {internal_user}
first_valid_uid = {min(self.uid, 500) or 1}
first_valid_gid = {min(self.gid, 500) or 1}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {self.root}/passwd
}}
userdb {{
  driver = static
  args = uid={self.uid} gid={self.gid} home={self.root}/home/%u
}}
mail_location = maildir:~/Maildir
namespace inbox {{
  inbox = yes
  separator = /
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {self.tls_port}
  }}
}}
service anvil {{
  chroot =
}}
service imap-login {{
  chroot =
}}
protocol imap {{
  mail_max_userip_connections = 100
}}
""",
            encoding="utf-8",
        )
        if os.geteuid() == 0:
            os.chown(self.root / "home", self.uid, self.gid)
            os.chown(self.home, self.uid, self.gid)

    def _ssl(self) -> str:
        if self.tls is None:
            return "ssl = no"
        cert, key = self.tls
        return f"ssl = yes\nssl_cert = <{cert}\nssl_key = <{key}\nssl_min_protocol = TLSv1.2"

    # -- life cycle --------------------------------------------------------------------
    def start(self) -> None:
        # its own process group, so that stop() ends the IMAP processes too, as a real restart does
        self.proc = subprocess.Popen(
            [DOVECOT, "-F", "-c", str(self.conf)],
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"dovecot exited: {self.proc.stderr.read().decode() if self.proc.stderr else ''}\n{self.log()}"
                )
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError(f"dovecot did not listen on {self.port}\n{self.log()}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        deadline = time.monotonic() + 5  # the listener is gone before the port can be reused
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    time.sleep(0.05)
            except OSError:
                return

    def restart(self) -> None:
        self.stop()
        self.start()

    def kick(self) -> None:
        """Cut every IMAP connection of the user (the server stays up)."""
        subprocess.run(
            [DOVEADM, "-c", str(self.conf), "kick", USER],
            check=False,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def full_log(self) -> str:
        try:
            return (self.root / "dovecot.log").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def log(self) -> str:
        try:
            return (self.root / "dovecot.log").read_text(encoding="utf-8", errors="replace")[-4000:]
        except OSError:
            return ""

    # -- the mailbox, as another client sees it -----------------------------------------
    def client(self):  # type: ignore[no-untyped-def]
        from imap_tools import MailBoxUnencrypted

        return MailBoxUnencrypted("127.0.0.1", self.port).login_utf8(USER, PASSWORD, initial_folder=None)

    def reset(self) -> None:
        """An empty mailbox: every folder but INBOX deleted, INBOX emptied (UIDVALIDITY kept)."""
        with self.client() as box:
            for info in box.folder.list():
                if info.name.upper() != "INBOX":
                    box.folder.delete(info.name)
            box.folder.set("INBOX")
            uids = box.uids()
            if uids:
                box.client.uid("STORE", ",".join(uids), "+FLAGS.SILENT", r"(\Deleted)")
                box.client.expunge()

    def append(self, raw: bytes, folder: str = "INBOX") -> None:
        with self.client() as box:
            box.append(raw, folder)

    def folder_uids(self, folder: str) -> list[str]:
        with self.client() as box:
            if not box.folder.exists(folder):
                return []
            box.folder.set(folder, readonly=True)
            return box.uids()

    def seen(self, folder: str) -> list[bool]:
        with self.client() as box:
            box.folder.set(folder, readonly=True)
            return ["\\Seen" in m.flags for m in box.fetch(mark_seen=False, headers_only=True)]

    def reset_uidvalidity(self) -> None:
        """What a restored or recreated mailbox looks like: INBOX gets a new UIDVALIDITY."""
        self.stop()
        inbox = self.home / "Maildir"
        for name in ("dovecot-uidlist", "dovecot.index", "dovecot.index.cache", "dovecot.index.log"):
            (inbox / name).unlink(missing_ok=True)
        time.sleep(1.1)  # UIDVALIDITY is a timestamp in seconds
        self.start()
