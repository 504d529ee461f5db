"""Issue 13, section 3: a forgery fuzzer over the signed zones/ hierarchy.

An attacker on the path can rewrite any reply an authoritative server sends. For
questions in the secure zones (secure.example., nsec3.example., example., internal.,
glueless.example., the signed part of optout.example.; data of many types, wildcard
expansions, CNAME and DNAME chains, NODATA and NXDOMAIN), one server tampers with its
replies using a mutation of :mod:`resolver.testnet.tamper` (an RDATA byte, an RRset of
another name or zone, the RRSIG's algorithm, key tag, labels, signer, type covered,
validity, original TTL or signature, RRSIGs dropped or duplicated, NSEC/NSEC3 dropped,
altered or replayed, records added, the rcode changed, the DS of a referral stripped
or forged, the DNSKEY set altered, a fake insecure delegation...). Where it tampers is
the *kind* of a case:

- ``answer``: the replies to the question itself (every link of a CNAME chain);
- ``keys``: the DNSKEY replies of a zone the answer comes from;
- ``parent``: the referral to that zone and its DS answers, on the parent's server.

The invariant, for every case: the resolver (fresh, with empty caches) answers with
exactly the genuine data (the set of (owner, type, RDATA) of the answer section, and
the rcode) and Security.SECURE, or with SERVFAIL. Never other data, never "insecure".
Harmless mutations (an extra RRSIG with an unknown algorithm, a TTL lowered, ...) must
still give the genuine data, secure. And a secure answer never lives longer than the
genuine one: TTLs raised on the path are capped by the RRSIG's original TTL (RFC 4035
s5.3.3), or the message cache would keep forged lifetimes. Then, with the forgery
gone and the same caches, a second question (the same one, one in the same zone, or
any) must keep the invariant too: nothing forged may have stuck in a cache.

The random part is seeded and bounded: FORGERY_CASES cases (default 2500, about 25 s
here) or FORGERY_SECONDS seconds (default 40), whichever comes first, and at least
FORGERY_MIN_CASES (default 250) must have run, so that a slow machine does not
silently test nothing. Case *i* draws from ``random.Random(f"{seed}/{i}")`` a mutation
(uniformly), then a kind and a question it applies to (tried offline on the genuine
replies), qname minimisation on or off, and the second question; a case whose
forgery never applied live is skipped and not counted. The seed is random unless
FORGERY_SEED is set; it is printed at the start (visible with ``-s``) and in every
failure, with the command to replay it::

    FORGERY_SEED=<seed> .venv/bin/python -m pytest tests/validation/test_forgery_fuzz.py -s
    FORGERY_SEED=<seed> FORGERY_ONLY=17,42 ...      # only cases 17 and 42 of that seed

``make fuzz`` runs a long campaign (FORGERY_CASES=50000, up to 20 minutes).
"""

from __future__ import annotations

import dataclasses
import os
import random
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import pytest

from resolver.answer import Answer
from resolver.dnssec.status import Security
from resolver.service import Resolver
from resolver.testnet.server import AuthServer
from resolver.testnet.tamper import (
    BY_NAME,
    MUTATIONS,
    Context,
    Forgery,
    Match,
    Mutation,
    Tap,
    claim_algorithm,
    dry_run,
    forged_ds_claiming,
)
from resolver.wire import message as wm
from resolver.wire.message import Message
from resolver.wire.name import Name
from resolver.wire.types import Rcode, RRType, rcode_to_text, type_from_text, type_to_text

from .conftest import Served, run

SECURE = Security.SECURE
KINDS = ("answer", "keys", "parent")
KIND_WEIGHTS = (6, 2, 2)
CASE_TIMEOUT = 30.0
TEST = "tests/validation/test_forgery_fuzz.py"


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


# --------------------------------------------------------------------------
# the questions

@dataclass(frozen=True, slots=True)
class Question:
    name: str
    rtype: str

    def __str__(self) -> str:
        return f"{self.name} {self.rtype}"


def _q(zone: str, pairs: str) -> list[Question]:
    """'www A, @ MX, ...' relative to *zone*."""
    out = []
    for item in pairs.split(","):
        owner, rtype = item.split()
        out.append(Question(zone if owner == "@" else f"{owner}.{zone}", rtype))
    return out


