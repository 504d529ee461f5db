"""HTML of the report page, built with the standard library: every value that comes
from DNS, the request or the resolver passes through :func:`e` (``html.escape``). No
script, no external style sheet, font or image: the page works on an offline mail
host and without JavaScript; the chain of trust is an inline SVG with a text
alternative (a list of sentences under the picture).
"""

from __future__ import annotations

import time
from html import escape
from typing import Any
from urllib.parse import quote

from ..mail.dane_match import tlsa_mnemonic
from ..wire.types import rcode_to_text
from . import draw, graph
from .report import DomainReport, SpfNode, txt_texts

CSS = """
body{font-family:system-ui,sans-serif;margin:0 auto;max-width:1200px;padding:0 16px 40px;
color:#1f2328;background:#fff;line-height:1.4}
header{border-bottom:1px solid #d0d7de;padding:10px 0;margin-bottom:14px}
header a{color:#1f2328;text-decoration:none;font-weight:bold}
h1{font-size:1.5em;margin:.4em 0}h2{font-size:1.2em;margin-top:1.6em;
border-bottom:1px solid #d0d7de}
table{border-collapse:collapse;margin:.5em 0;font-size:.92em}
th,td{border:1px solid #d0d7de;padding:3px 7px;text-align:left;vertical-align:top}
th{background:#f6f8fa}code,pre{font-family:ui-monospace,monospace;font-size:.9em}
pre{background:#f6f8fa;border:1px solid #d0d7de;padding:8px;overflow-x:auto;white-space:pre}
.secure{color:#1a7f37;font-weight:bold}.bogus{color:#cf222e;font-weight:bold}
.insecure,.indeterminate{color:#57606a;font-weight:bold}
.badge{border-radius:10px;padding:1px 8px;border:1px solid currentColor}
.chain-wrap{overflow-x:auto;border:1px solid #d0d7de;padding:6px}
form input[type=text]{width:24em;padding:4px}ul.tree{margin:.2em 0}
.muted{color:#57606a}.problem{color:#cf222e}td code{word-break:break-all}
"""


def e(value: object) -> str:
    return escape(str(value), quote=True)


def badge(status: str) -> str:
    return f'<span class="badge {e(status)}">{e(status)}</span>'


def page(title: str, body: str) -> str:
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{e(title)}</title><style>{CSS}</style></head><body>"
            "<header><a href=\"/ui/\">resolver: mail delivery report</a></header>"
            f"<main>{body}</main></body></html>\n")


def search_form(value: str = "", selectors: str = "") -> str:
    return ("<form method=\"get\" action=\"/ui/domain\" role=\"search\">"
            "<label>Domain or e-mail address: <input type=\"text\" name=\"q\" "
            f"value=\"{e(value)}\" required maxlength=\"320\"></label> "
            "<label>DKIM selectors (comma-separated): <input type=\"text\" name=\"dkim\" "
            f"value=\"{e(selectors)}\" maxlength=\"200\" style=\"width:12em\"></label> "
            "<button type=\"submit\">Report</button></form>")


def error_page(status: int, message: str, query: str = "") -> str:
    return page(f"error {status}", f"<h1>Cannot make the report</h1>"
                f"<p class=\"problem\">{e(message)}</p>{search_form(query)}")


# ------------------------------------------------------------------ status page

