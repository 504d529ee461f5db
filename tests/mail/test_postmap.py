"""Postfix itself asks the policy map: ``postmap -q DOMAIN socketmap:inet:...:postfix``
gives the answers the netstring tests expect (skipped with a reason where Postfix is
not installed; CI installs it). Also ``serve --tls-policy`` as a real process.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.mail.stsnet import CA_FILE, StsEnv, query, sts_env
from tests.ports import free_port

__all__ = ["sts_env"]     # the fixture, imported for pytest

ROOT = Path(__file__).resolve().parents[2]
POSTMAP = shutil.which("postmap") or ("/usr/sbin/postmap"
                                      if Path("/usr/sbin/postmap").exists() else None)
needs_postmap = pytest.mark.skipif(POSTMAP is None,
                                   reason="postmap (Postfix) is not installed")

ENFORCE = "secure match=mx1.enforce.sts.example:.enforce.sts.example servername=hostname"
# domain -> (exit status, standard output, a piece of standard error)
EXPECTED = {
    "dane.sts.example": (0, "dane", ""),
    "enforce.sts.example": (0, ENFORCE, ""),
    "testing.sts.example": (1, "", ""),
    "none.sts.example": (1, "", ""),
    "badcert.sts.example": (1, "", ""),
    "bogus.example": (1, "", "temporary error: DNS lookups for bogus.example failed"),
    "servfail.sts.example": (1, "", "temporary error: DNS lookups for servfail.sts.example"),
    "mismatch.sts.example": (1, "", "temporary error: no MX host of mismatch.sts.example"),
}


def postmap(config: Path, port: int, key: str) -> subprocess.CompletedProcess[str]:
    assert POSTMAP is not None
    return subprocess.run([POSTMAP, "-c", str(config), "-q", key,
                           f"socketmap:inet:127.0.0.1:{port}:postfix"],
                          capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def postfix_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("postfix")
    (folder / "main.cf").write_text("# postmap needs a main.cf; the defaults do\n")
    return folder


@needs_postmap
@pytest.mark.parametrize("domain", sorted(EXPECTED))
def test_postmap_answers(sts_env: StsEnv, postfix_dir: Path, domain: str) -> None:
    status, out, err = EXPECTED[domain]
    done = postmap(postfix_dir, sts_env.port, domain)
    assert done.returncode == status, (done.stdout, done.stderr)
    assert done.stdout.strip() == out
    assert err in done.stderr
    # the same answer as over our own netstring client
    [reply] = query(sts_env.port, f"postfix {domain}")
    if status == 0:
        assert reply == f"OK {out}"
    else:
        assert reply.startswith("TEMP" if err else "NOTFOUND")


def test_serve_tls_policy_flag(sts_env: StsEnv, tmp_path: Path) -> None:
    """``serve --tls-policy`` answers the socketmap (the resolver in another process)."""
    port, dns_port = free_port(), free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "resolver", "serve", "--workers", "1",
         "--listen", f"127.0.0.1:{dns_port}",
         "--api", "off", "--root-hints", str(sts_env.paths["hints"]),
         "--trust-anchor", str(sts_env.paths["ds"]), "--allow-loopback-upstream",
         "--upstream-port", str(sts_env.net.port), "--no-trust-anchor-signaling",
         "--control-socket", "off", "--tls-policy", f"127.0.0.1:{port}",
         "--mta-sts-ca-file", str(CA_FILE), "--mta-sts-port", str(sts_env.policies.port)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert proc.stdout is not None
    try:
        deadline = time.monotonic() + 30
        line = ""
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if "resolver ready" in line or proc.poll() is not None:
                break
        assert f"TLS policy map 127.0.0.1:{port}" in line, line
        replies = query(port, "postfix enforce.sts.example", "postfix dane.sts.example",
                        "postfix bogus.example")
        assert replies[:2] == [f"OK {ENFORCE}", "OK dane"]
        assert replies[2].startswith("TEMP DNS lookups for bogus.example")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
