"""Targeted SPF tests: macros (RFC 7208 s7), syntax (s12), record selection (s4.5),
limits (s4.6.4), explanations (s6.2) and DNSSEC security propagation."""

from __future__ import annotations

import asyncio
import ipaddress
import json
from typing import Any

import pytest

from resolver.dnssec.status import Security
from resolver.mail.dnsapi import Lookup, StaticDns
from resolver.mail.spf import (
    Result,
    SpfLimits,
    SpfResult,
    check_host,
    get_spf_record,
    select_record,
)
from resolver.mail.spf_macro import (
    MacroEnv,
    SpfSyntaxError,
    domain_name,
    expand,
    parse_domain_spec,
    parse_explain_string,
    parse_macro_string,
    target_name,
)
from resolver.mail.spf_parse import is_spf_record, parse_record
from resolver.wire.name import Name
from resolver.wire.types import Rcode, RRType

# --------------------------------------------------------------------------
# helpers


def n(text: str) -> Name:
    return Name.from_labels(label.encode() for label in text.rstrip(".").split("."))


def txt(*strings: str | bytes) -> bytes:
    """TXT RDATA; strings over 255 octets are split into several character-strings."""
    out = b""
    for s in strings:
        data = s.encode("latin-1") if isinstance(s, str) else s
        for i in range(0, max(len(data), 1), 255):
            chunk = data[i:i + 255]
            out += bytes((len(chunk),)) + chunk
    return out


def a(*addrs: str) -> list[bytes]:
    return [ipaddress.ip_address(x).packed for x in addrs]


def mx(*hosts: str) -> list[bytes]:
    return [(10 + i).to_bytes(2, "big") + n(h).wire for i, h in enumerate(hosts)]


def ptr(*hosts: str) -> list[bytes]:
    return [n(h).wire for h in hosts]


class Zone(StaticDns):
    """StaticDns with shorthands: ``spf(name, text)``, ``a(name, *ips)``, ..."""

    def spf(self, name: str, *texts: str, security: Security | None = None) -> None:
        self.add(n(name), RRType.TXT, [txt(t) for t in texts], security=security)

    def addr(self, name: str, *ips: str, security: Security | None = None) -> None:
        v4 = [ip for ip in ips if ":" not in ip]
        v6 = [ip for ip in ips if ":" in ip]
        if v4:
            self.add(n(name), RRType.A, a(*v4), security=security)
        if v6:
            self.add(n(name), RRType.AAAA, a(*v6), security=security)

    def fail(self, name: str, rtype: int, *, error: str = "timeout",
             security: Security | None = None) -> None:
        self.answers[(n(name), rtype)] = Lookup(
            n(name), rtype, Rcode.SERVFAIL, (),
            security if security is not None else self.security, error=error)

    def bogus(self, name: str, rtype: int) -> None:
        self.answers[(n(name), rtype)] = Lookup(
            n(name), rtype, Rcode.SERVFAIL, (), Security.BOGUS, reason="RRSIG expired")


def check(dns: Any, ip: str, sender: str, helo: str = "mail.example.org",
          **kw: Any) -> SpfResult:
    domain = sender.rpartition("@")[2] if sender else helo
    return asyncio.run(check_host(dns, ip, domain, sender, helo, **kw))


ENV4 = MacroEnv("strong-bad@email.example.com", "strong-bad", "email.example.com",
                "email.example.com", ipaddress.IPv4Address("192.0.2.3"),
                "mx.example.org", receiver="rx.example.net", now=1700000000,
                validated="mx.example.org")
ENV6 = MacroEnv("strong-bad@email.example.com", "strong-bad", "email.example.com",
                "email.example.com", ipaddress.IPv6Address("2001:db8::cb01"),
                "mx.example.org", validated="mx.example.org")


def x(text: str, env: MacroEnv = ENV4, *, exp: bool = False) -> str:
    tokens = parse_explain_string(text) if exp else parse_macro_string(text)
    return expand(tokens, env)


# --------------------------------------------------------------------------
# macros: the RFC 7208 s7.4 examples


