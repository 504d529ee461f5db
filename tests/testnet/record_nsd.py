"""Record what NSD answers for the interop hierarchy, as the reference for our test server.

Run ``.venv/bin/python tests/testnet/record_nsd.py`` (or ``-m tests.testnet.record_nsd``).
It serves the EXISTING signed zone files of ``tests/data/interop/zones`` with NSD (one
instance per address of ``zones.map``, 127.0.0.11-15, on a random non-53 port), asks
every query of ``cases.txt`` of the server a resolver would end up at (found by walking
referrals from the root server), plus the DS query at every delegation and one referral
query per delegation at the parent's server, each with DO=1 over UDP and over TCP, and
writes the answers to ``tests/data/interop/nsd-answers.json``. NSD is stopped afterwards
(by the process ids this script started, nothing else).

This file is also the helper module of the tests in this folder: the case reader, the
NSD runner and the message-to-JSON conversion live here. It imports only dnspython and
the standard library, never the project, so it stays an independent client.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import hashlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import dns.edns
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.query
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

HERE = Path(__file__).resolve().parent
INTEROP = HERE.parent / "data" / "interop"
ZONE_DIR = INTEROP / "zones"
ZONES_MAP = INTEROP / "zones.map"
CASES = INTEROP / "cases.txt"
ANSWERS = INTEROP / "nsd-answers.json"
PAYLOAD = 1232          # the EDNS buffer size every recorded query offers
TIMEOUT = 3.0

# A minimal NSD configuration: one server on the given loopback address and port,
# with its state in a temporary folder and nothing at a fixed place on disk.
NSD_CONF = """\
server:
    ip-address: {address}
    port: {port}
    do-ip4: yes
    do-ip6: no
    server-count: 1
    username: ""
    chroot: ""
    database: ""
    zonesdir: "{zonesdir}"
    zonelistfile: "{state}/zone.list"
    xfrdfile: "{state}/xfrd.state"
    xfrdir: "{state}"
    pidfile: "{state}/nsd.pid"
    logfile: "{state}/nsd.log"
    verbosity: 1
    hide-version: yes
    identity: "record-{address}"
    refuse-any: yes
    zonefiles-check: no
    zonefiles-write: 0
    rrl-ratelimit: 0
    rrl-whitelist-ratelimit: 0
remote-control:
    control-enable: no
"""


# --------------------------------------------------------------------------
# the interop data

@dataclass(frozen=True, slots=True)
class Case:
    """One line of cases.txt, with the {SMIME_*} owner labels filled in."""

    qname: str
    qtype: str
    expect: str
    data: str
    note: str

    @property
    def key(self) -> str:
        return f"{self.qname}/{self.qtype}"


def smimea_label(local_part: str) -> str:
    """RFC 8162 s3: hex(SHA-256(local part)) truncated to 28 octets."""
    return hashlib.sha256(local_part.encode("utf-8")).hexdigest()[:56]


def read_cases(path: Path = CASES) -> list[Case]:
    cases = []
    for line in path.read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = line.split(None, 4)
        qname = parts[0].replace("{SMIME_ALICE}", smimea_label("alice"))
        qname = qname.replace("{SMIME_BOB}", smimea_label("bob"))
        cases.append(Case(qname, parts[1], parts[2], parts[3], parts[4] if len(parts) > 4 else ""))
    return cases


def read_zone_map(path: Path = ZONES_MAP) -> list[tuple[str, str, str]]:
    """(zone, address, file) per line of zones.map."""
    out = []
    for line in path.read_text().splitlines():
        text = line.split("#", 1)[0].strip()
        if text:
            zone, address, filename = text.split()
            out.append((zone, address, filename))
    return out


def zone_of(qname: str, qtype: str = "A", zones: Iterable[str] | None = None) -> str:
    """The zone that answers (qname, qtype) authoritatively: the longest zone at or
    above the name; for DS at a zone apex, the parent's zone (RFC 4035 s3.1.4.1)."""
    names = [dns.name.from_text(z) for z in (zones or [z for z, _, _ in read_zone_map()])]
    name = dns.name.from_text(qname)
    best: dns.name.Name | None = None
    for zone in names:
        if not name.is_subdomain(zone):
            continue
        if qtype == "DS" and name == zone and zone != dns.name.root:
            continue
        if best is None or len(zone) > len(best):
            best = zone
    assert best is not None
    return best.to_text()


