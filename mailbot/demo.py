"""The embedded demo: the 2021 election as the mailbox saw it, with no server.

Messages are built here (documents made with python-docx and openpyxl), put
into a Maildir, and processed by the real pipeline; acknowledgements are
written as .eml files into a local outbox folder.
"""

from __future__ import annotations

import io
import re
import shutil
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

from mailbot.errors import MailbotError

MARKER = ".mailbot-demo"
DEPT = "mail.dongthap.gov.vn"


def _docx(lines: list[str]) -> bytes:
    import docx

    document = docx.Document()
    for line in lines:
        document.add_paragraph(line)
    buf = io.BytesIO()
    document.save(buf)
    return buf.getvalue()


def _xlsx(title: str, rows: list[list[str]]) -> bytes:
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.worksheets[0]
    ws.append([title])
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=5)
    ws.append([])
    ws.append(["STT", "Họ và tên", "Chức vụ", "Số điện thoại", "Thời gian trực"])
    for index, row in enumerate(rows, 1):
        ws.append([index, *row])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _zip(members: dict[str, bytes]) -> bytes:
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _plan(org: str) -> bytes:
    return _docx(
        [
            org.upper(),
            "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
            "Độc lập - Tự do - Hạnh phúc",
            "PHƯƠNG ÁN",
            "Bảo đảm thông tin liên lạc phục vụ bầu cử đại biểu Quốc hội khóa XV và đại biểu HĐND các cấp "
            "nhiệm kỳ 2021 - 2026",
            "1. Tổ chức trực 24/24 giờ tại Trung tâm Điều hành thông tin.",
            "2. Dự phòng máy phát điện, trạm BTS lưu động tại các điểm bỏ phiếu.",
        ]
    )


def _mail(
    sender: str,
    subject: str,
    body: str,
    date: str,
    msgid: str,
    *,
    files: dict[str, bytes] | None = None,
    headers: dict[str, str] | None = None,
    auth: bool = True,
) -> bytes:
    msg = EmailMessage(policy=SMTP)
    address = sender.rsplit("<", 1)[-1].strip(">")
    domain = address.rsplit("@", 1)[1]
    msg["Return-Path"] = f"<{address}>"
    msg["Received"] = f"from mx.{domain} by {DEPT} with ESMTPS; {date}"
    if auth:
        msg["Authentication-Results"] = (
            f"{DEPT}; spf=pass smtp.mailfrom={domain}; dkim=pass header.d={domain}; dmarc=pass header.from={domain}"
        )
    msg["From"] = sender
    msg["To"] = "pbcvt@dongthap.gov.vn"
    msg["Subject"] = subject
    msg["Date"] = date
    msg["Message-ID"] = f"<{msgid}@{domain}>"
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(body)
    mime = {
        "docx": ("application", "vnd.openxmlformats-officedocument.wordprocessingml.document"),
        "xlsx": ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        "zip": ("application", "zip"),
    }
    for name, data in (files or {}).items():
        maintype, subtype = mime.get(name.rsplit(".", 1)[-1], ("application", "octet-stream"))
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return msg.as_bytes()


