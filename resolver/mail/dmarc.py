"""DMARC (RFC 7489): records, policy discovery, identifier alignment, disposition.

* :func:`parse_dmarc_record`: the record grammar (s6.3, s6.4); errors as values.
* :func:`get_dmarc_policy`: policy discovery (s6.6.3): ``_dmarc.<From domain>``,
  then ``_dmarc.<Organizational Domain>``; exactly one ``v=DMARC1`` record or no
  policy; the invalid-``p=`` rule of step 6.
* :func:`evaluate`: identifier alignment (s3.1) and the disposition (s6.6.4),
  including ``sp=`` for subdomains, ``np=`` for non-existent subdomains (RFC 9091
  s4.1, carried into DMARCbis RFC 9989) and ``pct=`` sampling with an injectable roll.
* :func:`from_domains` / :func:`check_message`: the RFC5322.From author domains
  and the multiple-author rule of s6.6.1.

Results use the RFC 8601 / RFC 7489 s11.2 names ``pass``, ``fail``, ``none``,
``temperror``, ``permerror``. Each policy look-up carries the weakest DNSSEC status
of the answers it used. DNS is reached only through ``DnsSource``.
"""

from __future__ import annotations

import logging
import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from ..dnssec.status import Security
from ..wire import rdata as rd
from ..wire.name import Name, NameError_
from ..wire.types import Rcode, RRType
from .dkim_canon import TagListError, parse_tag_list, split_message
from .dnsapi import DnsSource, Lookup
from .psl import OrgDomainStrategy, default_psl, domain_text

log = logging.getLogger(__name__)

POLICIES = ("none", "quarantine", "reject")
_STRICTNESS = {"none": 0, "quarantine": 1, "reject": 2}
_VERSION = re.compile(r"^[ \t]*v[ \t]*=[ \t]*DMARC1[ \t]*(;|$)")
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:[^\s!,]+(![0-9]+[kmgtKMGT]?)?$")
_RF = re.compile(r"^[A-Za-z0-9-]+$")
KNOWN_TAGS = ("v", "p", "sp", "np", "pct", "adkim", "aspf", "rua", "ruf", "fo", "rf", "ri")


# --------------------------------------------------------------------------
# records


@dataclass(frozen=True, slots=True)
class DmarcRecord:
    """A parsed DMARC record (RFC 7489 s6.3).

    *p* is None when ``p=`` is missing or invalid, *sp*/*np* None when absent.
    *policy_error* flags the s6.6.3 step 6 condition (missing/invalid ``p=`` or
    invalid ``sp=``). *error* is set when the text is not a usable DMARC record at
    all (no leading ``v=DMARC1``, tag-list syntax). Bad values of other tags fall
    back to their defaults (s6.3: "syntax errors in the remainder of the record
    SHOULD be discarded in favor of default values") and are listed in *warnings*.
    """

    p: str | None = None
    sp: str | None = None
    np: str | None = None
    pct: int = 100
    adkim: str = "r"
    aspf: str = "r"
    rua: tuple[str, ...] = ()
    ruf: tuple[str, ...] = ()
    fo: tuple[str, ...] = ("0",)
    rf: tuple[str, ...] = ("afrf",)
    ri: int = 86400
    policy_error: str | None = None
    error: str | None = None
    warnings: tuple[str, ...] = ()
    raw: str = ""

    @property
    def is_dmarc(self) -> bool:
        """The text starts with ``v=DMARC1`` (it counts in policy discovery)."""
        return self.error != NOT_DMARC

    @property
    def valid(self) -> bool:
        return self.error is None and self.policy_error is None

    def to_json(self) -> dict[str, Any]:
        return {
            "p": self.p, "sp": self.sp, "np": self.np, "pct": self.pct,
            "adkim": self.adkim, "aspf": self.aspf, "rua": list(self.rua),
            "ruf": list(self.ruf), "fo": list(self.fo), "rf": list(self.rf), "ri": self.ri,
            "policy_error": self.policy_error, "error": self.error,
            "warnings": list(self.warnings), "raw": self.raw,
        }


NOT_DMARC = "record does not start with v=DMARC1"


