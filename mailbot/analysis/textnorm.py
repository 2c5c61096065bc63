"""Vietnamese text folding and keyword matching.

fold() maps NFC, NFD and windows-1258 (decomposed) text alike to lower-case
ASCII words: "Phương án", "PHUONG AN" and "phuong an" all become "phuong an".

Text read by OCR may carry a slip ("PHƯƠNG ÁM", "THÔNG TlN"): matched `tolerant`ly, a phrase may
differ by a few edits (rapidfuzz's Levenshtein distance; edits_allowed), a word of three letters or
fewer by substitutions only. Typed text is always matched exactly.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

_WORD_RE = re.compile(r"[a-z0-9]+")
_WILDCARD_SPAN = 6  # "*" in a keyword stands for up to this many words


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def decode_bytes(data: bytes, charset: str | None) -> str:
    """Decode with the declared charset, else UTF-8, else windows-1258; NFC."""
    candidates = [c for c in (charset, "utf-8") if c and c.lower() not in ("unknown-8bit", "x-unknown")]
    for cs in candidates:
        try:
            return nfc(data.decode(cs))
        except (LookupError, UnicodeDecodeError):
            continue
    # Mixed or mislabelled text: UTF-8 where it is valid, windows-1258 byte by byte elsewhere.
    text = data.decode("utf-8", errors="surrogateescape")
    return nfc(
        re.sub(
            r"[\udc80-\udcff]+",
            lambda m: m.group().encode("utf-8", "surrogateescape").decode("cp1258", "replace"),
            text,
        )
    )


def fold(text: str) -> str:
    """Lower-case ASCII without diacritics; đ/Đ become d."""
    text = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return text.casefold().replace("đ", "d")


def words(text: str) -> list[str]:
    """Folded words: "Số ĐT_trực.docx" -> ["so", "dt", "truc", "docx"]."""
    return _WORD_RE.findall(fold(text))


@dataclass(frozen=True)
class Keyword:
    """One configured keyword, e.g. "danh sách * trực" or "PA"."""

    text: str
    parts: tuple[str, ...]  # folded words, "*" for the wildcard

    @classmethod
    def parse(cls, text: str) -> Keyword:
        parts: list[str] = []
        for raw in text.split():
            parts.extend(["*"] if raw == "*" else words(raw))
        return cls(text, tuple(parts))

    @property
    def compact(self) -> str:
        """The keyword's letters without spaces, for names like "PhuongAn.pdf"."""
        return "".join(p for p in self.parts if p != "*")

    def find(self, tokens: list[str], tolerant: bool = False) -> int:
        """Index of the first token of the first match, or -1; `tolerant`: OCR text, a slip or two
        forgiven (edits_allowed for the keyword's length)."""
        parts = [p for p in self.parts]
        if not parts:
            return -1
        budget = edits_allowed(len(" ".join(p for p in parts if p != "*"))) if tolerant else 0
        for start, tok in enumerate(tokens):
            spent = _edits(tok, parts[0], budget)
            if spent <= budget and _match_rest(parts, 1, tokens, start + 1, budget - spent):
                return start
        return -1


def edits_allowed(length: int) -> int:
    """Edits forgiven in an OCR reading of a phrase of `length` characters: none under 6, one under 14."""
    return 0 if length < 6 else 1 if length < 14 else 2


def _edits(token: str, part: str, budget: int) -> int:
    """Levenshtein distance (budget + 1 when over); a short word only by substituted letters."""
    if token == part:
        return 0
    if budget <= 0 or (len(part) <= 3 and len(token) != len(part)):
        return budget + 1
    from rapidfuzz.distance import Levenshtein

    return int(Levenshtein.distance(token, part, score_cutoff=budget))


def near(text: str, label: str) -> bool:
    """Folded `text` is `label` read by OCR with at most edits_allowed slips, word by word."""
    return slips(text, label) is not None


def slips(text: str, label: str) -> int | None:
    """The edits between folded `text` and `label`, word by word, when within edits_allowed; else None."""
    got, want = text.split(), label.split()
    if len(got) != len(want):
        return None
    allowed = budget = edits_allowed(len(label))
    for token, part in zip(got, want):
        budget -= _edits(token, part, budget)
        if budget < 0:
            return None
    return allowed - budget


def _match_rest(parts: list[str], pi: int, tokens: list[str], ti: int, budget: int = 0) -> bool:
    if pi == len(parts):
        return True
    if parts[pi] == "*":
        for skip in range(0, _WILDCARD_SPAN + 1):
            if _match_rest(parts, pi + 1, tokens, ti + skip, budget):
                return True
        return False
    if ti >= len(tokens):
        return False
    spent = _edits(tokens[ti], parts[pi], budget)
    return spent <= budget and _match_rest(parts, pi + 1, tokens, ti + 1, budget - spent)


def find_any(keywords: tuple[Keyword, ...], tokens: list[str], tolerant: bool = False) -> int:
    """Earliest position at which any of the keywords matches, or -1 (`tolerant`: OCR text)."""
    best = -1
    for kw in keywords:
        pos = kw.find(tokens, tolerant)
        if pos >= 0 and (best < 0 or pos < best):
            best = pos
    return best


def name_matches(keywords: tuple[Keyword, ...], name: str) -> bool:
    """Match a file name by words, or, for long keywords, glued together."""
    tokens = words(name)
    if find_any(keywords, tokens) >= 0:
        return True
    glued = "".join(tokens)
    return any(len(kw.compact) >= 6 and "*" not in kw.parts and kw.compact in glued for kw in keywords)


# Vietnamese telephone numbers as people write them: 0913.123.456,
# 0913 123 456, (0277) 3851 234, +84 913 123 456, 84-277-3851234.
_PHONE_RE = re.compile(r"(?<![\w+])(?:\+?84|\(?0)[\s.\-()]*\d(?:[\s.\-()]{0,2}\d){7,10}(?!\w)")


def find_phones(text: str) -> list[str]:
    """Candidate telephone numbers (digits only, national form starting with 0)."""
    found = []
    for match in _PHONE_RE.finditer(text):
        digits = re.sub(r"\D", "", match.group())
        if digits.startswith("84"):
            digits = "0" + digits[2:]
        if len(digits) == (11 if digits[1] == "2" else 10) and digits[1] in "235789":
            found.append(digits)
    return found
