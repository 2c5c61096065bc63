"""`mailbot check`: is this installation ready to run? One line per check, the fix beside each problem.

Nothing is written, except the mailbox folders that `--fix` creates: the state is
read, never opened for writing, so the operator may run it as root without
leaving root-owned files in the service's state folder.
"""

from __future__ import annotations

import argparse
import fcntl
import imaplib
import os
import ssl
from collections.abc import Callable, Iterator
from pathlib import Path

from mailbot import config as configmod
from mailbot import logs, tls
from mailbot.errors import MailbotError, SendError, SourceError
from mailbot.register.storage import scan
from mailbot.replies.outbox import SmtpTransport
from mailbot.replies.reply import TEMPLATES, Templates
from mailbot.staff.checkfiles import check_ocr, check_readers, check_signatures
from mailbot.staff.checkline import Line
from mailbot.staff.checkstate import check_filesystem, check_organizations


def check_templates(config: configmod.Config) -> Line:
    try:
        templates = Templates(config.templates_dir)  # renders each with sample data
    except MailbotError as exc:
        return Line(False, "mẫu thư", str(exc), "sửa mẫu thư theo thông báo, hoặc bỏ templates_dir để dùng mẫu có sẵn")
    return Line(True, "mẫu thư", f"{len(TEMPLATES)} mẫu hiển thị đúng ({templates.directory})")


def check_state(config: configmod.Config) -> Line:
    state = config.state_dir
    what = f"sổ ghi nhận {state}"
    if not (state / "db").is_dir():
        parent = next((p for p in [state, *state.parents] if p.exists()), Path("/"))
        if not os.access(parent, os.W_OK):
            return Line(
                False,
                what,
                f"chưa có, và {parent} không ghi được",
                "tạo thư mục cho người dùng của dịch vụ (StateDirectory=mailbot làm việc này)",
            )
        return Line(True, what, "chưa có; sẽ được tạo khi chạy lần đầu")
    counts: dict[str, int] = {}
    try:
        for table in ("messages", "submissions", "outbox"):
            counts[table] = sum(1 for _ in scan(state / "db" / table))
    except MailbotError as exc:
        return Line(False, what, str(exc), "khôi phục từ bản sao lưu (xem docs/operator.md, mục Sao lưu và khôi phục)")
    holder = _lock_holder(state)
    running = f"; đang được dịch vụ dùng (pid {holder})" if holder else ""
    if not os.access(state, os.W_OK) or os.statvfs(state).f_flag & os.ST_RDONLY:  # EROFS stops root too
        return Line(
            False,
            what,
            f"đọc được: {counts['messages']} thư, {counts['submissions']} tài liệu, {counts['outbox']} thư gửi đi"
            f"{running}; nhưng KHÔNG GHI ĐƯỢC (hệ thống tệp chỉ đọc hoặc không có quyền ghi): `run` dừng với mã 4",
            "gắn lại phân vùng ở chế độ ghi (mount -o remount,rw; nếu hệ thống tự chuyển sang chỉ đọc vì lỗi đĩa: "
            "fsck trước) hoặc cấp quyền ghi cho người dùng của dịch vụ, rồi systemctl restart mailbot",
        )
    return Line(
        True,
        what,
        f"đọc được: {counts['messages']} thư, {counts['submissions']} tài liệu, {counts['outbox']} thư gửi đi{running}",
    )


def _lock_holder(state: Path) -> str | None:
    path = state / "mailbot.lock"
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return None
    except BlockingIOError:
        return os.pread(fd, 64, 0).decode("ascii", "replace").strip() or "?"
    finally:
        os.close(fd)


def check_secrets(config: configmod.Config) -> Iterator[Line]:
    smtp_used = config.smtp.username and not config.dry_run and not config.mailbox.send_via_ews
    names = [n for n in config.secret_names if n != config.smtp.password_env or smtp_used]
    for name in names:
        if config.secret(name) is None:
            yield Line(
                False,
                f"bí mật {name}",
                "không tìm thấy (biến môi trường hay credential của systemd)",
                f"đặt LoadCredential={name}:/etc/mailbot/credentials/{name} trong unit, "
                f"hoặc chạy check với --credentials /etc/mailbot/credentials",
            )
        else:
            where = "credential" if not os.environ.get(name) else "biến môi trường"
            yield Line(True, f"bí mật {name}", f"có ({where})")


