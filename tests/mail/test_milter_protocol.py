"""The milter, spoken to as Postfix speaks to it, on the test network's zones.

Every mail zone of zones/ publishes ``v=spf1 ip4:192.0.2.0/24 ... -all``, DMARC
``p=reject`` and the DKIM key ``sel1`` (nsec3.example also ``ed1``, Ed25519); the
messages are signed with the keys in zones/keys. bogus.example's answers are
DNSSEC-bogus, insecure.example is unsigned.
"""

from __future__ import annotations

import os
import signal
import socket
import struct
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest

from resolver.mail.milter.authserv import authserv_id_of, claims_authserv_id
from tests.api.helpers import OUTSIDE_IP, SECURE_IP, message, signed_message
from tests.mail.milter_client import MilterClient, Result
from tests.mail.milter_net import MilterNet
from tests.ports import free_port


@pytest.fixture(scope="module")
def plain(mnet: MilterNet) -> tuple[str, int]:
    """Default policy: headers only (and 451 on DNS errors)."""
    return mnet.milter()


@pytest.fixture(scope="module")
def strict(mnet: MilterNet) -> tuple[str, int]:
    return mnet.milter(dmarc_reject="reject", spf_fail="reject")


def run(addr: tuple[str, int], msg: bytes, **kw: object) -> Result:
    with MilterClient(*addr) as client:
        client.negotiate()
        return client.message(msg, **kw)  # type: ignore[arg-type]


def altered(msg: bytes) -> bytes:
    return msg.replace(b"Hello Bob", b"Hello Eve")


def test_negotiation_asks_for_what_it_needs(plain: tuple[str, int]) -> None:
    with MilterClient(*plain) as client:
        client.negotiate()
        # add/change headers, quarantine; no UNKNOWN/DATA steps; leading spaces kept
        assert client.actions == 0x01 | 0x10 | 0x20
        assert client.protocol == 0x100 | 0x200 | 0x100000
        client.negotiate(actions=0x01, protocol=0)    # an MTA offering less gets less
        assert (client.actions, client.protocol) == (0x01, 0)


def test_pass_adds_one_header_with_dnssec_status(plain: tuple[str, int]) -> None:
    res = run(plain, signed_message(), ip=SECURE_IP)
    assert res.final == b"c"
    [(index, name, value)] = res.inserted()
    assert (index, name) == (0, "Authentication-Results")
    assert value.startswith(" mx.test.invalid;")     # leading space negotiated
    flat = " ".join(value.split())
    for part in ("dkim=pass (2048-bit rsa key, DNSSEC secure) header.d=secure.example",
                 "header.s=sel1", "spf=pass (DNSSEC secure) smtp.mailfrom=alice@secure.example",
                 "smtp.helo=mx.sender.example", "dmarc=pass (p=reject dis=none, DNSSEC secure)",
                 "header.from=secure.example"):
        assert part in flat, flat
    assert "\n\t" in value          # folded with LF, as libmilter asks


def test_ed25519_signature_and_nsec3_zone(plain: tuple[str, int]) -> None:
    msg = signed_message("nsec3.example", "ed1", "dkim-ed1.nsec3.example.pem")
    res = run(plain, msg, ip=SECURE_IP, mailfrom="alice@nsec3.example")
    flat = " ".join(res.header().split())
    assert "dkim=pass (256-bit ed25519 key, DNSSEC secure) header.d=nsec3.example" in flat
    assert "header.s=ed1 header.a=ed25519-sha256" in flat
    assert "dmarc=pass" in flat


def test_dkim_fail_spf_still_aligns(plain: tuple[str, int]) -> None:
    res = run(plain, altered(signed_message()), ip=SECURE_IP)
    assert res.final == b"c"
    flat = " ".join(res.header().split())
    assert "dkim=fail" in flat and "reason=\"body hash did not verify\"" in flat
    assert "spf=pass" in flat and "dmarc=pass" in flat


def test_dmarc_fail_default_policy_only_tags(plain: tuple[str, int]) -> None:
    res = run(plain, altered(signed_message()), ip=OUTSIDE_IP)
    assert res.final == b"c"
    flat = " ".join(res.header().split())
    assert "spf=fail" in flat and "dkim=fail" in flat
    assert "dmarc=fail (p=reject dis=reject, DNSSEC secure)" in flat


