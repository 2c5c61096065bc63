"""Sample contexts, one per template: every template is rendered with its sample when mailbot
starts (a broken template fails then, not at send time), and `mailbot templates` shows them."""

from __future__ import annotations

from typing import Any

TEMPLATES = (
    "ack.txt.j2",
    "ack.html.j2",
    "oversize.txt.j2",
    "oversize.html.j2",
    "remind.txt.j2",
    "remind.html.j2",
    "digest.txt.j2",
    "digest.html.j2",
    "roster.html.j2",
    "command.txt.j2",
    "command.html.j2",
)

SAMPLE_ACK: dict[str, Any] = {
    "organization": "Viễn thông Đồng Tháp",
    "department": "Sở Thông tin và Truyền thông tỉnh Đồng Tháp",
    "mailbox": "pbcvt@dongthap.gov.vn",
    "receipt": "BC2021-0001",
    "received": "09 giờ 15 phút, ngày 29 tháng 3 năm 2021",
    "campaign": "Bảo đảm thông tin liên lạc",
    "files": [
        {"name": "PA.docx", "size": "12,0 KB", "kind": "Phương án", "signatures": []},
        {
            "name": "PA-ky-so.pdf",
            "size": "80,0 KB",
            "kind": "Phương án",
            "signatures": [
                "Tệp đã được ký số bởi VIỄN THÔNG ĐỒNG THÁP (MST 0100684378-036) lúc 09 giờ 10 phút, "
                "ngày 29 tháng 3 năm 2021; chữ ký số còn nguyên vẹn (không bị sửa đổi sau khi ký)"
            ],
        },
    ],
    "mail_signatures": [],
    "received_documents": [
        {"name": "Phương án", "on_time": True, "deadline": "hết ngày 01 tháng 4 năm 2021", "version": 2}
    ],
    "owed": [{"name": "Danh sách trực", "deadline": "hết ngày 21 tháng 5 năm 2021", "overdue": False}],
    "roster": [
        {"name": "Nguyễn Văn An", "position": "Giám đốc", "phones": "0913 123 456", "problems": [], "ocr": False},
        {
            "name": "Võ Thị Em",
            "position": "Nhân viên",
            "phones": "0913 12",
            "problems": ["0913 12: số không hợp lệ (sai đầu số hoặc độ dài)"],
            "ocr": True,
        },
    ],
    "roster_unread": False,
    "roster_unread_table": False,
    "roster_problems": 1,
    "roster_ocr": 1,
    "contact": "Liên hệ: 0277.3873996.",
    "signature": "Phòng Bưu chính, Viễn thông",
}