def server_of_zone(zone: str) -> str:
    for z, address, _ in read_zone_map():
        if dns.name.from_text(z) == dns.name.from_text(zone):
            return address
    raise KeyError(zone)


def delegations() -> list[tuple[str, str]]:
    """(child zone, parent zone) for every zone of the map except the root."""
    zones = [z for z, _, _ in read_zone_map()]
    out = []
    for zone in zones:
        name = dns.name.from_text(zone)
        if name == dns.name.root:
            continue
        out.append((zone, zone_of(name.parent().to_text(), "A", zones)))
    return out


# --------------------------------------------------------------------------
# asking

def make_query(qname: str, qtype: str, *, do: bool = True, payload: int = PAYLOAD,
               edns: bool = True, msg_id: int | None = None) -> dns.message.QueryMessage:
    """A non-recursive query as a resolver sends it to an authoritative server."""
    if edns:
        return dns.message.make_query(qname, qtype, use_edns=0, want_dnssec=do,
                                      payload=payload, flags=0, id=msg_id)
    return dns.message.make_query(qname, qtype, use_edns=False, flags=0, id=msg_id)


def ask(address: str, port: int, qname: str, qtype: str, tcp: bool, *, do: bool = True,
        payload: int = PAYLOAD, edns: bool = True,
        timeout: float = TIMEOUT) -> dns.message.Message:
    query = make_query(qname, qtype, do=do, payload=payload, edns=edns)
    if tcp:
        return dns.query.tcp(query, address, timeout=timeout, port=port)
    return dns.query.udp(query, address, timeout=timeout, port=port)


def is_referral(msg: dns.message.Message) -> bool:
    return (msg.rcode() == dns.rcode.NOERROR and not msg.flags & dns.flags.AA
            and not msg.answer
            and any(rs.rdtype == dns.rdatatype.NS for rs in msg.authority))


@dataclass(frozen=True, slots=True)
class Hop:
    """One step of a referral walk: the server asked and what it said."""

    server: str
    reply: dns.message.Message


def walk(qname: str, qtype: str, port: int, root: str = "127.0.0.11",
         depth: int = 0) -> list[Hop]:
    """Follow referrals from *root* like a resolver (UDP, TCP after TC); every hop,
    the last one being the answer of the server that is authoritative for the name."""
    server = root
    hops: list[Hop] = []
    for _ in range(16):
        msg = ask(server, port, qname, qtype, tcp=False)
        if msg.flags & dns.flags.TC:
            msg = ask(server, port, qname, qtype, tcp=True)
        hops.append(Hop(server, msg))
        if not is_referral(msg):
            return hops
        ns = next(rs for rs in msg.authority if rs.rdtype == dns.rdatatype.NS)
        glue = {rs.name: rs for rs in msg.additional if rs.rdtype == dns.rdatatype.A}
        target = sorted(rd.target for rd in ns)[0]
        if target in glue:
            server = sorted(rd.address for rd in glue[target])[0]
        else:  # glueless: resolve the name server's address first
            if depth > 4:
                raise RuntimeError(f"glueless loop at {target}")
            host = walk(target.to_text(), "A", port, root, depth + 1)[-1]
            addresses = [rd.address for rs in host.reply.answer
                         if rs.rdtype == dns.rdatatype.A for rd in rs]
            if not addresses:
                raise RuntimeError(f"no address for the name server {target}")
            server = sorted(addresses)[0]
    raise RuntimeError(f"too many referrals for {qname} {qtype}")


# --------------------------------------------------------------------------
# messages as JSON

FLAG_NAMES = (("qr", dns.flags.QR), ("aa", dns.flags.AA), ("tc", dns.flags.TC),
              ("rd", dns.flags.RD), ("ra", dns.flags.RA), ("ad", dns.flags.AD),
              ("cd", dns.flags.CD))


def flag_list(msg: dns.message.Message) -> list[str]:
    return [name for name, bit in FLAG_NAMES if msg.flags & bit]


def rr_lines(section: Iterable[dns.rrset.RRset]) -> list[str]:
    """Presentation-format lines, one per record, absolute names, in message order."""
    lines: list[str] = []
    for rrset in section:
        lines.extend(rrset.to_text().splitlines())
    return lines


