"""The report page (/ui/) on the test network: the chain of trust drawn for secure,
insecure, bogus (every fault zone of zones/), island and NTA-covered domains, the
delivery and sender sections, the status page, and hostile input."""

from __future__ import annotations

import re
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass

import pytest

from resolver.api.app import create_app
from resolver.config import ConfigError, Settings
from resolver.configfile import apply
from resolver.service import Resolver
from resolver.ui import routes
from resolver.wire.name import Name
from tests.ui.conftest import ZONES, Page, Ui

SVG = "{http://www.w3.org/2000/svg}"
RED = "#cf222e"


@dataclass
class Drawn:
    zones: list[tuple[str, str]]                 # (zone, status) top to bottom
    nodes: dict[str, str]                        # id -> status
    edges: list[tuple[str, str, str, str, str]]  # (src, dst, status, tooltip+label, colour)


def drawn(page: Page) -> Drawn:
    """The chain of trust of a page, read back from its SVG (which must be XML)."""
    match = re.search(r"<svg .*?</svg>", page.text, re.S)
    assert match, "no SVG in the page"
    root = ET.fromstring(match.group(0))
    zones, nodes, edges = [], {}, []
    for g in root.iter(f"{SVG}g"):
        cls = g.get("class", "").split()
        if "zone" in cls:
            zones.append((g.get("data-zone", ""), cls[1].removeprefix("zone-")))
        elif "node" in cls:
            nodes[g.get("data-id", "")] = cls[1].removeprefix("node-")
        elif "edge" in cls:
            text = " ".join(t.text or "" for t in g if t.tag in (f"{SVG}title", f"{SVG}text"))
            path = g.find(f"{SVG}path")
            assert path is not None
            edges.append((g.get("data-src", ""), g.get("data-dst", ""),
                          cls[1].removeprefix("edge-"), text, path.get("stroke", "")))
    return Drawn(zones, nodes, edges)


def report(ui: Ui, name: str, query: str = "") -> tuple[Page, Drawn]:
    page = ui.get(f"/ui/domain/{name}{query}")
    assert page.status == 200, page.text[:500]
    assert page.headers["Content-Type"].startswith("text/html")
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]
    assert "<script" not in page.text    # nothing fetched from elsewhere, no script
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page.text)
    return page, drawn(page)


def test_secure_domain(ui: Ui) -> None:
    page, g = report(ui, "secure.example", "?dkim=sel1")
    assert [z for z, _ in g.zones] == [".", "example.", "secure.example."]
    assert {s for _, s in g.zones} == {"secure"}
    assert "bogus" not in g.nodes.values() and all(e[2] == "secure" for e in g.edges)
    # DS -> DNSKEY and key -> DS / RRset arrows down the chain, ending at the MX RRset
    for zone in ("example.", "secure.example."):
        ds = [n for n in g.nodes if n.startswith(f"ds:{zone}:")]
        keys = [n for n in g.nodes if n.startswith(f"key:{zone}:")]
        assert ds and len(keys) >= 2
        assert any(src in ds and dst in keys for src, dst, *_ in g.edges)
        assert any(dst in ds and src.startswith("key:") and src not in keys
                   for src, dst, *_ in g.edges)
    assert any(dst == "rr:secure.example.:MX" for _, dst, *_ in g.edges)
    text = page.text
    assert "RFC 7672 decision: <b>dane</b>" in text and "mx1.secure.example." in text
    assert "What Postfix would do" in text and "TLS is mandatory" in text
    record = re.search(r"<code>(v=spf1[^<]*)</code>", text)
    assert record is not None
    terms = [t.lstrip("+-~?").split(":")[0].split("/")[0] for t in record.group(1).split()[1:]]
    expected = sum(t in ("include", "a", "mx", "ptr", "exists", "redirect") for t in terms)
    assert re.search(rf"DNS lookups over the tree: <b[^>]*>{expected}</b> of at most 10", text)
    assert "p=reject" in text and "<th>organizational domain</th><td>secure.example</td>" in text
    assert "sel1._domainkey.secure.example." in text
    assert ";; validation trace for secure.example. MX" in text and ";; verdict: secure" in text
    assert "_25._tcp.mx1.secure.example." in text
    # the MTA-STS / TLS-RPT TXT records as DNS has them (secure.example has none)
    assert "<code>_mta-sts.secure.example.</code>" in text
    assert "<code>_smtp._tls.secure.example.</code>" in text and "no record (NXDOMAIN)" in text
    routes = {r.canonical for r in ui.app_routes()}
    for path in ("/v1/mta-sts", "/v1/tls-rpt", "/v1/tls-policy"):   # linked when present
        assert (f'href="{path}?domain=secure.example"' in text) == (path in routes)


