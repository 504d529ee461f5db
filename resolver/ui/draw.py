"""The chain-of-trust graph (:mod:`resolver.ui.graph`) drawn: :func:`svg` lays it out in
layers of our own (zones top to bottom; in each zone a row of DS, a row of keys and a
row of data) as an inline SVG, every text escaped, with classes and ``data-`` attributes
on zones, nodes and arrows; :func:`dot` writes the same graph in Graphviz's language,
for comparison (docs/report-page.md says why the page does not use it).
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from .graph import COLOURS, FILLS, Edge, Graph, Node, Zone, describe

SHOWN_LABEL = 48         # characters of a reason written next to its arrow (all: tooltip)
# ------------------------------------------------------------------ layout and SVG

CHAR_W = 7.2       # px per character at the 12 px font
NODE_H = 40
ROW_GAP = 34
ZONE_PAD = 14
TITLE_H = 24
NODE_GAP = 18
FOOTER_H = 20


def _footer(zone: Zone) -> str:
    """The line at the bottom of a bogus or insecure zone's box: why."""
    return zone.why if zone.status in ("bogus", "insecure") else ""


@dataclass(slots=True)
class _Box:
    x: float
    y: float
    w: float
    h: float


def _layout(g: Graph) -> tuple[dict[str, _Box], dict[str, _Box], float, float]:
    widths = {n.id: max(86.0, CHAR_W * max(len(line) for line in n.lines) + 16)
              for n in g.nodes.values()}
    rows: dict[str, dict[int, list[Node]]] = {z: {} for z in g.zones}
    for node in g.nodes.values():
        rows[node.zone].setdefault(node.row, []).append(node)
    width = 720.0
    for zone, by_row in rows.items():
        for row in by_row.values():
            width = max(width, sum(widths[n.id] for n in row) + NODE_GAP * (len(row) - 1)
                        + 2 * ZONE_PAD + 20)
        width = max(width, CHAR_W * (len(zone) + 30) + 2 * ZONE_PAD)
    boxes: dict[str, _Box] = {}
    zone_boxes: dict[str, _Box] = {}
    y = 10.0
    for zone, by_row in rows.items():
        top = y
        y += TITLE_H + ZONE_PAD
        for index in sorted(by_row):
            row = by_row[index]
            total = sum(widths[n.id] for n in row) + NODE_GAP * (len(row) - 1)
            x = 10 + (width - total) / 2
            for node in row:
                boxes[node.id] = _Box(x, y, widths[node.id], NODE_H)
                x += widths[node.id] + NODE_GAP
            y += NODE_H + ROW_GAP
        y = max(y - ROW_GAP + ZONE_PAD, top + TITLE_H + ZONE_PAD)
        if _footer(g.zones[zone]):
            y += FOOTER_H
        zone_boxes[zone] = _Box(10, top, width, y - top)
        y += ROW_GAP
    return boxes, zone_boxes, width + 20, y


def svg(g: Graph, title: str = "chain of trust") -> str:
    """The graph as an inline SVG document (every text escaped)."""
    boxes, zone_boxes, width, height = _layout(g)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chain" role="img" '
           f'aria-labelledby="chain-title chain-desc" width="{width:.0f}" '
           f'height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" '
           f'font-family="sans-serif" font-size="12">',
           f'<title id="chain-title">{escape(title)}</title>',
           f'<desc id="chain-desc">{escape(". ".join(describe(g)))}</desc>',
           '<defs>']
    for status, colour in COLOURS.items():
        out.append(f'<marker id="arrow-{status}" viewBox="0 0 10 10" refX="10" refY="5" '
                   f'markerWidth="7" markerHeight="7" orient="auto-start-reverse">'
                   f'<path d="M 0 0 L 10 5 L 0 10 z" fill="{colour}"/></marker>')
    out.append('</defs>')
    for name, box in zone_boxes.items():
        zone = g.zones[name]
        colour = COLOURS[zone.status]
        dash = ' stroke-dasharray="6 4"' if zone.status == "insecure" else ""
        out.append(f'<g class="zone zone-{zone.status}" data-zone="{escape(name)}">'
                   f'<rect x="{box.x:.1f}" y="{box.y:.1f}" width="{box.w:.1f}" '
                   f'height="{box.h:.1f}" rx="10" fill="{FILLS[zone.status]}" '
                   f'fill-opacity="0.5" stroke="{colour}" stroke-width="1.5"{dash}/>'
                   f'<text x="{box.x + 12:.1f}" y="{box.y + 17:.1f}" font-weight="bold" '
                   f'fill="{colour}">{escape(name)} ({zone.status})</text>')
        footer = _footer(zone)
        if footer:
            room = int((box.w - 24) / (CHAR_W * 0.92))
            shown = footer if len(footer) <= room else footer[:room - 1] + "\u2026"
            out.append(f'<text x="{box.x + 12:.1f}" y="{box.y + box.h - 9:.1f}" '
                       f'font-size="11" fill="{colour}" class="zone-why">'
                       f'{escape(shown)}</text>')
        out.append('</g>')
    written: set[str] = set()
    for e in g.edges:    # a reason is written once; the other arrows have it as tooltip
        out.append(_edge_svg(e, boxes[e.src], boxes[e.dst], e.label not in written))
        written.add(e.label)
    for node in g.nodes.values():
        box = boxes[node.id]
        colour = COLOURS[node.status]
        out.append(f'<g class="node node-{node.status}" data-id="{escape(node.id)}">'
                   f'<title>{escape(node.note or " ".join(node.lines))}</title>'
                   f'<rect x="{box.x:.1f}" y="{box.y:.1f}" width="{box.w:.1f}" '
                   f'height="{box.h:.1f}" rx="{18 if node.row == 1 else 4}" fill="white" '
                   f'stroke="{colour}" stroke-width="{2.5 if node.status == "bogus" else 1.5}"/>')
        for i, line in enumerate(node.lines[:2]):
            weight = ' font-weight="bold"' if i == 0 else ""
            out.append(f'<text x="{box.x + box.w / 2:.1f}" y="{box.y + 16 + 14 * i:.1f}" '
                       f'text-anchor="middle" fill="{colour if i == 0 else "#24292f"}"'
                       f'{weight}>{escape(line)}</text>')
        out.append('</g>')
    out.append('</svg>')
    return "\n".join(out)