def status_page(data: dict[str, Any]) -> str:
    parts = ["<h1>Mail delivery report</h1>",
             "<p>Type a mail domain (or an address) to see its chain of trust, DANE, SPF, "
             "DKIM and DMARC as this resolver sees them.</p>", search_form()]
    anchors = data["anchors"]
    validated = data["anchors_validated"]
    parts.append(f"<h2>Trust anchors</h2><p>Validation is "
                 f"{'on' if data['validating'] else '<b>off</b>'}.</p>")
    rows = "".join(f"<tr><td>{e(z)}</td><td>{e(tag)}</td><td>{e(state)}</td>"
                   f"<td>{_when(validated.get(z))}</td></tr>" for z, tag, state in anchors)
    parts.append("<table><tr><th>zone</th><th>key tag</th><th>RFC 5011 state</th>"
                 f"<th>keys last validated</th></tr>{rows}</table>")
    ntas = data["ntas"]
    parts.append("<h2>Negative trust anchors</h2>")
    if ntas:
        rows = "".join(f"<tr><td>{e(n['zone'])}</td><td>{_when(n['until'])}</td>"
                       f"<td>{e(n['remaining'])} s</td><td>{e(n['source'])}</td>"
                       f"<td>{e(n['reason'])}</td></tr>" for n in ntas)
        parts.append("<table><tr><th>zone</th><th>until</th><th>left</th><th>source</th>"
                     f"<th>reason</th></tr>{rows}</table>")
    else:
        parts.append("<p class=\"muted\">none</p>")
    parts.append("<h2>Caches and upstreams</h2><table><tr><th>cache</th><th>entries</th>"
                 "<th>bytes</th><th>hits</th><th>misses</th><th>evictions</th></tr>")
    for name, c in data["caches"].items():
        parts.append(f"<tr><td>{e(name)}</td><td>{c.entries}</td><td>{c.size}</td>"
                     f"<td>{c.hits}</td><td>{c.misses}</td><td>{c.evictions}</td></tr>")
    stats = data["stats"]
    parts.append(f"</table><p>Upstream servers known: {e(data['servers'])}; queries sent "
                 f"upstream: {e(stats.upstream)}; answers: {e(stats.secure)} secure, "
                 f"{e(stats.insecure)} insecure, {e(stats.bogus)} bogus; failures answered "
                 f"from the failure cache: {e(stats.failures_cached)}. The probe of the root "
                 f"and the trust anchor zones: <a href=\"/healthz\">/healthz</a>; counters: "
                 f"<a href=\"/metrics\">/metrics</a>.</p>")
    parts.append("<h2>Last bogus verdicts</h2>")
    if stats.recent_bogus:
        latest: dict[tuple[str, str, str, str], float] = {}
        for at, *what in stats.recent_bogus:          # the same verdict again: once
            latest[(what[0], what[1], what[2], what[3])] = at
        recent = sorted(((at, *what) for what, at in latest.items()), reverse=True)
        rows = "".join(
            f"<tr><td>{_when(at)}</td><td><a href=\"/ui/domain/{quote(_base(name))}\">"
            f"{e(name)}</a></td><td>{e(rtype)}</td><td>{e(zone)}</td>"
            f"<td class=\"bogus\">{e(reason)}</td></tr>"
            for at, name, rtype, zone, reason in recent)
        parts.append("<table><tr><th>when (UTC)</th><th>name</th><th>type</th><th>zone</th>"
                     f"<th>reason</th></tr>{rows}</table>")
    else:
        parts.append("<p class=\"muted\">none since start</p>")
    return page("resolver: mail delivery report", "".join(parts))


def _base(name: str) -> str:
    return name.rstrip(".") or "."


def _when(at: object) -> str:
    if not isinstance(at, int | float) or not at:
        return "-"
    return e(time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(at)))


# ------------------------------------------------------------------ domain page

def domain_page(r: DomainReport, selectors: list[str]) -> str:
    parts = [f"<h1>{e(r.text)} {badge(r.overall.label)}</h1>",
             search_form(r.text, ",".join(selectors))]
    reason = f": {e(r.reason)}" if r.reason else ""
    parts.append(f"<p>MX lookup: <span class=\"{e(r.security.label)}\">"
                 f"{e(r.security.label)}</span>{reason} ({e(r.rcode)})"
                 + "".join(f"<br>EDE {e(c)}: {e(t)}" for c, t in r.ede) + "</p>")
    for problem in r.problems:
        parts.append(f"<p class=\"problem\">{e(problem)}</p>")
    parts.append(_chain(r))
    parts.append(_delivery(r))
    parts.append(_sender(r))
    parts.append(_lookups(r))
    return page(f"{r.text}: mail delivery report", "".join(parts))


