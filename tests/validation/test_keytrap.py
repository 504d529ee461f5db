"""Issue 5, done-when 4: zones built to attack the validator (SECURITY.md s1).

A small hierarchy ``. -> lab. -> <attack zones>`` is signed in the test, then damaged:

- ``tags.lab.``: 90 DNSKEYs sharing the ZSK's key tag and algorithm (the ZSK itself
  removed), so every RRSIG names a tag with 90 candidate keys (KeyTrap, CVE-2023-50387);
- ``manytags.lab.``: 300 such DNSKEYs: a 20 kB DNSKEY RRset;
- ``sigs.lab.``: 40 RRSIGs with bad signatures on ``www A`` and on each link of a chain
  of six CNAMEs;
- ``iter.lab.``: NSEC3 with 2500 iterations and a 255-octet salt, with an unsigned child;
- ``forged.lab.``: the same NSEC3 parameters, but the NSEC3 signatures do not verify;
- ``long.lab.``: NSEC3 at the limit (50 iterations, 255-octet salt), asked for names of
  120 labels (CVE-2023-50868), and once with more NSEC3 records than allowed.

The rules: SERVFAIL (bogus) when a limit is hit, insecure with EDE 27 for NSEC3 above 50
iterations but only when their signatures verify, and never more than 2 keys per tag,
8 verifications per RRset, 32 per query, 600 NSEC3 hashes per query. Verifications and
hashes are counted through the per-query :class:`Budget` and by wrapping the hash and
signature functions. While the attacks run, ordinary queries are answered promptly.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import resolver.dnssec.algorithms as algorithms
import resolver.dnssec.nsec3 as nsec3
import resolver.service as service
import resolver.validate.chain as chain
from resolver.answer import Answer
from resolver.config import ValidationLimits as Limits
from resolver.dnssec.budget import Budget
from resolver.dnssec.keys import key_tag
from resolver.dnssec.status import Problem, Security
from resolver.service import Resolver
from resolver.testnet.signer import SignedZone, SignSpec
from resolver.wire.message import RR
from resolver.wire.name import Name
from resolver.wire.types import Rcode, RRType

from .conftest import LoopThread, Served, run
from .minitree import (
    ZoneDef,
    build_tree,
    colliding_keys,
    covered,
    edit_replies,
    rrset_of,
    rrsig,
    sign_spec,
    without_sigs,
)

LAB = "127.0.0.42"
ATTACK = "127.0.0.43"
CHILD = "127.0.0.44"
SALT = bytes(range(255))
LIMITS = Limits()
CHAIN = 6            # CNAME links in sigs.lab.
BAD_SIGS = 40        # RRSIGs with bad signatures per RRset in sigs.lab.

ROOT_ZONE = """
@ SOA a.root. hostmaster.root. 1 1800 900 604800 86400
@ NS a.root.
a.root. A 127.0.0.41
lab. NS ns.lab.
ns.lab. A 127.0.0.42
"""

ATTACK_ZONES = ["good", "tags", "manytags", "sigs", "iter", "forged", "long"]

LAB_ZONE = """
@ SOA ns hostmaster 1 3600 900 1209600 300
@ NS ns
ns A 127.0.0.42
""" + "".join(f"{z} NS ns.{z}\nns.{z} A {ATTACK}\n" for z in ATTACK_ZONES)


def child_zone(extra: str = "") -> str:
    return f"""
