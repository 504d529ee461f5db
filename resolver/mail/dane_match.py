"""DANE certificate matching: TLSA records (RFC 6698, RFC 7671, mnemonics of RFC 7218)
against a certificate chain, free of sockets and of DNS.

:func:`match_chain` -- does a certificate chain satisfy a TLSA RRset? Usages PKIX-TA(0),
PKIX-EE(1), DANE-TA(2), DANE-EE(3); selectors Cert(0)/SPKI(1); matching types
Full(0)/SHA2-256(1)/SHA2-512(2). The verdict is a value, :class:`DaneMatch`, never an
exception. The same engine (:func:`evaluate`) serves SMIMEA (:mod:`resolver.mail.smimea`);
where the records come from and what SMTP does with the verdict (RFC 7672) is
:mod:`resolver.mail.dane_smtp`.

Match precedence follows OpenSSL's DANE code (and so Postfix): a DANE-EE(3) match of
the leaf wins; then DANE-TA(2), shallowest trust anchor first; then PKIX-EE(1) and
PKIX-TA(0) on a path validated against the trust store.
"""

from __future__ import annotations

import datetime
import enum
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509.oid import ObjectIdentifier

from ..wire import rdata as rd
from ..wire.name import Name, NameError_
from ..wire.types import RRType
from . import x509util as xu

log = logging.getLogger(__name__)

# RFC 7218 s2 mnemonics
PKIX_TA, PKIX_EE, DANE_TA, DANE_EE = 0, 1, 2, 3
USAGE_NAMES: dict[int, str] = {0: "PKIX-TA", 1: "PKIX-EE", 2: "DANE-TA", 3: "DANE-EE"}
SELECTOR_NAMES: dict[int, str] = {0: "Cert", 1: "SPKI"}
MTYPE_NAMES: dict[int, str] = {0: "Full", 1: "SHA2-256", 2: "SHA2-512"}
DIGEST_LENGTHS: dict[int, int] = {1: 32, 2: 64}
# RFC 7671 s9 digest algorithm agility: higher is stronger. Full(0) is not a digest.
MTYPE_STRENGTH: dict[int, int] = {1: 1, 2: 2}

SMTP_USAGES: frozenset[int] = frozenset({DANE_TA, DANE_EE})
ALL_USAGES: frozenset[int] = frozenset({PKIX_TA, PKIX_EE, DANE_TA, DANE_EE})

Json = dict[str, object]
TlsaInput = rd.TLSA | bytes


def usage_name(usage: int) -> str:
    return USAGE_NAMES.get(usage, str(usage))


def tlsa_mnemonic(record: rd.TLSA) -> str:
    """``DANE-EE SPKI SHA2-256 <hex>`` (RFC 7218 s2)."""
    return " ".join((usage_name(record.usage),
                     SELECTOR_NAMES.get(record.selector, str(record.selector)),
                     MTYPE_NAMES.get(record.mtype, str(record.mtype)),
                     record.data.hex()))


def tlsa_json(record: rd.TLSA) -> Json:
    return {"usage": record.usage, "selector": record.selector, "mtype": record.mtype,
            "data": record.data.hex(), "text": record.to_text(),
            "mnemonic": tlsa_mnemonic(record)}


# --------------------------------------------------------------------------
# usable records and digest agility

@dataclass(frozen=True, slots=True)
class IgnoredRecord:
    """A TLSA record left out of matching, and why (RFC 7671 s4.1, s9; RFC 7672 s3.1.3)."""

    reason: str
    record: rd.TLSA | None = None
    raw: bytes = b""

    def to_json(self) -> Json:
        out: Json = {"reason": self.reason}
        if self.record is not None:
            out["record"] = tlsa_json(self.record)
        else:
            out["rdata"] = self.raw.hex()
        return out


@dataclass(frozen=True, slots=True)
class TlsaSet:
    """A TLSA RRset split into the records matching will use and the ignored ones."""

    usable: tuple[rd.TLSA, ...] = ()
    ignored: tuple[IgnoredRecord, ...] = ()

    def to_json(self) -> Json:
        return {"usable": [tlsa_json(r) for r in self.usable],
                "ignored": [i.to_json() for i in self.ignored]}


