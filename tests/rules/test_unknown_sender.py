"""The unknown-sender rule: addresses and domains at a label boundary, never the display name."""

from __future__ import annotations

import pytest

from mailbot.analysis.classify import organization_of


@pytest.mark.parametrize(
    "address, org",
    [
        ("kt@vnpt.vn", "vnpt-dongthap"),
        ("KT@VNPT.VN", "vnpt-dongthap"),
        ("a@dongthap.vnpost.vn", "vnpost-dongthap"),
        ("a@viettel.com.vn", "viettel-dongthap"),
        ("a@viettelpost.com.vn", "viettelpost-dongthap"),
        ("a@hcm.viettelpost.com.vn", "viettelpost-dongthap"),
        ("a@mobifone.vn", "mobifone-mien-nam"),
        ("a@vnpt.vn.mail-secure.net", None),
        ("a@vnpt-vn.com", None),
        ("a@myvnpt.vn", None),
        ("a@xn--vnpt-xxa.vn", None),
        ("vnpt.vn@gmail.com", None),
        ("", None),
        (None, None),
    ],
)
def test_organization_by_address(address, org, config) -> None:
    assert organization_of(address, config) == org


def test_individual_addresses_and_learnt_senders(config) -> None:
    import dataclasses

    vnpt = dataclasses.replace(config.organizations[0], addresses=("nguyenvana1980@gmail.com",))
    cfg = dataclasses.replace(config, organizations=(vnpt, *config.organizations[1:]))
    assert organization_of("NguyenVanA1980@gmail.com", cfg) == "vnpt-dongthap"
    assert organization_of("other@gmail.com", cfg) is None
    assert organization_of("other@gmail.com", cfg, {"other@gmail.com": "viettel-dongthap"}) == "viettel-dongthap"


def test_rule_reason_names_the_sender(config) -> None:
    from mailbot.analysis.classify import classify_bytes
    from tests.conftest import build

    env = classify_bytes(build(sender='"Viễn thông Đồng Tháp" <vt.dongthap@gmail.com>'), config)
    assert env.disposition == "unknown-sender"
    assert env.organization is None
    assert "vt.dongthap@gmail.com" in env.reasons[0]