@ SOA ns hostmaster 1 3600 900 1209600 300
@ NS ns
ns A {ATTACK}
www A 192.0.2.1
www TXT "www"
ok A 192.0.2.2
mx A 192.0.2.3
@ MX 10 mx
*.wild A 192.0.2.4
""" + extra


def _keys(zone: SignedZone) -> tuple[Any, Any]:
    ksk = next(k for k in zone.keys if k.is_ksk)
    zsk = next(k for k in zone.keys if not k.is_ksk)
    return ksk, zsk


def _replace_dnskeys(zone: SignedZone, spec: SignSpec, rdatas: list[bytes]) -> list[RR]:
    """The zone with *rdatas* as its DNSKEY RRset, signed again by the KSK."""
    ksk, _ = _keys(zone)
    origin = zone.origin
    ttl = next(rr.ttl for rr in zone.records if rr.rtype == RRType.DNSKEY)
    records = [rr for rr in without_sigs(zone.records, origin, RRType.DNSKEY)
               if rr.rtype != RRType.DNSKEY]
    records += [RR(origin, RRType.DNSKEY, 1, ttl, d) for d in rdatas]
    records.append(rrsig(rrset_of(records, origin, RRType.DNSKEY), ksk, origin, spec))
    return records


def tags_tamper(count: int, keep_zsk: bool) -> Callable[[SignedZone], list[RR]]:
    def tamper(zone: SignedZone) -> list[RR]:
        ksk, zsk = _keys(zone)
        spec = SPECS[zone.origin.to_text()]
        fakes = colliding_keys(zsk.dnskey_rdata(), count)
        keys = [ksk.dnskey_rdata(), *fakes] + ([zsk.dnskey_rdata()] if keep_zsk else [])
        return _replace_dnskeys(zone, spec, keys)
    return tamper


def sigs_tamper(zone: SignedZone) -> list[RR]:
    """The CNAME chain and www A get BAD_SIGS RRSIGs naming the ZSK, none of which
    verifies (ok. keeps its good RRSIG)."""
    records = list(zone.records)
    origin = zone.origin
    targets = [(origin.prepend(f"c{i}".encode()), RRType.CNAME) for i in range(1, CHAIN + 1)]
    targets.append((origin.prepend(b"www"), RRType.A))
    for name, rtype in targets:
        good = [rr for rr in records if rr.rtype == RRType.RRSIG and rr.name == name
                and covered(rr) == rtype]
        records = without_sigs(records, name, rtype)
        for _ in range(BAD_SIGS):
            sig = bytearray(good[0].rdata)
            sig[-64:] = os.urandom(64)
            records.append(RR(name, RRType.RRSIG, 1, good[0].ttl, bytes(sig)))
    return records


def forged_nsec3(zone: SignedZone) -> list[RR]:
    """The RRSIGs over the NSEC3 records are damaged (one bit flipped)."""
    out = []
    for rr in zone.records:
        if rr.rtype == RRType.RRSIG and covered(rr) == RRType.NSEC3:
            rr = RR(rr.name, rr.rtype, rr.rclass, rr.ttl, rr.rdata[:-1] +
                    bytes((rr.rdata[-1] ^ 1,)))
        out.append(rr)
    return out


SPECS: dict[str, SignSpec] = {
    ".": sign_spec(13), "lab.": sign_spec(13, "nsec3"),
    "good.lab.": sign_spec(13, "nsec3"),
    "tags.lab.": sign_spec(13), "manytags.lab.": sign_spec(13), "sigs.lab.": sign_spec(13),
    "iter.lab.": sign_spec(13, "nsec3", iterations=2500, salt=SALT),
    "forged.lab.": sign_spec(13, "nsec3", iterations=2500, salt=SALT),
    "long.lab.": sign_spec(13, "nsec3", iterations=50, salt=SALT),
}

CNAMES = "".join(f"c{i} CNAME c{i + 1}\n" for i in range(1, CHAIN)) + f"c{CHAIN} CNAME www\n"
MORE_NAMES = "".join(f"n{i} A 192.0.2.{10 + i}\n" for i in range(12))


def zone_defs() -> list[ZoneDef]:
    return [
        ZoneDef(".", "127.0.0.41", ROOT_ZONE, SPECS["."]),
        ZoneDef("lab.", LAB, LAB_ZONE, SPECS["lab."]),
        ZoneDef("good.lab.", ATTACK, child_zone(MORE_NAMES), SPECS["good.lab."]),
        ZoneDef("tags.lab.", ATTACK, child_zone(), SPECS["tags.lab."],
                tamper=tags_tamper(90, keep_zsk=False)),
        ZoneDef("manytags.lab.", ATTACK, child_zone(), SPECS["manytags.lab."],
                tamper=tags_tamper(300, keep_zsk=True)),
        ZoneDef("sigs.lab.", ATTACK, child_zone(CNAMES), SPECS["sigs.lab."], tamper=sigs_tamper),
        ZoneDef("iter.lab.", ATTACK, child_zone(f"sub NS ns.sub\nns.sub A {CHILD}\n"),
                SPECS["iter.lab."]),
        ZoneDef("sub.iter.lab.", CHILD, child_zone().replace(ATTACK, CHILD)),
        ZoneDef("forged.lab.", ATTACK, child_zone(), SPECS["forged.lab."], tamper=forged_nsec3),
        ZoneDef("long.lab.", ATTACK, child_zone(MORE_NAMES), SPECS["long.lab."]),
    ]


@pytest.fixture(scope="module")
def lab(loop_thread: LoopThread, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tree = build_tree(zone_defs())
    net = tree.network
    loop_thread.run(net.start())
    paths = net.write_outputs(tmp_path_factory.mktemp("lab"))
    try:
        yield Served(net, paths["hints"], [paths["ds"]], [],
                     extra={"tree": tree, "runner": loop_thread})
    finally:
        loop_thread.run(net.stop())


class Meter:
    """Counts the validator's work: per-query budgets, signature checks and NSEC3 hashes
    (with their iteration counts) made in the main thread (not by the test servers)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.budgets: list[Budget] = []
        self.verifies = 0
        self.hash_iterations: list[int] = []
        meter = self
        main = threading.main_thread()

        class Recording(Budget):
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, **kwargs)
                meter.budgets.append(self)

        real_verify = algorithms.verify_signature
        real_hash = nsec3.nsec3_hash

        def verify(*args: Any) -> bool:
            meter.verifies += 1
            return real_verify(*args)

        def nsec3_hash(name: Name, salt: bytes, iterations: int,
                       budget: Budget | None = None) -> bytes:
            if threading.current_thread() is main:
                meter.hash_iterations.append(iterations)
            return real_hash(name, salt, iterations, budget)

        monkeypatch.setattr(service, "Budget", Recording)
        monkeypatch.setattr(algorithms, "verify_signature", verify)
        monkeypatch.setattr(nsec3, "nsec3_hash", nsec3_hash)
        monkeypatch.setattr(chain, "nsec3_hash", nsec3_hash)

    @property
    def last(self) -> Budget:
        return self.budgets[-1]


