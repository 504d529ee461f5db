"""Replay .rpl scenarios (Unbound testbound, Deckard) against the resolver.

No sockets: the resolver's upstream queries go to :class:`RangeTransport`, which
answers from the scenario's RANGEs with the matching rules of the file's dialect;
client queries go to :meth:`DnsServer.answer` (after the answer-cache fast path a UDP
client would hit), so the replies checked are exactly what a client would get. Time
is a fake clock started at ``val-override-date`` and moved by TIME_PASSES.

The resolver runs with the scenario's own settings (:func:`run_settings`): QNAME
minimisation and IPv6 as the config block says or as the dialect's software
defaults to, the root stub as root hints or else the hints built into the resolver,
non-root stubs as delegations in its cache, raw client packets sent as they are.
Each result says which settings it ran with.

Every CHECK_ANSWER is judged by two comparators (FORMAT.md s2.8):

* ``semantic`` (decides pass/fail): rcode, opcode, header flags QR AA TC RD RA AD CD,
  question and ANSWER as sets; AUTHORITY only for negative answers and only its
  SOA/NSEC/NSEC3 records and their RRSIGs; EDE not required. For Deckard entries
  that list fields, only the listed fields.
* ``strict``: Unbound's ``MATCH all`` (every section, EDNS presence and DO, the
  message ID, an EDE when ``ede=N`` asks for one) minus record order, UDP size and
  unrequested EDE options; for Deckard entries, Deckard's own per-field comparison.

Usage: ``python tests/conformance/replay.py [-v] FILE...`` prints PASS/FAIL per file,
the reason of each failure and the totals line per suite.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import os
import secrets
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from resolver.cache.rrsets import Rank
from resolver.clock import FixedClock
from resolver.config import Settings, ValidationLimits
from resolver.dnssec.anchors import TrustAnchor, TrustAnchors
from resolver.iterate.transport import (
    Reply,
    Server,
    SpoofSuspected,
    UpstreamTimeout,
)
from resolver.local import DEFAULT_ZONES
from resolver.server.listener import DnsServer
from resolver.service import Resolver
from resolver.wire import message as wm
from resolver.wire import rdata as rd
from resolver.wire.message import RR, Edns, FormError, Message, Question
from resolver.wire.name import Name
from resolver.wire.querykey import query_key
from resolver.wire.rrset import RRset
from resolver.wire.types import (
    DO,
    FLAG_NAMES,
    Rcode,
    RRType,
    opcode_to_text,
    rcode_to_text,
    type_to_text,
)
from tests.conformance.rpl import (
    DECKARD,
    UNBOUND,
    Entry,
    RplError,
    Scenario,
    Step,
    Zone,
    parse_file,
)

RPL_DIR = Path(__file__).resolve().parents[1] / "data" / "rpl"
CLIENT = "127.0.0.1"
UNBOUND_UDP = 1232            # testbound's OPT payload
DECKARD_UDP = 4096            # Deckard's OPT payload
SCENARIO_TIMEOUT = 60.0       # real seconds one scenario may take before it is abandoned
FALLBACK_DATE = 1500000000.0  # clock start when a file gives no date
_FLAG_MASK = 0
for _name, _bit in FLAG_NAMES:
    _FLAG_MASK |= _bit
_DECKARD_ALL = ("opcode", "qtype", "qname", "flags", "rcode", "answer", "authority",
                "additional")
_SECTIONS = ("answer", "authority", "additional")
_PROOF_TYPES = frozenset({RRType.SOA, RRType.NSEC, RRType.NSEC3})


# --------------------------------------------------------------------------
# results

@dataclass(slots=True)
class Verdict:
    """One comparator's verdict on a whole scenario (the first failure is kept)."""

    ok: bool = True
    reason: str | None = None

    def fail(self, reason: str) -> None:
        if self.ok:
            self.ok = False
            self.reason = reason


@dataclass(frozen=True, slots=True)
class RunSettings:
    """The settings a scenario ran with, each with where it came from, so that a
    result measures the resolver under the scenario's configuration and says so."""

    qmin: bool
    qmin_from: str              # "config", "Unbound default", "run option", "QMIN", "default"
    ipv6: bool
    ipv6_from: str              # "config" or "default"
    root_addresses: tuple[str, ...]   # the root stub's; empty: the built-in hints
    stubs: tuple[Zone, ...] = ()      # stub zones below the root

    @property
    def builtin_hints(self) -> bool:
        return not self.root_addresses

    def text(self) -> str:
        hints = "built-in" if self.builtin_hints else "stub " + " ".join(self.root_addresses)
        parts = [f"qmin {'on' if self.qmin else 'off'} ({self.qmin_from})",
                 f"IPv6 {'on' if self.ipv6 else 'off'} ({self.ipv6_from})",
                 f"root hints {hints}"]
        parts += [f"stub {zone.name}" for zone in self.stubs]
        return ", ".join(parts)


@dataclass(slots=True)
class Result:
    name: str
    dialect: str
    semantic: Verdict = field(default_factory=Verdict)
    strict: Verdict = field(default_factory=Verdict)
    checks: int = 0
    seconds: float = 0.0
    error: str | None = None       # the replay itself broke (unreadable file, crash)
    log: list[str] = field(default_factory=list)
    settings: RunSettings | None = None     # None: the replay never got to run

    @property
    def passed(self) -> bool:
        return self.semantic.ok

    def fail_both(self, reason: str) -> None:
        self.semantic.fail(reason)
        self.strict.fail(reason)

    @property
    def suite(self) -> str:
        return f"rpl-{self.dialect}"


