"""The HELO identity (RFC 7208 s2.3, RFC 8601 s2.7.2) in the milter, spoken to as
Postfix speaks to it, on the test network's zones.

Every mail zone publishes ``v=spf1 ip4:192.0.2.0/24 ... -all``; sts.example publishes
no SPF record; bogus.example's answers are DNSSEC-bogus, insecure.example is unsigned.
"""

from __future__ import annotations

import pytest

from resolver.dnssec.status import Security
from resolver.mail.dmarc import DmarcResult
from resolver.mail.dnsapi import Lookup
from resolver.mail.milter import MilterPolicy, MilterServer
from resolver.mail.milter.policy import CONTINUE, REJECT, TEMPFAIL, decide
from resolver.mail.milter.session import is_helo_domain
from resolver.mail.source import ResolverDns
from resolver.mail.spf import Result, SpfResult
from resolver.wire.name import Name
from resolver.wire.types import RRType
from tests.api.helpers import OUTSIDE_IP, SECURE_IP, message, signed_message
from tests.mail.milter_client import MilterClient
from tests.mail.milter_client import Result as MilterResult
from tests.mail.milter_net import AUTHSERV, MilterNet


class CountingDns:
    """The resolver as the milter's DNS source, noting every question asked."""

    def __init__(self, inner: ResolverDns) -> None:
        self.inner = inner
        self.asked: list[tuple[str, int]] = []

    async def lookup(self, name: Name, rtype: int) -> Lookup:
        self.asked.append((name.to_text().lower(), rtype))
        return await self.inner.lookup(name, rtype)

    def txt(self, name: str) -> int:
        return self.asked.count((name, RRType.TXT))


def counting_milter(mnet: MilterNet, **policy: object) -> tuple[tuple[str, int], CountingDns]:
    dns = CountingDns(ResolverDns(mnet.resolver))
    server = MilterServer(dns, MilterPolicy(authserv_id=AUTHSERV, **policy),  # type: ignore[arg-type]
                          "127.0.0.1", 0, timeout=30.0)
    mnet.loop.run(server.start())
    mnet.servers.append(server)
    assert server.bound is not None
    return server.bound, dns


@pytest.fixture(scope="module")
def plain(mnet: MilterNet) -> tuple[str, int]:
    return mnet.milter()


def run(addr: tuple[str, int], msg: bytes, **kw: object) -> MilterResult:
    with MilterClient(*addr) as client:
        client.negotiate()
        return client.message(msg, **kw)  # type: ignore[arg-type]


def spf_results(res: MilterResult) -> list[str]:
    """The spf resinfos of our Authentication-Results field, whitespace folded."""
    flat = " ".join(res.header().split())
    return [part.strip() for part in flat.split(";") if part.strip().startswith("spf=")]


def test_helo_is_its_own_result_with_its_own_dnssec_status(plain: tuple[str, int]) -> None:
    res = run(plain, signed_message(), ip=SECURE_IP, helo="insecure.example")
    assert res.final == b"c"
    assert spf_results(res) == [
        "spf=pass (DNSSEC secure) smtp.mailfrom=alice@secure.example",
        "spf=pass (DNSSEC insecure) smtp.helo=insecure.example"]
    assert "dmarc=pass" in res.header()


def test_helo_without_spf_record_and_mailfrom_fail(plain: tuple[str, int]) -> None:
    res = run(plain, signed_message(), ip=OUTSIDE_IP, helo="sts.example")
    assert spf_results(res) == [
        "spf=fail (DNSSEC secure) smtp.mailfrom=alice@secure.example",
        "spf=none (DNSSEC secure) smtp.helo=sts.example"]


