"""Golden tests: each real .eml beside its expected classification (imap_tools style)."""

from __future__ import annotations

import json

import pytest

from tests.conftest import FIXTURES, classify

CASES = sorted(FIXTURES.glob("*.eml"))


def test_there_are_enough_golden_fixtures() -> None:
    assert len(CASES) >= 30
    for eml in CASES:
        assert eml.with_suffix(".json").is_file(), f"{eml.name} has no expected values"


@pytest.mark.parametrize("eml", CASES, ids=[c.stem for c in CASES])
def test_golden(eml, config) -> None:
    expected = json.loads(eml.with_suffix(".json").read_text(encoding="utf-8"))
    env = classify(eml.read_bytes(), config)
    assert env.organization == expected["organization"]
    assert env.documents == expected["documents"]
    assert env.disposition == expected["disposition"]
    if "message_id" in expected:
        assert env.parsed.message_id == expected["message_id"]
    assert env.reasons, "every decision gives its reasons"
    if "reason_contains" in expected:
        assert any(expected["reason_contains"] in r for r in env.reasons), env.reasons
