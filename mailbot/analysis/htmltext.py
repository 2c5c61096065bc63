"""HTML to plain text that keeps table rows as lines (cells joined by " | "), and only the text a
reader sees: a command, a document title or a duty-list row is never read from hidden text.

Hidden: comments; <script>, <style>, <template>, <head>, <title>; an element with the `hidden`
attribute, or whose inline style or a rule of the mail's own <style> sheets (tinycss2) gives
display:none, visibility:hidden, a (near) zero font size or zero opacity. Selectors of a style
sheet are matched on their last compound part (tag, classes, id; attribute and structural
pseudo-classes match any element): that can hide more than a browser would, never less. Not evaluated: text coloured like its background, elements clipped or
moved off screen.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any

import tinycss2

_BLOCK = {"p", "div", "br", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol"}
_CELL = {"td", "th"}
_HIDDEN_TAGS = {"script", "style", "head", "title", "template"}
# elements without content (no end tag): never on the stack of open elements
_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source", "track", "wbr"}
# states a reader does not see by default: a rule for them hides nothing
_DYNAMIC = {"hover", "focus", "active", "visited", "focus-within", "focus-visible", "target"}
_FONT_LIMITS = {"px": 1.0, "pt": 1.0, "em": 0.1, "rem": 0.1, "%": 10.0, "ex": 0.2, "ch": 0.2}


def _hides(declarations: Iterable[object]) -> bool:
    """Do these CSS declarations (tinycss2 nodes) make an element's text invisible?"""
    declarations = list(declarations)
    if _collapsed(declarations):
        return True
    for decl in declarations:
        if getattr(decl, "type", "") != "declaration":
            continue
        name = decl.lower_name  # type: ignore[attr-defined]
        values = [t for t in decl.value if t.type not in ("whitespace", "comment")]  # type: ignore[attr-defined]
        if not values:
            continue
        value = values[0]
        word = value.lower_value if value.type == "ident" else None
        if (name, word) in (("display", "none"), ("visibility", "hidden"), ("visibility", "collapse")):
            return True
        if name in ("zoom",) and value.type in ("number", "dimension", "percentage") and value.value <= 0.05:
            return True
        if name == "transform" and value.type == "function" and value.lower_name in ("scale", "scalex", "scaley"):
            numbers = [a for a in value.arguments if a.type in ("number", "percentage")]
            if numbers and numbers[0].value <= (5 if numbers[0].type == "percentage" else 0.05):
                return True
        if name in ("font-size", "font") and value.type in ("number", "dimension", "percentage"):
            unit = "%" if value.type == "percentage" else (value.lower_unit if value.type == "dimension" else "px")
            if value.value <= _FONT_LIMITS.get(unit, 0.0):
                return True
        if name == "opacity" and value.type in ("number", "percentage"):
            if value.value <= (5 if value.type == "percentage" else 0.05):
                return True
    return False


_PROPERTIES = ("display", "visibility", "font", "opacity", "height", "zoom", "transform")  # those _hides reads


def _collapsed(declarations: list[Any]) -> bool:
    """`max-height:0; overflow:hidden` (or height): a box with no room, its text cut away."""
    values: dict[str, Any] = {}
    for decl in declarations:
        if getattr(decl, "type", "") == "declaration":
            tokens = [t for t in decl.value if t.type not in ("whitespace", "comment")]
            if tokens:
                values[decl.lower_name] = tokens[0]
    overflow = values.get("overflow")
    if overflow is None or overflow.type != "ident" or overflow.lower_value not in ("hidden", "clip"):
        return False
    return any(
        (v := values.get(name)) is not None and v.type in ("number", "dimension") and v.value <= 1
        for name in ("height", "max-height")
    )


@functools.lru_cache(maxsize=512)
def _inline_hides(style: str) -> bool:
    """A style attribute that hides; parsed only when it names a property that can (a CSS escape,
    `d\\isplay`, could name one in disguise: parsed too). Mail repeats the same styles: cached."""
    lowered = style.lower()
    if "\\" not in style and not any(name in lowered for name in _PROPERTIES):
        return False
    return _hides(tinycss2.parse_blocks_contents(style, skip_comments=True, skip_whitespace=True))


@dataclass(frozen=True)
class _Selector:
    """The last compound part of a selector: `p.a.b#c` -> tag p, classes {a, b}, id c."""

    tag: str | None
    classes: frozenset[str]
    ident: str | None

    def matches(self, tag: str, classes: set[str], ident: str | None) -> bool:
        return (
            (self.tag is None or self.tag == tag)
            and self.classes <= classes
            and (self.ident is None or self.ident == ident)
        )


