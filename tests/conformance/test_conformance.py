"""The .rpl conformance replays in pytest: Tier A must pass in full; the whole corpus
must agree with expected_failures.txt; and the replayer's own parts (reader,
comparators, range matching) are checked on small cases."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from resolver.wire.message import Message, Question
from resolver.wire.name import Name
from resolver.wire.types import AD, QR, RA, RD, Rcode
from resolver.wire.zonefile import read_rr_line
from tests.conformance.replay import (
    RPL_DIR,
    Result,
    compare_semantic,
    compare_strict,
    entry_message,
    query_matches,
    replay,
)
from tests.conformance.rpl import DECKARD, UNBOUND, parse_text
from tests.conformance.run_all import (
    check,
    read_expected_failures,
    read_manifest,
    scenario_files,
    scenario_name,
)

TIERS = read_manifest()
TIER_A = sorted(name for name, tier in TIERS.items() if tier == "A")
BUDGET = 240.0   # seconds for the whole corpus (make conformance must stay under 5 min)


@pytest.mark.parametrize("name", TIER_A)
def test_tier_a(name: str) -> None:
    result = replay(RPL_DIR / name)
    assert result.error is None, result.error
    assert result.passed, f"{name}: {result.semantic.reason}"


def test_corpus_matches_the_expected_failures() -> None:
    started = time.perf_counter()
    paths = scenario_files()
    results = [replay(p) for p in paths]
    elapsed = time.perf_counter() - started
    verdict = check(results, read_expected_failures(), TIERS, [scenario_name(p) for p in paths])
    assert verdict.ok, "\n".join(verdict.lines())
    assert elapsed < BUDGET, f"the corpus took {elapsed:.0f} s"


def test_manifest_and_list() -> None:
    names = {scenario_name(p) for p in scenario_files()}
    assert len(names) == 149 and set(TIERS) == names
    assert len(TIER_A) == 62
    expected = read_expected_failures()
    assert set(expected) <= names
    assert not set(expected) & set(TIER_A)
    categories = {"unbound-artefact", "by-design", "missing-feature", "config"}
    for name, reason in expected.items():
        assert reason.split(":")[0] in categories, f"{name}: no category in {reason!r}"


# --------------------------------------------------------------------------
# the expected-failure logic

def _result(name: str, passed: bool) -> Result:
    result = Result(name, name.split("/")[0])
    if not passed:
        result.fail_both("rcode: expected NOERROR, got SERVFAIL")
    return result


def test_check_flags_unlisted_failures_and_listed_passes() -> None:
    tiers = {"unbound/a.rpl": "A", "unbound/b.rpl": "B", "deckard/c.rpl": "B"}
    results = [_result("unbound/a.rpl", True), _result("unbound/b.rpl", False),
               _result("deckard/c.rpl", True)]
    ok = check(results, {"unbound/b.rpl": "by-design: x"}, tiers)
    assert not ok.ok   # tier B at 50 % is below the target
    assert [p for p in ok.problems if "Tier B" in p]
    assert not ok.unexpected_failures and not ok.unexpected_passes

    verdict = check(results, {"deckard/c.rpl": "by-design: y"}, tiers)
    assert [r.name for r in verdict.unexpected_failures] == ["unbound/b.rpl"]
    assert verdict.unexpected_passes == ["deckard/c.rpl"]

    verdict = check(results, {"unbound/a.rpl": "config: z", "unbound/zz.rpl": "config: q"},
                    tiers)
    assert any("Tier A" in p for p in verdict.problems)
    assert any("no such scenario" in p for p in verdict.problems)


def test_expected_failure_file_format(tmp_path: Path) -> None:
    path = tmp_path / "list.txt"
    path.write_text("# comment\n\nunbound/x.rpl by-design: because\n", encoding="utf-8")
    assert read_expected_failures(path) == {"unbound/x.rpl": "by-design: because"}
    path.write_text("unbound/x.rpl\n", encoding="utf-8")
    with pytest.raises(ValueError, match="no reason"):
        read_expected_failures(path)
    path.write_text("unbound/x.rpl a: b\nunbound/x.rpl a: c\n", encoding="utf-8")
    with pytest.raises(ValueError, match="twice"):
        read_expected_failures(path)


# --------------------------------------------------------------------------
# reader, comparators, matching

SCENARIO = """server:
    trust-anchor: "example.com. 3600 IN DS 2854 3 1 46e4ffc6e9a4793b488954bd3f0cc6af0dfb201b ;{id}"
    val-override-date: "20070916134226"
    qname-minimisation: "no"
