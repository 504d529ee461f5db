"""Signature verification cost per DNSSEC algorithm (ours), and one full RRset
validation next to dnspython's ``dns.dnssec.validate`` on the same data."""

from __future__ import annotations

import dns.dnssec
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from resolver.dnssec import algorithms
from resolver.dnssec.budget import Budget
from resolver.dnssec.canonical import signed_data
from resolver.dnssec.verify import KeySet, verify_rrset
from resolver.testnet.signing_keys import generate
from resolver.wire import rdata as rd
from resolver.wire.name import Name
from resolver.wire.rrset import RRset
from resolver.wire.types import RRType

from .parse import measure

ALGORITHMS = (8, 10, 13, 14, 15, 16)
NOW = 1795881600


def _signed_rrset(alg: int) -> tuple[RRset, bytes]:
    key = generate(alg, "bench", ksk=False)
    zone = Name.from_text("example.")
    rrset = RRset(Name.from_text("www.example."), RRType.A, 1, 300,
                  [bytes((192, 0, 2, i)) for i in range(1, 4)])
    header = rd.RRSIG(RRType.A, alg, 2, 300, NOW + 86400, NOW - 86400,
                      _tag(key.dnskey_rdata()), zone, b"")
    sig = header.to_wire() + key.sign(signed_data(rrset, header))
    rrset.add_sig(sig)
    return rrset, key.dnskey_rdata()


def _tag(dnskey: bytes) -> int:
    from resolver.dnssec.keys import key_tag
    return key_tag(dnskey)


def section() -> list[tuple[str, str, str, str]]:
    rows = []
    data = bytes(range(180))
    for alg in ALGORITHMS:
        key = generate(alg, "bench", ksk=False)
        sig = key.sign(data)
        public = key.dnskey_rdata()[4:]
        assert algorithms.verify_signature(alg, public, sig, data)
        t = measure(f"alg {alg}", lambda a=alg, p=public, s=sig: algorithms.verify_signature(
            a, p, s, data))
        rows.append((f"verify alg {alg} ({algorithms.mnemonic(alg)}), 180 B, key cached",
                     f"{t.median_us:.1f}", f"{t.min_us:.1f}", ""))
    for alg in (8, 13):
        rrset, dnskey = _signed_rrset(alg)
        keys = KeySet(Name.from_text("example."), [dnskey])
        zone = Name.from_text("example.")
        result = verify_rrset(rrset, keys, zone, NOW, Budget())
        assert result.ok, result.verdict
        ours = measure("ours", lambda r=rrset, k=keys, z=zone: verify_rrset(r, k, z, NOW,
                                                                          Budget()))
        theirs_rrset = dns.rrset.from_rdata_list(
            "www.example.", 300, [dns.rdata.from_wire(1, 1, d, 0, len(d)) for d in rrset.rdatas])
        sig_rd = dns.rdata.from_wire(1, 46, rrset.sigs[0], 0, len(rrset.sigs[0]))
        sigset = dns.rrset.from_rdata_list("www.example.", 300, [sig_rd])
        key_rd = dns.rdata.from_wire(1, 48, dnskey, 0, len(dnskey))
        keyset = {dns.name.from_text("example."): dns.rrset.from_rdata_list(
            "example.", 300, [key_rd])}
        dns.dnssec.validate(theirs_rrset, sigset, keyset, now=NOW)
        theirs = measure("dnspython", lambda t=theirs_rrset, g=sigset, k=keyset:
                         dns.dnssec.validate(t, g, k, now=NOW))
        rows.append((f"validate A RRset (3 RRs), alg {alg}: verify_rrset",
                     f"{ours.median_us:.1f}", f"{ours.min_us:.1f}",
                     f"dnspython validate {theirs.median_us:.1f} us "
                     f"({theirs.median_us / ours.median_us:.1f}x)"))
    return rows
