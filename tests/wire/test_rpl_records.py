"""Every record line of the .rpl replay files (Unbound testbound and Deckard) read with
:func:`read_rr_line`, and cross-checked against dnspython where it can read them.

Records are the lines after ``SECTION ANSWER|AUTHORITY|ADDITIONAL`` inside
``ENTRY_BEGIN … ENTRY_END`` blocks, and the ``trust-anchor:`` config values (quoted or
not; a quoted value may carry a ``;{id = …}`` comment). QUESTION lines are skipped.
See tests/data/rpl/FORMAT.md s2.1.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from resolver.wire.message import RR
from resolver.wire.zonefile import ZoneFileError, read_rr_line

RPL = Path(__file__).resolve().parents[1] / "data" / "rpl"
FILES = sorted([*(RPL / "unbound").glob("*.rpl"), *(RPL / "deckard").glob("*.rpl")])

# Lines that are broken on purpose: read only with strict=False.
BROKEN_ON_PURPOSE = {
    # A record with 5 octets of RDATA: the test is about scrubbing bad lengths.
    ("unbound/val_scrub_rr_length.rpl", 134): "A RDATA has 1 extra octets",
    # DS digest type changed from 2 to 1 while the digest stayed 32 octets long.
    ("deckard/val_minimal_baddsdigesttype.rpl", 1): "digest length",
}
# Lines we read but dnspython refuses.
DNSPYTHON_REFUSES = {
    # RRSIG without a signature (the test expects the signature to fail).
    ("unbound/val_nodata_failsig.rpl", 141),
}

_TRUST_ANCHOR = re.compile(r"trust-anchor:\s*(.*)$")


@dataclass(frozen=True)
class Line:
    file: str  # relative to tests/data/rpl
    number: int
    text: str
    kind: str  # "record" or "trust-anchor"


def _anchor_value(value: str) -> str:
    """The RR text of a trust-anchor config value: the quoted part, or the rest."""
    if value.startswith('"'):
        end = value.find('"', 1)
        assert end > 0, f"unterminated quote in {value!r}"
        return value[1:end]
    return value


def record_lines(path: Path) -> list[Line]:
    """The record lines of one .rpl file."""
    rel = path.relative_to(RPL).as_posix()
    out: list[Line] = []
    in_entry = False
    section: str | None = None
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        text = raw.strip()
        if not text or text[0] in ";#":
            continue
        anchor = _TRUST_ANCHOR.match(text)
        if anchor:
            out.append(Line(rel, number, _anchor_value(anchor.group(1)), "trust-anchor"))
            continue
        word = text.split()[0]
        if word == "ENTRY_BEGIN":
            in_entry, section = True, None
        elif word == "ENTRY_END":
            in_entry, section = False, None
        elif in_entry and word == "SECTION":
            section = text.split()[1].upper()
        elif in_entry and section is not None and section != "QUESTION":
            out.append(Line(rel, number, text, "record"))
    return out


@functools.cache
def all_lines() -> tuple[Line, ...]:
    return tuple(line for path in FILES for line in record_lines(path))


def _read(line: Line, strict: bool = True) -> RR:
    return read_rr_line(line.text, strict=strict)


@pytest.mark.parametrize("path", FILES, ids=[p.relative_to(RPL).as_posix() for p in FILES])
def test_every_record_line_reads(path: Path) -> None:
    failures = []
    for line in record_lines(path):
        key = (line.file, line.number)
        try:
            _read(line)
        except ZoneFileError as exc:
            if key not in BROKEN_ON_PURPOSE:
                failures.append(f"{line.file}:{line.number}: {exc}")
            else:
                assert BROKEN_ON_PURPOSE[key] in str(exc)  # noqa: PT017 - one of many lines
                _read(line, strict=False)
        else:
            assert key not in BROKEN_ON_PURPOSE, f"{key} was expected to fail"
    assert not failures, "\n".join(failures)


def test_counts() -> None:
    lines = all_lines()
    assert len(FILES) == 149
    records = [ln for ln in lines if ln.kind == "record"]
    anchors = [ln for ln in lines if ln.kind == "trust-anchor"]
    assert len(records) == 4552
    assert len(anchors) == 163
    assert {(ln.file, ln.number) for ln in lines} >= set(BROKEN_ON_PURPOSE)


def test_trust_anchor_values_with_comments_inside_the_quotes() -> None:
    rr = read_rr_line("example.net.    3600    IN      DNSKEY  256 3 5 AQPQ41chR9DEHt/aIzIFAqanbD"
                      "lRflJoRs5yz1jFsoRIT7dWf0r+PeDuewdxkszNH6wnU4QL8pfKFRh5PIYVBLK3 "
                      ";{id = 30899 (zsk), size = 512b}")
    assert rr.rtype == 48 and rr.rdata[:4] == bytes([1, 0, 3, 5])


def _dnspython_record(text: str) -> tuple[bytes, int, int, int, bytes]:
    """Read one rpl record line with dnspython's own tokenizer and RDATA parser."""
    import dns.name
    import dns.rdata
    import dns.rdataclass
    import dns.rdatatype
    import dns.tokenizer
    import dns.ttl

    tok = dns.tokenizer.Tokenizer(text)
    owner = tok.get_name(dns.name.root)
    word = tok.get().value
    ttl, rdclass = 3600, dns.rdataclass.IN
    seen_ttl = seen_class = False
    for _ in range(2):
        if not seen_ttl and word[:1].isdigit():
            ttl, seen_ttl = dns.ttl.from_text(word), True
            word = tok.get().value
            continue
        if seen_class:
            break
        try:
            rdclass = dns.rdataclass.from_text(word)
        except dns.rdataclass.UnknownRdataclass:
            break
        seen_class = True
        word = tok.get().value
    rdtype = dns.rdatatype.from_text(word)
    rdata = dns.rdata.from_text(rdclass, rdtype, tok, dns.name.root, relativize=False)
    return owner.to_wire(), int(rdtype), int(rdclass), ttl, rdata.to_wire()


def test_records_match_dnspython() -> None:
    pytest.importorskip("dns.rdata")
    agreed = 0
    refused = set()
    mismatches = []
    for line in all_lines():
        key = (line.file, line.number)
        if key in BROKEN_ON_PURPOSE:
            continue
        rr = _read(line)
        try:
            theirs = _dnspython_record(line.text)
        except Exception:  # noqa: BLE001 - dnspython's exceptions are many; the set below names them
            refused.add(key)
            continue
        if theirs != (rr.name.wire, rr.rtype, rr.rclass, rr.ttl, rr.rdata):
            mismatches.append(f"{line.file}:{line.number}: {line.text}")
        else:
            agreed += 1
    assert not mismatches, "\n".join(mismatches)
    assert refused == DNSPYTHON_REFUSES
    assert agreed == 4552 + 163 - len(BROKEN_ON_PURPOSE) - len(DNSPYTHON_REFUSES)