def _edge_svg(e: Edge, a: _Box, b: _Box, write: bool) -> str:
    colour = COLOURS.get(e.status, COLOURS["neutral"])
    if abs(a.y - b.y) < 1:        # same row: an arc above the row
        x1, x2 = a.x + a.w / 2, b.x + b.w / 2
        y1 = a.y
        lift = 26
        path = f"M {x1:.1f} {y1:.1f} C {x1:.1f} {y1 - lift:.1f} {x2:.1f} {y1 - lift:.1f} " \
               f"{x2:.1f} {y1:.1f}"
        mid = ((x1 + x2) / 2, y1 - lift)
    else:
        down = b.y > a.y
        x1, y1 = a.x + a.w / 2, (a.y + a.h) if down else a.y
        x2, y2 = b.x + b.w / 2, b.y if down else (b.y + b.h)
        path = f"M {x1:.1f} {y1:.1f} C {x1:.1f} {(y1 + y2) / 2:.1f} {x2:.1f} " \
               f"{(y1 + y2) / 2:.1f} {x2:.1f} {y2:.1f}"
        mid = ((x1 + x2) / 2, (y1 + y2) / 2)
    width = 2.5 if e.status == "bogus" else 1.5
    dash = ' stroke-dasharray="5 3"' if e.status == "insecure" else ""
    out = (f'<g class="edge edge-{e.status}" data-src="{escape(e.src)}" '
           f'data-dst="{escape(e.dst)}"><path d="{path}" fill="none" '
           f'stroke="{colour}" stroke-width="{width}"{dash} '
           f'marker-end="url(#arrow-{e.status if e.status in COLOURS else "neutral"})"/>')
    if e.label and not write:
        out += f'<title>{escape(e.label)}</title>'
    elif e.label:
        shown = e.label if len(e.label) <= SHOWN_LABEL else e.label[:SHOWN_LABEL - 1] + "\u2026"
        out += (f'<title>{escape(e.label)}</title><text x="{mid[0] + 8:.1f}" '
                f'y="{mid[1] + 4:.1f}" fill="{colour}" font-size="11">{escape(shown)}</text>')
    return out + '</g>'


# ------------------------------------------------------------------ Graphviz (measured)

def _dot_text(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def dot(g: Graph) -> str:
    """The same graph in Graphviz's language (clusters per zone)."""
    out = ["digraph chain {", "rankdir=TB; node [fontname=sans, fontsize=10];"]
    for i, zone in enumerate(g.zones.values()):
        out.append(f'subgraph cluster_{i} {{ label="{_dot_text(zone.name)} ({zone.status})"; '
                   f'color="{COLOURS[zone.status]}";')
        for node in g.nodes.values():
            if node.zone == zone.name:
                shape = "ellipse" if node.row == 1 else "box"
                label = "\\n".join(_dot_text(x) for x in node.lines)
                out.append(f'"{_dot_text(node.id)}" [label="{label}", shape={shape}, '
                           f'color="{COLOURS[node.status]}"];')
        out.append("}")
    for e in g.edges:
        out.append(f'"{_dot_text(e.src)}" -> "{_dot_text(e.dst)}" [color="{COLOURS[e.status]}"'
                   f', label="{_dot_text(e.label)}"];')
    out.append("}")
    return "\n".join(out)