def _chain(r: DomainReport) -> str:
    g = r.chain
    if not g.nodes:
        return ("<h2 id=\"chain\">Chain of trust</h2><p class=\"muted\">The validator did "
                "not walk a chain of trust for this lookup (no trust anchor above it, or "
                "validation is off).</p>")
    sentences = "".join(f"<li>{e(s)}</li>" for s in graph.describe(g))
    return (f"<h2 id=\"chain\">Chain of trust</h2><p class=\"muted\">From the validator's "
            f"trace of {e(r.text)} MX: green verified, red broken (with the reason), grey "
            f"insecure.</p><div class=\"chain-wrap\">"
            f"{draw.svg(g, f'chain of trust of {r.text}')}</div>"
            f"<details><summary>The chain in words</summary><ul>{sentences}</ul></details>")


def _tlsa_cell(host: Any) -> str:
    tset = host.tlsa
    if tset is None:
        return "<span class=\"muted\">-</span>"
    usable = "<br>".join(f"<code>{e(rec.to_text())}</code> ({e(tlsa_mnemonic(rec))})"
                         for rec in tset.usable)
    ignored = "<br>".join(f"<span class=\"muted\">ignored: {e(i.reason)}</span>"
                          for i in tset.ignored)
    return "<br>".join(x for x in (usable, ignored) if x) or "<span class=\"muted\">none</span>"


def _delivery(r: DomainReport) -> str:
    out = ["<h2 id=\"delivery\">Delivery to this domain</h2>"]
    d = r.dane
    if d is None:
        return out[0] + "<p class=\"problem\">The DANE decision could not be made.</p>"
    out.append(f"<p>RFC 7672 decision: <b>{e(d.verdict.value)}</b> (MX "
               f"{e(d.mx)}, {badge(d.security.label)})</p><ul>"
               + "".join(f"<li>{e(x)}</li>" for x in d.reasons) + "</ul>")
    if d.hosts:
        out.append("<table><tr><th>pref</th><th>MX host</th><th>addresses</th><th>TLSA "
                   "records</th><th>verdict</th><th>why</th></tr>")
        for h in d.hosts:
            tlsa_name = f"<br><code>{e(h.tlsa_name)}</code>" if h.tlsa_name else ""
            out.append(
                f"<tr><td>{h.preference}</td><td>{e(h.host)}</td>"
                f"<td>{'<br>'.join(e(a) for a in h.addresses) or '-'} "
                f"{badge(h.address_security.label)}</td><td>{_tlsa_cell(h)}{tlsa_name}</td>"
                f"<td><b>{e(h.verdict.value)}</b> {badge(h.security.label)}</td>"
                f"<td>{'<br>'.join(e(x) for x in h.reasons)}</td></tr>")
        out.append("</table>")
    out.append(f"<p>What Postfix would do (<code>smtp_tls_security_level = dane</code>): "
               f"{e(r.postfix)}</p>")
    out.append(_policy_txt(r))
    if r.extra_links:
        out.append("<p>MTA-STS, TLS-RPT and the outbound TLS policy (JSON from the API; "
                   "the MTA-STS policy is fetched over HTTPS when followed): " + ", ".join(
            f"<a href=\"{e(url)}\">{e(label)}</a>" for label, url in r.extra_links) + "</p>")
    else:
        out.append("<p class=\"muted\">MTA-STS and TLS-RPT: not checked by this resolver "
                   "yet.</p>")
    return "".join(out)


def _policy_txt(r: DomainReport) -> str:
    rows = []
    for what, owner, lookup in r.policy_txt:
        if lookup is None:
            rows.append(f"<tr><td>{e(what)}</td><td><code>{e(owner)}</code></td><td>-</td>"
                        "<td class=\"muted\">name too long</td></tr>")
            continue
        texts = txt_texts(lookup)
        shown = "<br>".join(f"<code>{e(t)}</code>" for t in texts) or \
            f"<span class=\"muted\">no record ({e(rcode_to_text(lookup.rcode))})</span>"
        rows.append(f"<tr><td>{e(what)}</td><td><code>{e(owner)}</code></td>"
                    f"<td>{badge(lookup.security.label)}</td><td>{shown}</td></tr>")
    if not rows:
        return ""
    return ("<table><tr><th>record</th><th>owner</th><th>DNSSEC</th><th>TXT</th></tr>"
            + "".join(rows) + "</table>")


