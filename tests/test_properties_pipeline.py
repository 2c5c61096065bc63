"""Generated MIME through the whole pipeline: every message recorded, the next one always processed.

Where test_properties.py checks that classification never raises, this runs the real
runner (Maildir source, register, outbox in dry run): each generated message must be
recorded (with its defects, or set aside as an error), and an ordinary plan delivered
right after it must be recorded and acknowledged.
"""

from __future__ import annotations

import dataclasses
import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailbot import config as configmod
from mailbot.runtime import open_runner, source_for
from tests.conftest import build, deliver, write_config
from tests.test_properties import mime_tree, serialise

COUNTER = itertools.count()


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("pipeline")
    config = dataclasses.replace(configmod.load(write_config(tmp_path)), dry_run=True)
    source = source_for(config)
    with open_runner(config, 1, source) as runner:
        yield tmp_path, runner, source


def check(pipeline, raw: bytes) -> None:
    tmp_path, runner, source = pipeline
    n = next(COUNTER)
    ordinary = build(
        sender="kt@vnpt.vn",
        subject=f"Phương án bảo đảm thông tin liên lạc {n}",
        files=((f"PA-{n}.docx", b"pa %d" % n),),
    )
    deliver(tmp_path, raw, f"{n:06d}.a.eml")
    deliver(tmp_path, ordinary, f"{n:06d}.b.eml")
    result = runner.run_pass(source)
    assert result.recorded + result.duplicates + result.errors >= 2
    assert not list((tmp_path / "maildir" / "new").iterdir())  # both taken, neither left behind
    generated = runner.store.messages.get(runner.identify(raw).key)
    assert generated is not None and generated["disposition"]
    record = runner.store.messages.get(runner.identify(ordinary).key)
    assert record is not None and record["disposition"] == "submission" and record["reply"]
    assert runner.store.outbox.get(record["reply"]) is not None


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(tree=mime_tree())
def test_generated_mime_trees_are_recorded_and_the_next_message_answered(pipeline, tree) -> None:
    check(pipeline, serialise(tree))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.binary(min_size=1, max_size=3000))
def test_generated_bytes_are_recorded_and_the_next_message_answered(pipeline, raw) -> None:
    check(pipeline, raw)


HEADER_NAMES = (
    "Message-ID",
    "From",
    "Reply-To",
    "Sender",
    "Return-Path",
    "Subject",
    "Date",
    "References",
    "In-Reply-To",
    "To",
    "Authentication-Results",
    "Content-Type",
    "Content-Disposition",
)
_header_value = st.binary(min_size=0, max_size=120).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b""))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    values=st.dictionaries(st.sampled_from(HEADER_NAMES), _header_value, min_size=1),
    utf8=st.lists(st.text(min_size=1, max_size=20), max_size=3),
)
def test_raw_bytes_in_every_header_are_recorded_and_the_next_message_answered(pipeline, values, utf8) -> None:
    """Whatever bytes a header holds (raw 8-bit, NUL, half a UTF-8 sequence), the whole runner
    records the message and the plan behind it is acknowledged (the poison-mail class of bug)."""
    head = b"".join(name.encode() + b": " + value + b"\r\n" for name, value in values.items())
    head += b"".join(
        b"X-Note: " + t.replace("\r", "").replace("\n", "").encode("utf-8", "surrogatepass") + b"\r\n" for t in utf8
    )
    check(pipeline, head + b"\r\nN\xe1\xbb\x99i dung \xff\r\n")