@pytest.mark.parametrize(("macro", "value"), [
    ("%{s}", "strong-bad@email.example.com"),
    ("%{o}", "email.example.com"),
    ("%{d}", "email.example.com"),
    ("%{d4}", "email.example.com"),
    ("%{d3}", "email.example.com"),
    ("%{d2}", "example.com"),
    ("%{d1}", "com"),
    ("%{dr}", "com.example.email"),
    ("%{d2r}", "example.email"),
    ("%{l}", "strong-bad"),
    ("%{l-}", "strong.bad"),
    ("%{lr}", "strong-bad"),
    ("%{lr-}", "bad.strong"),
    ("%{l1r-}", "strong"),
    ("%{ir}.%{v}._spf.%{d2}", "3.2.0.192.in-addr._spf.example.com"),
    ("%{lr-}.lp._spf.%{d2}", "bad.strong.lp._spf.example.com"),
    ("%{lr-}.lp.%{ir}.%{v}._spf.%{d2}", "bad.strong.lp.3.2.0.192.in-addr._spf.example.com"),
    ("%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}", "3.2.0.192.in-addr.strong.lp._spf.example.com"),
    ("%{d2}.trusted-domains.example.net", "example.com.trusted-domains.example.net"),
])
def test_rfc7208_s7_4_examples(macro: str, value: str) -> None:
    assert x(macro) == value


def test_rfc7208_s7_4_ipv6_example() -> None:
    # the RFC prints lowercase nibbles; we emit uppercase (the OpenSPF suite's form),
    # which is the same DNS name
    got = x("%{ir}.%{v}._spf.%{d2}", ENV6)
    assert got.lower() == ("1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2"
                           ".ip6._spf.example.com")
    assert x("%{c}", ENV6, exp=True) == "2001:db8::cb01"
    assert x("%{v}", ENV6) == "ip6"


def test_macro_letters_and_escapes() -> None:
    assert x("%{h}") == "mx.example.org"
    assert x("%{p}") == "mx.example.org"
    assert x("%{c} %{r} %{t}", exp=True) == "192.0.2.3 rx.example.net 1700000000"
    assert x("a%%b%_c%-d") == "a%b c%20d"
    assert x("%{d99}") == "email.example.com"
    assert x("%{d2r.}") == "example.email"
    assert x("%{l2r+-}", MacroEnv("foo-bar+zip+quux@x.example", "foo-bar+zip+quux",
                                  "x.example", "x.example",
                                  ipaddress.IPv4Address("192.0.2.1"), "h")) == "bar.foo"


def test_uppercase_macros_are_url_escaped() -> None:
    env = MacroEnv("~jack&jill=up a/b@e.example", "~jack&jill=up a/b", "e.example",
                   "e.example", ipaddress.IPv4Address("192.0.2.1"), "h")
    assert x("%{L}", env) == "~jack%26jill%3Dup%20a%2Fb"
    assert x("%{l}", env) == "~jack&jill=up a/b"
    assert x("%{S}", env).endswith("%40e.example")


@pytest.mark.parametrize("text", [
    "%", "foo%", "%x", "%(ir)", "%{", "%{d", "%{}", "%{a}", "%{d0}", "%{d2x}", "%{d@}",
    "tab\there", "nul\x00", "caf\xe9",
])
def test_macro_syntax_errors(text: str) -> None:
    with pytest.raises(SpfSyntaxError):
        parse_macro_string(text)


@pytest.mark.parametrize("text", ["%{c}.example.com", "%{r}.example.com", "%{t}.example.com"])
def test_exp_only_letters_rejected_in_domain_spec(text: str) -> None:
    with pytest.raises(SpfSyntaxError, match="only in explanation"):
        parse_domain_spec(text)
    parse_explain_string(text)  # fine in explanation text


def test_explain_string_allows_spaces_only_there() -> None:
    assert expand(parse_explain_string("a b  c"), ENV4) == "a b  c"
    with pytest.raises(SpfSyntaxError):
        parse_macro_string("a b")


@pytest.mark.parametrize(("spec", "ok"), [
    ("example.com", True), ("example.com.", True), ("foo.xn--zckzah", True),
    ("%{d}", True), ("%{d}.com", True), ("%{i}.%{d2}", True), ("foo:bar/baz.example.com", True),
    ("a.b-c", True), ("a.123-456", True),
    ("", False), ("museum", False), ("museum.", False), ("abc.123", False),
    ("example.-com", False), ("example.com-", False), ("%{d}.", False), ("foo-bar", False),
    ("example.com:8080", False), ("example.com/24", False),
])
def test_domain_spec_end(spec: str, ok: bool) -> None:
    if ok:
        parse_domain_spec(spec)
    else:
        with pytest.raises(SpfSyntaxError):
            parse_domain_spec(spec)