def _uri_list(value: str, tag: str, warnings: list[str]) -> tuple[str, ...]:
    out = []
    for item in value.split(","):
        uri = item.strip()
        if not uri:
            continue
        if _URI.match(uri):
            out.append(uri)
        else:
            warnings.append(f"{tag}: ignored invalid URI {uri[:80]!r}")
    return tuple(out)


def parse_dmarc_record(txt: bytes | str) -> DmarcRecord:
    """Parse a DMARC record (RFC 7489 s6.3, s6.4); never raises.

    ``v=DMARC1`` must be the first tag (case-sensitive, s6.4). Tag names are
    case-insensitive; ``p``/``sp``/``np``/``adkim``/``aspf`` values too. Unknown
    tags are ignored (s6.3).
    """
    text = txt.decode("utf-8", "replace") if isinstance(txt, bytes) else txt
    if not _VERSION.match(text):
        return DmarcRecord(error=NOT_DMARC, raw=text)
    try:
        pairs = parse_tag_list(text)
    except TagListError as exc:
        return DmarcRecord(error=f"record syntax error: {exc}", raw=text)
    tags: dict[str, str] = {}
    for name, value in pairs:
        lname = name.lower()
        if lname in tags:
            return DmarcRecord(error=f"duplicate tag {lname}=", raw=text)
        tags[lname] = value
    warnings: list[str] = []
    values: dict[str, Any] = {}
    policy_error: str | None = None
    p = tags.get("p")
    if p is None:
        policy_error = "no p= tag"
    elif p.lower() not in POLICIES:
        policy_error = f"invalid p={p}"
    else:
        values["p"] = p.lower()
    if "sp" in tags:
        if tags["sp"].lower() in POLICIES:
            values["sp"] = tags["sp"].lower()
        else:
            policy_error = policy_error or f"invalid sp={tags['sp']}"
    if "np" in tags:
        if tags["np"].lower() in POLICIES:
            values["np"] = tags["np"].lower()
        else:
            warnings.append(f"ignored invalid np={tags['np']}")
    if "pct" in tags:
        pct = tags["pct"]
        if pct.isascii() and pct.isdigit() and int(pct) <= 100:
            values["pct"] = int(pct)
        else:
            warnings.append(f"invalid pct={pct}; using 100")
    for tag in ("adkim", "aspf"):
        if tag in tags:
            mode = tags[tag].lower()
            if mode in ("r", "s"):
                values[tag] = mode
            else:
                warnings.append(f"invalid {tag}={tags[tag]}; using r")
    for tag in ("rua", "ruf"):
        if tag in tags:
            values[tag] = _uri_list(tags[tag], tag, warnings)
    if "fo" in tags:
        fo = tuple(o.strip() for o in tags["fo"].split(":"))
        good = tuple(o for o in fo if o in ("0", "1", "d", "s"))
        if len(good) != len(fo):
            warnings.append(f"fo: ignored unknown options in {tags['fo']!r}")
        values["fo"] = good or ("0",)
    if "rf" in tags:
        rf = tuple(f.strip().lower() for f in tags["rf"].split(":") if f.strip())
        if rf and all(_RF.match(f) for f in rf):
            values["rf"] = rf
        else:
            warnings.append(f"invalid rf={tags['rf']}; using afrf")
    if "ri" in tags:
        ri = tags["ri"]
        if ri.isascii() and ri.isdigit() and int(ri) <= 0xFFFFFFFF:
            values["ri"] = int(ri)
        else:
            warnings.append(f"invalid ri={ri}; using 86400")
    for name in tags:
        if name not in KNOWN_TAGS:
            warnings.append(f"ignored unknown tag {name}=")
    return DmarcRecord(policy_error=policy_error, warnings=tuple(warnings), raw=text, **values)


# --------------------------------------------------------------------------
# policy discovery

FOUND = "found"
NONE = "none"
INVALID = "invalid"
TEMPERROR = "temperror"


