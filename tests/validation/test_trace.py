"""Issue 5, section 3: ``python -m resolver query NAME TYPE --trace`` reads like a story.

The command runs in-process against the zones/ hierarchy (served from the test loop
thread) and must show, on one screen and in plain words: the trust anchor, each zone
from the anchor down with its DS and DNSKEY key tags and algorithms, which RRSIG
verified which RRset, which NSEC/NSEC3 record proved what, and for a failure where
and why.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from resolver.cli import main
from resolver.dnssec.keys import make_ds
from resolver.validate.trace import Trace
from resolver.wire import rdata as rd
from resolver.wire.name import Name
from resolver.wire.types import RRType

from .conftest import Served, run

SCREEN = 40          # lines
WIDTH = 160          # characters (NSEC3 hashes are shortened)


def trace_of(zones: Served, capsys: pytest.CaptureFixture[str], name: str,
             rtype: str = "A", anchors: list[Path] | None = None) -> tuple[int, str]:
    argv = ["query", name, rtype, "--trace", "--root-hints", str(zones.hints),
            "--allow-loopback-upstream", "--upstream-port", str(zones.port)]
    for anchor in anchors if anchors is not None else zones.anchors:
        argv += ["--trust-anchor", str(anchor)]
    for zone in zones.nodefault:
        argv += ["--nodefault", zone]
    status = main(argv)
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert len(lines) <= SCREEN, out
    assert max(len(line) for line in lines) <= WIDTH, out
    return status, out


def test_secure_answer_shows_the_chain(zones: Served, capsys: pytest.CaptureFixture[str]) -> None:
    status, out = trace_of(zones, capsys, "www.secure.example.")
    assert status == 0
    # each zone from the anchor down, in order
    headers = [line for line in out.splitlines() if line and not line.startswith((" ", ";"))]
    assert headers[:3] == [".", "example.", "secure.example."]
    assert re.search(r"trust anchor: DS \d+/RSASHA256/SHA-256", out)
    assert re.search(r"DNSKEY \d+/RSASHA256 matches the anchor DS; DNSKEY set: "
                     r"RRSIG \d+/RSASHA256 verified: secure", out)
    assert re.search(r"DS for example\.: \d+/ECDSAP256/SHA-256; RRSIG \d+/RSASHA256 "
                     r"verified: secure", out)
    assert re.search(r"DS for secure\.example\.: \d+/ECDSAP256/SHA-256; RRSIG \d+/ECDSAP256",
                     out)
    assert re.search(r"www\.secure\.example\. A: RRSIG \d+/ECDSAP256 verified: secure", out)
    assert "verdict: secure" in out
    assert "192.0.2.30" in out


def test_failure_says_where_and_why(zones: Served, capsys: pytest.CaptureFixture[str]) -> None:
    status, out = trace_of(zones, capsys, "www.bogus.example.")
    assert status == 1
    assert re.search(r"www\.bogus\.example\. A: RRSIG \d+/ECDSAP256 signature does not "
                     r"verify: bogus", out)
    assert "verdict: bogus at bogus.example.: signature does not verify" in out
    assert "EDE 6" in out

    status, out = trace_of(zones, capsys, "www.expired.example.")
    assert status == 1
    assert re.search(r"expired\.example\.\n .*DNSKEY set: RRSIG \d+/ECDSAP256 signature "
                     r"expired: bogus", out)
    assert "www.expired.example. A: not checked, the keys of expired.example. are bogus" in out
    assert "verdict: bogus at expired.example.: signature expired" in out

    status, out = trace_of(zones, capsys, "www.bad-ds.example.")
    assert "against the DS: bogus (DS digest does not match any DNSKEY" in out
    assert "EDE 9" in out


def test_denials_name_the_records_that_prove_them(zones: Served,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    _, out = trace_of(zones, capsys, "nope.nsec3.example.")
    assert "SOA of the NXDOMAIN nope.nsec3.example. A: RRSIG" in out
    assert re.search(r"NSEC3 \w{8}~\.nsec3\.example\. -> \w{8}~ .* matches the closest "
                     r"encloser nsec3\.example\.", out)
    assert "covers the next closer name nope.nsec3.example." in out
    assert "covers the wildcard *.nsec3.example." in out
    _, out = trace_of(zones, capsys, "nope.secure.example.")
    assert re.search(r"NSEC \S+ -> \S+ \[.*\] covers nope\.secure\.example\.", out)
    _, out = trace_of(zones, capsys, "foo.wild.secure.example.")
    assert "the answer was expanded from *.wild.secure.example." in out
    assert "wildcard proof: secure" in out


def test_insecure_delegation_and_opt_out(zones: Served,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    _, out = trace_of(zones, capsys, "www.island.example.")
    assert "no DS for island.example.; the proof:" in out
    assert "island.example. is delegated without DS: insecure below" in out
    assert "verdict: insecure at island.example." in out
    _, out = trace_of(zones, capsys, "www.sub.optout.example.")
    assert "opt-out" in out and "verdict: insecure at sub.optout.example." in out
    _, out = trace_of(zones, capsys, "nope.iter200.example.")
    assert "200 iterations" in out and "EDE 27" in out


def test_cached_verdicts_are_marked(zones: Served) -> None:
    async def body() -> tuple[Trace, Trace]:
        resolver = zones.resolver()
        first, second = Trace(), Trace()
        await resolver.resolve(Name.from_text("www.secure.example."), RRType.A, trace=first)
        await resolver.resolve(Name.from_text("www.secure.example."), RRType.A, trace=second)
        return first, second
    first, second = run(body())
    assert "verified: secure" in first.render()
    assert "(verdict from the cache)" in second.render()
    assert "verdict: secure" in second.render()
    # the API form keeps NSEC3 hashes whole
    assert all("~" not in step["step"] for step in first.to_json())


def test_island_of_trust_from_a_second_anchor_file(zones: Served,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """``--trust-anchor`` twice: the root and an island below an insecure delegation."""
    island = Name.from_text("island.example.")
    dnskey = zones.net.zones[island.key].get(island, RRType.DNSKEY)
    assert dnskey is not None
    ksk = next(k for k in dnskey.rdatas if k[1] & 0x01)
    path: Path = zones.extra["dir"] / "island-cli.ds"
    path.write_text(f"island.example. IN DS {rd.to_text(RRType.DS, make_ds(island, ksk, 2))}\n")
    status, out = trace_of(zones, capsys, "mx1.island.example.",
                           anchors=[*zones.anchors, path])
    assert status == 0
    headers = [line for line in out.splitlines() if line and not line.startswith((" ", ";"))]
    assert headers[0] == "island.example."          # the closest anchor, not the root
    assert re.search(r"trust anchor: DS \d+/ECDSAP256/SHA-256", out)
    assert "verdict: secure" in out
