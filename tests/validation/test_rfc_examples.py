"""Issue 5, done-when 3, end to end: denial proofs with one element missing.

tests/rfc/ checks the pure proofs against RFC 4035 App. B and RFC 5155 App. B. Here
the same proofs travel through the network: two zones signed by our signer (NSEC and
NSEC3) are served by an :class:`AuthServer` whose replies are edited on the way out,
dropping exactly one proof record (and its RRSIG) - the idea of Unbound's
``val_nsec3_b*_noce`` (no closest encloser), ``_nonc`` (no next closer cover) and
``_nowc`` (no wildcard cover) replay tests. Intact, every answer is secure; with one
element missing, every one must be bogus: SERVFAIL with EDE 12 (NSEC missing) or 6.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from resolver.dnssec.nsec3 import nsec3_hash
from resolver.dnssec.status import Security
from resolver.wire import rdata as rd
from resolver.wire.message import RR, Message
from resolver.wire.name import Name
from resolver.wire.types import Rcode, RRType, type_from_text

from .conftest import LoopThread, Served, run
from .minitree import ZoneDef, build_tree, covered, drop_records, edit_replies, sign_spec

SERVER = "127.0.0.52"

ROOT_ZONE = """
@ SOA a.root. hostmaster.root. 1 1800 900 604800 86400
@ NS a.root.
a.root. A 127.0.0.50
lab. NS ns.lab.
ns.lab. A 127.0.0.51
"""
LAB_ZONE = f"""
@ SOA ns hostmaster 1 3600 900 1209600 300
@ NS ns
ns A 127.0.0.51
nsec NS ns.nsec
ns.nsec A {SERVER}
nsec3 NS ns.nsec3
ns.nsec3 A {SERVER}
"""
CHILD = f"""
@ SOA ns hostmaster 1 3600 900 1209600 300
@ NS ns
ns A {SERVER}
a A 192.0.2.1
www A 192.0.2.2
www TXT "text"
*.wild A 192.0.2.3
x.ent A 192.0.2.4
""" + "".join(f"h{i} A 192.0.2.{10 + i}\n" for i in range(8))


@pytest.fixture(scope="module")
def proofs(loop_thread: LoopThread,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tree = build_tree([
        ZoneDef(".", "127.0.0.50", ROOT_ZONE, sign_spec(13)),
        ZoneDef("lab.", "127.0.0.51", LAB_ZONE, sign_spec(13)),
        ZoneDef("nsec.lab.", SERVER, CHILD, sign_spec(13, "nsec")),
        ZoneDef("nsec3.lab.", SERVER, CHILD, sign_spec(13, "nsec3")),
    ])
    loop_thread.run(tree.network.start())
    paths = tree.network.write_outputs(tmp_path_factory.mktemp("proofs"))
    try:
        yield Served(tree.network, paths["hints"], [paths["ds"]], [],
                     extra={"tree": tree, "runner": loop_thread})
    finally:
        loop_thread.run(tree.network.stop())


# --------------------------------------------------------------------------
# which record proves what

def _nsec3_records(served: Served, zone: Name) -> list[tuple[Name, rd.NSEC3]]:
    out = []
    for rr in served.extra["tree"].signed[zone.to_text()].records:
        if rr.rtype == RRType.NSEC3:
            value = rd.decode(RRType.NSEC3, rr.rdata)
            assert isinstance(value, rd.NSEC3)
            out.append((rr.name, value))
    return out


def nsec3_owner(served: Served, zone: Name, name: Name, how: str) -> Name:
    """The owner of the NSEC3 record that matches or covers H(*name*)."""
    for owner, value in _nsec3_records(served, zone):
        digest = nsec3_hash(name, value.salt, value.iterations)
        hashed = rd.b32hex_decode(owner.labels[0].decode())
        if how == "match" and hashed == digest:
            return owner
        if how == "cover":
            inside = hashed < digest < value.next if hashed < value.next else \
                (digest > hashed or digest < value.next)
            if inside:
                return owner
    raise AssertionError(f"no NSEC3 {how}es {name}")


def nsec3_nx_name(served: Served, zone: Name) -> Name:
    """A name below the apex whose NXDOMAIN proof needs three different NSEC3 records
    (encloser match, next closer cover, wildcard cover), so each can be dropped alone."""
    wild = nsec3_owner(served, zone, zone.prepend(b"*"), "cover")
    apex = nsec3_owner(served, zone, zone, "match")
    for i in range(200):
        name = zone.prepend(f"nope{i}".encode())
        if nsec3_owner(served, zone, name, "cover") not in (wild, apex):
            return name
    raise AssertionError("no suitable name")


@dataclass(frozen=True, slots=True)
class Variant:
    ident: str
    zone: str
    qname: str             # relative to the zone; "{nx}" = a suitable NXDOMAIN name
    qtype: str
    rcode: int             # what the intact answer is
    drop: tuple[str, ...]  # NSEC owners (relative), or "match:NAME" / "cover:NAME" (NSEC3)


NX, NOERROR = Rcode.NXDOMAIN, Rcode.NOERROR
VARIANTS = [
    # NSEC chain: apex -> a -> x.ent -> h0 .. h7 -> ns -> *.wild -> www -> apex
    Variant("nsec-nxdomain-nonc", "nsec.lab.", "b", "A", NX, ("a",)),
    Variant("nsec-nxdomain-nowc", "nsec.lab.", "b", "A", NX, ("@",)),
    Variant("nsec-nodata", "nsec.lab.", "www", "MX", NOERROR, ("www",)),
    Variant("nsec-ent-nodata", "nsec.lab.", "ent", "A", NOERROR, ("a",)),
    Variant("nsec-wildcard-nonc", "nsec.lab.", "foo.wild", "A", NOERROR, ("*.wild",)),
    Variant("nsec3-nxdomain-noce", "nsec3.lab.", "{nx}", "A", NX, ("match:@",)),
    Variant("nsec3-nxdomain-nonc", "nsec3.lab.", "{nx}", "A", NX, ("cover:{nx}",)),
    Variant("nsec3-nxdomain-nowc", "nsec3.lab.", "{nx}", "A", NX, ("cover:*",)),
    Variant("nsec3-nodata", "nsec3.lab.", "www", "MX", NOERROR, ("match:www",)),
    Variant("nsec3-ent-nodata", "nsec3.lab.", "ent", "A", NOERROR, ("match:ent",)),
    Variant("nsec3-wildcard-nonc", "nsec3.lab.", "foo.wild", "A", NOERROR,
            ("cover:foo.wild",)),
]


def _absolute(text: str, zone: Name, nx: Name | None) -> Name:
    if text == "{nx}":
        assert nx is not None
        return nx
    return zone if text == "@" else Name.from_text(text, zone)


def _owners(served: Served, variant: Variant, zone: Name, nx: Name | None) -> list[Name]:
    out = []
    for item in variant.drop:
        how, _, rest = item.rpartition(":")
        name = _absolute(rest, zone, nx)
        out.append(nsec3_owner(served, zone, name, how) if how else name)
    return out


def _resolve(served: Served, qname: Name, qtype: int) -> Any:
    async def body() -> Any:
        return await served.resolver().resolve(qname, qtype)
    return run(body())


async def _install(server: Any, editor: Any) -> Any:
    return edit_replies(server, editor)


async def _undo(undo: Any) -> None:
    undo()


@pytest.mark.parametrize("variant", VARIANTS, ids=[v.ident for v in VARIANTS])
def test_intact_proof_is_secure(proofs: Served, variant: Variant) -> None:
    zone = Name.from_text(variant.zone)
    nx = nsec3_nx_name(proofs, zone) if variant.zone == "nsec3.lab." else None
    qname = _absolute(variant.qname, zone, nx)
    answer = _resolve(proofs, qname, type_from_text(variant.qtype))
    assert (answer.rcode, answer.security) == (variant.rcode, Security.SECURE), answer.reason


@pytest.mark.parametrize("variant", VARIANTS, ids=[v.ident for v in VARIANTS])
def test_one_proof_element_missing_is_bogus(proofs: Served, variant: Variant) -> None:
    zone = Name.from_text(variant.zone)
    nx = nsec3_nx_name(proofs, zone) if variant.zone == "nsec3.lab." else None
    qname = _absolute(variant.qname, zone, nx)
    owners = _owners(proofs, variant, zone, nx)
    dropped: list[Name] = []

    def editor(msg: Message) -> None:
        if msg.question and msg.question[0].name == qname:
            for owner in owners:
                if drop_records(msg, owner, (RRType.NSEC, RRType.NSEC3)):
                    dropped.append(owner)

    runner: LoopThread = proofs.extra["runner"]
    undo = runner.run(_install(proofs.net.servers[SERVER], editor))
    try:
        answer = _resolve(proofs, qname, type_from_text(variant.qtype))
    finally:
        runner.run(_undo(undo))
    assert dropped, "the record to drop was in the reply"
    assert (answer.rcode, answer.security) == (Rcode.SERVFAIL, Security.BOGUS), \
        (answer.rcode, answer.security, answer.reason)
    assert answer.ede and answer.ede[0][0] in (6, 12), answer.ede
    assert variant.zone in answer.ede[0][1]


def test_unsigned_proof_record_is_bogus(proofs: Served) -> None:
    """The NSEC3 records arrive, but their RRSIGs are stripped: not a proof."""
    zone = Name.from_text("nsec3.lab.")
    qname = nsec3_nx_name(proofs, zone)

    def editor(msg: Message) -> None:
        if msg.question and msg.question[0].name == qname:
            msg.authority = [rr for rr in msg.authority if covered(rr) != RRType.NSEC3]

    runner: LoopThread = proofs.extra["runner"]
    undo = runner.run(_install(proofs.net.servers[SERVER], editor))
    try:
        answer = _resolve(proofs, qname, RRType.A)
    finally:
        runner.run(_undo(undo))
    assert (answer.rcode, answer.security) == (Rcode.SERVFAIL, Security.BOGUS)


def test_proof_from_another_zone_is_bogus(proofs: Served) -> None:
    """NSEC records of nsec.lab. replayed into a denial for nsec3.lab.: wrong signer."""
    nsec_zone = proofs.extra["tree"].signed["nsec.lab."].records
    foreign: list[RR] = [rr for rr in nsec_zone if rr.rtype == RRType.NSEC or
                         covered(rr) == RRType.NSEC]
    zone = Name.from_text("nsec3.lab.")
    qname = nsec3_nx_name(proofs, zone)

    def editor(msg: Message) -> None:
        if msg.question and msg.question[0].name == qname:
            msg.authority = [rr for rr in msg.authority if rr.rtype != RRType.NSEC3 and
                             covered(rr) != RRType.NSEC3] + foreign

    runner: LoopThread = proofs.extra["runner"]
    undo = runner.run(_install(proofs.net.servers[SERVER], editor))
    try:
        answer = _resolve(proofs, qname, RRType.A)
    finally:
        runner.run(_undo(undo))
    assert (answer.rcode, answer.security) == (Rcode.SERVFAIL, Security.BOGUS)
