"""The submission rule: a known organization and a document it must send."""

from __future__ import annotations

import dataclasses

from mailbot.analysis.classify import classify_bytes
from tests.conftest import build


def test_required_document_makes_a_submission(config) -> None:
    env = classify_bytes(build(files=(("Phuong an.docx", b"x"),)), config)
    assert (env.disposition, env.documents) == ("submission", ["plan"])
    assert "Viễn thông Đồng Tháp" in env.reasons[0]


def test_document_not_required_from_that_organization_is_correspondence(config) -> None:
    campaign = config.campaigns[0]
    plan = dataclasses.replace(campaign.documents[0], organizations=("viettel-dongthap",))
    cfg = dataclasses.replace(
        config, campaigns=(dataclasses.replace(campaign, documents=(plan, campaign.documents[1])),)
    )
    env = classify_bytes(build(files=(("Phuong an.docx", b"x"),)), cfg)
    assert env.documents == ["plan"]
    assert env.disposition == "correspondence"


def test_unknown_sender_documents_are_listed_but_no_submission(config) -> None:
    env = classify_bytes(build(sender="x@gmail.com", files=(("DS truc.xlsx", b"x"),)), config)
    assert (env.disposition, env.documents) == ("unknown-sender", ["duty-list"])
