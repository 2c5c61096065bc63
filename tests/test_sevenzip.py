"""7z archives whose headers ask for more memory than a message may use: the dictionary (LZMA,
LZMA2) or the model (PPMd) a decoder allocates before the first byte comes out."""

from __future__ import annotations

import io

import py7zr
import pytest

from mailbot.analysis.workers import analyse
from tests.conftest import build
from tests.formats import NAMES, duty_xlsx, sevenzip_declaring


def test_a_7z_declaring_a_4_gib_dictionary_is_not_unpacked(config) -> None:
    data = sevenzip_declaring({"DS truc.xlsx": duty_xlsx()}, 40)
    env = analyse(build(sender="kt@vnpt.vn", subject="Gửi Sở", files=(("DS truc.7z", data),)), "t", None, config)
    defects = [d for a in env.parsed.attachments for d in a.defects]
    assert "tệp nén .7z cần 4096 MB bộ nhớ để giải nén (từ điển nén), trên giới hạn 64 MB: không mở" in defects


@pytest.mark.parametrize("prop", [None, 28])  # as written (1 MiB), and 64 MiB: 7-Zip's "ultra"
def test_a_7z_with_an_ordinary_dictionary_is_read(config, prop) -> None:
    data = sevenzip_declaring({"DS truc.xlsx": duty_xlsx()}, prop)
    env = analyse(build(sender="kt@vnpt.vn", subject="Gửi Sở", files=(("DS truc.7z", data),)), "t", None, config)
    assert {row["name"] for row in env.duty_rows["duty-list"]} == NAMES


def test_a_7z_whose_ppmd_model_takes_a_gib_is_not_unpacked(config) -> None:
    out = io.BytesIO()
    with py7zr.SevenZipFile(out, "w", filters=[{"id": py7zr.FILTER_PPMD, "order": 6, "mem": 30}]) as archive:
        archive.writestr(duty_xlsx(), "DS truc.xlsx")
    env = analyse(
        build(sender="kt@vnpt.vn", subject="Gửi Sở", files=(("DS truc.7z", out.getvalue()),)), "t", None, config
    )
    defects = [d for a in env.parsed.attachments for d in a.defects]
    assert "tệp nén .7z cần 1024 MB bộ nhớ để giải nén (từ điển nén), trên giới hạn 64 MB: không mở" in defects
