"""``serve --workers 2``: one supervisor, two serving processes on the same ports.

The process tests start the real command against the zones/ test hierarchy (one
server for the module, stopped by the last test) and show: both workers answer (UDP,
TCP and DNS over TLS),
the metrics and ``control stats`` add them up, control commands reach every worker,
a killed worker is started again (with the negative trust anchors added before),
SIGHUP reloads every worker (and a worker started after it gets the new
configuration) and SIGTERM stops them all; then a worker that cannot start stops
serve, and the privilege drop. The pieces are in test_workers_parts.py."""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import struct
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from resolver.wire import message as wm
from resolver.wire.message import Message
from resolver.wire.name import Name
from resolver.wire.types import AD, RRType
from tests.networks import Net, hierarchy, loop_thread
from tests.ports import free_port
from tests.server.test_tls import make_cert

__all__ = ["hierarchy", "loop_thread"]

ROOT = Path(__file__).parent.parent.parent
HOST = "127.0.0.1"
SECURE, BOGUS = "www.example.", "www.bogus.example."
NOERROR, SERVFAIL, REFUSED = 0, 2, 5
EDE_NTA = 33
CLIENTS = 64          # UDP sockets (source ports): the kernel spreads them over the workers


def _udp(port: int, name: str, timeout: float = 15.0) -> Message:
    query = wm.make_query(Name.from_text(name), RRType.A, rd=True)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.connect((HOST, port))
        sock.send(query.to_wire())
        return wm.parse(sock.recv(65535))


def _tcp(port: int, name: str) -> Message:
    wire = wm.make_query(Name.from_text(name), RRType.A, rd=True).to_wire()
    with socket.create_connection((HOST, port), timeout=15) as sock:
        sock.sendall(struct.pack("!H", len(wire)) + wire)
        return _framed(sock)


def _many(port: int, name: str, count: int = CLIENTS) -> list[Message]:
    """*count* queries, each from a socket of its own (another source port)."""
    return [_udp(port, name) for _ in range(count)]


