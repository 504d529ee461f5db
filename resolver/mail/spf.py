"""SPF: the check_host() function of RFC 7208, over a :class:`DnsSource`.

:func:`check_host` is the whole of s4-s7: initial processing (s4.3), record lookup
and selection (s4.4-4.5, :func:`get_spf_record`), record evaluation (s4.6) with every
mechanism (s5), ``redirect=`` and ``exp=`` (s6), macros (s7, :mod:`.spf_macro`), and
the processing limits of s4.6.4 (10 DNS-querying terms, 2 void lookups, 10 MX names,
10 PTR names, an overall time limit). Records are parsed whole before evaluation
(:mod:`.spf_parse`), so a syntax error anywhere is permerror.

Everything is a pure function of the DNS answers: no sockets, no global state.
Besides the RFC result, a :class:`SpfResult` says whether every DNS answer the
verdict rests on was DNSSEC-secure (``security``, the weakest status seen); a *bogus*
answer makes the result temperror, since the data can be trusted neither way.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
from dataclasses import dataclass, field

from ..dnssec.status import Security
from ..wire import rdata as rd
from ..wire.name import Name
from ..wire.types import Rcode, RRType
from .dnsapi import DnsSource, Lookup
from .spf_macro import (
    MacroEnv,
    MacroToken,
    SpfSyntaxError,
    domain_name,
    expand,
    parse_explain_string,
    target_name,
    truncate_domain,
    uses_letter,
)
from .spf_parse import Mechanism, Modifier, SpfPolicy, parse_record
from .spf_record import (
    DEFAULT_EXPLANATION,
    DEFAULT_LIMITS,
    QUALIFIER_RESULTS,
    Result,
    SpfLimits,
    SpfRecord,
    SpfResult,
    SpfStep,
    get_spf_record,
    lookup_problem,
    select_record,
    txt_strings,
    type_name,
)

__all__ = [
    "DEFAULT_EXPLANATION",
    "DEFAULT_LIMITS",
    "Result",
    "SpfLimits",
    "SpfPolicy",
    "SpfRecord",
    "SpfResult",
    "SpfStep",
    "SpfSyntaxError",
    "check_host",
    "get_spf_record",
    "parse_record",
    "select_record",
]

log = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


# --------------------------------------------------------------------------
# evaluation

class _Abort(Exception):
    """Ends the whole evaluation with permerror or temperror."""

    def __init__(self, result: Result, reason: str) -> None:
        super().__init__(reason)
        self.result = result
        self.reason = reason


@dataclass(slots=True)
class _Outcome:
    result: Result
    domain: str
    mechanism: str | None = None
    explanation: str | None = None
    reason: str | None = None


def _client_ip(ip: str | IPAddress) -> IPAddress:
    """<ip>; an IPv4-mapped IPv6 address is the IPv4 address (RFC 7208 s5, s5.6)."""
    addr = ipaddress.ip_address(ip) if isinstance(ip, str) else ip
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


def _reverse_name(ip: IPAddress) -> Name:
    return Name.from_labels(label.encode("ascii") for label in ip.reverse_pointer.split("."))


def _name_text(name: Name) -> str:
    return name.to_text(omit_final_dot=True)


@dataclass(slots=True)
class _Check:
    """The state of one check_host() call, shared by its includes and redirects: the
    counters of s4.6.4, the security of the answers used, the trace, a lookup cache."""

    dns: DnsSource
    ip: IPAddress
    sender: str
    local: str
    sender_domain: str
    helo: str
    receiver: str
    now: int
    limits: SpfLimits
    default_explanation: tuple[MacroToken, ...]
    dns_terms: int = 0
    void_lookups: int = 0
    queries: int = 0
    security: Security | None = None
    exp_security: Security | None = None
    record: str | None = None
    trace: list[SpfStep] = field(default_factory=list)
    cache: dict[tuple[Name, int], Lookup] = field(default_factory=dict)

    @property
    def v6(self) -> bool:
        return isinstance(self.ip, ipaddress.IPv6Address)

    @property
    def addr_type(self) -> int:
        """A for an IPv4 client, AAAA for IPv6 (RFC 7208 s5)."""
        return RRType.AAAA if self.v6 else RRType.A

    def step(self, depth: int, domain: str, kind: str, detail: str) -> None:
        self.trace.append(SpfStep(depth, domain, kind, detail))
        log.debug("spf %s[%d] %s: %s", domain, depth, kind, detail)

    async def lookup(self, name: Name, rtype: int, depth: int, domain: str) -> Lookup:
        key = (name, rtype)
        lk = self.cache.get(key)
        if lk is None:
            self.queries += 1
            try:
                lk = await self.dns.lookup(name, rtype)
            except Exception as exc:  # a broken source is a DNS failure, not a crash
                log.warning("spf: DNS source failed for %s %s", name, type_name(rtype),
                            exc_info=True)
                lk = Lookup(name, rtype, Rcode.SERVFAIL, (), Security.INDETERMINATE,
                            error=f"{type(exc).__name__}: {exc}")
            self.cache[key] = lk
            problem = lookup_problem(lk)
            if problem is not None:
                summary = problem
            elif lk.nxdomain:
                summary = "NXDOMAIN"
            else:
                summary = f"{len(lk.records)} record(s)"
            self.step(depth, domain, "dns", f"{_name_text(name)} {type_name(rtype)}: "
                      f"{summary} ({lk.security.label})")
        return lk

    def note(self, lk: Lookup, *, exp: bool = False) -> None:
        """Record that the result (or the explanation) rests on *lk*."""
        if exp:
            current = self.exp_security
            self.exp_security = lk.security if current is None else min(current, lk.security)
        else:
            current = self.security
            self.security = lk.security if current is None else min(current, lk.security)

    async def fetch(self, name: Name, rtype: int, depth: int, domain: str, *,
                    void: bool = False) -> Lookup:
        """A lookup whose failure is temperror (RFC 7208 s4.4, s5); with *void*, an
        empty answer counts against the void-lookup limit (s4.6.4)."""
        lk = await self.lookup(name, rtype, depth, domain)
        self.note(lk)
        problem = lookup_problem(lk)
        if problem is not None:
            raise _Abort(Result.TEMPERROR, problem)
        if void and not lk.records:
            self.void_lookups += 1
            self.step(depth, domain, "void", f"void lookup {self.void_lookups} "
                      f"({_name_text(name)} {type_name(rtype)})")
            if self.void_lookups > self.limits.void_lookups:
                raise _Abort(Result.PERMERROR, f"more than {self.limits.void_lookups} void "
                             "lookups (RFC 7208 s4.6.4)")
        return lk

    def count_term(self, term: str, depth: int, domain: str) -> None:
        """A mechanism or modifier that queries DNS is about to be evaluated (s4.6.4)."""
        self.dns_terms += 1
        if self.dns_terms > self.limits.dns_terms:
            self.step(depth, domain, "limit", f"{term}: DNS-querying term "
                      f"{self.dns_terms} over the limit of {self.limits.dns_terms}")
            raise _Abort(Result.PERMERROR, f"more than {self.limits.dns_terms} DNS-querying "
                         f"terms (RFC 7208 s4.6.4) at {term!r} in {domain}")

    # --- the validated names of <ip> (s5.5), for ptr and %{p} -------------
    async def ptr_names(self, depth: int, domain: str, *, exp: bool = False) -> list[Name]:
        """The first N names of the PTR RRset of <ip> (s4.6.4); a DNS error gives no
        names (s5.5), a bogus answer temperror (except for the explanation)."""
        lk = await self.lookup(_reverse_name(self.ip), RRType.PTR, depth, domain)
        self.note(lk, exp=exp)
        problem = lookup_problem(lk)
        if problem is not None:
            if lk.security is Security.BOGUS and not exp:
                raise _Abort(Result.TEMPERROR, problem)
            self.step(depth, domain, "dns", "PTR lookup failed: no names (RFC 7208 s5.5)")
            return []
        names: list[Name] = []
        for data in lk.records:
            try:
                ptr = rd.decode(RRType.PTR, data)
            except rd.RdataError:
                continue
            if isinstance(ptr, rd.PTR):
                names.append(ptr.target)
        if len(names) > self.limits.ptr_names:
            self.step(depth, domain, "limit", f"{len(names)} PTR names: only the first "
                      f"{self.limits.ptr_names} are used (RFC 7208 s4.6.4)")
            names = names[:self.limits.ptr_names]
        return names

    async def validates(self, name: Name, depth: int, domain: str, *,
                        exp: bool = False) -> bool:
        """Whether *name* has <ip> among its addresses (s5.5); DNS errors skip it."""
        lk = await self.lookup(name, self.addr_type, depth, domain)
        self.note(lk, exp=exp)
        problem = lookup_problem(lk)
        if problem is not None:
            if lk.security is Security.BOGUS and not exp:
                raise _Abort(Result.TEMPERROR, problem)
            return False
        return int(self.ip) in _addresses(lk, self.v6)

    async def validated_name(self, domain: str, depth: int, *, exp: bool = False) -> str:
        """The ``p`` macro (RFC 7208 s7.3): <domain> itself if validated, else a
        validated subdomain of it, else any validated name, else "unknown"."""
        names = await self.ptr_names(depth, domain, exp=exp)
        validated = [n for n in names if await self.validates(n, depth, domain, exp=exp)]
        here = domain_name(domain)
        if here is not None:
            for n in validated:
                if n == here:
                    return _name_text(n)
            for n in validated:
                if n.is_subdomain(here):
                    return _name_text(n)
        return _name_text(validated[0]) if validated else "unknown"

    async def env(self, domain: str, tokens: tuple[MacroToken, ...], depth: int, *,
                  exp: bool = False) -> MacroEnv:
        validated = "unknown"
        if uses_letter(tokens, "p"):
            validated = await self.validated_name(domain, depth, exp=exp)
        return MacroEnv(self.sender, self.local, self.sender_domain, domain, self.ip,
                        self.helo, self.receiver, self.now, validated)


def _addresses(lk: Lookup, v6: bool) -> set[int]:
    size = 16 if v6 else 4
    return {int.from_bytes(r, "big") for r in lk.records if len(r) == size}


def _in_prefix(ip: int, addr: int, prefix: int, bits: int) -> bool:
    return (ip ^ addr) >> (bits - prefix) == 0


async def _target(ctx: _Check, tokens: tuple[MacroToken, ...], domain: str,
                  depth: int) -> str:
    """Expand a domain-spec into a domain (s4.8, s7)."""
    env = await ctx.env(domain, tokens, depth)
    return truncate_domain(expand(tokens, env))


async def _target_name(ctx: _Check, mech: Mechanism, here: Name, domain: str,
                       depth: int) -> Name | None:
    """<target-name> of a/mx/ptr/exists: the expanded domain-spec or <domain> (s4.8)."""
    if mech.domain_spec is None:
        return here
    text = await _target(ctx, mech.tokens, domain, depth)
    name = target_name(text)
    if name is None:
        ctx.step(depth, domain, "term", f"{mech.text}: {text!r} is not a valid domain name, "
                 "no match (RFC 7208 s4.8)")
    return name


async def _match(ctx: _Check, mech: Mechanism, here: Name, domain: str, depth: int) -> bool:
    """Whether *mech* matches <ip> (RFC 7208 s5); raises _Abort for errors."""
    kind = mech.kind
    if kind == "all":                                   # s5.1
        return True
    if kind in ("ip4", "ip6"):                          # s5.6
        net = mech.network
        return net is not None and net.version == ctx.ip.version and ctx.ip in net
    ctx.count_term(mech.text, depth, domain)
    if kind == "include":                               # s5.2
        target = await _target(ctx, mech.tokens, domain, depth)
        ctx.step(depth, domain, "include", target)
        sub = await _evaluate(ctx, target, depth + 1, explain=False)
        if sub.result is Result.NONE:
            raise _Abort(Result.PERMERROR, f"include:{target} has no SPF record "
                         "(RFC 7208 s5.2)")
        return sub.result is Result.PASS
    name = await _target_name(ctx, mech, here, domain, depth)
    if name is None:
        return False
    if kind == "exists":                                # s5.7: always an A query
        return bool((await ctx.fetch(name, RRType.A, depth, domain, void=True)).records)
    bits = 128 if ctx.v6 else 32
    if kind == "ptr":                                   # s5.5
        for candidate in await ctx.ptr_names(depth, domain):
            if candidate.is_subdomain(name) and await ctx.validates(candidate, depth, domain):
                return True
        return False
    prefix = mech.cidr6 if ctx.v6 else mech.cidr4
    prefix = bits if prefix is None else prefix
    ip = int(ctx.ip)
    if kind == "a":                                     # s5.3
        lk = await ctx.fetch(name, ctx.addr_type, depth, domain, void=True)
        return any(_in_prefix(ip, a, prefix, bits) for a in _addresses(lk, ctx.v6))
    # mx, s5.4
    lk = await ctx.fetch(name, RRType.MX, depth, domain, void=True)
    exchanges: list[Name] = []
    for data in lk.records:
        try:
            mx = rd.decode(RRType.MX, data)
        except rd.RdataError as exc:
            raise _Abort(Result.TEMPERROR, f"malformed MX record at {_name_text(name)}") from exc
        if isinstance(mx, rd.MX):
            exchanges.append(mx.exchange)
    if len(exchanges) > ctx.limits.mx_names:
        raise _Abort(Result.PERMERROR, f"{len(exchanges)} MX records at {_name_text(name)}, "
                     f"more than {ctx.limits.mx_names} (RFC 7208 s4.6.4)")
    for exchange in exchanges:
        if exchange.is_root():                          # null MX (RFC 7505)
            continue
        alk = await ctx.fetch(exchange, ctx.addr_type, depth, domain)
        if any(_in_prefix(ip, a, prefix, bits) for a in _addresses(alk, ctx.v6)):
            return True
    return False


async def _explanation_text(ctx: _Check, mod: Modifier, domain: str, depth: int) -> str | None:
    """The exp= explanation (RFC 7208 s6.2), or None when it must be ignored: the
    target is not a valid name, a DNS error or bogus answer, not exactly one TXT
    record, non-ASCII text or an explain-string syntax error."""
    env = await ctx.env(domain, mod.tokens, depth, exp=True)
    name = target_name(expand(mod.tokens, env))
    if name is None:
        ctx.step(depth, domain, "exp", "exp= target is not a valid domain name: ignored")
        return None
    lk = await ctx.lookup(name, RRType.TXT, depth, domain)
    problem = lookup_problem(lk)
    why: str | None = problem
    tokens: tuple[MacroToken, ...] = ()
    if why is None and len(lk.records) != 1:
        why = f"{len(lk.records)} TXT records"
    if why is None:
        strings = txt_strings(lk.records[0])
        try:
            text = b"".join(strings if strings is not None else ()).decode("ascii")
            tokens = parse_explain_string(text)
        except UnicodeDecodeError:
            why = "explanation is not 7-bit ASCII"
        except SpfSyntaxError as exc:
            why = f"explanation syntax error: {exc}"
    if why is not None:
        ctx.step(depth, domain, "exp", f"exp={_name_text(name)} ignored: {why} (RFC 7208 s6.2)")
        return None
    ctx.note(lk, exp=True)
    env = await ctx.env(domain, tokens, depth, exp=True)
    return expand(tokens, env)


async def _explain(ctx: _Check, policy: SpfPolicy, domain: str, depth: int) -> str:
    """The explanation for a fail (RFC 7208 s6.2): exp= if usable, else the default."""
    if policy.explanation is not None:
        text = await _explanation_text(ctx, policy.explanation, domain, depth)
        if text is not None:
            ctx.step(depth, domain, "exp", text)
            return text
    ctx.exp_security = None
    env = await ctx.env(domain, ctx.default_explanation, depth, exp=True)
    return expand(ctx.default_explanation, env)


async def _evaluate(ctx: _Check, domain: str, depth: int, *, explain: bool = True) -> _Outcome:
    """check_host() for <domain> (RFC 7208 s4); recursive for include and redirect.
    *explain* is False under include, whose explanation is never used (s6.2)."""
    here = domain_name(domain)
    if here is None:
        reason = "malformed or single-label domain (RFC 7208 s4.3)"
        ctx.step(depth, domain, "record", reason)
        return _Outcome(Result.NONE, domain, reason=reason)
    lk = await ctx.lookup(here, RRType.TXT, depth, domain)
    ctx.note(lk)
    found = select_record(lk, domain)
    if found.error is Result.NONE:
        ctx.step(depth, domain, "record", found.reason or "none")
        return _Outcome(Result.NONE, domain, reason=found.reason)
    if found.error is not None or found.text is None:
        raise _Abort(found.error or Result.PERMERROR, f"{domain}: {found.reason}")
    if depth == 0:
        ctx.record = found.text
    ctx.step(depth, domain, "record", found.text)
    try:
        policy = parse_record(found.text)
    except SpfSyntaxError as exc:
        raise _Abort(Result.PERMERROR, f"{domain}: {exc}") from exc

    for mech in policy.mechanisms:                      # s4.6.2
        matched = await _match(ctx, mech, here, domain, depth)
        ctx.step(depth, domain, "term", f"{mech.text}: {'match' if matched else 'no match'}")
        if matched:
            result = QUALIFIER_RESULTS[mech.qualifier]
            explanation = None
            if result is Result.FAIL and explain:
                explanation = await _explain(ctx, policy, domain, depth)
            return _Outcome(result, domain, mech.text, explanation,
                            f"matched {mech.text} in the SPF record of {domain}")
    if policy.redirect is not None:                     # s6.1
        ctx.count_term(policy.redirect.text, depth, domain)
        target = await _target(ctx, policy.redirect.tokens, domain, depth)
        ctx.step(depth, domain, "redirect", target)
        out = await _evaluate(ctx, target, depth + 1, explain=explain)
        if out.result is Result.NONE:
            raise _Abort(Result.PERMERROR, f"redirect={target} has no SPF record "
                         "(RFC 7208 s6.1)")
        return out
    return _Outcome(Result.NEUTRAL, domain, None, None,
                    f"no mechanism matched in the SPF record of {domain}: neutral "
                    "(RFC 7208 s4.7)")


async def check_host(dns: DnsSource, ip: str | IPAddress, domain: str | None, sender: str,
                     helo: str | None = None, *, receiver: str = "unknown",
                     now: float | None = None,
                     default_explanation: str = DEFAULT_EXPLANATION,
                     limits: SpfLimits = DEFAULT_LIMITS) -> SpfResult:
    """RFC 7208 check_host(<ip>, <domain>, <sender>).

    *sender* is the MAIL FROM (or HELO) identity; an empty one (null sender) becomes
    ``postmaster@<helo>``, one without local-part gets "postmaster" (s4.3), a bare
    domain is treated as ``postmaster@domain`` (s2.3). An empty *domain* means the
    sender's domain. *helo* feeds ``%{h}``, *receiver* ``%{r}``, *now* ``%{t}``
    (default: the current time). *default_explanation* is an explain-string used
    for fail when ``exp=`` gives nothing (s6.2). Raises ValueError for a bad *ip*
    or a malformed *default_explanation*; every other problem is a result."""
    addr = _client_ip(ip)
    default_tokens = parse_explain_string(default_explanation)
    if not sender:
        sender = f"postmaster@{helo or domain or ''}"
    local, at, sender_domain = sender.rpartition("@")
    if not at:
        local, sender_domain = "postmaster", sender
        sender = f"postmaster@{sender}"
    elif not local:
        local = "postmaster"
        sender = f"postmaster{sender}"
    if not domain:
        domain = sender_domain
    domain = domain[:-1] if domain.endswith(".") else domain
    ctx = _Check(dns, addr, sender, local, sender_domain, helo or "unknown", receiver,
                 int(time.time() if now is None else now), limits, default_tokens)
    try:
        async with asyncio.timeout(limits.time_limit):
            out = await _evaluate(ctx, domain, 0)
    except _Abort as abort:
        ctx.step(0, domain, "error", f"{abort.result.value}: {abort.reason}")
        out = _Outcome(abort.result, domain, reason=abort.reason)
    except TimeoutError:
        reason = f"evaluation took longer than {limits.time_limit} s (RFC 7208 s4.6.4)"
        ctx.step(0, domain, "error", reason)
        out = _Outcome(Result.TEMPERROR, domain, reason=reason)
    log.debug("spf check_host(%s, %s, %s) = %s", addr, domain, sender, out.result.value)
    return SpfResult(
        result=out.result,
        domain=domain,
        sender=sender,
        ip=str(addr),
        helo=helo,
        mechanism=out.mechanism,
        matched_domain=out.domain if out.mechanism is not None else None,
        explanation=out.explanation if out.result is Result.FAIL else None,
        reason=out.reason,
        record=ctx.record,
        security=ctx.security if ctx.security is not None else Security.INDETERMINATE,
        explanation_security=ctx.exp_security if out.result is Result.FAIL else None,
        dns_terms=ctx.dns_terms,
        void_lookups=ctx.void_lookups,
        queries=ctx.queries,
        trace=tuple(ctx.trace),
    )
