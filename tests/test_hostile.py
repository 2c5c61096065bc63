"""Hostile input through the whole pipeline: recorded with its defects, never a crash, nothing escapes.

Each message of tests/hostile.py goes into one Maildir with an ordinary plan after them all;
`mailbot run --once` runs under a 2 GiB address-space limit and a 5-minute timeout (the
bounds), and must record every one and acknowledge the ordinary plan.
"""

from __future__ import annotations

import resource
import subprocess
import sys
import unicodedata
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from mailbot import config as configmod
from mailbot.register.store import Store
from tests.conftest import build, deliver, write_config
from tests.hostile import CASES
from tests.tools import in_ci, missing, needs

ADDRESS_SPACE = 2 << 30  # bytes, for mailbot and each of its worker processes
TIMEOUT = 300


def limited() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))


@pytest.fixture(scope="module")
def outcome(tmp_path_factory, smtp_server_module):
    tmp_path = tmp_path_factory.mktemp("hostile")
    recorder, port = smtp_server_module
    config = write_config(
        tmp_path,
        port,
        {
            r'(?m)^to = \["ddthong@dongthap.gov.vn"\].*$': 'to = ["ddthong@dongthap.gov.vn"]',
            # every hostile case comes from one address: more acknowledgements than the daily cap
            r"(?m)^auto_reply_cap_per_day = .*$": "auto_reply_cap_per_day = 100",
        },
    )
    from tests.signing import hostile_pki

    # the hostile signatures' root is trusted, so that the 100-deep chain is built to it
    config.write_text(
        config.read_text(encoding="utf-8") + f'\n[signatures]\ntrust_roots = ["{hostile_pki().root_pem}"]\n',
        encoding="utf-8",
    )
    for n, (name, make) in enumerate(CASES.items()):
        deliver(tmp_path, make(), f"{n:02d}-{name}.eml")
    deliver(
        tmp_path,
        build(
            sender="kt@viettel.com.vn",
            subject="Phương án bảo đảm thông tin liên lạc",
            files=(("PA-Viettel.docx", b"pa"),),
            auth="mail.dongthap.gov.vn; dmarc=pass header.from=viettel.com.vn",
        ),
        "99-ordinary.eml",
    )
    done = subprocess.run(
        [sys.executable, "-m", "mailbot", "run", "--config", str(config), "--once"],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        preexec_fn=limited,
    )
    assert done.returncode == 0, done.stderr
    store = Store(configmod.load(config).state_dir)
    try:
        records = {m["message_id"]: m for m in store.messages.all()}
        outbox = list(store.outbox.all())
    finally:
        store.close()
    return tmp_path, config, records, outbox, recorder


def record(outcome, name: str) -> dict:
    return outcome[2][f"hostile.{name}@vnpt.vn"]


def ack(outcome, name: str):  # noqa: ANN201
    key = record(outcome, name)["reply"]
    [raw] = [m for m in outcome[4].messages if f"<{key}>".encode() in m]
    return message_from_bytes(raw, policy=policy.default)


def test_every_hostile_message_is_recorded_and_the_ordinary_one_answered(outcome) -> None:
    tmp_path, _, records, outbox, recorder = outcome
    assert len(records) == len(CASES) + 1 and not list((tmp_path / "maildir" / "new").iterdir())
    ordinary = [m for m in records.values() if m["from"] == "kt@viettel.com.vn"]
    assert ordinary[0]["disposition"] == "submission" and ordinary[0]["receipt"]
    assert all(m["status"] == "sent" for m in outbox) and len(recorder.messages) == len(outbox)
    for mail in recorder.messages:  # every text a person reads is valid UTF-8 in NFC
        parsed = message_from_bytes(mail, policy=policy.default)
        for part in parsed.walk():
            if part.get_content_maintype() == "text":
                text = part.get_content()
                assert unicodedata.is_normalized("NFC", text)


def test_nesting_and_sheer_numbers_are_cut_with_a_defect(outcome) -> None:
    assert record(outcome, "nested")["defects"] == ["cấu trúc MIME lồng nhau quá sâu: chỉ đọc được tiêu đề thư"]
    many = record(outcome, "many")
    assert len(many["attachments"]) == 500 and many["defects"] == ["thư có 10000 tệp đính kèm: chỉ xét 500 tệp đầu"]
    huge = record(outcome, "hugeheader")
    assert any("X-Filler" in d and "đã cắt" in d for d in huge["defects"]), huge["defects"]


def test_archives_are_never_unpacked_beyond_the_budget(outcome) -> None:
    tmp_path = outcome[0]
    bomb = record(outcome, "zipbomb")
    defects = [d for a in bomb["attachments"] for d in a["defects"]]
    assert any("bom" in d.lower() or "tỉ lệ nén" in d for d in defects), defects
    nested = record(outcome, "nestedzip")
    depth = [a["container"].count("›") + 1 for a in nested["attachments"] if a["container"]]
    assert depth and max(depth) <= 2, nested["attachments"]
    stored = sum(p.stat().st_size for p in (tmp_path / "state").rglob("*") if p.is_file())
    assert stored < 64 * 1024 * 1024, stored  # the 1 GiB member was never written out