SMIMEA_OWNER = "2bd806c97f0e00af1a1fc3328fa763a9269723c8db8fac4f93af71db._smimecert"
PGP_OWNER = "2bd806c97f0e00af1a1fc3328fa763a9269723c8db8fac4f93af71db._openpgpkey"

# data that exists (MX, TLSA, TXT, CNAME, DNAME, ...), NODATA (an ENT too), NXDOMAIN
QUESTIONS: list[Question] = [
    *_q("secure.example.", "www A, www AAAA, ok A, a.ent A, mx1 A, mx1 AAAA, @ MX, @ TXT, "
        "@ SOA, @ NS, @ DNSKEY, _25._tcp.mx1 TLSA, sel1._domainkey TXT, _dmarc TXT, "
        f"{SMIMEA_OWNER} SMIMEA, {PGP_OWNER} OPENPGPKEY, txt TXT, ns A, big TXT, "
        "cname-secure A, cname-secure CNAME, cname-nx A, www.dname A, "
        "www TXT, www MX, ent A, _25._tcp.www TLSA, nope A"),
    *_q("nsec3.example.", "www A, www AAAA, @ MX, mx1 A, _25._tcp.mx1 TLSA, "
        "ed1._domainkey TXT, _dmarc TXT, @ DNSKEY, @ SOA, txt TXT, "
        "www TXT, ent A, _25._tcp.www TLSA, nope A"),
    *_q("example.", "www A, @ SOA, @ NS, @ DNSKEY, secure DS, nsec3 DS, glueless DS, "
        "optout DS, insecure DS, www TXT, nope A"),
    *_q("internal.", "www A, secure-mail A, secure-mail CNAME, @ SOA, www TXT, nope A"),
    *_q("glueless.example.", "www A, @ SOA, @ DNSKEY, www TXT, nope A"),
    *_q("optout.example.", "www A, mx1 AAAA, _25._tcp.mx1 TLSA, @ MX, @ DNSKEY, www TXT"),
]


def random_questions(rng: random.Random) -> list[Question]:
    """Wildcard expansions (positive and NODATA) and NXDOMAIN names, new each seed."""
    def label() -> str:
        return rng.choice(["x", "foo", "r", "mail", "a-b"]) + str(rng.randrange(10 ** 6))
    out = []
    # (not optout.example.: its wildcard answers rest on an opt-out span, insecure)
    for zone in ("secure.example.", "nsec3.example."):
        out += [Question(f"{label()}.wild.{zone}", "A"),
                Question(f"{label()}.wild.{zone}", rng.choice(["TXT", "AAAA", "MX"])),
                Question(f"{label()}.{label()}.wild.{zone}", rng.choice(["A", "TXT"]))]
    for zone in ("secure.example.", "nsec3.example.", "example.", "internal.",
                 "glueless.example."):
        out += [Question(f"{label()}.{zone}", rng.choice(["A", "AAAA", "TXT", "TLSA"])),
                Question(f"{label()}.{label()}.{zone}", "A")]
    return out


# --------------------------------------------------------------------------
# answers

def data_of(answer: Answer) -> frozenset[tuple[bytes, int, int, bytes]]:
    """The answer section as a set of (owner, type, class, canonical RDATA)."""
    return frozenset(rr.key() for rs in answer.answer for rr in rs.records())


def describe(answer: Answer) -> str:
    data = "; ".join(f"{rr.name} {type_to_text(rr.rtype)} {rr.to_text().split(chr(9))[-1][:60]}"
                     for rs in answer.answer for rr in rs.records())
    ede = f" EDE {answer.ede}" if answer.ede else ""
    return f"{rcode_to_text(answer.rcode)} {answer.security.label} [{data}]{ede}"


def fresh_resolver(served: Served, qmin: bool) -> Resolver:
    return served.resolver(qname_minimisation=qmin, trust_anchor_signaling=False)


async def ask(resolver: Resolver, question: Question) -> Answer:
    return await resolver.resolve(Name.from_text(question.name),
                                  type_from_text(question.rtype))


def resolve(served: Served, question: Question, qmin: bool) -> Answer:
    """The answer of a fresh resolver (empty caches)."""
    return run(ask(fresh_resolver(served, qmin), question), CASE_TIMEOUT)


