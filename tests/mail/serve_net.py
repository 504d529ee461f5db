"""``resolver serve`` as a subprocess on the test network, with the mail front ends.

The zones/ hierarchy and the MTA-STS HTTPS server run in this process (a
:class:`LoopThread`); ``serve --workers 1`` runs with a config file that points it at
them and turns on the milter, the TLS policy socketmap and the API on free loopback
ports. Its output is read by a thread, so a test can wait for a line (a reload).
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from resolver.testnet.hierarchy import build
from resolver.testnet.https import PolicyServer
from tests.loop import LoopThread
from tests.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
ZONES = ROOT / "zones"
CA_FILE = ZONES / "certs" / "ca.pem"
START_TIMEOUT = 30.0


@dataclass
class ServeNet:
    proc: subprocess.Popen[str]
    config: Path
    base_config: str
    policies: PolicyServer
    milter: tuple[str, int]
    socketmap: tuple[str, int]
    api: str
    lines: queue.Queue[str] = field(default_factory=queue.Queue)
    seen: list[str] = field(default_factory=list)

    def write_config(self, extra: str = "") -> None:
        self.config.write_text(self.base_config + extra)

    def wait_for(self, words: str, timeout: float = 20.0) -> str:
        """The next output line containing *words* (AssertionError after *timeout*)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"serve did not print {words!r}; output:\n"
                                     + "".join(self.seen[-30:]))
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            self.seen.append(line)
            if words in line:
                return line

    def drain(self) -> None:
        """Move the lines printed so far to :attr:`seen` (they are not waited for)."""
        time.sleep(0.2)
        while True:
            try:
                self.seen.append(self.lines.get_nowait())
            except queue.Empty:
                return

    def reload(self) -> str:
        """SIGHUP, and the line that says how the reload went."""
        self.drain()
        self.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            line = self.wait_for("reload", deadline - time.monotonic())
            if "configuration reloaded" in line or "reload refused" in line:
                return line
        raise AssertionError("no reload outcome")

    def control(self, *args: str) -> subprocess.CompletedProcess[str]:
        """``resolver control`` on this serve's control socket."""
        return subprocess.run([sys.executable, "-m", "resolver", "control", "--socket",
                               str(self.config.parent / "control.sock"), *args],
                              cwd=ROOT, capture_output=True, text=True, timeout=60)


def _pump(stream: object, lines: queue.Queue[str]) -> None:
    for line in stream:  # type: ignore[attr-defined]
        lines.put(line)


@contextmanager
def serve_net(tmp: Path, extra_config: str = "") -> Iterator[ServeNet]:
    loop = LoopThread("serve-net-loop", timeout=60.0)
    net = build(ZONES).network
    policies = PolicyServer()
    proc = None
    try:
        loop.run(net.start())
        loop.run(policies.start())
        paths = net.write_outputs(tmp)
        dns, milter, socketmap, api = free_port(), free_port(), free_port(), free_port()
        base = (f'listen = ["127.0.0.1:{dns}"]\n'
                f'api = "127.0.0.1:{api}"\n'
                f'milter = "127.0.0.1:{milter}"\n'
                f'tls-policy = "127.0.0.1:{socketmap}"\n'
                f'root-hints = "{paths["hints"]}"\n'
                f'trust-anchors = ["{paths["ds"]}"]\n'
                'allow-loopback-upstream = true\n'
                f'upstream-port = {net.port}\n'
                f'mta-sts-ca-file = "{CA_FILE}"\n'
                f'mta-sts-port = {policies.port}\n'
                f'control-socket = "{tmp / "control.sock"}"\n'
                'log-level = "info"\n')
        config = tmp / "resolver.toml"
        config.write_text(base + extra_config)
        proc = subprocess.Popen(
            [sys.executable, "-m", "resolver", "serve", "--workers", "1",
             "--config", str(config)],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"})
        sn = ServeNet(proc, config, base, policies, ("127.0.0.1", milter),
                      ("127.0.0.1", socketmap), f"http://127.0.0.1:{api}")
        threading.Thread(target=_pump, args=(proc.stdout, sn.lines), daemon=True).start()
        sn.wait_for("resolver ready", START_TIMEOUT)
        yield sn
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        loop.run(policies.stop())
        loop.run(net.stop())
        loop.close()
