"""Parse cost of a typical signed response: our parser next to dnspython's.

The message is a typical signed referral-sized reply: answer
``WWW.Example.com`` A x2 + RRSIG (alg 8), authority NS x4 + DS x2 + RRSIG (alg 13),
additional A + OPT, about 700 octets, compressed by dnspython.
"""

from __future__ import annotations

import random
import statistics
import timeit
from collections.abc import Callable
from dataclasses import dataclass

import dns.flags
import dns.message
import dns.rrset

from resolver.wire import message as m

REPEATS = 7


def typical_response() -> bytes:
    rng = random.Random(686)

    def b64(n: int) -> str:
        import base64
        return base64.b64encode(bytes(rng.getrandbits(8) for _ in range(n))).decode()

    def sig(covered: str, alg: int, labels: int, signer: str, size: int) -> str:
        return (f"{covered} {alg} {labels} 300 20261201000000 20261101000000 "
                f"{rng.randrange(65536)} {signer} {b64(size)}")

    q = dns.message.make_query("WWW.Example.com.", "A", want_dnssec=True)
    r = dns.message.make_response(q)
    r.use_edns(0, dns.flags.DO, 1232)
    r.flags |= dns.flags.AA
    z = "Example.com."
    r.answer.append(dns.rrset.from_text("WWW.Example.com.", 300, "IN", "A",
                                        "192.0.2.1", "192.0.2.2"))
    r.answer.append(dns.rrset.from_text("WWW.Example.com.", 300, "IN", "RRSIG",
                                        sig("A", 8, 3, z, 256)))
    r.authority.append(dns.rrset.from_text(z, 3600, "IN", "NS", "ns1.example.com.",
                                           "ns2.example.com.", "ns3.example.net.",
                                           "ns4.example.org."))
    r.authority.append(dns.rrset.from_text(
        z, 3600, "IN", "DS", "12345 13 2 " + bytes(rng.getrandbits(8) for _ in range(32)).hex(),
        "23456 8 2 " + bytes(rng.getrandbits(8) for _ in range(32)).hex()))
    r.authority.append(dns.rrset.from_text(z, 3600, "IN", "RRSIG", sig("DS", 13, 2, "com.", 64)))
    r.additional.append(dns.rrset.from_text("ns1.example.com.", 3600, "IN", "A", "192.0.2.53"))
    return r.to_wire()


@dataclass
class Timing:
    label: str
    median_us: float
    min_us: float
    runs: list[float]


def measure(label: str, fn: Callable[[], object], *, repeats: int = REPEATS,
            budget_s: float = 0.2) -> Timing:
    """Per-call time in microseconds: the median (and min) of *repeats* runs, each
    long enough to take about *budget_s* seconds."""
    timer = timeit.Timer(fn)
    number, _ = timer.autorange()
    once = timer.timeit(number) / number
    number = max(1, int(budget_s / max(once, 1e-9)))
    runs = [t / number * 1e6 for t in timer.repeat(repeat=repeats, number=number)]
    return Timing(label, statistics.median(runs), min(runs), runs)


def section() -> list[tuple[str, str, str, str]]:
    """Rows of (operation, median us, min us, note) for the table in run.py."""
    wire = typical_response()
    ours_msg = m.parse(wire)
    theirs_msg = dns.message.from_wire(wire)
    n_ours = sum(len(s) for s in ours_msg.sections())
    n_theirs = sum(len(rrset) for s in theirs_msg.sections[1:] for rrset in s)
    assert n_ours == n_theirs == 11 and ours_msg.edns is not None, (n_ours, n_theirs)
    ours = measure("ours", lambda: m.parse(wire))
    theirs = measure("dnspython", lambda: dns.message.from_wire(wire))
    ratio = theirs.median_us / ours.median_us
    rows = [
        (f"parse {len(wire)} B signed response: resolver.wire.message.parse",
         f"{ours.median_us:.1f}", f"{ours.min_us:.1f}", f"{ratio:.1f}x faster than dnspython"),
        ("  same message: dnspython dns.message.from_wire",
         f"{theirs.median_us:.1f}", f"{theirs.min_us:.1f}", "reference"),
    ]
    query = m.make_query(ours_msg.question[0].name, 1, msg_id=1).to_wire()
    q_ours = measure("query", lambda: m.parse(query))
    q_theirs = measure("query dnspython", lambda: dns.message.from_wire(query))
    rows.append((f"parse {len(query)} B query: ours / dnspython",
                 f"{q_ours.median_us:.1f}", f"{q_ours.min_us:.1f}",
                 f"dnspython {q_theirs.median_us:.1f} us "
                 f"({q_theirs.median_us / q_ours.median_us:.1f}x)"))
    built = measure("build", lambda: m.build(ours_msg))
    rows.append(("build the parsed response again (compression)",
                 f"{built.median_us:.1f}", f"{built.min_us:.1f}", ""))
    return rows
