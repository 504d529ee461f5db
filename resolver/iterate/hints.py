"""Root hints: the IANA root servers built in (named.root, 2024 edition), or a file
in named.root format."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path

from ..wire.name import ROOT, Name
from ..wire.types import RRType
from ..wire.zonefile import read_zone_file

_IANA = {
    "a": ("198.41.0.4", "2001:503:ba3e::2:30"),
    "b": ("170.247.170.2", "2801:1b8:10::b"),
    "c": ("192.33.4.12", "2001:500:2::c"),
    "d": ("199.7.91.13", "2001:500:2d::d"),
    "e": ("192.203.230.10", "2001:500:a8::e"),
    "f": ("192.5.5.241", "2001:500:2f::f"),
    "g": ("192.112.36.4", "2001:500:12::d0d"),
    "h": ("198.97.190.53", "2001:500:1::53"),
    "i": ("192.36.148.17", "2001:7fe::53"),
    "j": ("192.58.128.30", "2001:503:c27::2:30"),
    "k": ("193.0.14.129", "2001:7fd::1"),
    "l": ("199.7.83.42", "2001:500:9f::42"),
    "m": ("202.12.27.33", "2001:dc3::35"),
}


@dataclass(frozen=True, slots=True)
class Hints:
    """Name servers for the root and their addresses."""

    servers: dict[Name, tuple[str, ...]]
    ttl: int = 3600000

    @property
    def names(self) -> list[Name]:
        return list(self.servers)

    def addresses(self, ipv6: bool = True) -> list[str]:
        out: list[str] = []
        for addrs in self.servers.values():
            out.extend(a for a in addrs if ipv6 or ":" not in a)
        return out


def builtin_hints() -> Hints:
    return Hints({Name.from_text(f"{letter}.root-servers.net."): addrs
                  for letter, addrs in _IANA.items()})


def read_hints(path: Path) -> Hints:
    """Read a named.root-style file: ``. NS name`` lines and the names' A/AAAA."""
    records = read_zone_file(path, ROOT, default_ttl=3600000)
    ns = [Name(rr.rdata) for rr in records if rr.rtype == RRType.NS and rr.name.is_root()]
    if not ns:
        raise ValueError(f"{path}: no '. NS' records")
    servers: dict[Name, list[str]] = {n: [] for n in ns}
    for rr in records:
        if rr.rtype in (RRType.A, RRType.AAAA) and rr.name in servers:
            servers[rr.name].append(str(ipaddress.ip_address(rr.rdata)))
    if not any(servers.values()):
        raise ValueError(f"{path}: no addresses for the root name servers")
    return Hints({n: tuple(a) for n, a in servers.items()})