def _as_tlsa(item: TlsaInput) -> rd.TLSA:
    if isinstance(item, rd.TLSA):
        return item
    decoded = rd.decode(RRType.TLSA, bytes(item))
    assert isinstance(decoded, rd.TLSA)
    return decoded


def _unusable_reason(record: rd.TLSA, usages: frozenset[int]) -> str | None:
    if record.usage not in ALL_USAGES:
        return f"unknown certificate usage {record.usage} (RFC 6698 s2.1.1)"
    if record.usage not in usages:
        return (f"{usage_name(record.usage)}({record.usage}) is not used here "
                "(RFC 7672 s3.1.3: SMTP uses DANE-TA(2) and DANE-EE(3) only)")
    if record.selector not in SELECTOR_NAMES:
        return f"unknown selector {record.selector} (RFC 6698 s2.1.2)"
    if record.mtype not in MTYPE_NAMES:
        return f"unknown matching type {record.mtype} (RFC 6698 s2.1.3)"
    want = DIGEST_LENGTHS.get(record.mtype)
    if want is not None and len(record.data) != want:
        return (f"{MTYPE_NAMES[record.mtype]} data is {len(record.data)} octets, "
                f"not {want} (RFC 7671 s4.1)")
    if record.mtype == 0:
        if not record.data:
            return "empty Full(0) association data (RFC 7671 s4.1)"
        if record.selector == 0:
            try:
                x509.load_der_x509_certificate(record.data)
            except ValueError:
                return "Full(0) data is not a DER certificate (RFC 7671 s4.1)"
        elif record.data[0] != 0x30:
            return "Full(0) data is not a DER SubjectPublicKeyInfo (RFC 7671 s4.1)"
    return None


def classify_tlsa(records: Iterable[TlsaInput], *,
                  usages: Iterable[int] = ALL_USAGES) -> TlsaSet:
    """Usable records and ignored ones, with digest agility applied.

    Unusable (RFC 7671 s4.1, RFC 6698 s2.1): undecodable RDATA, unknown usage, selector
    or matching type, a digest of the wrong length, Full(0) data that is not DER, and
    usages outside *usages*. Digest algorithm agility (RFC 7671 s9): among the usable
    records with the same usage and selector, only those with the strongest digest
    matching type present are kept (SHA2-512 over SHA2-256); Full(0) records are not
    digests and are always kept.
    """
    allowed = frozenset(usages)
    candidates: list[rd.TLSA] = []
    ignored: list[IgnoredRecord] = []
    for item in records:
        try:
            record = _as_tlsa(item)
        except (rd.RdataError, NameError_, ValueError) as exc:
            ignored.append(IgnoredRecord(f"malformed TLSA RDATA: {exc}", raw=bytes(item)
                                         if isinstance(item, bytes | bytearray) else b""))
            continue
        reason = _unusable_reason(record, allowed)
        if reason is not None:
            ignored.append(IgnoredRecord(reason, record))
        else:
            candidates.append(record)
    strongest: dict[tuple[int, int], int] = {}
    for record in candidates:
        strength = MTYPE_STRENGTH.get(record.mtype)
        if strength is not None:
            key = (record.usage, record.selector)
            strongest[key] = max(strength, strongest.get(key, 0))
    usable: list[rd.TLSA] = []
    for record in candidates:
        strength = MTYPE_STRENGTH.get(record.mtype)
        best = strongest.get((record.usage, record.selector), 0)
        if strength is not None and strength < best:
            best_name = next(n for m, n in MTYPE_NAMES.items() if MTYPE_STRENGTH.get(m) == best)
            ignored.append(IgnoredRecord(
                f"{MTYPE_NAMES[record.mtype]} ignored: {best_name} present for "
                f"{usage_name(record.usage)} {SELECTOR_NAMES[record.selector]} "
                "(RFC 7671 s9 digest agility)", record))
        else:
            usable.append(record)
    return TlsaSet(tuple(usable), tuple(ignored))


def record_matches(record: rd.TLSA, cert: x509.Certificate) -> bool:
    """Does *cert* match the record's selector/matching type/data (RFC 6698 s2.1)?"""
    try:
        return xu.association_data(xu.selector_data(cert, record.selector),
                                   record.mtype) == record.data
    except ValueError:
        return False