# --------------------------------------------------------------------------
# packets from entries

def entry_message(entry: Entry, dialect: str) -> Message:
    """The packet an entry describes: ID 0, header from REPLY, its sections; OPT only
    with DO for Unbound, always for Deckard (FORMAT.md s2.5)."""
    if entry.raw is not None:
        return wm.parse(entry.raw)
    msg = Message(0, entry.flags | (entry.opcode << 11), list(entry.question),
                  list(entry.answer), list(entry.authority), list(entry.additional))
    if dialect == UNBOUND:
        msg.edns = Edns(payload=UNBOUND_UDP, flags=DO) if entry.do else None
    else:
        msg.edns = Edns(payload=DECKARD_UDP, flags=DO if entry.do else 0)
    msg.set_rcode(entry.rcode)
    return msg


def adjusted_reply(entry: Entry, query: Message, dialect: str) -> Message:
    """A range entry's packet after ADJUST, as the scripted server sends it."""
    msg = entry_message(entry, dialect)
    if "copy_id" in entry.adjust:
        msg.id = query.id
        if dialect == DECKARD and msg.question and query.question:
            # Deckard copies the query's qname (and so its letter case)
            old = msg.question[0]
            msg.question[0] = Question(query.question[0].name, old.qtype, old.qclass)
    if "copy_query" in entry.adjust:
        msg.question = list(query.question)
    if dialect == DECKARD and msg.edns is not None and query.edns is not None and (
            "copy_id" in entry.adjust or "copy_query" in entry.adjust):
        msg.edns.flags = query.edns.flags
        msg.edns.version = query.edns.version
    return msg


def servfail_reply(query: Message) -> Message:
    """Deckard's answer when the eligible range has no matching entry."""
    msg = Message(query.id, 0x8000 | (query.flags & 0x7900), list(query.question))
    if query.edns is not None:
        msg.edns = Edns(payload=DECKARD_UDP, flags=query.edns.flags & DO)
    msg.set_rcode(Rcode.SERVFAIL)
    return msg


def reply_wire(entry: Entry, query: Message, dialect: str) -> bytes:
    """The octets a scripted server sends. A raw packet (Deckard RAW, Unbound
    HEX_ANSWER) goes out as written, malformed or not, with only the query's ID put in
    for ``raw_id``/``copy_id``: such entries exist to test what the resolver does with
    packets a builder would never produce."""
    if entry.raw is None:
        return adjusted_reply(entry, query, dialect).to_wire()
    if ("raw_id" in entry.adjust or "copy_id" in entry.adjust) and len(entry.raw) >= 2:
        return query.id.to_bytes(2, "big") + entry.raw[2:]
    return entry.raw


def client_query(entry: Entry, dialect: str) -> bytes:
    """The client's packet: a raw one as written (its ID included, so that malformed
    or odd queries reach the server unchanged), else built from the entry with ID 0
    (testbound) or a random ID (Deckard)."""
    if entry.raw is not None:
        return entry.raw
    msg = entry_message(entry, dialect)
    msg.id = 0 if dialect == UNBOUND else secrets.randbelow(0x10000)
    return msg.to_wire()


# --------------------------------------------------------------------------
# record comparison helpers

def _norm_rdata(rtype: int, data: bytes) -> bytes:
    """RDATA with every embedded name lowercased (both testbound and Deckard compare
    names case-insensitively)."""
    try:
        return rd.decode(rtype, data).to_wire(lower=True)
    except Exception:   # noqa: BLE001 - undecodable or a type without a class: compare as is
        return data


RecordKey = tuple[bytes, int, int, bytes, int]


def rr_key(rr: RR, ttl: bool = False) -> RecordKey:
    return (rr.name.key, rr.rtype, rr.rclass, _norm_rdata(rr.rtype, rr.rdata),
            rr.ttl if ttl else 0)


def _short(rr: RR) -> str:
    text = rr.to_text()
    return text if len(text) <= 110 else text[:107] + "..."


def section_diff(title: str, expected: Sequence[RR], got: Sequence[RR],
                 ttl: bool = False) -> str | None:
    """None when the sections hold the same records (as multisets), else a sentence."""
    exp = Counter(rr_key(r, ttl) for r in expected)
    have = Counter(rr_key(r, ttl) for r in got)
    if exp == have:
        return None
    show = {rr_key(r, ttl): r for r in (*expected, *got)}
    missing = [_short(show[k]) for k in (exp - have).elements()]
    extra = [_short(show[k]) for k in (have - exp).elements()]
    parts = [f"{title}: expected {len(expected)} records, got {len(got)}"]
    if missing:
        parts.append("missing " + " | ".join(missing[:3]) + (" ..." if len(missing) > 3 else ""))
    if extra:
        parts.append("unexpected " + " | ".join(extra[:3]) + (" ..." if len(extra) > 3 else ""))
    return "; ".join(parts)


def flags_text(flags: int) -> str:
    return " ".join(name for name, bit in FLAG_NAMES if flags & bit) or "-"


def _question_text(qs: Iterable[Question]) -> str:
    return ", ".join(f"{q.name} {type_to_text(q.qtype)}" for q in qs) or "(none)"


