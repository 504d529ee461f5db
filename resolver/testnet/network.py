"""A set of authoritative test servers on loopback addresses, built from a zone map.

The map format is that of tests/data/interop/zones.map: one ``zone address file``
line per zone; ``#`` starts a comment. All servers of one network listen on the
same port, so a resolver can reach all of them with one ``--upstream-port``.
"""

from __future__ import annotations

import errno
import logging
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ..authority.zone import Zone
from ..wire.message import RR
from ..wire.name import Name
from ..wire.types import RRType
from ..wire.zonefile import read_zone_file
from .server import AuthServer

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ZoneEntry:
    origin: Name
    address: str
    path: Path


def read_map(map_path: Path, zone_dir: Path | None = None) -> list[ZoneEntry]:
    """Read a ``zone address file`` map; files are relative to *zone_dir*
    (default: a ``zones`` folder next to the map, else the map's folder)."""
    base = zone_dir
    if base is None:
        base = map_path.parent / "zones"
        if not base.is_dir():
            base = map_path.parent
    entries = []
    for lineno, line in enumerate(map_path.read_text().splitlines(), 1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        parts = text.split()
        if len(parts) != 3:
            raise ValueError(f"{map_path}:{lineno}: expected 'zone address file'")
        entries.append(ZoneEntry(Name.from_text(parts[0]), parts[1], base / parts[2]))
    return entries


def load_zone(entry: ZoneEntry) -> Zone:
    return Zone.from_records(entry.origin, read_zone_file(entry.path, entry.origin))


class TestNetwork:
    """Servers keyed by address, sharing one port (0 = pick a free one)."""

    __test__ = False  # not a pytest class

    def __init__(self, zones: Iterable[tuple[Zone, str]], port: int = 0) -> None:
        self.port = port
        self.servers: dict[str, AuthServer] = {}
        self.zones: dict[bytes, Zone] = {}
        for zone, address in zones:
            server = self.servers.get(address)
            if server is None:
                server = self.servers[address] = AuthServer(address, [])
            server.add_zone(zone)
            self.zones[zone.origin.key] = zone

    @classmethod
    def from_map(cls, map_path: Path, zone_dir: Path | None = None, port: int = 0) -> TestNetwork:
        entries = read_map(map_path, zone_dir)
        return cls(((load_zone(e), e.address) for e in entries), port)

    async def start(self) -> None:
        """Start every server on one port; with port 0 try random free ports."""
        attempts = 1 if self.port else 20
        for _ in range(attempts):
            port = self.port or 20000 + secrets.randbelow(40000)
            try:
                for server in self.servers.values():
                    server.port = port
                    await server.start()
            except OSError as exc:
                await self.stop()
                if self.port or exc.errno not in (errno.EADDRINUSE, errno.EACCES):
                    raise
                continue
            self.port = port
            log.info("test network up on port %d: %s", port, ", ".join(self.servers))
            return
        raise OSError(errno.EADDRINUSE, "no free port for the test network")

    async def stop(self) -> None:
        for server in self.servers.values():
            await server.stop()

    async def __aenter__(self) -> TestNetwork:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def server_for(self, zone: Name) -> AuthServer:
        for server in self.servers.values():
            if zone.key in server.zones:
                return server
        raise KeyError(str(zone))

    # --- what a resolver needs to use this network ------------------------------
    def root_hints(self) -> list[RR]:
        """The root NS RRset and the addresses of its targets, from the root zone."""
        root = self.zones.get(b"\x00")
        if root is None:
            raise ValueError("the network serves no root zone")
        ns = root.get(Name(b"\x00"), RRType.NS)
        assert ns is not None
        out = ns.records()
        for data in ns.rdatas:
            target = Name(data)
            for rtype in (RRType.A, RRType.AAAA):
                rs = root.get(target, rtype)
                if rs is not None:
                    out.extend(rs.records())
        return out

    def root_keys(self) -> list[RR]:
        """The root zone's key-signing keys (SEP bit set), for a trust anchor."""
        root = self.zones.get(b"\x00")
        if root is None:
            raise ValueError("the network serves no root zone")
        dnskey = root.get(Name(b"\x00"), RRType.DNSKEY)
        if dnskey is None:
            return []
        return [rr for rr in dnskey.records() if len(rr.rdata) >= 2 and rr.rdata[1] & 0x01]

    def write_outputs(self, out_dir: Path) -> dict[str, Path]:
        """Write root.hints, root.key and root.ds into *out_dir*."""
        from ..dnssec.keys import make_ds
        from ..wire import rdata as rd

        out_dir.mkdir(parents=True, exist_ok=True)
        paths = {"hints": out_dir / "root.hints", "key": out_dir / "root.key",
                 "ds": out_dir / "root.ds"}
        hints = ["; root hints for the test network"]
        hints += [rr.to_text() for rr in self.root_hints()]
        paths["hints"].write_text("\n".join(hints) + "\n")
        keys = self.root_keys()
        paths["key"].write_text("".join(
            f". IN DNSKEY {rd.to_text(RRType.DNSKEY, rr.rdata)}\n" for rr in keys))
        root = Name(b"\x00")
        paths["ds"].write_text("".join(
            f". IN DS {rd.to_text(RRType.DS, make_ds(root, rr.rdata, 2))}\n" for rr in keys))
        return paths

