"""`mailbot check`: the state folder's disk (local, free space) and the register's organizations
and documents that the configuration no longer names."""

from __future__ import annotations

import shutil
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from mailbot import config as configmod
from mailbot.durable import filesystem_type, remote_filesystem
from mailbot.errors import MailbotError
from mailbot.register.storage import scan
from mailbot.staff.checkline import Line


def check_organizations(config: configmod.Config) -> Iterator[Line]:
    """A warning for each organization the register holds records of but the configuration no
    longer names (removed, or its id changed): status and the roster show them marked as such,
    the digest and reminders leave them out. The same for a campaign's document removed."""
    db = config.state_dir / "db"
    named = {org.id for org in config.organizations}
    documents: Counter[str] = Counter()
    messages: Counter[str] = Counter()
    slots: Counter[tuple[str, str]] = Counter()  # (campaign, document) -> documents received
    try:
        for _, sub in scan(db / "submissions"):
            documents[sub.get("organization") or ""] += 1
            slots[(sub.get("campaign") or "", sub.get("document") or "")] += 1
        for _, msg in scan(db / "messages"):
            messages[msg.get("organization") or ""] += 1
    except MailbotError:
        return  # check_state has said it
    for org_id in sorted((set(documents) | set(messages)) - named - {""}):
        yield Line(
            True,
            f"đơn vị {org_id}",
            f"không còn trong cấu hình nhưng sổ còn {messages[org_id]} thư, {documents[org_id]} tài liệu đã nộp "
            "của đơn vị này; status và roster vẫn hiện với ghi chú, báo cáo hằng ngày và thư nhắc thì không",
            f'thêm lại [[organizations]] id = "{org_id}" nếu bỏ nhầm (hoặc đổi id về như cũ)',
            warning=True,
        )
    configured = {(c.id, d.id) for c in config.campaigns for d in c.documents}
    for (campaign, document), count in sorted(slots.items()):
        if (campaign, document) not in configured:
            yield Line(
                True,
                f"tài liệu {document} của chiến dịch {campaign}",
                f"không còn trong cấu hình nhưng sổ còn {count} bản đã nộp; status, báo cáo hằng ngày và "
                "danh sách trực không hiện nữa",
                "thêm lại [[campaigns]] / [[campaigns.documents]] với id như cũ nếu bỏ nhầm",
                warning=True,
            )


LOW_SPACE_BYTES = 200 * 1024 * 1024  # under this free on state_dir's disk, `check` warns


def check_filesystem(config: configmod.Config) -> Line:
    """state_dir belongs on a local disk: on FUSE or a network filesystem, fsync (and syncfs) is only
    as good as the process or server behind it, and a power cut may lose what mailbot made durable."""
    state = config.state_dir
    kind = remote_filesystem(state)
    what = "ổ đĩa chứa state_dir"
    if kind is not None:
        return Line(
            False,
            what,
            f"{state} nằm trên {kind} (FUSE hoặc ổ mạng): mất điện có thể làm mất dữ liệu đã ghi",
            "đặt state_dir trên ổ đĩa cục bộ của máy (ext4, xfs; StateDirectory=mailbot làm việc này)",
            warning=True,
        )
    existing = next((p for p in [state, *state.parents] if p.exists()), Path("/"))
    local = filesystem_type(existing)
    free = shutil.disk_usage(existing).free
    if free < LOW_SPACE_BYTES:  # a full disk stops the register: said here before it happens
        return Line(
            False,
            what,
            f"ổ đĩa cục bộ ({local or 'không rõ loại'}) chỉ còn trống {free // (1024 * 1024)} MB",
            "giải phóng chỗ trống hoặc chuyển state_dir sang ổ khác (docs/operator.md, sao lưu và khôi phục)",
            warning=True,
        )
    return Line(True, what, f"ổ đĩa cục bộ ({local or 'không rõ loại'}), còn trống {free // (1024 * 1024)} MB")