@dataclass(slots=True)
class Genuine:
    question: Question
    answer: Answer
    data: frozenset[tuple[bytes, int, int, bytes]]
    zones: list[Name]        # the zones the answer comes from, the question's first
    names: list[Name]        # the question's name, then the CNAME targets

    @property
    def qtype(self) -> int:
        return type_from_text(self.question.rtype)


@dataclass(slots=True)
class Target:
    """Where a case tampers: the replies of *kind* for *zone* (None: every zone of
    the answer)."""

    genuine: Genuine
    kind: str
    zone: Name | None

    def __str__(self) -> str:
        where = f" {self.zone}" if self.zone is not None and self.kind != "answer" else ""
        return f"{self.genuine.question} [{self.kind}{where}]"


def violation(genuine: Genuine, got: Answer, harmless: bool) -> str | None:
    """What is wrong with *got*, or None if it keeps the invariant."""
    if got.rcode == genuine.answer.rcode and got.security == SECURE and \
            data_of(got) == genuine.data:
        return stretched(genuine, got)
    if got.rcode == Rcode.SERVFAIL:
        return "SERVFAIL after a harmless change" if harmless else None
    if got.security != SECURE:
        return f"accepted as {got.security.label}"
    if got.rcode != genuine.answer.rcode:
        return "another rcode, secure"
    return "other data, secure"


def _ancestors(name: Name) -> Iterator[Name]:
    while not name.is_root():
        name = name.parent()
        yield name


def stretched(genuine: Genuine, got: Answer) -> str | None:
    """A validated answer may not live longer than the genuine one: an RRset's TTL is
    capped by its RRSIG's original TTL (RFC 4035 s5.3.3), whatever TTL came in. The
    genuine answer, from a fresh resolver, carries the zone's TTLs."""
    limits = {(rs.name.key, rs.rtype): rs.ttl
              for rs in genuine.answer.answer + genuine.answer.authority}
    for rs in got.answer + got.authority:
        limit = limits.get((rs.name.key, rs.rtype))
        if limit is not None and rs.ttl > limit:
            return f"TTL stretched: {rs.name} {type_to_text(rs.rtype)} TTL {rs.ttl} > {limit}"
    if got.ttl > genuine.answer.ttl:
        return f"TTL stretched: the answer's TTL {got.ttl} > {genuine.answer.ttl}"
    return None


# --------------------------------------------------------------------------
# the network: which servers answer what

