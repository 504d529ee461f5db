"""A plain-words record of how a verdict was reached (``query --trace``, ``/v1/explain``).

Lines are grouped by the zone they are about, in the order the validator worked: the
trust anchor, each zone's DS and DNSKEY key tags, which RRSIG verified which RRset,
which NSEC/NSEC3 record proved what, and the verdict with where and why it failed.
Keys are written ``tag/ALGORITHM`` (``6332/ECDSAP256``), DS records
``tag/ALGORITHM/DIGEST``. :meth:`Trace.render` shortens NSEC3 hashes to their first
eight characters and a ``~`` so a trace fits on one screen; :meth:`Trace.to_json`
keeps them whole.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..dnssec.keys import key_tag
from ..dnssec.status import Problem, Verdict
from ..dnssec.verify import RRsetResult
from ..wire import rdata as rd
from ..wire.types import RRType

_ALGORITHMS = {1: "RSAMD5", 3: "DSA", 5: "RSASHA1", 6: "DSA-NSEC3", 7: "RSASHA1-NSEC3",
               8: "RSASHA256", 10: "RSASHA512", 12: "ECC-GOST", 13: "ECDSAP256",
               14: "ECDSAP384", 15: "ED25519", 16: "ED448"}
_DIGESTS = {1: "SHA-1", 2: "SHA-256", 3: "GOST", 4: "SHA-384"}
_HASH = re.compile(r"\b([0-9a-v]{8})[0-9a-v]{24}\b")   # a base32hex NSEC3 hash label


def algorithm_text(algorithm: int) -> str:
    return _ALGORITHMS.get(algorithm, f"alg{algorithm}")


def key_text(tag: int | None, algorithm: int | None) -> str:
    """``6332/ECDSAP256``: a DNSKEY (or the key an RRSIG names) in a trace line."""
    if tag is None or algorithm is None:
        return "?"
    return f"{tag}/{algorithm_text(algorithm)}"


def ds_text(tag: int, algorithm: int, digest: int) -> str:
    return f"{tag}/{algorithm_text(algorithm)}/{_DIGESTS.get(digest, f'digest{digest}')}"


def shorten(text: str) -> str:
    """NSEC3 hashes cut to eight characters (``krsatb3p~``)."""
    return _HASH.sub(r"\1~", text)


@dataclass(slots=True)
class Trace:
    """Lines grouped by zone, in the order the validator worked. Cheap when off."""

    enabled: bool = True
    lines: list[tuple[str, str]] = field(default_factory=list)   # (zone or "", text)
    # the same steps as data, for drawing the chain of trust (resolver/ui/graph.py):
    # {"kind": "anchor" | "ds" | "dnskey" | "denial" | "cached" | "nta" | "rrset", "zone": ..}
    events: list[dict[str, object]] = field(default_factory=list)
    # work the chain out again, not from cached key entries and verdicts (report page)
    fresh: bool = False

    def add(self, zone: str, text: str) -> None:
        if self.enabled:
            self.lines.append((zone, text))

    def event(self, kind: str, zone: str, **data: object) -> None:
        """One step as data; callers build *data* only under ``if trace.enabled``."""
        if self.enabled:
            self.events.append({"kind": kind, "zone": zone, **data})

    def render(self) -> str:
        out = []
        last = None
        for zone, text in self.lines:
            if zone != last:
                out.append(f"{zone or '(answer)'}")
                last = zone
            out.append(f"    {shorten(text)}")
        return "\n".join(out)

    def to_json(self) -> list[dict[str, str]]:
        return [{"zone": z, "step": t} for z, t in self.lines]


OFF = Trace(enabled=False)


def verdict_text(verdict: Verdict, detail: bool = False) -> str:
    """``secure``, or ``bogus (signature expired)`` (with the detail when asked)."""
    reason = verdict.reason
    if reason is None:
        return verdict.security.label
    text = reason.problem.text
    if detail and reason.detail:
        text += f": {reason.detail}"
    return f"{verdict.security.label} ({text})"


def check_text(result: RRsetResult) -> str:
    """What the RRSIG check of one RRset found, naming the RRSIGs by key; a failure
    whose RRSIGs point at keys the zone does not have names the zone's keys
    (``RRSIG 4711 claims algorithm 253; the zone's keys are 6332/ECDSAP256: no valid
    signature: bogus``)."""
    if result.ok:
        return f"RRSIG {key_text(result.key_tag, result.algorithm)} verified: secure"
    failed = [f"RRSIG {a.key_tag} claims algorithm {a.algorithm}"
              if a.problem is Problem.UNSUPPORTED_ALGORITHM
              else f"RRSIG {key_text(a.key_tag, a.algorithm)} {a.problem.text}"
              for a in result.attempts if a.problem is not None]
    problem = result.problem
    if problem is Problem.SIG_MISSING:
        return f"no RRSIG: {result.security.label}"
    if not failed or problem is Problem.BUDGET_EXCEEDED:
        return verdict_text(result.verdict, detail=True)
    more = f" (+{len(failed) - 3} more)" if len(failed) > 3 else ""
    keys = ""
    if result.zone_keys and problem in (Problem.SIG_ALGORITHM_UNUSABLE, Problem.SIG_NO_KEY):
        shown = ", ".join(key_text(tag, alg) for alg, tag in result.zone_keys[:4])
        extra = f" and {len(result.zone_keys) - 4} more" if len(result.zone_keys) > 4 else ""
        keys = f"; the zone's keys are {shown}{extra}: no valid signature"
    return "; ".join(failed[:3]) + more + keys + f": {result.security.label}"


# ------------------------------------------------------------------ event data
# Plain lists and dicts (JSON-ready), built only when a trace is on.

def keys_data(dnskeys: Sequence[bytes]) -> list[list[int]]:
    """[key tag, algorithm, flags] of each DNSKEY (flags 257: a KSK, 256: a ZSK)."""
    return [[key_tag(k), k[3], int.from_bytes(k[:2], "big")] for k in dnskeys if len(k) >= 4]


def ds_data(records: Sequence[bytes]) -> list[list[int]]:
    """[key tag, algorithm, digest type] of each DS record (malformed ones left out)."""
    out = []
    for data in records:
        try:
            value = rd.decode(RRType.DS, data)
        except rd.RdataError:
            continue
        assert isinstance(value, rd.DS)
        out.append([value.key_tag, value.algorithm, value.digest_type])
    return out


def check_data(result: RRsetResult) -> dict[str, object]:
    """What an RRSIG check found: ok, the key tag that verified (or those that failed),
    the verdict and the trace text."""
    return {"ok": result.ok, "signer": result.key_tag if result.ok else None,
            "tried": [a.key_tag for a in result.attempts],
            "security": result.security.label, "text": check_text(result)}
