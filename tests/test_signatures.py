"""Digitally signed documents, with a test PKI of our own (tests/signing.py) and pyhanko: intact,
altered after signing, changed by an incremental update, another organization's, expired,
untrusted; S/MIME; and the acknowledgement, register and classify output that say so."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from mailbot import config as configmod
from mailbot.analysis.classify import classify_bytes
from mailbot.config import Config
from mailbot.errors import ConfigError
from mailbot.register.store import Store
from tests.conftest import build, deliver, mailbot
from tests.signing import (
    VIETTEL_MST,
    VNPT_MST,
    SigningPKI,
    add_page_content,
    flip_signed_byte,
    plan_pdf,
    sign_pdf,
    signed_config,
    smime_sign,
)

# the Department's 2021 plan deadline is long past: mail "received" in March 2021 is on time
MARCH = {"Date": "Mon, 29 Mar 2021 09:15:00 +0700"}


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> SigningPKI:
    return SigningPKI(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def vnpt_signed(pki) -> bytes:
    return sign_pdf(plan_pdf(), pki.holder("VIỄN THÔNG ĐỒNG THÁP", "VNPT", f"{VNPT_MST}-036"))


@pytest.fixture
def config(tmp_path, pki) -> Config:
    return configmod.load(signed_config(tmp_path, pki.root_pem))


def plan_mail(pdf: bytes, sender: str = "kt@vnpt.vn") -> bytes:
    return build(
        sender=sender, subject="Phương án bảo đảm thông tin liên lạc", files=(("PA-ky-so.pdf", pdf),), headers=MARCH
    )


def test_a_signed_plan_names_its_signer_organization_and_time(config, vnpt_signed) -> None:
    env = classify_bytes(plan_mail(vnpt_signed), config)
    assert env.disposition == "submission" and env.documents == ["plan"]
    [sig] = env.signatures
    record = sig.as_record()
    assert record["file"] == "PA-ky-so.pdf" and record["signer"] == "VIỄN THÔNG ĐỒNG THÁP, VNPT"
    assert record["organization"] == "vnpt-dongthap" and record["tax_code"] == f"{VNPT_MST}-036"
    assert record["intact"] is True and record["trusted"] is True and record["modified_after_signing"] is False
    signed_at = dt.datetime.fromisoformat(record["signed_at"])
    assert signed_at.utcoffset() == dt.timedelta(hours=7)  # Asia/Ho_Chi_Minh, whatever the machine's zone
    assert abs(signed_at - dt.datetime.now(dt.timezone.utc)) < dt.timedelta(hours=1)
    assert not any("chữ ký" in r for r in env.reasons)


def test_one_byte_changed_after_signing_makes_the_message_suspicious(config, vnpt_signed) -> None:
    env = classify_bytes(plan_mail(flip_signed_byte(vnpt_signed)), config)
    assert env.disposition == "suspicious"
    [sig] = env.signatures
    assert sig.intact is False and sig.trusted is False
    assert "không còn nguyên vẹn" in env.reasons[0] and "mã băm không khớp" in env.reasons[0]


def test_a_page_changed_by_an_incremental_update_after_signing_is_suspicious(config, vnpt_signed) -> None:
    env = classify_bytes(plan_mail(add_page_content(vnpt_signed)), config)
    assert env.disposition == "suspicious"
    [sig] = env.signatures
    assert sig.intact is True and sig.modified_after_signing is True
    assert "sửa đổi sau khi ký" in env.reasons[0]


def test_another_organizations_signature_is_a_reason_staff_see(config, pki) -> None:
    viettel_signed = sign_pdf(plan_pdf(), pki.holder("VIETTEL ĐỒNG THÁP", "Viettel", f"{VIETTEL_MST}-047"))
    env = classify_bytes(plan_mail(viettel_signed, sender="kt@vnpt.vn"), config)
    assert env.disposition == "submission"  # not held against the sender, but said
    assert env.signatures[0].organization == "viettel-dongthap"
    assert any("được ký số bởi Viettel Đồng Tháp" in r and "không phải đơn vị gửi thư" in r for r in env.reasons)


def test_an_expired_certificate_is_reported_not_trusted(config, pki) -> None:
    expired = sign_pdf(plan_pdf(), pki.holder("VIỄN THÔNG ĐỒNG THÁP", "VNPT", VNPT_MST, expired=True))
    env = classify_bytes(plan_mail(expired), config)
    assert env.disposition == "submission"
    [sig] = env.signatures
    assert sig.intact is True and sig.trusted is False
    assert any("hết hạn" in r for r in env.reasons)


def test_an_unknown_root_or_none_configured_is_untrusted_but_intact(tmp_path, pki, vnpt_signed) -> None:
    other = SigningPKI(tmp_path / "other", name="Other Root CA")
    for root, words in ((other.root_pem, "không dẫn tới chứng thư gốc tin cậy"), (None, "chưa cấu hình chứng thư gốc")):
        folder = tmp_path / ("other-root" if root else "no-root")
        folder.mkdir()
        env = classify_bytes(plan_mail(vnpt_signed), configmod.load(signed_config(folder, root)))
        assert env.disposition == "submission"
        [sig] = env.signatures
        assert sig.intact is True and sig.trusted is False
        assert sig.organization is None and sig.tax_code == f"{VNPT_MST}-036"  # said, tied to no one
        assert any(words in r and "chưa xác minh" in r for r in env.reasons)


def test_an_unsigned_pdf_has_no_signatures(config) -> None:
    env = classify_bytes(plan_mail(plan_pdf()), config)
    assert env.disposition == "submission" and env.signatures == []


AUTHENTICATED = b"mail.dongthap.gov.vn; dkim=pass header.d=vnpt.vn; dmarc=pass header.from=vnpt.vn"
DISCLAIMER = "\r\n\r\n-- \r\nThư này có thể chứa thông tin bảo mật. / This e-mail may be confidential.\r\n"


def smime_mail(
    pki: SigningPKI,
    tamper: bool = False,
    auth: bytes | None = AUTHENTICATED,
    disclaimer: bool = False,
    pdf: bytes | None = None,
    name: str = "1",
) -> bytes:
    """A plan mailed S/MIME-signed by VNPT; `tamper`: a word changed after signing; `disclaimer`: a
    gateway's footer appended to the signed text after signing; `auth`: our server's
    Authentication-Results (None: none)."""
    from email.message import EmailMessage
    from email.policy import SMTP

    part = EmailMessage(policy=SMTP)
    part.set_content("Kính gửi Sở, Viễn thông Đồng Tháp gửi phương án bảo đảm thông tin liên lạc.", cte="8bit")
    part.add_attachment(pdf or plan_pdf(), maintype="application", subtype="pdf", filename="PA.pdf")
    body = part.as_bytes().split(b"\r\n", 1)[1]  # without the MIME-Version header the mail has

    head = (
        (b"Authentication-Results: " + auth + b"\r\n" if auth else b"")
        + b"From: kt@vnpt.vn\r\nTo: pbcvt@dongthap.gov.vn\r\nSubject: PA bau cu\r\n"
        + b"Date: Mon, 29 Mar 2021 09:15:00 +0700\r\nMessage-ID: <smime."
        + name.encode()
        + b"@vnpt.vn>\r\n"
    )
    raw = smime_sign(body, pki.holder("Nguyễn Văn An", "VNPT", VNPT_MST), head)
    if disclaimer:
        text = "thông tin liên lạc.".encode()
        raw = raw.replace(text, text + DISCLAIMER.encode(), 1)
    return raw.replace("gửi phương án".encode(), "gửi PHƯƠNG ÁN".encode()) if tamper else raw


def test_an_smime_signed_mail_reports_its_signer(config, pki) -> None:
    env = classify_bytes(smime_mail(pki), config)
    assert env.disposition == "submission"
    [sig] = env.signatures
    assert sig.kind == "smime" and sig.file == "" and sig.intact and sig.trusted
    assert sig.signer == "Nguyễn Văn An, VNPT" and sig.organization == "vnpt-dongthap"


@pytest.mark.parametrize(
    "auth",
    [
        None,  # no result from our server
        b"mail.dongthap.gov.vn; dmarc=fail header.from=vnpt.vn",
        b"mail.dongthap.gov.vn; spf=pass smtp.mailfrom=evil.example; dkim=pass header.d=evil.example",  # unaligned
    ],
)
def test_an_smime_mail_changed_after_signing_from_an_unauthenticated_sender_is_suspicious(config, pki, auth) -> None:
    for raw in (smime_mail(pki, tamper=True, auth=auth), smime_mail(pki, disclaimer=True, auth=auth)):
        env = classify_bytes(raw, config)
        assert env.disposition == "suspicious" and env.signatures[0].intact is False
        # from an address no organization owns, the broken signature is what makes it suspicious
        env = classify_bytes(raw.replace(b"kt@vnpt.vn", b"kt@example.net").replace(b"vnpt.vn", b"example.net"), config)
        assert env.disposition == "suspicious" and env.signatures[0].intact is False
        assert "S/MIME" in env.reasons[0] and "không còn nguyên vẹn" in env.reasons[0]


def test_a_broken_smime_signature_from_an_authenticated_sender_is_a_note_not_a_suspicion(config, pki) -> None:
    for raw in (smime_mail(pki, disclaimer=True), smime_mail(pki, tamper=True)):
        env = classify_bytes(raw, config)
        assert env.disposition == "submission" and env.documents == ["plan"]
        [sig] = env.signatures
        assert sig.kind == "smime" and not sig.intact
        [note] = [r for r in env.reasons if "S/MIME" in r]
        assert "không kiểm tra được" in note and "đã được máy chủ thư của Sở xác thực" in note


def test_an_altered_signed_pdf_stays_suspicious_inside_authenticated_smime(config, pki, vnpt_signed) -> None:
    altered = flip_signed_byte(vnpt_signed)
    for raw in (smime_mail(pki, pdf=altered), smime_mail(pki, pdf=altered, disclaimer=True)):
        env = classify_bytes(raw, config)
        assert env.disposition == "suspicious"
        assert any(r.startswith("chữ ký số trên tệp PA.pdf") and "không còn nguyên vẹn" in r for r in env.reasons)


def test_a_gateway_disclaimer_still_gets_the_receipt_and_staff_read_why(tmp_path, pki, smtp_server) -> None:
    recorder, port = smtp_server
    path = signed_config(tmp_path, pki.root_pem, port)
    deliver(tmp_path, smime_mail(pki, disclaimer=True, name="ok"), "01-disclaimer.eml")
    forged = smime_mail(pki, disclaimer=True, auth=b"mail.dongthap.gov.vn; dmarc=fail header.from=vnpt.vn", name="x")
    deliver(tmp_path, forged.replace(b"From: kt@vnpt.vn", b"From: kt2@vnpt.vn"), "02-forged.eml")
    assert mailbot("run", "--config", str(path), "--once").returncode == 0
    [ack] = recorder.parsed()  # the forged copy gets no answer
    assert ack["To"] == "kt@vnpt.vn" and "BC2021-0001" in ack.get_body(preferencelist=("plain",)).get_content()

    store = Store(configmod.load(path).state_dir)
    try:
        records = {m["from"]: m for m in store.messages.all()}
    finally:
        store.close()
    assert records["kt@vnpt.vn"]["disposition"] == "submission"
    assert any("chữ ký S/MIME của thư" in r for r in records["kt@vnpt.vn"]["reasons"])
    assert records["kt2@vnpt.vn"]["disposition"] == "suspicious"
    digest = mailbot("digest", "--config", str(path), "--dry-run", "--now", "2021-03-30T08:00:00+07:00").stdout
    assert "Thư có chữ ký số ghi tên Nguyễn Văn An, VNPT (MST 0100684378) (chưa xác minh)" in digest
    assert "không còn nguyên vẹn" in digest  # staff read that the mail's own signature broke


def test_configuration_errors_are_one_line(tmp_path, pki) -> None:
    bad = tmp_path / "bad.pem"
    bad.write_text("not a certificate", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"signatures\.trust_roots.*no certificate"):
        configmod.load(signed_config(tmp_path, bad))
    with pytest.raises(ConfigError, match=r"signatures\.trust_roots.*does not exist"):
        configmod.load(signed_config(tmp_path, tmp_path / "missing.pem"))
    path = signed_config(tmp_path, pki.root_pem)
    path.write_text(path.read_text(encoding="utf-8") + "check_revocations = true\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"signatures\.check_revocations.*unknown key"):
        configmod.load(path)
    path = signed_config(tmp_path, None)
    path.write_text(path.read_text(encoding="utf-8").replace(VNPT_MST, "MST 0100684378"), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"organizations\[0\]\.tax_codes.*not a tax code"):
        configmod.load(path)


def test_relative_root_paths_and_der_files_load(tmp_path, pki) -> None:
    from cryptography.hazmat.primitives.serialization import Encoding

    (tmp_path / "roots").mkdir()
    (tmp_path / "roots" / "root.der").write_bytes(pki.root.public_bytes(Encoding.DER))
    config = configmod.load(signed_config(tmp_path, Path("roots/root.der")))
    assert config.signatures.trust_roots == (pki.root.public_bytes(Encoding.DER),)


def test_classify_json_acknowledgement_and_register(tmp_path, pki, vnpt_signed, smtp_server) -> None:
    recorder, port = smtp_server
    path = signed_config(tmp_path, pki.root_pem, port)
    deliver(tmp_path, plan_mail(vnpt_signed), "01-signed.eml")
    deliver(tmp_path, plan_mail(flip_signed_byte(vnpt_signed), sender="kt@viettel.com.vn"), "02-altered.eml")
    deliver(tmp_path, plan_mail(plan_pdf(), sender="kt@mobifone.vn"), "03-unsigned.eml")

    done = mailbot("classify", "--config", str(path), str(tmp_path / "maildir" / "new" / "01-signed.eml"))
    [sig] = json.loads(done.stdout)["signatures"]
    expected = {"file", "signer", "organization", "intact", "trusted", "signed_at", "modified_after_signing"}
    assert expected <= set(sig) and sig["trusted"] is True and sig["organization"] == "vnpt-dongthap"

    done = mailbot("run", "--config", str(path), "--once")
    assert done.returncode == 0, done.stderr
    acks = {m["To"]: m.get_body(preferencelist=("plain",)).get_content() for m in recorder.parsed()}
    assert set(acks) == {"kt@vnpt.vn", "kt@mobifone.vn"}  # the altered file gets no acknowledgement
    assert "Tệp đã được ký số bởi VIỄN THÔNG ĐỒNG THÁP, VNPT (MST 0100684378-036) lúc" in acks["kt@vnpt.vn"]
    assert "chữ ký số còn nguyên vẹn" in acks["kt@vnpt.vn"]
    assert "Tệp không có chữ ký số" in acks["kt@mobifone.vn"]

    store = Store(configmod.load(path).state_dir)
    try:
        records = {m["from"]: m for m in store.messages.all()}
        [sub] = [s for s in store.submissions.all() if s["organization"] == "vnpt-dongthap"]
    finally:
        store.close()
    assert records["kt@viettel.com.vn"]["disposition"] == "suspicious"
    assert records["kt@viettel.com.vn"]["signatures"][0]["intact"] is False
    assert records["kt@vnpt.vn"]["signatures"][0]["signer"] == "VIỄN THÔNG ĐỒNG THÁP, VNPT"
    assert sub["signatures"][0]["tax_code"] == "0100684378-036"

    status = mailbot("status", "--config", str(path))
    [vnpt_row] = [line for line in status.stdout.splitlines() if line.startswith("Viễn thông Đồng Tháp")]
    assert "ký số: VIỄN THÔNG ĐỒNG THÁP" in vnpt_row
    digest = mailbot("digest", "--config", str(path), "--dry-run", "--now", "2021-03-30T08:00:00+07:00")
    assert digest.returncode == 0, digest.stderr
    assert "ký số: VIỄN THÔNG ĐỒNG THÁP" in digest.stdout
    altered = "Tệp PA-ky-so.pdf có chữ ký số ghi tên VIỄN THÔNG ĐỒNG THÁP, VNPT (MST 0100684378-036) (chưa xác minh)"
    assert altered in digest.stdout  # an altered signature verifies no one
    assert "nhưng chữ ký số không còn nguyên vẹn" in digest.stdout  # the altered copy Viettel sent


def test_mailbot_check_names_the_roots_or_says_none_are_configured(tmp_path, pki) -> None:
    from mailbot.staff.checkfiles import check_signatures

    line = check_signatures(configmod.load(signed_config(tmp_path, pki.root_pem)))
    assert line.ok and not line.warning
    assert (
        "1 chứng thư gốc (Test Root CA (mailbot), hiệu lực đến " in line.detail
        and "2/5 đơn vị có mã số thuế" in line.detail
    )
    (tmp_path / "none").mkdir()
    line = check_signatures(configmod.load(signed_config(tmp_path / "none", None)))
    assert line.warning and "trust_roots" in str(line)


def test_a_signed_pdf_inside_a_zip_is_checked_too(config, vnpt_signed) -> None:
    import io
    import zipfile

    for pdf, disposition in ((vnpt_signed, "submission"), (flip_signed_byte(vnpt_signed), "suspicious")):
        packed = io.BytesIO()
        with zipfile.ZipFile(packed, "w") as zf:
            zf.writestr("Ho so/PA-ky-so.pdf", pdf)
        raw = build(sender="kt@vnpt.vn", subject="Phương án", files=(("ho-so.zip", packed.getvalue()),), headers=MARCH)
        env = classify_bytes(raw, config)
        assert env.disposition == disposition
        [sig] = env.signatures
        assert sig.file == "Ho so/PA-ky-so.pdf"
        assert sig.organization == ("vnpt-dongthap" if sig.trusted else None)  # an altered one is not verified


# -- a look-alike PKI: the same names and tax code, another key (issue 23, 5a) -----------------------


@pytest.fixture(scope="module")
def lookalike_signed(tmp_path_factory, pki) -> bytes:
    """Signed under a root with the very subject of the trusted one, for a certificate with VNPT's
    names and tax code: only the keys differ."""
    fake = SigningPKI(tmp_path_factory.mktemp("lookalike"), name="Test Root CA (mailbot)")
    assert fake.root.subject == pki.root.subject and fake.ca.subject == pki.ca.subject
    return sign_pdf(plan_pdf(), fake.holder("VIỄN THÔNG ĐỒNG THÁP", "VNPT", f"{VNPT_MST}-036"))


def test_a_lookalike_certificate_names_no_organization(config, lookalike_signed) -> None:
    for sender, disposition in (("kt@vnpt.vn", "submission"), ("kt@viettel.com.vn", "submission")):
        env = classify_bytes(plan_mail(lookalike_signed, sender=sender), config)
        assert env.disposition == disposition
        [sig] = env.signatures
        assert sig.intact and not sig.trusted and sig.organization is None and sig.tax_code == f"{VNPT_MST}-036"
        assert any("(người ký: VIỄN THÔNG ĐỒNG THÁP, VNPT, chưa xác minh)" in r for r in env.reasons)
        assert not any("không phải đơn vị gửi thư" in r for r in env.reasons)  # no claim about VNPT
    env = classify_bytes(plan_mail(lookalike_signed, sender="vnpt.dongthap@gmail.com"), config)
    assert env.disposition == "unknown-sender" and env.organization is None


def test_a_lookalike_signer_is_said_unverified_wherever_named(
    tmp_path, pki, lookalike_signed, vnpt_signed, smtp_server
) -> None:
    recorder, port = smtp_server
    path = signed_config(tmp_path, pki.root_pem, port)
    deliver(tmp_path, plan_mail(lookalike_signed), "01-lookalike.eml")
    deliver(tmp_path, plan_mail(lookalike_signed, sender="vnpt.dongthap@gmail.com"), "02-stranger.eml")
    deliver(tmp_path, plan_mail(vnpt_signed, sender="kt@viettel.com.vn"), "03-trusted.eml")
    assert mailbot("run", "--config", str(path), "--once").returncode == 0

    acks = {m["To"]: m.get_body(preferencelist=("plain",)).get_content() for m in recorder.parsed()}
    lookalike = acks["kt@vnpt.vn"]
    assert "Tệp có chữ ký số ghi tên VIỄN THÔNG ĐỒNG THÁP, VNPT (MST 0100684378-036) (chưa xác minh) lúc" in lookalike
    assert "được ký số bởi" not in lookalike
    assert "Tệp đã được ký số bởi VIỄN THÔNG ĐỒNG THÁP, VNPT" in acks["kt@viettel.com.vn"]  # trusted: said plainly

    status = mailbot("status", "--config", str(path)).stdout
    [vnpt_row] = [line for line in status.splitlines() if line.startswith("Viễn thông Đồng Tháp")]
    assert "ký số: VIỄN THÔNG ĐỒNG THÁP (chưa xác minh)" in vnpt_row
    [viettel_row] = [line for line in status.splitlines() if line.startswith("Viettel Đồng Tháp")]
    assert "ký số: VIỄN THÔNG ĐỒNG THÁP" in viettel_row and "chưa xác minh" not in viettel_row

    digest = mailbot("digest", "--config", str(path), "--dry-run", "--now", "2021-03-30T08:00:00+07:00").stdout
    assert "ký số: VIỄN THÔNG ĐỒNG THÁP (chưa xác minh)" in digest
    assert "Tệp PA-ky-so.pdf có chữ ký số ghi tên VIỄN THÔNG ĐỒNG THÁP, VNPT (MST 0100684378-036) (chưa xác minh)" in (
        digest
    )
    review = mailbot("review", "--config", str(path)).stdout  # the stranger's copy waits for staff
    assert "vnpt.dongthap@gmail.com" in review and "(người ký: VIỄN THÔNG ĐỒNG THÁP, VNPT, chưa xác minh)" in review
    assert "được ký số bởi Viễn thông Đồng Tháp" not in review + digest
