"""Vietnamese typed in the legacy font encodings, still found in old templates: TCVN3 (ABC, fonts
.VnTime…) and VNI (VNI-Times…). Text extracted from such a file is Latin-1 look-alikes
("Ph­¬ng ¸n" for "Phương án"); it is converted to Unicode before matching and before a roster.

Hand-written because no maintained Python library does it; the tables follow TCVN 5712:1993
(TCVN3) and VNI-Windows, and are built from Unicode's own composition so each entry is checked.
A text is converted only when the conversion clearly makes it Vietnamese: many symbols that are no
Vietnamese letter before, almost none after.
"""

from __future__ import annotations

import re
import unicodedata

# TCVN3: one byte per letter; the upper-case toned letters use the same codes in the ".VnTimeH" font,
# so they come out lower-case (matching ignores case).
_TCVN3_FROM = (
    "\xb5\xb8\xb6\xb7\xb9\xa8\xbb\xbe\xbc\xbd\xc6\xa9\xc7\xca\xc8\xc9\xcb\xae\xcc\xd0\xce\xcf\xd1\xaa"
    "\xd2\xd5\xd3\xd4\xd6\xd7\xdd\xd8\xdc\xde\xdf\xe3\xe1\xe2\xe4\xab\xe5\xe8\xe6\xe7\xe9\xac\xea\xed"
    "\xeb\xec\xee\xef\xf3\xf1\xf2\xf4\xad\xf5\xf8\xf6\xf7\xf9\xfa\xfd\xfb\xfc\xfe\xa1\xa2\xa7\xa3\xa4"
    "\xa5\xa6"
)
_TCVN3_TO = "àáảãạăằắẳẵặâầấẩẫậđèéẻẽẹêềếểễệìíỉĩịòóỏõọôồốổỗộơờớởỡợùúủũụưừứửữựỳýỷỹỵĂÂĐÊÔƠƯ"
TCVN3 = str.maketrans(_TCVN3_FROM, _TCVN3_TO)

_ACUTE, _GRAVE, _HOOK, _TILDE, _DOT = "\u0301", "\u0300", "\u0309", "\u0303", "\u0323"
_TONES = (_ACUTE, _GRAVE, _HOOK, _TILDE, _DOT)


def _compose(*parts: str) -> str:
    return unicodedata.normalize("NFC", "".join(parts))


def _vni_table() -> dict[str, str]:
    """VNI-Windows: a base letter followed by a mark character (two for a toned â, ă, ê, ô, ơ, ư)."""
    table: dict[str, str] = {}
    for upper in (False, True):
        case = str.upper if upper else str.lower
        plain = dict(zip(case("ùøûõï"), _TONES))  # tone on a plain vowel
        after_hat = dict(zip(case("áàåãä"), _TONES))  # tone on â ê ô
        after_breve = dict(zip(case("éèúüë"), _TONES))  # tone on ă
        for base in case("aeouy"):
            for mark, tone in plain.items():
                if base not in "yY" or tone != _DOT:
                    table[base + mark] = _compose(base, tone)
        for base in case("aeo"):
            table[base + case("â")] = _compose(base, "\u0302")
            for mark, tone in after_hat.items():
                table[base + mark] = _compose(base, "\u0302", tone)
        table[case("a") + case("ê")] = _compose(case("a"), "\u0306")
        for mark, tone in after_breve.items():
            table[case("a") + mark] = _compose(case("a"), "\u0306", tone)
        for horn_char, base in ((case("ô"), case("o")), (case("ö"), case("u"))):  # ơ and ư
            table[horn_char] = _compose(base, "\u031b")
            for mark, tone in plain.items():
                table[horn_char + mark] = _compose(base, "\u031b", tone)
        for mark, tone in zip(case("íìæóò"), _TONES):  # i: one character each
            table[mark] = _compose(case("i"), tone)
        table[case("î")] = _compose(case("y"), _DOT)
        table[case("ñ")] = case("đ")
    return table


