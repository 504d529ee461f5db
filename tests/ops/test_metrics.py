"""/metrics after a scripted mix of queries: the counters move by the right amounts."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from resolver.api.app import create_app, create_metrics_app, start_api
from resolver.config import Settings
from resolver.iterate.transport import NetTransport
from resolver.server.listener import DnsServer
from resolver.service import Resolver
from resolver.testnet.hierarchy import build
from resolver.wire import message as wm
from resolver.wire.name import Name
from resolver.wire.types import RRType

ZONES = Path(__file__).parent.parent.parent / "zones"


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def _value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str,
           **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def _scenario() -> tuple[str, str, dict[str, int]]:
    network = build(ZONES).network
    await network.start()
    out = Path(tempfile.mkdtemp(prefix="metrics-"))
    paths = network.write_outputs(out)
    settings = Settings(listen=[("127.0.0.1", 0)], root_hints=paths["hints"],
                        trust_anchors=[paths["ds"]], allow_loopback_upstream=True,
                        upstream_port=network.port, api=None)
    resolver = Resolver(settings)
    server = DnsServer(resolver, settings)
    await server.start()
    runner = await start_api(create_app(resolver, server=server), "127.0.0.1", 0)
    metrics_runner = await start_api(create_metrics_app(resolver, server), "127.0.0.1", 0)
    client = NetTransport()
    host, port = server.bound[0]
    sent = {"secure": 0, "bogus": 0, "nxdomain": 0, "tcp": 0}
    try:
        async def ask(name: str, rtype: int, tcp: bool = False) -> wm.Message:
            query = wm.make_query(Name.from_text(name), rtype, rd=True, do=True)
            return (await client.query((host, port), query, tcp=tcp, timeout=10)).message
        for _ in range(3):                       # 1 miss, then 2 fast-path hits
            await ask("www.secure.example.", RRType.A)
            sent["secure"] += 1
        for _ in range(2):
            await ask("www.bogus.example.", RRType.A)
            sent["bogus"] += 1
        await ask("nope.nsec3.example.", RRType.A)
        sent["nxdomain"] += 1
        await ask("mx1.secure.example.", RRType.AAAA, tcp=True)
        sent["tcp"] += 1
        async with aiohttp.ClientSession() as http:
            api = f"http://127.0.0.1:{runner.addresses[0][1]}"
            async with http.get(f"{api}/v1/resolve", params={"name": "www.secure.example"}):
                pass
            async with http.get(f"{api}/v1/resolve", params={"name": "bad..name"}):
                pass
            async with http.get(f"{api}/metrics") as r:
                text = await r.text()
            alone = f"http://127.0.0.1:{metrics_runner.addresses[0][1]}/metrics"
            async with http.get(alone) as r:
                text_alone = await r.text()
    finally:
        await metrics_runner.cleanup()
        await runner.cleanup()
        await server.stop()
        await network.stop()
    return text, text_alone, sent


def test_metrics_after_a_scripted_mix() -> None:
    text, text_alone, sent = asyncio.run(_scenario())
    s = _samples(text)
    q = "resolver_client_queries_total"
    assert _value(s, q, transport="udp", qtype="A", rcode="NOERROR",
                  security="secure") == sent["secure"]
    assert _value(s, q, transport="udp", qtype="A", rcode="SERVFAIL",
                  security="bogus") == sent["bogus"]
    assert _value(s, q, transport="udp", qtype="A", rcode="NXDOMAIN",
                  security="secure") == sent["nxdomain"]
    assert _value(s, q, transport="tcp", qtype="AAAA", rcode="NOERROR",
                  security="secure") == sent["tcp"]
    # the bogus answer was served as SERVFAIL once from the resolver, once from cache
    assert _value(s, "resolver_bogus_servfail_total") == 1
    assert _value(s, "resolver_validation_outcomes_total", result="bogus", ede="6") == 1
    assert _value(s, "resolver_cache_hits_total", cache="fastpath") == 3
    assert _value(s, "resolver_upstream_queries_total", transport="udp") > 5
    assert _value(s, "resolver_upstream_rtt_seconds_count") == _value(
        s, "resolver_upstream_queries_total", transport="udp") + _value(
        s, "resolver_upstream_queries_total", transport="tcp") - _value(
        s, "resolver_upstream_timeouts_total")
    assert _value(s, "resolver_api_requests_total", route="/v1/resolve", status="200") == 1
    assert _value(s, "resolver_api_requests_total", route="/v1/resolve", status="400") == 1
    assert _value(s, "resolver_api_request_duration_seconds_count", route="/v1/resolve") == 2
    anchors = [dict(k[1]) for k in s if k[0] == "resolver_trust_anchor"]
    assert [(a["zone"], a["state"]) for a in anchors] == [(".", "configured")]
    assert _value(s, "resolver_trust_anchor_last_validated_seconds", zone=".") > 0
    assert _value(s, "resolver_build_info", version="0.1.0", python=next(
        dict(k[1])["python"] for k in s if k[0] == "resolver_build_info")) == 1
    assert _value(s, "resolver_inflight_queries") == 0
    # never a query name in a label
    assert "secure.example" not in text
    assert "resolver_client_queries_total" in text_alone


def test_dashboard_uses_only_exported_metrics() -> None:
    """contrib/grafana-dashboard.json queries metric names that /metrics exports."""
    import json
    import re

    from resolver.metrics import COUNTER_HELP, HIST_HELP
    dashboard = json.loads((ZONES.parent / "contrib" / "grafana-dashboard.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    used = {m for e in exprs for m in re.findall(r"resolver_[a-z_]+", e)}
    known = ({f"resolver_{n}_total" for n in COUNTER_HELP}
             | {f"resolver_{n}_bucket" for n in HIST_HELP}
             | {"resolver_cache_hits_total", "resolver_cache_bytes", "resolver_inflight_queries",
                "resolver_api_request_duration_seconds_bucket", "resolver_trust_anchor",
                "resolver_trust_anchor_last_validated_seconds"})
    assert used <= known, used - known