def messages() -> list[bytes]:
    """The demo mailbox: plans and duty lists from the five organizations, and the usual noise."""
    kg = "Kính gửi: Sở Thông tin và Truyền thông tỉnh Đồng Tháp.\n\n"
    tt = "\n\nTrân trọng."
    duty = [
        ["Nguyễn Văn Hải", "Giám đốc", "0913.456.789", "Cả ngày 23/5"],
        ["Trần Thị Mai", "Trưởng phòng Kỹ thuật", "0277 3851 234 - 0919 222 333", "Cả ngày 23/5"],
        ["Lê Minh Tuấn", "Điều hành viên", "0945.111.222", "Ca đêm 22-23/5"],
    ]
    post = [
        ["Huỳnh Thị Thu Trang", "Giám đốc Bưu điện tỉnh", "0918.672.345", "Cả ngày 23/5"],
        ["Châu Văn Phúc", "Trưởng phòng Khai thác", "0277 3852 468 - 0939 415 026", "Ca ngày 23/5"],
        ["Ngô Thanh Tâm", "Nhân viên điều hành", "0886.204.715", "Ca đêm 22-23/5"],
    ]
    return [
        _mail(
            "Phòng Kỹ thuật - Viễn thông Đồng Tháp <kythuat.dtp@vnpt.vn>",
            "V/v gửi phương án bảo đảm TTLL bầu cử",
            kg + "Viễn thông Đồng Tháp gửi phương án bảo đảm thông tin liên lạc phục vụ bầu cử." + tt,
            "Mon, 29 Mar 2021 09:15:00 +0700",
            "pa-2021-0329",
            files={"Phương án bảo đảm TTLL bầu cử 2021.docx": _plan("Viễn thông Đồng Tháp")},
        ),
        _mail(
            "Viettel Đồng Tháp <vtdt@viettel.com.vn>",
            "Phương án bầu cử",
            kg + "Viettel Đồng Tháp gửi hồ sơ phương án (tệp nén)." + tt,
            "Tue, 30 Mar 2021 16:40:00 +0700",
            "vt-pa-01",
            files={"Ho so bau cu.zip": _zip({"PA_Viettel_DongThap.docx": _plan("Viettel Đồng Tháp")})},
        ),
        _mail(
            "TTML MobiFone miền Nam <ttml.mn@mobifone.vn>",
            "Gửi phương án bảo đảm thông tin",
            kg + "Trung tâm Mạng lưới MobiFone miền Nam gửi phương án, xin lỗi vì gửi chậm." + tt,
            "Mon, 05 Apr 2021 10:05:00 +0700",
            "mbf-pa-2021",
            files={"PA bau cu MobiFone.docx": _plan("Trung tâm Mạng lưới MobiFone miền Nam")},
        ),
        _mail(
            "Bưu điện tỉnh Đồng Tháp <buudien.dongthap@vnpost.vn>",
            "Phương án và danh sách trực",
            kg + "Bưu điện tỉnh gửi phương án và danh sách trực." + tt,
            "Wed, 31 Mar 2021 08:30:00 +0700",
            "bd-2021-03",
            files={
                "Phuong an.docx": _plan("Bưu điện tỉnh Đồng Tháp"),
                "DS truc bau cu.xlsx": _xlsx("DANH SÁCH TRỰC NGÀY BẦU CỬ", post),
            },
        ),
        _mail(
            "Viettel Post Đồng Tháp <cn.dongthap@viettelpost.com.vn>",
            "Danh sách trực ngày bầu cử",
            kg + "Danh sách trực Ngày bầu cử:\n1. Phạm Văn Long - Giám đốc chi nhánh - 0986.123.456\n"
            "2. Võ Thị Hồng - Phó Giám đốc - 0277 3857 999\n3. Đặng Quốc Bảo - Điều hành - 0962 888 777" + tt,
            "Thu, 20 May 2021 15:00:00 +0700",
            "vtp-ds-truc",
        ),
        _mail(
            "Phòng Kỹ thuật - Viễn thông Đồng Tháp <kythuat.dtp@vnpt.vn>",
            "Danh sách trực bầu cử",
            kg + "Viễn thông Đồng Tháp gửi danh sách trực." + tt,
            "Wed, 19 May 2021 09:00:00 +0700",
            "ds-truc-1",
            files={"DS truc VNPT.xlsx": _xlsx("DANH SÁCH LÃNH ĐẠO TRỰC", duty[:2])},
        ),
        _mail(
            "Phòng Kỹ thuật - Viễn thông Đồng Tháp <kythuat.dtp@vnpt.vn>",
            "Re: Danh sách trực bầu cử (bổ sung)",
            kg + "Viễn thông Đồng Tháp gửi lại danh sách trực đã bổ sung." + tt,
            "Thu, 20 May 2021 14:00:00 +0700",
            "ds-truc-2",
            files={"DS truc VNPT (bo sung).xlsx": _xlsx("DANH SÁCH LÃNH ĐẠO TRỰC", duty)},
        ),
        _mail(
            "Nguyễn Văn Bình <binh.nv@vnpt.vn>",
            "Trả lời tự động: V/v gửi phương án",
            "Tôi đang đi công tác đến hết ngày 02/4/2021.",
            "Mon, 29 Mar 2021 09:20:00 +0700",
            "ooo-1",
            headers={"Auto-Submitted": "auto-replied"},
        ),
        _mail(
            "Mail Delivery System <MAILER-DAEMON@vnpt.vn>",
            "Undelivered Mail Returned to Sender",
            "<sai.dia.chi@vnpt.vn>: 550 5.1.1 User unknown",
            "Mon, 29 Mar 2021 09:21:00 +0700",
            "bounce-1",
            auth=False,
            headers={"Auto-Submitted": "auto-replied"},
        ),
        _mail(
            "Nguyen Van A <nguyenvana.vnpt@gmail.com>",
            "Phương án bầu cử VNPT",
            "Em gửi phương án từ hộp thư cá nhân ạ.",
            "Wed, 31 Mar 2021 21:10:00 +0700",
            "gmail-pa",
            files={"Phuong an.docx": _plan("Viễn thông Đồng Tháp")},
        ),
        _mail(
            "Viettel Đồng Tháp <vtdt@viettel.com.vn>",
            "Hỏi thời hạn gửi danh sách trực",
            "Xin hỏi Sở thời hạn gửi danh sách trực là ngày nào ạ?" + tt,
            "Fri, 14 May 2021 11:00:00 +0700",
            "vt-hoi",
        ),
    ]


def prepare(folder: Path, example_config: Path) -> Path:
    """A fresh demo folder: config.toml, a Maildir seeded with the demo mailbox. Returns the config path."""
    if folder.exists():
        if not (folder / MARKER).exists() and any(folder.iterdir()):
            raise MailbotError(f"{folder} exists and is not a mailbot demo folder; choose another with --dir")
        shutil.rmtree(folder)
    (folder / "maildir").mkdir(parents=True)
    (folder / MARKER).write_text("mailbot demo folder; `mailbot demo` recreates it\n", encoding="utf-8")
    text = example_config.read_text(encoding="utf-8")
    replacements = [
        (r"(?m)^state_dir = .*$", 'state_dir = "state"'),
        (r"(?m)^path = .*$", 'path = "maildir"'),
        (r"(?m)^dry_run = false", "dry_run = true"),
    ]
    for pattern, new in replacements:
        text, count = re.subn(pattern, new, text, count=1)
        if count != 1:
            raise MailbotError(f"the example configuration has no line matching {pattern}")
    config_path = folder / "config.toml"
    config_path.write_text(text, encoding="utf-8")
    for sub in ("tmp", "new", "cur"):
        (folder / "maildir" / sub).mkdir()
    for index, raw in enumerate(messages(), 1):
        (folder / "maildir" / "new" / f"16170{index:05d}.M{index}P1.demo").write_bytes(raw)
    return config_path