def test_target_name_truncation_and_validity() -> None:
    long = ".".join(["abcdefghi"] * 30) + ".example.com"   # 311 characters
    name = target_name(long)
    assert name is not None
    text = name.to_text(omit_final_dot=True)
    assert len(text) <= 253 and long.endswith(text) and text.endswith("example.com")
    assert target_name("foo.example.com.") == n("foo.example.com")
    assert target_name("a..b.example") is None
    assert target_name("x" * 64 + ".example") is None
    assert target_name("") is None
    assert target_name("single") == n("single")  # mechanisms may query single labels


@pytest.mark.parametrize(("text", "ok"), [
    ("example.com", True), ("example.com.", True), ("x" * 63 + ".com", True),
    ("x" * 64 + ".com", False), ("a..example.com", False), ("localhost", False),
    ("[192.0.2.1]", False), ("", False), ("bücher.example", True),
])
def test_domain_name_initial_processing(text: str, ok: bool) -> None:
    assert (domain_name(text) is not None) is ok


# --------------------------------------------------------------------------
# record syntax


def test_parse_record_structure() -> None:
    pol = parse_record("v=spf1 +a -mx:mx.%{d2}/24//64 ~ptr ?ip4:192.0.2.0/24 "
                       "ip6:2001:DB8::/32 exists:%{ir}.bl.example include:_spf.example.net "
                       "-all redirect=_spf.example.com exp=why.%{d} foo.bar=%{l}")
    kinds = [(m.qualifier, m.kind) for m in pol.mechanisms]
    assert kinds == [("+", "a"), ("-", "mx"), ("~", "ptr"), ("?", "ip4"), ("+", "ip6"),
                     ("+", "exists"), ("+", "include"), ("-", "all")]
    mxm = pol.mechanisms[1]
    assert (mxm.domain_spec, mxm.cidr4, mxm.cidr6) == ("mx.%{d2}", 24, 64)
    assert str(pol.mechanisms[3].network) == "192.0.2.0/24"
    assert str(pol.mechanisms[4].network) == "2001:db8::/32"
    assert pol.redirect is not None and pol.redirect.value == "_spf.example.com"
    assert pol.explanation is not None and pol.explanation.value == "why.%{d}"
    assert [m.name for m in pol.unknown] == ["foo.bar"]
    assert pol.dns_terms == 6
    json.dumps(pol.to_json())


def test_parse_record_is_case_insensitive() -> None:
    pol = parse_record("V=SpF1 IP4:192.0.2.1 Include:x.example -ALL Redirect=y.example")
    assert [m.kind for m in pol.mechanisms] == ["ip4", "include", "all"]
    assert pol.redirect is not None


@pytest.mark.parametrize("record", [
    "v=spf1 -all moo",                       # unknown mechanism anywhere
    "v=spf1 -all.", "v=spf1 -all:foo", "v=spf1 -all/8",
    "v=spf1 a/33", "v=spf1 a//129", "v=spf1 a/24/64", "v=spf1 a/032", "v=spf1 a:",
    "v=spf1 mx:", "v=spf1 ptr:", "v=spf1 ptr/24", "v=spf1 include", "v=spf1 include:",
    "v=spf1 include:x.example/24", "v=spf1 exists", "v=spf1 exists:x.example/24",
    "v=spf1 ip4", "v=spf1 ip4:1.2.3", "v=spf1 ip4:1.2.3.4/33", "v=spf1 ip4:1.2.3.4//32",
    "v=spf1 ip4:1.2.3.4:25", "v=spf1 ip4:01.2.3.4", "v=spf1 ip4:256.1.1.1",
    "v=spf1 ip6", "v=spf1 ip6::CAFE::BABE", "v=spf1 ip6:::1/129", "v=spf1 ip6:::1//64",
    "v=spf1 ip6:fe80::1%eth0",
    "v=spf1 redirect=", "v=spf1 exp=", "v=spf1 exp=-all", "v=spf1 redirect:x.example",
    "v=spf1 redirect=a.example redirect=b.example", "v=spf1 exp=a.example exp=b.example",
    "v=spf1 1up=foo", "v=spf1 =all", "v=spf1 foo=%abc", "v=spf1 moo.cow/x=y",
    "v=spf1 a:foo.example\x00", "v=spf1 a\tmx", "v=spf1 ip4:192.0.2.1\r\n-all",
    "v=spf1 \x80a", "v=spf1 exists:%{a}.example.com", "v=spf1 exp=%{r}.example.com",
    "v=spf1 +", "v=spf1 -",
])
def test_parse_record_errors(record: str) -> None:
    with pytest.raises(SpfSyntaxError):
        parse_record(record)


