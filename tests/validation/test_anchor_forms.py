"""Issue 13: trust anchors in both forms, and which combinations make the root insecure.

The root of the zones/ hierarchy is signed with RSASHA256. An anchor set is insecure
only when no anchor of either form (DS or DNSKEY) has an algorithm (and digest) we
implement (RFC 4035 s5.2); one usable anchor that does not authenticate the DNSKEY set
makes the root bogus, whatever unusable anchors sit next to it. Before issue 13 a
broken DS anchor next to an algorithm-253 DNSKEY anchor made everything insecure.
"""

from __future__ import annotations

import struct

from resolver.dnssec.anchors import TrustAnchor, TrustAnchors, read_anchor_file
from resolver.dnssec.status import Problem, Security
from resolver.wire.name import Name
from resolver.wire.types import Rcode, RRType

from .conftest import Served, run

ROOT = Name(b"\x00")
# a DNSKEY of an algorithm nobody implements (253, PRIVATEDNS): flags 257, protocol 3
UNKNOWN_KEY = struct.pack("!HBB", 257, 3, 253) + bytes(range(64))
UNKNOWN_DS = struct.pack("!HBB", 4711, 253, 2) + bytes(32)


def _anchors(zones: Served, *, ds: bool = False, key: bool = False, broken_ds: bool = False,
             unknown_key: bool = False, unknown_ds: bool = False) -> TrustAnchors:
    out = TrustAnchors()
    genuine_ds = read_anchor_file(zones.anchors[0])
    if ds:
        out.merge(genuine_ds)
    if broken_ds:   # the genuine key tag and algorithm, a wrong digest
        for anchor in genuine_ds:
            out.add(TrustAnchor(ROOT, RRType.DS, anchor.rdata[:4] + bytes(32), "test"))
    if key:
        out.merge(read_anchor_file(zones.extra["dir"] / "root.key"))
    if unknown_key:
        out.add(TrustAnchor(ROOT, RRType.DNSKEY, UNKNOWN_KEY, "test"))
    if unknown_ds:
        out.add(TrustAnchor(ROOT, RRType.DS, UNKNOWN_DS, "test"))
    return out


def _ask(zones: Served, anchors: TrustAnchors, name: str = "www.secure.example.") \
        -> tuple[int, Security, Problem | None, list[int]]:
    async def body() -> tuple[int, Security, Problem | None, list[int]]:
        resolver = zones.resolver(anchors=anchors)
        answer = await resolver.resolve(Name.from_text(name), RRType.A)
        problem = answer.reason.problem if answer.reason is not None else None
        return answer.rcode, answer.security, problem, [code for code, _ in answer.ede]
    return run(body())


def test_genuine_ds_next_to_unknown_dnskey_anchor_is_secure(zones: Served) -> None:
    rcode, security, _, _ = _ask(zones, _anchors(zones, ds=True, unknown_key=True))
    assert (rcode, security) == (Rcode.NOERROR, Security.SECURE)


def test_genuine_dnskey_next_to_unknown_ds_anchor_is_secure(zones: Served) -> None:
    rcode, security, _, _ = _ask(zones, _anchors(zones, key=True, unknown_ds=True))
    assert (rcode, security) == (Rcode.NOERROR, Security.SECURE)


def test_only_unknown_algorithm_anchors_are_insecure(zones: Served) -> None:
    for anchors in (_anchors(zones, unknown_key=True), _anchors(zones, unknown_ds=True),
                    _anchors(zones, unknown_key=True, unknown_ds=True)):
        rcode, security, problem, ede = _ask(zones, anchors)
        assert (rcode, security, problem) == \
            (Rcode.NOERROR, Security.INSECURE, Problem.UNSUPPORTED_ALGORITHM)
        assert ede == [1]


def test_broken_ds_anchor_next_to_unknown_key_is_bogus(zones: Served) -> None:
    """A usable anchor that fails is not outvoted by an unusable one."""
    rcode, security, _, ede = _ask(zones, _anchors(zones, broken_ds=True, unknown_key=True))
    assert (rcode, security) == (Rcode.SERVFAIL, Security.BOGUS)
    assert ede and ede[0] in (6, 9)