def test_dmarc_reject(strict: tuple[str, int]) -> None:
    res = run(strict, altered(signed_message()), ip=OUTSIDE_IP)
    assert res.final == b"y" and res.stopped_at == b"E"
    assert res.reply.startswith("550 5.7.1 ") and "secure.example" in res.reply
    assert res.changes == []


def test_dmarc_quarantine(mnet: MilterNet) -> None:
    addr = mnet.milter(dmarc_reject="quarantine")
    res = run(addr, message("secure.example"), ip=OUTSIDE_IP)
    assert res.final == b"c"
    assert [c for c, _ in res.changes] == [b"i", b"q"]
    assert b"reject" in res.changes[1][1]


def test_spf_fail_reject_even_when_dmarc_passes(strict: tuple[str, int]) -> None:
    res = run(strict, signed_message(), ip=OUTSIDE_IP)
    assert res.final == b"y" and res.reply.startswith("550 5.7.23 ")
    assert OUTSIDE_IP in res.reply


def test_spf_fail_tag(mnet: MilterNet) -> None:
    addr = mnet.milter(spf_fail="tag")
    res = run(addr, signed_message(), ip=OUTSIDE_IP)
    assert res.final == b"c"
    assert res.header("Received-SPF").lstrip().startswith("fail ")
    assert "dmarc=pass" in res.header()


def test_dns_failure_tempfails(strict: tuple[str, int]) -> None:
    # bogus.example: every answer is DNSSEC-bogus, so nothing can be decided
    res = run(strict, signed_message("bogus.example"), ip=SECURE_IP,
              mailfrom="alice@bogus.example")
    assert res.final == b"y" and res.reply.startswith("451 4.7.")


def test_dns_failure_without_tempfail_says_temperror(mnet: MilterNet) -> None:
    addr = mnet.milter(tempfail_on_dns_error=False)
    res = run(addr, signed_message("bogus.example"), ip=SECURE_IP,
              mailfrom="alice@bogus.example")
    assert res.final == b"c"
    flat = " ".join(res.header().split())
    assert "spf=temperror" in flat and "dkim=temperror" in flat
    assert "dmarc=temperror" in flat and "bogus" in flat


def test_insecure_zone_passes_with_insecure_status(plain: tuple[str, int]) -> None:
    msg = signed_message("insecure.example", key_file="dkim-sel1.secure.example.pem")
    res = run(plain, msg, ip=SECURE_IP, mailfrom="alice@insecure.example")
    flat = " ".join(res.header().split())
    assert "dkim=pass (2048-bit rsa key, DNSSEC insecure)" in flat
    assert "spf=pass (DNSSEC insecure)" in flat and "dmarc=pass" in flat


def test_forged_authentication_results_are_removed(plain: tuple[str, int]) -> None:
    msg = (b"Authentication-Results: other.example; dkim=pass\r\n"
           b"Authentication-Results: MX.Test.Invalid; dkim=pass header.d=secure.example\r\n"
           b"Authentication-Results: (forged) \"mx.test.invalid\"; spf=pass\r\n"
           + signed_message())
    res = run(plain, msg, ip=SECURE_IP)
    assert res.final == b"c"
    assert res.deleted() == [(3, "Authentication-Results"), (2, "Authentication-Results")]
    assert res.changes[-1][0] == b"i"       # ours is added after the removals


def test_null_sender_checks_helo(plain: tuple[str, int]) -> None:
    res = run(plain, signed_message(), ip=SECURE_IP, mailfrom="", helo="secure.example")
    flat = " ".join(res.header().split())
    assert "spf=pass (DNSSEC secure) smtp.mailfrom=postmaster@secure.example" in flat


def test_authenticated_client_is_not_checked(strict: tuple[str, int]) -> None:
    res = run(strict, message("secure.example"), ip=OUTSIDE_IP,
              macros={"auth_authen": "alice"})
    assert res.final == b"c" and res.changes == []