# --------------------------------------------------------------------------
# match_chain

class MatchKind(enum.StrEnum):
    """The verdict of :func:`match_chain`; ``openssl_error`` gives the X509_V_ERR code."""

    MATCHED = "matched"
    NO_MATCH = "no-match"                  # no usable record matched (X509_V_ERR 65)
    NAME_MISMATCH = "name-mismatch"        # matched, but no reference identifier (62)
    UNTRUSTED = "untrusted"                # PKIX: no valid path to the trust store (20)
    EXPIRED = "expired"                    # DANE-TA path: a certificate out of its dates
    CHAIN_INVALID = "chain-invalid"        # DANE-TA path: signature, CA flag or EKU
    NO_USABLE_RECORDS = "no-usable-records"


_OPENSSL_ERRORS: dict[MatchKind, int] = {
    MatchKind.MATCHED: 0,
    MatchKind.NO_MATCH: 65,       # X509_V_ERR_DANE_NO_MATCH
    MatchKind.NAME_MISMATCH: 62,  # X509_V_ERR_HOSTNAME_MISMATCH
    MatchKind.UNTRUSTED: 20,      # X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY
    MatchKind.EXPIRED: 10,        # X509_V_ERR_CERT_HAS_EXPIRED
}


@dataclass(frozen=True, slots=True)
class DaneMatch:
    """The outcome of matching a chain against TLSA (or SMIMEA) records.

    *depth* is the chain depth of the certificate the record matched (0 = leaf; -1 =
    nothing matched), counted as OpenSSL does: for a DNS-only Full(0) certificate the
    depth it would have on top of the presented chain, for a DNS-only bare key the depth
    of the certificate it signed. *record* is that record; *name* the reference
    identifier the leaf matched, when names were checked.
    """

    kind: MatchKind
    depth: int = -1
    record: rd.TLSA | None = None
    reason: str = ""
    name: str | None = None
    ignored: tuple[IgnoredRecord, ...] = ()

    @property
    def ok(self) -> bool:
        return self.kind is MatchKind.MATCHED

    @property
    def usage(self) -> int | None:
        return self.record.usage if self.record is not None else None

    @property
    def openssl_error(self) -> int | None:
        return _OPENSSL_ERRORS.get(self.kind)

    def to_json(self) -> Json:
        out: Json = {"verdict": self.kind.value, "depth": self.depth, "reason": self.reason}
        if self.record is not None:
            out["record"] = tlsa_json(self.record)
            out["usage"] = usage_name(self.record.usage)
        if self.name is not None:
            out["name"] = self.name
        code = self.openssl_error
        if code is not None:
            out["openssl_error"] = code
        if self.ignored:
            out["ignored"] = [i.to_json() for i in self.ignored]
        return out


NameCheck = Callable[[x509.Certificate], str | None]


@dataclass(slots=True)
class _TaCandidate:
    depth: int
    record: rd.TLSA
    path: list[x509.Certificate]        # below the anchor, leaf first
    anchor_cert: x509.Certificate | None = None
    anchor_key: CertificatePublicKeyTypes | None = None
    origin: str = "presented certificate"


def _dns_anchor(record: rd.TLSA) -> x509.Certificate | CertificatePublicKeyTypes | None:
    """The certificate or key of a DANE-TA Full(0) record (RFC 7671 s5.2.3)."""
    if record.mtype != 0:
        return None
    if record.selector == 0:
        try:
            return x509.load_der_x509_certificate(record.data)
        except ValueError:
            return None
    return xu.load_spki(record.data)


MAX_PATH_DEPTH = 16


def build_path(chain: Sequence[x509.Certificate]) -> list[x509.Certificate]:
    """The issuer path from the leaf through the presented certificates, whatever their
    order (TLS 1.3, RFC 8446 s4.4.2, lets servers send extras and any order): each step
    takes the first presented certificate that issued the current one, and it stops at
    a self-signed certificate or when no issuer was sent. Depths count along this path,
    as OpenSSL counts them along the chain it builds."""
    path = [chain[0]]
    pool = list(chain[1:])
    while len(path) < MAX_PATH_DEPTH:
        current = path[-1]
        if current.issuer == current.subject and xu.issued_by(current, current):
            break
        issuer = next((c for c in pool if c not in path and xu.issued_by(current, c)), None)
        if issuer is None:
            break
        path.append(issuer)
    return path


