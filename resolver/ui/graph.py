"""The chain of trust as a graph, drawn from the validator's trace events.

:func:`build` reads the ``events`` of a trace (resolver/validate/trace.py, kept by
:meth:`resolver.service.Resolver.explain`) and makes one box per zone, from the trust
anchor down: the zone's DS records (at the top of the child's box, as DNSViz does),
its DNSKEYs (KSK / ZSK, algorithm, key tag) and the RRsets and denial proofs checked
in it. Arrows: DS -> DNSKEY (digest match), DNSKEY -> DS / DNSKEY / RRset (an RRSIG
made with that key verified the set). Green is verified, red the broken link with its
reason, grey an insecure delegation (with the NSEC/NSEC3 proof) or a negative trust
anchor. Nothing is recomputed here: what the validator did not say is not drawn.

:func:`describe` gives the same as plain sentences, the text alternative of the
picture; :mod:`resolver.ui.draw` draws it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ALGORITHMS = {1: "RSAMD5", 3: "DSA", 5: "RSASHA1", 6: "DSA-NSEC3", 7: "RSASHA1-NSEC3",
              8: "RSASHA256", 10: "RSASHA512", 12: "ECC-GOST", 13: "ECDSAP256",
              14: "ECDSAP384", 15: "ED25519", 16: "ED448"}
DIGESTS = {1: "SHA-1", 2: "SHA-256", 3: "GOST", 4: "SHA-384"}
COLOURS = {"secure": "#1a7f37", "bogus": "#cf222e", "insecure": "#6e7781",
           "neutral": "#57606a"}
FILLS = {"secure": "#eaf7ee", "bogus": "#ffebe9", "insecure": "#f3f4f6", "neutral": "#ffffff"}
MAX_NODES = 200          # a trace of a long CNAME chain is cut here (bounded output)
MAX_LABEL = 300          # characters of a reason kept on an arrow


def _alg(number: object) -> str:
    return ALGORITHMS.get(int(number), f"alg{number}") if isinstance(number, int) else "?"


@dataclass(slots=True)
class Node:
    id: str
    zone: str
    row: int                 # 0: DS / proof, 1: DNSKEY, 2: data
    lines: list[str]
    status: str = "neutral"
    note: str = ""           # the full text (tooltip and text alternative)


@dataclass(slots=True)
class Edge:
    src: str
    dst: str
    status: str
    label: str = ""          # the reason, on broken links


@dataclass(slots=True)
class Zone:
    name: str
    status: str = "neutral"
    notes: list[str] = field(default_factory=list)
    why: str = ""            # the note that gave the zone its status


@dataclass(slots=True)
class Graph:
    zones: dict[str, Zone] = field(default_factory=dict)
    nodes: dict[str, Node] = field(default_factory=dict)
    edges: list[Edge] = field(default_factory=list)
    truncated: bool = False

    def zone(self, name: str) -> Zone:
        if name not in self.zones:
            self.zones[name] = Zone(name)
        return self.zones[name]

    def node(self, node: Node) -> Node:
        if node.id in self.nodes:
            return self.nodes[node.id]
        if len(self.nodes) >= MAX_NODES:
            self.truncated = True
            return node
        self.zone(node.zone)
        self.nodes[node.id] = node
        return node

    def edge(self, src: str, dst: str, status: str, label: str = "") -> None:
        if src not in self.nodes or dst not in self.nodes or len(self.edges) >= 4 * MAX_NODES:
            return
        for old in self.edges:
            if (old.src, old.dst) == (src, dst):    # the same link seen again (a later trace)
                if status == "bogus" and old.status != "bogus":
                    old.status, old.label = status, label[:MAX_LABEL]
                return
        self.edges.append(Edge(src, dst, status, label[:MAX_LABEL]))

    def mark(self, zone: str, status: str, note: str = "") -> None:
        """The zone's status: bogus outranks everything, insecure outranks secure."""
        entry = self.zone(zone)
        rank = {"neutral": 0, "secure": 1, "insecure": 2, "bogus": 3}
        if rank[status] > rank[entry.status]:
            entry.status = status
            entry.why = note
        elif status == entry.status and not entry.why:
            entry.why = note
        if note and note not in entry.notes:
            entry.notes.append(note)


def _key_id(zone: str, tag: object) -> str:
    return f"key:{zone}:{tag}"


def _ds_id(zone: str, tag: object) -> str:
    return f"ds:{zone}:{tag}"


def _key_node(g: Graph, zone: str, key: list[Any]) -> Node:
    tag, alg, flags = [*key, 0, 0, 0][:3]
    role = {257: "KSK", 256: "ZSK"}.get(flags, "key")
    return g.node(Node(_key_id(zone, tag), zone, 1, [f"DNSKEY {tag}", f"{role} {_alg(alg)}"],
                       note=f"DNSKEY of {zone}: key tag {tag}, {role}, algorithm {_alg(alg)}"))


