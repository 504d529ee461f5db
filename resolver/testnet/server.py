"""An asyncio authoritative server for tests, the demo and benchmarks.

One :class:`AuthServer` listens on one address (UDP and TCP, same port) and serves
the zones it is given with :func:`resolver.authority.lookup.lookup`. Faults from
:class:`Faults` can be switched on per server (zone key ``None``) or per zone.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import struct
from collections.abc import Iterable
from typing import cast

from ..authority.lookup import MAX_CHAIN, AuthAnswer, lookup
from ..authority.zone import Zone
from ..wire import message as wm
from ..wire.message import RR, FormError, Message
from ..wire.name import Name
from ..wire.types import AA, QR, TC, Opcode, Rcode, RRClass, RRType, rcode_to_text, type_to_text
from .faults import Faults

log = logging.getLogger(__name__)

UDP_LIMIT = 1232     # our own EDNS buffer size (DNS Flag Day 2020)
TCP_IDLE = 10.0


class AuthServer:
    def __init__(self, address: str, zones: Iterable[Zone], port: int = 0) -> None:
        self.address = address
        self.port = port
        self.zones: dict[bytes, Zone] = {z.origin.key: z for z in zones}
        self.faults: dict[bytes | None, Faults] = {}
        self.queries: list[tuple[Name, int, str]] = []   # (qname, qtype, transport) seen
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.base_events.Server | None = None
        self._spoof_sock: socket.socket | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    # --- configuration --------------------------------------------------------
    def add_zone(self, zone: Zone) -> None:
        self.zones[zone.origin.key] = zone

    def set_faults(self, zone: Name | None = None, **kwargs: object) -> Faults:
        """Switch faults on for the whole server (zone None) or one zone."""
        faults = Faults(**kwargs)  # type: ignore[arg-type]
        self.faults[zone.key if zone is not None else None] = faults
        return faults

    def clear_faults(self) -> None:
        self.faults.clear()

    # --- life cycle -----------------------------------------------------------
    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        family = socket.AF_INET6 if ":" in self.address else socket.AF_INET
        udp, _ = await loop.create_datagram_endpoint(
            lambda: _UdpProtocol(self), local_addr=(self.address, self.port), family=family)
        self._udp = udp
        sockname = udp.get_extra_info("sockname")
        self.port = sockname[1]
        self._tcp = await asyncio.start_server(self._serve_tcp, self.address, self.port,
                                               family=family, reuse_address=True)

    async def stop(self) -> None:
        if self._udp is not None:
            self._udp.close()
            self._udp = None
        if self._tcp is not None:
            self._tcp.close()
            for task in list(self._tasks):
                task.cancel()
            await self._tcp.wait_closed()
            self._tcp = None
        if self._spoof_sock is not None:
            self._spoof_sock.close()
            self._spoof_sock = None

    # --- answering --------------------------------------------------------------
    def _zone_for(self, qname: Name, qtype: int) -> Zone | None:
        best: Zone | None = None
        for zone in self.zones.values():
            if not qname.is_subdomain(zone.origin):
                continue
            if qtype == RRType.DS and zone.origin.key == qname.key and not qname.is_root():
                continue  # DS lives in the parent; answer from there if we serve it
            if best is None or len(zone.origin) > len(best.origin):
                best = zone
        if best is None and qtype == RRType.DS:
            best = self.zones.get(qname.key)
        return best

    def _faults_for(self, zone: Zone | None) -> Faults | None:
        if zone is not None and zone.origin.key in self.faults:
            return self.faults[zone.origin.key]
        return self.faults.get(None)

    def answer(self, wire: bytes, transport: str) -> tuple[bytes | None, Faults | None]:
        """Build the reply to one query: (reply bytes or None to drop, faults in force)."""
        try:
            query = wm.parse(wire)
        except FormError:
            return _formerr(wire), None
        if query.flags & QR:
            return None, None
        if query.opcode != Opcode.QUERY:
            return _header_only(query, Rcode.NOTIMP), None
        if len(query.question) != 1:
            return _header_only(query, Rcode.FORMERR), None
        q = query.question[0]
        self.queries.append((q.name, q.qtype, transport))
        zone = self._zone_for(q.name, q.qtype)
        faults = self._faults_for(zone)
        if faults is not None and faults.formerr_edns and query.edns is not None:
            return _header_only(query, Rcode.FORMERR, edns=False), faults
        if query.edns is not None and query.edns.version != 0:
            reply = wm.make_response(query, Rcode.BADVERS)
            return reply.to_wire(), faults
        reply = wm.make_response(query)
        refusal = _refusal(zone, q, transport)
        if refusal is not None:
            rcode, ede = refusal
            reply.set_rcode(rcode)
            if reply.edns is not None and ede is not None:
                reply.edns.options.append(wm.ede_option(ede))
            log.info("%s %s %s %s", self.address, q.name, type_to_text(q.qtype),
                     rcode_to_text(rcode))
            return reply.to_wire(), faults
        assert zone is not None
        result = self._lookup(zone, q.name, q.qtype, query.do)
        _fill(reply, result)
        if q.qclass == RRClass.ANY:
            reply.set_flag(AA, False)  # as NSD: not authoritative for every class
        if faults is not None:
            _apply_content_faults(reply, faults, query)
        limit = None
        if transport == "udp":
            payload = query.edns.payload if query.edns is not None else 512
            limit = max(512, min(payload, UDP_LIMIT))
        out = reply.to_wire(limit)
        if transport == "udp" and faults is not None and faults.always_tc:
            stripped = Message(reply.id, reply.flags | TC, reply.question, edns=reply.edns)
            out = stripped.to_wire()
        log.info("%s %s %s %s %s", self.address, q.name, type_to_text(q.qtype),
                 rcode_to_text(result.rcode), transport)
        return out, faults

    def _lookup(self, zone: Zone, qname: Name, qtype: int, dnssec: bool) -> AuthAnswer:
        """lookup() in *zone*, then, as NSD does, follow a CNAME (also one synthesized
        from a DNAME) that leaves the zone into another zone this server serves: the
        answer records are appended; rcode, authority and additional come from there."""
        result = lookup(zone, qname, qtype, dnssec=dnssec)
        if qtype in (RRType.CNAME, RRType.ANY):
            return result
        seen = {qname.key}
        for _ in range(MAX_CHAIN):
            target = _dangling_cname(result, qname, qtype)
            if target is None or target.key in seen:
                break
            seen.add(target.key)
            nxt_zone = self._zone_for(target, qtype)
            if nxt_zone is None or nxt_zone is zone:
                break  # not ours, or below a cut of the same zone (lookup already said so)
            nxt = lookup(nxt_zone, target, qtype, dnssec=dnssec)
            extra = [rr for rr in nxt.additional if rr not in result.additional]
            result = AuthAnswer(nxt.rcode, result.aa, result.answer + nxt.answer,
                                nxt.authority, result.additional + extra)
            zone = nxt_zone
        return result

    def _finish(self, out: bytes, faults: Faults | None) -> bytes | None:
        if faults is None:
            return out
        if faults.timeout:
            return None
        if faults.garbage:
            return os.urandom(max(12, len(out)))
        if faults.truncated:
            return out[:max(12, len(out) // 2)]
        if faults.wrong_id:
            new_id = (struct.unpack_from("!H", out)[0] + 1 + secrets.randbelow(0xFFFE)) & 0xFFFF
            return struct.pack("!H", new_id) + out[2:]
        return out

    def spoof_socket(self) -> socket.socket:
        if self._spoof_sock is None:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind(("127.0.0.254", 0))
            sock.setblocking(False)
            self._spoof_sock = sock
        return self._spoof_sock

    async def _serve_tcp(self, reader: asyncio.StreamReader,
                         writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            while True:
                try:
                    head = await asyncio.wait_for(reader.readexactly(2), TCP_IDLE)
                    length = struct.unpack("!H", head)[0]
                    wire = await asyncio.wait_for(reader.readexactly(length), TCP_IDLE)
                except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
                    break
                out, faults = self.answer(wire, "tcp")
                if faults is not None and faults.slow:
                    await asyncio.sleep(faults.slow)
                final = self._finish(out, faults) if out is not None else None
                if final is None:
                    continue
                writer.write(struct.pack("!H", len(final)) + final)
                await writer.drain()
        except asyncio.CancelledError:
            pass
        finally:
            if task is not None:
                self._tasks.discard(task)
            writer.close()


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, server: AuthServer) -> None:
        self.server = server
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        out, faults = self.server.answer(data, "udp")
        if out is None:
            return
        if faults is not None and faults.slow:
            loop = asyncio.get_running_loop()
            loop.call_later(faults.slow, self._send, out, faults, addr)
        else:
            self._send(out, faults, addr)

    def _send(self, out: bytes, faults: Faults | None, addr: tuple[str | object, ...]) -> None:
        final = self.server._finish(out, faults)
        if final is None or self.transport is None:
            return
        if faults is not None and faults.other_source:
            try:
                self.server.spoof_socket().sendto(final, addr)
            except OSError:
                log.debug("spoofed send failed", exc_info=True)
            return
        self.transport.sendto(final, addr)


# Extended DNS Errors (RFC 8914 s4) NSD adds to its refusals
EDE_PROHIBITED, EDE_NOT_AUTHORITATIVE, EDE_NOT_SUPPORTED = 18, 20, 21


def _refusal(zone: Zone | None, q: wm.Question,
             transport: str) -> tuple[int, int | None] | None:
    """(rcode, EDE code) for a question this server does not answer from its zones, as
    NSD: REFUSED for names outside its zones and for classes other than IN (and ANY);
    no zone transfers (NOTIMP for AXFR over UDP, else REFUSED)."""
    if q.qclass not in (RRClass.IN, RRClass.ANY):
        return Rcode.REFUSED, EDE_NOT_SUPPORTED
    if zone is None:
        return Rcode.REFUSED, EDE_NOT_AUTHORITATIVE
    if q.qtype == RRType.AXFR and transport == "udp":
        return Rcode.NOTIMP, None
    if q.qtype in (RRType.AXFR, RRType.IXFR):
        return Rcode.REFUSED, EDE_PROHIBITED
    return None


def _dangling_cname(result: AuthAnswer, qname: Name, qtype: int) -> Name | None:
    """The end of the CNAME chain in a NOERROR answer when the answer has no data for
    it (the chain left the zone), else None."""
    if result.rcode != Rcode.NOERROR or not result.answer:
        return None
    cnames = {rr.name.key: Name(rr.rdata) for rr in result.answer if rr.rtype == RRType.CNAME}
    name = qname
    for _ in range(len(cnames)):
        nxt = cnames.get(name.key)
        if nxt is None:
            break
        name = nxt
    if name.key == qname.key:
        return None
    if any(rr.name.key == name.key and rr.rtype == qtype for rr in result.answer):
        return None
    return name


def _fill(reply: Message, result: AuthAnswer) -> None:
    reply.set_rcode(result.rcode)
    reply.set_flag(AA, result.aa)
    reply.answer = list(result.answer)
    reply.authority = list(result.authority)
    reply.additional = list(result.additional)


_NSEC_TYPES = (RRType.NSEC, RRType.NSEC3)


def _apply_content_faults(reply: Message, faults: Faults, query: Message) -> None:
    if faults.servfail:
        reply.set_rcode(Rcode.SERVFAIL)
        reply.set_flag(AA, False)
        reply.answer, reply.authority, reply.additional = [], [], []
        return
    if faults.refused:
        reply.set_rcode(Rcode.REFUSED)
        reply.set_flag(AA, False)
        reply.answer, reply.authority, reply.additional = [], [], []
        return
    if faults.strip_rrsig:
        reply.answer = [rr for rr in reply.answer if rr.rtype != RRType.RRSIG]
        reply.authority = [rr for rr in reply.authority if rr.rtype != RRType.RRSIG]
        reply.additional = [rr for rr in reply.additional if rr.rtype != RRType.RRSIG]
    if faults.strip_nsec:
        reply.authority = [rr for rr in reply.authority if not _is_nsec_or_sig(rr)]
    if faults.corrupt_rrsig:   # new records: the zone's own are never touched
        reply.answer, reply.authority, reply.additional = (
            [_corrupted(rr) for rr in section]
            for section in (reply.answer, reply.authority, reply.additional))
    if faults.wrong_question and reply.question:
        q = reply.question[0]
        reply.question = [wm.Question(q.name.prepend(b"wrong"), q.qtype, q.qclass)]
    reply.authority = reply.authority + list(faults.poison_authority)
    reply.additional = reply.additional + list(faults.poison_additional)
    if faults.rewrite is not None:
        faults.rewrite(query, reply)


def corrupt_signature(rdata: bytes) -> bytes:
    """RRSIG RDATA with the last bit of its signature flipped: well-formed, still
    naming the right key and algorithm, but no longer verifying (what a secondary
    with damaged or stale signatures serves)."""
    return rdata[:-1] + bytes((rdata[-1] ^ 1,)) if rdata else rdata


def _corrupted(rr: RR) -> RR:
    if rr.rtype != RRType.RRSIG:
        return rr
    return RR(rr.name, rr.rtype, rr.rclass, rr.ttl, corrupt_signature(rr.rdata))


def _is_nsec_or_sig(rr: RR) -> bool:
    if rr.rtype in _NSEC_TYPES:
        return True
    if rr.rtype == RRType.RRSIG and len(rr.rdata) >= 2:
        return ((rr.rdata[0] << 8) | rr.rdata[1]) in _NSEC_TYPES
    return False


def _header_only(query: Message, rcode: int, edns: bool = True) -> bytes:
    reply = wm.make_response(query, rcode)
    if not edns:
        reply.edns = None
        reply.set_rcode(rcode)
    return reply.to_wire()


def _formerr(wire: bytes) -> bytes | None:
    """FORMERR with the query's ID when at least the header is readable."""
    if len(wire) < 12 or wire[2] & 0x80:
        return None
    flags = QR | (struct.unpack_from("!H", wire, 2)[0] & 0x7900) | Rcode.FORMERR
    return struct.pack("!HHHHHH", struct.unpack_from("!H", wire)[0], flags, 0, 0, 0, 0)
