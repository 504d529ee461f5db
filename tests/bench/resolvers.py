"""Processes of the DNS benchmarks: the test network, our resolver and Unbound.

Everything runs as a subprocess in its own process group (and, on Linux, is killed
if the benchmark itself dies), is stopped in ``finally`` blocks, and listens on
loopback only. The resolvers are pinned to one core and the load generator and the
test network to another (``taskset``) when there are two cores and taskset exists.

Unbound follows referrals to port 53 only, so a side-by-side run needs the test
network on 127.0.0.21-26:53; when those ports cannot be bound, or Unbound is not
installed, only our resolver runs (on a random port) and :class:`Environment`
says why in ``notes``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .load import ask, die_with_parent

ROOT = Path(__file__).resolve().parents[2]
ZONES = ROOT / "zones"
TESTNET_ADDRESSES = tuple(f"127.0.0.{i}" for i in range(21, 27))
CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
PROBE_NAME = "www.example."

# Unbound 1.17's default local zones that are not reverse (arpa) zones, checked with
# `unbound-control list_local_zones` on a fresh Unbound; the other ~97 are reverse
# zones under in-addr.arpa. and ip6.arpa. (RFC 6303), which zones/ does not use.
UNBOUND_DEFAULT_ZONES = ("localhost.", "test.", "onion.", "invalid.", "home.arpa.")


class BenchError(RuntimeError):
    """A process of the benchmark did not start or misbehaved."""


# ---------------------------------------------------------------------------- cores
@dataclass(frozen=True, slots=True)
class Pinning:
    server: list[str]          # command prefix for the resolver under test
    load: list[str]            # for the load generator and the test network
    server_cpu: int | None
    load_cpu: int | None
    note: str


def pinning() -> Pinning:
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        cpus = list(range(os.cpu_count() or 1))
    taskset = shutil.which("taskset")
    if taskset is None or len(cpus) < 2:
        why = "taskset not installed" if taskset is None else "only one CPU"
        return Pinning([], [], None, None, f"not pinned ({why}): figures include contention")
    s, c = cpus[0], cpus[1]
    return Pinning([taskset, "-c", str(s)], [taskset, "-c", str(c)], s, c,
                   f"resolvers on core {s}, load generator and test network on core {c}")


def core_ticks(cpu: int | None) -> tuple[int, int]:
    """(busy, steal) clock ticks of one CPU so far, from /proc/stat; (0, 0) if unknown."""
    if cpu is None:
        return 0, 0
    try:
        with open("/proc/stat") as f:
            for line in f:
                if line.startswith(f"cpu{cpu} "):
                    v = [int(x) for x in line.split()[1:]]
                    return v[0] + v[1] + v[2] + v[5] + v[6], v[7] if len(v) > 7 else 0
    except OSError:
        pass
    return 0, 0


# ---------------------------------------------------------------------------- processes
class Proc:
    """A subprocess in its own process group, output to a log file."""

    def __init__(self, name: str, argv: list[str], log: Path) -> None:
        self.name = name
        self.argv = argv
        self.log = log
        with open(log, "wb") as out:
            self.popen = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                                          stderr=subprocess.STDOUT, cwd=ROOT,
                                          start_new_session=True,
                                          preexec_fn=die_with_parent)
        self.pid = self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def cpu_seconds(self) -> float:
        """User + system CPU time of the process (all threads) so far."""
        try:
            with open(f"/proc/{self.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError as exc:
            raise BenchError(f"{self.name}: no CPU figures ({exc})") from exc
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

    def tail(self, lines: int = 15) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, grace: float = 5.0) -> None:
        """SIGTERM to the whole group, SIGKILL after *grace* seconds."""
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, sig)
            try:
                self.popen.wait(wait)
            except subprocess.TimeoutExpired:
                continue
            break
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)   # stragglers of the group


def _wait_for(what: str, proc: Proc, ready: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        if not proc.alive():
            raise BenchError(f"{what} exited ({proc.popen.returncode}):\n{proc.tail()}")
        time.sleep(0.1)
    raise BenchError(f"{what} not ready after {timeout:.0f} s:\n{proc.tail()}")


def wait_answering(what: str, proc: Proc, port: int, timeout: float = 30.0) -> None:
    """Until the server answers a query (any rcode)."""
    _wait_for(what, proc, lambda: ask(port, PROBE_NAME, "A", timeout=1.0) is not None,
              timeout)


# ---------------------------------------------------------------------------- ports
def port53_problem(addresses: tuple[str, ...] = TESTNET_ADDRESSES) -> str | None:
    """None if UDP and TCP port 53 can be bound on every address, else why not."""
    for address in addresses:
        for kind, label in ((socket.SOCK_DGRAM, "udp"), (socket.SOCK_STREAM, "tcp")):
            with socket.socket(socket.AF_INET, kind) as sock:
                if kind == socket.SOCK_STREAM:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    sock.bind((address, 53))
                except OSError as exc:
                    return f"cannot bind {address}:53/{label} ({exc.strerror})"
    return None


def free_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            port = int(udp.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind(("127.0.0.1", port))
                except OSError:
                    continue
            return port
    raise BenchError("no free port on 127.0.0.1")


# ---------------------------------------------------------------------------- servers
@dataclass(slots=True)
class TestNet:
    __test__ = False
    proc: Proc
    port: int
    hints: Path
    ds: Path
    _offset: int = 0
    _count: int = 0

    def queries_logged(self) -> int:
        """Queries the test network has logged so far (it logs one line per query at
        INFO level; 0 if a future version stops doing so)."""
        with open(self.proc.log, "rb") as f:
            f.seek(self._offset)
            chunk = f.read()
        end = chunk.rfind(b"\n") + 1
        self._count += chunk[:end].count(b"resolver.testnet.server:")
        self._offset += end
        return self._count


@dataclass(slots=True)
class Server:
    label: str                 # "ours" or "Unbound 1.17.1"
    detail: str
    proc: Proc
    port: int


def start_testnet(stack: contextlib.ExitStack, workdir: Path, port: int,
                  pin: Pinning, zones: Path = ZONES) -> TestNet:
    out = workdir / "testnet"
    argv = [*pin.load, sys.executable, "-m", "resolver", "testnet", str(zones),
            "--port", str(port), "--out", str(out)]
    proc = Proc("test network", argv, workdir / "testnet.log")
    stack.callback(proc.stop)

    def ready() -> bool:
        return "root hints:" in proc.log.read_text(errors="replace")

    _wait_for("test network", proc, ready, 60.0)
    match = re.search(r"port (\d+)", proc.log.read_text(errors="replace"))
    actual = int(match.group(1)) if match else port
    return TestNet(proc, actual, out / "root.hints", out / "root.ds")


def _serve_options() -> list[str]:
    """Options of ``serve`` that only some versions have: the HTTP API is switched off
    (it is not on the DNS path, and its fixed port would clash with another instance)."""
    done = subprocess.run([sys.executable, "-m", "resolver", "serve", "--help"],
                          capture_output=True, text=True, cwd=ROOT, timeout=60)
    return ["--api", "off"] if "--api" in done.stdout else []


def start_ours(stack: contextlib.ExitStack, workdir: Path, net: TestNet,
               pin: Pinning, extra: tuple[str, ...] = (), label: str = "ours") -> Server:
    port = free_port()
    options = list(extra) if any(a == "--api" for a in extra) else _serve_options()
    argv = [*pin.server, sys.executable, "-m", "resolver", "serve",
            "--listen", f"127.0.0.1:{port}", "--root-hints", str(net.hints),
            "--trust-anchor", str(net.ds), "--allow-loopback-upstream", *options,
            *[a for a in extra if a not in options]]
    if net.port != 53:
        argv += ["--upstream-port", str(net.port)]
    proc = Proc("our resolver", argv, workdir / f"{label.replace(' ', '_')}.log")
    stack.callback(proc.stop)
    _wait_for("our resolver", proc,
              lambda: "resolver ready" in proc.log.read_text(errors="replace"), 60.0)
    wait_answering("our resolver", proc, port)
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio (uvloop absent)"
    return Server(label, f"python -m resolver serve, {loop}", proc, port)


def unbound_version() -> str | None:
    exe = shutil.which("unbound")
    if exe is None:
        return None
    done = subprocess.run([exe, "-V"], capture_output=True, text=True, timeout=10)
    match = re.search(r"Version\s+(\S+)", done.stdout + done.stderr)
    return match.group(1) if match else "?"


def served_zones(zones_dir: Path = ZONES) -> list[str]:
    out = []
    for line in (zones_dir / "manifest.tsv").read_text().splitlines():
        if line and not line.startswith(("#", "zone\t")):
            out.append(line.split("\t", 1)[0].lower())
    return out


def _is_under(name: str, zone: str) -> bool:
    return zone == "." or name == zone or name.endswith("." + zone)


def unbound_nodefault(zones: list[str]) -> list[str]:
    """Unbound's default local zones that would shadow (or sit inside) a served zone."""
    out = []
    for default in UNBOUND_DEFAULT_ZONES:
        if any(z != "." and (_is_under(z, default) or _is_under(default, z)) for z in zones):
            out.append(default)
    return out