def _ta_candidates(records: Sequence[rd.TLSA], chain: Sequence[x509.Certificate],
                   path: Sequence[x509.Certificate]
                   ) -> tuple[list[_TaCandidate], list[tuple[int, rd.TLSA]]]:
    """DANE-TA(2) trust anchors (RFC 7671 s5.2), shallowest first.

    An anchor certificate is a presented certificate (other than the leaf) the record
    matches, or the certificate of a Full(0) record; it sits at depth d when it is on the
    path there, or at d + 1 when it issued the path's certificate at depth d (so a
    DNS-only or cross-signed anchor works, RFC 7671 s5.2.2). A Full(0) SPKI record with no
    presented certificate is a bare key: the depth is that of the certificate it signed
    (RFC 7671 s5.2.3; OpenSSL reports it so). Also returned: records that match a
    presented certificate off the leaf's issuer path, with its position in *chain*.
    """
    leaf = chain[0]
    found: list[_TaCandidate] = []
    orphans: list[tuple[int, rd.TLSA]] = []
    for record in records:
        anchors = [c for c in chain if c != leaf and record_matches(record, c)]
        dns_anchor = _dns_anchor(record)
        if isinstance(dns_anchor, x509.Certificate) and dns_anchor not in anchors:
            anchors.append(dns_anchor)
        best: _TaCandidate | None = None
        for anchor in anchors:
            origin = "presented certificate" if anchor in chain else "certificate from DNS"
            for depth, cert in enumerate(path):
                cand: _TaCandidate | None = None
                if cert == anchor:
                    if depth >= 1:
                        cand = _TaCandidate(depth, record, list(path[:depth]),
                                            anchor_cert=anchor, origin=origin)
                elif xu.issued_by(cert, anchor):
                    cand = _TaCandidate(depth + 1, record, list(path[:depth + 1]),
                                        anchor_cert=anchor, origin=origin)
                if cand is not None:
                    if best is None or cand.depth < best.depth:
                        best = cand
                    break
        if best is None and dns_anchor is not None \
                and not isinstance(dns_anchor, x509.Certificate):
            for depth, cert in enumerate(path):
                if xu.signed_by_key(cert, dns_anchor):
                    best = _TaCandidate(depth, record, list(path[:depth + 1]),
                                        anchor_key=dns_anchor,
                                        origin="public key from DNS, signer of")
                    break
        if best is not None:
            found.append(best)
        elif anchors and anchors[0] in chain:
            orphans.append((list(chain).index(anchors[0]), record))
    found.sort(key=lambda c: c.depth)
    return found, orphans


def _check_ta_path(cand: _TaCandidate, now: datetime.datetime,
                   purpose: ObjectIdentifier) -> tuple[MatchKind, str] | None:
    """RFC 5280 s6.1 below a DANE-TA anchor (RFC 7671 s5.2): each certificate issued by
    the next, issuers are CAs, dates hold. The anchor's own dates are not checked: a trust
    anchor is a key and a name (RFC 5280 s6.1.1 (d)), here asserted by DNSSEC."""
    path = cand.path
    for i in range(len(path) - 1):
        if not xu.issued_by(path[i], path[i + 1]):
            return (MatchKind.CHAIN_INVALID,
                    f"certificate at depth {i} is not issued by the one at depth {i + 1}")
    top = path[-1]
    if cand.anchor_cert is not None:
        if not xu.issued_by(top, cand.anchor_cert):
            return (MatchKind.CHAIN_INVALID,
                    f"certificate at depth {len(path) - 1} is not issued by the trust anchor")
        bc = cand.anchor_cert.extensions
        try:
            anchor_bc = bc.get_extension_for_class(x509.BasicConstraints).value
        except (x509.ExtensionNotFound, ValueError):
            anchor_bc = None
        if anchor_bc is not None and not anchor_bc.ca:
            return (MatchKind.CHAIN_INVALID, "trust anchor is not a CA (basicConstraints)")
    elif cand.anchor_key is not None and not xu.signed_by_key(top, cand.anchor_key):
        return (MatchKind.CHAIN_INVALID, "trust anchor key does not verify the chain")
    for i in range(1, len(path)):
        problem = xu.ca_problem(path[i], below=i - 1)
        if problem is not None:
            return (MatchKind.CHAIN_INVALID, f"certificate at depth {i}: {problem}")
    for i, cert in enumerate(path):
        problem = xu.validity_problem(cert, now)
        if problem is not None:
            return (MatchKind.EXPIRED, f"certificate at depth {i}: {problem}")
    if not xu.eku_allows(path[0], purpose):
        return (MatchKind.CHAIN_INVALID,
                f"leaf extendedKeyUsage does not allow {purpose.dotted_string}")
    return None


