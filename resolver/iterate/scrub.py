"""Classify an upstream reply and scrub it before anything is cached.

Given the zone the queried server was asked about (its bailiwick), keep only what
that server may speak for (SECURITY.md s2, RFC 2181 s5.4.1): the answer chain that
starts at the question name (CNAMEs followed while their targets stay in the zone;
DNAMEs turned into CNAMEs by us, never trusting the server's copy); SOA, NS, DS,
NSEC and NSEC3 from the authority section when they lie in the zone; glue only for
name servers of a referral that lie inside the delegated zone. Everything else is
dropped. Record counts per RRset are capped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from ..config import IterLimits
from ..wire.message import RR, Message
from ..wire.name import Name, NameError_
from ..wire.rrset import RRset, group
from ..wire.types import AA, Rcode, RRType

_AUTHORITY_TYPES = frozenset({RRType.SOA, RRType.NS, RRType.DS, RRType.NSEC, RRType.NSEC3})
_PROOF_TYPES = frozenset({RRType.NSEC, RRType.NSEC3})


class Kind(Enum):
    ANSWER = "answer"          # the data asked for (possibly at the end of a CNAME chain)
    CNAME = "cname"            # a chain that leaves this zone: resolve the target anew
    NXDOMAIN = "nxdomain"
    NODATA = "nodata"
    REFERRAL = "referral"      # a delegation to a child zone
    LAME = "lame"              # the server does not serve the zone (or answered upward)
    ERROR = "error"            # SERVFAIL, REFUSED, FORMERR, NOTIMP, ...
    YXDOMAIN = "yxdomain"      # DNAME substitution overflowed (RFC 6672 s2.2)


@dataclass(slots=True)
class Classified:
    kind: Kind
    rcode: int
    aa: bool
    chain: list[RRset] = field(default_factory=list)     # CNAME/DNAME links in order
    answer: list[RRset] = field(default_factory=list)    # the final RRset(s)
    final_name: Name | None = None                       # where the chain ended
    soa: RRset | None = None
    proofs: list[RRset] = field(default_factory=list)    # NSEC/NSEC3 from AUTHORITY
    referral: RRset | None = None                        # NS of the child zone
    ds: RRset | None = None                              # DS in a referral
    glue: list[RRset] = field(default_factory=list)
    dropped: int = 0                                     # records scrubbed away


def _capped(rrset: RRset, limits: IterLimits) -> RRset:
    if len(rrset.sigs) > limits.rrsigs_per_rrset:
        rrset.sigs = rrset.sigs[:limits.rrsigs_per_rrset]
    cap = limits.ns_per_rrset if rrset.rtype == RRType.NS else limits.rrset_records
    if len(rrset.rdatas) > cap:
        rrset.rdatas = rrset.rdatas[:cap]
    return rrset


def _find(rrsets: list[RRset], name: Name, rtype: int) -> RRset | None:
    for rs in rrsets:
        if rs.rtype == rtype and rs.name == name:
            return rs
    return None


def _dname_for(rrsets: list[RRset], name: Name, zone: Name) -> RRset | None:
    best = None
    for rs in rrsets:
        if rs.rtype == RRType.DNAME and name.is_strict_subdomain(rs.name) \
                and rs.name.is_subdomain(zone) and rs.rdatas \
                and (best is None or len(rs.name) > len(best.name)):
            best = rs
    return best


def synthesize_cname(dname: RRset, name: Name) -> RRset:
    """The CNAME a DNAME implies for *name* (RFC 6672 s2.2); raises NameError_ when
    the result would be too long."""
    prefix = name.relativize_to(dname.name)
    target = Name.from_labels(list(prefix) + list(Name(dname.rdatas[0]).labels))
    return RRset(name, RRType.CNAME, dname.rclass, dname.ttl, [target.wire])


def classify(msg: Message, zone: Name, qname: Name, qtype: int,
             limits: IterLimits, *, sibling_glue: bool = False) -> Classified:
    """Classify *msg*, the reply of a server for *zone* to (*qname*, *qtype*).
    *sibling_glue*: accept glue anywhere in *zone* (Unbound's default), not only
    inside the delegated zone (test profiles; SECURITY.md s2 re-resolves it)."""
    rcode = msg.rcode
    aa = bool(msg.flags & AA)
    # YXDOMAIN is an answer when a DNAME substitution overflowed (RFC 6672 s2.2): the
    # chain below checks that one did, with our own synthesis
    if rcode not in (Rcode.NOERROR, Rcode.NXDOMAIN, Rcode.YXDOMAIN):
        kind = Kind.LAME if rcode == Rcode.REFUSED else Kind.ERROR
        return Classified(kind, rcode, aa)
    answer_sets = group(msg.answer)
    authority_sets = group(msg.authority)
    _late_sigs(answer_sets, [*msg.authority, *msg.additional])
    _late_sigs(authority_sets, msg.additional)
    answer = [_capped(rs, limits) for rs in answer_sets if rs.name.is_subdomain(zone)]
    authority = [_capped(rs, limits) for rs in authority_sets
                 if rs.name.is_subdomain(zone) and rs.rtype in _AUTHORITY_TYPES]
    dropped = len(msg.answer) + len(msg.authority) - sum(
        len(rs.rdatas) + len(rs.sigs) for rs in answer + authority)
    out = Classified(Kind.NODATA, rcode, aa, dropped=max(0, dropped))
    # --- the answer chain
    cur = qname
    final: list[RRset] = []
    visited = {qname.key}
    for step in range(limits.cname_per_packet + 1):
        if step:
            if cur.key in visited:
                return _chain_cut(out, cur)   # a loop: the iterator stops it
            visited.add(cur.key)
        # a DNAME above *cur* occludes whatever the server put at *cur* (its copy of
        # the synthesized CNAME included): the DNAME decides (RFC 6672 s2.3), for a
        # question of type DNAME too; only a DNAME at *cur* itself does not redirect it
        dname = _dname_for(answer, cur, zone)
        if dname is None:
            if qtype == RRType.ANY:
                final = [rs for rs in answer if rs.name == cur and rs.rtype != RRType.RRSIG]
            else:
                found = _find(answer, cur, qtype)
                final = [found] if found is not None else []
            if final:
                break
        if step == limits.cname_per_packet:
            return _chain_cut(out, cur)       # more links than one packet may carry
        if dname is not None:
            try:
                synth = synthesize_cname(dname, cur)
            except NameError_:
                out.kind = Kind.YXDOMAIN
                out.chain.append(dname)
                return out
            if qtype == RRType.CNAME:         # the synthesized CNAME is the answer
                out.chain.append(dname)
                final = [synth]
                break
            out.chain += [dname, synth]
            cur = Name(synth.rdatas[0])
            if not cur.is_subdomain(zone):
                break
            continue
        if qtype != RRType.CNAME:
            cname = _find(answer, cur, RRType.CNAME)
            if cname is not None and cname.rdatas:
                out.chain.append(cname)
                cur = Name(cname.rdatas[0])
                if not cur.is_subdomain(zone):
                    break
                continue
        break
    if rcode == Rcode.YXDOMAIN:    # no DNAME in the chain overflowed: a server error
        return Classified(Kind.ERROR, rcode, aa)
    out.final_name = cur
    out.answer = final
    soa = next((rs for rs in authority if rs.rtype == RRType.SOA and cur.is_subdomain(rs.name)),
               None)
    out.proofs = [rs for rs in authority if rs.rtype in _PROOF_TYPES]
    if final:
        out.kind = Kind.ANSWER
        return out
    if out.chain and not cur.is_subdomain(zone):
        out.kind = Kind.CNAME
        return out
    # --- negative answers and referrals
    ns = next((rs for rs in authority if rs.rtype == RRType.NS), None)
    if rcode == Rcode.NXDOMAIN:
        out.kind = Kind.NXDOMAIN
        out.soa = soa
        return out
    if ns is not None and soa is None and not (aa and out.chain):
        if ns.name.is_strict_subdomain(zone) and cur.is_subdomain(ns.name):
            out.kind = Kind.CNAME if out.chain else Kind.REFERRAL
            out.referral = ns
            out.ds = next((rs for rs in authority if rs.rtype == RRType.DS
                           and rs.name == ns.name), None)
            out.glue = _glue(msg, ns, limits, zone if sibling_glue else ns.name)
            return out
        if not aa or ns.name != zone:
            out.kind = Kind.LAME   # an upward or sideways referral (AA set or not)
            return out
    if soa is None and not out.chain and _foreign_ns(msg, zone):
        # NS records of a zone above (or of another branch) and no SOA: a referral
        # upward, never a NODATA, which carries no such NS (RFC 2308 s2.2)
        out.kind = Kind.LAME
        return out
    # without a SOA: a chain is followed from its target (there is no negative
    # evidence about the target); NSEC/NSEC3 records make a NODATA, nothing a lame reply
    if soa is None and (out.chain or (not aa and not out.proofs)):
        out.kind = Kind.CNAME if out.chain else Kind.LAME
        return out
    out.soa = soa
    out.kind = Kind.NODATA
    return out


def _foreign_ns(msg: Message, zone: Name) -> bool:
    """Whether the AUTHORITY section of *msg* has NS records owned outside *zone*
    (the scrubber drops them, so they are looked for in the raw section)."""
    return any(rr.rtype == RRType.NS and not rr.name.is_subdomain(zone)
               for rr in msg.authority)


def _late_sigs(rrsets: list[RRset], later: list[RR]) -> None:
    """RRSIGs sent in a later section than the RRset they cover join that RRset, as
    in Unbound's parser (RFC 4035 s3.1.1 wants them together). They are verified like
    any other signature, so they cannot make bad data pass."""
    index: dict[tuple[bytes, int], RRset] | None = None   # made when an RRSIG comes
    for rr in later:
        if rr.rtype == RRType.RRSIG and len(rr.rdata) >= 2:
            if index is None:
                index = {(rs.name.key, rs.rtype): rs for rs in rrsets}
            rs = index.get((rr.name.key, (rr.rdata[0] << 8) | rr.rdata[1]))
            if rs is not None:
                rs.add_sig(rr.rdata)


def _chain_cut(out: Classified, cur: Name) -> Classified:
    """End the answer chain of *out* at *cur* without a final answer: the iterator
    follows it from there, counting every link against the chain limit."""
    out.kind = Kind.CNAME
    out.final_name = cur
    return out


def _glue(msg: Message, ns: RRset, limits: IterLimits, bailiwick: Name) -> list[RRset]:
    """A/AAAA for the referral's name servers that lie inside *bailiwick* (the
    delegated zone unless sibling glue is accepted)."""
    targets = {Name(d).key for d in ns.rdatas}
    out = []
    for rs in group(msg.additional):
        if rs.rtype in (RRType.A, RRType.AAAA) and rs.name.key in targets \
                and rs.name.is_subdomain(bailiwick):
            out.append(_capped(rs, limits))
    return out
