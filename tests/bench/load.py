"""Load generators for the DNS benchmarks: dnsperf when installed, else a Python one.

Both send the queries of a ``NAME TYPE`` file (one per line, the dnsperf format) over
UDP with RD=1 and EDNS0 DO=1 (what ``dnsperf -D`` sends, byte for byte apart from the
ID), keep a fixed number of queries outstanding, stop after a bounded duration and
count the answers. Both run pinned to the load core (``taskset``) in a subprocess, so
the resolver under test keeps its own core.

The Python fallback is this module run as a program::

    python -m tests.bench.load --port 5300 --file queries.txt --duration 8 --window 200

It prints one JSON object (sent, completed, lost, seconds, rcodes). A Python client on
one core tops out at a few tens of thousands of queries/s, so with it the queries/s of
a fast server measure the client; CPU time per answer is still the server's own.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import json
import os
import re
import secrets
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

TYPES: dict[str, int] = {
    "A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "PTR": 12, "MX": 15, "TXT": 16, "AAAA": 28,
    "SRV": 33, "DNAME": 39, "DS": 43, "DNSKEY": 48, "TLSA": 52, "SMIMEA": 53,
    "OPENPGPKEY": 61, "CAA": 257,
}
RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}
EDNS_PAYLOAD = 4096          # what dnsperf -D advertises
FLAG_AD = 0x0020


# ---------------------------------------------------------------------------- wire
def encode_name(name: str) -> bytes:
    out = bytearray()
    for label in name.rstrip(".").split("."):
        if label:
            raw = label.encode("ascii")
            if len(raw) > 63:
                raise ValueError(f"label too long in {name!r}")
            out += bytes((len(raw),)) + raw
    return bytes(out) + b"\x00"


def encode_query(name: str, qtype: str | int, qid: int = 0, *, dnssec_ok: bool = True) -> bytes:
    """A query as ``dnsperf -D`` builds it: RD=1, one question, EDNS0 (4096, DO)."""
    code = qtype if isinstance(qtype, int) else TYPES[qtype.upper()]
    opt = b"\x00" + struct.pack("!HHBBHH", 41, EDNS_PAYLOAD, 0, 0,
                                0x8000 if dnssec_ok else 0, 0)
    return (struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 1) + encode_name(name)
            + struct.pack("!HH", code, 1) + opt)


def ask(port: int, name: str, qtype: str | int, *, timeout: float = 2.0,
        host: str = "127.0.0.1") -> bytes | None:
    """One query (as dnsperf -D sends it) and its reply, or None on timeout."""
    qid = secrets.randbelow(65536)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.connect((host, port))
        sock.send(encode_query(name, qtype, qid))
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            sock.settimeout(left)
            try:
                reply = sock.recv(65535)
            except (TimeoutError, ConnectionRefusedError):
                return None
            if len(reply) >= 12 and reply[0:2] == struct.pack("!H", qid):
                return reply
    return None


def summary(reply: bytes) -> tuple[str, bool, int]:
    """(rcode name, AD flag, answer count) of a reply."""
    rcode = reply[3] & 0x0F
    return (RCODES.get(rcode, str(rcode)), bool(reply[3] & FLAG_AD),
            struct.unpack_from("!H", reply, 6)[0])


def _skip_name(msg: bytes, pos: int) -> int:
    while True:
        length = msg[pos]
        if length & 0xC0 == 0xC0:
            return pos + 2
        if length == 0:
            return pos + 1
        pos += length + 1


def extended_errors(reply: bytes) -> list[str]:
    """The EDE options (RFC 8914) of a reply as "EDE n: text" ([] if none or unparsable)."""
    try:
        qd, an, ns, ar = struct.unpack_from("!HHHH", reply, 4)
        pos = 12
        for _ in range(qd):
            pos = _skip_name(reply, pos) + 4
        out = []
        for i in range(an + ns + ar):
            pos = _skip_name(reply, pos)
            rtype, _, _, rdlen = struct.unpack_from("!HHIH", reply, pos)
            pos += 10
            if rtype == 41 and i >= an + ns:
                opt, end = pos, pos + rdlen
                while opt + 4 <= end:
                    code, size = struct.unpack_from("!HH", reply, opt)
                    if code == 15 and size >= 2:
                        info = struct.unpack_from("!H", reply, opt + 4)[0]
                        text = reply[opt + 6:opt + 4 + size].decode("utf-8", "replace")
                        out.append(f"EDE {info}: {text}" if text else f"EDE {info}")
                    opt += 4 + size
            pos += rdlen
        return out
    except (IndexError, struct.error):
        return []


def read_query_file(path: Path) -> list[tuple[str, str]]:
    out = []
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) >= 2 and not line.startswith("#"):
            out.append((parts[0], parts[1]))
    return out


def die_with_parent() -> None:
    """preexec_fn: SIGKILL this child when the benchmark process dies (Linux only)."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