def _pkix_match(by_usage: dict[int, list[rd.TLSA]],
                path: Sequence[x509.Certificate]) -> tuple[int, rd.TLSA] | None:
    """PKIX-EE(1) on the leaf, else the shallowest PKIX-TA(0) at depth >= 1."""
    for record in by_usage[PKIX_EE]:
        if record_matches(record, path[0]):
            return 0, record
    for depth in range(1, len(path)):
        for record in by_usage[PKIX_TA]:
            if record_matches(record, path[depth]):
                return depth, record
    return None


def evaluate(records: Iterable[TlsaInput], chain: Sequence[x509.Certificate], *,
             name_check: NameCheck | None, ee_name_check: bool = False,
             usages: Iterable[int] = ALL_USAGES, trust_store: xu.TrustStore | None = None,
             now: datetime.datetime | None = None,
             purpose: ObjectIdentifier = xu.SERVER_AUTH) -> DaneMatch:
    """The matching engine behind :func:`match_chain` and SMIMEA verification.

    *name_check* returns the reference identifier the leaf matches, or None; when
    *name_check* is None no names are checked. DANE-EE(3) matches skip names unless
    *ee_name_check* (RFC 7671 s5.1; OpenSSL checks them unless
    DANE_FLAG_NO_DANE_EE_NAMECHECKS). *purpose* is the extendedKeyUsage the leaf must
    allow under DANE-TA and PKIX usages.
    """
    if not chain:
        raise ValueError("empty certificate chain")
    when = xu.as_utc(now)
    tset = classify_tlsa(records, usages=usages)
    ignored = tset.ignored
    if not tset.usable:
        return DaneMatch(MatchKind.NO_USABLE_RECORDS, reason="no usable TLSA record",
                         ignored=ignored)
    leaf = chain[0]
    by_usage: dict[int, list[rd.TLSA]] = {u: [] for u in ALL_USAGES}
    for record in tset.usable:
        by_usage[record.usage].append(record)
    failures: list[DaneMatch] = []

    def fail(kind: MatchKind, depth: int, record: rd.TLSA | None, reason: str) -> None:
        failures.append(DaneMatch(kind, depth, record, reason, ignored=ignored))

    # 1. DANE-EE(3): the leaf only; no dates, no chain (RFC 7671 s5.1).
    for record in by_usage[DANE_EE]:
        if not record_matches(record, leaf):
            continue
        if ee_name_check and name_check is not None:
            name = name_check(leaf)
            if name is None:
                fail(MatchKind.NAME_MISMATCH, 0, record,
                     "DANE-EE matched, but the leaf names no reference identifier")
                continue
            return DaneMatch(MatchKind.MATCHED, 0, record, "DANE-EE(3) leaf match", name,
                             ignored)
        return DaneMatch(MatchKind.MATCHED, 0, record,
                         "DANE-EE(3) leaf match (names and dates not checked)", None, ignored)

    # 2. DANE-TA(2): shallowest anchor with a valid path below it (RFC 7671 s5.2).
    ta_records = by_usage[DANE_TA]
    path = build_path(chain) if ta_records else [leaf]
    candidates, orphans = _ta_candidates(ta_records, chain, path)
    for cand in candidates:
        problem = _check_ta_path(cand, when, purpose)
        if problem is not None:
            fail(problem[0], cand.depth, cand.record, problem[1])
            continue
        name = None
        if name_check is not None:
            name = name_check(leaf)
            if name is None:
                fail(MatchKind.NAME_MISMATCH, cand.depth, cand.record,
                     "DANE-TA path valid, but the leaf names no reference identifier")
                continue
        return DaneMatch(MatchKind.MATCHED, cand.depth, cand.record,
                         f"DANE-TA(2) trust anchor: {cand.origin} depth {cand.depth}", name,
                         ignored)
    for position, record in orphans:
        fail(MatchKind.CHAIN_INVALID, position, record,
             f"DANE-TA(2) record matches the certificate sent at position {position}, "
             "which is not an issuer on the leaf's path")

    # 3. PKIX-EE(1) / PKIX-TA(0): a path to the trust store first (RFC 6698 s2.1.1).
    pkix = by_usage[PKIX_EE] + by_usage[PKIX_TA]
    if pkix:
        extra = [c for r in by_usage[PKIX_TA] if r.selector == 0 and r.mtype == 0
                 for c in [_dns_anchor(r)] if isinstance(c, x509.Certificate)]
        result = xu.pkix_path(leaf, list(chain[1:]) + extra, trust_store, when, purpose)
        if not result.ok:
            seen = _pkix_match(by_usage, chain)
            fail(MatchKind.UNTRUSTED, seen[0] if seen else -1, seen[1] if seen else None,
                 f"no PKIX path to the trust store: {result.error}")
        else:
            match = _pkix_match(by_usage, result.chain)
            if match is not None:
                depth, record = match
                name = None
                if name_check is not None:
                    name = name_check(leaf)
                if name_check is not None and name is None:
                    fail(MatchKind.NAME_MISMATCH, depth, record,
                         "PKIX path valid, but the leaf names no reference identifier")
                else:
                    return DaneMatch(MatchKind.MATCHED, depth, record,
                                     f"{usage_name(record.usage)}({record.usage}) match at "
                                     f"depth {depth} on a PKIX-valid path", name, ignored)

    if failures:
        return failures[0]
    return DaneMatch(MatchKind.NO_MATCH, -1, None, "no usable TLSA record matches the chain",
                     ignored=ignored)