@dataclass(frozen=True, slots=True)
class DmarcPolicyLookup:
    """The outcome of policy discovery for one author domain (RFC 7489 s6.6.3).

    *status*: ``found`` (*record* is the policy; if its ``p=`` was invalid but it
    has a valid ``rua=`` it was turned into ``p=none`` per step 6.1), ``none`` (no
    record, or several: step 5), ``invalid`` (one record, unusable: step 6.2, or a
    From domain that is not a domain name), ``temperror`` (a look-up failed or was
    DNSSEC-bogus). *policy_domain* is where the record was found; when it differs
    from *from_domain* the record was inherited from the Organizational Domain and
    ``sp=`` applies. *nonexistent* is True when the From domain was shown not to
    exist (NXDOMAIN/NODATA for A, AAAA and MX, RFC 9091 s2.7); it is only checked
    when an inherited record has ``np=``.
    """

    from_domain: str
    org_domain: str
    status: str
    record: DmarcRecord | None = None
    policy_domain: str | None = None
    reason: str | None = None
    security: Security = Security.INDETERMINATE
    nonexistent: bool | None = None
    queried: tuple[str, ...] = field(default=())

    @property
    def found(self) -> bool:
        return self.status == FOUND

    @property
    def inherited(self) -> bool:
        return self.policy_domain is not None and self.policy_domain != self.from_domain

    def to_json(self) -> dict[str, Any]:
        return {
            "from_domain": self.from_domain,
            "org_domain": self.org_domain,
            "status": self.status,
            "record": self.record.to_json() if self.record is not None else None,
            "policy_domain": self.policy_domain,
            "inherited": self.inherited,
            "reason": self.reason,
            "security": self.security.label,
            "nonexistent": self.nonexistent,
            "queried": list(self.queried),
        }


def _txt_strings(lookup: Lookup) -> list[str]:
    out = []
    for record in lookup.records:
        try:
            data = rd.decode(RRType.TXT, record)
        except rd.RdataError:
            continue
        if isinstance(data, rd.TXT):
            out.append(data.joined().decode("utf-8", "replace"))
    return out


def _failed(lookup: Lookup) -> str | None:
    """Why a look-up gives no usable answer (temporary), or None."""
    if lookup.security == Security.BOGUS:
        return f"DNSSEC-bogus answer for {lookup.name}: {lookup.reason or 'bogus'}"
    if lookup.error is not None or lookup.rcode not in (Rcode.NOERROR, Rcode.NXDOMAIN):
        return f"look-up of {lookup.name} failed: {lookup.error or f'rcode {lookup.rcode}'}"
    return None


async def _nonexistent(dns: DnsSource, domain: Name) -> tuple[bool | None, Security]:
    """RFC 9091 s2.7: NXDOMAIN or NODATA for A, AAAA and MX. None when unsure."""
    security = Security.SECURE
    for rtype in (RRType.A, RRType.AAAA, RRType.MX):
        lookup = await dns.lookup(domain, rtype)
        security = min(security, lookup.security)
        if _failed(lookup) is not None:
            return None, security
        if lookup.records:
            return False, security
    return True, security


async def get_dmarc_policy(dns: DnsSource, from_domain: str | Name, *,
                           psl: OrgDomainStrategy | None = None) -> DmarcPolicyLookup:
    """Discover the DMARC policy for an author domain (RFC 7489 s6.6.3).

    Looks up ``_dmarc.<from_domain>``; if no ``v=DMARC1`` record is there, looks up
    ``_dmarc.<Organizational Domain>``. A failed look-up stops discovery with
    ``temperror`` rather than falling back (we cannot tell that no record exists).
    """
    psl = psl or default_psl()
    domain = domain_text(from_domain)
    try:
        from_name = Name.from_text(domain + ".")
        org = psl.org_domain(from_name)
    except (ValueError, NameError_):
        return DmarcPolicyLookup(domain, domain, INVALID, reason="From domain is not a domain name")
    org_text = domain_text(org)
    security = Security.SECURE
    queried: list[str] = []
    records: list[DmarcRecord] = []
    policy_domain = domain
    for candidate in ((from_name,) if org == from_name else (from_name, org)):
        policy_domain = domain_text(candidate)
        try:
            qname = candidate.prepend(b"_dmarc")
        except NameError_:
            continue
        queried.append(qname.to_text())
        lookup = await dns.lookup(qname, RRType.TXT)
        security = min(security, lookup.security)
        why = _failed(lookup)
        if why is not None:
            return DmarcPolicyLookup(domain, org_text, TEMPERROR, reason=why, security=security,
                                     queried=tuple(queried))
        records = [r for r in map(parse_dmarc_record, _txt_strings(lookup)) if r.is_dmarc]
        if records:
            break
    common: dict[str, Any] = {"security": security, "queried": tuple(queried)}
    if not records:
        return DmarcPolicyLookup(domain, org_text, NONE, reason="no DMARC record", **common)
    if len(records) > 1:
        return DmarcPolicyLookup(domain, org_text, NONE, policy_domain=policy_domain,
                                 reason=f"{len(records)} DMARC records at {policy_domain} "
                                 "(s6.6.3 step 5: no policy)", **common)
    record = records[0]
    if record.error is not None:
        return DmarcPolicyLookup(domain, org_text, INVALID, record=record,
                                 policy_domain=policy_domain, reason=record.error, **common)
    if record.policy_error is not None:
        if not record.rua:
            return DmarcPolicyLookup(domain, org_text, INVALID, record=record,
                                     policy_domain=policy_domain,
                                     reason=f"{record.policy_error} and no valid rua= "
                                     "(s6.6.3 step 6)", **common)
        record = replace(record, p="none", sp=None, np=None,
                         warnings=(*record.warnings, f"{record.policy_error}: acting as p=none "
                                   "because rua= is valid (s6.6.3 step 6)"))
    nonexistent: bool | None = None
    if record.np is not None and policy_domain != domain:
        nonexistent, ne_security = await _nonexistent(dns, from_name)
        common["security"] = min(security, ne_security)
    return DmarcPolicyLookup(domain, org_text, FOUND, record=record, policy_domain=policy_domain,
                             nonexistent=nonexistent, **common)