# ---------------------------------------------------------------------------- results
@dataclass(slots=True)
class LoadResult:
    tool: str
    sent: int
    completed: int
    lost: int
    seconds: float
    qps: float
    rcodes: str
    command: str


def dnsperf_path() -> str | None:
    return shutil.which("dnsperf")


def dnsperf_version() -> str:
    exe = dnsperf_path()
    if exe is None:
        return "dnsperf (absent)"
    out = subprocess.run([exe, "-h"], capture_output=True, text=True, timeout=10)
    match = re.search(r"Version\s+(\S+)", out.stdout + out.stderr)
    return f"dnsperf {match.group(1)}" if match else "dnsperf"


def _number(pattern: str, text: str) -> float:
    match = re.search(pattern, text)
    if match is None:
        raise ValueError(f"dnsperf output lacks {pattern!r}")
    return float(match.group(1))


def parse_dnsperf(text: str, command: str) -> LoadResult:
    """The figures of one dnsperf run from its statistics block."""
    sent = int(_number(r"Queries sent:\s+(\d+)", text))
    completed = int(_number(r"Queries completed:\s+(\d+)", text))
    lost = int(_number(r"Queries lost:\s+(\d+)", text))
    seconds = _number(r"Run time \(s\):\s+([\d.]+)", text)
    qps = _number(r"Queries per second:\s+([\d.]+)", text)
    match = re.search(r"Response codes:\s+(.*)", text)
    return LoadResult("dnsperf", sent, completed, lost, seconds, qps,
                      match.group(1).strip() if match else "", command)


def run_dnsperf(port: int, query_file: Path, seconds: float, *, pin: list[str],
                outstanding: int, clients: int = 4, once: bool = False,
                timeout: float = 5.0, host: str = "127.0.0.1") -> LoadResult:
    exe = dnsperf_path()
    if exe is None:
        raise RuntimeError("dnsperf is not installed")
    argv = [*pin, exe, "-s", host, "-p", str(port), "-d", str(query_file),
            "-l", f"{seconds:g}", "-c", str(clients), "-q", str(outstanding),
            "-t", f"{timeout:g}", "-D"]
    if once:
        argv += ["-n", "1"]
    done = subprocess.run(argv, capture_output=True, text=True, preexec_fn=die_with_parent,
                          timeout=seconds + timeout + 30, check=False)
    command = " ".join(argv[argv.index(exe):]).replace(exe, "dnsperf", 1)
    try:
        return parse_dnsperf(done.stdout, command)
    except ValueError as exc:
        raise RuntimeError(f"dnsperf failed (exit {done.returncode}): "
                           f"{(done.stderr or done.stdout)[-400:]}") from exc


def run_python_load(port: int, query_file: Path, seconds: float, *, pin: list[str],
                    outstanding: int, once: bool = False, timeout: float = 5.0,
                    host: str = "127.0.0.1", cwd: Path | None = None) -> LoadResult:
    """This module's generator in a pinned subprocess (bounded by *seconds*)."""
    argv = [*pin, sys.executable, "-m", "tests.bench.load", "--host", host,
            "--port", str(port), "--file", str(query_file), "--duration", f"{seconds:g}",
            "--window", str(outstanding), "--timeout", f"{timeout:g}"]
    if once:
        argv.append("--once")
    done = subprocess.run(argv, capture_output=True, text=True, cwd=cwd,
                          preexec_fn=die_with_parent, timeout=seconds + timeout + 30,
                          check=False)
    try:
        data = json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError) as exc:
        raise RuntimeError(f"python load generator failed (exit {done.returncode}): "
                           f"{done.stderr[-400:]}") from exc
    rcodes = " ".join(f"{k} {v}" for k, v in sorted(data["rcodes"].items()))
    command = "python -m tests.bench.load " + " ".join(argv[argv.index("--host"):])
    return LoadResult(f"python load generator ({data['loop']})", data["sent"],
                      data["completed"], data["lost"], data["seconds"],
                      data["completed"] / data["seconds"] if data["seconds"] else 0.0,
                      rcodes, command)


def run_load(port: int, query_file: Path, seconds: float, *, pin: list[str],
             outstanding: int, once: bool = False, timeout: float = 5.0,
             cwd: Path | None = None) -> LoadResult:
    """dnsperf if installed (and DNS_BENCH_LOADGEN is not "python"), else the Python
    generator. *timeout*: seconds before a query counts as lost (dnsperf waits that
    long for the last ones after the time limit)."""
    if dnsperf_path() is not None and os.environ.get("DNS_BENCH_LOADGEN") != "python":
        return run_dnsperf(port, query_file, seconds, pin=pin, outstanding=outstanding,
                           once=once, timeout=timeout)
    return run_python_load(port, query_file, seconds, pin=pin, outstanding=outstanding,
                           once=once, timeout=timeout, cwd=cwd)