def test_insecure_delegation_is_grey_with_its_proof(ui: Ui) -> None:
    page, g = report(ui, "insecure.example")
    assert dict(g.zones)["insecure.example."] == "insecure"
    assert g.nodes["denial:insecure.example."] == "insecure"
    proof = [e for e in g.edges if e[1] == "denial:insecure.example."]
    assert proof and proof[0][2] == "insecure" and proof[0][0].startswith("key:example.:")
    assert "insecure delegation" in page.text and "NSEC3" in page.text
    assert "RFC 7672 decision: <b>may</b>" in page.text


# name asked, zone whose fault breaks the chain (zones/README.md)
FAULTS = [
    ("bogus.example", "bogus.example."),
    ("expired.example", "expired.example."),
    ("not-yet-valid.example", "not-yet-valid.example."),
    ("www.missing-sig.example", "missing-sig.example."),
    ("bad-ds.example", "bad-ds.example."),
    ("ds-unsigned.example", "ds-unsigned.example."),
    ("stripped.example", "stripped.example."),
    ("nope.nonsec.example", "nonsec.example."),
]


@pytest.mark.parametrize(("name", "zone"), FAULTS)
def test_bogus_domain_shows_the_broken_link_in_red(ui: Ui, name: str, zone: str) -> None:
    page, g = report(ui, name)
    assert dict(g.zones)[zone] == "bogus"
    assert re.search(r"<h1>[^<]*<span class=\"badge bogus\">bogus</span></h1>", page.text)
    broken = [e for e in g.edges if e[2] == "bogus"]
    assert broken, "no red arrow"
    for src, dst, _, why, colour in broken:
        assert colour == RED and why.strip(), (src, dst)
    # the broken link is in the faulty zone and says why; the zones above stay green
    assert any(f":{zone}:" in f"{src}|{dst}:" or dst.startswith(("rr:", "proof:"))
               for src, dst, *_ in broken)
    above = [s for z, s in g.zones if z != zone and Name.from_text(zone).is_subdomain(
        Name.from_text(z))]
    assert above and set(above) == {"secure"}
    assert "BROKEN" in page.text            # the text alternative names it too
    assert "bogus" in page.text.split('id="lookups"')[1]


def test_island_of_security_from_its_own_anchor(ui: Ui, ui_island: Ui) -> None:
    _, plain = report(ui, "island.example")
    assert dict(plain.zones)["island.example."] == "insecure"
    page, g = report(ui_island, "island.example")
    assert g.zones[0] == ("island.example.", "secure")      # the closest anchor on top
    assert "." not in dict(g.zones)
    assert any(n.startswith("ds:island.example.:") for n in g.nodes)
    assert "anchor DS" in page.text


def test_negative_trust_anchor_is_drawn_and_listed(ui: Ui) -> None:
    zone = Name.from_text("bogus.example.")
    ui.loop.call(lambda: ui.resolver.add_negative_anchor(zone, time.time() + 600, "ui test"))
    try:
        _, g = report(ui, "bogus.example")
        assert dict(g.zones)["bogus.example."] == "insecure"
        assert g.nodes["nta:bogus.example."] == "insecure"
        status = ui.get("/ui/")
        nta = status.text.split("Negative trust anchors")[1].split("<h2>")[0]
        assert "bogus.example." in nta and "ui test" in nta
    finally:
        ui.loop.call(lambda: ui.resolver.remove_negative_anchor(zone))


