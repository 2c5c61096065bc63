"""A duty list typed as free text in the body of a mail, one person per line, in the shapes people
type them:

    1/ Đ/c Trần Văn Nam, Phó Giám đốc, DĐ: 0912.345.678
    - Ông Lê Văn Hùng – Trưởng phòng – ĐT 0987 654 321
    b) Chị Võ Thị Em<TAB>Nhân viên<TAB>0913123456

The list marker (1. 1/ 1) a) - • +) and the honorific (Ông, Bà, Anh, Chị, Đ/c, đồng chí) are
dropped, the label of a number (ĐT, DĐ, SĐT, Mobile, Điện thoại…) is recognised, the parts are
split at commas, dashes, tabs or bars. Quoted text and everything from the closing formula
(Trân trọng, --) on is not read: a signature block is no duty row.
"""

from __future__ import annotations

import re

from mailbot.analysis import legacyfonts
from mailbot.analysis.htmltext import html_to_text
from mailbot.analysis.textnorm import fold

# "1." "1/" "1)" "1-" "(1)" "a)" "a." and bullets; not "Đ/c", whose "Đ/" is no marker
_MARKER = re.compile(r"^\s*(?:\(?\d{1,3}\s*[./)\-–]|\(?[a-zđ]\)|[a-zđ]\.\s|[-–—•+*●▪►])\s*", re.IGNORECASE)
_HONORIFIC = re.compile(r"^(?:đồng chí|đ/c|đ\.c|ông|bà|anh|chị|cô|chú|mr\.?|mrs\.?|ms\.?)\s+", re.IGNORECASE)
# a number's label, in front of it: "DĐ:", "ĐT", "SĐT:", "Mobile:", "Điện thoại di động:"
_LABEL = re.compile(
    r"(?:số\s+)?(?:điện\s+thoại(?:\s+(?:di\s+động|cơ\s+quan|nhà\s+riêng|dđ|cq))?|đt(?:dđ|\s*dđ)?|sđt|dđ|"
    r"di\s+động|mobile|mob|tel|phone|hp|cq)\s*[:.]?\s*$",
    re.IGNORECASE,
)
_NUMBER = re.compile(r"(?<![\w+])(?:\+?84|\(?0)[\s.\-()]*\d(?:[\s.\-()]{0,2}\d){7,10}(?!\w)")
_SPLIT = re.compile(r"\s*[,;|\t()]\s*|\s+[-–—]\s+|\s*:\s+")
_CLOSING = re.compile(r"^(?:trân trọng|kính thư|kính chào|thân ái|best regards|regards|thanks|--\s*)", re.IGNORECASE)
_QUOTE_START = re.compile(
    r"(?i)^(?:-+\s*(?:original message|forwarded message|thư gốc)|(?:vào|on)\b.*(?:đã viết|wrote)\s*:?\s*$)"
)


def own_lines(body: str) -> list[str]:
    """The sender's own lines: up to quoted text, a forwarded message, or the closing formula."""
    out = []
    for line in body.splitlines():
        stripped = line.strip()
        if stripped.startswith(">") or _QUOTE_START.match(stripped) or _CLOSING.match(stripped):
            break
        out.append(line)
    return out


def person(line: str) -> tuple[str, str, str] | None:
    """(name, position, the text holding the numbers) of one line, or None when it is no person."""
    first = _NUMBER.search(line)
    if first is None:
        return None
    head = _MARKER.sub("", line[: first.start()], count=1)
    parts = [p.strip(" .:-–—") for p in _SPLIT.split(head)]
    parts = [p for p in parts if p and not _LABEL.fullmatch(p + " ") and not _LABEL.fullmatch(p)]
    if parts and _LABEL.search(parts[-1]):
        parts[-1] = _LABEL.sub("", parts[-1]).strip(" .:-–—")
        parts = [p for p in parts if p]
    if not parts:
        return None
    name = _HONORIFIC.sub("", parts[0]).strip()
    if not _looks_like_name(name):
        return None
    return name, " – ".join(parts[1:]), line[first.start() :]


def _looks_like_name(text: str) -> bool:
    """Two to six words, each starting with a capital: how Vietnamese names are written."""
    words = text.split()
    if not 2 <= len(words) <= 6 or any(c.isdigit() for c in text):
        return False
    if fold(text) in ("dien thoai co quan", "so may truc", "truc ban"):
        return False
    return all(w[0].isupper() for w in words if w[0].isalpha())


def bodies(body_text: str, body_html: str | None) -> list[str]:
    """The texts a list may be typed in, best first: the HTML part when it holds a table (Outlook's
    text part of a pasted table has one cell per line), then the text part; TCVN3/VNI typed with a
    legacy font converted to Unicode."""
    html = html_to_text(body_html) if body_html else ""
    texts = [html, body_text] if "<td" in (body_html or "").lower() else [body_text, html]
    return [legacyfonts.fix_lines(t)[0] for t in texts if t.strip()]