def test_large_body_is_streamed(plain: tuple[str, int]) -> None:
    big = message("secure.example") + b"0123456789 abcdefghij \t \r\n" * 80_000  # ~2 MB
    from resolver.mail.dkim_sign import sign_message
    from tests.api.helpers import load_key
    msg = sign_message(big, load_key("dkim-sel1.secure.example.pem"), domain="secure.example",
                       selector="sel1")
    res = run(plain, msg, ip=SECURE_IP)
    assert "dkim=pass" in res.header()


def test_two_messages_and_abort_on_one_connection(plain: tuple[str, int]) -> None:
    with MilterClient(*plain) as client:
        client.negotiate()
        first = client.message(altered(signed_message()), ip=OUTSIDE_IP)
        assert "dkim=fail" in first.header()
        client.send(b"A")                       # abort: no reply, state reset
        client.send(b"K")                       # new SMTP connection on this socket
        second = client.message(signed_message(), ip=SECURE_IP)
        assert "dkim=pass" in second.header() and "spf=pass" in second.header()


def test_protocol_errors_close_the_connection(plain: tuple[str, int]) -> None:
    with MilterClient(*plain) as client:
        client.send(b"C", b"host\0" + b"4" + struct.pack("!H", 25) + b"192.0.2.1\0")
        with pytest.raises((ConnectionError, OSError)):
            client.recv()                       # a command before negotiation
    with socket.create_connection(plain, timeout=10) as sock:
        sock.sendall(struct.pack("!I", 50_000_000) + b"B")   # a frame over the limit
        assert sock.recv(10) == b""
    with MilterClient(*plain) as client:
        client.negotiate()
        client.send(b"Z")
        with pytest.raises((ConnectionError, OSError)):
            client.recv()


def test_authserv_id_parsing() -> None:
    assert authserv_id_of("mx.example; spf=pass") == "mx.example"
    assert authserv_id_of(" (c (nested)) mx.example 1; none") == "mx.example"
    assert authserv_id_of('"mx.ex\\"ample";none') == 'mx.ex"ample'
    assert authserv_id_of("   ") is None
    assert claims_authserv_id("MX.Example.; none", "mx.example")
    assert not claims_authserv_id("mx.example.org; none", "mx.example")


def test_milter_config_keys(tmp_path: Path) -> None:
    from resolver.config import ConfigError, Settings
    from resolver.configfile import MILTER_CHOICES, apply, dump
    from resolver.mail.milter import policy
    assert MILTER_CHOICES == {
        "milter-policy-dmarc-reject": policy.DMARC_REJECT_ACTIONS,
        "milter-policy-dmarc-quarantine": policy.DMARC_QUARANTINE_ACTIONS,
        "milter-policy-spf-fail": policy.SPF_FAIL_ACTIONS,
        "milter-policy-spf-helo-fail": policy.SPF_HELO_FAIL_ACTIONS}
    s = apply(Settings(), {"milter": "127.0.0.1", "milter-authserv-id": "mx.example",
                           "milter-policy-dmarc-reject": "quarantine",
                           "milter-policy-spf-fail": "tag", "milter-timeout": 60,
                           "milter-tempfail-on-dns-error": False, "milter-allow": ["::1"],
                           "milter-spf-helo": False, "milter-policy-spf-helo-fail": "reject"})
    assert s.milter == ("127.0.0.1", 8891) and s.milter_authserv_id == "mx.example"
    assert (s.milter_policy_dmarc_reject, s.milter_policy_spf_fail) == ("quarantine", "tag")
    assert s.milter_timeout == 60.0 and s.milter_tempfail_on_dns_error is False
    assert s.milter_spf_helo is False and s.milter_policy_spf_helo_fail == "reject"
    assert Settings().milter is None                    # off by default
    again = apply(Settings(), tomllib.loads(dump(s)))   # the written config reads back
    assert again == s
    for bad, words in (({"milter-policy-spf-fail": "drop"}, "milter-policy-spf-fail: expected"),
                       ({"milter-policy-spf-helo-fail": "tag"},
                        "milter-policy-spf-helo-fail: expected one of none, reject"),
                       ({"milter-spf-helo": "yes"}, "milter-spf-helo: expected bool"),
                       ({"milter-timeout": 0}, "milter-timeout: must be positive"),
                       ({"milter": 8891}, "milter: expected str")):
        with pytest.raises(ConfigError, match=words):
            apply(Settings(), bad)


