"""Text a reader of an HTML-only mail cannot see is never a duty-list row nor the heading that
makes a list one (issue 23, 5c); commands: tests/test_command_trust.py."""

from __future__ import annotations

import pytest

from mailbot.analysis.htmltext import html_to_text
from mailbot.analysis.rosters import read_rosters
from tests.conftest import classify

ROWS = (
    "<table><tr><td>STT</td><td>Họ và tên</td><td>Chức vụ</td><td>Số điện thoại</td></tr>"
    "<tr><td>1</td><td>Nguyễn Văn An</td><td>Giám đốc</td><td>0913.123.456</td></tr>"
    "<tr><td>2</td><td>Trần Thị Bích</td><td>Trưởng phòng</td><td>0919 222 333</td></tr></table>"
)
# a heading alone, and one person's line: a duty list only if the heading counts
HEADING = "<table><tr><td>Họ và tên</td><td>Số điện thoại</td></tr></table>"
ONE_LINE = "<p>Nguyễn Văn An 0913.123.456</p>"

HIDING = [
    '<div style="display:none">{}</div>',
    '<div style="visibility:hidden">{}</div>',
    '<div style="font-size:0">{}</div>',
    '<div style="opacity:0">{}</div>',
    "<!--{}-->",
    "<template>{}</template>",
    '<div hidden="">{}</div>',
    "<style>@media screen {{ #x {{ display:none }} }}</style><div id=x>{}</div>",
]


def html_mail(html: str) -> bytes:
    return (
        "Authentication-Results: mail.dongthap.gov.vn; dkim=pass header.d=vnpost.vn; dmarc=pass header.from=vnpost.vn\r\n"
        "From: dh@vnpost.vn\r\nTo: pbcvt@dongthap.gov.vn\r\nSubject: Gửi Sở\r\n"
        "Date: Mon, 29 Mar 2021 09:15:00 +0700\r\nMessage-ID: <h@vnpost.vn>\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        f"<html><body><p>Kính gửi Sở</p>{html}</body></html>\r\n"
    ).encode()


def roster(config, html: str) -> tuple[list[str], list[dict]]:
    env = classify(html_mail(html), config)
    campaign = config.campaign(env.campaign)
    return env.documents, read_rosters(env, campaign).get("duty-list", [])


@pytest.mark.parametrize("hiding", HIDING)
def test_hidden_rows_and_headings_are_no_duty_list(config, hiding) -> None:
    documents, rows = roster(config, ROWS)  # shown: a duty list of two
    assert documents == ["duty-list"] and [r["name"] for r in rows] == ["Nguyễn Văn An", "Trần Thị Bích"]
    assert roster(config, HEADING + ONE_LINE)[0] == ["duty-list"]  # the heading makes one line a list
    assert roster(config, hiding.format(ROWS)) == ([], [])
    assert roster(config, hiding.format(HEADING) + ONE_LINE)[0] == []


def test_what_is_shown_stays_whatever_the_markup() -> None:
    html = (
        "<style>p.MsoNormal {margin:0} a:hover {display:none} .x::before {display:none}</style>"
        "<div><p class=MsoNormal>giao XL-0001<br>vnpt<p>hai<img src=x></div>"
        "<span>ba</span></b></i><table><tr><td>1<td>2</table>"
    )
    assert html_to_text(html) == "giao XL-0001\nvnpt\nhai\nba\n1 | 2"


def test_more_ways_to_hide_text_are_not_read() -> None:
    """Found by an attack review: the font shorthand, a box with no room, a closed <details>, a zero
    scale or zoom."""
    from mailbot.analysis.htmltext import html_to_text

    for hidden in (
        '<span style="font:0/0 a">giao XL-0001 x</span>',
        '<div style="max-height:0;overflow:hidden">giao XL-0001 x</div>',
        '<div style="height:0px; overflow: hidden">giao XL-0001 x</div>',
        "<details><summary>Xem</summary>giao XL-0001 x</details>",
        '<div style="transform:scale(0)">giao XL-0001 x</div>',
        '<div style="zoom:0">giao XL-0001 x</div>',
    ):
        text = html_to_text(f"<html><body><p>Kính gửi</p>{hidden}<p>Trân trọng</p></body></html>")
        assert "giao" not in text and "Kính gửi" in text, hidden
    assert "giao" in html_to_text("<details open><summary>Xem</summary>giao XL-0001 x</details>")
    assert "giao" in html_to_text('<div style="max-height:0">giao XL-0001 x</div>')  # no overflow:hidden: shown
