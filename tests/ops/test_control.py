"""Issue 16 s1: ``resolver control`` against a running server, each command checked
by its effect on the DNS port.

Two set-ups on the signed ``zones/`` hierarchy (tests/networks.py ``hierarchy``):

* in process: a validating Resolver, its DnsServer and the ControlServer run in the
  network's loop thread; the tests speak the control protocol with the client's
  :func:`request` and count the queries the authoritative servers see;
* as processes: ``python -m resolver serve --control-socket`` and the command line
  ``python -m resolver control``, for the commands an operator types most.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from resolver.cli.control import request
from resolver.config import ConfigError, Settings, parse_duration
from resolver.configfile import apply
from resolver.server.control import ControlServer
from resolver.server.listener import DnsServer
from resolver.service import Resolver
from resolver.wire import message as wm
from resolver.wire.message import Message
from resolver.wire.name import Name
from resolver.wire.types import AD, RRType
from tests.loop import LoopThread
from tests.networks import Net, hierarchy, loop_thread
from tests.ports import free_port

__all__ = ["hierarchy", "loop_thread"]

ROOT = Path(__file__).parent.parent.parent
HOST = "127.0.0.1"
BOGUS = "www.bogus.example."
SECURE = "www.example."
SERVFAIL, NOERROR = 2, 0
EDE_NTA = 33


# ----------------------------------------------------------------------------- clients
def _udp(port: int, name: str, rtype: int = RRType.A) -> Message:
    query = wm.make_query(Name.from_text(name), rtype, rd=True)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(15)
        sock.connect((HOST, port))
        sock.send(query.to_wire())
        return wm.parse(sock.recv(65535))


def _recv(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


def _tcp(port: int, name: str, rtype: int = RRType.A) -> Message:
    wire = wm.make_query(Name.from_text(name), rtype, rd=True).to_wire()
    with socket.create_connection((HOST, port), timeout=15) as sock:
        sock.sendall(struct.pack("!H", len(wire)) + wire)
        size = struct.unpack("!H", _recv(sock, 2))[0]
        return wm.parse(_recv(sock, size))


def _codes(reply: Message) -> list[int]:
    return [code for code, _ in reply.ede()]


# ----------------------------------------------------------------------------- in process
@dataclass
class Running:
    resolver: Resolver
    server: DnsServer
    control: ControlServer
    socket: Path
    net: Net

    @property
    def port(self) -> int:
        return self.server.bound[0][1]

    def call(self, command: str, **args: object) -> dict[str, object]:
        return request(self.socket, command, dict(args))

    def upstream(self) -> int:
        return len(self.net.queries())


def _anchors(net: Net, where: Path) -> Path:
    return net.net.write_outputs(where)["ds"]


@pytest.fixture
def running(hierarchy: Net, loop_thread: LoopThread, tmp_path: Path) -> Iterator[Running]:
    settings = hierarchy.settings(validate=True, trust_anchors=[_anchors(hierarchy, tmp_path)],
                                  listen=[(HOST, 0)], nodefault=["test."],
                                  trust_anchor_signaling=False)
    resolver = Resolver(settings)
    server = DnsServer(resolver, settings)
    path = tmp_path / "ctl" / "control.sock"
    reloads: list[str] = []

    def reload() -> tuple[bool, str]:
        reloads.append("reload")
        return True, "reloaded"

    control = ControlServer(resolver, path, listeners=lambda: list(server.bound),
                            stats=lambda: {"resolver_queries_total": 1.0}, reload=reload)
    loop_thread.run(server.start())
    loop_thread.run(control.start())
    try:
        yield Running(resolver, server, control, path, hierarchy)
    finally:
        loop_thread.run(control.stop())
        loop_thread.run(server.stop())


def test_socket_is_private_and_removed_on_stop(running: Running, loop_thread: LoopThread
                                               ) -> None:
    mode = running.socket.stat().st_mode
    assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o600
    # a second server on the same live socket is refused, the first keeps it
    other = ControlServer(running.resolver, running.socket)
    with pytest.raises(OSError, match="another server"):
        loop_thread.run(other.start())
    assert running.call("nta-list")["ok"]


def test_group_socket_and_stale_socket(running: Running, loop_thread: LoopThread,
                                       tmp_path: Path) -> None:
    import grp
    group = grp.getgrgid(os.getgid()).gr_name
    path = tmp_path / "group.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as dead:
        dead.bind(str(path))                  # left behind by a server that died
    control = ControlServer(running.resolver, path, group=group)
    loop_thread.run(control.start())
    try:
        info = path.stat()
        assert stat.S_IMODE(info.st_mode) == 0o660 and info.st_gid == os.getgid()
        assert request(path, "nta-list")["ok"]
    finally:
        loop_thread.run(control.stop())
    with pytest.raises(OSError, match="no group"):
        loop_thread.run(ControlServer(running.resolver, path,
                                      group="no-such-group-here").start())


def test_nta_add_and_remove_take_effect_at_once(running: Running) -> None:
    assert _udp(running.port, BOGUS).rcode == SERVFAIL          # bogus, and cached
    reply = running.call("nta-add", zone="bogus.example", reason="broken signer")
    assert reply["ok"], reply
    for ask in (_udp, _tcp):
        answer = ask(running.port, BOGUS)
        assert answer.rcode == NOERROR and answer.answer, answer
        assert EDE_NTA in _codes(answer) and not answer.flags & AD
    listed = running.call("nta-list")["result"]
    assert isinstance(listed, dict)
    [nta] = listed["negative_trust_anchors"]
    assert nta["zone"] == "bogus.example." and nta["reason"] == "broken signer"
    assert nta["source"] == "control" and 3500 < nta["remaining"] <= 3600
    # shown in /v1/trust-anchors and the metric
    assert running.resolver.anchor_report()["negative_trust_anchors"] == [nta]
    from resolver.metrics import registry_for, render
    text = render(registry_for(running.resolver)).decode()
    assert 'resolver_negative_trust_anchors{source="control"} 1.0' in text
    # removed: bogus again at once, over UDP and TCP
    assert running.call("nta-remove", zone="bogus.example.")["ok"]
    assert _udp(running.port, BOGUS).rcode == SERVFAIL
    assert _tcp(running.port, BOGUS).rcode == SERVFAIL
    assert running.call("nta-list")["result"] == {"negative_trust_anchors": []}
    gone = running.call("nta-remove", zone="bogus.example.")
    assert not gone["ok"] and "no negative trust anchor" in str(gone["error"])


def test_nta_survives_a_reload_of_the_settings(running: Running) -> None:
    assert running.call("nta-add", zone="bogus.example.", **{"for": 600})["ok"]
    running.resolver.apply_settings(running.resolver.settings)     # what SIGHUP applies
    answer = _udp(running.port, BOGUS)
    assert answer.rcode == NOERROR and EDE_NTA in _codes(answer)


@pytest.mark.parametrize(("command", "args", "words"), [
    ("nta-add", {"zone": "."}, "root"),
    ("nta-add", {"zone": "x.example.", "for": "2 fortnights"}, "bad duration"),
    ("nta-add", {"zone": "x.example.", "for": "30d"}, "at most a week"),
    ("nta-add", {"zone": "bad..name"}, "bad domain name"),
    ("nta-add", {}, "zone: a domain name is needed"),
    ("log-level", {"level": "loud"}, "not one of"),
    ("flush-type", {"name": "example.", "type": "NOPE"}, "unknown RR type"),
    ("flush-infra", {"address": "ns1.example."}, "neither an IP address nor 'all'"),
    ("dump-cache", {"file": "relative.json"}, "absolute path"),
    ("frobnicate", {}, "unknown command"),
])
def test_bad_input_is_refused_with_a_reason(running: Running, command: str,
                                            args: dict[str, object], words: str) -> None:
    reply = running.call(command, **args)
    assert reply["ok"] is False and words in str(reply["error"]), reply


def test_malformed_requests(running: Running) -> None:
    for raw in (b"not json\n", b"[1, 2]\n", b'{"command": 5}\n'):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(5)
            sock.connect(str(running.socket))
            sock.sendall(raw)
            reply = json.loads(sock.makefile("rb").readline())
        assert reply["ok"] is False and "bad request" in reply["error"]


def test_status_stats_log_level_reload(running: Running) -> None:
    status = running.call("status")
    assert status["ok"], status
    result = status["result"]
    assert isinstance(result, dict)
    assert result["listeners"] == [[HOST, running.port]]
    assert result["trust_anchors"] and result["trust_anchors"][0]["zone"] == "."
    assert set(result["caches"]) >= {"rrset", "negative", "message", "key"}
    assert result["negative_trust_anchors"] == []
    assert running.call("stats")["result"] == {"samples": {"resolver_queries_total": 1.0}}
    import logging
    root = logging.getLogger()
    saved = root.level
    try:
        reply = running.call("log-level", level="DEBUG")
        assert reply["ok"] and root.level == logging.DEBUG, reply
    finally:
        root.setLevel(saved)
    assert running.call("reload")["result"] == {"message": "reloaded"}


def test_flush_zone_sends_the_next_question_upstream(running: Running) -> None:
    assert _udp(running.port, SECURE).rcode == NOERROR
    before = running.upstream()
    assert _udp(running.port, SECURE).rcode == NOERROR
    assert running.upstream() == before                       # from the caches
    reply = running.call("flush-zone", zone="example.")
    assert reply["ok"] and int(reply["result"]["removed"]) > 0, reply   # type: ignore[index]
    assert _udp(running.port, SECURE).rcode == NOERROR
    assert running.upstream() > before                        # asked again


@pytest.mark.parametrize(("command", "args"), [
    ("flush", {"name": SECURE}),
    ("flush-type", {"name": SECURE, "type": "A"}),
    ("flush-all", {}),
])
def test_flush_commands_send_the_next_question_upstream(
        running: Running, command: str, args: dict[str, object]) -> None:
    assert _udp(running.port, SECURE).rcode == NOERROR
    before = running.upstream()
    reply = running.call(command, **args)
    assert reply["ok"], reply
    assert _udp(running.port, SECURE).rcode == NOERROR
    assert running.upstream() > before


def test_flush_bogus_negative_infra(running: Running) -> None:
    assert _udp(running.port, BOGUS).rcode == SERVFAIL
    before = running.upstream()
    assert _udp(running.port, BOGUS).rcode == SERVFAIL and running.upstream() == before
    assert running.call("flush-bogus")["ok"]
    assert _udp(running.port, BOGUS).rcode == SERVFAIL
    assert running.upstream() > before                  # validated afresh
    assert _udp(running.port, "nope.example.").rcode == 3
    for command, args in (("flush-bogus", {}), ("flush-negative", {}),
                          ("flush-infra", {"address": "all"}),
                          ("flush-infra", {"address": "127.0.0.21"})):
        reply = running.call(command, **args)
        assert reply["ok"], reply
    before = running.upstream()
    assert _udp(running.port, "nope.example.").rcode == 3
    assert running.upstream() > before


def test_dump_and_load_cache(running: Running, tmp_path: Path) -> None:
    assert _udp(running.port, SECURE).rcode == NOERROR
    target = tmp_path / "cache.dump"
    reply = running.call("dump-cache", file=str(target))
    assert reply["ok"] and target.exists(), reply
    assert running.call("load-cache", file=str(target))["ok"]


# ----------------------------------------------------------------------------- helpers
def test_durations() -> None:
    assert parse_duration("3600") == 3600 and parse_duration("1h") == 3600
    assert parse_duration("30m") == 1800 and parse_duration("2d") == 172800
    assert parse_duration("1h30m") == 5400 and parse_duration("1w") == 604800
    assert parse_duration(90) == 90
    for bad in ("", "0", "-1h", "1y", "h", "1.2.3h", True):
        with pytest.raises(ConfigError):
            parse_duration(bad)  # type: ignore[arg-type]


def test_config_takes_nta_durations_and_the_control_socket() -> None:
    settings = apply(Settings(), {
        "negative-trust-anchors": [{"zone": "a.example.", "for": "2d"},
                                   {"zone": "b.example.", "until": 1800000000}],
        "control-socket": "/run/resolver/control.sock", "control-group": "adm"})
    (a, until_a), (b, until_b) = settings.negative_anchors
    assert a == "a.example." and abs(until_a - time.time() - 172800) < 60
    assert (b, until_b) == ("b.example.", 1800000000.0)
    assert settings.control_socket == Path("/run/resolver/control.sock")
    assert settings.control_group == "adm"
    with pytest.raises(ConfigError, match="bad duration"):
        apply(Settings(), {"negative-trust-anchors": [{"zone": "a.", "for": "soon"}]})


# ----------------------------------------------------------------------------- processes
def _free_port() -> int:
    return free_port(HOST)


def _cli(sock: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "resolver", "control", "--socket", str(sock),
                           *args], cwd=ROOT, capture_output=True, text=True, timeout=60)


def test_serve_and_the_command_line(hierarchy: Net, tmp_path: Path) -> None:
    """The real thing: ``serve --control-socket`` and ``resolver control``."""
    port = _free_port()
    sock = tmp_path / "run" / "control.sock"
    ds = _anchors(hierarchy, tmp_path / "net")
    proc = subprocess.Popen(
        [sys.executable, "-m", "resolver", "serve", "--workers", "1",
         "--listen", f"{HOST}:{port}",
         "--api", "off", "--root-hints", str(hierarchy.hints), "--trust-anchor", str(ds),
         "--allow-loopback-upstream", "--upstream-port", str(hierarchy.port),
         "--nodefault", "test.", "--no-trust-anchor-signaling",
         "--control-socket", str(sock)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert proc.stdout is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if "resolver ready" in line or proc.poll() is not None:
            break
    try:
        assert stat.S_IMODE(sock.stat().st_mode) == 0o600
        assert _udp(port, BOGUS).rcode == SERVFAIL
        added = _cli(sock, "nta", "add", "bogus.example.", "--for", "2h",
                     "--reason", "signer broken")
        assert added.returncode == 0, added.stderr
        assert "negative trust anchor for bogus.example. until" in added.stdout
        answer = _udp(port, BOGUS)
        assert answer.rcode == NOERROR and EDE_NTA in _codes(answer)
        status = _cli(sock, "status")
        assert status.returncode == 0, status.stderr
        for words in ("version", "uptime", f"{HOST}:{port}", "key tag", "bogus.example.",
                      "signer broken", "rrset", "upstream"):
            assert words in status.stdout, (words, status.stdout)
        as_json = json.loads(_cli(sock, "--json", "status").stdout)
        assert as_json["ok"] and as_json["result"]["listeners"] == [[HOST, port]]
        removed = _cli(sock, "nta", "remove", "bogus.example.")
        assert removed.returncode == 0, removed.stderr
        assert _udp(port, BOGUS).rcode == SERVFAIL and _tcp(port, BOGUS).rcode == SERVFAIL
        stats = _cli(sock, "stats")
        assert stats.returncode == 0 and "resolver_negative_trust_anchors" in stats.stdout
        assert 'resolver_client_queries_total{' in stats.stdout
        assert _cli(sock, "log-level", "info").returncode == 0
        reload = _cli(sock, "reload")
        assert reload.returncode == 0 and "configuration reloaded" in reload.stdout
        # flush-zone: the next answer comes from upstream
        assert _udp(port, SECURE).rcode == NOERROR
        before = len(hierarchy.queries())
        assert _udp(port, SECURE).rcode == NOERROR and len(hierarchy.queries()) == before
        flushed = _cli(sock, "flush-zone", "example.")
        assert flushed.returncode == 0 and "removed" in flushed.stdout, flushed.stderr
        assert _udp(port, SECURE).rcode == NOERROR and len(hierarchy.queries()) > before
        dump = tmp_path / "cache.dump"
        dumped = _cli(sock, "dump-cache", str(dump))
        assert dumped.returncode == 0 and dump.exists(), dumped.stderr
        loaded = _cli(sock, "load-cache", str(dump))
        assert loaded.returncode == 0 and "read from" in loaded.stdout, loaded.stderr
        # bad input: a clear message and a non-zero exit
        bad = _cli(sock, "nta", "add", "bogus.example.", "--for", "soon")
        assert bad.returncode == 2 and "bad duration" in bad.stderr
        refused = _cli(sock, "nta", "remove", "never.example.")
        assert refused.returncode == 1 and "no negative trust anchor" in refused.stderr
        missing = _cli(tmp_path / "nothing.sock", "status")
        assert missing.returncode == 2 and "no control socket" in missing.stderr
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=20)
    # every action is logged with the peer's uid
    assert f"control: uid {os.getuid()}: nta-add" in out, out
    assert f"control: uid {os.getuid()}: nta-remove" in out
    assert not sock.exists()