@dataclass(slots=True)
class Net:
    served: Served
    _contexts: dict[bytes, Context] = field(default_factory=dict)
    _replies: dict[tuple[str, bytes, int], bytes | None] = field(default_factory=dict)

    @property
    def origins(self) -> list[Name]:
        return [z.origin for z in self.served.net.zones.values()]

    def zone_of(self, name: Name, rtype: int) -> Name:
        """The zone whose server answers (name, rtype): DS at a cut from the parent."""
        best: Name | None = None
        for origin in self.origins:
            if not name.is_subdomain(origin):
                continue
            if rtype == RRType.DS and origin.key == name.key and not name.is_root():
                continue
            if best is None or len(origin) > len(best):
                best = origin
        assert best is not None, name
        return best

    def parent_of(self, zone: Name) -> Name | None:
        best: Name | None = None
        for origin in self.origins:
            if zone.is_strict_subdomain(origin) and (best is None or len(origin) > len(best)):
                best = origin
        return best

    def servers(self, zone: Name) -> list[AuthServer]:
        return [s for s in self.served.net.servers.values() if zone.key in s.zones]

    def context(self, zone: Name) -> Context:
        found = self._contexts.get(zone.key)
        if found is None:
            zones = self.served.net.zones
            found = Context.of(zones[zone.key], list(zones.values()))
            self._contexts[zone.key] = found
        return found

    def genuine(self, question: Question) -> Genuine:
        answer = resolve(self.served, question, True)
        qtype = type_from_text(question.rtype)
        names = [Name.from_text(question.name)]      # and the CNAME targets it asks for
        if qtype != RRType.CNAME:
            names += answer.cname_chain()
        unique = list({n.key: n for n in reversed(names)}.values())[::-1]
        zones = list({self.zone_of(n, qtype).key: self.zone_of(n, qtype)
                      for n in reversed(unique)}.values())[::-1]
        return Genuine(question, answer, data_of(answer), zones, unique)

    def targets(self, genuine: Genuine) -> list[Target]:
        out = [Target(genuine, "answer", None)]
        for zone in genuine.zones:
            out.append(Target(genuine, "keys", zone))
            if self.parent_of(zone) is not None:
                out.append(Target(genuine, "parent", zone))
        return out

    def taps(self, target: Target) -> list[Tap]:
        genuine = target.genuine
        if target.kind == "answer":
            wanted = {(n.key, genuine.qtype) for n in genuine.names}
            # with qname minimisation the resolver asks for the names between the zone
            # and the question's name first (and may stop there: RFC 8020)
            between = {a.key for n in genuine.names for a in _ancestors(n)
                       if a.is_strict_subdomain(self.zone_of(n, genuine.qtype))}

            def asked(query: Message, reply: Message) -> bool:
                q = query.question[0]
                return (q.name.key, q.qtype) in wanted or q.name.key in between
            return [self._tap(z, asked) for z in genuine.zones]
        zone = target.zone if target.zone is not None else genuine.zones[0]
        if target.kind == "keys":
            def keys(query: Message, reply: Message) -> bool:
                q = query.question[0]
                return q.qtype == RRType.DNSKEY and q.name.key == zone.key
            return [self._tap(zone, keys)]
        parent = self.parent_of(zone)
        assert parent is not None, zone

        def delegation(query: Message, reply: Message) -> bool:
            q = query.question[0]
            if q.qtype == RRType.DS and q.name.key == zone.key:
                return True
            return not reply.answer and any(rr.rtype == RRType.NS and rr.name.key == zone.key
                                            for rr in reply.authority)
        return [self._tap(parent, delegation)]

    def _tap(self, zone: Name, match: Match) -> Tap:
        return Tap(zone, self.servers(zone), match, self.context(zone))

    # the genuine replies a target's forgery would see, asked offline (over TCP: whole)
    def sample_replies(self, target: Target) -> list[tuple[str, Context, Message]]:
        genuine = target.genuine
        asks: list[tuple[Name, Name, int]] = []      # (zone of the server, qname, qtype)
        if target.kind == "answer":
            asks = [(self.zone_of(n, genuine.qtype), n, genuine.qtype) for n in genuine.names]
        else:
            zone = target.zone if target.zone is not None else genuine.zones[0]
            if target.kind == "keys":
                asks = [(zone, zone, RRType.DNSKEY)]
            else:
                parent = self.parent_of(zone)
                assert parent is not None
                qname = Name.from_text(genuine.question.name)
                referral = qname if qname.is_subdomain(zone) else zone
                asks = [(parent, zone, RRType.DS), (parent, referral, genuine.qtype)]
        out = []
        for zone, qname, qtype in asks:
            for server in self.servers(zone):
                key = (server.address, qname.key, qtype)
                if key not in self._replies:
                    query = wm.make_query(qname, qtype, msg_id=1)
                    wire, _ = server.answer(query.to_wire(), "tcp")
                    self._replies[key] = wire
                wire = self._replies[key]
                if wire is not None:
                    out.append((server.address, self.context(zone), wm.parse(wire)))
        return out


# --------------------------------------------------------------------------
# one case

@dataclass(slots=True)
class Case:
    index: int
    seed: str
    target: Target
    mutation: Mutation
    qmin: bool
    probe: Genuine | None = None   # asked next, forgery gone, with the same caches
    applied: list[str] = field(default_factory=list)
    got: Answer | None = None
    probe_got: Answer | None = None
    error: str | None = None
    problem: str | None = None

    @property
    def genuine(self) -> Genuine:
        return self.target.genuine

    def report(self) -> str:
        what = "harmless" if self.mutation.harmless else "meaning-changing"
        lines = [f"case {self.index} (seed {self.seed}): {self.target} "
                 f"qmin={'on' if self.qmin else 'off'} {self.mutation.name} ({what}): "
                 f"{self.problem}"]
        lines += [f"    forged: {a}" for a in self.applied[:4]]
        if len(self.applied) > 4:
            lines.append(f"    ... {len(self.applied) - 4} more replies forged")
        lines.append(f"    genuine: {describe(self.genuine.answer)}")
        got = describe(self.got) if self.got is not None else self.error
        lines.append(f"    got:     {got}")
        if self.got is not None and self.got.reason is not None:
            lines.append(f"    reason:  {self.got.reason}")
        if self.probe is not None and self.probe_got is not None:
            lines.append(f"    then, forgery gone, same caches: {self.probe.question}")
            lines.append(f"      genuine: {describe(self.probe.answer)}")
            lines.append(f"      got:     {describe(self.probe_got)}")
            if self.probe_got.reason is not None:
                lines.append(f"      reason:  {self.probe_got.reason}")
        return "\n".join(lines)