stub-zone:
    name: "."
    stub-addr: 193.0.14.129  # K
CONFIG_END
SCENARIO_BEGIN A small one
RANGE_BEGIN 0 100
    ADDRESS 193.0.14.129
ENTRY_BEGIN
MATCH opcode subdomain
ADJUST copy_id copy_query
REPLY QR NOERROR
SECTION QUESTION
com. IN NS
SECTION AUTHORITY
com. IN NS a.gtld-servers.net.
ENTRY_END
RANGE_END
STEP 1 QUERY
ENTRY_BEGIN
REPLY RD DO
SECTION QUESTION
www.example.com. IN A
ENTRY_END
STEP 10 CHECK_ANSWER
ENTRY_BEGIN
MATCH all
REPLY QR RD RA AD DO NOERROR
SECTION QUESTION
www.example.com. IN A
SECTION ANSWER
www.example.com. IN A 10.20.30.40
SECTION AUTHORITY
example.com. IN NS ns.example.com.
ENTRY_END
SCENARIO_END
"""


def test_reader() -> None:
    scenario = parse_text(SCENARIO, Path("x/small.rpl"))
    assert scenario.dialect == UNBOUND and scenario.title == "A small one"
    config = scenario.config
    assert config.anchors[0].rtype == 43 and config.qname_minimisation is False
    assert config.root_stub is not None and config.root_stub.addresses == ["193.0.14.129"]
    assert [s.kind for s in scenario.steps] == ["QUERY", "CHECK_ANSWER"]
    rng = scenario.ranges[0]
    assert rng.addresses == ["193.0.14.129"] and rng.covers(10) and not rng.covers(101)
    assert rng.entries[0].match == ["opcode", "subdomain"]
    deckard = parse_text("stub-addr: 1.2.3.4\nCONFIG_END\nSCENARIO_BEGIN d\nSCENARIO_END\n",
                         Path("x/d.rpl"))
    assert deckard.dialect == DECKARD and deckard.config.root_stub is not None


def _reply(text: str, flags: int, *records: str) -> Message:
    return Message(0, flags, [Question(Name.from_text(text), 1)],
                   [read_rr_line(r) for r in records])


def test_comparators() -> None:
    scenario = parse_text(SCENARIO, Path("x/small.rpl"))
    entry = scenario.steps[1].entry
    assert entry is not None
    good = _reply("www.example.com.", QR | RD | RA | AD, "www.example.com. 60 IN A 10.20.30.40")
    assert compare_semantic(entry, good, UNBOUND) is None
    # strict also wants the NS in AUTHORITY (minimal-responses: no) and the OPT with DO
    assert "authority" in (compare_strict(entry, good, UNBOUND) or "")
    no_ad = _reply("WWW.example.com.", QR | RD | RA, "www.example.com. 60 IN A 10.20.30.40")
    assert "flags" in (compare_semantic(entry, no_ad, UNBOUND) or "")
    wrong = _reply("www.example.com.", QR | RD | RA | AD, "www.example.com. IN A 10.20.30.41")
    assert "answer" in (compare_semantic(entry, wrong, UNBOUND) or "")
    failed = _reply("www.example.com.", QR | RD | RA)
    failed.set_rcode(Rcode.SERVFAIL)
    assert "rcode" in (compare_semantic(entry, failed, UNBOUND) or "")
    assert entry_message(entry, UNBOUND).do and entry_message(entry, DECKARD).edns is not None


def test_range_matching() -> None:
    scenario = parse_text(SCENARIO, Path("x/small.rpl"))
    entry = scenario.ranges[0].entries[0]
    below = Message(1, 0, [Question(Name.from_text("www.example.com."), 1)])
    other = Message(1, 0, [Question(Name.from_text("example.net."), 1)])
    assert query_matches(entry, below, False, UNBOUND)
    assert not query_matches(entry, other, False, UNBOUND)
