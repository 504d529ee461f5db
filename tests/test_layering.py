"""The package's layers, enforced: every import in ``resolver/`` (read with ``ast``,
function-level and ``TYPE_CHECKING`` imports included: a type is a dependency too)
must point to its own component or to a lower layer.

Layers, low to high (issue 15 s1). Components of one layer are siblings: they never
import each other (the iterator and the validator do not; the service composes them,
as Unbound's module chain and Knot's layers do).

====  ==========================================================================
0     the package root (``__version__``), ``wire``, ``config``, ``clock``, ``lru``,
      ``errors``, ``counters``: nothing internal
1     ``dnssec``: pure maths over wire data
2     ``cache``, ``authority``, ``answer`` (the service's Answer, the iterator's
      unvalidated IterResult, and the wire form of an Answer), ``configfile`` (the
      TOML reader for config.Settings)
3     ``iterate``, ``validate``, ``testnet``, ``local`` (locally served zones): the
      pieces the service composes
4     ``service``: the composition root
5     ``server``, ``mail``, ``metrics``
6     ``api``
7     ``cli`` (and ``__main__``)
====  ==========================================================================

Deviation from the issue's table: ``metrics`` sits one layer below ``api`` rather
than beside it, because the API serves ``/metrics`` with it (siblings never import
each other). ``metrics`` reads the server's counters through a Protocol, so it does
not import the server.

Two narrower rules on top:

* the server, the mail evaluators, the metrics and the API use the service's public
  surface only: ``service``, ``answer``, ``dnssec.status`` and the layer 0 modules,
  never the caches, the iterator, the validator, the local zones or the DNSSEC maths
  (so the API does not import the server either);
* the iterator knows nothing about DNSSEC: of ``dnssec`` it imports only
  ``dnssec.status`` (the verdicts the caches hold).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import resolver

PACKAGE = Path(resolver.__file__).parent
ROOT = "resolver"

LAYERS: list[frozenset[str]] = [
    frozenset({ROOT, "wire", "config", "clock", "errors", "counters", "lru"}),
    frozenset({"dnssec"}),
    frozenset({"cache", "authority", "answer", "configfile"}),
    frozenset({"iterate", "validate", "testnet", "local"}),
    frozenset({"service"}),
    frozenset({"server", "mail", "metrics"}),
    frozenset({"api"}),
    frozenset({"cli"}),
]
# modules counted as part of another component
ALIASES = {"__main__": "cli",     # ``python -m resolver`` is the command line
           "ui": "api",          # the report page is served by the API, on its port
           "forward_tls": "configfile"}   # the DoT keys of [[forward]] blocks
LAYER_OF = {component: index for index, layer in enumerate(LAYERS) for component in layer}

# what the consumers of the service may import from below their own layer: the
# service's public surface, and (for the API) the mail evaluators and the metrics
SURFACE_USERS = frozenset({"server", "mail", "metrics", "api"})
SURFACE = LAYERS[0] | {"answer", "service", "resolver.dnssec.status", "mail", "metrics"}
# the modules of dnssec the iterator may import
ITERATOR_DNSSEC = frozenset({"resolver.dnssec.status"})

# (importing module, imported module) -> why it is allowed; keep it empty
ALLOWED: dict[tuple[str, str], str] = {}


@dataclass(frozen=True, slots=True)
class Edge:
    source: str       # importing module, dotted
    target: str       # imported module, dotted
    path: Path
    line: int

    def where(self) -> str:
        return f"{self.path.relative_to(PACKAGE.parent)}:{self.line}"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def component(module: str) -> str:
    """``resolver.validate.chain`` -> ``validate``; ``resolver`` -> the root."""
    parts = module.split(".")
    name = parts[1] if len(parts) > 1 else ROOT
    return ALIASES.get(name, name)


def is_module(dotted: str) -> bool:
    base = PACKAGE.parent.joinpath(*dotted.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def imports(path: Path) -> list[Edge]:
    """Every internal import of one module, resolved to module names."""
    source = module_name(path)
    package = source if path.name == "__init__.py" else source.rpartition(".")[0]
    tree = ast.parse(path.read_text(), filename=str(path))
    edges: list[Edge] = []
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".")
                if node.level > 1:
                    base_parts = base_parts[:-(node.level - 1)]
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            # ``from pkg import submodule`` depends on the submodule itself
            subs = [f"{base}.{alias.name}" for alias in node.names
                    if is_module(f"{base}.{alias.name}")]
            targets = subs if subs and len(subs) == len(node.names) else [base, *subs]
        for target in targets:
            if target == ROOT or target.startswith(ROOT + "."):
                edges.append(Edge(source, target, path, node.lineno))
    return edges


def problem(edge: Edge) -> str | None:
    """Why *edge* breaks the layering, or None."""
    src, dst = component(edge.source), component(edge.target)
    if src == dst:
        return None
    if src not in LAYER_OF:
        return f"component {src!r} has no layer (add it to LAYERS)"
    if dst not in LAYER_OF:
        return f"component {dst!r} has no layer (add it to LAYERS)"
    low, high = LAYER_OF[dst], LAYER_OF[src]
    if low > high:
        return f"{src} (layer {high}) imports the higher layer {dst} (layer {low})"
    if low == high:
        return f"{src} imports its sibling {dst} (layer {low})"
    if src in SURFACE_USERS and dst not in SURFACE and edge.target not in SURFACE:
        return f"{src} reaches below the service's public surface into {edge.target}"
    if src == "iterate" and dst == "dnssec" and edge.target not in ITERATOR_DNSSEC:
        return f"the iterator imports DNSSEC machinery ({edge.target})"
    return None


def all_edges() -> list[Edge]:
    return [edge for path in sorted(PACKAGE.rglob("*.py")) for edge in imports(path)]


def test_every_component_has_a_layer() -> None:
    found = {component(module_name(path)) for path in PACKAGE.rglob("*.py")}
    assert found <= set(LAYER_OF), f"no layer for {sorted(found - set(LAYER_OF))}"


def test_layers() -> None:
    offences = []
    for edge in all_edges():
        why = problem(edge)
        if why is not None and (edge.source, edge.target) not in ALLOWED:
            offences.append(f"{edge.where()}: {edge.source} -> {edge.target}: {why}")
    assert not offences, "layering broken:\n" + "\n".join(offences)


def test_allow_list_is_needed() -> None:
    """Each allow-list entry has a reason and still matches an offending import."""
    offending = {(e.source, e.target) for e in all_edges() if problem(e) is not None}
    for key, reason in ALLOWED.items():
        assert reason.strip(), f"{key}: no reason given"
        assert key in offending, f"{key} is allowed but no longer needed"


def test_the_checker_sees_violations() -> None:
    """The resolution of relative imports and the rules themselves, on made-up edges."""
    here = PACKAGE / "x.py"
    assert problem(Edge("resolver.config", "resolver.dnssec.budget", here, 1))
    assert problem(Edge("resolver.validate.chain", "resolver.iterate.engine", here, 1))
    assert problem(Edge("resolver.iterate.engine", "resolver.validate.chain", here, 1))
    assert problem(Edge("resolver.iterate.engine", "resolver.dnssec.nsec3", here, 1))
    assert problem(Edge("resolver.iterate.engine", "resolver.dnssec.status", here, 1)) is None
    assert problem(Edge("resolver.api.app", "resolver.server.listener", here, 1))
    assert problem(Edge("resolver.server.listener", "resolver.cache.messages", here, 1))
    assert problem(Edge("resolver.metrics", "resolver.cache.store", here, 1))
    assert problem(Edge("resolver.api.app", "resolver.service", here, 1)) is None
    assert problem(Edge("resolver.api.app", "resolver.metrics", here, 1)) is None
    assert problem(Edge("resolver.service", "resolver.validate.chain", here, 1)) is None
    assert problem(Edge("resolver.__main__", "resolver.cli.main", here, 1)) is None
    assert component("resolver") == ROOT and component("resolver.wire.name") == "wire"
    edges = imports(PACKAGE / "api" / "app.py")
    assert any(e.target == "resolver.service" for e in edges)
    assert all(e.source == "resolver.api.app" for e in edges)
