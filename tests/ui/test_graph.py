"""The chain-of-trust graph on its own: built from real validator traces (the test
network, through the service) and from hostile event data; the SVG is XML, escapes
everything, stays bounded; Graphviz accepts the DOT form when it is installed."""

from __future__ import annotations

import html
import shutil
import subprocess
import xml.etree.ElementTree as ET
from typing import Any

import pytest

from resolver.ui import draw, graph
from resolver.validate.trace import OFF, Trace
from resolver.wire.name import Name
from resolver.wire.types import RRType
from tests.ui.conftest import Ui


def traced(ui: Ui, name: str, rtype: int = RRType.MX) -> list[dict[str, object]]:
    async def go() -> list[dict[str, object]]:
        _, trace = await ui.resolver.explain(Name.from_text(name), rtype, fresh=True)
        return trace.events
    return ui.loop.run(go())


def test_fresh_trace_walks_the_chain_even_when_cached(ui: Ui) -> None:
    first = traced(ui, "www.secure.example.", RRType.A)
    again = traced(ui, "www.secure.example.", RRType.A)
    assert [e["kind"] for e in first] == [e["kind"] for e in again]
    assert "cached" not in {e["kind"] for e in again}
    assert {e["kind"] for e in again} >= {"anchor", "ds", "dnskey", "rrset"}


def test_events_name_the_keys_that_verified(ui: Ui) -> None:
    events = traced(ui, "secure.example.")
    dnskey: dict[str, Any] = next(e for e in events if e["kind"] == "dnskey"
                                  and e["zone"] == "secure.example.")
    tags = {k[0] for k in dnskey["keys"]}
    assert dnskey["ok"] and dnskey["signer"] in tags and set(dnskey["matched"]) <= tags
    ds: dict[str, Any] = next(e for e in events if e["kind"] == "ds"
                              and e["child"] == "secure.example.")
    assert {d[0] for d in ds["ds"]} == set(dnskey["matched"])
    g = graph.build(events)
    assert draw.svg(g).count('class="edge edge-secure"') == len(g.edges)


def test_hostile_names_are_escaped_and_output_is_xml() -> None:
    evil = '<script>alert("x")</script>&.'
    events: list[dict[str, object]] = [
        {"kind": "anchor", "zone": evil, "ds": [[1, 13, 2]], "keys": []},
        {"kind": "dnskey", "zone": evil, "keys": [[1, 13, 257], [2, 13, 256]], "matched": [],
         "ok": False, "signer": None, "tried": [], "security": "bogus",
         "text": "bogus (<b>no</b> match)"},
        {"kind": "rrset", "zone": evil, "owner": evil, "type": "MX", "ok": False,
         "signer": None, "tried": [2], "security": "bogus", "text": '"><img src=x>'},
    ]
    g = graph.build(events)
    out = draw.svg(g)
    ET.fromstring(out)
    assert "<script>" not in out and "<img" not in out and "<b>" not in out
    assert "&lt;script&gt;" in out
    assert any("BROKEN" in line for line in graph.describe(g))


def test_graph_is_bounded() -> None:
    events: list[dict[str, object]] = [
        {"kind": "rrset", "zone": "example.", "owner": f"n{i}.example.", "type": "A",
         "ok": True, "signer": 1, "tried": [1], "security": "secure", "text": "ok"}
        for i in range(graph.MAX_NODES + 50)]
    g = graph.build(events)
    assert len(g.nodes) == graph.MAX_NODES and g.truncated
    assert "cut at" in graph.describe(g)[-1]


def test_unknown_event_kinds_and_missing_fields_are_ignored() -> None:
    g = graph.build([{"kind": "future-thing", "zone": "x."}, {"kind": "ds", "zone": "."},
                     {"kind": "dnskey", "zone": "y."}])
    ET.fromstring(draw.svg(g))


@pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz (dot) is not installed")
def test_graphviz_accepts_the_dot_form(ui: Ui) -> None:
    g = graph.build(traced(ui, "bad-ds.example."))
    done = subprocess.run(["dot", "-Tsvg"], input=draw.dot(g), capture_output=True,
                          text=True, timeout=20, check=False)
    assert done.returncode == 0, done.stderr
    assert "bad-ds.example. (bogus)" in html.unescape(done.stdout)


def test_events_cost_nothing_when_no_trace_is_asked() -> None:
    off = Trace(enabled=False)
    off.event("ds", "example.", child="x.example.")
    assert off.events == [] and OFF.events == [] and not OFF.fresh
    on = Trace(fresh=True)
    on.event("nta", "x.", until="never")
    assert on.events == [{"kind": "nta", "zone": "x.", "until": "never"}]