def play(net: Net, case: Case) -> bool:
    """Run *case* with a fresh resolver: the question under forgery, then the probe
    question (if any) with the forgery gone and the same caches, which must not have
    kept anything forged. False if the forgery never applied."""
    forgery = Forgery(case.mutation, case.seed, net.taps(case.target))

    async def body() -> None:
        resolver = fresh_resolver(net.served, case.qmin)
        with forgery.installed():
            case.got = await ask(resolver, case.genuine.question)
        if case.probe is not None and forgery.applied:
            case.probe_got = await ask(resolver, case.probe.question)

    try:
        run(body(), CASE_TIMEOUT)
    except Exception as exc:  # noqa: BLE001 - a crash breaks the invariant too
        case.error = f"{type(exc).__name__}: {exc}"
    case.applied = forgery.applied
    if forgery.crashes:
        case.problem = f"the mutation itself raised {forgery.crashes[0]} " \
                       "(a bug in resolver.testnet.tamper)"
        return True
    if not case.applied:
        return False
    if case.error is not None:
        case.problem = "the resolver raised"
        return True
    assert case.got is not None
    case.problem = violation(case.genuine, case.got, case.mutation.harmless)
    if case.problem is None and case.probe is not None and case.probe_got is not None:
        problem = violation(case.probe, case.probe_got, case.mutation.harmless)
        if problem is not None:
            case.problem = f"cache poisoned, {problem} (next question {case.probe.question})"
    return True


def genuine_answers(net: Net, questions: Sequence[Question]) -> list[Genuine]:
    out = []
    for question in questions:
        genuine = net.genuine(question)
        assert genuine.answer.security == SECURE and genuine.answer.rcode != Rcode.SERVFAIL, \
            f"{question} must be secure untampered: {describe(genuine.answer)} " \
            f"({genuine.answer.reason})"
        out.append(genuine)
    return out


class Drawer:
    """Draws the targets a mutation applies to, checked offline on genuine replies
    (deterministic: the same seed draws the same cases, whatever runs)."""

    def __init__(self, net: Net, targets: list[Target]) -> None:
        self.net = net
        self.by_kind = {kind: [t for t in targets if t.kind == kind] for kind in KINDS}
        self._applies: dict[tuple[int, str], bool] = {}

    def applies(self, mutation: Mutation, target: Target) -> bool:
        key = (id(target), mutation.name)
        found = self._applies.get(key)
        if found is None:
            found = any(dry_run(mutation, reply, dataclasses.replace(ctx, address=address))
                        is not None for address, ctx, reply in self.net.sample_replies(target))
            self._applies[key] = found
        return found

    def draw(self, mutation: Mutation, rng: random.Random) -> Target | None:
        kinds, weights = list(KINDS), list(KIND_WEIGHTS)
        while kinds:
            i = rng.choices(range(len(kinds)), weights)[0]
            pool = self.by_kind[kinds[i]]
            for target in rng.sample(pool, len(pool)):
                if self.applies(mutation, target):
                    return target
            del kinds[i], weights[i]
        return None


def draw_probe(first: Genuine, genuine: Sequence[Genuine], rng: random.Random) -> Genuine:
    """The question asked after the forged one: the same again, one in the same zones
    (a name the forged replies may have cached something about), or any."""
    pick = rng.random()
    if pick < 0.35:
        return first
    zones = {z.key for z in first.zones}
    near = [g for g in genuine if g is not first and zones & {z.key for z in g.zones}]
    if pick < 0.8 and near:
        return rng.choice(near)
    return rng.choice(list(genuine))