@pytest.fixture
def meter(monkeypatch: pytest.MonkeyPatch) -> Meter:
    return Meter(monkeypatch)


def ask(resolver: Resolver, name: str, rtype: int = RRType.A) -> Answer:
    return run(resolver.resolve(Name.from_text(name), rtype))


def warm(lab: Served) -> Resolver:
    """A resolver that already holds the keys of lab. (so counts are about the attack)."""
    resolver = lab.resolver()
    assert ask(resolver, "www.lab.").rcode == Rcode.NXDOMAIN
    return resolver


def test_control_zones_are_secure(lab: Served) -> None:
    resolver = lab.resolver()
    for name in ("www.good.lab.", "www.iter.lab.", "www.long.lab.", "ok.sigs.lab."):
        answer = ask(resolver, name)
        assert (answer.rcode, answer.security) == (Rcode.NOERROR, Security.SECURE), \
            (name, answer.reason)


def test_colliding_key_tags_try_two_keys_then_fail(lab: Served, meter: Meter) -> None:
    tree = lab.extra["tree"]
    zsk = _keys(tree.signed["tags.lab."])[1]
    resolver = warm(lab)
    before = meter.verifies
    answer = ask(resolver, "www.tags.lab.")
    assert (answer.rcode, answer.security) == (Rcode.SERVFAIL, Security.BOGUS)
    assert answer.reason is not None and answer.reason.problem == Problem.BUDGET_EXCEEDED
    assert f"tag {key_tag(zsk.dnskey_rdata())}" in answer.reason.detail
    assert [code for code, _ in answer.ede] == [6]
    # DS for tags.lab. (1), its DNSKEY set (1, by the KSK), then 2 of the 90 keys
    assert meter.last.used_verifications <= 2 + LIMITS.keys_per_tag
    assert meter.verifies - before == meter.last.used_verifications


