"""A milter client that talks to a filter the way Postfix's smtpd/cleanup do.

Blocking sockets, for tests: option negotiation (version 6, all actions, all protocol
steps offered), then per message the macros and commands Postfix sends (connect,
helo, envfrom, envrcpt, data unless negotiated away, one header packet per field with
folded lines LF-terminated, end of header, body chunks of at most 65535 octets, end
of message), collecting the modifications and the final answer.
"""

from __future__ import annotations

import contextlib
import socket
import struct
from dataclasses import dataclass, field

from resolver.mail.dkim_canon import split_message

OFFER_ACTIONS = 0x1FF
OFFER_PROTOCOL = 0x1FFFFF
FINAL = {b"a", b"c", b"r", b"t", b"y", b"d"}


@dataclass
class Result:
    """*final* is the last response (c, a, r, t, y), *reply* the text of ``y``;
    *changes* the modifications before it: (command, data)."""

    final: bytes
    reply: str = ""
    changes: list[tuple[bytes, bytes]] = field(default_factory=list)
    stopped_at: bytes = b""

    def inserted(self) -> list[tuple[int, str, str]]:
        out = []
        for cmd, data in self.changes:
            if cmd == b"i":
                (index,) = struct.unpack("!I", data[:4])
                name, value = data[4:].split(b"\0")[:2]
                out.append((index, name.decode(), value.decode()))
        return out

    def header(self, name: str = "Authentication-Results") -> str:
        found = [v for _, n, v in self.inserted() if n.lower() == name.lower()]
        assert len(found) == 1, self.changes
        return found[0]

    def deleted(self) -> list[tuple[int, str]]:
        out = []
        for cmd, data in self.changes:
            if cmd == b"m":
                (index,) = struct.unpack("!I", data[:4])
                name, value = data[4:].split(b"\0")[:2]
                if not value:
                    out.append((index, name.decode()))
        return out


class MilterClient:
    def __init__(self, host: str, port: int, timeout: float = 30.0) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        # as Postfix, which writes each command whole: no Nagle delay on small packets
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.protocol = 0
        self.actions = 0

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.send(b"Q")
        self.sock.close()

    def __enter__(self) -> MilterClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(self, cmd: bytes, data: bytes = b"") -> None:
        self.sock.sendall(struct.pack("!I", len(data) + 1) + cmd + data)

    def _read(self, n: int) -> bytes:
        buf = b""
        while len(buf) < n:
            got = self.sock.recv(n - len(buf))
            if not got:
                raise ConnectionError("filter closed the connection")
            buf += got
        return buf

    def recv(self) -> tuple[bytes, bytes]:
        (length,) = struct.unpack("!I", self._read(4))
        body = self._read(length)
        return body[:1], body[1:]

    def negotiate(self, actions: int = OFFER_ACTIONS, protocol: int = OFFER_PROTOCOL) -> None:
        self.send(b"O", struct.pack("!III", 6, actions, protocol))
        cmd, data = self.recv()
        assert cmd == b"O", cmd
        version, self.actions, self.protocol = struct.unpack("!III", data[:12])
        assert version == 6
        assert self.actions & ~actions == 0 and self.protocol & ~protocol == 0

    def command(self, cmd: bytes, data: bytes = b"") -> Result:
        self.send(cmd, data)
        changes: list[tuple[bytes, bytes]] = []
        while True:
            rcmd, rdata = self.recv()
            if rcmd in FINAL:
                reply = rdata.rstrip(b"\0").decode() if rcmd == b"y" else ""
                return Result(rcmd, reply, changes, cmd)
            changes.append((rcmd, rdata))

    def message(self, message: bytes, *, ip: str = "192.0.2.25",
                helo: str = "mx.sender.example", mailfrom: str = "alice@secure.example",
                rcpts: tuple[str, ...] = ("bob@example.org",),
                macros: dict[str, str] | None = None, chunk: int = 65535,
                connect: bool = True) -> Result:
        """One SMTP session with one message, as Postfix would filter it; with
        *connect* false, one more message in the SMTP session already open (no
        CONNECT, no HELO)."""
        if connect:
            family = b"6" if ":" in ip else b"4"
            self.send(b"D", b"C" + b"j\0mx.test.invalid\0{daemon_name}\0smtpd\0")
            res = self.command(b"C", b"client.example\0" + family + struct.pack("!H", 41000)
                               + ip.encode() + b"\0")
            if res.final != b"c":
                return res
            res = self.command(b"H", helo.encode() + b"\0")
            if res.final != b"c":
                return res
        mail_macros = b"".join(f"{{{k}}}\0{v}\0".encode() for k, v in (macros or {}).items())
        self.send(b"D", b"M" + b"i\0" + b"4ABC123\0" + mail_macros)
        res = self.command(b"M", f"<{mailfrom}>\0".encode() + b"BODY=8BITMIME\0")
        if res.final != b"c":
            return res
        for rcpt in rcpts:
            res = self.command(b"R", f"<{rcpt}>\0".encode())
            if res.final != b"c":
                return res
        if not self.protocol & 0x200:
            res = self.command(b"T")
            if res.final != b"c":
                return res
        fields, body = split_message(message)
        for f in fields:
            name = f.name
            value = f.raw[len(name) + 1:-2].replace(b"\r\n", b"\n")
            if not self.protocol & 0x100000:
                value = value.lstrip(b" \t")
            res = self.command(b"L", name + b"\0" + value + b"\0")
            if res.final != b"c":
                return res
        res = self.command(b"N")
        if res.final != b"c":
            return res
        for i in range(0, len(body), chunk):
            res = self.command(b"B", body[i:i + chunk])
            if res.final != b"c":
                return res
        return self.command(b"E")