def without_ttl(line: str) -> str:
    """``owner TTL class type rdata`` -> ``owner class type rdata``, lower-cased owner."""
    owner, _ttl, rest = line.split(None, 2)
    return f"{owner.lower()} {rest}"


def line_set(lines: Iterable[str]) -> set[str]:
    return {without_ttl(line) for line in lines}


def to_json(msg: dns.message.Message) -> dict[str, Any]:
    out: dict[str, Any] = {
        "rcode": dns.rcode.to_text(msg.rcode()),
        "flags": flag_list(msg),
        "answer": rr_lines(msg.answer),
        "authority": rr_lines(msg.authority),
        "additional": rr_lines(msg.additional),
    }
    if msg.edns >= 0:
        out["edns"] = {"version": msg.edns, "payload": msg.payload,
                       "do": bool(msg.ednsflags & dns.flags.DO)}
    return out


def _rtype_of(line: str) -> tuple[str, str]:
    """(type, covered type for RRSIG else "") of a presentation line."""
    parts = line.split()
    return parts[3], parts[4] if parts[3] == "RRSIG" else ""


def _optional_ns(nsd: dict[str, Any]) -> tuple[set[str], set[str]]:
    """NSD (minimal-responses: no) adds the zone's NS RRset to the AUTHORITY section of
    positive authoritative answers, and its glue to ADDITIONAL when it fits. Return
    those AUTHORITY lines (TTL-less) and the owner names of the NS targets."""
    if "aa" not in nsd["flags"] or not nsd["answer"]:
        return set(), set()
    lines = {line for line in nsd["authority"] if "NS" in _rtype_of(line)}
    targets = {line.split()[-1].lower() for line in lines if _rtype_of(line)[0] == "NS"}
    return line_set(lines), targets


def differences(ours: dict[str, Any], nsd: dict[str, Any],
                nsd_tcp: dict[str, Any] | None = None) -> list[str]:
    """How our answer (``to_json`` form) differs from NSD's to the same query.

    Equal: rcode, header flags, EDNS (version, payload, DO echo), and unless the answer
    is truncated, the ANSWER section and the AUTHORITY section (as TTL-insensitive sets),
    except the optional NS RRset NSD adds to positive answers. ADDITIONAL is optional
    data that depends on the space left: ours must be part of what NSD sends over TCP
    (*nsd_tcp*, which has room for all of it), and hold what NSD sends here, apart from
    the glue of that optional NS RRset.
    """
    out: list[str] = []
    for key in ("rcode", "flags", "edns"):
        if ours.get(key) != nsd.get(key):
            out.append(f"{key}: ours {ours.get(key)}, NSD {nsd.get(key)}")
    if "tc" in nsd["flags"] or "tc" in ours["flags"]:
        return out  # a truncated answer is incomplete by definition (RFC 2181 s9)
    a, b = line_set(ours["answer"]), line_set(nsd["answer"])
    if a != b:
        out.append(f"answer: only ours {sorted(a - b)}, only NSD {sorted(b - a)}")
    optional, targets = _optional_ns(nsd)
    a, b = line_set(ours["authority"]), line_set(nsd["authority"]) - optional
    if a != b:
        out.append(f"authority: only ours {sorted(a - b)}, only NSD {sorted(b - a)}")
    full = line_set((nsd_tcp or nsd)["additional"]) | line_set(nsd["additional"])
    here = {line for line in line_set(nsd["additional"]) if line.split()[0] not in targets}
    a = line_set(ours["additional"])
    if not a <= full:
        out.append(f"additional: ours has what NSD never sends {sorted(a - full)}")
    if not here <= a:
        out.append(f"additional: NSD has what ours lacks {sorted(here - a)}")
    return out


def tcp_entry(entry: dict[str, Any]) -> dict[str, Any]:
    """The TCP answer of a recorded entry (stored as "same" when equal to UDP)."""
    tcp = entry["udp"] if entry["tcp"] == "same" else entry["tcp"]
    return cast(dict[str, Any], tcp)


def load_answers(path: Path = ANSWERS) -> dict[str, Any]:
    return cast(dict[str, Any], json.loads(path.read_text()))


@dataclass(frozen=True, slots=True)
class Query:
    kind: str          # "case", "ds" (DS at a delegation) or "referral"
    qname: str
    qtype: str
    zone: str          # the zone that answers (for "referral": the parent)
    note: str = ""

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.qname}/{self.qtype}"


