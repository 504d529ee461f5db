"""The mail CLI commands against a running API (subprocesses), with their exit codes:
0 secure answer / check passed, 1 not, 2 bad input, 3 service unreachable."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT, Api
from .helpers import CERTS, SECURE_IP, signed_message


def cli(api: Api | None, *args: str,
        stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    url = api.url if api is not None else "http://127.0.0.1:9"
    return subprocess.run([sys.executable, "-m", "resolver", *args, "--api", url],
                          cwd=ROOT, capture_output=True, text=True, timeout=60,
                          input=stdin.decode() if stdin is not None else None)


@pytest.mark.parametrize(("args", "code", "words"), [
    (("tlsa", "mx1.secure.example"), 0, "DANE-EE SPKI SHA2-256"),
    (("tlsa", "mx1.secure.example", "25", "--proto", "tcp"), 0, "secure (NOERROR"),
    (("tlsa", "mx1.insecure.example"), 1, "insecure"),
    (("tlsa", "mx1.bogus.example"), 1, "bogus (SERVFAIL"),
    (("dane-smtp", "secure.example"), 0, "secure.example. port 25: dane"),
    (("dane-smtp", "insecure.example"), 1, ": may"),
    (("dane-smtp", "bogus.example"), 1, ": defer"),
    (("smimea", "alice@secure.example"), 0, "SMIMEA for alice@secure.example: use"),
    (("smimea", "alice@bogus.example"), 1, "failed"),
    (("openpgpkey", "alice@nsec3.example"), 0, "key: mDMEZ0y5"),
    (("spf", "secure.example"), 0, "SPF record: v=spf1"),
    (("spf", "insecure.example"), 1, "SPF record: v=spf1"),
    (("spf-check", SECURE_IP, "bob@secure.example", "mail.secure.example"), 0, "spf=pass"),
    (("spf-check", "198.51.100.7", "bob@secure.example"), 1, "spf=fail"),
    (("dkim", "sel1", "secure.example"), 0, "2048-bit rsa"),
    (("dmarc", "secure.example"), 0, "record: v=DMARC1; p=reject"),
    (("dmarc", "bogus.example"), 1, "temperror"),
    (("tlsa", "bad..name"), 2, "not a host name"),
    (("smimea", "no-at-sign"), 2, "no '@'"),
])
def test_commands(zones_api: Api, args: tuple[str, ...], code: int, words: str) -> None:
    done = cli(zones_api, *args)
    assert done.returncode == code, (done.stdout, done.stderr)
    assert words in done.stdout + done.stderr, (done.stdout, done.stderr)


def test_dane_verify(zones_api: Api) -> None:
    done = cli(zones_api, "dane-verify", "mx1.secure.example", "25", str(CERTS / "mx1-chain.pem"))
    assert done.returncode == 0, done.stderr
    assert "verdict: matched at depth 0" in done.stdout
    done = cli(zones_api, "dane-verify", "mx1.secure.example", "25", str(CERTS / "alice.pem"))
    assert done.returncode == 1 and "verdict: no-match" in done.stdout
    done = cli(zones_api, "dane-verify", "mx1.secure.example", "25", "/nonexistent.pem")
    assert done.returncode == 2 and "cannot read" in done.stderr


def test_message_commands(zones_api: Api, tmp_path: Path) -> None:
    message = tmp_path / "signed.eml"
    message.write_bytes(signed_message())
    done = cli(zones_api, "dkim-verify", str(message))
    assert done.returncode == 0, done.stderr
    assert "dkim=pass d=secure.example s=sel1" in done.stdout
    done = cli(zones_api, "authenticate", str(message), "--ip", SECURE_IP,
               "--helo", "mail.secure.example", "--mailfrom", "alice@secure.example")
    assert done.returncode == 0, done.stderr
    assert "spf=pass dkim=pass dmarc=pass (DNS secure)" in done.stdout
    assert "Authentication-Results: mx.test.invalid; dkim=pass" in done.stdout
    tampered = tmp_path / "tampered.eml"
    tampered.write_bytes(signed_message().replace(b"Hello Bob", b"Hello Eve"))
    done = cli(zones_api, "dkim-verify", str(tampered))
    assert done.returncode == 1 and "dkim=fail" in done.stdout
    done = cli(zones_api, "authenticate", "-", "--ip", "198.51.100.7", "--helo", "x.example",
               "--mailfrom", "alice@secure.example", stdin=tampered.read_bytes())
    assert done.returncode == 1 and "dmarc=fail" in done.stdout


def test_json_output(zones_api: Api) -> None:
    done = cli(zones_api, "tlsa", "mx1.secure.example", "--json")
    assert done.returncode == 0
    body = json.loads(done.stdout)
    direct = zones_api.get("/v1/tlsa", host="mx1.secure.example").body
    assert set(body) == set(direct)
    assert (body["status"], body["usable"]) == ("secure", direct["usable"])
    done = cli(zones_api, "dane-smtp", "bogus.example", "--json")
    assert done.returncode == 1
    assert json.loads(done.stdout)["verdict"] == "defer"


def test_service_unreachable() -> None:
    done = cli(None, "spf", "secure.example")
    assert done.returncode == 3
    assert "cannot reach the API" in done.stderr


def test_help_states_exit_status() -> None:
    for command in ("tlsa", "spf-check", "authenticate", "dane-smtp"):
        done = subprocess.run([sys.executable, "-m", "resolver", command, "--help"], cwd=ROOT,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0
        assert "exit status: 0" in " ".join(done.stdout.split())
