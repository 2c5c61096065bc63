"""TLS for every connection that carries a credential: verified, hostname checked, TLS 1.2 or newer.

imaplib falls back to ssl._create_stdlib_context(), which verifies nothing (PEP 476 changed
HTTPS only): every IMAP connection gets the context made here instead. A private CA (the
Department's own, or the province's) is added with `ca_file`; the system's roots stay trusted.
"""

from __future__ import annotations

import datetime as dt
import functools
import imaplib
import ipaddress
import smtplib
import socket
import ssl
from pathlib import Path
from typing import cast

# OpenSSL's X509_V_ERR_* codes that an operator can act on
_EXPIRED = {9: "chưa đến ngày có hiệu lực", 10: "đã hết hạn"}
_UNTRUSTED = {18, 19, 20, 21, 2}  # self-signed, self-signed in chain, unknown issuer (local / leaf), no issuer cert
_WRONG_NAME = {62, 64}  # host name mismatch, IP address mismatch


def client_context(ca_file: Path | None = None) -> ssl.SSLContext:
    """A verifying client context; `ca_file` (PEM) is trusted besides the system's roots."""
    if ca_file is None:
        return _context(None, 0)
    try:
        changed = ca_file.stat().st_mtime_ns  # a CA file replaced in place is read again
    except OSError:
        changed = 0
    return _context(str(ca_file), changed)


@functools.lru_cache(maxsize=8)
def _context(ca_file: str | None, changed: int) -> ssl.SSLContext:
    # Loading the CA store costs about 10 ms: one context per CA file, shared (read-only once made).
    context = ssl.create_default_context()
    if ca_file:
        context.load_verify_locations(cafile=ca_file)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def check_ca_file(path: Path) -> str | None:
    """None if `path` holds at least one PEM or DER certificate OpenSSL loads, else why not."""
    try:
        ssl.create_default_context().load_verify_locations(cafile=str(path))
    except FileNotFoundError:
        return f"{path} does not exist"
    except (OSError, ssl.SSLError) as exc:
        return f"{path} holds no certificate OpenSSL can load ({exc})"
    return None


def is_loopback(host: str) -> bool:
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def explain(exc: BaseException) -> tuple[str, str] | None:
    """(what is wrong, what to do) in Vietnamese for a certificate that did not verify, else None."""
    error = exc if isinstance(exc, ssl.SSLCertVerificationError) else exc.__cause__ or exc.__context__
    if not isinstance(error, ssl.SSLCertVerificationError):
        return None
    code = error.verify_code
    if code in _EXPIRED:
        return (
            f"chứng thư số của máy chủ {_EXPIRED[code]} ({error.verify_message})",
            "đề nghị quản trị máy chủ thư gia hạn hoặc thay chứng thư số; không tắt kiểm tra",
        )
    if code in _WRONG_NAME:
        return (
            f"chứng thư số không cấp cho tên máy chủ này ({error.verify_message})",
            "dùng đúng tên máy chủ ghi trong chứng thư số (host trong cấu hình), không dùng địa chỉ IP",
        )
    if code in _UNTRUSTED:
        return (
            f"chứng thư số do một tổ chức chưa được tin cậy cấp ({error.verify_message})",
            'nếu máy chủ dùng chứng thư của CA riêng (của Sở hay của tỉnh), đặt ca_file = "đường/dẫn/ca.pem" '
            "trong mục cấu hình tương ứng",
        )
    return (f"chứng thư số không hợp lệ ({error.verify_message})", "xem nhật ký và chứng thư số của máy chủ")


def peer_certificate(host: str, port: int, starttls: str | None, timeout: float) -> str:
    """Who the server's certificate names, read over a handshake that verifies nothing and sends
    no credential (`starttls`: "imap", "smtp" or None for TLS from the first byte). For the logs
    and `mailbot check` only, after a verified handshake failed."""
    loose = ssl.create_default_context()
    loose.check_hostname = False
    loose.verify_mode = ssl.CERT_NONE
    try:
        if starttls == "imap":
            client = imaplib.IMAP4(host, port, timeout=timeout)
            client.starttls(loose)
            der = cast(ssl.SSLSocket, client.sock).getpeercert(binary_form=True)
            client.shutdown()
        elif starttls == "smtp":
            with smtplib.SMTP(host, port, timeout=timeout) as smtp:
                smtp.starttls(context=loose)
                der = cast(ssl.SSLSocket, smtp.sock).getpeercert(binary_form=True)
        else:
            with socket.create_connection((host, port), timeout=timeout) as raw:
                with loose.wrap_socket(raw, server_hostname=host) as tls:
                    der = tls.getpeercert(binary_form=True)
    except (OSError, imaplib.IMAP4.error, smtplib.SMTPException, ValueError) as exc:
        return f"(không đọc được chứng thư: {type(exc).__name__})"
    return describe_certificate(der) if der else "(máy chủ không gửi chứng thư)"


def describe_certificate(der: bytes) -> str:
    """`CN=mail.example, do CN=Some CA cấp, hết hạn 2027-01-31`."""
    from cryptography import x509  # exchangelib's dependency; read only on this error path

    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError:
        return "(chứng thư không đọc được)"
    until = (
        cert.not_valid_after_utc
        if hasattr(cert, "not_valid_after_utc")
        else cert.not_valid_after.replace(tzinfo=dt.timezone.utc)
    )
    return f"{cert.subject.rfc4514_string()}, do {cert.issuer.rfc4514_string()} cấp, hết hạn {until.date().isoformat()}"