# ---------------------------------------------------------------------------- generator
class _Client(asyncio.DatagramProtocol):
    """Keeps *window* queries outstanding; every answer (or timeout) sends the next."""

    def __init__(self, queries: list[bytes], window: int, timeout: float, once: bool,
                 deadline: float) -> None:
        self.queries = queries
        self.window = window
        self.timeout = timeout
        self.once = once
        self.deadline = deadline
        self.transport: asyncio.DatagramTransport | None = None
        self.outstanding: dict[int, float] = {}
        self.next_query = 0
        self.next_id = 0
        self.sent = 0
        self.completed = 0
        self.lost = 0
        self.rcodes: dict[str, int] = {}
        self.exhausted = False
        self.last_answer = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def send_one(self, now: float) -> bool:
        if self.transport is None or now >= self.deadline:
            return False
        if self.next_query >= len(self.queries):
            if self.once:
                self.exhausted = True
                return False
            self.next_query = 0
        qid = self.next_id
        for _ in range(65536):
            if qid not in self.outstanding:
                break
            qid = (qid + 1) & 0xFFFF
        else:
            return False
        self.next_id = (qid + 1) & 0xFFFF
        self.outstanding[qid] = now
        body = self.queries[self.next_query]
        self.next_query += 1
        self.transport.sendto(struct.pack("!H", qid) + body)
        self.sent += 1
        return True

    def fill(self) -> None:
        now = time.monotonic()
        while len(self.outstanding) < self.window and self.send_one(now):
            pass

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        if len(data) < 12:
            return
        qid = (data[0] << 8) | data[1]
        if self.outstanding.pop(qid, None) is None:
            return
        self.completed += 1
        name = RCODES.get(data[3] & 0x0F, str(data[3] & 0x0F))
        self.rcodes[name] = self.rcodes.get(name, 0) + 1
        self.last_answer = time.monotonic()
        self.send_one(self.last_answer)

    def expire(self) -> None:
        now = time.monotonic()
        old = [qid for qid, sent in self.outstanding.items() if now - sent > self.timeout]
        for qid in old:
            del self.outstanding[qid]
        self.lost += len(old)
        self.fill()

    def error_received(self, exc: Exception) -> None:  # pragma: no cover - ICMP noise
        pass


async def generate(host: str, port: int, queries: list[bytes], duration: float, window: int,
                   timeout: float, once: bool) -> dict[str, object]:
    loop = asyncio.get_running_loop()
    start = time.monotonic()
    client = _Client(queries, window, timeout, once, start + duration)
    transport, _ = await loop.create_datagram_endpoint(lambda: client,
                                                       remote_addr=(host, port))
    sock = transport.get_extra_info("socket")
    if sock is not None:   # room for a whole window of replies
        for option in (socket.SO_RCVBUF, socket.SO_SNDBUF):
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, option, 4 << 20)
    try:
        client.fill()
        while time.monotonic() < client.deadline and not (client.exhausted
                                                          and not client.outstanding):
            await asyncio.sleep(0.05)
            client.expire()
        drain_until = time.monotonic() + min(timeout, 1.0)
        while client.outstanding and time.monotonic() < drain_until:  # noqa: ASYNC110
            await asyncio.sleep(0.02)   # polls counters the UDP protocol updates per packet
    finally:
        transport.close()
    end = max(client.last_answer, min(time.monotonic(), client.deadline))
    client.lost += len(client.outstanding)
    return {"sent": client.sent, "completed": client.completed, "lost": client.lost,
            "seconds": round(end - start, 6), "rcodes": client.rcodes}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="bounded UDP DNS load generator (dnsperf-like)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--file", type=Path, required=True, help="NAME TYPE per line")
    p.add_argument("--duration", type=float, default=8.0, help="seconds (at most 120)")
    p.add_argument("--window", type=int, default=200, help="queries outstanding")
    p.add_argument("--timeout", type=float, default=5.0, help="seconds before a query is lost")
    p.add_argument("--once", action="store_true", help="send each query at most once")
    args = p.parse_args(argv)
    if not args.host.startswith("127."):
        p.error("only loopback (127.0.0.0/8) targets are allowed")
    queries = [encode_query(n, t)[2:] for n, t in read_query_file(args.file)]
    if not queries:
        p.error(f"{args.file}: no queries")
    runner: Callable[[Coroutine[Any, Any, dict[str, object]]], dict[str, object]]
    try:
        import uvloop
        loop_name = "uvloop"
        runner = uvloop.run
    except ImportError:  # pragma: no cover - optional
        loop_name = "asyncio"
        runner = asyncio.run
    result = runner(generate(args.host, args.port, queries, min(args.duration, 120.0),
                             min(max(1, args.window), 60000), args.timeout,
                             args.once))
    result["loop"] = loop_name
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
