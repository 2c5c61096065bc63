"""Classify one message: organization, documents, then the first rule that applies."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from mailbot.analysis import authres, documents, signatures
from mailbot.analysis.extract import Budget
from mailbot.analysis.rules import CHAIN, Context
from mailbot.config import Campaign, Config
from mailbot.envelope import Envelope
from mailbot.intake.parse import parse_message


def organization_of(address: str | None, config: Config, known: Mapping[str, str] | None = None) -> str | None:
    """The organization an address belongs to: exact address, else domain at a label boundary.

    The display name never counts. `known` maps addresses learnt by staff to organizations.
    """
    if not address or "@" not in address:
        return None
    address = address.lower()
    if known and address in known:
        return known[address]
    for org in config.organizations:
        if address in org.addresses:
            return org.id
    domain = address.rsplit("@", 1)[1].rstrip(".")
    best: tuple[int, str] | None = None
    for org in config.organizations:
        for d in org.domains:
            if domain == d or domain.endswith("." + d):
                if best is None or len(d) > best[0]:
                    best = (len(d), org.id)
    return best[1] if best else None


def campaign_for(when: dt.datetime | None, config: Config) -> Campaign | None:
    """The campaign a message belongs to by its time: the latest one opened by then.

    With one campaign it is always that one; a message older than every campaign
    goes to the earliest.
    """
    if not config.campaigns:
        return None
    if len(config.campaigns) == 1 or when is None:
        return config.campaigns[-1] if when is None else config.campaigns[0]
    day = when.astimezone(config.timezone).date()

    def opened(c: Campaign) -> dt.date:
        return c.opens or min(d.deadline for d in c.documents).date() - dt.timedelta(days=60)

    started = [c for c in config.campaigns if opened(c) <= day]
    return max(started, key=opened) if started else min(config.campaigns, key=opened)


def message_time(envelope: Envelope, fallback: dt.datetime | None = None) -> dt.datetime | None:
    """When the Department received it: topmost Received, else Date, else the source's time."""
    return envelope.parsed.received_at or envelope.parsed.date or fallback


def classify(
    envelope: Envelope, config: Config, known: Mapping[str, str] | None = None, received: dt.datetime | None = None
) -> Envelope:
    """Fill in organization, auth, campaign, documents, disposition and reasons."""
    parsed = envelope.parsed
    # a field given twice (rules/repeated.py): the sender is not known, so no organization
    envelope.organization = None if parsed.repeated else organization_of(parsed.from_address, config, known)
    envelope.auth = authres.verdict(parsed, config.trusted_authserv_ids)
    ctx = Context(config)
    notes: list[str] = []
    if envelope.organization and not envelope.auth.aligned:  # suspicious instead with require_aligned_auth
        notes.append(
            "chưa xác thực: máy chủ thư của Sở không xác thực được tên miền người gửi"
            if envelope.auth.trusted
            else "chưa xác thực: thư không có kết quả xác thực của máy chủ thư của Sở"
        )
    detected = False
    for rule in CHAIN:
        if not detected and rule.name != "automated":
            # documents matter for every disposition but automated (staff see what was sent)
            detected = True
            notes.extend(signatures.check(envelope, config))
            campaign = campaign_for(message_time(envelope, received), config)
            if campaign is not None:
                envelope.campaign = campaign.id
                found = documents.detect(parsed, campaign)
                envelope.documents = sorted(found.documents)
                envelope.document_files = found.documents
                notes.extend(found.reasons)
        matched = rule.check(envelope, ctx)
        if matched:
            envelope.disposition = rule.name
            envelope.reasons = matched + notes
            break
    return envelope


def classify_bytes(
    raw: bytes,
    config: Config,
    source: str = "",
    known: Mapping[str, str] | None = None,
    received: dt.datetime | None = None,
) -> Envelope:
    envelope = Envelope(
        raw=raw, parsed=parse_message(raw, config.max_attachment_bytes, Budget.of(config)), source=source
    )
    return classify(envelope, config, known, received)