def all_queries() -> list[Query]:
    """Every case, the DS query at each delegation and a referral per delegation."""
    zones = [z for z, _, _ in read_zone_map()]
    out = [Query("case", c.qname, c.qtype, zone_of(c.qname, c.qtype, zones), c.expect)
           for c in read_cases()]
    for child, parent in delegations():
        out.append(Query("ds", child, "DS", parent, f"DS of {child} at {parent}"))
    for child, parent in delegations():
        out.append(Query("referral", "www." + child, "A", parent,
                         f"referral to {child} from {parent}"))
    return out


# --------------------------------------------------------------------------
# protocol edge cases: raw queries, compared on their header, EDNS and EDE

EDGE_ID = 0x5EED  # fixed, so that a new recording only differs where NSD does


def _q(qname: str, qtype: str, **kwargs: Any) -> dns.message.Message:
    kwargs.setdefault("flags", 0)
    return dns.message.make_query(qname, qtype, id=EDGE_ID, **kwargs)


def _opcode(op: dns.opcode.Opcode) -> bytes:
    msg = _q("www.test.", "A")
    msg.set_opcode(op)
    return msg.to_wire()


def _two_questions() -> bytes:
    msg = _q("www.test.", "A")
    msg.question.append(dns.rrset.RRset(dns.name.from_text("test."), dns.rdataclass.IN,
                                        dns.rdatatype.SOA))
    return msg.to_wire()


def _no_question() -> bytes:
    wire = _r("www.test.", "A")()
    return wire[:4] + b"\x00\x00" + wire[6:12]


def _r(qname: str, qtype: str, **kwargs: Any) -> Callable[[], bytes]:
    """A resolver-style query (make_query) with the fixed ID, as wire."""
    return lambda: make_query(qname, qtype, msg_id=EDGE_ID, **kwargs).to_wire()


def _p(qname: str, qtype: str, **kwargs: Any) -> Callable[[], bytes]:
    """A plain dnspython query (no EDNS unless asked for) with the fixed ID, as wire."""
    return lambda: _q(qname, qtype, **kwargs).to_wire()


EDGE_PROBES: dict[str, tuple[str, Callable[[], bytes]]] = {
    "edns-version-1": ("127.0.0.12", _p("www.test.", "A", use_edns=1)),
    "opcode-iquery": ("127.0.0.12", lambda: _opcode(dns.opcode.IQUERY)),
    "opcode-status": ("127.0.0.12", lambda: _opcode(dns.opcode.STATUS)),
    "question-cut": ("127.0.0.12", lambda: _r("www.test.", "A")()[:17]),
    "no-question": ("127.0.0.12", _no_question),
    "two-questions": ("127.0.0.12", _two_questions),
    "zone-not-served": ("127.0.0.13", _r("www.test.", "A")),
    "class-chaos": ("127.0.0.12", _p("www.test.", "A", rdclass="CH", use_edns=0)),
    "class-any": ("127.0.0.12", _p("www.test.", "A", rdclass="ANY", use_edns=0)),
    "axfr": ("127.0.0.12", _p("test.", "AXFR", use_edns=0)),
    "ixfr": ("127.0.0.12", _p("test.", "IXFR", use_edns=0)),
    "rrsig": ("127.0.0.12", _p("www.test.", "RRSIG", want_dnssec=True)),
    "no-edns-big": ("127.0.0.13", _r("big.rsasha256.test.", "TXT", edns=False)),
    "edns-512-big": ("127.0.0.13", _r("big.rsasha256.test.", "TXT", payload=512)),
    "edns-100": ("127.0.0.13", _r("big.rsasha256.test.", "TXT", payload=100)),
    "rd-set": ("127.0.0.12", _p("www.test.", "A", use_edns=0, flags=0x0100)),
    "ds-at-root": ("127.0.0.11", _r(".", "DS")),
    "mixed-case": ("127.0.0.12", _r("WwW.tEsT.", "A")),
}