def check_mailbox(config: configmod.Config, fix: bool) -> Iterator[Line]:
    mb = config.mailbox
    if mb.backend == "maildir":
        from mailbot.intake.sources.maildir import MaildirSource

        try:
            MaildirSource(mb.path or Path("."), config.poll_interval).connect()
        except SourceError as exc:
            yield Line(False, "hộp thư Maildir", str(exc), "kiểm tra [mailbox] path và quyền của người dùng dịch vụ")
            return
        yield Line(True, "hộp thư Maildir", f"{mb.path} đọc được")
    elif mb.backend == "imap":
        yield from _check_imap(config, fix)
    else:
        yield from _check_ews(config, fix)


def _check_imap(config: configmod.Config, fix: bool) -> Iterator[Line]:
    from mailbot.intake.sources.imap import CONNECTION_ERRORS, ImapSource

    mb = config.mailbox
    what = f"hộp thư IMAP {mb.username}@{mb.host}:{mb.port}"
    source = ImapSource(mb, config.state_dir, config.secret, config.poll_interval)
    try:
        box = source.login()
    except ssl.SSLCertVerificationError as exc:  # before any credential was sent
        problem = source.certificate_problem(exc) or str(exc)
        yield Line(False, what, problem, (tls.explain(exc) or ("", ""))[1])
        return
    except imaplib.IMAP4.error as exc:
        yield Line(
            False,
            what,
            f"đăng nhập bị từ chối ({_text(exc)})",
            f"kiểm tra username và mật khẩu ({mb.password_env or 'oauth_token_command'})",
        )
        return
    except SourceError as exc:
        yield Line(False, what, str(exc), "xem [mailbox] auth, password_env, oauth_token_command")
        return
    except CONNECTION_ERRORS as exc:
        yield Line(
            False,
            what,
            f"không kết nối được ({_text(exc)})",
            "kiểm tra host, port, security (tls/starttls) và tường lửa",
        )
        return
    try:
        extensions = [c for c in ("IDLE", "MOVE", "UIDPLUS") if c in box.client.capabilities]
        yield Line(True, what, "đăng nhập được; máy chủ hỗ trợ " + (", ".join(extensions) or "không có IDLE, MOVE"))
        needed = [mb.folder, mb.processed_folder, mb.review_folder] + ([mb.sent_folder] if mb.sent_folder else [])
        for folder in needed:
            yield _folder_line(
                folder, lambda f: box.folder.exists(f), lambda f: box.folder.create(f), fix and folder != mb.folder
            )
    except CONNECTION_ERRORS as exc:
        yield Line(False, what, f"mất kết nối khi xem thư mục ({_text(exc)})", "thử lại; xem nhật ký máy chủ thư")
    finally:
        try:
            box.logout()
        except CONNECTION_ERRORS:
            pass


def _folder_line(folder: str, exists: Callable[[str], bool], create: Callable[[str], object], fix: bool) -> Line:
    what = f"thư mục “{folder}”"
    if exists(folder):
        return Line(True, what, "có")
    if fix:
        create(folder)
        return Line(True, what, "chưa có, đã tạo (--fix)")
    return Line(False, what, "không có trên máy chủ", "chạy lại với --fix để tạo, hoặc sửa tên trong [mailbox]")


EXCHANGE_ONLINE = ("outlook.office365.com", "outlook.office.com", "outlook.live.com", "smtp.office365.com")


def exchange_online(host: str) -> bool:
    """Is `host` Microsoft's (Exchange Online, Microsoft 365, Outlook.com)?"""
    host = host.lower().rstrip(".")
    return host in EXCHANGE_ONLINE or host.endswith(".outlook.com")


