"""The project's test hierarchy (``zones/``): read the manifest, sign every zone at
start-up with a fresh validity window (children first, so each parent can publish
its children's DS records), and set up the per-server faults the manifest names."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from ..authority.zone import Zone
from ..wire.message import RR
from ..wire.name import Name
from ..wire.types import RRType
from ..wire.zonefile import read_zone_file
from .faults import Faults
from .network import TestNetwork
from .signer import Fault, SignSpec, sign_zone

log = logging.getLogger(__name__)

MANIFEST = "manifest.tsv"
_DAY = 86400


def default_zones_dir() -> Path:
    """Where the project's test hierarchy is: the copy a built package carries in
    ``resolver/testnet/zones/`` (setup.py puts it there), else the checkout's top-level
    ``zones/`` (an editable install or a source tree). Raises FileNotFoundError,
    naming both places and ``--zones``, when neither holds a manifest."""
    packaged = resources.files("resolver.testnet").joinpath("zones")
    if packaged.joinpath(MANIFEST).is_file():
        return Path(str(packaged))
    checkout = Path(__file__).resolve().parents[2] / "zones"
    if (checkout / MANIFEST).is_file():
        return checkout
    raise FileNotFoundError(
        f"the test hierarchy is not installed: neither {packaged} nor {checkout} holds "
        f"{MANIFEST}; reinstall the package from a wheel or a source tree, or name a "
        "hierarchy folder (a copy of the repository's zones/) with --zones DIR")


@dataclass(slots=True)
class ZoneSpec:
    origin: Name
    servers: list[str]
    path: Path
    algorithm: int | None
    denial: str
    faults: frozenset[Fault]
    parent_ds: str
    server_faults: list[tuple[str, str | None]] = field(default_factory=list)  # (spec, addr)


def read_manifest(zones_dir: Path) -> list[ZoneSpec]:
    path = zones_dir / MANIFEST
    specs = []
    for lineno, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip() or line.startswith("#") or line.startswith("zone\t"):
            continue
        cols = line.split("\t")
        if len(cols) != 8:
            raise ValueError(f"{path}:{lineno}: expected 8 tab-separated columns")
        zone, servers, file, alg, denial, faults, parent_ds, sfaults = cols
        try:
            fault_set = frozenset(Fault(f) for f in faults.split(",")) if faults != "-" \
                else frozenset()
        except ValueError as exc:
            raise ValueError(f"{path}:{lineno}: {exc}") from None
        server_faults = []
        if sfaults != "-":
            for item in sfaults.split(","):
                spec, _, addr = item.partition("@")
                server_faults.append((spec, addr or None))
        specs.append(ZoneSpec(Name.from_text(zone), servers.split(","), zones_dir / file,
                              None if alg == "-" else int(alg), denial, fault_set, parent_ds,
                              server_faults))
    return specs


def _sign_spec(spec: ZoneSpec, now: int) -> SignSpec:
    assert spec.algorithm is not None
    sign = SignSpec(algorithm=spec.algorithm, inception=now - _DAY, expiration=now + 30 * _DAY,
                    faults=spec.faults)
    if spec.denial.startswith("nsec3"):
        sign.denial = "nsec3"
        if spec.denial == "nsec3-optout":
            sign.opt_out = True
        elif spec.denial.count(":") == 2:
            _, iterations, salt = spec.denial.split(":")
            sign.iterations = int(iterations)
            sign.salt = bytes.fromhex(salt) if salt != "-" else b""
    return sign


def _parent(spec: ZoneSpec, specs: list[ZoneSpec]) -> ZoneSpec | None:
    best = None
    for other in specs:
        if other is spec or not spec.origin.is_strict_subdomain(other.origin):
            continue
        if best is None or len(other.origin) > len(best.origin):
            best = other
    return best


def _poison_records() -> tuple[list[RR], list[RR]]:
    """A cache-poisoning attempt: a forged address for a name in another zone and a
    forged delegation of that zone."""
    target = Name.from_text("www.secure.example.")
    evil_ns = Name.from_text("ns.evil.internal.")
    authority = [RR(Name.from_text("secure.example."), RRType.NS, 1, 86400, evil_ns.wire)]
    additional = [RR(target, RRType.A, 1, 86400, bytes((6, 6, 6, 6))),
                  RR(evil_ns, RRType.A, 1, 86400, bytes((6, 6, 6, 7)))]
    return authority, additional


def _faults(spec_text: str) -> Faults:
    name, _, value = spec_text.partition("=")
    if name == "poison":
        authority, additional = _poison_records()
        return Faults(poison_authority=authority, poison_additional=additional)
    if name not in Faults.names():
        raise ValueError(f"unknown server fault {name!r}")
    if value:
        return Faults(**{name: float(value)})  # type: ignore[arg-type]
    return Faults(**{name: True})  # type: ignore[arg-type]


@dataclass(slots=True)
class Hierarchy:
    network: TestNetwork
    specs: list[ZoneSpec]
    signatures: int


def build(zones_dir: Path, now: float | None = None, port: int = 0) -> Hierarchy:
    """Read, sign and assemble the hierarchy in *zones_dir* (not started yet)."""
    when = int(time.time() if now is None else now)
    specs = read_manifest(zones_dir)
    records: dict[bytes, list[RR]] = {}
    for spec in specs:
        records[spec.origin.key] = read_zone_file(spec.path, spec.origin)
    signed: dict[bytes, list[RR]] = {}
    total = 0
    for spec in sorted(specs, key=lambda s: -len(s.origin)):  # children before parents
        recs = records[spec.origin.key]
        if spec.algorithm is None:
            signed[spec.origin.key] = recs
            continue
        result = sign_zone(spec.origin, recs, _sign_spec(spec, when))
        total += result.signatures
        signed[spec.origin.key] = result.records
        parent = _parent(spec, specs)
        if parent is not None and spec.parent_ds == "yes":
            if parent.algorithm is not None and not result.ds:
                continue
            records[parent.origin.key] = records[parent.origin.key] + result.ds
    zones: list[tuple[Zone, str]] = []
    for spec in specs:
        zone = Zone.from_records(spec.origin, signed[spec.origin.key])
        zones.extend((zone, addr) for addr in spec.servers)
    network = TestNetwork(zones, port)
    for spec in specs:
        for text, addr in spec.server_faults:
            for server_addr in ([addr] if addr else spec.servers):
                network.servers[server_addr].set_faults(spec.origin, **_fault_kwargs(text))
    log.info("signed %d zones (%d signatures)", len(specs), total)
    return Hierarchy(network, specs, total)


def _fault_kwargs(text: str) -> dict[str, object]:
    faults = _faults(text)
    return {name: getattr(faults, name) for name in Faults.names()}