@pytest.mark.parametrize("record", [
    "v=spf1", "v=spf1 ", "v=spf1  a   -all  ", "v=spf1 default=pass", "v=spf1 foo=%{c}",
    "v=spf1 a:foo:bar/baz.example.com", "v=spf1 ip6:::1.1.1.1/0", "v=spf1 a//0 mx/0",
])
def test_parse_record_ok(record: str) -> None:
    parse_record(record)


def test_parse_record_bytes_must_be_ascii() -> None:
    with pytest.raises(SpfSyntaxError, match="ASCII"):
        parse_record(b"v=spf1 a:\xef\xbb\xbfx.example -all")
    assert parse_record(b"v=spf1 -all").mechanisms[0].kind == "all"


@pytest.mark.parametrize(("text", "ok"), [
    (b"v=spf1", True), (b"v=spf1 -all", True), (b"V=SPF1 -all", True),
    (b"v=spf10", False), (b"v=spf1-all", False), (b" v=spf1", False), (b"spf2.0/pra", False),
])
def test_is_spf_record(text: bytes, ok: bool) -> None:
    assert is_spf_record(text) is ok


# --------------------------------------------------------------------------
# record lookup and selection (s4.4, s4.5)


def _record(dns: StaticDns, domain: str = "example.com") -> Any:
    return asyncio.run(get_spf_record(dns, domain))


def test_get_spf_record_selection() -> None:
    dns = Zone()
    dns.add(n("example.com"), RRType.TXT, [
        txt("google-site-verification=abc"), txt("v=spf10 +all"), txt("\x96"),
        txt("v=spf1 ip4:192.0.2.0/24", " -all"), b""])
    rec = _record(dns)
    assert rec.found and rec.text == "v=spf1 ip4:192.0.2.0/24 -all"
    assert rec.security is Security.SECURE
    out = rec.to_json()
    json.dumps(out)
    assert out["error"] is None and out["parsed"]["mechanisms"][1]["mechanism"] == "all"


def test_get_spf_record_none_and_multiple() -> None:
    dns = Zone(security=Security.INSECURE)
    dns.add(n("nospf.example"), RRType.TXT, [txt("hello")])
    dns.spf("two.example", "v=spf1 -all", "V=SPF1 +all")
    dns.add(n("split.example"), RRType.TXT, [txt("v=spf1", "mx")])   # joins to v=spf1mx
    assert _record(dns, "missing.example").error is Result.NONE
    assert _record(dns, "nospf.example").error is Result.NONE
    assert _record(dns, "split.example").error is Result.NONE
    two = _record(dns, "two.example")
    assert two.error is Result.PERMERROR and "2" in (two.reason or "")
    assert two.security is Security.INSECURE
    assert _record(dns, "localhost").error is Result.NONE


def test_get_spf_record_failures() -> None:
    dns = Zone()
    dns.fail("slow.example", RRType.TXT)
    dns.bogus("bad.example", RRType.TXT)
    dns.add(n("hosed.example"), RRType.TXT, [txt(b"v=spf1 a:\xef\xbb\xbfx.example -all")])
    assert _record(dns, "slow.example").error is Result.TEMPERROR
    bad = _record(dns, "bad.example")
    assert bad.error is Result.TEMPERROR and "bogus" in (bad.reason or "").lower()
    assert bad.security is Security.BOGUS
    hosed = _record(dns, "hosed.example")
    assert hosed.error is Result.PERMERROR and hosed.text is not None
    assert "\\xef" in hosed.text
    json.dumps(hosed.to_json())


def test_select_record_refused_is_temperror() -> None:
    lk = Lookup(n("x.example"), RRType.TXT, Rcode.REFUSED, (), Security.INSECURE)
    assert select_record(lk, "x.example").error is Result.TEMPERROR


# --------------------------------------------------------------------------
# check_host: results, mechanisms, explanations


def test_basic_results_and_json() -> None:
    dns = Zone()
    dns.spf("example.com", "v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 ~all")
    r = check(dns, "192.0.2.10", "alice@example.com")
    assert (r.result, r.mechanism, r.matched_domain) == (Result.PASS, "ip4:192.0.2.0/24",
                                                        "example.com")
    assert r.security is Security.SECURE and r.secure
    assert check(dns, "2001:db8::1", "alice@example.com").result is Result.PASS
    assert check(dns, "::ffff:192.0.2.10", "alice@example.com").result is Result.PASS
    soft = check(dns, "198.51.100.1", "alice@example.com")
    assert soft.result is Result.SOFTFAIL and soft.explanation is None
    out = soft.to_json()
    assert json.loads(json.dumps(out)) == out
    assert set(out) >= {"result", "domain", "sender", "ip", "mechanism", "explanation",
                        "security", "secure", "lookups", "trace", "record", "reason"}
    assert out["result"] == "softfail" and out["security"] == "secure"
    assert out["record"] == "v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 ~all"