def _spf_item(node: SpfNode) -> str:
    via = f"{e(node.via)}: " if node.via else ""
    if node.record is None or not node.record.found:
        problem = node.problem or "no SPF record"
        return f"<li>{via}<b>{e(node.domain)}</b> <span class=\"problem\">{e(problem)}</span></li>"
    status = node.record.security.label
    children = "".join(_spf_item(c) for c in node.children)
    sub = f"<ul class=\"tree\">{children}</ul>" if children else ""
    problem = f" <span class=\"problem\">{e(node.problem)}</span>" if node.problem else ""
    return (f"<li>{via}<b>{e(node.domain)}</b> {badge(status)} <code>{e(node.record.text)}"
            f"</code> ({node.lookups} DNS lookup{'s' if node.lookups != 1 else ''}){problem}"
            f"{sub}</li>")


def _sender(r: DomainReport) -> str:
    out = ["<h2 id=\"sender\">Sender authentication of this domain</h2><h3>SPF</h3>"]
    if r.spf is None:
        out.append("<p class=\"problem\">SPF could not be worked out.</p>")
    else:
        over = r.spf_lookups > 10
        out.append(f"<ul class=\"tree\">{_spf_item(r.spf)}</ul><p>DNS lookups over the "
                   f"tree: <b class=\"{'bogus' if over else 'secure'}\">{r.spf_lookups}</b> "
                   f"of at most 10 (RFC 7208 s4.6.4){': permerror' if over else ''}.</p>")
    out.append("<h3>DKIM</h3>")
    if not r.dkim:
        out.append("<p class=\"muted\">No selector given: add them to the form (or "
                   "<code>?dkim=sel1,sel2</code>).</p>")
    for _selector, found in r.dkim:
        key = found.key
        what = (f"{e(key.key_type)} key" if key is not None else "no key")
        out.append(f"<p><code>{e(found.name)}</code> {badge(found.security.label)}: "
                   f"{e(found.status)}, {what}"
                   f"{': ' + e(found.reason) if found.reason else ''}</p>")
    out.append("<h3>DMARC</h3>")
    d = r.dmarc
    if d is None:
        out.append("<p class=\"problem\">DMARC could not be worked out.</p>")
    else:
        record = d.record
        policy = (f"p={e(record.p)}, sp={e(record.sp)}, pct={e(record.pct)}, "
                  f"adkim={e(record.adkim)}, aspf={e(record.aspf)}"
                  f"<br><code>{e(record.raw)}</code>") if record is not None else "-"
        out.append(f"<table><tr><th>status</th><td>{e(d.status)} {badge(d.security.label)}"
                   f"{' ' + e(d.reason) if d.reason else ''}</td></tr>"
                   f"<tr><th>organizational domain</th><td>{e(d.org_domain)}</td></tr>"
                   f"<tr><th>policy found at</th><td>{e(d.policy_domain or '-')}"
                   f"{' (inherited: sp= applies)' if d.inherited else ''}</td></tr>"
                   f"<tr><th>policy</th><td>{policy}</td></tr></table>")
    return "".join(out)


def _lookups(r: DomainReport) -> str:
    rows = "".join(
        f"<tr><td><code>{e(lk.name)}</code></td><td>{e(lk.rtype)}</td>"
        f"<td class=\"{e(lk.status)}\">{e(lk.status)}</td><td>{e(lk.rcode)}</td>"
        f"<td>{lk.records}</td><td>{e(lk.reason)}"
        + "".join(f"<br>EDE {e(c)}: {e(t)}" for c, t in lk.ede) + "</td></tr>"
        for lk in r.lookups)
    return (f"<h2 id=\"lookups\">Every lookup</h2><table><tr><th>name</th><th>type</th>"
            f"<th>DNSSEC</th><th>rcode</th><th>records</th><th>reason / EDE</th></tr>"
            f"{rows}</table><h3>Copy as <code>query --trace</code></h3>"
            f"<p class=\"muted\">The same as <code>resolver query --trace {e(r.text)} MX</code>"
            f" prints:</p><pre id=\"trace\">{e(r.trace_text)}</pre>")
