"""Documents as real offices make them (issue 24): each mail of the office corpus
(tests/officecases.py: LibreOffice documents, then scanned, faxed, photographed or pasted into
Outlook) through the analysis the daemon's workers run, with the figures a clerk would check.

    .venv/bin/python bench/offices.py [--cache DIR] [--only CLASS] [-v]

Per class: mails whose documents were typed right, and duty rows
- exact: the name and the number as printed, and not flagged;
- flagged: the person found, with a problem shown to staff (an uncertain or invalid number);
- name off: the number right and not flagged, the name not as printed (misread or cut by a wrap);
- WRONG: the person found, not flagged, with a number that is not the printed one (must stay 0);
- missing: a person on the list with no row;
- invented: a row that is nobody on the list (junk read as a person).
The corpus is made once per generator version and kept in --cache (default ~/.cache/mailbot-offices).
"""

from __future__ import annotations

import argparse
import re
import sys
import time
import unicodedata
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mailbot import config as configmod
from mailbot.analysis.workers import analyse
from tests import officecases
from tests.officecorpus import Case, available


def _norm(text: str) -> str:
    return unicodedata.normalize("NFC", " ".join(text.split())).casefold()


def score(case: Case, rows: list[dict[str, Any]]) -> Counter[str]:
    """Match each expected person to a row (by number, else by name) and count the outcomes."""
    counts: Counter[str] = Counter()
    left = list(rows)
    for person in case.people:
        counts["people"] += 1

        def digits(row: dict[str, Any]) -> list[str]:
            return [re.sub(r"\D", "", p["text"]) for p in row["phones"]]

        row = next((r for r in left if person.digits in digits(r)), None)
        row = row or next((r for r in left if _norm(r["name"]) == _norm(person.name)), None)
        if row is None:
            counts["missing"] += 1
            continue
        left.remove(row)
        if row["problems"]:
            counts["flagged"] += 1
        elif digits(row) != [person.digits]:
            counts["wrong"] += 1
            print(f"    WRONG in {case.name}: {row['name']!r} {digits(row)} for {person.name!r} {person.digits}")
        elif _norm(row["name"]) != _norm(person.name):
            counts["name off"] += 1
            print(f"    name off in {case.name}: {row['name']!r} for {person.name!r} ({row.get('origin')})")
        else:
            counts["exact"] += 1
    counts["invented"] += len(left)
    return counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "mailbot-offices")
    parser.add_argument("--only", help="only the classes whose name contains this")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every case and its invented rows")
    args = parser.parse_args()
    missing = available()
    if missing:
        print(f"cannot build the office corpus: {missing}")
        return 2
    config = configmod.load(Path(__file__).resolve().parent.parent / "config.example.toml")
    started = time.monotonic()
    cases = officecases.build(args.cache)
    print(f"office corpus: {len(cases)} mails, made or loaded in {time.monotonic() - started:.1f} s\n")
    head = f"{'class':18} {'mails':>5} {'typed':>6} {'people':>7} {'exact':>6} {'flagged':>8} {'name off':>9} {'WRONG':>6} {'missing':>8} {'invented':>9} {'s':>6}"
    print(head)
    totals: Counter[str] = Counter()
    for cls in sorted({c.cls for c in cases}):
        if args.only and args.only not in cls:
            continue
        counts: Counter[str] = Counter()
        for case in (c for c in cases if c.cls == cls):
            t0 = time.monotonic()
            env = analyse(case.raw, "bench", None, config)
            counts["seconds"] += time.monotonic() - t0
            counts["mails"] += 1
            typed = env.disposition == "submission" and sorted(env.documents) == sorted(case.documents)
            counts["typed"] += typed
            rows = env.duty_rows.get("duty-list", [])
            got = score(case, rows)
            counts.update(got)
            if args.verbose or not typed:
                print(f"  {case.name}: {env.disposition} {env.documents} (expected {case.documents}) {dict(got)}")
            if args.verbose:
                matched = {p.digits for p in case.people}
                for r in rows:
                    if not any(re.sub(r"\D", "", ph["text"]) in matched for ph in r["phones"]):
                        print(f"    row not on the list: {r['name']!r} {[ph['text'] for ph in r['phones']]}")
        totals.update(counts)
        print(_line(cls, counts))
    print(_line("all", totals))
    people = totals["people"] or 1
    print(
        f"\ntyped right {totals['typed']}/{totals['mails']}; rows exact {totals['exact']}/{totals['people']} "
        f"({100 * totals['exact'] / people:.0f}%), flagged {totals['flagged']}, name off {totals['name off']}, WRONG BUT CLEAN {totals['wrong']}, "
        f"missing {totals['missing']}, invented {totals['invented']}"
    )
    return 0


def _line(cls: str, c: Counter[str]) -> str:
    return (
        f"{cls:18} {c['mails']:>5} {c['typed']:>6} {c['people']:>7} {c['exact']:>6} {c['flagged']:>8} "
        f"{c['name off']:>9} {c['wrong']:>6} {c['missing']:>8} {c['invented']:>9} {c['seconds']:>6.1f}"
    )


if __name__ == "__main__":
    raise SystemExit(main())