def test_null_sender_uses_postmaster_at_helo() -> None:
    dns = Zone()
    dns.spf("mx.example.org", "v=spf1 -all exp=why.example.org")
    dns.add(n("why.example.org"), RRType.TXT, [txt("%{s} / %{l} / %{o} / %{h}")])
    r = asyncio.run(check_host(dns, "192.0.2.1", "mx.example.org", "", "mx.example.org"))
    assert r.sender == "postmaster@mx.example.org"
    assert r.explanation == ("postmaster@mx.example.org / postmaster / mx.example.org / "
                             "mx.example.org")
    # no local-part: "postmaster" (s4.3); empty domain argument: the sender's
    r2 = asyncio.run(check_host(dns, "192.0.2.1", None, "@mx.example.org", "h.example"))
    assert r2.result is Result.FAIL and r2.sender == "postmaster@mx.example.org"


def test_default_explanation_and_exp_macros() -> None:
    dns = Zone()
    dns.spf("example.com", "v=spf1 -all")
    dns.spf("e.example.com", "v=spf1 -all exp=x.example.com")
    dns.add(n("x.example.com"), RRType.TXT, [txt("%{c} at %{t} via %{r} for %{d}")])
    r = check(dns, "192.0.2.9", "a@example.com")
    assert r.explanation == "192.0.2.9 is not a permitted sender for example.com (SPF fail)"
    assert r.explanation_security is None
    r = check(dns, "192.0.2.9", "a@example.com", default_explanation="nope %{i}")
    assert r.explanation == "nope 192.0.2.9"
    r = check(dns, "192.0.2.9", "a@e.example.com", now=1234.5, receiver="mx.rx.example")
    assert r.explanation == "192.0.2.9 at 1234 via mx.rx.example for e.example.com"
    assert r.explanation_security is Security.SECURE
    with pytest.raises(ValueError, match="not followed by"):
        check(dns, "192.0.2.9", "a@example.com", default_explanation="bad %x")
    with pytest.raises(ValueError, match="does not appear to be an IPv4 or IPv6 address"):
        check(dns, "not-an-ip", "a@example.com")


def test_explanation_only_for_fail() -> None:
    dns = Zone()
    dns.spf("example.com", "v=spf1 ~all exp=x.example.com")
    dns.add(n("x.example.com"), RRType.TXT, [txt("go away")])
    r = check(dns, "192.0.2.9", "a@example.com")
    assert r.result is Result.SOFTFAIL and r.explanation is None
    assert ("x.example.com", RRType.TXT) not in [(q.to_text(True), t) for q, t in dns.queries]


def test_include_results() -> None:
    dns = Zone()
    dns.spf("pass.example", "v=spf1 +all")
    dns.spf("fail.example", "v=spf1 -all")
    dns.spf("neutral.example", "v=spf1 ?all")
    dns.spf("perm.example", "v=spf1 nonsense")
    dns.fail("temp.example", RRType.TXT)
    for target, expected in [("pass.example", Result.FAIL), ("fail.example", Result.PASS),
                             ("neutral.example", Result.PASS),
                             ("perm.example", Result.PERMERROR),
                             ("temp.example", Result.TEMPERROR),
                             ("none.example", Result.PERMERROR)]:
        dns.spf("example.com", f"v=spf1 -include:{target} +all")
        assert check(dns, "192.0.2.1", "a@example.com").result is expected, target
    dns.spf("example.com", "v=spf1 -include:pass.example +all")
    r = check(dns, "192.0.2.1", "a@example.com")
    assert r.mechanism == "-include:pass.example" and r.matched_domain == "example.com"


def test_redirect_takes_target_record_and_domain() -> None:
    dns = Zone()
    dns.spf("example.com", "v=spf1 ip4:198.51.100.1 redirect=_spf.example.net exp=no.example")
    dns.spf("_spf.example.net", "v=spf1 a -all")
    dns.addr("_spf.example.net", "192.0.2.7")
    r = check(dns, "192.0.2.7", "a@example.com")
    assert (r.result, r.mechanism, r.matched_domain) == (Result.PASS, "a", "_spf.example.net")
    r = check(dns, "192.0.2.8", "a@example.com")
    assert r.result is Result.FAIL and r.matched_domain == "_spf.example.net"
    assert r.explanation is not None and "_spf.example.net" in r.explanation
    dns.spf("example.com", "v=spf1 redirect=nothing.example")
    assert check(dns, "192.0.2.8", "a@example.com").result is Result.PERMERROR