def test_helo_fail_alone_is_reported_not_acted_on(mnet: MilterNet,
                                                  plain: tuple[str, int]) -> None:
    # the client is outside secure.example's SPF range; MAIL FROM has no SPF record;
    # DKIM passes, so DMARC passes: only the HELO identity fails
    kw = {"ip": OUTSIDE_IP, "helo": "secure.example", "mailfrom": "alice@sts.example"}
    res = run(plain, signed_message(), **kw)
    assert res.final == b"c"
    assert spf_results(res) == ["spf=none (DNSSEC secure) smtp.mailfrom=alice@sts.example",
                                "spf=fail (DNSSEC secure) smtp.helo=secure.example"]
    assert "dmarc=pass" in res.header()
    # milter-policy-spf-fail acts on MAIL FROM only
    strict = mnet.milter(spf_fail="reject", dmarc_reject="reject")
    assert run(strict, signed_message(), **kw).final == b"c"
    # the operator asks: milter-policy-spf-helo-fail = "reject"
    helo_strict = mnet.milter(spf_helo_fail="reject")
    refused = run(helo_strict, signed_message(), **kw)
    assert refused.final == b"y" and refused.stopped_at == b"E"
    assert refused.reply.startswith("550 5.7.23 ")
    assert OUTSIDE_IP in refused.reply and "HELO name secure.example" in refused.reply


def test_bogus_helo_does_not_defer_by_default(plain: tuple[str, int]) -> None:
    res = run(plain, signed_message(), ip=SECURE_IP, helo="bogus.example")
    assert res.final == b"c"
    [mailfrom, helo] = spf_results(res)
    assert mailfrom == "spf=pass (DNSSEC secure) smtp.mailfrom=alice@secure.example"
    assert helo.startswith("spf=temperror (DNSSEC bogus)")
    assert helo.endswith("smtp.helo=bogus.example")


@pytest.mark.parametrize("literal", ["[192.0.2.25]", "[IPv6:2001:db8::25]", "192.0.2.25"])
def test_address_literal_is_not_checked(mnet: MilterNet, literal: str) -> None:
    addr, dns = counting_milter(mnet)
    res = run(addr, signed_message(), ip=SECURE_IP, helo=literal)
    assert spf_results(res) == ["spf=pass (DNSSEC secure) smtp.mailfrom=alice@secure.example"]
    assert all(not name.startswith(("[", "192.")) for name, _ in dns.asked), dns.asked


def test_null_sender_is_postmaster_at_helo_checked_once(mnet: MilterNet) -> None:
    addr, dns = counting_milter(mnet)
    res = run(addr, signed_message(), ip=SECURE_IP, mailfrom="", helo="secure.example")
    assert res.final == b"c"
    assert spf_results(res) == [
        "spf=pass (DNSSEC secure) smtp.mailfrom=postmaster@secure.example",
        "spf=pass (DNSSEC secure) smtp.helo=secure.example"]
    # DMARC aligns the MAIL FROM identity, here postmaster@<HELO> (RFC 7208 s2.4)
    assert "dmarc=pass" in res.header()
    assert dns.txt("secure.example.") == 1      # one evaluation serves both identities


def test_null_sender_with_address_literal(plain: tuple[str, int]) -> None:
    # postmaster@[192.0.2.25] is no domain: check_host says none (RFC 7208 s4.3)
    res = run(plain, message("secure.example"), ip=SECURE_IP, mailfrom="",
              helo="[192.0.2.25]")
    assert res.final == b"c"
    assert spf_results(res) == ['spf=none (DNSSEC indeterminate) '
                                'smtp.mailfrom="postmaster@[192.0.2.25]"']
    assert "dmarc=fail" in res.header()


def test_helo_checked_once_per_connection_and_again_after_a_new_helo(
        mnet: MilterNet) -> None:
    addr, dns = counting_milter(mnet)
    with MilterClient(*addr) as client:
        client.negotiate()
        for first in (True, False):     # two messages in one SMTP session
            res = client.message(signed_message(), ip=SECURE_IP, helo="insecure.example",
                                 connect=first)
            assert "smtp.helo=insecure.example" in res.header()
        assert dns.txt("insecure.example.") == 1
        # a second HELO (as after STARTTLS) with another name is checked anew
        assert client.command(b"H", b"nsec3.example\0").final == b"c"
        res = client.message(signed_message(), connect=False)
        assert spf_results(res)[1] == "spf=pass (DNSSEC secure) smtp.helo=nsec3.example"
        assert dns.txt("nsec3.example.") == 1
        # a new SMTP connection on the same milter connection: checked again
        client.send(b"K")
        res = client.message(signed_message(), ip=SECURE_IP, helo="insecure.example")
        assert "smtp.helo=insecure.example" in res.header()
        assert dns.txt("insecure.example.") == 2


