"""Forgeries written into Redis by the cachedb tests (tests/cache/test_cachedb.py):
records rewritten as an attacker holding Redis would (changed data under the old
RRSIG, forged or stripped RRSIGs, a forged or replayed denial, a substituted DNSKEY,
a DS set denied without proof, another zone hint, garbage)."""

from __future__ import annotations

import random
import time
from typing import Any

import redis

from resolver.cache.cachedb import _HEAD, decode, key_for
from resolver.wire.message import RR
from resolver.wire.name import Name
from resolver.wire.types import Rcode, RRType


def n(text: str) -> Name:
    return Name.from_text(text)


def rewrite(client: redis.Redis, name: str, rtype: int,
             change: Any, zone: str | None = None) -> bool:
    """Decode the record of (name, rtype), let *change* alter its reply, write it
    back (same expiry); False when there is no such record."""
    key = key_for(n(name), rtype)
    value = client.get(key)
    if not isinstance(value, bytes):
        return False
    stored = decode(value, n(name), rtype, time.time())
    assert stored is not None
    change(stored.reply)
    zone_len = value[_HEAD.size]
    head = value[:_HEAD.size + 1 + zone_len]
    if zone is not None:        # another zone hint (the zone the data claims to be from)
        wire = n(zone).wire
        head = value[:_HEAD.size] + bytes((len(wire),)) + wire
    client.set(key, head + stored.reply.to_wire(), keepttl=True)
    return True


def _flip_sig(reply: Any, rtype: int) -> None:
    for rr in reply.answer + reply.authority:
        if rr.rtype == RRType.RRSIG and (rr.rdata[0] << 8 | rr.rdata[1]) == rtype:
            rr.rdata = rr.rdata[:-1] + bytes((rr.rdata[-1] ^ 0x01,))


def _change_a(reply: Any) -> None:
    for rr in reply.answer:
        if rr.rtype == RRType.A:
            rr.rdata = bytes((198, 51, 100, 66))


def _strip(reply: Any) -> None:
    reply.answer = [rr for rr in reply.answer if rr.rtype != RRType.RRSIG]
    reply.authority = [rr for rr in reply.authority if rr.rtype != RRType.RRSIG]


def _forged_nsec(reply: Any) -> None:
    """An NXDOMAIN for a name that exists, with an NSEC covering it (re-signed by no
    one: the old RRSIG stays)."""
    reply.set_rcode(Rcode.NXDOMAIN)
    reply.answer = []
    owner = n("secure.example.")
    nsec = owner.wire + b""
    reply.authority = [rr for rr in reply.authority if rr.rtype == RRType.SOA] + [
        RR(owner, RRType.NSEC, 1, 300, n("zzz.secure.example.").wire + b"\x00\x01\x40")]
    del nsec


def _no_ds(reply: Any) -> None:
    """The DS set of a signed zone replaced by a NODATA without proof (a downgrade to
    insecure, if it were believed)."""
    reply.answer = []
    soa = n("ns.example.").wire + n("h.example.").wire + bytes(20)
    reply.authority = [RR(n("example."), RRType.SOA, 1, 300, soa)]


def _forged_key(reply: Any) -> None:
    for rr in reply.answer:
        if rr.rtype == RRType.DNSKEY:
            rr.rdata = rr.rdata[:4] + bytes(len(rr.rdata) - 4)


def replayed_denial(client: redis.Redis) -> bool:
    """The genuine, signed NXDOMAIN proof of nope.secure.example. (SOA and NSEC with
    valid RRSIGs) replayed as the answer for www.secure.example., which exists."""
    value = client.get(key_for(n("nope.secure.example."), RRType.A))
    assert isinstance(value, bytes)
    denial = decode(value, n("nope.secure.example."), RRType.A, time.time())
    assert denial is not None

    def change(reply: Any) -> None:
        reply.set_rcode(Rcode.NXDOMAIN)
        reply.answer = []
        reply.authority = list(denial.reply.authority)
    return rewrite(client, "www.secure.example.", RRType.A, change)


def garbage(client: redis.Redis, name: str, rtype: int, rng: random.Random) -> bool:
    client.set(key_for(n(name), rtype), rng.randbytes(rng.randint(0, 200)), ex=300)
    return True


# kind -> (name, type the forgery is written under, the question asked, what changes
# [, the zone hint written with it])
MUTATIONS: dict[str, tuple[Any, ...]] = {
    "changed A, old RRSIG": ("www.secure.example.", RRType.A, "www.secure.example.",
                             RRType.A, _change_a),
    "forged RRSIG": ("www.secure.example.", RRType.A, "www.secure.example.", RRType.A,
                     lambda r: _flip_sig(r, RRType.A)),
    "stripped RRSIG": ("www.secure.example.", RRType.A, "www.secure.example.", RRType.A,
                       _strip),
    "forged NSEC denial": ("www.secure.example.", RRType.A, "www.secure.example.",
                           RRType.A, _forged_nsec),
    "forged NSEC3 RRSIG": ("nope.nsec3.example.", RRType.A, "nope.nsec3.example.",
                           RRType.A, lambda r: _flip_sig(r, RRType.NSEC3)),
    "substituted DNSKEY": ("secure.example.", RRType.DNSKEY, "www.secure.example.",
                           RRType.A, _forged_key),
    "forged DS RRSIG": ("secure.example.", RRType.DS, "www.secure.example.", RRType.A,
                        lambda r: _flip_sig(r, RRType.DS)),
    "stripped RRSIG, zone hint the root": ("www.secure.example.", RRType.A,
                                           "www.secure.example.", RRType.A, _strip, "."),
    "stripped RRSIG, zone hint the owner": ("www.secure.example.", RRType.A,
                                            "www.secure.example.", RRType.A, _strip,
                                            "www.secure.example."),
    "DS denied without proof": ("secure.example.", RRType.DS, "www.secure.example.",
                                RRType.A, _no_ds),
    "stripped DNSKEY RRSIG": ("secure.example.", RRType.DNSKEY, "www.secure.example.",
                              RRType.A, _strip),
}
