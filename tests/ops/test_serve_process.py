"""``serve`` as a process: SIGHUP reloads the configuration without dropping the
cache; SIGTERM stops it; the production mode (IANA hints and anchors) starts on a
machine without internet and reports the root as unreachable instead of crashing."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from resolver.wire import message as wm
from resolver.wire.name import Name
from resolver.wire.types import RRType
from tests.ports import free_port

ROOT = Path(__file__).parent.parent.parent


def _free_port() -> int:
    return free_port("127.0.0.1")


def _ask(port: int, name: str, rtype: int = RRType.A, timeout: float = 15.0) -> wm.Message:
    query = wm.make_query(Name.from_text(name), rtype, rd=True)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.connect(("127.0.0.1", port))
        s.send(query.to_wire())
        return wm.parse(s.recv(65535))


def _start(args: list[str], tmp: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-m", "resolver", "serve", "--workers", "1",
                             *args],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert proc.stdout is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if "resolver ready" in line:
            return proc
        if proc.poll() is not None:
            break
    proc.kill()
    raise AssertionError(f"serve did not start: {proc.stdout.read()}")


def _stop(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGTERM)
    try:
        out, _ = proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        raise AssertionError("serve did not stop on SIGTERM") from None
    assert proc.returncode == 0, out
    return out


def test_sighup_reloads_the_configuration(tmp_path: Path) -> None:
    port = _free_port()
    config = tmp_path / "resolver.toml"
    config.write_text(f'listen = ["127.0.0.1:{port}"]\napi = "off"\n'
                      'allow-clients = ["10.0.0.0/8"]\n')
    proc = _start(["--config", str(config)], tmp_path)
    try:
        assert _ask(port, "localhost.").rcode == 5            # REFUSED: not in the ACL
        config.write_text(f'listen = ["127.0.0.1:{port}"]\napi = "off"\n'
                          'allow-clients = ["127.0.0.0/8"]\nnodefault = ["invalid."]\n')
        proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        reply = _ask(port, "localhost.")
        while reply.rcode == 5 and time.monotonic() < deadline:
            time.sleep(0.2)
            reply = _ask(port, "localhost.")
        assert reply.rcode == 0 and reply.answer[0].rdata == bytes((127, 0, 0, 1))
        # a bad file is refused and the running configuration stays
        config.write_text("listen = 5\n")
        proc.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        assert _ask(port, "localhost.").rcode == 0
    finally:
        out = _stop(proc)
    assert "configuration reloaded" in out
    assert "reload refused" in out and "listen" in out


def _unshare() -> str | None:
    tool = shutil.which("unshare")
    if tool is None or os.geteuid() != 0:
        return None
    ok = subprocess.run([tool, "-n", "true"], capture_output=True)
    return tool if ok.returncode == 0 else None


@pytest.mark.skipif(_unshare() is None, reason="needs root and unshare -n for an empty "
                                               "network namespace (no packet may leave)")
def test_production_mode_without_internet(tmp_path: Path) -> None:
    """What ``make run`` starts (IANA root hints and anchors, RFC 5011 state file), in
    an empty network namespace: it starts, answers local names, and answers SERVFAIL
    for the root quickly, saying why, instead of crashing. Nothing can leave the
    namespace, so no packet reaches a real root server."""
    script = tmp_path / "offline.py"
    state = tmp_path / "root-anchors.json"
    script.write_text(f"""
import socket, subprocess, sys, time
sys.path.insert(0, {str(ROOT)!r})
from tests.ops.test_serve_process import _ask, _start, _stop
from pathlib import Path
subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
proc = _start(["--listen", "127.0.0.1:5353", "--api", "127.0.0.1:8053",
               "--auto-trust-anchor-file", {str(state)!r}], Path({str(tmp_path)!r}))
try:
    assert _ask(5353, "localhost.").rcode == 0
    started = time.monotonic()
    reply = _ask(5353, ".", 6)
    took = time.monotonic() - started
    print("ROOT", reply.rcode, took, reply.ede())
    assert reply.rcode == 2 and took < 12 and reply.ede(), reply.to_text()
    assert proc.poll() is None
finally:
    out = _stop(proc)
print(out)
""")
    result = subprocess.run([_unshare() or "unshare", "-n", sys.executable, str(script)],
                            cwd=ROOT, capture_output=True, text=True, timeout=90)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ROOT 2" in result.stdout
    assert state.exists()      # the RFC 5011 state file was written at start
