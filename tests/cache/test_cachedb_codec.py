"""The cachedb record format and configuration (issue 18), without Redis: records
read back as the replies they were made from, aged by the time since they were
stored; anything else (another question, a bad zone, a truncated or foreign value,
an unknown version) is refused; a bad URL is a ConfigError naming the key."""

from __future__ import annotations

import struct

import pytest

from resolver.cache.cachedb import CodecError, decode, encode, key_for, safe_url
from resolver.config import ConfigError, Settings
from resolver.configfile import apply
from resolver.wire.name import Name
from resolver.wire.rrset import RRset
from resolver.wire.types import Rcode, RRType

NOW = 1_800_000_000.0


def n(text: str) -> Name:
    return Name.from_text(text)


def _record(name: str = "www.secure.example.", ttl: int = 300) -> bytes:
    answer = RRset(n(name), RRType.A, 1, ttl, [bytes((192, 0, 2, 30))],
                   [b"\x00\x01\x0d\x03" + bytes(60)])
    soa = RRset(n("secure.example."), RRType.SOA, 1, ttl,
                [n("ns1.secure.example.").wire + n("h.secure.example.").wire + bytes(20)])
    return encode(n(name), RRType.A, n("secure.example."), Rcode.NOERROR, [answer], [soa],
                  NOW, NOW + ttl)


def test_round_trip_ages_the_ttls() -> None:
    stored = decode(_record(), n("WWW.secure.example."), RRType.A, NOW + 100)
    assert stored is not None and stored.zone == n("secure.example.")
    reply = stored.reply
    assert [rr.ttl for rr in reply.answer] == [200, 200]          # the A and its RRSIG
    assert reply.answer[0].rdata == bytes((192, 0, 2, 30))
    assert reply.authority[0].rtype == RRType.SOA and reply.authority[0].ttl == 200
    assert decode(_record(), n("www.secure.example."), RRType.A, NOW + 300) is None


@pytest.mark.parametrize(("mangle", "why"), [
    (lambda v: v[:20], "short"),
    (lambda v: b"\x07" + v[1:], "version"),
    (lambda v: v[:17] + b"\x02\x40\x00" + v[17 + 1 + v[17]:], "zone label"),
    (lambda v: v + b"\x00", "trailing"),
    (lambda v: v[:-3], "truncated reply"),
    (lambda v: v[:1] + struct.pack(">dd", float("nan"), NOW + 300) + v[17:], "nan"),
])
def test_mangled_records_are_refused(mangle: object, why: str) -> None:
    value = mangle(_record())      # type: ignore[operator]
    with pytest.raises(CodecError):
        decode(value, n("www.secure.example."), RRType.A, NOW)


def test_a_record_for_another_question_is_refused() -> None:
    with pytest.raises(CodecError, match="another question"):
        decode(_record(), n("evil.secure.example."), RRType.A, NOW)
    with pytest.raises(CodecError, match="another question"):
        decode(_record(), n("www.secure.example."), RRType.AAAA, NOW)
    other_zone = encode(n("www.secure.example."), RRType.A, n("other.example."),
                        Rcode.NOERROR, [], [], NOW, NOW + 60)
    with pytest.raises(CodecError, match="zone"):
        decode(other_zone, n("www.secure.example."), RRType.A, NOW)


def test_keys_are_versioned_and_lowercase() -> None:
    assert key_for(n("WWW.Secure.Example."), RRType.DNSKEY) == "rsv1:www.secure.example./48/1"


def test_safe_url_drops_the_password() -> None:
    assert safe_url("redis://user:s3cret@10.0.0.5:6379/2") == "redis://10.0.0.5:6379/2"
    assert "s3cret" not in safe_url("rediss://:s3cret@cache.internal/0")


@pytest.mark.parametrize("url", ["http://127.0.0.1:6379/0", "redis://127.0.0.1:99999/0",
                                 "redis:///0", "redis://127.0.0.1:6379/x",
                                 "unix://relative/path", "127.0.0.1:6379"])
def test_bad_cachedb_url_names_the_key(url: str) -> None:
    with pytest.raises(ConfigError, match="cachedb"):
        apply(Settings(), {"cachedb": url})


def test_cachedb_keys_read() -> None:
    s = apply(Settings(), {"cachedb": "redis://127.0.0.1:6379/2", "cachedb-timeout-ms": 80})
    assert (s.cachedb, s.cachedb_timeout_ms) == ("redis://127.0.0.1:6379/2", 80.0)
    assert apply(Settings(), {"cachedb": "unix:///run/redis.sock?db=1"}).cachedb
    with pytest.raises(ConfigError, match="cachedb-timeout-ms"):
        apply(Settings(), {"cachedb-timeout-ms": 0})