def _selectors(prelude: list[Any]) -> list[_Selector]:
    """The last compound of each selector of a rule's prelude (tinycss2 tokens), without those for
    states a reader does not see by default (:hover...) or generated content (::before)."""
    out: list[_Selector] = []
    tag: str | None = None
    classes: set[str] = set()
    ident: str | None = None
    pseudo: set[str] = set()
    after = ""  # the literal just read: "." before a class, ":" before a pseudo-class
    seen, descend = False, False  # a part of this selector read; a combinator or space since

    for token in [*prelude, None]:
        kind = token.type if token is not None else "end"
        if kind == "end" or (kind == "literal" and token.value == ","):
            skip = pseudo & _DYNAMIC or pseudo & {"before", "after", "placeholder", "selection", "marker"}
            if seen and not skip:
                out.append(_Selector(tag, frozenset(classes), ident))
            tag, classes, ident, pseudo, after, seen, descend = None, set(), None, set(), "", False, False
            continue
        if kind == "whitespace" or (kind == "literal" and token.value in (">", "+", "~")):
            descend = seen
            continue
        if descend:  # the element a rule applies to is the last compound: start again
            tag, classes, ident, pseudo, after, descend = None, set(), None, set(), "", False
        seen = True
        if kind == "ident" and after == ".":
            classes.add(token.lower_value)
        elif kind in ("ident", "function") and after == ":":
            pseudo.add(token.lower_value if kind == "ident" else token.lower_name)
        elif kind == "ident":
            tag = token.lower_value
        elif kind == "hash":
            ident = token.value
        after = token.value if kind == "literal" and token.value in (".", ":") else ""
    return out


def _hiding_selectors(sheets: list[str]) -> list[_Selector]:
    out: list[_Selector] = []
    rules = [r for sheet in sheets for r in tinycss2.parse_stylesheet(sheet, skip_comments=True, skip_whitespace=True)]
    while rules:
        rule = rules.pop()
        if rule.type == "at-rule" and rule.lower_at_keyword in ("media", "supports") and rule.content:
            rules.extend(tinycss2.parse_rule_list(rule.content, skip_comments=True, skip_whitespace=True))
        elif rule.type == "qualified-rule":
            if _hides(tinycss2.parse_blocks_contents(rule.content, skip_comments=True, skip_whitespace=True)):
                out.extend(_selectors(rule.prelude))
    return out


class _Sheets(HTMLParser):
    """The text of every <style> element."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.sheets: list[str] = []
        self.inside = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "style":
            self.inside = True
            self.sheets.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "style":
            self.inside = False

    def handle_data(self, data: str) -> None:
        if self.inside:
            self.sheets[-1] += data


class _TextParser(HTMLParser):
    def __init__(self, selectors: list[_Selector]) -> None:
        super().__init__(convert_charrefs=True)
        self.selectors = selectors  # of the rules that hide
        self.out: list[str] = []
        self.open: list[tuple[str, bool]] = []  # open elements: (tag, hides its content)
        self.counts: Counter[str] = Counter()  # open elements by tag: a stray end tag costs nothing
        self.hidden = 0  # open elements that hide their content
        self.cell_open = False
        self.in_cell = 0  # inside <td>: Outlook wraps each cell's text in <p class=MsoNormal>

    def _hiding(self, tag: str, attrs: list[tuple[str, str | None]]) -> bool:
        values = {name.lower(): value or "" for name, value in attrs}
        if tag in _HIDDEN_TAGS or "hidden" in values or (tag == "details" and "open" not in values):
            return True  # a closed <details> shows only its summary: all of it is left out
        if values.get("style") and _inline_hides(values["style"]):
            return True
        classes = {c.lower() for c in values.get("class", "").split()}
        ident = values.get("id") or None
        return any(s.matches(tag, classes, ident) for s in self.selectors)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _VOID:
            hides = self._hiding(tag, attrs)
            self.open.append((tag, hides))
            self.counts[tag] += 1
            self.hidden += hides
        if self.hidden:
            return
        if tag in _CELL:
            if self.cell_open:
                self.out.append(" | ")
            self.cell_open = True
            self.in_cell += 1
        elif tag in _BLOCK:
            if tag == "tr":
                self.cell_open = False
                self.in_cell = 0
            self.out.append(" " if self.in_cell and tag not in ("tr", "table") else "\n")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        """`<div/>`: no content, so nothing to hide; a line break still counts (a space in a cell)."""
        if not self.hidden and tag in _BLOCK:
            self.out.append(" " if self.in_cell else "\n")

    def handle_endtag(self, tag: str) -> None:
        if self.counts[tag]:  # a stray end tag closes nothing
            while self.open:
                closed, hides = self.open.pop()
                self.counts[closed] -= 1
                self.hidden -= hides
                if closed == tag:
                    break
        if self.hidden:
            return
        if tag in _CELL:
            self.in_cell = max(0, self.in_cell - 1)
        elif tag in _BLOCK:
            self.out.append(" " if self.in_cell and tag not in ("tr", "table") else "\n")

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.out.append(data.replace("\xa0", " "))


def html_to_text(html: str) -> str:
    """The text a reader of this HTML sees, one line per block, table cells joined by " | "."""
    try:
        sheets = _Sheets()
        sheets.feed(html)
        sheets.close()
        parser = _TextParser(_hiding_selectors(sheets.sheets))
        parser.feed(html)
        parser.close()
    except Exception:
        return ""  # unreadable HTML gives no text rather than text that may have been hidden
    text = "".join(parser.out)
    lines = (re.sub(r"[ \t]+", " ", line).strip() for line in text.splitlines())
    return "\n".join(line for line in lines if line)