_VNI = _vni_table()
_VNI_RE = re.compile("|".join(re.escape(k) for k in sorted(_VNI, key=len, reverse=True)))
# Latin-1 letters that are also Vietnamese letters: present in ordinary Unicode Vietnamese
_VIET_LATIN1 = set("àáâãèéêìíòóôõùúýÀÁÂÃÈÉÊÌÍÒÓÔÕÙÚÝ")


def _odd(text: str) -> int:
    """Characters of Latin-1's upper half that are no Vietnamese letter."""
    return sum(1 for c in text if "\xa0" <= c <= "\xff" and c not in _VIET_LATIN1)


def _vietnamese(text: str) -> int:
    """Letters only Vietnamese Unicode has (ă đ ơ ư ĩ ũ and the dotted/hooked ones)."""
    return sum(1 for c in text if "\u0100" <= c <= "\u01b0" or "\u1ea0" <= c <= "\u1ef9")


def _misspelt(text: str) -> int:
    """Words with more than one tone mark: a Vietnamese syllable has at most one, a wrong table gives more."""
    count = 0
    for word in text.split():
        marks = sum(1 for c in unicodedata.normalize("NFD", word) if c in _TONES)
        count += marks > 1
    return count


def from_vni(text: str) -> str:
    return _VNI_RE.sub(lambda m: _VNI[m.group(0)], text)


def _best(text: str) -> tuple[str, str] | None:
    """(the legacy encoding the text is in, the text converted), or None when it is in none."""
    odd = _odd(text)
    letters = sum(c.isalpha() for c in text) or 1
    if odd < 3 or odd / letters < 0.02 or _vietnamese(text) > odd / 10:
        return None
    best: tuple[int, int, str, str] | None = None
    for name, converted in (("tcvn3", text.translate(TCVN3)), ("vni", from_vni(text))):
        left, wrong = _odd(converted), _misspelt(converted)
        if left <= odd / 5 and _vietnamese(converted) >= odd / 3 and (best is None or (left + wrong, wrong) < best[:2]):
            best = (left + wrong, wrong, name, converted)
    return (best[2], best[3]) if best else None


def detect(text: str) -> str | None:
    """ "tcvn3" or "vni" when the text is Vietnamese in that legacy encoding, else None."""
    found = _best(text)
    return found[0] if found else None


def fix(text: str) -> tuple[str, str | None]:
    """(the text in Unicode, the legacy encoding it was in, or None when it was not)."""
    found = _best(text)
    if found is None:
        return text, None
    return unicodedata.normalize("NFC", found[1]), found[0]


def fix_lines(text: str) -> tuple[str, str | None]:
    """Like fix(), for a text where only some lines are legacy: a table pasted from an old document
    under a greeting typed in Unicode. The encoding is decided once, on the lines that can be
    legacy (Latin-1 symbols, no letter only Unicode has), and only those lines are converted."""
    fixed, found = fix(text)
    if found:
        return fixed, found
    lines = text.splitlines()
    legacy = [i for i, line in enumerate(lines) if _odd(line) and not _vietnamese(line)]
    found = detect("\n".join(lines[i] for i in legacy)) if legacy else None
    if found is None:
        return text, None
    for i in legacy:
        lines[i] = unicodedata.normalize("NFC", lines[i].translate(TCVN3) if found == "tcvn3" else from_vni(lines[i]))
    return "\n".join(lines), found


def fix_table(rows: list[list[str]]) -> list[list[str]]:
    """A table in one legacy encoding converted cell by cell (decided once, on all its text)."""
    found = detect("\n".join(" ".join(row) for row in rows[:200]))
    if found is None:
        return rows
    convert = (lambda text: text.translate(TCVN3)) if found == "tcvn3" else from_vni
    return [[unicodedata.normalize("NFC", convert(cell)) for cell in row] for row in rows]