def test_a_mx_ptr_exists() -> None:
    dns = Zone()
    dns.spf("example.com", "v=spf1 a mx:mx.example.com/28 ptr exists:%{ir}.list.example -all")
    dns.addr("example.com", "192.0.2.1", "2001:db8::1")
    dns.add(n("mx.example.com"), RRType.MX, mx("mx1.example.com", "mx2.example.net"))
    dns.addr("mx1.example.com", "192.0.2.33")
    dns.addr("mx2.example.net", "192.0.2.65")
    dns.add(n("9.100.51.198.in-addr.arpa"), RRType.PTR, ptr("host.example.com"))
    dns.addr("host.example.com", "198.51.100.9")
    dns.addr("7.113.0.203.list.example", "127.0.0.2")
    assert check(dns, "192.0.2.1", "a@example.com").mechanism == "a"
    assert check(dns, "2001:db8::1", "a@example.com").mechanism == "a"
    assert check(dns, "192.0.2.40", "a@example.com").mechanism == "mx:mx.example.com/28"
    assert check(dns, "192.0.2.70", "a@example.com").mechanism == "mx:mx.example.com/28"
    assert check(dns, "198.51.100.9", "a@example.com").mechanism == "ptr"
    assert check(dns, "203.0.113.7", "a@example.com").mechanism == "exists:%{ir}.list.example"
    r = check(dns, "203.0.113.8", "a@example.com")
    assert r.result is Result.FAIL and r.mechanism == "-all"


def test_ptr_needs_forward_confirmation() -> None:
    dns = Zone()
    dns.spf("example.com", "v=spf1 ptr -all")
    dns.add(n("9.100.51.198.in-addr.arpa"), RRType.PTR, ptr("liar.example.com"))
    dns.addr("liar.example.com", "198.51.100.10")
    assert check(dns, "198.51.100.9", "a@example.com").result is Result.FAIL


def test_ptr_dns_error_is_no_match_but_mx_error_is_temperror() -> None:
    dns = Zone()
    dns.spf("example.com", "v=spf1 ptr ?all")
    dns.fail("9.100.51.198.in-addr.arpa", RRType.PTR)
    assert check(dns, "198.51.100.9", "a@example.com").result is Result.NEUTRAL
    dns.spf("example.com", "v=spf1 mx ?all")
    dns.add(n("example.com"), RRType.MX, mx("mx.example.com"))
    dns.fail("mx.example.com", RRType.A)
    assert check(dns, "198.51.100.9", "a@example.com").result is Result.TEMPERROR


def test_dns_source_exception_is_temperror() -> None:
    class Broken:
        async def lookup(self, name: Name, rtype: int) -> Lookup:
            raise OSError("network unreachable")

    r = check(Broken(), "192.0.2.1", "a@example.com")
    assert r.result is Result.TEMPERROR and "network unreachable" in (r.reason or "")


# --------------------------------------------------------------------------
# limits (s4.6.4)


def _chain(dns: Zone, count: int) -> None:
    """example.com includes i1..i<count>, each a DNS-querying term."""
    terms = " ".join(f"include:i{k}.example.com" for k in range(1, count + 1))
    dns.spf("example.com", f"v=spf1 {terms} ip4:192.0.2.1 -all")
    for k in range(1, count + 1):
        dns.spf(f"i{k}.example.com", "v=spf1 ?all")


def test_dns_term_limit() -> None:
    dns = Zone()
    _chain(dns, 10)
    r = check(dns, "192.0.2.1", "a@example.com")
    assert r.result is Result.PASS and r.dns_terms == 10
    _chain(dns, 11)
    r = check(dns, "192.0.2.1", "a@example.com")
    assert r.result is Result.PERMERROR and "4.6.4" in (r.reason or "")
    assert any(s.kind == "limit" for s in r.trace)
    r = check(dns, "192.0.2.1", "a@example.com", limits=SpfLimits(dns_terms=20))
    assert r.result is Result.PASS