def test_hundreds_of_keys_are_bounded(lab: Served, meter: Meter) -> None:
    resolver = warm(lab)
    started = time.monotonic()
    answer = ask(resolver, "www.manytags.lab.")
    assert (answer.rcode, answer.security) == (Rcode.SERVFAIL, Security.BOGUS)
    assert answer.ede and answer.ede[0][0] in (6, 9)
    assert meter.last.used_verifications <= 2 + LIMITS.keys_per_tag
    assert time.monotonic() - started < 2.0


def test_many_rrsigs_stop_at_eight_checks(lab: Served, meter: Meter) -> None:
    resolver = warm(lab)
    assert ask(resolver, "ok.sigs.lab.").security == Security.SECURE   # keys now cached
    before = meter.verifies
    answer = ask(resolver, "www.sigs.lab.")
    assert (answer.rcode, answer.security) == (Rcode.SERVFAIL, Security.BOGUS)
    assert [code for code, _ in answer.ede] == [6]
    assert 0 < meter.verifies - before <= LIMITS.sigs_per_rrset
    assert meter.last.used_verifications <= LIMITS.sigs_per_rrset


def test_chain_of_trap_rrsets_stops_at_the_query_budget(lab: Served, meter: Meter) -> None:
    resolver = lab.resolver()
    answer = ask(resolver, "c1.sigs.lab.")
    assert (answer.rcode, answer.security) == (Rcode.SERVFAIL, Security.BOGUS)
    assert meter.last.used_verifications <= LIMITS.verifications
    assert meter.verifies <= LIMITS.verifications
    # the budget of one query is not the zone's fault: other names still validate
    ok = ask(resolver, "ok.sigs.lab.")
    assert ok.security == Security.SECURE, ok.reason


def test_nsec3_iterations_above_the_limit_are_insecure_unhashed(lab: Served,
                                                                meter: Meter) -> None:
    resolver = warm(lab)
    answers = [ask(resolver, "nope.iter.lab."), ask(resolver, "www.iter.lab.", RRType.MX),
               ask(resolver, "foo.wild.iter.lab."), ask(resolver, "www.sub.iter.lab.")]
    assert [(a.rcode, a.security) for a in answers] == [
        (Rcode.NXDOMAIN, Security.INSECURE), (Rcode.NOERROR, Security.INSECURE),
        (Rcode.NOERROR, Security.INSECURE), (Rcode.NOERROR, Security.INSECURE)]
    for answer in answers:      # denial, NODATA, wildcard proof, insecure referral
        assert [code for code, _ in answer.ede] == [27], answer.ede
        assert "iter.lab." in answer.ede[0][1]
    assert all(i <= LIMITS.nsec3_iterations for i in meter.hash_iterations), \
        "never hash with more than 50 iterations"


def test_unverified_nsec3_with_many_iterations_is_bogus(lab: Served, meter: Meter) -> None:
    """RFC 9276 s3.2: the iteration count counts only once the NSEC3 RRSIG verifies."""
    resolver = warm(lab)
    answer = ask(resolver, "nope.forged.lab.")
    assert (answer.rcode, answer.security) == (Rcode.SERVFAIL, Security.BOGUS)
    assert answer.ede and answer.ede[0][0] != 27
    assert all(i <= LIMITS.nsec3_iterations for i in meter.hash_iterations)


LONG = "a." * 120


def test_long_names_under_nsec3_stay_within_the_hash_budget(lab: Served, meter: Meter) -> None:
    resolver = warm(lab)
    started = time.monotonic()
    answer = ask(resolver, f"{LONG}long.lab.")
    assert (answer.rcode, answer.security) == (Rcode.NXDOMAIN, Security.SECURE), answer.reason
    assert len(meter.hash_iterations) <= LIMITS.nsec3_hashes
    assert meter.last.used_hashes <= LIMITS.nsec3_hashes
    assert time.monotonic() - started < 3.0


