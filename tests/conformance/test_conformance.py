"""The .rpl conformance replays in pytest: Tier A must pass in full; the whole corpus
must agree with expected_failures.txt, each scenario run with its own settings (and
the Deckard ones that leave QNAME minimisation open both ways); and the replayer's
own parts (reader, settings, comparators, range matching, raw packets, stubs) are
checked on small cases."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from resolver.iterate.hints import builtin_hints
from resolver.wire.message import Message, Question
from resolver.wire.name import Name
from resolver.wire.types import AD, QR, RA, RD, Rcode
from resolver.wire.zonefile import read_rr_line
from tests.conformance.replay import (
    RPL_DIR,
    Replayer,
    Result,
    client_query,
    compare_semantic,
    compare_strict,
    entry_message,
    query_matches,
    replay,
    reply_wire,
    run_settings,
    settings_totals,
)
from tests.conformance.rpl import DECKARD, UNBOUND, RplError, parse_file, parse_text
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
    # every scenario says what it ran with, and the corpus has each kind of run
    ran = [r.settings for r in results]
    assert all(s is not None for s in ran)
    assert any(s.qmin for s in ran if s) and any(not s.qmin for s in ran if s)
    assert any(s.ipv6 for s in ran if s) and any(not s.ipv6 for s in ran if s)
    assert any(s.builtin_hints for s in ran if s)
    assert "ran with qmin on" in settings_totals(results, "rpl-deckard")


def test_open_qmin_scenarios_pass_both_ways(monkeypatch: pytest.MonkeyPatch) -> None:
    """Deckard files without ``query-minimization`` are meant to pass with QNAME
    minimisation on and off (Deckard takes it from QMIN): replay them both ways."""
    monkeypatch.delenv("QMIN", raising=False)
    expected = read_expected_failures()
    open_files = [p for p in scenario_files() if p.parent.name == DECKARD
                  and parse_file(p).config.qname_minimisation is None]
    assert len(open_files) >= 20
    for qmin in (True, False):
        for path in open_files:
            result = replay(path, qmin)
            assert result.settings is not None and result.settings.qmin is qmin
            assert result.passed or scenario_name(path) in expected, \
                f"{scenario_name(path)} with qmin {'on' if qmin else 'off'}: " \
                f"{result.semantic.reason}"


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


# --------------------------------------------------------------------------
# the scenario's own settings

DECKARD_CONFIG = "stub-addr: 1.2.3.4\n{extra}CONFIG_END\nSCENARIO_BEGIN d\nSCENARIO_END\n"


def test_run_settings_follow_the_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("QMIN", raising=False)
    unbound = run_settings(parse_text(SCENARIO, Path("unbound/small.rpl")))
    assert (unbound.qmin, unbound.qmin_from) == (False, "config")
    assert (unbound.ipv6, unbound.ipv6_from) == (True, "default")
    assert unbound.root_addresses == ("193.0.14.129",) and not unbound.builtin_hints
    assert "qmin off (config)" in unbound.text() and "stub 193.0.14.129" in unbound.text()
    # Unbound's own default when the file is silent: minimisation on
    silent = SCENARIO.replace('    qname-minimisation: "no"\n', "")
    assert run_settings(parse_text(silent, Path("unbound/s.rpl"))).qmin_from == "Unbound default"

    def deckard(extra: str = "", open_qmin: bool | None = None) -> tuple[bool, str, bool]:
        scenario = parse_text(DECKARD_CONFIG.format(extra=extra), Path("deckard/d.rpl"))
        got = run_settings(scenario, open_qmin)
        return got.qmin, got.qmin_from, got.ipv6

    assert deckard() == (True, "default", True)
    assert deckard("do-ip6: no\n") == (True, "default", False)
    assert deckard(open_qmin=False) == (False, "run option", True)
    assert deckard("query-minimization: off\n", True) == (False, "config", True)
    monkeypatch.setenv("QMIN", "false")         # Deckard's variable, when the run has none
    assert deckard() == (False, "QMIN", True)
    assert deckard(open_qmin=True) == (True, "run option", True)
    assert deckard("query-minimization: on\n") == (True, "config", True)
    forward = parse_text("forward-addr: 1.2.3.4\nCONFIG_END\nSCENARIO_BEGIN f\nSCENARIO_END\n",
                         Path("deckard/f.rpl"))
    with pytest.raises(RplError, match="forwarder"):
        run_settings(forward)


STUB_SCENARIO = """server:
    val-override-date: "20070916134226"
    qname-minimisation: "no"
stub-zone:
    name: "example.com"
    stub-addr: 1.2.3.4
CONFIG_END
SCENARIO_BEGIN A stub below the root and no root stub
RANGE_BEGIN 0 100
    ADDRESS 1.2.3.4