def _rcode_diff(exp: Message, got: Message) -> str:
    text = f"rcode: expected {rcode_to_text(exp.rcode)}, got {rcode_to_text(got.rcode)}"
    ede = got.ede()
    if ede:
        text += " (" + "; ".join(f"EDE {code}: {extra}" for code, extra in ede) + ")"
    return text


def _header_diff(exp: Message, got: Message, flags: bool = True) -> str | None:
    if exp.opcode != got.opcode:
        return f"opcode: expected {opcode_to_text(exp.opcode)}, got {opcode_to_text(got.opcode)}"
    if exp.rcode != got.rcode:
        return _rcode_diff(exp, got)
    if flags and (exp.flags & _FLAG_MASK) != (got.flags & _FLAG_MASK):
        return (f"flags: expected '{flags_text(exp.flags)}', "
                f"got '{flags_text(got.flags)}'")
    return None


def _question_diff(exp: Message, got: Message) -> str | None:
    e = Counter((q.name.key, q.qtype, q.qclass) for q in exp.question)
    g = Counter((q.name.key, q.qtype, q.qclass) for q in got.question)
    if e != g:
        return (f"question: expected {_question_text(exp.question)}, "
                f"got {_question_text(got.question)}")
    return None


def _non_ede(edns: Edns | None) -> list[tuple[int, bytes]]:
    return [] if edns is None else sorted(o for o in edns.options if o[0] != 15)


def _ede_diff(want: str | None, got: Message) -> str | None:
    if want is None:
        return None
    codes = [code for code, _ in got.ede()]
    if not codes:
        return f"ede: expected EDE {want}, got none"
    if want != "any" and int(want) not in codes:
        return f"ede: expected EDE {want}, got {', '.join(map(str, codes))}"
    return None


def is_negative(msg: Message) -> bool:
    """NXDOMAIN, or NOERROR without records of the asked type (NODATA)."""
    if msg.rcode == Rcode.NXDOMAIN:
        return True
    if msg.rcode != Rcode.NOERROR or not msg.question:
        return False
    qtype = msg.question[0].qtype
    if qtype == RRType.ANY:
        return not msg.answer
    return not any(rr.rtype == qtype for rr in msg.answer)


def _proof_records(records: Sequence[RR]) -> list[RR]:
    out = []
    for rr in records:
        if rr.rtype in _PROOF_TYPES or (rr.rtype == RRType.RRSIG and len(rr.rdata) >= 2 and
                                        int.from_bytes(rr.rdata[:2], "big") in _PROOF_TYPES):
            out.append(rr)
    return out


# --------------------------------------------------------------------------
# comparators

def _scope(entry: Entry, dialect: str) -> set[str]:
    items = set(entry.match)
    if "all" in items:
        items |= set(_DECKARD_ALL) | {"question"}
    if dialect == UNBOUND and not items & set(_DECKARD_ALL):
        items |= set(_DECKARD_ALL) | {"question"}    # testbound checks use MATCH all
    return items


def compare_semantic(entry: Entry, got: Message, dialect: str) -> str | None:
    """The gating comparator; None when *got* matches, else the first difference."""
    exp = entry_message(entry, dialect)
    scope = _scope(entry, dialect)
    if "opcode" in scope and exp.opcode != got.opcode:
        return f"opcode: expected {opcode_to_text(exp.opcode)}, got {opcode_to_text(got.opcode)}"
    if "rcode" in scope and exp.rcode != got.rcode:
        return _rcode_diff(exp, got)
    if "flags" in scope and (exp.flags & _FLAG_MASK) != (got.flags & _FLAG_MASK):
        return f"flags: expected '{flags_text(exp.flags)}', got '{flags_text(got.flags)}'"
    if "question" in scope or {"qname", "qtype"} <= scope:
        diff = _question_diff(exp, got)
        if diff:
            return diff
    elif "qname" in scope and (not exp.question or not got.question
                               or exp.question[0].name != got.question[0].name):
            return (f"qname: expected {_question_text(exp.question)}, "
                    f"got {_question_text(got.question)}")
    if "answer" in scope:
        diff = section_diff("answer", exp.answer, got.answer)
        if diff:
            return diff
    if "authority" in scope and is_negative(exp):
        diff = section_diff("authority (SOA/NSEC/NSEC3)", _proof_records(exp.authority),
                            _proof_records(got.authority))
        if diff:
            return diff
    return None


def compare_strict_unbound(entry: Entry, got: Message) -> str | None:
    """testbound's ``MATCH all``: the whole packet, minus record order, UDP size and
    EDE options it did not ask for."""
    exp = entry_message(entry, UNBOUND)
    ttl = "ttl" in entry.match
    if exp.id != got.id:
        return f"id: expected {exp.id}, got {got.id}"
    diff = _header_diff(exp, got) or _question_diff(exp, got)
    if diff:
        return diff
    for title in _SECTIONS:
        diff = section_diff(title, getattr(exp, title), getattr(got, title), ttl)
        if diff:
            return diff
    if (exp.edns is None) != (got.edns is None):
        return (f"edns: expected {'an' if exp.edns is not None else 'no'} OPT record, "
                f"got {'one' if got.edns is not None else 'none'}")
    if exp.edns is not None and got.edns is not None:
        if exp.edns.do != got.edns.do:
            return f"edns: expected DO={int(exp.edns.do)}, got DO={int(got.edns.do)}"
        if _non_ede(exp.edns) != _non_ede(got.edns):
            return "edns: options differ"
    return _ede_diff(entry.ede, got)


