"""Commands that keep state: run, demo, status (filled in by the record issue)."""

from __future__ import annotations

import argparse


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    return None