def udp_raw(address: str, port: int, wire: bytes, timeout: float = 2.0) -> bytes | None:
    """One datagram exchange from an unconnected socket; None when nothing comes back."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.sendto(wire, (address, port))
        try:
            return sock.recvfrom(65535)[0]
        except TimeoutError:
            return None


def summarize(raw: bytes | None) -> dict[str, Any]:
    """``to_json`` plus what edge cases are judged on: opcode, ID, question, EDE codes."""
    if raw is None:
        return {"reply": None}
    msg = dns.message.from_wire(raw)
    out = to_json(msg)
    out.update(opcode=int(msg.opcode()), id=msg.id, size=len(raw),
               question=[q.to_text() for q in msg.question],
               ede=sorted(int(o.code) for o in msg.options if isinstance(o, dns.edns.EDEOption)))
    return out


def edge_differences(ours: dict[str, Any], nsd: dict[str, Any]) -> list[str]:
    """Edge-case replies: same header, EDNS and EDE; the question as NSD's unless NSD
    left it out (it does for NOTIMP and FORMERR, we echo it); sections as differences()."""
    if "reply" in nsd or "reply" in ours:
        return [] if ours == nsd else [f"reply: ours {ours}, NSD {nsd}"]
    out = [f"{key}: ours {ours.get(key)}, NSD {nsd.get(key)}"
           for key in ("rcode", "flags", "edns", "opcode", "id", "ede")
           if ours.get(key) != nsd.get(key)]
    if nsd["question"] and ours["question"] != nsd["question"]:
        out.append(f"question: ours {ours['question']}, NSD {nsd['question']}")
    return out + differences(ours, nsd)


# --------------------------------------------------------------------------
# NSD

def nsd_binary() -> str | None:
    found = shutil.which("nsd")
    if found is None and os.access("/usr/sbin/nsd", os.X_OK):
        found = "/usr/sbin/nsd"
    return found


def _port_free(addresses: Iterable[str], port: int) -> bool:
    for address in addresses:
        for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
            with socket.socket(socket.AF_INET, kind) as sock:
                try:
                    sock.bind((address, port))
                except OSError:
                    return False
    return True


class NsdServers:
    """One NSD per address of zones.map on one free port, serving the interop files.

    Started with ``-d`` (no fork) so that the process ids are those of the children
    this object spawned; :meth:`stop` signals exactly those.
    """

    def __init__(self, zone_dir: Path = ZONE_DIR, map_path: Path = ZONES_MAP,
                 port: int = 0) -> None:
        binary = nsd_binary()
        if binary is None:
            raise FileNotFoundError("nsd is not installed")
        self.binary = binary
        self.zone_dir = zone_dir
        self.entries = read_zone_map(map_path)
        self.addresses = sorted({address for _, address, _ in self.entries})
        self.port = port
        self.procs: list[subprocess.Popen[bytes]] = []
        self._tmp: tempfile.TemporaryDirectory[str] | None = None

    def start(self, wait: float = 15.0) -> None:
        fixed = self.port
        for attempt in range(3):
            try:
                self._start_once(wait)
                return
            except RuntimeError:
                if fixed or attempt == 2:
                    raise
                self.port = 0  # another process took the port meanwhile: try another

    def _start_once(self, wait: float) -> None:
        for _ in range(20):
            port = self.port or 20000 + secrets.randbelow(40000)
            if not _port_free(self.addresses, port):
                if self.port:
                    raise OSError(f"port {port} is taken")
                continue
            self.port = port
            break
        else:
            raise OSError("no free port for NSD")
        self._tmp = tempfile.TemporaryDirectory(prefix="nsd-record-")
        base = Path(self._tmp.name)
        try:
            for address in self.addresses:
                state = base / address
                state.mkdir()
                conf = NSD_CONF.format(address=address, port=self.port,
                                       zonesdir=self.zone_dir, state=state)
                for zone, zaddress, filename in self.entries:
                    if zaddress == address:
                        conf += f'zone:\n    name: "{zone}"\n    zonefile: "{filename}"\n'
                (state / "nsd.conf").write_text(conf)
                self.procs.append(subprocess.Popen(
                    [self.binary, "-d", "-c", str(state / "nsd.conf")],
                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL))
            self._wait(wait)
        except BaseException:
            self.stop()
            raise

    def _wait(self, wait: float) -> None:
        deadline = time.monotonic() + wait
        pending = {address: zone for zone, address, _ in reversed(self.entries)}
        while pending:
            for proc in self.procs:
                if proc.poll() is not None:
                    raise RuntimeError(f"nsd exited with status {proc.returncode}; "
                                       f"see the logs under {self._tmp and self._tmp.name}")
            for address, zone in list(pending.items()):
                try:
                    msg = ask(address, self.port, zone, "SOA", tcp=False, timeout=0.3)
                except (dns.exception.Timeout, OSError):
                    continue
                if msg.rcode() == dns.rcode.NOERROR and msg.answer:
                    del pending[address]
            if pending and time.monotonic() > deadline:
                raise TimeoutError(f"nsd not answering on {sorted(pending)}")
            if pending:
                time.sleep(0.1)

    def stop(self) -> None:
        """SIGTERM to the NSD processes this object spawned (SIGKILL after 10 s), then
        wait until their own children (NSD's server processes, which it does not wait
        for) have exited too, so that nothing holds the port any more."""
        children = [child for proc in self.procs for child in _children(proc.pid)]
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        self.procs.clear()
        deadline = time.monotonic() + 5
        while any(_running(pid) for pid in children) and time.monotonic() < deadline:
            time.sleep(0.05)
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> NsdServers:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _stat(pid: int) -> list[str] | None:
    """/proc/PID/stat after the command name: [state, ppid, ...]; None if gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()


