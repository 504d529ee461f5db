"""UDP in batches: recvmmsg(2) reads many datagrams per system call, sendmmsg(2) sends
the replies of a whole batch in one (Linux, through ctypes).

On loopback most of a cache hit's cost is the kernel's: a system call to read the
query, one to send the reply, and the wake-up of the client for every reply. Under
load several queries wait in the socket each time the event loop looks at it, so one
``recvmmsg`` takes up to :data:`BATCH` of them and one ``sendmmsg`` answers every one
the cache could answer on the spot. A quiet server reads one datagram per call, as
before.

:class:`BatchUdp` has the two methods of an asyncio datagram transport the listener
uses (``sendto`` and ``is_closing``), so the listener's per-datagram handler is the
same for both kinds of socket. The handler returns the reply it has at once (a cache
hit), which goes into the batch, to the address of its datagram; a reply sent later (a
query that had to be resolved) is a plain ``sendto`` on the socket. A reply the kernel
cannot take now (send buffer full) is dropped and counted, as a lost UDP datagram would
be: the client asks again.

The buffers are fixed, allocated once per socket (about 300 KiB), and every length is
taken from the kernel: a datagram longer than :data:`SLOT` arrives with MSG_TRUNC and
is dropped (no DNS query is that long). :func:`available` says whether this platform
has the calls; elsewhere (or with ``udp-batch = false``) the listener uses the event
loop's own datagram transport.
"""

from __future__ import annotations

import asyncio
import ctypes
import errno
import logging
import socket
import struct
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from ..lru import Lru

log = logging.getLogger(__name__)

BATCH = 32              # datagrams per recvmmsg / replies per sendmmsg
SLOT = 4096             # bytes per received datagram and per batched reply
ROUNDS = 4              # full batches read per wake-up before other events get a turn
NAME = 28               # room for a sockaddr_in6
ADDRESSES = 4096        # sockaddr -> (host, port) conversions remembered (LRU)
_MSG_DONTWAIT = 0x40
_MSG_TRUNC = 0x20


class Sender(Protocol):
    """What the listener's datagram handler needs from its socket."""

    def sendto(self, data: bytes, addr: Any) -> None: ...

    def is_closing(self) -> bool: ...


class _IoVec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]


class _MsgHdr(ctypes.Structure):
    _fields_ = [("name", ctypes.c_void_p), ("namelen", ctypes.c_uint32),
                ("iov", ctypes.c_void_p), ("iovlen", ctypes.c_size_t),
                ("control", ctypes.c_void_p), ("controllen", ctypes.c_size_t),
                ("flags", ctypes.c_int)]


class _MMsgHdr(ctypes.Structure):
    _fields_ = [("hdr", _MsgHdr), ("len", ctypes.c_uint)]


_HDR = ctypes.sizeof(_MMsgHdr)
_IOV = ctypes.sizeof(_IoVec)
_NAMELEN = _MsgHdr.namelen.offset
_FLAGS = _MsgHdr.flags.offset
_LEN = _MMsgHdr.len.offset
# namelen, flags and length of one received message, read with one unpack
_RESULT = struct.Struct(f"=I{_FLAGS - _NAMELEN - 4}xi{_LEN - _FLAGS - 4}xI")
_NAME_PTR = struct.Struct("@PI")          # msg_name, msg_namelen of a reply
_IOV_LEN = struct.Struct("@N")
_IOV_LEN_AT = _IoVec.len.offset


def _libc() -> tuple[Any, Any] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        recv, send = libc.recvmmsg, libc.sendmmsg
    except (OSError, AttributeError):
        return None
    recv.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_uint, ctypes.c_int,
                     ctypes.c_void_p]
    recv.restype = ctypes.c_int
    send.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_uint, ctypes.c_int]
    send.restype = ctypes.c_int
    return recv, send


_CALLS = _libc()


def available() -> bool:
    """True where recvmmsg and sendmmsg can be called (Linux with a C library that has
    them)."""
    return _CALLS is not None


