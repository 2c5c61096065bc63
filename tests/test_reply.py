"""Templates: checked at start, escaped in HTML, Vietnamese in NFC."""

from __future__ import annotations

import shutil
import unicodedata

import pytest

from mailbot.analysis.classify import classify_bytes
from mailbot.errors import TemplateError
from mailbot.intake.parse import decode_value
from mailbot.replies.reply import SAMPLE_ACK, Templates, compose, default_templates_dir, encode_phrase, reply_subject


def test_shipped_templates_render_in_nfc() -> None:
    from mailbot.replies.reply import SAMPLES, TEMPLATES

    templates = Templates()
    assert len(TEMPLATES) == 11
    for name in TEMPLATES:
        text = templates.render(name, SAMPLES[name.split(".", 1)[0]])
        assert text == unicodedata.normalize("NFC", text)
        assert "Sở Thông tin và Truyền thông" in text or "SỞ THÔNG TIN VÀ TRUYỀN THÔNG" in text
    assert "Số biên nhận" in templates.render("ack.txt.j2", SAMPLE_ACK)


def test_every_template_is_strict_about_its_context() -> None:
    from mailbot.replies.reply import SAMPLES, TEMPLATES

    templates = Templates()
    for name in TEMPLATES:
        sample = dict(SAMPLES[name.split(".", 1)[0]])
        sample.pop("department")
        with pytest.raises(TemplateError, match=name):
            templates.render(name, sample)


def test_a_broken_template_fails_at_start(tmp_path) -> None:
    shutil.copytree(default_templates_dir(), tmp_path / "t")
    path = tmp_path / "t" / "ack.txt.j2"
    path.write_text(path.read_text(encoding="utf-8") + "{{ receipt_number }}", encoding="utf-8")
    with pytest.raises(TemplateError, match="ack.txt.j2"):
        Templates(tmp_path / "t")
    path.write_text("{% for x in %}", encoding="utf-8")
    with pytest.raises(TemplateError, match="ack.txt.j2"):
        Templates(tmp_path / "t")


def test_html_is_escaped_and_never_evaluated(config) -> None:
    templates = Templates()
    context = {
        **SAMPLE_ACK,
        "files": [
            {
                "name": "<script>alert(1)</script>{{ 7*7 }}.docx",
                "size": "1 KB",
                "kind": "Phương án",
                # a certificate's subject is the sender's text too
                "signatures": ["Tệp đã được ký số bởi <img src=x onerror=alert(2)>"],
            }
        ],
    }
    html = templates.render("ack.html.j2", context)
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<img" not in html and "&lt;img src=x" in html
    assert "{{ 7*7 }}" in html and "49" not in html
    text = templates.render("ack.txt.j2", context)
    assert "<script>alert(1)</script>{{ 7*7 }}.docx" in text


def test_subjects() -> None:
    assert reply_subject("Phương án", "x") == "Re: Phương án"
    assert reply_subject("RE: Phương án", "x") == "RE: Phương án"
    assert reply_subject("  ", "Xác nhận") == "Xác nhận"


def test_display_name_encoding_splits_between_words() -> None:
    encoded = encode_phrase("Sở Thông tin và Truyền thông tỉnh Đồng Tháp")
    assert all(len(word) <= 75 for word in encoded.split())
    assert decode_value(encoded) == "Sở Thông tin và Truyền thông tỉnh Đồng Tháp"


def test_reply_message_id_is_fixed(config) -> None:
    from tests.conftest import build

    env = classify_bytes(build(files=(("PA.docx", b"x"),)), config)
    import datetime as dt

    now = dt.datetime(2021, 3, 29, 3, 0, tzinfo=dt.timezone.utc)
    first = compose(env, config, Templates(), SAMPLE_ACK, now)
    later = compose(env, config, Templates(), SAMPLE_ACK, now + dt.timedelta(hours=5))
    assert first.key == later.key and first.to == ["kt@vnpt.vn"]
    assert b"Date: Mon, 29 Mar 2021 10:00:00 +0700" in first.raw


def test_composed_reply_reads_back_in_a_standard_parser(config) -> None:
    import datetime as dt
    import email
    from email.policy import default

    from tests.conftest import build

    env = classify_bytes(
        build(
            subject="Gửi phương án bảo đảm thông tin liên lạc bầu cử đại biểu Quốc hội và HĐND",
            files=(("PA.docx", b"x"),),
        ),
        config,
    )
    reply = compose(env, config, Templates(), SAMPLE_ACK, dt.datetime(2021, 3, 29, 3, 0, tzinfo=dt.timezone.utc))
    assert all(len(line) <= 998 for line in reply.raw.split(b"\r\n"))
    assert b"\n" not in reply.raw.replace(b"\r\n", b"")
    msg = email.message_from_bytes(reply.raw, policy=default)
    # RFC 2047 readers drop the space between encoded words (the stdlib's phrase parser keeps it)
    from_field = reply.raw.split(b"\r\nTo:")[0].removeprefix(b"From: ").decode("ascii")
    assert decode_value(from_field) == f"{config.department} <{config.reply_from}>"
    assert msg["From"].addresses[0].addr_spec == config.reply_from
    assert str(msg["Subject"]) == decode_value(msg["Subject"]) == f"Re: {env.parsed.subject}"
    assert len(env.parsed.subject) > 70
    assert msg["Content-Language"] == "vi" and msg["Auto-Submitted"] == "auto-replied"
    assert msg["In-Reply-To"] == f"<{env.parsed.message_id}>"
    assert msg.get_content_type() == "multipart/alternative"
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    templates = Templates()
    assert text.replace("\r\n", "\n") == templates.render("ack.txt.j2", SAMPLE_ACK)
    assert html.replace("\r\n", "\n") == templates.render("ack.html.j2", SAMPLE_ACK)


def test_ascii_display_names_are_quoted_when_needed() -> None:
    assert encode_phrase("Department") == "Department"
    assert encode_phrase("Dept. of Info, Dong Thap") == '"Dept. of Info, Dong Thap"'