def unbound_config(workdir: Path, port: int, net: TestNet,
                   extra: tuple[str, ...] = ()) -> str:
    lines = [
        "server:",
        "    verbosity: 0",
        f"    interface: 127.0.0.1@{port}",
        f"    port: {port}",
        "    do-ip4: yes",
        "    do-ip6: no",
        "    do-not-query-localhost: no",
        f'    root-hints: "{net.hints}"',
        f'    trust-anchor-file: "{net.ds}"',
        "    trust-anchor-signaling: no",
        "    num-threads: 1",
        "    qname-minimisation: yes",
        '    module-config: "validator iterator"',
        '    chroot: ""',
        '    username: ""',
        f'    directory: "{workdir}"',
        f'    pidfile: "{workdir / "unbound.pid"}"',
        f'    logfile: "{workdir / "unbound.log"}"',
        "    use-syslog: no",
        "    access-control: 127.0.0.0/8 allow",
        *(f"    {line}" for line in extra),
    ]
    lines += [f'    local-zone: "{z}" nodefault' for z in unbound_nodefault(served_zones())]
    lines += ["remote-control:", "    control-enable: no", ""]
    return "\n".join(lines)


def start_unbound(stack: contextlib.ExitStack, workdir: Path, net: TestNet,
                  pin: Pinning, extra: tuple[str, ...] = ()) -> Server:
    exe = shutil.which("unbound")
    if exe is None:
        raise BenchError("unbound is not installed")
    udir = workdir / "unbound"
    udir.mkdir()
    port = free_port()
    conf = udir / "unbound.conf"
    conf.write_text(unbound_config(udir, port, net, extra))
    checkconf = shutil.which("unbound-checkconf")
    if checkconf is not None:
        done = subprocess.run([checkconf, str(conf)], capture_output=True, text=True,
                              timeout=30)
        if done.returncode != 0:
            raise BenchError(f"unbound-checkconf: {done.stdout}{done.stderr}")
    proc = Proc("Unbound", [*pin.server, exe, "-d", "-c", str(conf)], udir / "stdout.log")
    stack.callback(proc.stop)
    wait_answering("Unbound", proc, port)
    version = unbound_version() or "?"
    return Server(f"Unbound {version}", "1 thread, module-config validator iterator",
                  proc, port)