class BatchCounts(Protocol):
    """Where a listener counts (the server's own counters, shown by /metrics)."""

    udp_batches: int
    udp_batched: int
    udp_oversize: int
    udp_send_dropped: int


@dataclass(slots=True)
class BatchStats:
    udp_batches: int = 0        # recvmmsg calls that returned datagrams
    udp_batched: int = 0        # the datagrams they returned
    udp_oversize: int = 0       # longer than SLOT: dropped
    udp_send_dropped: int = 0   # replies the kernel did not take (buffer full, error)


def sockaddr_tuple(raw: bytes) -> tuple[Any, ...]:
    """A socket address as the kernel wrote it -> the tuple Python's socket module uses:
    (host, port) for IPv4, (host, port, flowinfo, scope_id) for IPv6."""
    family = struct.unpack_from("=H", raw)[0]
    port = int.from_bytes(raw[2:4], "big")
    if family == socket.AF_INET:
        return socket.inet_ntop(socket.AF_INET, raw[4:8]), port
    if family == socket.AF_INET6 and len(raw) >= 28:
        flow = int.from_bytes(raw[4:8], "big")
        scope = struct.unpack_from("=I", raw, 24)[0]
        return socket.inet_ntop(socket.AF_INET6, raw[8:24]), port, flow, scope
    raise ValueError(f"address family {family} not handled")