@dataclass
class Served:
    proc: subprocess.Popen[str]
    port: int
    metrics: int
    api: int
    tls: int
    cert: Path
    control: Path
    config: Path
    output: list[str]

    def control_json(self, command: str, **args: Any) -> dict[str, Any]:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(60)
            sock.connect(str(self.control))
            sock.sendall(json.dumps({"command": command, "args": args}).encode() + b"\n")
            data = b""
            while not data.endswith(b"\n"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
        reply: dict[str, Any] = json.loads(data)
        return reply

    def workers(self) -> list[dict[str, Any]]:
        reply = self.control_json("status")
        assert reply["ok"], reply
        workers: list[dict[str, Any]] = reply["result"]["workers"]
        return workers

    def scrape(self, port: int | None = None) -> str:
        url = f"http://{HOST}:{port or self.metrics}/metrics"
        with urllib.request.urlopen(url, timeout=15) as response:
            text: str = response.read().decode()
        return text


def _answered(text: str) -> float:
    return sum(float(line.split()[-1]) for line in text.splitlines()
               if line.startswith("resolver_client_queries_total{"))


def _sample(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return 0.0


def start_workers(options: list[str]) -> tuple[subprocess.Popen[str], list[str]]:
    """``serve --workers 2`` with *options*, once it says it is ready: the process and
    its output so far (the test fails with that output if it does not start in 60 s)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "resolver", "serve", "--workers", "2", *options],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert proc.stdout is not None
    output: list[str] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        output.append(line)
        if "resolver ready" in line or proc.poll() is not None:
            break
    if "resolver ready" not in output[-1]:
        proc.kill()
        pytest.fail("serve --workers 2 did not start: " + "".join(output) + proc.stdout.read())
    return proc, output


def _framed(sock: socket.socket) -> Message:
    """One reply read from a TCP or TLS stream (a 2-octet length, then the message)."""
    data = b""
    while len(data) < 2 or len(data) < 2 + struct.unpack("!H", data[:2])[0]:
        chunk = sock.recv(65535)
        assert chunk, "connection closed"
        data += chunk
    return wm.parse(data[2:])


@pytest.fixture(scope="module")
def served(hierarchy: Net, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tmp = tmp_path_factory.mktemp("workers")
    port, metrics, api, tls = (free_port(HOST) for _ in range(4))
    cert, key = make_cert(tmp, "dot.test")
    ds = hierarchy.net.write_outputs(tmp / "net")["ds"]
    config = tmp / "resolver.toml"
    config.write_text('allow-clients = ["127.0.0.0/8"]\n')
    control = tmp / "run" / "control.sock"
    proc, output = start_workers(
        ["--config", str(config), "--listen", f"{HOST}:{port}", "--api", f"{HOST}:{api}",
         "--metrics", f"{HOST}:{metrics}", "--root-hints", str(hierarchy.hints),
         "--trust-anchor", str(ds), "--allow-loopback-upstream", "--upstream-port",
         str(hierarchy.port), "--nodefault", "test.", "--no-trust-anchor-signaling",
         "--control-socket", str(control), "--listen-tls", f"{HOST}:{tls}",
         "--tls-cert", str(cert), "--tls-key", str(key)])
    served = Served(proc, port, metrics, api, tls, cert, control, config, output)
    yield served
    if proc.poll() is None:
        proc.kill()
        proc.communicate(timeout=15)


def test_both_workers_answer_and_the_metrics_add_up(served: Served) -> None:
    assert "2 workers" in served.output[-1]
    replies = _many(served.port, SECURE)
    assert all(r.rcode == NOERROR and r.flags & AD for r in replies)
    assert _tcp(served.port, SECURE).rcode == NOERROR
    text = served.scrape()
    per_worker = [_sample(text, f'resolver_worker_client_queries_total{{worker="{w}"}}')
                  for w in (0, 1)]
    assert all(count > 0 for count in per_worker), per_worker     # both answered
    assert _answered(text) == sum(per_worker) >= CLIENTS + 1
    assert _sample(text, "resolver_workers") == 2
    assert _sample(text, 'resolver_worker_up{worker="1"}') == 1
    # the API (on worker 0) shows the same sum, and so does control stats
    assert "resolver_worker_up" in served.scrape(served.api)
    stats = served.control_json("stats")["result"]["samples"]
    assert stats['resolver_worker_client_queries_total{worker="1"}'] == per_worker[1]


def _dot(served: Served, name: str) -> Message:
    wire = wm.make_query(Name.from_text(name), RRType.A, rd=True).to_wire()
    context = ssl.create_default_context(cafile=str(served.cert))
    with socket.create_connection((HOST, served.tls), timeout=15) as raw, \
            context.wrap_socket(raw, server_hostname="dot.test") as sock:
        sock.sendall(struct.pack("!H", len(wire)) + wire)
        return _framed(sock)


def test_dns_over_tls_on_every_worker(served: Served) -> None:
    replies = [_dot(served, SECURE) for _ in range(16)]
    assert all(r.rcode == NOERROR and r.flags & AD for r in replies)
    text = served.scrape()
    assert _sample(text, 'resolver_client_packets_total{transport="tls"}') >= 16


def test_control_commands_reach_every_worker(served: Served) -> None:
    assert all(r.rcode == SERVFAIL for r in _many(served.port, BOGUS, 16))
    added = served.control_json("nta-add", zone="bogus.example.", reason="test")
    assert added["ok"] and added["result"]["workers"] == 2, added
    assert all(w["negative_trust_anchors"] == ["bogus.example."] for w in served.workers())
    replies = _many(served.port, BOGUS)
    assert all(r.rcode == NOERROR and EDE_NTA in [c for c, _ in r.ede()] for r in replies)
    removed = served.control_json("nta-remove", zone="bogus.example.")
    assert removed["ok"], removed
    assert all(r.rcode == SERVFAIL for r in _many(served.port, BOGUS))
    # a flush reaches both caches: the counts of both are summed
    before = sum(w["caches"]["rrset"] for w in served.workers())
    flushed = served.control_json("flush-zone", zone="example.")
    assert flushed["ok"] and flushed["result"]["workers"] == 2
    assert flushed["result"]["removed"] > 0 and before > 0
    assert served.control_json("nta-list")["ok"]
    shown = subprocess.run([sys.executable, "-m", "resolver", "control", "--socket",
                            str(served.control), "status"], cwd=ROOT, capture_output=True,
                           text=True, timeout=60)
    assert shown.returncode == 0 and "worker 1   pid" in shown.stdout, shown
    unknown = served.control_json("no-such-command")
    assert not unknown["ok"] and "unknown command" in unknown["error"]


def test_a_killed_worker_is_started_again(served: Served) -> None:
    served.control_json("nta-add", zone="bogus.example.", reason="kept")
    _many(served.port, SECURE)
    answered = _answered(served.scrape())
    victim = served.workers()[1]
    os.kill(victim["pid"], signal.SIGKILL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        workers = served.workers()
        if workers[1]["up"] and workers[1]["pid"] != victim["pid"] \
                and "negative_trust_anchors" in workers[1]:
            break
        time.sleep(0.1)
    assert workers[1]["restarts"] == victim["restarts"] + 1, workers
    # the negative trust anchor added before the death was given to the new worker
    assert workers[1]["negative_trust_anchors"] == ["bogus.example."]
    assert all(r.rcode == NOERROR for r in _many(served.port, BOGUS))
    text = served.scrape()
    assert _sample(text, 'resolver_worker_restarts_total{worker="1"}') == 1
    # the dead worker's counts stay in the sums (no drop for Prometheus to take as a reset)
    assert _answered(text) >= answered + CLIENTS
    assert served.control_json("nta-remove", zone="bogus.example.")["ok"]
    assert "worker 1 (pid" in "".join(served.output + _drain(served))


def _drain(served: Served) -> list[str]:
    """The lines serve wrote so far (without blocking)."""
    assert served.proc.stdout is not None
    os.set_blocking(served.proc.stdout.fileno(), False)
    lines = served.proc.stdout.readlines()
    os.set_blocking(served.proc.stdout.fileno(), True)
    served.output.extend(lines)
    return lines


def test_sighup_reloads_every_worker(served: Served) -> None:
    served.config.write_text('allow-clients = ["10.0.0.0/8"]\n')
    served.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if all(r.rcode == REFUSED for r in _many(served.port, SECURE, 16)):
            break
        time.sleep(0.2)
    assert all(r.rcode == REFUSED for r in _many(served.port, SECURE))
    # a worker started after the reload gets the reloaded configuration
    victim = served.workers()[0]
    os.kill(victim["pid"], signal.SIGKILL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        now = served.workers()[0]
        if now["up"] and now["pid"] != victim["pid"] and "uptime" in now:
            break
        time.sleep(0.1)
    assert now["restarts"] == victim["restarts"] + 1
    assert all(r.rcode == REFUSED for r in _many(served.port, SECURE))
    served.config.write_text('allow-clients = ["127.0.0.0/8"]\n')
    reloaded = served.control_json("reload")
    assert reloaded["ok"] and reloaded["result"]["workers"] == 2, reloaded
    assert all(r.rcode == NOERROR for r in _many(served.port, SECURE))


def test_sigterm_stops_every_worker(served: Served) -> None:
    pids = [w["pid"] for w in served.workers()]
    served.proc.send_signal(signal.SIGTERM)
    out, _ = served.proc.communicate(timeout=30)
    assert served.proc.returncode == 0, out
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert not served.control.exists()
    assert "Traceback" not in "".join(served.output) + out


# ----------------------------------------------------------------------------- start-up
def _serve(args: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "resolver", "serve", "--workers", "2",
                             *args], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})


def test_a_worker_that_cannot_start_stops_serve() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind((HOST, 0))
        taken.listen()
        api = taken.getsockname()[1]
        proc = _serve(["--listen", f"{HOST}:{free_port(HOST)}", "--api", f"{HOST}:{api}"])
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 2, out
    assert f"{HOST}:{api} (--api): port in use" in out and "did not start" in out, out
    assert "Traceback" not in out
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:   # the supervisor's
        taken.bind((HOST, 0))
        taken.listen()
        metrics = taken.getsockname()[1]
        proc = _serve(["--listen", f"{HOST}:{free_port(HOST)}", "--api", "off",
                       "--metrics", f"{HOST}:{metrics}"])
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 2 and f"{HOST}:{metrics} (--metrics): port in use" in out, out


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry))
    return found


def _uids(pid: int) -> list[int]:
    line = next(x for x in Path(f"/proc/{pid}/status").read_text().splitlines()
                if x.startswith("Uid:"))
    return [int(v) for v in line.split()[1:]]


def _nobody_runs_python() -> bool:
    try:
        return subprocess.run([sys.executable, "-c", "import resolver"], user="nobody",
                              cwd=ROOT, capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


@pytest.mark.skipif(os.geteuid() != 0, reason="the privilege drop needs root")
def test_privilege_drop_with_workers(tmp_path: Path) -> None:
    """The supervisor binds as root and becomes nobody; its workers never were root."""
    import pwd
    if not _nobody_runs_python():
        pytest.skip(f"nobody cannot run {sys.executable} with the package (a directory "
                    "above it is not readable for other users); workers start as `user`")
    nobody = pwd.getpwnam("nobody").pw_uid
    port = free_port(HOST)
    config = tmp_path / "resolver.toml"
    config.write_text(f'listen = ["{HOST}:{port}"]\napi = "off"\nuser = "nobody"\n')
    proc = _serve(["--config", str(config)])
    assert proc.stdout is not None
    try:
        line = ""
        deadline = time.monotonic() + 60
        while "resolver ready" not in line and time.monotonic() < deadline \
                and proc.poll() is None:
            line = proc.stdout.readline()
        assert "2 workers" in line, line
        workers = _children(proc.pid)
        assert len(workers) == 2
        for pid in (proc.pid, *workers):
            assert _uids(pid) == [nobody] * 4, pid
        assert all(r.rcode == NOERROR for r in _many(port, "localhost.", 16))
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
