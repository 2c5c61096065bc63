"""Messages attached to an Outlook .msg as items (Outlook's "attach item", not a .msg file): their
files are read one level down, deeper ones are named, and a .msg of thousands of entries is not
opened (extract-msg opened every level at once: 100 levels, a 460 KB file, took 25 s and 2.7 GB)."""

from __future__ import annotations

from mailbot.analysis.workers import analyse
from mailbot.envelope import Envelope
from tests.conftest import build
from tests.formats import NAMES, duty_xlsx, outlook_msg, outlook_msg_nested


def analysed(config, data: bytes) -> Envelope:
    return analyse(
        build(sender="kt@vnpt.vn", subject="Danh sách cán bộ trực", files=(("Fw DS truc.msg", data),)),
        "t",
        None,
        config,
    )


def defects(env: Envelope) -> list[str]:
    return [d for a in env.parsed.attachments for d in a.defects]


def test_a_duty_list_in_a_message_attached_as_an_item_is_read(config) -> None:
    inner = outlook_msg({"DS truc VNPT.xlsx": duty_xlsx()}, subject="Danh sách trực")
    env = analysed(config, outlook_msg_nested(inner, 1, subject="Fw: danh sách trực"))
    member = next(a for a in env.parsed.attachments if a.container)
    assert member.filename == "Danh sách trực/DS truc VNPT.xlsx" and member.kind == "xlsx"
    assert {row["name"] for row in env.duty_rows["duty-list"]} == NAMES


def test_items_nested_thirty_deep_are_opened_one_level_and_named_below(config) -> None:
    inner = outlook_msg({"DS truc VNPT.xlsx": duty_xlsx()}, subject="Danh sách trực")
    env = analysed(config, outlook_msg_nested(inner, 30, subject="Fw"))
    assert "không giải nén được 'Fw/Fw.msg': thư Outlook đính kèm lồng quá sâu: không mở" in defects(env)
    assert not env.duty_rows.get("duty-list")


def test_a_msg_of_thousands_of_entries_is_not_opened(config) -> None:
    env = analysed(config, outlook_msg({f"tep-{n}.txt": b"x" for n in range(600)}))
    assert any(d.startswith("gói Outlook .msg có ") and "(trên 4000): không mở" in d for d in defects(env)), defects(
        env
    )