# --------------------------------------------------------------------------
# evaluation


class _DkimLike(Protocol):
    @property
    def result(self) -> str: ...

    @property
    def domain(self) -> str | None: ...


DkimInput = tuple[str, str] | _DkimLike


@dataclass(frozen=True, slots=True)
class DmarcResult:
    """The DMARC verdict for a message (RFC 7489 s6.6.2-s6.6.4).

    *result*: ``pass`` / ``fail`` / ``none`` / ``temperror`` / ``permerror``.
    *disposition*: what the Domain Owner asks for after ``pct=`` sampling
    (``none``, ``quarantine``, ``reject``); always ``none`` unless the result is
    ``fail``. *requested* is the policy before sampling and *policy_tag* the tag it
    came from (``p``, ``sp`` or ``np``); *sampled_out* is True when ``pct=`` spared
    the message (the next lower policy applied, s6.6.4).
    """

    result: str
    disposition: str = "none"
    from_domain: str | None = None
    policy_domain: str | None = None
    org_domain: str | None = None
    requested: str | None = None
    policy_tag: str | None = None
    p: str | None = None
    sp: str | None = None
    pct: int | None = None
    sampled_out: bool = False
    spf_aligned: bool = False
    dkim_aligned: bool = False
    aligned_dkim_domains: tuple[str, ...] = ()
    reason: str | None = None
    security: Security | None = None
    from_domains: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "result": self.result,
            "disposition": self.disposition,
            "from_domain": self.from_domain,
            "policy_domain": self.policy_domain,
            "org_domain": self.org_domain,
            "requested": self.requested,
            "policy_tag": self.policy_tag,
            "p": self.p,
            "sp": self.sp,
            "pct": self.pct,
            "sampled_out": self.sampled_out,
            "spf_aligned": self.spf_aligned,
            "dkim_aligned": self.dkim_aligned,
            "aligned_dkim_domains": list(self.aligned_dkim_domains),
            "reason": self.reason,
            "security": self.security.label if self.security is not None else None,
            "from_domains": list(self.from_domains),
        }


def aligned(author: str, identifier: str, mode: str, *,
            psl: OrgDomainStrategy | None = None) -> bool:
    """Identifier alignment (s3.1.1, s3.1.2): strict = the same name; relaxed = the
    same Organizational Domain. *identifier* may be an address (text after '@')."""
    a = domain_text(author)
    b = domain_text(identifier.rpartition("@")[2])
    if not a or not b:
        return False
    if a == b:
        return True
    if mode == "s":
        return False
    try:
        return (psl or default_psl()).org_domain(a) == (psl or default_psl()).org_domain(b)
    except (ValueError, NameError_):
        return False


def _dkim_pair(item: DkimInput) -> tuple[str, str]:
    if isinstance(item, tuple):
        return item[0].lower(), item[1] or ""
    return item.result.lower(), item.domain or ""