@pytest.fixture(scope="module")
def net(zones: Served) -> Net:
    return Net(zones)


@pytest.fixture(autouse=True)
def faults_restored(zones: Served) -> Iterator[None]:
    """Every forgery leaves the servers' faults exactly as it found them (the
    manifest's own faults included)."""
    before = {addr: dict(server.faults) for addr, server in zones.net.servers.items()}
    yield
    after = {addr: dict(server.faults) for addr, server in zones.net.servers.items()}
    assert after.keys() == before.keys()
    for addr, faults in before.items():
        assert after[addr].keys() == faults.keys(), addr
        assert all(after[addr][k] is v for k, v in faults.items()), addr


# --------------------------------------------------------------------------
# the fuzzer

def test_forgeries_give_genuine_data_or_servfail(net: Net) -> None:
    seed = _env_int("FORGERY_SEED", random.SystemRandom().randrange(10 ** 9))
    cases = _env_int("FORGERY_CASES", 2500)
    seconds = float(os.environ.get("FORGERY_SECONDS", "") or 40)
    minimum = min(cases, _env_int("FORGERY_MIN_CASES", 250))
    only = {int(i) for i in os.environ.get("FORGERY_ONLY", "").split(",") if i.strip()}
    replay = f"FORGERY_SEED={seed} .venv/bin/python -m pytest -s " \
             f"{TEST}::test_forgeries_give_genuine_data_or_servfail"
    print(f"\nforgery fuzz: seed {seed}, up to {cases} cases or {seconds:g} s; replay: {replay}")

    start = time.monotonic()
    genuine = genuine_answers(net, QUESTIONS + random_questions(random.Random(seed)))
    drawer = Drawer(net, [t for g in genuine for t in net.targets(g)])
    ran = skipped = 0
    failed: list[Case] = []
    per_mutation: Counter[str] = Counter()
    index = -1
    while ran < cases and time.monotonic() - start < seconds:
        index += 1
        if only and index > max(only):
            break
        rng = random.Random(f"{seed}/{index}")
        mutation = rng.choice(MUTATIONS)
        target = drawer.draw(mutation, rng)
        qmin = rng.random() < 0.5
        if target is None or (only and index not in only):
            continue
        probe = draw_probe(target.genuine, genuine, rng)
        case = Case(index, f"{seed}/{index}", target, mutation, qmin, probe)
        if not play(net, case):
            skipped += 1
            continue
        ran += 1
        per_mutation[mutation.name] += 1
        if case.problem is not None:
            failed.append(case)
    elapsed = time.monotonic() - start
    print(f"forgery fuzz: seed {seed}: {ran} cases in {elapsed:.1f} s ({skipped} did not "
          f"apply live), {len(failed)} violations; per mutation: "
          f"{dict(sorted(per_mutation.items()))}")

    if failed:
        by_class: dict[tuple[str, str, str], list[Case]] = {}
        for c in failed:
            key = (c.mutation.name, c.target.kind, (c.problem or "").split(":")[0])
            by_class.setdefault(key, []).append(c)
        summary = "\n".join(f"  {len(cs)} x {m} [{k}]: {p}" for (m, k, p), cs in
                            sorted(by_class.items(), key=lambda item: -len(item[1])))
        shown = [c for cs in by_class.values() for c in cs[:3]][:40]   # a few of each class
        details = "\n".join(c.report() for c in shown)
        more = f"\n... and {len(failed) - len(shown)} more" if len(failed) > len(shown) else ""
        pytest.fail(f"forgery fuzz, seed {seed}: {len(failed)} of {ran} cases broke the "
                    f"invariant (genuine data and SECURE, or SERVFAIL)\nreplay: {replay}\n"
                    f"by class:\n{summary}\n{details}{more}", pytrace=False)
    if not only:
        assert ran >= minimum, f"seed {seed}: only {ran} cases ran in {elapsed:.1f} s " \
                               f"(at least {minimum} wanted; is the machine very slow?)"


# --------------------------------------------------------------------------
# the headline forgeries, always run

