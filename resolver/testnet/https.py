"""The test network's HTTPS server: MTA-STS policies (RFC 8461) on loopback.

One aiohttp server on :data:`POLICY_ADDRESS` (the ``mta-sts.*`` names of
``zones/sts.example.zone`` point there) serves ``/.well-known/mta-sts.txt`` for each
host of its :class:`Site` table, choosing the site by the ``Host`` header and the
certificate by SNI. Certificates are made at start-up and signed by the test CA of
``zones/certs`` (``ca.pem``: give it to the resolver as ``mta-sts-ca-file``); a site
can instead get a certificate for another name or a self-signed one. Test-only.

:data:`STS_SITES` is the table the zones expect: enforce, testing and none modes, a
wrong certificate, a policy whose ``mx`` patterns match no MX host, and a domain with
both DANE and an enforced policy.
"""

from __future__ import annotations

import datetime
import logging
import ssl
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .hierarchy import default_zones_dir

log = logging.getLogger(__name__)

POLICY_ADDRESS = "127.0.0.28"
WELL_KNOWN = "/.well-known/mta-sts.txt"
GOOD, WRONG_NAME, SELF_SIGNED = "good", "wrong-name", "self-signed"


@dataclass(frozen=True, slots=True)
class Site:
    """What one ``mta-sts.DOMAIN`` host serves."""

    body: bytes
    status: int = 200
    content_type: str = "text/plain"
    headers: tuple[tuple[str, str], ...] = ()
    cert: str = GOOD


def policy(mode: str, *mx: str, max_age: int = 86400) -> bytes:
    lines = ["version: STSv1", f"mode: {mode}", *(f"mx: {m}" for m in mx),
             f"max_age: {max_age}"]
    return ("\r\n".join(lines) + "\r\n").encode()


STS_SITES: dict[str, Site] = {
    "mta-sts.enforce.sts.example": Site(policy(
        "enforce", "mx1.enforce.sts.example", "*.enforce.sts.example")),
    "mta-sts.testing.sts.example": Site(policy("testing", "mx1.testing.sts.example")),
    "mta-sts.none.sts.example": Site(policy("none")),
    "mta-sts.badcert.sts.example": Site(policy("enforce", "mx1.badcert.sts.example"),
                                        cert=WRONG_NAME),
    "mta-sts.mismatch.sts.example": Site(policy("enforce", "mail.elsewhere.example")),
    "mta-sts.dane.sts.example": Site(policy("enforce", "mx1.dane.sts.example")),
}


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _leaf(names: list[str], issuer: x509.Name, signer: ec.EllipticCurvePrivateKey,
          key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    return (x509.CertificateBuilder().subject_name(subject)
            .issuer_name(issuer)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]),
                           critical=False)
            .sign(signer, hashes.SHA256()))


def _context(cert: x509.Certificate, key: ec.EllipticCurvePrivateKey,
             chain: list[x509.Certificate], folder: Path, tag: str) -> ssl.SSLContext:
    pem = serialization.Encoding.PEM
    cert_path, key_path = folder / f"{tag}.pem", folder / f"{tag}.key.pem"
    cert_path.write_bytes(cert.public_bytes(pem) + b"".join(c.public_bytes(pem)
                                                              for c in chain))
    key_path.write_bytes(key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert_path, key_path)
    return ctx


@dataclass
class PolicyServer:
    """The HTTPS server; ``port`` 0 picks a free one at :meth:`start`."""

    sites: dict[str, Site] = field(default_factory=lambda: dict(STS_SITES))
    address: str = POLICY_ADDRESS
    port: int = 0
    certs_dir: Path | None = None
    requests: list[str] = field(default_factory=list)
    _runner: web.AppRunner | None = None

    @property
    def ca_file(self) -> Path:
        return (self.certs_dir or default_zones_dir() / "certs") / "ca.pem"

    def _contexts(self, folder: Path) -> dict[str, ssl.SSLContext]:
        certs = self.certs_dir or default_zones_dir() / "certs"
        ca = x509.load_pem_x509_certificate((certs / "ca.pem").read_bytes())
        ca_key = serialization.load_pem_private_key((certs / "ca.key.pem").read_bytes(), None)
        assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
        good = sorted(h for h, s in self.sites.items() if s.cert == GOOD) or ["unused.invalid"]
        key = _key()
        out = {GOOD: _context(_leaf(good, ca.subject, ca_key, key), key, [ca], folder, GOOD)}
        wrong_key = _key()
        out[WRONG_NAME] = _context(_leaf(["mta-sts.wrong-name.invalid"], ca.subject, ca_key,
                                         wrong_key), wrong_key, [ca], folder, WRONG_NAME)
        own_key = _key()
        own = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "self-signed")])
        out[SELF_SIGNED] = _context(_leaf(sorted(self.sites), own, own_key, own_key),
                                    own_key, [], folder, SELF_SIGNED)
        return out

    async def _handle(self, request: web.Request) -> web.Response:
        host = (request.host or "").rsplit(":", 1)[0].lower().rstrip(".")
        self.requests.append(host)
        site = self.sites.get(host)
        if site is None or request.path != WELL_KNOWN:
            return web.Response(status=404, text="not found\n")
        return web.Response(status=site.status, body=site.body,
                            headers={"Content-Type": site.content_type, **dict(site.headers)})

    async def start(self) -> int:
        with tempfile.TemporaryDirectory(prefix="mta-sts-certs-") as tmp:
            contexts = self._contexts(Path(tmp))
        main = contexts[GOOD]

        def pick(sslobj: ssl.SSLObject, name: str | None, _ctx: ssl.SSLContext) -> None:
            site = self.sites.get((name or "").lower().rstrip("."))
            if site is not None and site.cert != GOOD:
                sslobj.context = contexts[site.cert]

        main.sni_callback = pick
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.address, self.port, ssl_context=main)
        await site.start()
        self.port = self._runner.addresses[0][1]
        log.info("MTA-STS policy server on https://%s:%d/ (%d sites)", self.address,
                 self.port, len(self.sites))
        return self.port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
