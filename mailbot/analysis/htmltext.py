"""HTML to plain text that keeps table rows as lines (cells joined by " | ")."""

from __future__ import annotations

import re
from html.parser import HTMLParser

_BLOCK = {"p", "div", "br", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol"}
_CELL = {"td", "th"}
_SKIP = {"script", "style", "head", "title"}


class _TextParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skip = 0
        self.cell_open = False
        self.in_cell = 0  # inside <td>: Outlook wraps each cell's text in <p class=MsoNormal>

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self.skip += 1
        elif tag in _CELL:
            if self.cell_open:
                self.out.append(" | ")
            self.cell_open = True
            self.in_cell += 1
        elif tag in _BLOCK:
            if tag == "tr":
                self.cell_open = False
                self.in_cell = 0
            self.out.append(" " if self.in_cell and tag not in ("tr", "table") else "\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP and self.skip:
            self.skip -= 1
        elif tag in _CELL:
            self.in_cell = max(0, self.in_cell - 1)
        elif tag in _BLOCK:
            self.out.append(" " if self.in_cell and tag not in ("tr", "table") else "\n")

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.out.append(data.replace("\xa0", " "))


def html_to_text(html: str) -> str:
    parser = _TextParser()
    try:
        parser.feed(html)
        parser.close()
    except Exception:
        return re.sub(r"<[^>]*>", " ", html)
    text = "".join(parser.out)
    lines = (re.sub(r"[ \t]+", " ", line).strip() for line in text.splitlines())
    return "\n".join(line for line in lines if line)
