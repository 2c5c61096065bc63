"""Vietnamese folding, keyword matching and telephone numbers."""

from __future__ import annotations

import unicodedata

import pytest

from mailbot.analysis.textnorm import Keyword, decode_bytes, find_phones, fold, name_matches, words


@pytest.mark.parametrize("text", ["Phương án", "PHƯƠNG ÁN", "phuong an", unicodedata.normalize("NFD", "Phương Án")])
def test_fold_is_diacritic_and_case_blind(text) -> None:
    assert words(text) == ["phuong", "an"]


def test_d_stroke() -> None:
    assert fold("Đồng Tháp đảm bảo") == "dong thap dam bao"


def test_windows_1258_decodes_to_nfc() -> None:
    # "Trực" as Windows writes it: base letters with a combining dot below
    raw = b"Tr\xddc"  # \xdd is U+01B0 (ư) in cp1258
    text = decode_bytes(raw + b"\xf2", "windows-1258")
    assert text == unicodedata.normalize("NFC", text)
    assert fold(text) == "truc"


def test_keyword_wildcard() -> None:
    kw = Keyword.parse("danh sách * trực")
    assert kw.find(words("Danh sách, số điện thoại trực của lãnh đạo")) == 0
    assert kw.find(words("danh sách trực")) == 0
    assert kw.find(words("danh sách cán bộ tham gia hội nghị năm nay tại tỉnh và trực")) == -1


@pytest.mark.parametrize(
    "name, hit",
    [
        ("PA_VNPT.docx", True),
        ("PhuongAnBauCu.pdf", True),
        ("Phương án.docx", True),
        ("Japan trip.pdf", False),
        ("pattern.xlsx", False),
        ("PA03.docx", False),
    ],
)
def test_plan_file_names(name, hit) -> None:
    kws = tuple(Keyword.parse(k) for k in ("phương án", "PA"))
    assert name_matches(kws, name) is hit


@pytest.mark.parametrize(
    "text, phones",
    [
        ("0913.123.456", ["0913123456"]),
        ("0913 123 456 - 0277 3851 234", ["0913123456", "02773851234"]),
        ("(0277) 3851 234", ["02773851234"]),
        ("+84 945 111 222", ["0945111222"]),
        ("84-277-3851234", ["02773851234"]),
        ("Số: 215/PA-VNPT ngày 29/3/2021", []),
        ("STT 1 2 3", []),
        ("mã 0123456789", []),
    ],
)
def test_phone_candidates(text, phones) -> None:
    assert find_phones(text) == phones
