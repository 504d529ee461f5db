"""Our authoritative test server next to a live NSD serving the same zone files.

The recorded comparison (tests/data/interop/nsd-answers.json) always runs, in
test_server_interop.py. When NSD is installed, this module also starts it on loopback
(127.0.0.11-15, a random port) and compares, in the same run: every recorded query
(the 109 cases, the DS at each delegation, a referral per delegation) between live NSD,
the recording and our server; and a table of protocol edge cases. Without NSD those
tests are skipped, with the reason.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from . import record_nsd as R
from .conftest import RunningNetwork

NO_NSD = "NSD is not installed (apt-get install nsd): live comparison skipped; " \
         "the recorded answers are still compared in test_server_interop.py"


@pytest.fixture(scope="module")
def nsd() -> Iterator[R.NsdServers]:
    if R.nsd_binary() is None:
        pytest.skip(NO_NSD)
    with R.NsdServers() as servers:
        yield servers


# --------------------------------------------------------------------------
# the recording itself (always runs)

def test_recording_is_consistent() -> None:
    data = R.load_answers()
    assert data["nsd"].startswith("NSD version")
    assert data["query"] == {"rd": False, "edns": 0, "do": True, "payload": R.PAYLOAD}
    keys = [f"{e['kind']}:{e['qname']}/{e['qtype']}" for e in data["answers"]]
    assert keys == [q.key for q in R.all_queries()], "re-run record_nsd.py"
    for entry in data["answers"]:
        assert entry["server"] == R.server_of_zone(entry["zone"]), entry["qname"]
        for answer in (entry["udp"], R.tcp_entry(entry)):
            assert answer["edns"] == {"version": 0, "payload": 1232, "do": True}
    assert {e["udp"]["rcode"] for e in data["answers"]} == {"NOERROR", "NXDOMAIN"}


def test_differences_rules() -> None:
    """The comparison ignores only what it claims to: NSD's optional NS RRset."""
    entry = next(e for e in R.load_answers()["answers"]
                 if e["qname"] == "www.rsasha256.test." and e["kind"] == "case")
    nsd = entry["udp"]
    assert any(" NS " in line for line in nsd["authority"])
    ours = dict(nsd, authority=[], additional=[])
    assert R.differences(ours, nsd) == []
    assert R.differences(dict(ours, answer=nsd["answer"][:1]), nsd)
    assert R.differences(dict(ours, flags=["qr"]), nsd)
    assert R.differences(dict(ours, rcode="NXDOMAIN"), nsd)
    extra = [*nsd["authority"], "x.rsasha256.test. 300 IN A 192.0.2.1"]
    assert R.differences(dict(ours, authority=extra), nsd)


# --------------------------------------------------------------------------
# live NSD

def _same(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """Live NSD against recorded NSD: everything equal (sections TTL-insensitive)."""
    out = [f"{k}: {a.get(k)} != {b.get(k)}" for k in ("rcode", "flags", "edns")
           if a.get(k) != b.get(k)]
    out += [f"{k} differs" for k in ("answer", "authority", "additional")
            if R.line_set(a[k]) != R.line_set(b[k])]
    return out


def test_live_nsd_recording_and_ours_agree(nsd: R.NsdServers,
                                           interop_net: RunningNetwork) -> None:
    recorded = {f"{e['kind']}:{e['qname']}/{e['qtype']}": e
                for e in R.load_answers()["answers"]}
    problems: list[str] = []
    equal = 0
    queries = R.all_queries()
    for query in queries:
        entry = recorded[query.key]
        server = R.server_of_zone(query.zone)
        live = {t: R.to_json(R.ask(server, nsd.port, query.qname, query.qtype, tcp=t == "tcp"))
                for t in ("udp", "tcp")}
        ours = {t: R.to_json(R.ask(server, interop_net.port, query.qname, query.qtype,
                                   tcp=t == "tcp")) for t in ("udp", "tcp")}
        diffs = [f"{t} NSD vs recording: {d}" for t, rec in
                 (("udp", entry["udp"]), ("tcp", R.tcp_entry(entry)))
                 for d in _same(live[t], rec)]
        diffs += [f"{t} ours vs NSD: {d}" for t in ("udp", "tcp")
                  for d in R.differences(ours[t], live[t], live["tcp"])]
        if diffs:
            problems.append(f"{query.key}:\n  " + "\n  ".join(diffs))
        else:
            equal += 1
    assert not problems, f"{equal}/{len(queries)} equal\n" + "\n".join(problems)
    assert equal == len(queries) == 155


# --------------------------------------------------------------------------
# protocol edge cases, live (the recorded ones are replayed in test_server_interop.py)

@pytest.mark.parametrize("name", list(R.EDGE_PROBES))
def test_protocol_edge_case_like_live_nsd(nsd: R.NsdServers, interop_net: RunningNetwork,
                                          name: str) -> None:
    address, build = R.EDGE_PROBES[name]
    wire = build()
    theirs = R.summarize(R.udp_raw(address, nsd.port, wire))
    ours = R.summarize(R.udp_raw(address, interop_net.port, wire))
    assert "reply" not in theirs, "NSD did not answer"
    diffs = R.edge_differences(ours, theirs)
    assert not diffs, "\n".join(diffs)
    recorded = R.load_answers()["edge"][name]["reply"]
    for key in ("rcode", "flags", "edns", "opcode", "ede", "size"):
        assert theirs.get(key) == recorded.get(key), \
            f"NSD now has {key} {theirs.get(key)}, recorded {recorded.get(key)}"