def test_too_many_nsec3_records_are_bogus_before_any_crypto(lab: Served, meter: Meter) -> None:
    tree = lab.extra["tree"]
    zone = Name.from_text("long.lab.")
    extra = [rr for rr in tree.signed["long.lab."].records
             if rr.rtype == RRType.NSEC3 or (rr.rtype == RRType.RRSIG and
                                             covered(rr) == RRType.NSEC3)]
    assert sum(rr.rtype == RRType.NSEC3 for rr in extra) > LIMITS.nsec3_records
    server = lab.net.servers[ATTACK]

    def pad(msg: Any) -> None:
        if msg.rcode == Rcode.NXDOMAIN and msg.question[0].name.is_subdomain(zone):
            have = {(rr.name.key, rr.rtype, rr.rdata) for rr in msg.authority}
            msg.authority += [rr for rr in extra if (rr.name.key, rr.rtype, rr.rdata)
                              not in have]
    runner: LoopThread = lab.extra["runner"]
    undo = runner.run(_install(server, pad))
    try:
        resolver = warm(lab)
        assert ask(resolver, "www.long.lab.").security == Security.SECURE
        before = meter.verifies
        answer = ask(resolver, "nope.long.lab.")
    finally:
        runner.run(_call(undo))
    assert (answer.rcode, answer.security) == (Rcode.SERVFAIL, Security.BOGUS)
    assert answer.reason is not None and answer.reason.problem == Problem.TOO_MANY_NSEC3
    assert meter.verifies - before <= 1        # the SOA at most, no NSEC3 signature
    assert not [i for i in meter.hash_iterations if i == 50]


async def _install(server: Any, editor: Callable[[Any], None]) -> Callable[[], None]:
    return edit_replies(server, editor)


async def _call(fn: Callable[[], None]) -> None:
    fn()


def test_attacks_do_not_stall_other_queries(lab: Served, meter: Meter) -> None:
    """Attack queries and ordinary ones at the same time, on one resolver: every
    ordinary query is answered (secure) promptly; every attack ends in SERVFAIL or an
    insecure answer within the budgets."""
    async def body() -> tuple[list[tuple[str, Answer, float]], list[Answer], float]:
        resolver = lab.resolver()
        await resolver.resolve(Name.from_text("www.good.lab."), RRType.A)   # prime the root

        async def timed(name: str, rtype: int = RRType.A) -> tuple[str, Answer, float]:
            started = time.monotonic()
            answer = await resolver.resolve(Name.from_text(name), rtype)
            return name, answer, time.monotonic() - started

        attacks = [resolver.resolve(Name.from_text(n), RRType.A) for n in (
            ["www.tags.lab.", "www.manytags.lab.", "c1.sigs.lab.", "c2.sigs.lab."]
            + [f"nope{i}.iter.lab." for i in range(4)]
            + [f"nope{i}.forged.lab." for i in range(4)]
            + [f"{'b.' * (100 + i)}long.lab." for i in range(6)])]
        normal = [timed(f"n{i}.good.lab.") for i in range(12)]
        normal += [timed(f"x{i}.good.lab.") for i in range(6)]
        normal += [timed("good.lab.", RRType.MX), timed("mx.good.lab.")]
        started = time.monotonic()
        results = await asyncio.gather(*attacks, *normal)
        elapsed = time.monotonic() - started
        attack_answers = [r for r in results[:len(attacks)] if isinstance(r, Answer)]
        normal_answers = [r for r in results[len(attacks):] if isinstance(r, tuple)]
        return normal_answers, attack_answers, elapsed

    normal, attacks, elapsed = run(body())
    for name, answer, took in normal:
        assert answer.security == Security.SECURE, (name, answer.reason)
        assert answer.rcode in (Rcode.NOERROR, Rcode.NXDOMAIN)
        assert took < 3.0, (name, took)
    for answer in attacks:
        assert answer.rcode == Rcode.SERVFAIL or answer.security == Security.INSECURE or \
            answer.qname.is_subdomain(Name.from_text("long.lab.")), answer
    assert elapsed < 10.0
    assert max(b.used_verifications for b in meter.budgets) <= LIMITS.verifications
    assert max(b.used_hashes for b in meter.budgets) <= LIMITS.nsec3_hashes
