"""Query workloads of the DNS benchmarks, all drawn from the signed hierarchy in zones/.

warm: names a mail host asks for (A/AAAA, MX, TXT for SPF/DKIM/DMARC, TLSA, SMIMEA,
      DNSKEY, wildcard answers, a CNAME chain, a DNAME, NODATA and NXDOMAIN) in the
      secure zones (ECDSA NSEC, ED25519 NSEC3, NSEC3 opt-out) and one insecure zone.
      Every name is asked once per resolver before the timed runs (that warms the
      caches and checks that nothing is SERVFAIL), then the list is replayed.
cold: fresh random labels under the wildcards of the secure NSEC3 zones (today only
      ``*.wild.nsec3.example.``, ED25519, NSEC3 without salt or iterations): every
      query is a cache miss that needs an upstream query, a signature check of the
      expanded wildcard and an NSEC3 proof that the next closer name does not exist.
      The zones' keys are primed first.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

from .load import ask, summary
from .resolvers import ZONES

Query = tuple[str, str]          # (name, type) as in a dnsperf file

# hex(SHA-256("alice"))[0:56], the RFC 8162 owner name used in every mail zone
SMIME_OWNER = "2bd806c97f0e00af1a1fc3328fa763a9269723c8db8fac4f93af71db._smimecert"
MAIL_ZONES = ("secure.example.", "nsec3.example.", "optout.example.", "insecure.example.")
SIGNED = {"secure.example.", "nsec3.example.", "optout.example."}
PER_ZONE: tuple[Query, ...] = (
    ("www", "A"), ("www", "AAAA"), ("ok", "A"), ("txt", "TXT"), ("a.ent", "A"),
    ("mx1", "A"), ("mx1", "AAAA"), ("@", "MX"), ("@", "TXT"), ("_dmarc", "TXT"),
    ("sel1._domainkey", "TXT"), ("_25._tcp.mx1", "TLSA"), (SMIME_OWNER, "SMIMEA"),
    ("w1.wild", "A"), ("w2.wild", "A"), ("w3.wild", "TXT"),
    ("www", "TXT"),                # NODATA
    ("ent", "A"),                  # empty non-terminal: NODATA
    ("nope1", "A"),                # NXDOMAIN
)
EXTRA: tuple[Query, ...] = (
    ("example.", "DNSKEY"), ("www.example.", "A"), ("www.internal.", "A"),
    ("secure-mail.internal.", "A"),                  # CNAME into secure.example.
    ("cname-secure.secure.example.", "A"), ("cname-insecure.secure.example.", "A"),
    ("www.dname.secure.example.", "A"),              # DNAME to nsec3.example.
    ("ed1._domainkey.nsec3.example.", "TXT"),
)
ALGORITHMS = {8: "RSASHA256", 10: "RSASHA512", 13: "ECDSAP256", 14: "ECDSAP384",
              15: "ED25519", 16: "ED448"}


@dataclass(frozen=True, slots=True)
class ColdParent:
    name: str          # the wildcard's parent, e.g. "wild.nsec3.example."
    zone: str          # the zone it is in, e.g. "nsec3.example."
    algorithm: int
    denial: str        # as in manifest.tsv

    def __str__(self) -> str:
        alg = ALGORITHMS.get(self.algorithm, str(self.algorithm))
        return f"*.{self.name} ({alg}, {self.denial})"


def _nsec3_ok(denial: str) -> bool:
    """NSEC3 that a validator must use: not opt-out, at most 50 iterations (RFC 9276)."""
    parts = denial.split(":")
    if parts[0] != "nsec3":
        return False
    return len(parts) < 2 or (parts[1].isdigit() and int(parts[1]) <= 50)


def cold_parents(zones_dir: Path = ZONES) -> list[ColdParent]:
    """Parents of the wildcards in the healthy, secure NSEC3 zones of zones/manifest.tsv
    (today only *.wild.nsec3.example.; a wildcard added to another such zone joins in)."""
    out: list[ColdParent] = []
    for line in (zones_dir / "manifest.tsv").read_text().splitlines():
        cols = line.split("\t")
        if line.startswith("#") or len(cols) < 8 or cols[0] == "zone":
            continue
        zone, _, fname, alg, denial, faults, parent_ds, server_faults = cols[:8]
        if (not alg.isdigit() or not _nsec3_ok(denial) or faults != "-"
                or parent_ds != "yes" or server_faults != "-"):
            continue
        origin = zone if zone.endswith(".") else zone + "."
        for text in (zones_dir / fname).read_text().splitlines():
            owner = text.split(";", 1)[0].split()[:1]
            if not owner or not owner[0].startswith("*."):
                continue
            name = owner[0] if owner[0].endswith(".") else f"{owner[0]}.{origin}"
            parent = ColdParent(name[2:].lower(), origin.lower(), int(alg), denial)
            if parent not in out:
                out.append(parent)
    return out


def warm_queries() -> list[Query]:
    out: list[Query] = []
    for zone in MAIL_ZONES:
        for label, qtype in PER_ZONE:
            out.append((zone if label == "@" else f"{label}.{zone}", qtype))
        if zone in SIGNED:
            out.append((zone, "DNSKEY"))
    out.extend(EXTRA)
    return out


def new_tag() -> str:
    """A label prefix no resolver has seen (random per run)."""
    return secrets.token_hex(4)


def cold_queries(tag: str, count: int, parents: list[str]) -> list[Query]:
    """*count* fresh names, round-robin over the wildcard *parents*."""
    return [(f"c{tag}-{i:06d}.{parents[i % len(parents)]}", "A") for i in range(count)]


def write_queries(path: Path, queries: list[Query]) -> Path:
    path.write_text("".join(f"{name} {qtype}\n" for name, qtype in queries))
    return path


@dataclass(frozen=True, slots=True)
class Outcome:
    rcode: str                     # "NOERROR", "NXDOMAIN", ... or "timeout"
    ad: bool
    answers: int

    def __str__(self) -> str:
        return f"{self.rcode}{' AD' if self.ad else ''}"


def ask_all(port: int, queries: list[Query], timeout: float = 5.0) -> dict[Query, Outcome]:
    """Ask every query once, in order (this is also the warm-up), with one retry."""
    out: dict[Query, Outcome] = {}
    for name, qtype in queries:
        reply = ask(port, name, qtype, timeout=timeout)
        if reply is None:
            reply = ask(port, name, qtype, timeout=timeout)
        if reply is None:
            out[(name, qtype)] = Outcome("timeout", False, 0)
        else:
            rcode, ad, count = summary(reply)
            out[(name, qtype)] = Outcome(rcode, ad, count)
    return out