def test_helo_check_can_be_switched_off(mnet: MilterNet) -> None:
    addr, dns = counting_milter(mnet, spf_helo=False)
    res = run(addr, signed_message(), ip=SECURE_IP, helo="insecure.example")
    assert spf_results(res) == ["spf=pass (DNSSEC secure) smtp.mailfrom=alice@secure.example"]
    assert dns.txt("insecure.example.") == 0
    # the null sender still needs the HELO name: it is the MAIL FROM identity then
    res = run(addr, signed_message(), ip=SECURE_IP, mailfrom="", helo="insecure.example")
    assert spf_results(res) == [
        "spf=pass (DNSSEC insecure) smtp.mailfrom=postmaster@insecure.example"]


def test_helo_result_counted(mnet: MilterNet, plain: tuple[str, int]) -> None:
    counters = mnet.resolver.counters
    before = counters.get("milter_results", ("spf_helo", "pass", "insecure"))
    run(plain, signed_message(), ip=SECURE_IP, helo="insecure.example")
    assert counters.get("milter_results", ("spf_helo", "pass", "insecure")) == before + 1


def test_is_helo_domain() -> None:
    assert is_helo_domain("mx.example.org") and is_helo_domain("localhost")
    for literal in ("[192.0.2.1]", "[IPv6:2001:db8::1]", "192.0.2.1", "2001:db8::1", "", None):
        assert not is_helo_domain(literal)


def _spf(result: str, domain: str = "example.com") -> SpfResult:
    return SpfResult(result=Result(result), domain=domain, sender=f"postmaster@{domain}",
                     ip="198.51.100.7", helo="mx.example.net", mechanism=None,
                     matched_domain=None, explanation=None, reason=None, record=None,
                     security=Security.SECURE, explanation_security=None, dns_terms=0,
                     void_lookups=0, queries=0, trace=())


@pytest.mark.parametrize(("policy", "mailfrom", "helo", "dmarc", "action"), [
    (MilterPolicy("x"), "pass", "fail", "pass", CONTINUE),
    (MilterPolicy("x", spf_fail="reject"), "none", "fail", "none", CONTINUE),
    (MilterPolicy("x", spf_helo_fail="reject"), "none", "fail", "pass", REJECT),
    (MilterPolicy("x", spf_helo_fail="reject"), "pass", "softfail", "pass", CONTINUE),
    # a failed HELO lookup defers only when a HELO fail would reject
    (MilterPolicy("x"), "none", "temperror", "none", CONTINUE),
    (MilterPolicy("x", spf_helo_fail="reject"), "none", "temperror", "none", TEMPFAIL),
    (MilterPolicy("x", spf_helo_fail="reject"), "pass", "temperror", "pass", CONTINUE),
])
def test_decide_with_helo(policy: MilterPolicy, mailfrom: str, helo: str, dmarc: str,
                          action: str) -> None:
    verdict = decide(policy, _spf(mailfrom), [], DmarcResult(dmarc, "none"),
                     _spf(helo, "mx.example.net"))
    assert verdict.action == action
    if action == TEMPFAIL:
        assert verdict.reply is not None and "HELO" in verdict.reply


def test_bad_helo_policy_value() -> None:
    with pytest.raises(ValueError, match="spf_helo_fail"):
        MilterPolicy("x", spf_helo_fail="tag")


def test_cancelled_helo_check_is_started_again(mnet: MilterNet) -> None:
    """A HELO check cancelled under a message (a timeout) is not reused by the next."""
    import struct

    from resolver.mail.milter.session import MilterSession

    async def go() -> tuple[bool, str]:
        session = MilterSession(ResolverDns(mnet.resolver), MilterPolicy(AUTHSERV))
        await session.handle(b"O", struct.pack("!III", 6, 0x1FF, 0x1FFFFF))
        await session.handle(b"C", b"h\0" + b"4" + struct.pack("!H", 25) + b"192.0.2.25\0")
        await session.handle(b"H", b"secure.example\0")
        await session.handle(b"M", b"<alice@secure.example>\0")
        first = session.message.spf_helo
        assert first is not None
        first.cancel()
        await session.handle(b"A", b"")
        await session.handle(b"M", b"<alice@secure.example>\0")
        second = session.message.spf_helo
        assert second is not None and second is not first
        result = await second
        session.close()
        return first.cancelled(), result.result.value
    assert mnet.loop.run(go()) == (True, "pass")
