"""End to end: a real Postfix smtpd with ``smtpd_milters`` pointing at our milter.

Mail is sent with smtplib to a private Postfix instance on loopback; XCLIENT (allowed
for loopback in that instance) presents the SMTP client as a host of the test zones'
SPF range, so SPF, DKIM and DMARC all run against the test network. The delivered
message (a Maildir file) must carry our Authentication-Results field, and no forged
one; a DMARC failure must be refused in the SMTP dialogue.
"""

from __future__ import annotations

import shutil
import smtplib
import tempfile
import time
from collections.abc import Iterator
from email import message_from_bytes
from pathlib import Path

import pytest

from tests.api.helpers import OUTSIDE_IP, SECURE_IP, signed_message
from tests.mail.milter_net import AUTHSERV, MilterNet
from tests.mail.postfix_instance import PostfixInstance, unavailable
from tests.ports import free_port

pytestmark = pytest.mark.skipif(unavailable() is not None, reason=str(unavailable()))


@pytest.fixture(scope="module")
def postfix(mnet: MilterNet) -> Iterator[PostfixInstance]:
    milter = mnet.milter(dmarc_reject="reject")
    # not pytest's tmp_path: its parents are mode 0700, and Postfix's mail_owner
    # must reach the data and mail directories
    base = Path(tempfile.mkdtemp(prefix="milter-postfix-"))
    pf = PostfixInstance(base, free_port(), milter)
    try:
        pf.start()
        yield pf
    finally:
        pf.stop()
        shutil.rmtree(base, ignore_errors=True)


def send(pf: PostfixInstance, msg: bytes, ip: str, mailfrom: str,
         helo: str = "mx.sender.example") -> None:
    with smtplib.SMTP("127.0.0.1", pf.port, timeout=60) as smtp:
        smtp.ehlo(helo)
        code, text = smtp.docmd("XCLIENT", f"ADDR={ip} NAME=[UNAVAILABLE] HELO={helo}")
        assert code == 220, text
        smtp.ehlo(helo)
        smtp.sendmail(mailfrom, ["bob@example.org"], msg)


def test_delivered_message_carries_our_authentication_results(
        postfix: PostfixInstance) -> None:
    forged = b"Authentication-Results: " + AUTHSERV.encode() + b"; dkim=pass (forged)\r\n"
    send(postfix, forged + signed_message(subject="e2e"), SECURE_IP, "alice@secure.example")
    [raw] = postfix.delivered(count=1)
    parsed = message_from_bytes(raw)
    values = [" ".join(str(v).split()) for v in parsed.get_all("Authentication-Results", [])]
    assert len(values) == 1, values             # the forged one was removed
    [ours] = values
    assert ours.startswith(AUTHSERV + ";")
    for part in ("dkim=pass (2048-bit rsa key, DNSSEC secure) header.d=secure.example",
                 "spf=pass (DNSSEC secure) smtp.mailfrom=alice@secure.example",
                 "dmarc=pass (p=reject dis=none, DNSSEC secure) header.from=secure.example"):
        assert part in ours, ours
    # ours sits above the Received field Postfix added: prepended at the top
    keys = [k.lower() for k in parsed]
    assert keys.index("authentication-results") < keys.index("received")
    assert b"Hello Bob" in raw


def test_dmarc_failure_is_refused_in_the_smtp_dialogue(postfix: PostfixInstance) -> None:
    msg = signed_message(subject="forged").replace(b"Hello Bob", b"Hello Eve")
    with pytest.raises(smtplib.SMTPDataError) as err:
        send(postfix, msg, OUTSIDE_IP, "alice@secure.example")
    assert err.value.smtp_code == 550
    assert b"5.7.1" in err.value.smtp_error


def test_helo_identity_and_null_sender(postfix: PostfixInstance) -> None:
    """A bounce (MAIL FROM:<>) from a host whose EHLO name is an SPF domain: the MAIL
    FROM identity is postmaster@<EHLO name>, and the EHLO name is its own result."""
    send(postfix, signed_message(subject="bounce"), SECURE_IP, "", helo="secure.example")
    deadline = time.monotonic() + 30
    found: list[bytes] = []
    while not found and time.monotonic() < deadline:
        found = [m for m in postfix.delivered() if b"Subject: bounce" in m]
        time.sleep(0.1)
    [raw] = found
    [ours] = [" ".join(str(v).split()) for v in
              message_from_bytes(raw).get_all("Authentication-Results", [])]
    for part in ("spf=pass (DNSSEC secure) smtp.mailfrom=postmaster@secure.example;",
                 "spf=pass (DNSSEC secure) smtp.helo=secure.example;",
                 "dmarc=pass (p=reject dis=none, DNSSEC secure) header.from=secure.example"):
        assert part in ours, ours
