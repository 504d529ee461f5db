"""The infrastructure cache stays bounded: servers (least recently used dropped) and,
per server, the zones it is remembered lame for."""

from __future__ import annotations

from resolver.iterate.infra import LAME_ZONES_MAX, Infra


def test_servers_bounded_least_recently_used_dropped() -> None:
    infra = Infra(max_servers=3)
    for n in range(3):
        infra.rtt_ok((f"192.0.2.{n}", 53), 0.01)
    infra.timeout(("192.0.2.0", 53))                 # used again: 192.0.2.1 is the oldest
    infra.rtt_ok(("192.0.2.9", 53), 0.01)
    assert len(infra._servers) == 3
    assert ("192.0.2.1", 53) not in infra._servers
    assert ("192.0.2.0", 53) in infra._servers


def test_lame_zones_per_server_bounded() -> None:
    infra = Infra()
    server = ("192.0.2.53", 53)
    for n in range(LAME_ZONES_MAX + 50):
        infra.mark_lame(server, n.to_bytes(2, "big"), 0.0)      # zone keys, as bytes
    lame = infra.info(server).lame
    assert lame is not None and len(lame) == LAME_ZONES_MAX
    assert infra.info(("192.0.2.54", 53)).lame is None      # made at the first mark only
    newest, oldest = LAME_ZONES_MAX + 49, 0
    assert infra.is_lame(server, newest.to_bytes(2, "big"), 1.0)
    assert not infra.is_lame(server, oldest.to_bytes(2, "big"), 1.0)   # went first
