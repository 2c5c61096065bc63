"""No automatic mail to a sender our server did not authenticate, nor to one it says failed (issue 23, item 3).

Abuse case: a forger writes `victim@example.org` (or a carrier's address) in From and gets the
Department's own server to mail the victim its text: an acknowledgement, an oversize notice quoting
the forged Subject, a command answer. One sweep sends every kind of mail that answers a sender,
through the real path: Dovecot on loopback, `mailbot run --once`, aiosmtpd.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import os

import pytest

from mailbot import config as configmod
from mailbot.register.store import Store
from tests import dovecot as dc
from tests.conftest import build, imap_config, mailbot

ENV = {**os.environ, "MAILBOT_TEST_IMAP_PASSWORD": dc.PASSWORD}
STAFF = "ddthong@dongthap.gov.vn"
OURS = "mail.dongthap.gov.vn"
PHISH = "Phương án – xác nhận tài khoản tại http://evil.example/login"


def every_kind(auth: str | None) -> list[bytes]:
    """One message for each kind of automatic answer mailbot sends to a sender (`auth`: what our
    server wrote, {domain} filled in per sender)."""

    def head(sender: str) -> str | None:
        return auth.format(domain=sender.rsplit("@", 1)[1]) if auth else None

    now = email.utils.format_datetime(dt.datetime.now(dt.timezone.utc))
    big = (("PA-scan.pdf", os.urandom(1_200_000)),)
    return [
        # an acknowledgement (a submission by an organization)
        build(sender="kt@vnpt.vn", subject=PHISH, files=(("Phuong an.docx", b"plan"),), auth=head("kt@vnpt.vn")),
        # an oversize notice, to an organization and to anyone (the victim)
        build(sender="kt@vnpt.vn", subject=PHISH + " (lớn)", files=big, auth=head("kt@vnpt.vn")),
        build(sender="victim@example.org", subject=PHISH, files=big, auth=head("victim@example.org")),
        # command answers: a question, and a changing command that is refused and told so
        build(sender=STAFF, subject="Hỏi", body="trạng thái", auth=head(STAFF), headers={"Date": now}),
        build(sender=STAFF, subject="Re: Báo cáo", body="nhắc", auth=head(STAFF), headers={"Date": now}),
    ]


@pytest.mark.parametrize(
    ("auth", "answered"),
    [
        (None, 0),  # no word from our server: forged or not, unknown
        ("evil.example; dkim=pass header.d={domain}; dmarc=pass header.from={domain}", 0),  # not our server
        (OURS + "; spf=pass smtp.mailfrom=evil.example; dkim=pass header.d=evil.example", 0),  # another domain
        (OURS + "; dkim=none; spf=none", 0),  # nothing proven
        (OURS + "; spf=fail smtp.mailfrom={domain}; dkim=fail header.d={domain}; dmarc=fail", 0),  # failed
        (OURS + "; dkim=pass header.d={domain}; dmarc=pass header.from={domain}", 5),  # the sweep reaches every kind
    ],
)
def test_no_automatic_mail_goes_to_a_sender_our_server_did_not_authenticate(
    tmp_path, smtp_server, dovecot, auth, answered
) -> None:
    recorder, port = smtp_server
    path = imap_config(
        tmp_path,
        port,
        dovecot.port,
        {
            r"(?m)^timeout = 10$": "timeout = 10\nmax_message_mb = 1",
            # without it an unauthenticated organization is `suspicious` first: the check below is reached
            r"(?m)^# require_aligned_auth = true.*$": "require_aligned_auth = false",
            # the staff member the digest goes to may send commands
            r'(?m)^to = \["ddthong@dongthap.gov.vn"\].*$': 'to = ["ddthong@dongthap.gov.vn"]',
        },
    )
    for raw in every_kind(auth):
        dovecot.append(raw)
    proc = mailbot("run", "--config", str(path), "--once", env=ENV)
    assert proc.returncode == 0, proc.stderr
    sent = [m for m in recorder.parsed() if not m["Message-ID"].startswith("<digest.")]
    assert len(sent) == answered, [(m["To"], m["Subject"]) for m in sent]
    if answered:
        kinds = sorted(m["Message-ID"].strip("<").split(".", 1)[0] for m in sent)
        assert kinds == ["ack", "command", "command", "oversize", "oversize"]
        return
    store = Store(configmod.load(path).state_dir)
    try:
        records = list(store.messages.all())
        assert len(records) == 5 and all(r["reply"] is None for r in records)
        assert [m for m in store.outbox.all() if m["kind"] != "digest"] == []
    finally:
        store.close()
