"""Configuration: a TOML file loaded with tomllib and validated strictly.

Every problem is a ConfigError naming the file, the dotted key and what is
wrong; unknown keys are rejected so that a typo never passes silently.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from mailbot.config.mailbox import MailboxConfig, mailbox_section
from mailbot.config.reminders import ReminderPlan, Reminders
from mailbot.config.reminders import reminder_plan as _reminder_plan
from mailbot.config.signatures import SignatureSettings, signatures_section, tax_code
from mailbot.config.smtp import SmtpConfig, smtp_section
from mailbot.config.table import Section as _Section
from mailbot.config.table import date_value as _date
from mailbot.config.table import deadline as _deadline
from mailbot.config.table import is_address as _is_address
from mailbot.config.table import is_domain as _is_domain
from mailbot.config.table import resolve as _resolve
from mailbot.errors import ConfigError

KINDS = ("telecom", "postal", "other")


@dataclass(frozen=True)
class Organization:
    id: str
    name: str
    kind: str
    domains: tuple[str, ...]
    addresses: tuple[str, ...] = ()
    contacts: tuple[str, ...] = ()
    tax_codes: tuple[str, ...] = ()  # MST in its signing certificates: a signature carrying one is this org's


@dataclass(frozen=True)
class Digest:
    time: dt.time = dt.time(7, 30)  # local time of the daily digest
    to: tuple[str, ...] = ()  # staff addresses; none: no digest


@dataclass(frozen=True)
class Document:
    id: str
    name: str
    keywords: tuple[str, ...]
    deadline: dt.datetime  # aware; the last instant that is on time
    organizations: tuple[str, ...]
    reminders: ReminderPlan | None = None  # None: no reminders for this document
    roster: bool = False  # a duty list: its rows are read, checked and gathered into one roster


@dataclass(frozen=True)
class Campaign:
    id: str
    title: str
    reference: str
    receipt_prefix: str
    documents: tuple[Document, ...]
    event_date: dt.date | None = None
    event_name: str = ""
    opens: dt.date | None = None

    def document(self, doc_id: str) -> Document | None:
        return next((d for d in self.documents if d.id == doc_id), None)


@dataclass(frozen=True)
class Config:
    path: Path
    own_addresses: tuple[str, ...]
    timezone: ZoneInfo
    state_dir: Path
    trusted_authserv_ids: tuple[str, ...]
    require_aligned_auth: bool  # a claimed organization needs a pass aligned with its From domain
    department: str
    signature: str
    contact: str
    auto_reply_cap: int
    dry_run: bool
    max_attachment_bytes: int
    poll_interval: float
    workers: int
    templates_dir: Path | None
    mailbox: MailboxConfig
    smtp: SmtpConfig
    organizations: tuple[Organization, ...]
    campaigns: tuple[Campaign, ...] = field(default_factory=tuple)
    reminders: Reminders = Reminders()
    digest: Digest = Digest()
    staff: tuple[str, ...] = ()  # addresses whose authenticated mail is obeyed as commands ([staff])
    max_ocr_pages: int = 20  # pages of a scan read per file; 0: no OCR
    ocr_seconds: float = 240.0  # time to read a message's scans; over it, the message goes to review
    worker_idle_seconds: float = 300.0  # worker processes end after this long without work
    analyse_seconds: float = 120.0  # a message (or a staff assign) analysed longer than this (+ OCR) is given up
    signatures: SignatureSettings = SignatureSettings()

    def organization(self, org_id: str) -> Organization | None:
        return next((o for o in self.organizations if o.id == org_id), None)

    def campaign(self, campaign_id: str) -> Campaign | None:
        return next((c for c in self.campaigns if c.id == campaign_id), None)

    @property
    def reply_from(self) -> str:
        return self.own_addresses[0]

    def secret(self, env_name: str) -> str | None:
        """A secret from the environment or a systemd credential file."""
        return read_secret(env_name)

    @property
    def secret_names(self) -> tuple[str, ...]:
        """The environment variables (or credential names) the configuration takes secrets from."""
        names = (
            self.mailbox.password_env,
            self.mailbox.client_secret_env,
            self.mailbox.lease_secret_env,
            self.smtp.password_env,
        )
        return tuple(n for n in names if n)


def example_path() -> Path:
    """The example deployment shipped with the package (config.example.toml)."""
    return Path(__file__).resolve().parent.parent / "demo_data" / "config.example.toml"


def read_secret(env_name: str) -> str | None:
    if not env_name:
        return None
    value = os.environ.get(env_name)
    if value:
        return value
    cred_dir = os.environ.get("CREDENTIALS_DIRECTORY")
    if cred_dir:
        path = Path(cred_dir) / env_name
        if path.is_file():
            return path.read_text(encoding="utf-8").strip()
    return None


def load(path: str | Path) -> Config:
    """Load and validate a configuration file; raise ConfigError on any problem."""
    path = Path(path)
    file = str(path)
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(file, "(file)", "not found") from None
    except OSError as exc:
        raise ConfigError(file, "(file)", f"cannot be read: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(file, "(syntax)", str(exc)) from None
    except UnicodeDecodeError:
        raise ConfigError(file, "(file)", "is not UTF-8 text") from None
    return parse(data, path)


def parse(data: dict[str, Any], path: Path) -> Config:
    file = str(path)
    base = path.resolve().parent
    top = _Section(file, "", data)

    main = top.table("mailbot")
    tz_name = main.text("timezone", "Asia/Ho_Chi_Minh")
    try:
        tz = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise main.fail("timezone", f"unknown time zone {tz_name!r}") from None
    own = tuple(a.lower() for a in main.strings("own_addresses", check=_is_address, what="an e-mail address"))
    if not own:
        raise main.fail("own_addresses", "must name at least one address")
    state_dir = _resolve(base, main.text("state_dir", "state"))
    trusted = tuple(a.lower() for a in main.strings("trusted_authserv_ids", ()))
    strict = main.get("require_aligned_auth", bool, bool(trusted))
    if strict and not trusted:
        raise main.fail("require_aligned_auth", "needs trusted_authserv_ids (the id of our own receiving server)")
    department = main.text("department", "Sở Thông tin và Truyền thông tỉnh Đồng Tháp")
    signature = main.text("signature", "Phòng Bưu chính, Viễn thông")
    contact = main.text("contact", "")
    cap = main.get("auto_reply_cap_per_day", int, 10, "an integer")
    if cap < 1:
        raise main.fail("auto_reply_cap_per_day", "must be at least 1")
    dry_run = main.get("dry_run", bool, False)
    max_att = main.get("max_attachment_mb", int, 30, "an integer") * 1024 * 1024
    poll = main.get("poll_interval", (int, float), 10, "a number of seconds")
    if poll <= 0:
        raise main.fail("poll_interval", "must be positive")
    workers = main.get("workers", int, 0, "an integer")
    if not 0 <= workers <= 64:
        raise main.fail("workers", "must be between 0 (one per core, at most 4) and 64")
    ocr_pages = main.get("max_ocr_pages", int, 20, "a whole number of pages")
    if not 0 <= ocr_pages <= 500:
        raise main.fail("max_ocr_pages", "must be between 0 (no OCR) and 500")
    ocr_seconds = float(main.get("ocr_seconds", (int, float), 240, "a number of seconds"))
    if not 10 <= ocr_seconds <= 3600:
        raise main.fail("ocr_seconds", "must be between 10 and 3600")
    idle_workers = float(main.get("worker_idle_seconds", (int, float), 300, "a number of seconds"))
    if idle_workers < 1:
        raise main.fail("worker_idle_seconds", "must be at least 1")
    analyse_seconds = float(main.get("analyse_seconds", (int, float), 120, "a number of seconds"))
    if not 2 <= analyse_seconds <= 3600:
        raise main.fail("analyse_seconds", "must be between 2 and 3600")
    tdir = main.text("templates_dir", "")
    main.done()

    mailbox = mailbox_section(top.table("mailbox", {}), base)

    smtp = smtp_section(top.table("smtp", {}), base, mailbox)

    orgs: list[Organization] = []
    for sec in top.tables("organizations"):
        org_id = sec.ident("id", [o.id for o in orgs], "organization")
        orgs.append(
            Organization(
                id=org_id,
                name=sec.text("name"),
                kind=sec.choice("kind", KINDS),
                domains=tuple(d.lower() for d in sec.strings("domains", (), _is_domain, "a domain name")),
                addresses=tuple(a.lower() for a in sec.strings("addresses", (), _is_address, "an e-mail address")),
                contacts=tuple(a.lower() for a in sec.strings("contacts", (), _is_address, "an e-mail address")),
                tax_codes=sec.strings(
                    "tax_codes", (), tax_code, "a tax code (MST) such as 0100686209 or 0100686209-001"
                ),
            )
        )
        if not orgs[-1].domains and not orgs[-1].addresses:
            raise sec.fail("domains", "an organization needs domains or addresses")
        sec.done()
    org_ids = {o.id for o in orgs}

    rsec = top.table("reminders", {})
    hour_text = rsec.text("hour", "08:00")
    try:
        hour = dt.time.fromisoformat(hour_text)
    except ValueError:
        raise rsec.fail("hour", f'{hour_text!r} is not a time such as "08:00"') from None
    days: dict[str, tuple[dt.date, ...]] = {}
    for key in ("holidays", "workdays"):
        listed = rsec.get(key, list, [], "a list of dates")
        if not all(isinstance(d, dt.date) and not isinstance(d, dt.datetime) for d in listed):
            raise rsec.fail(key, "must be a list of dates such as 2021-04-30")
        days[key] = tuple(listed)
    reminders = Reminders(
        hour=hour, holidays=days["holidays"], workdays=days["workdays"], plan=_reminder_plan(rsec, ReminderPlan())
    )
    rsec.done()

    dsec_ = top.table("digest", {})
    digest_time = dsec_.text("time", "07:30")
    try:
        digest = Digest(
            time=dt.time.fromisoformat(digest_time),
            to=tuple(a.lower() for a in dsec_.strings("to", (), _is_address, "an e-mail address")),
        )
    except ValueError:
        raise dsec_.fail("time", f'{digest_time!r} is not a time such as "07:30"') from None
    dsec_.done()

    ssec = top.table("staff", {})
    staff = tuple(a.lower() for a in ssec.strings("addresses", digest.to, _is_address, "an e-mail address"))
    ssec.done()
    signatures = signatures_section(top.table("signatures", {}), base)

    campaigns: list[Campaign] = []
    for sec in top.tables("campaigns"):
        cid = sec.ident("id", [c.id for c in campaigns], "campaign")
        prefix = sec.text("receipt_prefix")
        if not re.match(r"^[A-Z0-9]{1,12}$", prefix):
            raise sec.fail("receipt_prefix", f"{prefix!r} must be 1-12 capital letters or digits, e.g. BC2021")
        docs: list[Document] = []
        for dsec in sec.tables("documents"):
            did = dsec.ident("id", [d.id for d in docs], "document")
            keywords = dsec.strings("keywords")
            if not keywords:
                raise dsec.fail("keywords", "must list at least one keyword")
            members = dsec.strings("organizations", tuple(o.id for o in orgs))
            for member in members:
                if member not in org_ids:
                    raise dsec.fail("organizations", f"unknown organization id {member!r}")
            plan: ReminderPlan | None = None  # `reminders = false`: none for this document
            if dsec.get("reminders", (dict, bool), True, "a table of reminder keys, or false") is not False:
                psec = dsec.table("reminders", {})
                plan = _reminder_plan(psec, reminders.plan)
                psec.done()
            docs.append(
                Document(
                    id=did,
                    name=dsec.text("name"),
                    keywords=keywords,
                    deadline=_deadline(dsec, "deadline", tz),
                    organizations=members,
                    reminders=plan,
                    roster=dsec.get("roster", bool, False),
                )
            )
            dsec.done()
        if not docs:
            raise sec.fail("documents", "a campaign needs at least one document")
        campaigns.append(
            Campaign(
                id=cid,
                title=sec.text("title"),
                reference=sec.text("reference", ""),
                receipt_prefix=prefix,
                documents=tuple(docs),
                event_date=_date(sec, "event_date"),
                event_name=sec.text("event_name", ""),
                opens=_date(sec, "opens"),
            )
        )
        sec.done()
    if len({c.receipt_prefix for c in campaigns}) != len(campaigns):
        raise ConfigError(file, "campaigns", "each campaign needs its own receipt_prefix")
    top.done()

    return Config(
        path=path,
        own_addresses=own,
        timezone=tz,
        state_dir=state_dir,
        trusted_authserv_ids=trusted,
        require_aligned_auth=strict,
        department=department,
        signature=signature,
        contact=contact,
        auto_reply_cap=cap,
        dry_run=dry_run,
        max_attachment_bytes=max_att,
        poll_interval=float(poll),
        workers=workers,
        templates_dir=_resolve(base, tdir) if tdir else None,
        mailbox=mailbox,
        smtp=smtp,
        organizations=tuple(orgs),
        campaigns=tuple(campaigns),
        reminders=reminders,
        digest=digest,
        staff=staff,
        signatures=signatures,
        max_ocr_pages=ocr_pages,
        ocr_seconds=ocr_seconds,
        worker_idle_seconds=idle_workers,
        analyse_seconds=analyse_seconds,
    )
