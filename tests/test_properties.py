"""Property tests: arbitrary headers and MIME trees never make classify raise."""

from __future__ import annotations

from email.message import Message

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailbot.analysis.classify import classify_bytes

HEADER_NAMES = st.sampled_from(
    [
        "From",
        "To",
        "Subject",
        "Message-ID",
        "Date",
        "Reply-To",
        "Return-Path",
        "Auto-Submitted",
        "Precedence",
        "List-Id",
        "Authentication-Results",
        "Content-Type",
        "Content-Disposition",
        "Content-Transfer-Encoding",
        "Received",
        "X-Auto-Response-Suppress",
        "Sender",
        "References",
        "In-Reply-To",
    ]
)
HEADER_VALUES = st.one_of(
    st.text(max_size=200),
    st.binary(max_size=200).map(lambda b: b.decode("latin-1")),
    st.sampled_from(
        [
            "=?utf-8?B?UGjGsMahbmcgw6Fu?=",
            "=?windows-1258?Q?Ph=DD=F2ng?=",
            "=?bogus?Q?x?=",
            "<>",
            "multipart/mixed; boundary=",
            "attachment; filename*0*=utf-8''%E1; filename*1*=%ZZ",
            "mail.dongthap.gov.vn; dmarc=fail",
            ";;;;;;;;",
            '"unterminated',
            "a@vnpt.vn",
            '"x@vnpt.vn" <y@evil>',
            "(((comment",
        ]
    ),
)
LEAF_TYPES = st.sampled_from(
    [
        "text/plain",
        "text/html",
        "application/pdf",
        "application/zip",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "message/rfc822",
        "image/png",
        "application/octet-stream",
    ]
)


@st.composite
def mime_tree(draw, depth: int = 0) -> Message:
    part = Message()
    for name, value in draw(st.lists(st.tuples(HEADER_NAMES, HEADER_VALUES), max_size=4)):
        part[name] = value
    if depth < 3 and draw(st.booleans()):
        del part["Content-Type"]
        part["Content-Type"] = draw(
            st.sampled_from(["multipart/mixed", "multipart/alternative", "multipart/signed", "multipart/report"])
        )
        part.set_boundary(f"b{depth}x{draw(st.integers(0, 999))}")
        for child in draw(st.lists(mime_tree(depth + 1), max_size=3)):
            part.attach(child)
    else:
        if "Content-Type" not in part:
            part["Content-Type"] = draw(LEAF_TYPES)
        if draw(st.booleans()):
            part["Content-Disposition"] = f'attachment; filename="{draw(st.text(max_size=30))}"'
        part.set_payload(draw(st.binary(max_size=300)).decode("latin-1"))
    return part


def serialise(msg: Message) -> bytes:
    try:
        return msg.as_bytes()
    except Exception:
        return msg.as_string().encode("utf-8", "surrogateescape")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tree=mime_tree())
def test_arbitrary_mime_trees_never_raise(tree, config) -> None:
    env = classify_bytes(serialise(tree), config)
    assert env.disposition in ("automated", "suspicious", "unknown-sender", "submission", "correspondence")
    assert env.reasons


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.binary(max_size=2000))
def test_arbitrary_bytes_never_raise(raw, config) -> None:
    env = classify_bytes(raw, config)
    assert env.disposition is not None
    assert env.key


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(headers=st.lists(st.tuples(HEADER_NAMES, st.binary(max_size=300)), max_size=12), body=st.binary(max_size=500))
def test_arbitrary_raw_headers_never_raise(headers, body, config) -> None:
    raw = b"".join(n.encode() + b": " + v.replace(b"\r", b"").replace(b"\n", b" ") + b"\r\n" for n, v in headers)
    env = classify_bytes(raw + b"\r\n" + body, config)
    assert env.disposition is not None
