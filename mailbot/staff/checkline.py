"""One line of `mailbot check`: what was checked, what was found, and the fix beside a problem."""

from __future__ import annotations

from dataclasses import dataclass

OK, FAIL, WARN = "ok  ", "LỖI ", "CHÚ Ý"


@dataclass(frozen=True)
class Line:
    ok: bool
    what: str
    detail: str
    fix: str = ""
    warning: bool = False  # works today, but should change: said, not counted as a failure

    def __str__(self) -> str:
        text = f"{WARN if self.warning else OK if self.ok else FAIL} {self.what}: {self.detail}"
        return f"{text} → {self.fix}" if self.fix and (self.warning or not self.ok) else text