ENTRY_BEGIN
MATCH opcode qtype qname
ADJUST copy_id
REPLY QR AA NOERROR
SECTION QUESTION
www.example.com. IN A
SECTION ANSWER
www.example.com. IN A 10.20.30.40
ENTRY_END
RANGE_END
STEP 1 QUERY
ENTRY_BEGIN
REPLY RD
SECTION QUESTION
{qname} IN A
ENTRY_END
STEP 10 CHECK_ANSWER
ENTRY_BEGIN
MATCH all
REPLY QR RD RA NOERROR
SECTION QUESTION
{qname} IN A
SECTION ANSWER
{qname} IN A 10.20.30.40
ENTRY_END
SCENARIO_END
"""


def test_stub_below_the_root_with_the_builtin_hints(tmp_path: Path) -> None:
    """No root stub: the resolver keeps its built-in root hints and the stub zone is
    a delegation it already knows; names in the stub go straight to its address,
    others to a real root server's address, which the fake network (in process,
    never a socket) does not answer."""
    folder = tmp_path / "unbound"
    folder.mkdir()
    inside = folder / "stub.rpl"
    inside.write_text(STUB_SCENARIO.format(qname="www.example.com."), encoding="utf-8")
    result = replay(inside)
    assert result.settings is not None and result.settings.builtin_hints
    assert [z.name.to_text() for z in result.settings.stubs] == ["example.com."]
    assert result.passed and result.strict.ok, result.strict.reason
    assert all("to 1.2.3.4 " in line for line in result.log), result.log
    outside = folder / "outside.rpl"
    outside.write_text(STUB_SCENARIO.format(qname="www.example.net."), encoding="utf-8")
    result = replay(outside)
    assert not result.passed
    roots = builtin_hints().addresses()
    assert result.log and any(f"to {a} " in result.log[0] for a in roots), result.log


RAW_QUERY = "beef0100000100000000000003777777076578616d706c650000010001"   # www.example. A
RAW_SCENARIO = f"""stub-addr: 1.2.3.4
query-minimization: off
CONFIG_END
SCENARIO_BEGIN Raw client packets
RANGE_BEGIN 0 100
ADDRESS 1.2.3.4
ENTRY_BEGIN
MATCH opcode qtype qname
ADJUST copy_id
REPLY QR AA NOERROR
SECTION QUESTION
www.example. IN A
SECTION ANSWER
www.example. IN A 192.0.2.1
ENTRY_END
RANGE_END
STEP 1 QUERY
ENTRY_BEGIN
RAW
{RAW_QUERY}
ENTRY_END
STEP 2 CHECK_ANSWER
ENTRY_BEGIN
MATCH opcode qname flags rcode answer
REPLY QR RD RA NOERROR
SECTION QUESTION
www.example. IN A
SECTION ANSWER
www.example. IN A 192.0.2.1
ENTRY_END
STEP 3 QUERY
ENTRY_BEGIN
RAW
{RAW_QUERY[:24]}
ENTRY_END
STEP 4 CHECK_ANSWER
ENTRY_BEGIN
MATCH opcode flags rcode
REPLY QR RD FORMERR
ENTRY_END
SCENARIO_END
"""


def test_raw_client_packets_are_sent_as_written(tmp_path: Path) -> None:
    """A RAW query goes to the server byte for byte (its own ID, even a header that
    promises a question it does not carry: FORMERR)."""
    scenario = parse_text(RAW_SCENARIO, Path("deckard/raw.rpl"))
    query = scenario.steps[0].entry
    assert query is not None and client_query(query, DECKARD) == bytes.fromhex(RAW_QUERY)
    replayer = Replayer(scenario, tmp_path)
    reply = asyncio.run(replayer._query(0, scenario.steps[0]))
    assert reply.message is not None and reply.message.id == 0xBEEF
    folder = tmp_path / "deckard"
    folder.mkdir()
    (folder / "raw.rpl").write_text(RAW_SCENARIO, encoding="utf-8")
    result = replay(folder / "raw.rpl")
    assert result.passed and result.strict.ok, (result.semantic.reason, result.strict.reason)


def test_raw_range_answers_keep_their_octets() -> None:
    """A RAW answer is sent as written, with only the query's ID put in for raw_id."""
    scenario = parse_text(RAW_SCENARIO, Path("deckard/raw.rpl"))
    entry = scenario.ranges[0].entries[0]
    entry.raw = bytes.fromhex("0000" + "8400" + "0000" * 4 + "ff")   # a trailing octet
    entry.adjust = []
    query = Message(0x4242, 0, [Question(Name.from_text("www.example."), 1)])
    assert reply_wire(entry, query, DECKARD) == entry.raw
    entry.adjust = ["raw_id"]
    assert reply_wire(entry, query, DECKARD)[:2] == b"\x42\x42"
    assert reply_wire(entry, query, DECKARD)[2:] == entry.raw[2:]