SAMPLE_OVERSIZE: dict[str, Any] = {
    "organization": "Viễn thông Đồng Tháp",
    "department": SAMPLE_ACK["department"],
    "mailbox": SAMPLE_ACK["mailbox"],
    "received": SAMPLE_ACK["received"],
    "subject": "Gửi phương án",
    "size": "42,0 MB",
    "limit": "30 MB",
    "contact": SAMPLE_ACK["contact"],
    "signature": SAMPLE_ACK["signature"],
}
SAMPLE_REMIND: dict[str, Any] = {
    "organization": "Viễn thông Đồng Tháp",
    "department": SAMPLE_ACK["department"],
    "mailbox": SAMPLE_ACK["mailbox"],
    "campaign": SAMPLE_ACK["campaign"],
    "reference": "Công văn số 123/STTTT-BCVT ngày 15/3/2021 của Sở Thông tin và Truyền thông",
    "document": "Phương án bảo đảm thông tin liên lạc",
    "deadline": "hết ngày 01 tháng 4 năm 2021",
    "days_left": 3,
    "submitted": [
        {"name": "Danh sách trực", "receipt": "BC2021-0002", "received": "09 giờ 15 phút, ngày 29 tháng 3 năm 2021"}
    ],
    "contact": SAMPLE_ACK["contact"],
    "signature": SAMPLE_ACK["signature"],
}
SAMPLE_DIGEST: dict[str, Any] = {
    "date": "ngày 29 tháng 3 năm 2021",
    "short_date": "29/03/2021",
    "since": "07 giờ 30 phút, ngày 28 tháng 3 năm 2021",
    "department": SAMPLE_ACK["department"],
    "mailbox": SAMPLE_ACK["mailbox"],
    "signature": SAMPLE_ACK["signature"],
    "campaigns": [
        {
            "title": "Bầu cử 2021",
            "id": "bau-cu-2021",
            "documents": [{"name": "Phương án", "deadline": "01/04/2021"}],
            "table": [{"organization": "Viễn thông Đồng Tháp", "cells": [{"status": "on-time", "text": "đúng hạn"}]}],
            "roster": [
                {
                    "organization": "Viễn thông Đồng Tháp",
                    "missing": False,
                    "rows": [
                        {"name": "Nguyễn Văn An", "position": "Giám đốc", "phones": "0913 123 456", "problems": ""}
                    ],
                },
                {"organization": "Viettel Đồng Tháp", "missing": True, "rows": []},
            ],
        }
    ],
    "arrived": [
        {
            "time": "09:15 29/03/2021",
            "from": "kt@vnpt.vn",
            "organization": "Viễn thông Đồng Tháp",
            "what": "nộp tài liệu",
            "receipt": "BC2021-0001",
            "subject": "Phương án",
            "signatures": [
                "Tệp PA.pdf đã được ký số bởi VIỄN THÔNG ĐỒNG THÁP (MST 0100684378-036) lúc 09 giờ 10 phút, "
                "ngày 29 tháng 3 năm 2021; chữ ký số còn nguyên vẹn (không bị sửa đổi sau khi ký)"
            ],
        }
    ],
    "reminders": [
        {
            "organization": "Viettel Đồng Tháp",
            "document": "Phương án",
            "step": "trước hạn 3 ngày",
            "to": "kt@viettel.com.vn",
            "note": "",
        }
    ],
    "unsent_reminders": [
        {
            "organization": "Bưu điện tỉnh Đồng Tháp",
            "document": "Phương án",
            "step": "trước hạn 3 ngày",
            "to": "",
            "note": "chưa có địa chỉ",
        }
    ],
    "review": [
        {
            "id": "XL-0001",
            "when": "10:00 29/03/2021",
            "label": "người gửi lạ",
            "from": "a@gmail.com",
            "subject": "PA",
            "reply": "giao XL-0001 <mã đơn vị> plan",
        }
    ],
    "closed": [{"id": "XL-0000", "action": "đã giao", "by": "ddthong@dongthap.gov.vn", "when": "09:00 29/03/2021"}],
    "commands": [{"form": "xem xét", "what": "danh sách thư chờ xem xét", "example": "xem xét"}],
    "command_rule": "Lệnh giao, bỏ qua và nhắc chỉ được thực hiện khi là thư trả lời thư báo cáo.",
    "failures": ["Tệp không đọc được: a.docx"],
}
SAMPLE_ROSTER: dict[str, Any] = {
    "department": SAMPLE_ACK["department"],
    "campaign": SAMPLE_ACK["campaign"],
    "document": "Danh sách trực",
    "event": "Ngày bầu cử ngày 23 tháng 5 năm 2021",
    "today": "ngày 21 tháng 5 năm 2021",
    "organizations": [
        {
            "name": "Viễn thông Đồng Tháp",
            "missing": False,
            "receipt": "BC2021-0007",
            "received": "14:00 20/05/2021",
            "version": 2,
            "rows": [
                {
                    "name": "Nguyễn Văn An",
                    "position": "Giám đốc",
                    "unit": "",
                    "time": "Cả ngày",
                    "phones": [{"display": "0913 123 456", "e164": "+84913123456"}],
                    "problems": [],
                    "ocr": True,
                }
            ],
        },
        {"name": "Viettel Đồng Tháp", "missing": True, "receipt": None, "received": "", "version": 0, "rows": []},
    ],
}
SAMPLE_COMMAND: dict[str, Any] = {
    "to": "ddthong@dongthap.gov.vn",
    "title": "Đã giao XL-0003 cho Viễn thông Đồng Tháp",
    "lines": ["Số biên nhận BC2021-0012.", "Thư xác nhận: đã gửi đến kt@gmail.com."],
    "block": "",
    "show_help": True,
    "commands": [{"form": "xem xét", "what": "danh sách thư chờ xem xét", "example": "xem xét"}],
    "command_rule": "Lệnh giao, bỏ qua và nhắc chỉ được thực hiện khi là thư trả lời thư báo cáo.",
    "mailbox": SAMPLE_ACK["mailbox"],
    "signature": SAMPLE_ACK["signature"],
    "department": SAMPLE_ACK["department"],
}
SAMPLES = {
    "command": SAMPLE_COMMAND,
    "ack": SAMPLE_ACK,
    "oversize": SAMPLE_OVERSIZE,
    "remind": SAMPLE_REMIND,
    "digest": SAMPLE_DIGEST,
    "roster": SAMPLE_ROSTER,
}