def _check_ews(config: configmod.Config, fix: bool) -> Iterator[Line]:
    from mailbot.intake.sources.ews import EwsSource

    mb = config.mailbox
    source = EwsSource(mb, config.state_dir, config.secret, config.poll_interval)
    what = f"hộp thư Exchange {source.describe()}"
    host = mb.ews_url.split("/")[2].split(":")[0].lower() if "://" in mb.ews_url else ""
    if exchange_online(host) or mb.ews_version == "Office365":
        yield Line(
            True,
            what,
            "EWS của Exchange Online (Microsoft 365) bị Microsoft chặn dần từ 01/10/2026 "
            "và sẽ ngừng hẳn trong năm 2027",
            'chuyển sang backend = "imap", host = "outlook.office365.com", auth = "xoauth2" (docs/operator.md, mục IMAP)',
            warning=True,
        )
    try:
        source.connect(create_folders=fix)
    except (SourceError, MailbotError) as exc:
        yield Line(False, what, str(exc), "kiểm tra ews_url, ews_auth, tài khoản và mật khẩu")
        return
    finally:
        source.close()
    yield Line(True, what, "đăng nhập được")
    for folder in (mb.processed_folder, mb.review_folder):
        yield _folder_line(folder, lambda f: f not in source.missing_folders, lambda f: None, False)


def check_smtp(config: configmod.Config) -> Line:
    cfg = config.smtp
    what = f"máy chủ gửi thư SMTP {cfg.host}:{cfg.port}"
    if config.dry_run:
        return Line(True, what, "bỏ qua: dry_run = true, thư trả lời chỉ được ghi ra tệp")
    if config.mailbox.send_via_ews:
        return Line(True, what, "bỏ qua: thư trả lời gửi qua Exchange (send_via_ews)")
    transport = SmtpTransport(cfg)
    try:
        conn = transport.connect()
    except SendError as exc:
        explained = tls.explain(exc)
        if explained is not None:  # before any credential was sent
            cert = tls.peer_certificate(cfg.host, cfg.port, "smtp" if cfg.security == "starttls" else None, cfg.timeout)
            return Line(False, what, f"{explained[0]}; chứng thư: {cert}", explained[1])
        return Line(False, what, str(exc), _smtp_fix(cfg, exc))
    login = ["đăng nhập (XOAUTH2)" if cfg.auth == "xoauth2" else "đăng nhập"] if cfg.username else []
    steps = ["EHLO"] + (["STARTTLS"] if cfg.security == "starttls" else []) + login
    try:
        conn.quit()
    except Exception:  # the check passed; a rude goodbye is not a problem
        pass
    return Line(True, what, " + ".join(steps) + " được")


def _smtp_fix(cfg: configmod.SmtpConfig, exc: SendError) -> str:
    if cfg.auth == "xoauth2" and "oauth_token_command" in str(exc) and exc.code is None:
        return "chạy thử oauth_token_command bằng tay, với người dùng của dịch vụ; lệnh phải in ra đúng một mã truy cập"
    if cfg.auth == "xoauth2" and (exc.code in (530, 534, 535) or "XOAUTH2" in str(exc)):
        return (
            f"mã truy cập phải dành cho {cfg.username} và có quyền SMTP.Send (hoặc SMTP.SendAsApp), "
            "và SMTP AUTH phải được bật cho hộp thư (docs/operator.md, mục Microsoft 365)"
        )
    if exc.code in (530, 534, 535) or "password" in str(exc):
        return "kiểm tra username và mật khẩu SMTP"
    return "kiểm tra host, port, security và tường lửa"