def reference_names(hostname: str | Name | Sequence[str | Name]) -> list[str]:
    """Reference identifiers as compared with certificate names."""
    items: Sequence[str | Name] = [hostname] if isinstance(hostname, str | Name) else hostname
    out: list[str] = []
    for item in items:
        ref = xu.normalize_reference(item)
        if ref not in out:
            out.append(ref)
    return out


def match_chain(tlsa_records: Iterable[TlsaInput], chain: Sequence[x509.Certificate],
                hostname: str | Name | Sequence[str | Name], *,
                trust_store: xu.TrustStore | None = None,
                now: datetime.datetime | None = None, check_names: bool = True,
                dane_ee_name_checks: bool = False,
                usages: Iterable[int] = ALL_USAGES) -> DaneMatch:
    """Match a TLS server chain (leaf first) against TLSA records (RFC 6698 s2.1, RFC 7671).

    *hostname* is one reference identifier or a list (RFC 7672 s3.2.2: the TLSA base
    domain, the original MX host name, optionally the next-hop domain); the leaf matches
    when a subjectAltName dNSName (or, without any, the subject CN; RFC 6125 s6.4.4)
    equals one, a ``*`` left-most label matching one label. Names are checked for
    DANE-TA(2) and the PKIX usages when *check_names*; DANE-EE(3) ignores names and dates
    (RFC 7671 s5.1) unless *dane_ee_name_checks* (OpenSSL's default). PKIX usages validate
    against *trust_store* (a list of certificates or a
    ``cryptography.x509.verification.Store``; the system store when None). *usages*
    restricts the usages considered (SMTP: DANE-TA and DANE-EE, RFC 7672 s3.1.3).
    """
    refs = reference_names(hostname) if check_names else []
    if check_names and not refs:
        raise ValueError("no reference identifier given")
    name_check: NameCheck | None = None
    if check_names:
        def name_check(cert: x509.Certificate) -> str | None:
            return xu.match_dns_names(cert, refs)
    result = evaluate(tlsa_records, chain, name_check=name_check,
                      ee_name_check=dane_ee_name_checks, usages=usages,
                      trust_store=trust_store, now=now, purpose=xu.SERVER_AUTH)
    log.debug("DANE match for %s: %s depth %d", refs, result.kind.value, result.depth)
    return result