def test_serve_starts_the_milter(tmp_path: Path) -> None:
    dns_port, milter_port = free_port(), free_port()
    config = tmp_path / "r.toml"
    config.write_text(f'listen = ["127.0.0.1:{dns_port}"]\napi = "off"\n'
                      'milter-authserv-id = "mx.test.invalid"\n')
    proc = subprocess.Popen([sys.executable, "-m", "resolver", "serve", "--workers", "1",
                             "--config", str(config),
                             "--milter", f"127.0.0.1:{milter_port}"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 30
        line = ""
        while time.monotonic() < deadline and "resolver ready" not in line:
            line = proc.stdout.readline()
            if not line and proc.poll() is not None:
                break
        assert f"milter 127.0.0.1:{milter_port}" in line, line
        with MilterClient("127.0.0.1", milter_port) as client:
            client.negotiate()
            assert client.actions == 0x31
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0


def test_metrics_count_actions_and_results(mnet: MilterNet, plain: tuple[str, int],
                                          strict: tuple[str, int]) -> None:
    from resolver.metrics import registry_for, render
    counters = mnet.resolver.counters
    before = counters.get("milter_messages", ("reject",))
    secure_pass = counters.get("milter_results", ("dkim", "pass", "secure"))
    run(strict, altered(signed_message()), ip=OUTSIDE_IP)
    run(plain, signed_message(), ip=SECURE_IP)
    assert counters.get("milter_messages", ("reject",)) == before + 1
    assert counters.get("milter_results", ("dkim", "pass", "secure")) == secure_pass + 1
    text = render(registry_for(mnet.resolver)).decode()
    assert 'resolver_milter_messages_total{action="reject"}' in text
    assert 'resolver_milter_results_total{method="dmarc",result="fail",security="secure"}' \
        in text


def test_limits(mnet: MilterNet) -> None:
    addr = mnet.milter(limits={"max_header_bytes": 300, "timeout": 1.0})
    with MilterClient(*addr) as client:
        client.negotiate()
        res = client.message(signed_message(), ip=SECURE_IP)    # its DKIM field is longer
        assert (res.final, res.stopped_at) == (b"y", b"L")
        assert res.reply.startswith("552 5.3.4")
    with MilterClient(*addr) as client:
        client.negotiate()
        time.sleep(1.5)                                         # idle past the timeout
        with pytest.raises((ConnectionError, OSError)):
            client.command(b"H", b"x\0")
    refused = mnet.milter(limits={"allow": ["192.0.2.0/24"]})   # loopback not allowed
    with socket.create_connection(refused, timeout=10) as sock:
        try:
            sock.sendall(struct.pack("!III", 13, 0, 0))
            got = sock.recv(10)
        except ConnectionResetError:
            got = b""
        assert got == b""                                       # closed, never answered


def test_ipv6_client(plain: tuple[str, int]) -> None:
    # the mail zones' SPF records allow ip6:2001:db8::/32
    res = run(plain, signed_message(), ip="2001:db8::25")
    assert "spf=pass (DNSSEC secure)" in " ".join(res.header().split())
    res = run(plain, signed_message(), ip="2001:db9::25")
    assert "spf=fail" in " ".join(res.header().split())


def test_connect_macros_are_kept(mnet: MilterNet) -> None:
    from resolver.mail.milter import MilterPolicy
    from resolver.mail.milter.session import MilterSession
    from resolver.mail.source import ResolverDns

    async def go() -> dict[str, str]:
        session = MilterSession(ResolverDns(mnet.resolver), MilterPolicy("mx.test.invalid"))
        await session.handle(b"O", struct.pack("!III", 6, 0x1FF, 0x1FFFFF))
        await session.handle(b"D", b"Cj\0mx.test.invalid\0{daemon_name}\0smtpd\0")
        await session.handle(b"C", b"h\0" + b"4" + struct.pack("!H", 25) + b"192.0.2.9\0")
        assert session.client_ip == "192.0.2.9"
        macros = dict(session.macros)
        await session.handle(b"K", b"")
        assert session.macros == {} and session.client_ip is None
        return macros
    assert mnet.loop.run(go()) == {"j": "mx.test.invalid", "daemon_name": "smtpd"}
