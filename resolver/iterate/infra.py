"""The infrastructure cache: per-server round-trip times, timeouts, EDNS support and
lameness (what Unbound keeps in infra.c), bounded in size."""

from __future__ import annotations

import ipaddress
import secrets
from dataclasses import dataclass

from ..lru import Lru
from .transport import Server

INITIAL_RTT = 0.4     # seconds assumed for a server never asked
MIN_TIMEOUT = 0.4   # loopback RTTs are tiny; queueing alone must not time out
MAX_TIMEOUT = 3.0
LAME_TTL = 900.0
# zones one server is remembered lame for: many zones delegated to one server (an
# attacker's, or a victim's) push out the oldest marks instead of growing without end
# (Unbound bounds its (server, zone) infra entries the same way)
LAME_ZONES_MAX = 1000
BACKOFF_MAX = 120.0


@dataclass(slots=True)
class ServerInfo:
    srtt: float = INITIAL_RTT
    rttvar: float = INITIAL_RTT / 2
    samples: int = 0
    timeouts: int = 0               # consecutive timeouts
    down_until: float = 0.0         # skip until then (probe afterwards)
    no_edns: bool = False           # answered FORMERR to EDNS queries
    # zone key -> until when; made at the first mark (most servers are never lame: an
    # empty Lru costs 340 bytes, an empty dict 72)
    lame: Lru[bytes, float] | None = None
    spoof_suspect: int = 0


class Infra:
    def __init__(self, max_servers: int = 10000) -> None:
        self.max_servers = max_servers
        self._servers: Lru[Server, ServerInfo] = Lru(max_servers)
        # up to 50 ms of jitter per choice, from a table drawn once from secrets
        self._jitter = [b / 255 * 0.05 for b in secrets.token_bytes(256)]
        self._turn = 0

    def info(self, server: Server) -> ServerInfo:
        info = self._servers.use(server)
        if info is None:
            info = self._servers.put(server, ServerInfo())
        return info

    def timeout(self, server: Server) -> float:
        """RFC 6298-style retransmission timeout, doubled per consecutive timeout."""
        info = self.info(server)
        rto = info.srtt + 4 * info.rttvar
        rto *= float(2 ** min(info.timeouts, 3))
        return float(max(MIN_TIMEOUT, min(MAX_TIMEOUT, rto)))

    def rtt_ok(self, server: Server, rtt: float) -> None:
        info = self.info(server)
        if info.samples == 0:
            info.srtt, info.rttvar = rtt, rtt / 2
        else:
            info.rttvar = 0.75 * info.rttvar + 0.25 * abs(info.srtt - rtt)
            info.srtt = 0.875 * info.srtt + 0.125 * rtt
        info.samples += 1
        info.timeouts = 0
        info.down_until = 0.0

    def timed_out(self, server: Server, now: float) -> None:
        info = self.info(server)
        info.timeouts += 1
        info.srtt = min(MAX_TIMEOUT, max(info.srtt, INITIAL_RTT) * 1.5)
        if info.timeouts >= 3:
            info.down_until = now + min(BACKOFF_MAX, 2.0 ** info.timeouts)

    def mark_lame(self, server: Server, zone: bytes, now: float) -> None:
        info = self.info(server)
        if info.lame is None:
            info.lame = Lru(LAME_ZONES_MAX)
        info.lame[zone] = now + LAME_TTL

    def is_lame(self, server: Server, zone: bytes, now: float) -> bool:
        info = self._servers.get(server)
        if info is None or info.lame is None:
            return False
        until = info.lame.get(zone)
        return until is not None and until > now

    def is_down(self, server: Server, now: float) -> bool:
        info = self._servers.get(server)
        return info is not None and info.down_until > now

    def order(self, servers: list[Server], zone: bytes, now: float) -> list[Server]:
        """Servers to try, best first: not lame, not backed off, lowest smoothed RTT
        (with a little randomness so load spreads and new servers get probed)."""
        if len(servers) == 1:
            return servers
        jitters = self._jitter
        self._turn = (self._turn + 1) & 0xFF

        def score(server: Server) -> float:
            info = self._servers.get(server)
            srtt = info.srtt if info is not None else INITIAL_RTT
            jitter = jitters[(self._turn + hash(server)) & 0xFF]
            penalty = 0.0
            if self.is_lame(server, zone, now):
                penalty += 100.0
            if self.is_down(server, now):
                penalty += 50.0
            return srtt + jitter + penalty
        return sorted(servers, key=score)

    def forget(self, address: str | None = None) -> int:
        """Drop what is known about the servers at *address* (every port), or about
        every server when None: RTT, timeouts and backoff, EDNS, lameness. Returns
        how many server entries went."""
        if address is None:
            count = len(self._servers)
            self._servers.clear()
            return count
        wanted = _address_key(address)
        gone = [server for server in self._servers
                if _address_key(server[0]) == wanted]
        for server in gone:
            del self._servers[server]
        return len(gone)

    def __len__(self) -> int:
        return len(self._servers)


def _address_key(address: str) -> str:
    """One spelling of an IP address (``::1`` and ``0::1`` are one server)."""
    try:
        return ipaddress.ip_address(address).compressed
    except ValueError:
        return address