# ---------------------------------------------------------------------------- all of it
@dataclass(slots=True)
class Environment:
    workdir: Path
    pin: Pinning
    net: TestNet
    servers: list[Server]
    notes: list[str] = field(default_factory=list)

    @property
    def ours(self) -> Server:
        return self.servers[0]

    @property
    def reference(self) -> Server | None:
        return self.servers[1] if len(self.servers) > 1 else None


_T0 = time.monotonic()


def progress(text: str) -> None:
    print(f"dns bench [{time.monotonic() - _T0:5.1f} s]: {text}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def environment(with_unbound: bool = True,
                make_zones: Callable[[Path], Path] | None = None,
                ours_config: str = "",
                unbound_extra: tuple[str, ...] = ()) -> Iterator[Environment]:
    """The test network, our resolver and (when possible) Unbound, all stopped on exit.
    *make_zones* (given the temp dir) returns another hierarchy than zones/ to serve;
    *ours_config* is TOML for our resolver (a --config file), *unbound_extra* lines for
    Unbound's ``server:`` clause."""
    workdir = Path(tempfile.mkdtemp(prefix="resolver-bench-"))
    notes: list[str] = []
    try:
        with contextlib.ExitStack() as stack:
            pin = pinning()
            run_unbound = with_unbound
            net_port = 53
            if run_unbound and shutil.which("unbound") is None:
                notes.append("reference missing: unbound is not installed "
                             "(apt-get install unbound)")
                run_unbound = False
            problem = port53_problem()
            if problem is not None:
                net_port = 0
                if run_unbound:
                    notes.append(f"Unbound skipped: {problem}; Unbound follows referrals "
                                 "to port 53 only, so the test network must be on "
                                 "127.0.0.21-26:53")
                run_unbound = False
            elif not run_unbound:
                net_port = 0
                if not with_unbound:
                    notes.append("reference not run (DNS_BENCH_UNBOUND=0)")
            progress("starting the test network (signing zones/)")
            zones = make_zones(workdir) if make_zones is not None else ZONES
            net = start_testnet(stack, workdir, net_port, pin, zones)
            progress(f"test network on port {net.port}; starting our resolver")
            extra: tuple[str, ...] = ()
            if ours_config:
                conf = workdir / "ours.toml"
                conf.write_text(ours_config)
                extra = ("--config", str(conf))
            servers = [start_ours(stack, workdir, net, pin, extra)]
            if run_unbound:
                progress("starting Unbound")
                servers.append(start_unbound(stack, workdir, net, pin, unbound_extra))
            yield Environment(workdir, pin, net, servers, notes)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