def compare_strict_deckard(entry: Entry, got: Message) -> str | None:
    """Deckard's comparison: the fields MATCH lists, sections as multisets."""
    exp = entry_message(entry, DECKARD)
    items: list[str] = []
    for item in entry.match:
        items.extend(_DECKARD_ALL if item == "all" else (item,))
    ttl = "ttl" in items
    eq = exp.question[0] if exp.question else None
    gq = got.question[0] if got.question else None
    for item in items:
        diff: str | None = None
        if item == "opcode":
            diff = _header_diff(exp, got, flags=False) if exp.opcode != got.opcode else None
        elif item == "rcode" and exp.rcode != got.rcode:
            diff = _rcode_diff(exp, got)
        elif item == "flags" and (exp.flags & _FLAG_MASK) != (got.flags & _FLAG_MASK):
            diff = f"flags: expected '{flags_text(exp.flags)}', got '{flags_text(got.flags)}'"
        elif item == "qtype" and (eq is None or gq is None or eq.qtype != gq.qtype):
            diff = f"qtype: expected {_question_text(exp.question)}, " \
                   f"got {_question_text(got.question)}"
        elif item == "qname" and (eq is None or gq is None or eq.name != gq.name):
            diff = f"qname: expected {_question_text(exp.question)}, " \
                   f"got {_question_text(got.question)}"
        elif item == "qcase" and (eq is None or gq is None or eq.name.wire != gq.name.wire):
            diff = "qcase: letter case of the qname differs"
        elif item == "subdomain" and (eq is None or gq is None or
                                      not gq.name.is_subdomain(eq.name)):
            diff = "subdomain: qname is not below the expected name"
        elif item == "question":
            diff = _question_diff(exp, got)
        elif item in _SECTIONS:
            diff = section_diff(item, getattr(exp, item), getattr(got, item), ttl)
        elif item == "answertypes":
            if Counter(r.rtype for r in exp.answer) != Counter(r.rtype for r in got.answer):
                diff = "answertypes: the types in the answer differ"
        elif item == "edns":
            if (exp.edns is None) != (got.edns is None):
                diff = "edns: presence of the OPT record differs"
            elif exp.edns is not None and got.edns is not None and (
                    exp.edns.version != got.edns.version or
                    _non_ede(exp.edns) != _non_ede(got.edns)):
                diff = "edns: version or options differ"
        elif item == "id" and exp.id != got.id:
            diff = f"id: expected {exp.id}, got {got.id}"
        if diff:
            return diff
    return None


def compare_strict(entry: Entry, got: Message, dialect: str) -> str | None:
    if dialect == UNBOUND:
        return compare_strict_unbound(entry, got)
    return compare_strict_deckard(entry, got)


# --------------------------------------------------------------------------
# matching upstream queries against entries

def query_matches(entry: Entry, query: Message, tcp: bool, dialect: str) -> bool:
    """Whether a range entry applies to an upstream *query* (testpkts/Deckard rules)."""
    items: list[str] = []
    for item in entry.match:
        if item == "all":
            items.extend(_DECKARD_ALL if dialect == DECKARD else ("all",))
        else:
            items.append(item)
    eq = entry.question[0] if entry.question else None
    q = query.question[0] if query.question else None
    for item in items:
        if item == "opcode":
            if query.opcode != entry.opcode:
                return False
        elif item == "qtype":
            if eq is None or q is None or eq.qtype != q.qtype:
                return False
        elif item == "qname":
            if eq is None or q is None or eq.name != q.name:
                return False
        elif item == "qcase":
            if eq is None or q is None or eq.name.wire != q.name.wire:
                return False
        elif item == "subdomain":
            if eq is None or q is None or not q.name.is_subdomain(eq.name):
                return False
        elif item == "question":
            if eq is None or q is None or (eq.name, eq.qtype, eq.qclass) != \
                    (q.name, q.qtype, q.qclass):
                return False
        elif item == "do":
            if not query.do:
                return False
        elif item == "noedns":
            if query.edns is not None:
                return False
        elif item == "tcp":
            if not tcp:
                return False
        elif item == "udp":
            if tcp:
                return False
        elif item == "flags":
            if (query.flags & _FLAG_MASK) != entry.flags:
                return False
        elif item == "rcode":
            if query.rcode != entry.rcode:
                return False
        elif item in _SECTIONS:
            if section_diff(item, getattr(entry, item), getattr(query, item)) is not None:
                return False
        elif item == "all" and compare_strict_unbound(entry, query) is not None:
            return False
    return True


# --------------------------------------------------------------------------
# the fake network

@dataclass(slots=True)
class Exchange:
    step: int
    server: str
    question: str
    tcp: bool
    answer: str        # "line N", "SERVFAIL (no entry)", "unmatched"

    def text(self) -> str:
        proto = "TCP" if self.tcp else "UDP"
        return f"step {self.step}: {self.question} to {self.server} ({proto}) -> {self.answer}"