def _lower_policy(policy: str) -> str:
    """s6.6.4: a message not sampled gets the next lower policy."""
    return {"reject": "quarantine", "quarantine": "none"}.get(policy, "none")


def evaluate(from_domain: str, policy: DmarcPolicyLookup,
             spf_result: tuple[str, str] | None, dkim_results: Iterable[DkimInput], *,
             pct_roll: float | None = None, psl: OrgDomainStrategy | None = None) -> DmarcResult:
    """Apply a discovered policy to authentication results (s6.6.2-s6.6.4).

    *spf_result* is ``(result, domain)`` for the SPF check of MAIL FROM (or HELO for
    a null sender); *domain* may be a whole address. *dkim_results* are
    ``(result, d=)`` pairs or objects with ``result`` and ``domain`` (such as
    :class:`~resolver.mail.dkim.SignatureResult`). *pct_roll* is a number in
    [0, 100): the policy applies when ``roll < pct`` (default: a random roll).

    When nothing aligned passed but an aligned SPF or DKIM check ended in
    ``temperror``, the result is ``temperror`` (a retry could pass) instead of ``fail``.
    """
    author = domain_text(from_domain)
    base: dict[str, Any] = {"from_domain": author, "policy_domain": policy.policy_domain,
                            "org_domain": policy.org_domain, "security": policy.security,
                            "from_domains": (author,)}
    if policy.status == TEMPERROR:
        return DmarcResult("temperror", reason=policy.reason, **base)
    if policy.status == INVALID:
        return DmarcResult("permerror", reason=policy.reason, **base)
    record = policy.record
    if policy.status != FOUND or record is None:
        return DmarcResult("none", reason=policy.reason or "no DMARC policy", **base)
    base.update(p=record.p, sp=record.sp, pct=record.pct)
    spf_ok = False
    temp_aligned = False
    if spf_result is not None:
        spf_res, spf_domain = spf_result[0].lower(), spf_result[1] or ""
        if aligned(author, spf_domain, record.aspf, psl=psl):
            spf_ok = spf_res == "pass"
            temp_aligned = spf_res == "temperror"
    dkim_domains: list[str] = []
    for item in dkim_results:
        res, d = _dkim_pair(item)
        if aligned(author, d, record.adkim, psl=psl):
            if res == "pass":
                dkim_domains.append(domain_text(d))
            elif res == "temperror":
                temp_aligned = True
    base.update(spf_aligned=spf_ok, dkim_aligned=bool(dkim_domains),
                aligned_dkim_domains=tuple(dict.fromkeys(dkim_domains)))
    if spf_ok or dkim_domains:
        which = " and ".join(n for n, ok in (("SPF", spf_ok), ("DKIM", bool(dkim_domains))) if ok)
        return DmarcResult("pass", reason=f"aligned {which} pass", **base)
    if temp_aligned:
        return DmarcResult("temperror", reason="no aligned pass; an aligned check had a "
                           "temporary error", **base)
    if policy.inherited and policy.nonexistent and record.np is not None:
        requested, tag = record.np, "np"
    elif policy.inherited and record.sp is not None:
        requested, tag = record.sp, "sp"
    else:
        requested, tag = record.p or "none", "p"
    disposition = requested
    sampled_out = False
    if record.pct < 100 and requested != "none":
        roll = random.uniform(0, 100) if pct_roll is None else pct_roll
        if roll >= record.pct:
            sampled_out = True
            disposition = _lower_policy(requested)
    reason = f"no aligned SPF or DKIM pass; {tag}={requested}"
    if sampled_out:
        reason += f", not sampled at pct={record.pct}"
    return DmarcResult("fail", disposition, requested=requested, policy_tag=tag,
                       sampled_out=sampled_out, reason=reason, **base)


# --------------------------------------------------------------------------
# RFC5322.From