def _status(event: dict[str, Any]) -> str:
    if event.get("ok"):
        return "secure"
    security = str(event.get("security", "bogus"))
    return security if security in COLOURS else "bogus"


def _signed(g: Graph, zone: str, event: dict[str, Any], target: str) -> None:
    """Arrows from the key that verified *target* (or the keys that failed to)."""
    status = _status(event)
    if event.get("signer") is not None:
        g.edge(_key_id(zone, event["signer"]), target, "secure")
        return
    tried = [t for t in event.get("tried", []) if _key_id(zone, t) in g.nodes]
    for tag in tried:
        g.edge(_key_id(zone, tag), target, status, str(event.get("text", "")))
    if not tried and target in g.nodes and status == "bogus":
        g.nodes[target].status = "bogus"
        signer = _zsk(g, zone)      # no usable RRSIG at all: from the zone's keys
        if signer is not None and signer.id != target:
            g.edge(signer.id, target, "bogus", str(event.get("text", "")))


def _zsk(g: Graph, zone: str) -> Node | None:
    """A key of *zone* to draw an arrow from when the trace names none (a ZSK first)."""
    keys = [n for n in g.nodes.values() if n.zone == zone and n.row == 1]
    return next((n for n in keys if "ZSK" in n.lines[-1]), keys[0] if keys else None)


def build(events: list[dict[str, Any]]) -> Graph:
    """The graph of one validation, from its trace events, in the order they came."""
    g = Graph()
    for ev in events:
        kind, zone = str(ev.get("kind")), str(ev.get("zone", ""))
        if kind == "anchor":
            g.mark(zone, "neutral", "trust anchor")
            for tag, alg, digest in ev.get("ds", []):
                digest_name = DIGESTS.get(digest, digest)
                g.node(Node(_ds_id(zone, tag), zone, 0, [f"anchor DS {tag}",
                                                          f"{_alg(alg)} {digest_name}"],
                            "secure", f"trust anchor: DS {tag} for {zone}"))
            for key in ev.get("keys", []):
                _key_node(g, zone, [*key, 257]).status = "secure"
        elif kind == "dnskey":
            _dnskey(g, zone, ev)
        elif kind == "ds":
            child = str(ev.get("child"))
            status = _status(ev)
            for tag, alg, digest in ev.get("ds", []):
                node = g.node(Node(_ds_id(child, tag), child, 0,
                                   [f"DS {tag}", f"{_alg(alg)} {DIGESTS.get(digest, digest)}"],
                                   status, f"DS {tag} for {child}, served by {zone}"))
                _signed(g, zone, ev, node.id)
            if status == "bogus":
                g.mark(child, "bogus", f"DS set: {ev.get('text', '')}")
        elif kind == "denial":
            _denial(g, zone, ev)
        elif kind == "cached":
            status = str(ev.get("security", "neutral"))
            for key in ev.get("keys", []):
                _key_node(g, zone, key).status = status if status in COLOURS else "neutral"
            g.mark(zone, status if status in COLOURS else "neutral", str(ev.get("text", "")))
        elif kind == "nta":
            node = g.node(Node(f"nta:{zone}", zone, 0, ["negative trust anchor",
                                                        f"until {ev.get('until', '?')}"],
                               "insecure", f"negative trust anchor for {zone}: not validated"))
            g.mark(node.zone, "insecure", "negative trust anchor: not validated")
        elif kind == "proof":
            _proof(g, zone, ev)
        elif kind == "rrset":
            owner, rtype = str(ev.get("owner")), str(ev.get("type"))
            status = _status(ev)
            node = g.node(Node(f"rr:{owner}:{rtype}", zone, 2, [owner, rtype], status,
                               f"{owner} {rtype}: {ev.get('text', '')}"))
            if status == "bogus" and ev.get("signer") is None:
                g.mark(zone, "bogus", f"{owner} {rtype}: {ev.get('text', '')}")
            if status != "insecure":
                _signed(g, zone, ev, node.id)
    return g