def test_terms_without_dns_do_not_count() -> None:
    dns = Zone()
    ips = " ".join(f"ip4:10.0.0.{k}" for k in range(1, 40))
    dns.spf("example.com", f"v=spf1 {ips} -all")
    r = check(dns, "192.0.2.1", "a@example.com")
    assert r.result is Result.FAIL and r.dns_terms == 0


def test_void_lookup_limit() -> None:
    dns = Zone()
    dns.spf("example.com", "v=spf1 a:n1.example.com exists:n2.example.com "
            "mx:n3.example.com ?all")
    assert check(dns, "192.0.2.1", "a@example.com").result is Result.PERMERROR
    r = check(dns, "192.0.2.1", "a@example.com", limits=SpfLimits(void_lookups=3))
    assert r.result is Result.NEUTRAL and r.void_lookups == 3
    # NODATA is void too: n2 has only an A record, an IPv6 client queries AAAA
    dns.spf("example.com", "v=spf1 a:n1.example.com a:n2.example.com ?all")
    dns.addr("n2.example.com", "192.0.2.99")
    r = check(dns, "2001:db8::1", "a@example.com")
    assert r.result is Result.NEUTRAL and r.void_lookups == 2
    dns.spf("example.com", "v=spf1 a:n1.example.com a:n2.example.com a:n2.example.com ?all")
    assert check(dns, "2001:db8::1", "a@example.com").result is Result.PERMERROR
    assert check(dns, "192.0.2.1", "a@example.com").result is Result.NEUTRAL


def test_mx_name_limit() -> None:
    dns = Zone()
    dns.spf("example.com", "v=spf1 mx -all")
    dns.add(n("example.com"), RRType.MX, mx(*[f"m{k}.example.com" for k in range(10)]))
    dns.addr("m0.example.com", "192.0.2.1")
    assert check(dns, "192.0.2.1", "a@example.com").result is Result.PASS
    dns.add(n("example.com"), RRType.MX, mx(*[f"m{k}.example.com" for k in range(11)]))
    r = check(dns, "192.0.2.1", "a@example.com")
    assert r.result is Result.PERMERROR and "MX" in (r.reason or "")


def test_ptr_name_limit_ignores_the_excess() -> None:
    dns = Zone()
    dns.spf("example.com", "v=spf1 ptr -all")
    names = [f"h{k}.other.example" for k in range(10)] + ["good.example.com"]
    dns.add(n("1.2.0.192.in-addr.arpa"), RRType.PTR, ptr(*names))
    dns.addr("good.example.com", "192.0.2.1")
    r = check(dns, "192.0.2.1", "a@example.com")
    assert r.result is Result.FAIL
    assert r.dns_terms == 1


def test_time_limit() -> None:
    class Slow:
        async def lookup(self, name: Name, rtype: int) -> Lookup:
            await asyncio.sleep(5)
            raise AssertionError("not reached")

    r = check(Slow(), "192.0.2.1", "a@example.com", limits=SpfLimits(time_limit=0.05))
    assert r.result is Result.TEMPERROR and "4.6.4" in (r.reason or "")


def test_lookups_are_cached_within_a_check() -> None:
    dns = Zone()
    dns.spf("example.com", "v=spf1 a a a/24 -all")
    dns.addr("example.com", "198.51.100.1")
    r = check(dns, "192.0.2.1", "a@example.com")
    assert r.dns_terms == 3 and r.queries == 2          # TXT + A once
    assert len(dns.queries) == 2


# --------------------------------------------------------------------------
# DNSSEC security propagation


def test_security_is_the_weakest_answer_used() -> None:
    dns = Zone()
    dns.spf("example.com", "v=spf1 include:_spf.example.net -all")
    dns.spf("_spf.example.net", "v=spf1 a:relay.example.net", security=Security.INSECURE)
    dns.addr("relay.example.net", "192.0.2.5")
    r = check(dns, "192.0.2.5", "a@example.com")
    assert r.result is Result.PASS and r.security is Security.INSECURE and not r.secure
    assert r.to_json()["security"] == "insecure"
    dns.spf("_spf.example.net", "v=spf1 a:relay.example.net")
    r = check(dns, "192.0.2.5", "a@example.com")
    assert r.result is Result.PASS and r.security is Security.SECURE and r.secure


def test_security_of_none_without_lookup_is_indeterminate() -> None:
    r = asyncio.run(check_host(Zone(), "192.0.2.1", "localhost", "a@localhost"))
    assert r.result is Result.NONE and r.security is Security.INDETERMINATE
    assert r.queries == 0