def _addr_specs(value: str) -> list[str]:
    """The addr-specs of an address-list (RFC 5322 s3.4): display names, comments,
    quoted strings, angle addresses, groups and obsolete routes handled. Quoted
    strings are kept as ``""`` so an '@' inside them is not taken for the domain."""
    out: list[str] = []
    plain: list[str] = []
    angle: list[str] | None = None
    found_angle: str | None = None
    depth = 0
    i = 0
    n = len(value)

    def finish() -> None:
        nonlocal plain, angle, found_angle
        spec = found_angle if found_angle is not None else "".join(plain)
        spec = "".join(spec.split())
        if ":" in spec and found_angle is not None:
            spec = spec.rpartition(":")[2]   # obs-route "@a,@b:user@dom"
        if spec:
            out.append(spec)
        plain, angle, found_angle = [], None, None

    while i < n:
        c = value[i]
        if depth:
            if c == "\\":
                i += 1
            elif c == "(":
                depth += 1
            elif c == ")":
                depth -= 1
        elif c == '"':
            i += 1
            while i < n and value[i] != '"':
                i += 2 if value[i] == "\\" else 1
            (angle if angle is not None else plain).append('""')
        elif c == "(":
            depth = 1
        elif angle is not None:
            if c == ">":
                found_angle = "".join(angle)
                angle = None
            else:
                angle.append(c)
        elif c == "<":
            angle = []
        elif c == ",":
            finish()
        elif c == ":":
            plain = []           # group name: "undisclosed: a@b, c@d;"
        elif c == ";":
            finish()
        else:
            plain.append(c)
        i += 1
    if angle is not None:
        found_angle = "".join(angle)
    finish()
    return out


def from_domains(message: bytes) -> list[str]:
    """The domains of all RFC5322.From mailboxes, one per mailbox, in order
    (lowercase, A-labels). Empty when there is no From field or no address in it.
    A message with several From fields contributes the mailboxes of each."""
    fields, _ = split_message(message)
    domains: list[str] = []
    for f in fields:
        if f.lname != b"from":
            continue
        for spec in _addr_specs(f.text()):
            local, at, dom = spec.rpartition("@")
            if not at or not local or not dom or dom.startswith("["):
                continue
            text = domain_text(dom)
            if text:
                domains.append(text)
    return domains


def _from_field_count(message: bytes) -> int:
    fields, _ = split_message(message)
    return sum(1 for f in fields if f.lname == b"from")


_SEVERITY = {"pass": 0, "none": 1, "permerror": 2, "temperror": 3}


def _severity(result: DmarcResult) -> tuple[int, int]:
    if result.result == "fail":
        return 4, _STRICTNESS.get(result.disposition, 0)
    return _SEVERITY.get(result.result, 1), 0


async def check_message(dns: DnsSource, message: bytes,
                        spf_result: tuple[str, str] | None,
                        dkim_results: Sequence[DkimInput], *, pct_roll: float | None = None,
                        psl: OrgDomainStrategy | None = None) -> DmarcResult:
    """DMARC for a whole message: From extraction, discovery and evaluation.

    RFC 7489 s6.6.1 on author domains, as applied here:

    * no From field, or no usable address: ``permerror`` (the RFC leaves such
      messages to local policy; the disposition stays ``none`` and the caller decides);
    * several mailboxes (in one From field or several From fields) that share one
      domain: evaluated once;
    * several distinct domains: each is evaluated and the most severe outcome is
      returned (a failure with the strictest disposition first), as s6.6.1 suggests
      ("apply the most strict policy selected among the checks that fail").
    """
    domains = list(dict.fromkeys(from_domains(message)))
    field_count = _from_field_count(message)
    if not domains:
        why = "no RFC5322.From field" if field_count == 0 else "no domain in RFC5322.From"
        return DmarcResult("permerror", reason=why + " (RFC 7489 s6.6.1)")
    outcomes: list[DmarcResult] = []
    for domain in domains:
        policy = await get_dmarc_policy(dns, domain, psl=psl)
        outcomes.append(evaluate(domain, policy, spf_result, dkim_results,
                                 pct_roll=pct_roll, psl=psl))
    worst = max(outcomes, key=_severity)
    note = None
    if len(domains) > 1:
        note = f"{len(domains)} author domains; most severe outcome reported (s6.6.1)"
    elif field_count > 1:
        note = f"{field_count} From fields (RFC 5322 allows one)"
    security = min((o.security for o in outcomes if o.security is not None), default=None)
    reason = worst.reason if note is None else f"{worst.reason}; {note}" if worst.reason else note
    return replace(worst, from_domains=tuple(domains), reason=reason, security=security)