class RangeTransport:
    """The resolver's upstream: answers from the scenario's RANGEs.

    Unbound dialect: ranges are searched in reverse file order, a range applies when
    the current moment's step lies in it and its ADDRESS is the destination (or it
    has none); the first matching entry of the first range that has one answers. No
    match: the query gets no answer (recorded as a failure; the resolver sees a
    timeout). Deckard dialect: the first eligible range in file order answers, with
    SERVFAIL when none of its entries match; destinations no range names match any
    range.
    """

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.dialect = scenario.dialect
        self.moment = 0
        self.log: list[Exchange] = []
        self.unmatched: list[Exchange] = []
        self.fired: set[int] = set()
        self.addresses = {a for r in scenario.ranges for a in r.addresses}
        self.one_shots = [s for s in scenario.steps if s.kind == "REPLY" and s.entry]

    def _find_unbound(self, address: str, query: Message, tcp: bool) -> Entry | None:
        for rng in reversed(self.scenario.ranges):
            if not rng.covers(self.moment):
                continue
            if rng.addresses and address not in rng.addresses:
                continue
            for entry in rng.entries:
                if query_matches(entry, query, tcp, UNBOUND):
                    return entry
        for step in self.one_shots:
            if step.number == self.moment and step.entry is not None and \
                    query_matches(step.entry, query, tcp, UNBOUND):
                return step.entry
        return None

    def _find_deckard(self, address: str, query: Message, tcp: bool) -> Entry | None:
        wanted = address if address in self.addresses else None
        for rng in self.scenario.ranges:
            if rng.covers(self.moment) and (wanted is None or not rng.addresses or
                                            wanted in rng.addresses):
                for entry in rng.entries:
                    if query_matches(entry, query, tcp, DECKARD):
                        return entry
                return None
        for step in list(self.one_shots):
            if step.number >= self.moment and step.entry is not None and \
                    query_matches(step.entry, query, tcp, DECKARD):
                self.one_shots.remove(step)
                return step.entry
        return None

    async def query(self, server: Server, query: Message, *, tcp: bool,
                    timeout: float) -> Reply:
        address = server[0]
        question = _question_text(query.question)
        if self.dialect == UNBOUND:
            entry = self._find_unbound(address, query, tcp)
        else:
            entry = self._find_deckard(address, query, tcp)
        if entry is None:
            if self.dialect == UNBOUND:
                record = Exchange(self.moment, address, question, tcp, "unmatched")
                self.log.append(record)
                self.unmatched.append(record)
                raise UpstreamTimeout(f"no scripted answer from {address}")
            wire = servfail_reply(query).to_wire()
            self.log.append(Exchange(self.moment, address, question, tcp,
                                     "SERVFAIL (no matching entry)"))
        else:
            self.fired.add(id(entry))
            wire = reply_wire(entry, query, self.dialect)
            self.log.append(Exchange(self.moment, address, question, tcp,
                                     f"line {entry.line}"))
        try:
            parsed = wm.parse(wire)
        except FormError as exc:
            raise UpstreamTimeout(f"unparsable scripted answer: {exc}") from None
        if not _same_question(query, parsed):
            # what the real transport does: UDP suspects spoofing, TCP waits it out
            if tcp:
                raise UpstreamTimeout(f"reply from {address} does not match the query")
            raise SpoofSuspected(f"reply from {address} with wrong ID or question")
        return Reply(parsed, len(wire), tcp)


def _same_question(query: Message, reply: Message) -> bool:
    if reply.id != query.id or not reply.flags & 0x8000:
        return False
    if len(reply.question) != len(query.question):
        return not reply.question and reply.rcode in (1, 4)
    return all((q.name, q.qtype, q.qclass) == (r.name, r.qtype, r.qclass)
               for q, r in zip(query.question, reply.question, strict=True))


# --------------------------------------------------------------------------
# the resolver under test

