"""A realistic mix of generated messages, 5 KB to 500 KB, for the benchmarks.

Shares: 55% submissions (a named plan or duty list, often with a scanned page
or a signature image), 25% correspondence, 10% automated, 10% unknown senders.
Sizes are uniform between 5 KB and 500 KB (the range the issue measured
mail-parser on), or log-uniform (many small messages) with sizes="log";
messages are padded with image bytes as carriers' scanned attachments are.
"""

from __future__ import annotations

import datetime
import io
import math
import random
from email.message import EmailMessage
from email.policy import SMTP

FIXED = datetime.datetime(2021, 3, 29, 9, 0)
DOMAINS = ["vnpt.vn", "viettel.com.vn", "mobifone.vn", "vnpost.vn", "viettelpost.com.vn"]


def _docx(seed: int) -> bytes:
    import docx

    document = docx.Document()
    document.core_properties.created = document.core_properties.modified = FIXED  # same bytes every run
    document.add_paragraph("PHƯƠNG ÁN")
    document.add_paragraph("Bảo đảm thông tin liên lạc phục vụ bầu cử, bản số %d." % seed)
    buf = io.BytesIO()
    document.save(buf)
    return buf.getvalue()


def _xlsx() -> bytes:
    import openpyxl

    wb = openpyxl.Workbook()
    wb.properties.created = wb.properties.modified = FIXED
    ws = wb.active
    ws.append(["STT", "Họ và tên", "Chức vụ", "Số điện thoại"])
    for i in range(1, 21):
        ws.append([i, f"Nguyễn Văn {i}", "Trực ban", f"0913{i:06d}"])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def generate(count: int, seed: int = 2021, sizes: str = "uniform") -> list[bytes]:
    rng = random.Random(seed)
    plan, duty = _docx(1), _xlsx()
    out = []
    for n in range(count):
        if sizes == "log":
            target = int(math.exp(rng.uniform(math.log(5_000), math.log(500_000))))
        else:
            target = rng.randint(5_000, 500_000)
        domain = rng.choice(DOMAINS)
        kind = rng.random()
        msg = EmailMessage(policy=SMTP)
        msg["Received"] = f"from mx.{domain} by mail.dongthap.gov.vn; Mon, 29 Mar 2021 09:{n % 60:02d}:00 +0700"
        msg["Authentication-Results"] = f"mail.dongthap.gov.vn; dmarc=pass header.from={domain}"
        sender = f"nv{n % 37}@{domain}" if kind < 0.9 else f"user{n}@gmail.com"
        msg["From"] = sender
        msg["To"] = "pbcvt@dongthap.gov.vn"
        msg["Date"] = "Mon, 29 Mar 2021 09:15:00 +0700"
        msg["Message-ID"] = f"<bench.{seed}.{n}@{domain}>"
        files: list[tuple[str, bytes, str, str]] = []
        if kind < 0.55 or kind >= 0.9:
            if rng.random() < 0.6:
                msg["Subject"] = "V/v gửi phương án bảo đảm thông tin liên lạc"
                files.append(
                    (
                        f"PA bau cu {n}.docx",
                        plan,
                        "application",
                        "vnd.openxmlformats-officedocument.wordprocessingml.document",
                    )
                )
            else:
                msg["Subject"] = "Danh sách trực ngày bầu cử"
                files.append(
                    (f"DS truc {n}.xlsx", duty, "application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet")
                )
        elif kind < 0.8:
            msg["Subject"] = "Trao đổi về công tác bảo đảm thông tin"
        else:
            msg["Subject"] = "Trả lời tự động: Vắng mặt"
            msg["Auto-Submitted"] = "auto-replied"
        msg.set_content("Kính gửi Sở Thông tin và Truyền thông.\n" + "Nội dung trao đổi. " * 40)
        for name, data, maintype, subtype in files:
            msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
        size = len(msg.as_bytes())
        if target > size + 1000:  # a scanned page as carriers attach them
            msg.add_attachment(
                rng.randbytes((target - size) * 3 // 4), maintype="image", subtype="jpeg", filename=f"scan{n}.jpg"
            )
        out.append(msg.as_bytes())
    return out