def test_status_page(ui: Ui) -> None:
    report(ui, "bad-ds.example")
    page = ui.get("/ui/")
    assert page.status == 200 and "<form" in page.text
    for zone, tag, state in ui.resolver.anchor_keys():
        assert f"<td>{zone}</td><td>{tag}</td><td>{state}</td>" in page.text
    recent = page.text.split("Last bogus verdicts")[1]
    assert 'href="/ui/domain/bad-ds.example"' in recent and "DS digest" in recent
    assert "<th>cache</th>" in page.text and "rrset" in page.text
    assert ui.get("/ui").status == 301


@pytest.mark.parametrize(("path", "status", "shown"), [
    ("/ui/domain/%3Cscript%3Ealert(1)%3C%2Fscript%3E", 400, "&lt;script&gt;"),
    ("/ui/domain/a..b", 400, "domain"),
    ("/ui/domain/" + "a" * 300 + ".example", 400, "longer than 253"),
    ("/ui/domain/secure.example?dkim=bad%20sel", 400, "not a DKIM selector"),
    ("/ui/domain/secure.example?dkim=" + ",".join(f"s{i}" for i in range(9)), 400,
     "more than 8"),
    ("/ui/domain?q=", 400, "domain"),
    ("/ui/domain?q=%22%3E%3Cimg%20src=x%3E", 400, "&lt;img"),
])
def test_bad_input_is_an_escaped_error_page(ui: Ui, path: str, status: int,
                                            shown: str) -> None:
    page = ui.get(path)
    assert page.status == status
    assert page.headers["Content-Type"].startswith("text/html")
    assert shown in page.text
    assert "<script>" not in page.text and "<img src" not in page.text


def test_search_form_redirects_an_address_to_its_domain(ui: Ui) -> None:
    page = ui.get("/ui/domain?q=alice%40secure.example&dkim=sel1")
    assert page.status == 303
    assert page.headers["Location"] == "/ui/domain/secure.example?dkim=sel1"
    idn = ui.get("/ui/domain?q=b%C3%BCcher.example")
    assert idn.headers["Location"] == "/ui/domain/xn--bcher-kva.example"


def test_the_page_can_be_switched_off() -> None:
    """``api-ui = false``: the API without /ui/ (the config key is read like the others)."""
    settings = apply(Settings(api=None), {"api-ui": False})
    assert settings.api_ui is False
    with pytest.raises(ConfigError, match="api-ui"):
        apply(Settings(), {"api-ui": "no"})
    off = create_app(Resolver(settings))
    on = create_app(Resolver(Settings(api=None)))
    assert not any(r.canonical.startswith("/ui") for r in off.router.resources())
    assert any(r.canonical == "/ui/domain/{name}" for r in on.router.resources())


@pytest.mark.skipif(not (ZONES / "sts.example.zone").is_file(),
                    reason="the test hierarchy has no sts.example zone")
def test_mta_sts_and_tls_rpt_records_are_shown(ui: Ui) -> None:
    """The TXT records of a domain that publishes both, with their status (the policy
    itself is only linked: the page never fetches anything over HTTPS)."""
    page, _ = report(ui, "enforce.sts.example")
    txt = page.text.split("<th>TXT</th>")[1].split("</table>")[0]
    assert "v=STSv1; id=" in txt and "v=TLSRPTv1; rua=mailto:" in txt
    assert txt.count('class="badge secure"') == 2


def test_a_report_is_bounded_in_time(ui: Ui, monkeypatch: pytest.MonkeyPatch) -> None:
    """Lookups that take longer than the report's time limit give a 504 page (here the
    limit is cut to 50 ms and slow.example's server waits 0.3 s before each answer)."""
    monkeypatch.setattr(routes, "REPORT_TIMEOUT", 0.05)
    started = time.monotonic()
    page = ui.get("/ui/domain/slow.example")
    assert page.status == 504 and "took longer than 0.05 s" in page.text
    assert page.headers["Content-Type"].startswith("text/html")
    assert time.monotonic() - started < 5
