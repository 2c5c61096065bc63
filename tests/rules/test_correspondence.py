"""The correspondence rule: a known organization with nothing required attached."""

from __future__ import annotations

from mailbot.analysis.classify import classify_bytes
from mailbot.analysis.rules import CHAIN, DISPOSITIONS, Context
from tests.conftest import build


def test_correspondence_is_the_last_rule_and_always_matches(config) -> None:
    assert DISPOSITIONS == (
        "automated",
        "suspicious",
        "staff-command",
        "unknown-sender",
        "submission",
        "correspondence",
    )
    env = classify_bytes(build(body="Xin hỏi về thời hạn gửi phương án."), config)
    assert env.disposition == "correspondence"
    assert CHAIN[-1].check(env, Context(config))


def test_a_mere_mention_is_no_document(config) -> None:
    env = classify_bytes(build(subject="Phương án", body="Chúng tôi sẽ gửi phương án và danh sách trực sau."), config)
    assert env.documents == []
    assert env.disposition == "correspondence"
