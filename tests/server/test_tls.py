"""Issue 17 s3, DNS over TLS (RFC 7858): the TCP listener (RFC 7766 framing, idle
timeouts, pipelining) behind TLS 1.2+ with ALPN "dot", a certificate generated here
(self-signed, ``cryptography``), asked with Python's ssl client and, when it is on
PATH, with ``dig +tls``; the certificate and key are reloaded by apply_settings
(what SIGHUP calls)."""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import os
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from resolver.config import ConfigError, Settings
from resolver.configfile import apply
from resolver.server.listener import DnsServer
from resolver.service import Resolver
from resolver.wire import message as wm
from tests.loop import LoopThread
from tests.networks import Net
from tests.server.test_server import HOST, a_values, query, recv_exact


def make_cert(directory: Path, name: str) -> tuple[Path, Path]:
    """A self-signed certificate for *name* and 127.0.0.1: (cert file, key file)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName(name), x509.IPAddress(ipaddress.ip_address(HOST))]),
                critical=False)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = directory / f"{name}.pem", directory / f"{name}.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


def tls_settings(lab: Net, cert: Path, key: Path) -> Settings:
    settings = lab.settings()
    settings.listen = [(HOST, 0)]
    settings.listen_tls = [(HOST, 0)]
    settings.tls_cert, settings.tls_key = cert, key
    return settings


@pytest.fixture
def dot(lab: Net, loop_thread: LoopThread, tmp_path: Path) -> Iterator[tuple[DnsServer, Path]]:
    cert, key = make_cert(tmp_path, "dns.test")
    settings = tls_settings(lab, cert, key)
    server = DnsServer(Resolver(settings), settings)
    loop_thread.run(server.start())
    yield server, cert
    loop_thread.run(server.stop())


def client_context(cafile: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(cafile))
    context.set_alpn_protocols(["dot"])
    return context


def dot_exchange(port: int, context: ssl.SSLContext, wires: list[bytes],
                 name: str = "dns.test") -> tuple[list[bytes], ssl.SSLSocket]:
    with socket.create_connection((HOST, port), timeout=5) as raw, \
            context.wrap_socket(raw, server_hostname=name) as sock:
        sock.sendall(b"".join(struct.pack("!H", len(w)) + w for w in wires))
        out = []
        for _ in wires:
            size = struct.unpack("!H", recv_exact(sock, 2))[0]  # type: ignore[arg-type]
            out.append(recv_exact(sock, size))                   # type: ignore[arg-type]
        assert sock.selected_alpn_protocol() == "dot"
        assert sock.version() in ("TLSv1.2", "TLSv1.3")
        cert = sock.getpeercert()
        return out, cert  # type: ignore[return-value]


def test_dot_pipelined_queries_python_client(dot: tuple[DnsServer, Path]) -> None:
    """Two pipelined queries on one TLS connection, verified against the certificate,
    ALPN "dot"; both answered (matched by ID, RFC 7766 allows any order)."""
    server, cert = dot
    port = server.bound_tls[0][1]
    first, second = query("www.lab.", msg_id=1111), query("www.lab.", msg_id=2222)
    replies, _ = dot_exchange(port, client_context(cert), [first.to_wire(), second.to_wire()])
    parsed = {m.id: m for m in map(wm.parse, replies)}
    assert set(parsed) == {1111, 2222}
    for msg in parsed.values():
        assert a_values(msg) == ["192.0.2.70"]
    assert (server.stats.tls, server.stats.tcp) == (2, 0)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_tls_1_1_refused(dot: tuple[DnsServer, Path]) -> None:
    server, _ = dot
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.minimum_version = ssl.TLSVersion.TLSv1
    context.maximum_version = ssl.TLSVersion.TLSv1_1
    with contextlib.suppress(ssl.SSLError):
        context.set_ciphers("DEFAULT:@SECLEVEL=0")   # let this client offer TLS 1.1
    with socket.create_connection((HOST, server.bound_tls[0][1]), timeout=5) as raw, \
            pytest.raises((ssl.SSLError, ConnectionError)):
        context.wrap_socket(raw).do_handshake()
    assert server.stats.tls == 0


def test_cert_reloaded_for_new_handshakes(dot: tuple[DnsServer, Path], lab: Net,
                                          tmp_path: Path) -> None:
    """apply_settings (SIGHUP) loads the new pair; a bad pair keeps the old one."""
    server, old = dot
    port = server.bound_tls[0][1]
    cert, key = make_cert(tmp_path, "new.test")
    wire = [query("www.lab.").to_wire()]
    server.apply_settings(tls_settings(lab, cert, tmp_path / "missing.key"))
    dot_exchange(port, client_context(old), wire)          # still the old one
    server.apply_settings(tls_settings(lab, cert, key))
    _, seen = dot_exchange(port, client_context(cert), wire, "new.test")
    assert dict(x[0] for x in seen["subject"])["commonName"] == "new.test"  # type: ignore[index]
    with pytest.raises(ssl.SSLCertVerificationError):
        dot_exchange(port, client_context(old), wire)


def test_listen_tls_needs_a_cert(lab: Net, loop_thread: LoopThread, tmp_path: Path) -> None:
    settings = lab.settings()
    settings.listen = [(HOST, 0)]
    settings.listen_tls = [(HOST, 0)]
    server = DnsServer(Resolver(settings), settings)
    with pytest.raises(ConfigError, match="tls-cert"):
        loop_thread.run(server.start())
    assert server.bound == []                 # refused before any port was opened
    other, key = make_cert(tmp_path, "a.test")[0], make_cert(tmp_path, "b.test")[1]
    for cert_file, key_file, words in ((other, tmp_path / "none.key", "tls-key: cannot read"),
                                       (other, key, "not a matching")):
        settings.tls_cert, settings.tls_key = cert_file, key_file
        with pytest.raises(ConfigError, match=words):
            loop_thread.run(DnsServer(Resolver(settings), settings).start())


def test_config_keys() -> None:
    settings = apply(Settings(), {"listen-tls": ["127.0.0.1", "[::1]:8853"],
                                  "tls-cert": "/etc/resolver/cert.pem",
                                  "tls-key": "/etc/resolver/key.pem"})
    assert settings.listen_tls == [("127.0.0.1", 853), ("::1", 8853)]
    assert settings.tls_key == Path("/etc/resolver/key.pem")
    with pytest.raises(ConfigError, match="listen-tls"):
        apply(Settings(), {"listen-tls": ["127.0.0.1:99999"]})


@pytest.mark.skipif(shutil.which("dig") is None,
                    reason="dig (BIND 9.18+, for +tls) is not on PATH; the Python ssl "
                           "client test above covers DNS over TLS")
def test_dig_tls(dot: tuple[DnsServer, Path]) -> None:
    server, _ = dot
    port = server.bound_tls[0][1]
    out = subprocess.run(["dig", "+tls", "-p", str(port), f"@{HOST}", "www.lab.", "A",
                          "+tries=1", "+time=5"], capture_output=True, text=True, timeout=30)
    if "Invalid option" in out.stderr or "+tls" in out.stderr:
        pytest.skip(f"this dig does not speak +tls: {out.stderr.strip()}")
    assert "192.0.2.70" in out.stdout, out.stdout + out.stderr


def test_serve_reloads_the_certificate_on_sighup(tmp_path: Path) -> None:
    """``serve --config`` with listen-tls, as a process: after the files are replaced
    and SIGHUP, a new handshake gets the new certificate."""
    from tests.ops.test_serve_process import _free_port, _start, _stop

    port, tls_port = _free_port(), _free_port()
    cert, key = make_cert(tmp_path, "old.test")
    config = tmp_path / "resolver.toml"
    config.write_text(f'listen = ["127.0.0.1:{port}"]\napi = "off"\n'
                      f'listen-tls = ["127.0.0.1:{tls_port}"]\n'
                      f'tls-cert = "{cert}"\ntls-key = "{key}"\n')
    proc = _start(["--config", str(config)], tmp_path)
    try:
        wire = [query("localhost.").to_wire()]
        replies, _ = dot_exchange(tls_port, client_context(cert), wire, "old.test")
        assert wm.parse(replies[0]).answer
        new_cert, new_key = make_cert(tmp_path, "new.test")
        new_cert.replace(cert)
        new_key.replace(key)
        os.kill(proc.pid, signal.SIGHUP)
        deadline = time.monotonic() + 10
        while True:
            try:
                _, seen = dot_exchange(tls_port, client_context(cert), wire, "new.test")
                break
            except ssl.SSLCertVerificationError:
                assert time.monotonic() < deadline, "the certificate was not reloaded"
                time.sleep(0.2)
        assert dict(x[0] for x in seen["subject"])["commonName"] == "new.test"  # type: ignore[index]
    finally:
        out = _stop(proc)
    assert "configuration reloaded" in out, out