@pytest.mark.parametrize("where", ["record", "include", "a", "mx-host", "exists", "ptr"])
def test_bogus_answer_is_temperror(where: str) -> None:
    dns = Zone()
    dns.spf("example.com", "v=spf1 include:inc.example.com a:a.example.com mx "
            "exists:e.example.com ptr:example.com -all")
    dns.spf("inc.example.com", "v=spf1 ?all")
    dns.addr("a.example.com", "198.51.100.1")
    dns.add(n("example.com"), RRType.MX, mx("mx.example.com"))
    dns.addr("mx.example.com", "198.51.100.2")
    dns.add(n("1.2.0.192.in-addr.arpa"), RRType.PTR, ptr("x.example.com"))
    dns.addr("x.example.com", "198.51.100.3")
    # e.example.com does not exist: a void lookup, within the limit
    target = {"record": ("example.com", RRType.TXT), "include": ("inc.example.com", RRType.TXT),
              "a": ("a.example.com", RRType.A), "mx-host": ("mx.example.com", RRType.A),
              "exists": ("e.example.com", RRType.A),
              "ptr": ("1.2.0.192.in-addr.arpa", RRType.PTR)}[where]
    assert check(dns, "192.0.2.1", "a@example.com").result is Result.FAIL
    dns.bogus(*target)
    r = check(dns, "192.0.2.1", "a@example.com")
    assert r.result is Result.TEMPERROR
    assert "bogus" in (r.reason or "").lower()
    assert r.security is Security.BOGUS
    assert r.to_json()["secure"] is False


def test_bogus_explanation_is_ignored_not_fatal() -> None:
    dns = Zone()
    dns.spf("example.com", "v=spf1 -all exp=why.example.com")
    dns.bogus("why.example.com", RRType.TXT)
    r = check(dns, "192.0.2.1", "a@example.com", default_explanation="DEFAULT")
    assert r.result is Result.FAIL and r.explanation == "DEFAULT"
    assert r.security is Security.SECURE and r.explanation_security is None


def test_insecure_explanation_does_not_taint_the_verdict() -> None:
    dns = Zone()
    dns.spf("example.com", "v=spf1 -all exp=why.example.com")
    dns.add(n("why.example.com"), RRType.TXT, [txt("because")], security=Security.INSECURE)
    r = check(dns, "192.0.2.1", "a@example.com")
    assert r.explanation == "because"
    assert r.security is Security.SECURE
    assert r.explanation_security is Security.INSECURE


def test_p_macro_prefers_domain_and_subdomains() -> None:
    dns = Zone()
    dns.spf("e.example.com", "v=spf1 -all exp=x.example.com")
    dns.add(n("x.example.com"), RRType.TXT, [txt("from %{p}")])
    dns.add(n("1.2.0.192.in-addr.arpa"), RRType.PTR,
            ptr("other.example.net", "mx.e.example.com", "e.example.com"))
    dns.addr("other.example.net", "192.0.2.1")
    dns.addr("mx.e.example.com", "192.0.2.1")
    assert check(dns, "192.0.2.1", "a@e.example.com").explanation == "from mx.e.example.com"
    dns.addr("e.example.com", "192.0.2.1")
    assert check(dns, "192.0.2.1", "a@e.example.com").explanation == "from e.example.com"
    assert check(dns, "192.0.2.2", "a@e.example.com").explanation == "from unknown"


def test_trace_is_informative() -> None:
    dns = Zone()
    dns.spf("example.com", "v=spf1 include:_spf.example.net -all")
    dns.spf("_spf.example.net", "v=spf1 ip4:198.51.100.0/24")
    r = check(dns, "192.0.2.1", "a@example.com")
    kinds = [(s.depth, s.kind) for s in r.trace]
    assert (0, "record") in kinds and (0, "include") in kinds and (1, "record") in kinds
    assert kinds[-1] == (0, "term")
    assert r.trace[-1].detail == "-all: match"


def test_include_does_not_fetch_the_included_explanation() -> None:
    dns = Zone()
    dns.spf("example.com", "v=spf1 include:inc.example.net -all exp=outer.example.com")
    dns.spf("inc.example.net", "v=spf1 -all exp=inner.example.net")
    dns.add(n("outer.example.com"), RRType.TXT, [txt("outer")])
    dns.add(n("inner.example.net"), RRType.TXT, [txt("inner")])
    r = check(dns, "192.0.2.1", "a@example.com")
    assert (r.result, r.explanation) == (Result.FAIL, "outer")
    assert n("inner.example.net") not in [q for q, _ in dns.queries]