class BatchUdp:
    """A non-blocking UDP socket read and answered in batches from the event loop.
    *handler(data, addr, sender)* returns the reply to send now, or None."""

    def __init__(self, sock: socket.socket,
                 handler: Callable[[bytes, Any, Sender], bytes | None],
                 stats: BatchCounts | None = None) -> None:
        if _CALLS is None:
            raise OSError(errno.ENOSYS, "recvmmsg/sendmmsg not available")
        self._recv, self._send = _CALLS
        sock.setblocking(False)
        self.sock = sock
        self.stats: BatchCounts = stats if stats is not None else BatchStats()
        self._fd = sock.fileno()
        self._handler = handler
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None
        # receive side: BATCH slots of SLOT bytes, their names, iovecs and headers
        self._rbuf = ctypes.create_string_buffer(BATCH * SLOT)
        self._rname = ctypes.create_string_buffer(BATCH * NAME)
        self._riov = ctypes.create_string_buffer(BATCH * _IOV)
        self._rhdr = ctypes.create_string_buffer(BATCH * _HDR)
        # send side: BATCH slots; each header's name points at a receive name slot
        self._sbuf = ctypes.create_string_buffer(BATCH * SLOT)
        self._siov = ctypes.create_string_buffer(BATCH * _IOV)
        self._shdr = ctypes.create_string_buffer(BATCH * _HDR)
        rname = ctypes.addressof(self._rname)
        for i in range(BATCH):
            struct.pack_into("@PN", self._riov, i * _IOV,
                             ctypes.addressof(self._rbuf) + i * SLOT, SLOT)
            struct.pack_into("@PI", self._rhdr, i * _HDR, rname + i * NAME, NAME)
            struct.pack_into("@PN", self._rhdr, i * _HDR + _MsgHdr.iov.offset,
                             ctypes.addressof(self._riov) + i * _IOV, 1)
            struct.pack_into("@PN", self._siov, i * _IOV,
                             ctypes.addressof(self._sbuf) + i * SLOT, 0)
            struct.pack_into("@PN", self._shdr, i * _HDR + _MsgHdr.iov.offset,
                             ctypes.addressof(self._siov) + i * _IOV, 1)
        # the kernel rewrites msg_namelen: restored from this copy before each read
        self._template = memoryview(bytes(self._rhdr.raw))
        self._rview = memoryview(self._rbuf).cast("B")
        self._nview = memoryview(self._rname).cast("B")
        self._hview = memoryview(self._rhdr).cast("B")
        self._sview = memoryview(self._sbuf).cast("B")
        self._siview = memoryview(self._siov).cast("B")
        self._shview = memoryview(self._shdr).cast("B")
        self._rname_at = rname
        self._rhdr_at = ctypes.addressof(self._rhdr)
        self._shdr_at = ctypes.addressof(self._shdr)
        self._names: Lru[bytes, tuple[Any, ...]] = Lru(ADDRESSES)
        self._used = BATCH          # headers whose namelen the last read may have changed

    # -------------------------------------------------------------- transport API
    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        loop.add_reader(self._fd, self._readable)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._loop is not None:
            self._loop.remove_reader(self._fd)
        self.sock.close()

    def is_closing(self) -> bool:
        return self._closed

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name == "sockname":
            return self.sock.getsockname()
        if name == "socket":
            return self.sock
        return default

    def sendto(self, data: bytes, addr: Any) -> None:
        """Send *data* to *addr* at once (a reply that was not ready in its batch)."""
        if self._closed:
            return
        try:
            self.sock.sendto(data, addr)
        except OSError as exc:      # BlockingIOError included: a lost datagram
            self.stats.udp_send_dropped += 1
            log.debug("UDP reply to %s not sent: %s", addr, exc)

    # -------------------------------------------------------------- the batch loop
    def _readable(self) -> None:
        hview, rview, nview = self._hview, self._rview, self._nview
        sview, siview, shview = self._sview, self._siview, self._shview
        known, remember, handler = self._names.get, self._names.put, self._handler
        unpack = _RESULT.unpack_from
        set_len, set_name = _IOV_LEN.pack_into, _NAME_PTR.pack_into
        rname = self._rname_at
        for _ in range(ROUNDS):
            if self._closed:
                return
            used = self._used * _HDR
            hview[:used] = self._template[:used]
            n = self._recv(self._fd, self._rhdr_at, BATCH, _MSG_DONTWAIT, None)
            if n <= 0:
                self._used = 0
                if n < 0:
                    err = ctypes.get_errno()
                    if err not in (errno.EAGAIN, errno.EINTR):
                        log.debug("recvmmsg: %s", errno.errorcode.get(err, err))
                return
            self._used = n
            self.stats.udp_batches += 1
            self.stats.udp_batched += n
            k = 0
            try:
                for i in range(n):
                    namelen, flags, length = unpack(hview, i * _HDR + _NAMELEN)
                    if flags & _MSG_TRUNC:
                        self.stats.udp_oversize += 1
                        continue
                    at = i * NAME
                    raw = nview[at:at + namelen].tobytes()
                    addr = known(raw)
                    if addr is None:
                        try:
                            addr = remember(raw, sockaddr_tuple(raw))
                        except ValueError:
                            continue
                    try:
                        reply = handler(rview[i * SLOT:i * SLOT + length].tobytes(), addr, self)
                    except Exception:   # one datagram never takes the listener down
                        log.exception("internal error handling a UDP datagram from %s",
                                      addr[0])
                        continue
                    if reply is None:
                        continue
                    size = len(reply)
                    if size > SLOT:
                        self.sendto(reply, addr)
                        continue
                    sview[k * SLOT:k * SLOT + size] = reply
                    set_len(siview, k * _IOV + _IOV_LEN_AT, size)
                    set_name(shview, k * _HDR, rname + at, namelen)
                    k += 1
            finally:
                if k:
                    self._flush(k)
            if n < BATCH:
                return

    def _flush(self, count: int) -> None:
        """Send the first *count* replies of the send batch."""
        base = self._shdr_at
        done = 0
        while done < count and not self._closed:
            sent = self._send(self._fd, base + done * _HDR, count - done, 0)
            if sent > 0:
                done += sent
                continue
            err = ctypes.get_errno()
            if sent < 0 and err == errno.EINTR:
                continue
            if sent == 0 or err in (errno.EAGAIN, errno.ENOBUFS):
                self.stats.udp_send_dropped += count - done     # the buffer is full now
                return
            self.stats.udp_send_dropped += 1                    # this one reply is refused
            log.debug("sendmmsg: %s", errno.errorcode.get(err, err))
            done += 1