def check_auth(config: configmod.Config) -> Iterator[Line]:
    """How each side logs in; a warning for a password toward Exchange Online's SMTP (said without connecting)."""
    mb = config.mailbox
    if mb.backend == "imap" and mb.auth == "password" and exchange_online(mb.host):
        yield Line(
            True,
            "xác thực hộp thư",
            f"mật khẩu ({mb.password_env or 'password_env'}) tới Exchange Online ({mb.host}): Microsoft đã tắt "
            "đăng nhập IMAP bằng mật khẩu (Basic authentication) từ năm 2022",
            'đặt [mailbox] auth = "xoauth2" và oauth_token_command (docs/operator.md, mục Microsoft 365)',
            warning=True,
        )
    else:
        yield Line(True, "xác thực hộp thư", _mailbox_auth(mb))
    cfg = config.smtp
    what = "xác thực gửi thư SMTP"
    if config.mailbox.send_via_ews:
        yield Line(True, what, "không dùng SMTP: thư trả lời gửi qua Exchange (send_via_ews)")
    elif not cfg.username:
        yield Line(True, what, f"không đăng nhập ({cfg.host} nhận thư không cần xác thực)")
    elif cfg.auth == "xoauth2":
        whose = " của [mailbox]" if cfg.oauth_token_command == config.mailbox.oauth_token_command else ""
        yield Line(
            True,
            what,
            f"XOAUTH2 cho {cfg.username}, mã truy cập lấy mới ở mỗi lần kết nối từ oauth_token_command{whose} "
            f"({cfg.oauth_token_command[0]})",
        )
    elif exchange_online(cfg.host):
        yield Line(
            True,
            what,
            f"mật khẩu ({cfg.password_env or 'password_env'}) tới Exchange Online ({cfg.host}): Microsoft ngừng "
            "cho đăng nhập SMTP AUTH bằng mật khẩu (Basic authentication) vào cuối tháng 12/2026, sau đó "
            "thư trả lời sẽ bị từ chối (550 5.7.30)",
            'đặt [smtp] auth = "xoauth2" và oauth_token_command (docs/operator.md, mục Microsoft 365)',
            warning=True,
        )
    else:
        yield Line(True, what, f"mật khẩu ({cfg.password_env or 'password_env'})")


def _mailbox_auth(mb: configmod.MailboxConfig) -> str:
    if mb.backend == "maildir":
        return "không cần (Maildir trên máy này)"
    if mb.backend == "ews":
        if mb.ews_auth == "oauth2":
            return f"OAuth2 của ứng dụng {mb.client_id} (client credentials, {mb.client_secret_env})"
        return f"{mb.ews_auth.upper()} với mật khẩu ({mb.password_env or 'password_env'})"
    if mb.auth == "xoauth2":
        return f"XOAUTH2, mã truy cập lấy mới ở mỗi lần kết nối từ oauth_token_command ({mb.oauth_token_command[0]})"
    return f"mật khẩu ({mb.password_env or 'password_env'})"


def _text(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    args = getattr(exc, "args", ())
    text = args[0] if args else exc
    if isinstance(text, bytes):
        return text.decode("utf-8", "replace")
    return str(text) or type(exc).__name__


def run_checks(path: str, fix: bool) -> Iterator[Line]:
    try:
        config = configmod.load(path)
    except MailbotError as exc:
        yield Line(False, "cấu hình", str(exc), "sửa tệp cấu hình theo thông báo")
        return
    logs.protect(config.secret(name) for name in config.secret_names)
    campaigns = ", ".join(c.id for c in config.campaigns) or "không có"
    yield Line(
        True,
        "cấu hình",
        f"{config.path}: {len(config.organizations)} đơn vị, chiến dịch {campaigns}, múi giờ {config.timezone.key}",
    )
    yield check_templates(config)
    yield check_state(config)
    yield from check_organizations(config)
    yield check_filesystem(config)
    yield check_signatures(config)
    yield check_readers()
    yield check_ocr(config)
    yield from check_secrets(config)
    yield from check_auth(config)
    yield from check_mailbox(config, fix)
    yield check_smtp(config)


def cmd_check(args: argparse.Namespace) -> int:
    if args.credentials:
        os.environ["CREDENTIALS_DIRECTORY"] = str(Path(args.credentials).resolve())  # read as systemd would pass them
    failed = 0
    for line in run_checks(args.config, args.fix):
        print(logs.scrub(str(line)), flush=True)  # a server may quote what it was sent
        failed += not line.ok
    print(f"{failed} mục có lỗi." if failed else "Mọi mục đều ổn.")
    return 1 if failed else 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("check", help="validate the configuration, templates, state, mailbox and SMTP; one line each")
    p.add_argument("--config", required=True)
    p.add_argument("--fix", action="store_true", help="create the mailbox folders that are missing")
    p.add_argument(
        "--credentials",
        metavar="DIR",
        help="read secrets from files in DIR, as LoadCredential= passes them to the service",
    )
    p.set_defaults(func=cmd_check)