def _children(pid: int) -> list[int]:
    """The direct children of *pid* (Linux /proc; empty elsewhere)."""
    out = []
    for entry in Path("/proc").glob("[0-9]*"):
        fields = _stat(int(entry.name))
        if fields is not None and fields[1] == str(pid):
            out.append(int(entry.name))
    return out


def _running(pid: int) -> bool:
    fields = _stat(pid)
    return fields is not None and fields[0] not in ("Z", "X")


def nsd_version(binary: str) -> str:
    proc = subprocess.run([binary, "-v"], capture_output=True, text=True, timeout=10)
    text = (proc.stdout + proc.stderr).strip().splitlines()
    return text[0] if text else "unknown"


# --------------------------------------------------------------------------
# recording

def record_one(query: Query, port: int, server: str) -> dict[str, Any]:
    udp = ask(server, port, query.qname, query.qtype, tcp=False)
    tcp = ask(server, port, query.qname, query.qtype, tcp=True)
    entry: dict[str, Any] = {
        "kind": query.kind, "qname": query.qname, "qtype": query.qtype,
        "zone": query.zone, "server": server, "note": query.note,
        "udp": to_json(udp),
    }
    tcp_json = to_json(tcp)
    entry["tcp"] = "same" if tcp_json == entry["udp"] else tcp_json
    return entry


def record(out: Path, port: int = 0) -> dict[str, Any]:
    queries = all_queries()
    with NsdServers(port=port) as nsd:
        print(f"NSD up on {', '.join(nsd.addresses)} port {nsd.port}", file=sys.stderr)
        entries = []
        for query in queries:
            if query.kind == "case":
                hops = walk(query.qname, query.qtype, nsd.port)
                server = hops[-1].server
                expected = server_of_zone(query.zone)
                if server != expected:
                    path = " -> ".join(h.server for h in hops)
                    print(f"warning: {query.key}: walk ended at {server} ({path}), "
                          f"zones.map says {expected}", file=sys.stderr)
            else:
                server = server_of_zone(query.zone)
            entries.append(record_one(query, nsd.port, server))
        edge = {}
        for name, (address, build) in EDGE_PROBES.items():
            wire = build()
            edge[name] = {"address": address, "query": wire.hex(),
                          "reply": summarize(udp_raw(address, nsd.port, wire))}
        version = nsd_version(nsd.binary)
    data = {
        "about": "NSD answers for the interop zones; written by tests/testnet/record_nsd.py",
        "nsd": version,
        "recorded": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "zones": "tests/data/interop/zones",
        "query": {"rd": False, "edns": 0, "do": True, "payload": PAYLOAD},
        "answers": entries,
        "edge": edge,
    }
    out.write_text(json.dumps(data, indent=1, sort_keys=False) + "\n")
    return data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ANSWERS)
    parser.add_argument("--port", type=int, default=0, help="port for NSD (default: random)")
    args = parser.parse_args(argv)
    if nsd_binary() is None:
        print("nsd is not installed (apt-get install nsd)", file=sys.stderr)
        return 2
    data = record(args.out, args.port)
    n = len(data["answers"])
    print(f"wrote {n} queries (UDP and TCP) to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