ALG = 253
ANY_SIG = claim_algorithm(ALG)
KEY_SIGS = claim_algorithm(ALG, frozenset({RRType.DNSKEY}))
HEADLINE = [
    # the only RRSIG over the data claims algorithm 253 (the zones are ECDSA / Ed25519)
    ("www.secure.example.", "A", "answer", ANY_SIG),
    ("_25._tcp.mx1.secure.example.", "TLSA", "answer", ANY_SIG),
    ("_25._tcp.mx1.nsec3.example.", "TLSA", "answer", ANY_SIG),
    ("foo.wild.secure.example.", "A", "answer", ANY_SIG),
    ("cname-secure.secure.example.", "A", "answer", ANY_SIG),
    # the DS at the parent replaced by a forged DS, its RRSIG claiming algorithm 253
    ("www.secure.example.", "A", "parent", forged_ds_claiming(ALG)),
    ("www.example.", "A", "parent", forged_ds_claiming(ALG)),
    ("secure.example.", "DS", "answer", forged_ds_claiming(ALG)),
    # the DNSKEY RRset with only algorithm-253 RRSIGs
    ("www.secure.example.", "A", "keys", KEY_SIGS),
    ("www.nsec3.example.", "A", "keys", KEY_SIGS),
    # NXDOMAIN and NODATA whose NSEC/NSEC3 and SOA RRSIGs all claim algorithm 253
    ("nope.secure.example.", "A", "answer", ANY_SIG),
    ("nope.nsec3.example.", "A", "answer", ANY_SIG),
    ("nope.example.", "A", "answer", ANY_SIG),
    ("www.secure.example.", "TXT", "answer", ANY_SIG),
    ("www.nsec3.example.", "TXT", "answer", ANY_SIG),
    ("insecure.example.", "DS", "answer", ANY_SIG),
]


@pytest.mark.parametrize(("name", "rtype", "kind", "mutation"), HEADLINE,
                         ids=[f"{n}{t}-{k}" for n, t, k, _ in HEADLINE])
def test_headline_forgeries_are_servfail(net: Net, name: str, rtype: str, kind: str,
                                         mutation: Mutation) -> None:
    (genuine,) = genuine_answers(net, [Question(name, rtype)])
    for qmin in (True, False):
        case = Case(0, "headline", Target(genuine, kind, None), mutation, qmin)
        assert play(net, case), f"{mutation.name} did not apply"
        assert case.got is not None and case.got.rcode == Rcode.SERVFAIL, case.report()


# --------------------------------------------------------------------------
# harmless mutations, each on a few shapes of answer, always run

HARMLESS = [m for m in MUTATIONS if m.harmless]
SHAPES = [("www.secure.example.", "A", "answer"), ("nope.nsec3.example.", "A", "answer"),
          ("foo.wild.secure.example.", "A", "answer"), ("www.secure.example.", "TXT", "answer"),
          ("www.nsec3.example.", "A", "keys"), ("www.secure.example.", "A", "parent")]


@pytest.mark.parametrize("mutation", HARMLESS, ids=[m.name for m in HARMLESS])
def test_harmless_changes_still_validate(net: Net, mutation: Mutation) -> None:
    problems = []
    for name, rtype, kind in SHAPES:
        (genuine,) = genuine_answers(net, [Question(name, rtype)])
        for seed in range(2):
            case = Case(seed, f"harmless/{seed}", Target(genuine, kind, None), mutation,
                        seed == 0, probe=genuine)
            if not play(net, case):
                problems.append(f"{mutation.name} did not apply to {name} {rtype} [{kind}]")
            elif case.problem is not None:
                problems.append(case.report())
    assert not problems, "\n".join(problems)


def test_catalogue_covers_the_issue() -> None:
    """Every forgery the issue lists has a mutation (a guard against pruning)."""
    wanted = {"rdata_byte", "rrset_swapped", "sig_algorithm", "sig_key_tag", "sig_labels",
              "sig_signer", "sig_type_covered", "sig_validity", "sig_bytes", "sigs_dropped",
              "sig_duplicated", "denial_dropped", "denial_altered", "denial_sigs_dropped",
              "record_added", "rcode_nxdomain", "ds_stripped", "ds_forged",
              "unknown_alg_sig_added", "ttl_lowered"}
    assert wanted <= set(BY_NAME)
    assert {m.name for m in HARMLESS} >= {"unknown_alg_sig_added", "ttl_lowered",
                                          "sig_duplicated"}