def _signature_window(scenario: Scenario) -> float | None:
    """A time inside every RRSIG validity window of the file (for ``-1`` dates)."""
    start, end = 0, 1 << 32
    for entry in scenario.entries():
        for rr in (*entry.answer, *entry.authority, *entry.additional):
            if rr.rtype == RRType.RRSIG and len(rr.rdata) >= 16:
                expire = int.from_bytes(rr.rdata[8:12], "big")
                incept = int.from_bytes(rr.rdata[12:16], "big")
                start, end = max(start, incept), min(end, expire)
    if start == 0 or start >= end:
        return None
    return float((start + end) // 2)


_TRUE = ("yes", "on", "true", "1")
_FALSE = ("no", "off", "false", "0")


def _env_qmin() -> bool | None:
    """Deckard's QMIN environment variable (``true``/``false``), when set."""
    value = os.environ.get("QMIN", "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    return None


def run_settings(scenario: Scenario, open_qmin: bool | None = None) -> RunSettings:
    """The settings the scenario asks for (FORMAT.md s2.2, s2.3).

    * QNAME minimisation: ``qname-minimisation`` / ``query-minimization`` when the file
      sets it. Otherwise Unbound files get Unbound's default (on); Deckard files,
      meant to pass both ways, take *open_qmin* (the run's choice), else the QMIN
      environment variable as Deckard does, else on (the resolver's own default).
    * IPv6: ``do-ip6`` when set, else on (the default of Unbound and of Deckard).
    * Root hints: the root stub's addresses; a file without a root stub runs with
      the hints built into the resolver. Stubs below the root are kept apart.

    Raises RplError for a configuration the resolver cannot take: forwarding (it has
    no forwarder mode) or a stub without addresses.
    """
    config = scenario.config
    path = str(scenario.path)
    if config.forwards:
        raise RplError(path, 1, "forward-zone/forward-addr: the resolver has no forwarder mode")
    if config.qname_minimisation is not None:
        qmin, qmin_from = config.qname_minimisation, "config"
    elif scenario.dialect == UNBOUND:
        qmin, qmin_from = True, "Unbound default"
    elif open_qmin is not None:
        qmin, qmin_from = open_qmin, "run option"
    elif (env := _env_qmin()) is not None:
        qmin, qmin_from = env, "QMIN"
    else:
        qmin, qmin_from = True, "default"
    ipv6_text = config.option("do-ip6")
    if ipv6_text is None:
        ipv6, ipv6_from = True, "default"
    elif ipv6_text.lower() in _TRUE + _FALSE:
        ipv6, ipv6_from = ipv6_text.lower() in _TRUE, "config"
    else:
        raise RplError(path, 1, f"do-ip6: {ipv6_text!r} is neither yes nor no")
    root = config.root_stub
    stubs = tuple(z for z in config.stubs if not z.name.is_root())
    for zone in stubs:
        if not zone.addresses:
            raise RplError(path, 1, f"stub-zone {zone.name} has no stub-addr")
    return RunSettings(qmin, qmin_from, ipv6, ipv6_from,
                       tuple(root.addresses) if root is not None else (), stubs)


def profile(scenario: Scenario, hints: Path | None, run: RunSettings) -> Settings:
    """The resolver's settings for a scenario: its own QNAME minimisation and IPv6
    (*run*), *hints* as root hints (None: the built-in ones); then what every
    scenario needs: no RFC 8145 signalling (86 of the 92 Unbound scenarios switch it
    off, and none scripts an answer to a _ta- query), NSEC3 iterations up to 150,
    legacy algorithms, loopback upstreams allowed (Deckard's servers live on
    127.0.0.x). The resolver has no prefetch to turn off."""
    settings = Settings(root_hints=hints, qname_minimisation=run.qmin,
                        ipv6_upstream=run.ipv6,
                        legacy_algorithms=True, allow_loopback_upstream=True,
                        trust_anchor_signaling=False,
                        validation_limits=ValidationLimits(nsec3_iterations=150))
    # a special-use zone the scenario serves data for is not answered locally
    # (Unbound's local-zone nodefault; kresd has no such local zones)
    names = [e.qname for e in scenario.entries() if e.qname is not None]
    for zone_text in DEFAULT_ZONES:
        zone = Name.from_text(zone_text)
        if any(n.is_subdomain(zone) for n in names):
            settings.nodefault.append(zone_text)
    if scenario.dialect == DECKARD:
        settings.edns_size = DECKARD_UDP    # Deckard's world speaks 4096-octet EDNS
    for value in scenario.config.options.get("domain-insecure", []):
        nta = value if value.endswith(".") else value + "."
        settings.negative_anchors.append((nta, float("inf")))
    return settings


def _hints_text(scenario: Scenario, run: RunSettings) -> str | None:
    """Root hints in named.root form for the root stub's addresses (NS name from
    Deckard's ``stub-name``); None when the scenario has no root stub, so that the
    resolver uses its built-in hints as it would out of the box."""
    if run.builtin_hints:
        return None
    ns = scenario.config.stub_name
    lines = [f". 3600000 IN NS {ns}"]
    for addr in run.root_addresses:
        lines.append(f"{ns} 3600000 IN {'AAAA' if ':' in addr else 'A'} {addr}")
    return "\n".join(lines) + "\n"


def seed_stub(resolver: Resolver, zone: Zone) -> None:
    """A stub zone below the root (``stub-zone: name: sub.example.com``): the resolver
    has no stub zones, so put the delegation they configure into its cache, as a
    referral would, NS at referral rank with the stub addresses as glue (for as long
    as the cache keeps anything, max-ttl). Resolution below the zone then starts at
    those addresses, and anything above it (the zone's DS, say) is looked up from the
    root down as for a stub. The NS names are made up inside the zone: a stub-addr
    has none, and referral-rank data is never given to clients."""
    ttl = resolver.settings.max_ttl
    names: list[Name] = []
    for index, addr in enumerate(zone.addresses):
        host = Name.from_text(f"stub-addr-{index}.{zone.name}")
        ip = ipaddress.ip_address(addr)
        rtype = RRType.AAAA if ip.version == 6 else RRType.A
        resolver.rrsets.put(RRset(host, rtype, 1, ttl, [ip.packed]), Rank.ADDITIONAL, ttl=ttl)
        names.append(host)
    resolver.rrsets.put(RRset(zone.name, RRType.NS, 1, ttl, [n.wire for n in names]),
                        Rank.AUTHORITY, ttl=ttl)


def _anchors(scenario: Scenario) -> TrustAnchors:
    anchors = TrustAnchors()
    for rr in scenario.config.anchors:
        anchors.add(TrustAnchor(rr.name, rr.rtype, rr.rdata, scenario.name))
    return anchors


@dataclass(slots=True)
class ClientReply:
    step: int
    wire: bytes | None
    message: Message | None
    unmatched: list[str] = field(default_factory=list)   # upstream queries left unanswered

    def explain(self, diff: str) -> str:
        if self.unmatched:
            return f"unmatched upstream query at {self.unmatched[0]} (then {diff})"
        return diff


class Replayer:
    def __init__(self, scenario: Scenario, workdir: Path,
                 open_qmin: bool | None = None) -> None:
        self.scenario = scenario
        self.dialect = scenario.dialect
        config = scenario.config
        start = config.override_date if config.override_date is not None else FALLBACK_DATE
        validation: float = start
        if config.ignore_dates:
            window = _signature_window(scenario)
            validation = window if window is not None else start
            if config.override_date is None:
                start = validation
        self.clock = FixedClock(start)
        self.validation_start = validation
        self.run_settings = run_settings(scenario, open_qmin)
        text = _hints_text(scenario, self.run_settings)
        hints: Path | None = None
        if text is not None:
            hints = workdir / "root.hints"
            hints.write_text(text, encoding="utf-8")
        self.settings = profile(scenario, hints, self.run_settings)
        self.transport = RangeTransport(scenario)
        vnow: Callable[[], float]
        if self.dialect == DECKARD:
            offset = validation - start
            clock = self.clock
            vnow = lambda: clock() + offset  # noqa: E731
        else:
            vnow = lambda: validation  # noqa: E731
        self.resolver = Resolver(self.settings, transport=self.transport, now=self.clock,
                                 validation_now=vnow, anchors=_anchors(scenario))
        # glue for name servers anywhere below the server's zone, as testbound and
        # Deckard's resolvers accept it (Unbound: harden-unverified-glue: no)
        self.resolver.iterator.sibling_glue = True
        for zone in self.run_settings.stubs:
            seed_stub(self.resolver, zone)
        self.server = DnsServer(self.resolver, self.settings)
        self.result = Result(scenario.name, self.dialect, settings=self.run_settings)

    # ------------------------------------------------------------ client side
    async def ask(self, wire: bytes) -> bytes | None:
        """What a UDP client at 127.0.0.1 gets: the answer cache's fast path, else
        the server's full handling."""
        qk = query_key(wire)
        if qk is not None and qk.key[-1] & 0x01 and self.server.allowed(CLIENT):
            size = self.settings.edns_size
            limit = max(512, min(qk.payload, size)) if qk.has_edns else 512
            hit = self.server.messages.answer(wire, qk, limit)
            if hit is not None:
                return hit
        return await self.server.answer(wire, CLIENT, "udp", qk)

    def _moment_after(self, index: int) -> int:
        steps = self.scenario.steps
        if self.dialect == UNBOUND and index + 1 < len(steps):
            return steps[index + 1].number
        return steps[index].number

    async def _query(self, index: int, step: Step) -> ClientReply:
        assert step.entry is not None
        self.transport.moment = self._moment_after(index)
        wire = client_query(step.entry, self.dialect)
        before = len(self.transport.unmatched)
        try:
            reply = await self.ask(wire)
        except Exception as exc:   # noqa: BLE001 - the server would log this and send SERVFAIL
            where = traceback.extract_tb(exc.__traceback__)[-1]
            text = (f"step {step.number}: the resolver raised {type(exc).__name__}: {exc} "
                    f"({Path(where.filename).name}:{where.lineno})")
            self.result.error = self.result.error or text
            self.result.fail_both(text)
            return ClientReply(step.number, None, None)
        unmatched = [e.text() for e in self.transport.unmatched[before:]]
        if reply is None:
            return ClientReply(step.number, None, None, unmatched)
        try:
            message = wm.parse(reply)
        except FormError as exc:   # a client could not read it either
            self.result.fail_both(f"step {step.number}: unparsable reply: {exc}")
            return ClientReply(step.number, reply, None, unmatched)
        return ClientReply(step.number, reply, message, unmatched)

    # ------------------------------------------------------------ run
    async def run(self) -> Result:
        result = self.result
        replies: list[ClientReply] = []
        unchecked = {"semantic": [], "strict": []}  # type: dict[str, list[ClientReply]]
        last: ClientReply | None = None
        for index, step in enumerate(self.scenario.steps):
            kind = step.kind
            if kind == "QUERY":
                if step.entry is None:
                    result.fail_both(f"step {step.number}: QUERY without an entry")
                    continue
                last = await self._query(index, step)
                replies.append(last)
                for pending in unchecked.values():
                    pending.append(last)
            elif kind == "CHECK_ANSWER":
                if step.entry is None:
                    result.fail_both(f"step {step.number}: CHECK_ANSWER without an entry")
                    continue
                result.checks += 1
                self._check(step, step.entry, last, unchecked)
            elif kind == "TIME_PASSES":
                self.clock.advance(step.elapse)
            elif kind in ("REPLY", "TRAFFIC", "NOTHING", "CHECK_OUT_QUERY"):
                continue   # one-shot replies are used by the transport
            else:
                result.fail_both(f"step {step.number}: {kind} steps are not supported")
        self._finish(unchecked)
        result.log = [e.text() for e in self.transport.log]
        return result

    def _check(self, step: Step, entry: Entry, last: ClientReply | None,
               unchecked: dict[str, list[ClientReply]]) -> None:
        comparators: dict[str, Callable[[Entry, Message, str], str | None]] = {
            "semantic": compare_semantic, "strict": compare_strict}
        for title, compare in comparators.items():
            verdict = getattr(self.result, title)
            if self.dialect == DECKARD:
                # Deckard checks the reply to the most recent query
                if last is None or last.message is None:
                    verdict.fail(f"step {step.number}: no reply to check")
                    continue
                diff = compare(entry, last.message, self.dialect)
                if diff:
                    verdict.fail(last.explain(f"step {step.number} (query step {last.step}): "
                                              f"{diff}"))
                continue
            # testbound consumes the first unchecked reply that matches
            pending = unchecked[title]
            first_diff: str | None = None
            for reply in pending:
                if reply.message is None:
                    continue
                diff = compare(entry, reply.message, self.dialect)
                if diff is None:
                    pending.remove(reply)
                    break
                if first_diff is None:
                    first_diff = reply.explain(f"step {step.number} (query step {reply.step}): "
                                               f"{diff}")
            else:
                verdict.fail(first_diff or f"step {step.number}: no reply to check")

    def _finish(self, unchecked: dict[str, list[ClientReply]]) -> None:
        result = self.result
        for record in self.transport.unmatched:
            result.fail_both(f"unmatched upstream query at {record.text()}")
            break
        if self.dialect == UNBOUND:
            for title, pending in unchecked.items():
                if pending:
                    getattr(result, title).fail(
                        f"reply to step {pending[0].step} was never checked")
        else:
            for entry in self.scenario.entries():
                if entry.mandatory and id(entry) not in self.transport.fired:
                    result.fail_both(f"MANDATORY entry at line {entry.line} never fired")


def replay(path: str | Path, open_qmin: bool | None = None) -> Result:
    """Replay one file; never raises for scenario problems (they become failures).
    *open_qmin*: QNAME minimisation for a Deckard file that leaves it open (None:
    QMIN from the environment, else on)."""
    started = time.perf_counter()
    p = Path(path)
    name = f"{p.parent.name}/{p.name}"
    try:
        scenario = parse_file(p)
    except (RplError, OSError, ValueError, IndexError) as exc:
        result = Result(name, p.parent.name)
        result.error = f"cannot read the file: {exc}"
        result.fail_both(result.error)
        return result
    with tempfile.TemporaryDirectory(prefix="rpl-") as tmp:
        try:
            replayer = Replayer(scenario, Path(tmp), open_qmin)
        except (RplError, ValueError) as exc:
            result = Result(scenario.name, scenario.dialect)
            result.error = f"cannot set up the resolver: {exc}"
            result.fail_both(result.error)
            return result

        async def main() -> Result:
            return await asyncio.wait_for(replayer.run(), SCENARIO_TIMEOUT)

        try:
            result = asyncio.run(main())
        except TimeoutError:
            result = replayer.result
            result.error = f"the scenario did not finish in {SCENARIO_TIMEOUT:.0f} s"
            result.fail_both(result.error)
        except Exception as exc:   # noqa: BLE001 - a replayer bug must not stop the other scenarios
            result = replayer.result
            result.error = f"the replay crashed: {type(exc).__name__}: {exc}"
            result.fail_both(result.error)
    result.seconds = time.perf_counter() - started
    return result


# --------------------------------------------------------------------------
# reporting

def totals(results: Iterable[Result], suite: str, strict: bool = False) -> str:
    """``rpl-unbound: N passed, M failed`` for one suite."""
    chosen = [r for r in results if r.suite == suite]
    passed = sum(1 for r in chosen if (r.strict.ok if strict else r.semantic.ok))
    label = f"{suite} (strict)" if strict else suite
    return f"{label}: {passed} passed, {len(chosen) - passed} failed"


def settings_totals(results: Iterable[Result], suite: str) -> str:
    """How many of a suite's scenarios ran with QNAME minimisation on, with IPv6 on
    and with the built-in root hints."""
    chosen = [r for r in results if r.suite == suite]
    ran = [r.settings for r in chosen if r.settings is not None]
    qmin = sum(1 for s in ran if s.qmin)
    ipv6 = sum(1 for s in ran if s.ipv6)
    builtin = sum(1 for s in ran if s.builtin_hints)
    return (f"{suite} settings: {qmin} of {len(chosen)} ran with qmin on, {ipv6} with IPv6 "
            f"on, {builtin} with the built-in root hints")


def report_line(result: Result) -> str:
    mark = "PASS" if result.passed else "FAIL"
    line = f"{mark} {result.name} ({result.seconds:.2f}s, {result.checks} checks)"
    if result.settings is not None:
        line += f"\n    settings: {result.settings.text()}"
    if not result.passed:
        line += f"\n    semantic: {result.semantic.reason}"
    if not result.strict.ok:
        line += f"\n    strict: {result.strict.reason}"
    return line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="show every upstream exchange of failing scenarios")
    parser.add_argument("--qmin", choices=("on", "off"),
                        help="QNAME minimisation for files that leave it open (default: "
                             "QMIN from the environment, else on)")
    args = parser.parse_args(argv)
    qmin = None if args.qmin is None else args.qmin == "on"
    results = []
    for path in args.files:
        result = replay(path, qmin)
        results.append(result)
        print(report_line(result))
        if args.verbose and (not result.passed or not result.strict.ok):
            for line in result.log:
                print("      " + line)
    for suite in sorted({r.suite for r in results}):
        print(totals(results, suite))
        print(totals(results, suite, strict=True))
        print(settings_totals(results, suite))
    return 0 if all(r.passed for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