def test_file_names_never_reach_the_file_system(outcome) -> None:
    tmp_path = outcome[0]
    names = record(outcome, "names")
    assert not Path("/tmp/mailbot-pwned").exists() and not Path("/etc/cron.d/evil").exists()
    for path in (tmp_path / "state" / "files").rglob("*"):  # blobs are named by their SHA-256, whatever the name
        assert path.is_dir() and len(path.name) == 2 or len(path.name) == 64, path
    shown = [a["filename"] for a in names["attachments"]]
    assert "../../etc/passwd" in shown and "CON" in shown and "Phuongan.docx" in shown  # NUL removed, kept as text
    zipped = [d for a in names["attachments"] for d in a["defects"] if "đường dẫn nguy hiểm" in d]
    assert len(zipped) == 2
    text = ack(outcome, "names").get_body(("plain",)).get_content()
    assert "\x00" not in text and "A" * 81 not in text and "A" * 40 + "…" in text  # shortened in the reply


def test_html_and_template_syntax_are_shown_as_text_never_run(outcome) -> None:
    reply = ack(outcome, "inject")
    assert str(reply["Subject"]) == "Re: Phương án <script>alert(1)</script> {{ 7*7 }} {% for x in y %}"
    html = reply.get_body(("html",)).get_content()
    text = reply.get_body(("plain",)).get_content()
    assert "PA <b>{{ config }}</b>.docx" in text  # as the sender wrote it, not rendered
    assert "&lt;b&gt;{{ config }}&lt;/b&gt;" in html and "<b>{{" not in html
    digest = subprocess.run(
        [sys.executable, "-m", "mailbot", "digest", "--config", str(outcome[1])],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert digest.returncode == 0, digest.stderr
    [mail] = [m for m in outcome[4].messages if b"digest." in m.split(b"\r\n\r\n", 1)[0]]
    parsed = message_from_bytes(mail, policy=policy.default)
    digest_html = parsed.get_body(("html",)).get_content()
    assert "&lt;script&gt;alert(1)&lt;/script&gt; {{ 7*7 }}" in digest_html and "<script>" not in digest_html
    assert "{{ 7*7 }}" in parsed.get_body(("plain",)).get_content()


def test_invalid_utf8_is_recorded_and_answered_in_valid_text(outcome) -> None:
    bad = record(outcome, "utf8")
    assert bad["disposition"] == "submission" and bad["reply"]
    assert bad["subject"].startswith("Phương án ")  # what could be read; the invalid bytes in another charset
    ack(outcome, "utf8").get_body(("plain",)).get_content().encode("utf-8", errors="strict")


def test_semicolons_in_a_header_cost_nothing(outcome) -> None:
    assert record(outcome, "semicolons")["disposition"] == "correspondence"


def test_hostile_signatures_are_defects_that_never_hold(outcome) -> None:
    for name in ("sigcms", "sigrange", "sigfields"):
        found = record(outcome, name)
        assert found["disposition"] == "suspicious", (name, found["reasons"])
        assert found["signatures"] and not any(
            s["intact"] and not s["modified_after_signing"] for s in found["signatures"]
        )
    fields = record(outcome, "sigfields")
    assert len(fields["signatures"]) == 10
    assert any("chỉ kiểm tra 10 chữ ký đầu" in d for a in fields["attachments"] for d in a["defects"])
    chain = record(outcome, "sigchain")
    assert chain["disposition"] == "submission"  # intact, but a 102-certificate chain is not trusted
    [sig] = chain["signatures"]
    assert sig["intact"] and not sig["trusted"] and "chuỗi chứng thư dài bất thường" in sig["problems"][0]


def test_hostile_archives_and_outlook_wrappers_end_with_a_reason(outcome) -> None:
    # .rar members are unpacked through Debian's libarchive: without it the bombs are named unread
    rar = ("rarbomb", "rar5bomb") if missing("libarchive") is None or in_ci() else ()
    for name in ("sevenzipbomb", *rar):
        defects = [d for a in record(outcome, name)["attachments"] for d in a["defects"]]
        assert any("nghi là bom nén" in d for d in defects), (name, defects)
    items = [d for a in record(outcome, "msgitems")["attachments"] for d in a["defects"]]
    assert any("lồng quá sâu" in d for d in items), items
    dictionary = [d for a in record(outcome, "sevenzipdict")["attachments"] for d in a["defects"]]
    assert any("từ điển nén" in d for d in dictionary), dictionary
    if rar:
        lying = [d for a in record(outcome, "rar5lying")["attachments"] for d in a["defects"]]
        assert any("không giải nén được 'DS truc.xlsx'" in d for d in lying), lying
        many = record(outcome, "rar10000")
        assert "tệp nén có quá nhiều tệp: chỉ xét 200 tệp" in [d for a in many["attachments"] for d in a["defects"]]
        assert len([a for a in many["attachments"] if a["container"]]) == 200
    tnef = record(outcome, "tnef10000")
    defects = [d for a in tnef["attachments"] for d in a["defects"]]
    assert "gói Outlook winmail.dat có quá nhiều tệp: chỉ xét 200 tệp" in defects
    assert len([a for a in tnef["attachments"] if a["container"]]) == 200


@needs("tesseract")
def test_hostile_scans_end_with_a_reason_and_the_rest_goes_on(outcome) -> None:
    huge = [d for a in record(outcome, "scanhuge")["attachments"] for d in a["defects"]]
    assert any("ảnh quá lớn" in d for d in huge), huge
    pages = [d for a in record(outcome, "scanpages")["attachments"] for d in a["defects"]]
    assert "bản quét có hơn 20 trang: chỉ đọc 20 trang đầu" in pages
    for name in ("scanccitt", "scanjbig2"):  # pdfium declines the giant image: a blank page, nothing read
        assert record(outcome, name)["disposition"] == "submission"