def _dnskey(g: Graph, zone: str, ev: dict[str, Any]) -> None:
    status = _status(ev)
    keys = [_key_node(g, zone, k) for k in ev.get("keys", [])]
    matched = {str(t) for t in ev.get("matched", [])}
    for key in keys:
        tag = key.id.rsplit(":", 1)[1]
        ds = _ds_id(zone, tag)
        if tag in matched:
            key.status = "secure" if status == "secure" else key.status
            g.edge(ds, key.id, "secure")
        elif ds in g.nodes and not matched:
            g.edge(ds, key.id, "bogus", str(ev.get("text", "")))
    if not matched and status == "bogus":   # a DS that matches no key: the DS is red
        for node in g.nodes.values():
            if node.zone == zone and node.row == 0 and node.id.startswith("ds:"):
                node.status = "bogus"
                node.note += f": {ev.get('text', '')}"
    signer = ev.get("signer")
    if signer is not None:
        for key in keys:
            if key.id != _key_id(zone, signer):
                g.edge(_key_id(zone, signer), key.id, "secure")
        if status == "secure":
            for key in keys:
                if key.status == "neutral":
                    key.status = "secure"
    elif matched:      # the DS matched, the RRSIG over the DNSKEY set did not verify
        tried = {_key_id(zone, t) for t in ev.get("tried", [])}
        for key in keys:
            if key.id not in tried:
                _signed(g, zone, ev, key.id)
        for key in keys:
            if key.id in tried or not tried:
                key.status = "bogus"
    g.mark(zone, status, f"DNSKEY set: {ev.get('text', '')}")
    if not keys and status == "bogus":
        node = g.node(Node(f"nokeys:{zone}", zone, 1, ["no DNSKEY set"], "bogus",
                           str(ev.get("text"))))
        for ds_node in [n for n in g.nodes.values() if n.zone == zone and n.row == 0]:
            ds_node.status = "bogus"
            g.edge(ds_node.id, node.id, "bogus", str(ev.get("text", "")))


def _denial(g: Graph, zone: str, ev: dict[str, Any]) -> None:
    child = str(ev.get("child"))
    security = str(ev.get("security", "bogus"))
    if security == "secure" and not ev.get("cut"):
        return        # not a zone cut: nothing to draw
    steps = [str(s) for s in ev.get("steps", [])]
    status = "bogus" if security == "bogus" else "insecure"
    kinds = sorted({s.split()[0] for s in steps if s.startswith(("NSEC3 ", "NSEC "))})
    node = g.node(Node(f"denial:{child}", child, 0,
                       ["no DS: " + ("/".join(kinds) or "NSEC/NSEC3") + " proof",
                        "insecure delegation" if status == "insecure" else "proof broken"],
                       status, f"no DS for {child}: " + "; ".join(
                           [*steps[:6], str(ev.get("text", ""))])))
    zsk = _zsk(g, zone)
    if zsk is not None:
        g.edge(zsk.id, node.id, status, str(ev.get("text", "")) if status == "bogus" else "")
    g.mark(child, status, "insecure delegation: no DS, proven by " + ("/".join(kinds) or
                                                                      "NSEC/NSEC3")
           if status == "insecure" else f"DS denial: {ev.get('text', '')}")


def _proof(g: Graph, zone: str, ev: dict[str, Any]) -> None:
    """A negative answer (NXDOMAIN / NODATA) and the NSEC/NSEC3 proof that made it."""
    what = str(ev.get("what", "denial"))
    security = str(ev.get("security", "bogus"))
    status = security if security in COLOURS else "bogus"
    steps = [str(s) for s in ev.get("steps", [])]
    kinds = sorted({s.split()[0] for s in steps if s.startswith(("NSEC3 ", "NSEC "))})
    node = g.node(Node(f"proof:{what}", zone, 2, [what, ("/".join(kinds) or "denial") +
                                                   " proof"], status,
                       f"{what}: " + "; ".join([*steps[:6], str(ev.get("text", ""))])))
    zsk = _zsk(g, zone)
    if zsk is not None:
        g.edge(zsk.id, node.id, status, str(ev.get("text", "")) if status == "bogus" else "")
    if status == "bogus":
        g.mark(zone, "bogus", f"{what}: {ev.get('text', '')}")


# ------------------------------------------------------------------ text alternative

def describe(g: Graph) -> list[str]:
    """The graph in sentences: each zone, then each arrow (the broken ones say why)."""
    out = []
    for zone in g.zones.values():
        notes = "; ".join(zone.notes)
        out.append(f"zone {zone.name}: {zone.status}{' - ' + notes if notes else ''}")
    for e in g.edges:
        a, b = g.nodes[e.src], g.nodes[e.dst]
        verb = {"secure": "verified", "bogus": "BROKEN", "insecure": "insecure"}.get(
            e.status, e.status)
        why = f": {e.label}" if e.label else ""
        out.append(f"{' '.join(a.lines)} ({a.zone}) -> {' '.join(b.lines)} ({b.zone}): "
                   f"{verb}{why}")
    if g.truncated:
        out.append(f"(the graph is cut at {MAX_NODES} nodes)")
    return out
