"""Certificate helpers shared by DANE (RFC 6698, RFC 7671, RFC 7672) and SMIMEA (RFC 8162).

Everything here is a pure function over :mod:`cryptography` objects: TLSA selector
and matching-type data (RFC 6698 s2.1.2-2.1.3), issuer and bare-key signature checks,
validity dates, CA flags, reference-identifier matching for DNS names (RFC 6125 s6.4,
RFC 7672 s3.2.3) and e-mail addresses (RFC 8550 s3), domain names to A-labels
(RFC 5890/5891), trust stores and PKIX path validation through
``cryptography.x509.verification``.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import logging
import os
import re
import ssl
import unicodedata
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509 import verification
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

log = logging.getLogger(__name__)

SERVER_AUTH = ExtendedKeyUsageOID.SERVER_AUTH
EMAIL_PROTECTION = ExtendedKeyUsageOID.EMAIL_PROTECTION
_ANY_EKU = ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE
# id-on-SmtpUTF8Mailbox (RFC 9598 s3): internationalized mailbox in an otherName.
SMTP_UTF8_MAILBOX = ObjectIdentifier("1.3.6.1.5.5.7.8.9")


class DomainError(ValueError):
    """A domain name that cannot be turned into a DNS host name."""


# --------------------------------------------------------------------------
# TLSA data (RFC 6698 s2.1.2 selector, s2.1.3 matching type)

def selector_data(cert: x509.Certificate, selector: int) -> bytes:
    """Selector 0: the full certificate DER; 1: the SubjectPublicKeyInfo DER."""
    if selector == 0:
        return cert.public_bytes(serialization.Encoding.DER)
    if selector == 1:
        return spki_der(cert)
    raise ValueError(f"unknown TLSA selector {selector}")


def spki_der(cert: x509.Certificate) -> bytes:
    return cert.public_key().public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo)


def load_spki(data: bytes) -> CertificatePublicKeyTypes | None:
    """A DER SubjectPublicKeyInfo as a key that can verify certificate signatures."""
    try:
        key = serialization.load_der_public_key(data)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return None
    if isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey
                  | ed448.Ed448PublicKey | dsa.DSAPublicKey):
        return key
    return None


def association_data(data: bytes, mtype: int) -> bytes:
    """Matching type 0: the data itself; 1: SHA-256; 2: SHA-512."""
    if mtype == 0:
        return data
    if mtype == 1:
        return hashlib.sha256(data).digest()
    if mtype == 2:
        return hashlib.sha512(data).digest()
    raise ValueError(f"unknown TLSA matching type {mtype}")


# --------------------------------------------------------------------------
# signatures, dates, CA flags

def issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """True when *issuer*'s subject is *cert*'s issuer and its key verifies the signature
    (RFC 5280 s6.1.3 (a)(1) and (a)(4))."""
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def signed_by_key(cert: x509.Certificate, key: CertificatePublicKeyTypes) -> bool:
    """True when the bare public *key* verifies *cert*'s signature (a DANE-TA(2) SPKI(1)
    Full(0) trust anchor, RFC 7671 s5.2.3: there is no issuer name to compare)."""
    sig = cert.signature
    tbs = cert.tbs_certificate_bytes
    try:
        hash_alg = cert.signature_hash_algorithm
        if isinstance(key, rsa.RSAPublicKey):
            params = cert.signature_algorithm_parameters
            if not isinstance(params, padding.PSS | padding.PKCS1v15) or hash_alg is None:
                return False
            key.verify(sig, tbs, params, hash_alg)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            if hash_alg is None:
                return False
            key.verify(sig, tbs, ec.ECDSA(hash_alg))
        elif isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
            key.verify(sig, tbs)
        elif isinstance(key, dsa.DSAPublicKey):
            if not isinstance(hash_alg, hashes.HashAlgorithm):
                return False
            key.verify(sig, tbs, hash_alg)
        else:
            return False
    except (InvalidSignature, UnsupportedAlgorithm, ValueError, TypeError):
        return False
    return True


def as_utc(moment: datetime.datetime | None) -> datetime.datetime:
    """*moment* as an aware UTC time (naive values are taken as UTC); None is now."""
    if moment is None:
        return datetime.datetime.now(datetime.UTC)
    if moment.tzinfo is None:
        return moment.replace(tzinfo=datetime.UTC)
    return moment.astimezone(datetime.UTC)


def validity_problem(cert: x509.Certificate, now: datetime.datetime) -> str | None:
    """Why *cert* is outside its validity period at *now* (RFC 5280 s6.1.3 (a)(2)), or None."""
    if now < cert.not_valid_before_utc:
        return f"not valid before {cert.not_valid_before_utc.isoformat()}"
    if now > cert.not_valid_after_utc:
        return f"expired {cert.not_valid_after_utc.isoformat()}"
    return None


def _extension(cert: x509.Certificate, kind: type[x509.ExtensionType]) -> x509.Extension[
        x509.ExtensionType] | None:
    try:
        return cert.extensions.get_extension_for_class(kind)
    except x509.ExtensionNotFound:
        return None
    except ValueError:  # duplicate or malformed extensions
        return None


def ca_problem(cert: x509.Certificate, below: int) -> str | None:
    """Why *cert* may not issue certificates, or None (RFC 5280 s6.1.4 (k), (l), (n)).
    *below* is the number of intermediate CA certificates under it in the path."""
    ext = _extension(cert, x509.BasicConstraints)
    if ext is None:
        return "no basicConstraints: not a CA certificate"
    bc = ext.value
    assert isinstance(bc, x509.BasicConstraints)
    if not bc.ca:
        return "basicConstraints cA is false"
    if bc.path_length is not None and below > bc.path_length:
        return f"pathLenConstraint {bc.path_length} exceeded"
    ku = _extension(cert, x509.KeyUsage)
    if ku is not None:
        value = ku.value
        assert isinstance(value, x509.KeyUsage)
        if not value.key_cert_sign:
            return "keyUsage lacks keyCertSign"
    return None


def eku_allows(cert: x509.Certificate, purpose: ObjectIdentifier) -> bool:
    """True when *cert* has no extendedKeyUsage or it lists *purpose* or anyExtendedKeyUsage
    (RFC 5280 s4.2.1.12)."""
    ext = _extension(cert, x509.ExtendedKeyUsage)
    if ext is None:
        return True
    value = ext.value
    assert isinstance(value, x509.ExtendedKeyUsage)
    return purpose in value or _ANY_EKU in value


# --------------------------------------------------------------------------
# domain names

_DOTS = str.maketrans({"\u3002": ".", "\uff0e": ".", "\uff61": "."})
_LDH = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")


def domain_to_ascii(text: str) -> str:
    """A domain as lowercase A-labels, without the final dot.

    ASCII labels are lowercased. A non-ASCII label is NFC-normalised, lowercased and
    Punycode-encoded with the ``xn--`` prefix (RFC 5891 s4.4, RFC 3492) -- IDNA2008
    style, so ``ß`` stays ``ß`` (``xn--strae-oqa``) instead of IDNA2003's ``ss``. The
    IDNA2008 code point tables are not applied; letters, digits, combining marks and
    hyphens are accepted. Every resulting label must be LDH (RFC 5321 s4.1.2 Domain),
    at most 63 octets, the name at most 253. Raises :class:`DomainError`.
    """
    if not isinstance(text, str):
        raise DomainError("domain must be text")
    text = text.translate(_DOTS)
    if text.endswith("."):
        text = text[:-1]
    if not text:
        raise DomainError("empty domain")
    labels = []
    for label in text.split("."):
        if not label:
            raise DomainError(f"empty label in domain {text!r}")
        if label.isascii():
            alabel = label.lower()
            if alabel.startswith("xn--"):
                try:
                    alabel[4:].encode("ascii").decode("punycode")
                except UnicodeError as exc:
                    raise DomainError(f"bad A-label {label!r}") from exc
        else:
            ulabel = unicodedata.normalize("NFC", label).lower()
            for ch in ulabel:
                if not (ch.isalnum() or ch == "-" or unicodedata.category(ch) in ("Mn", "Mc")):
                    raise DomainError(f"character {ch!r} not allowed in domain {text!r}")
            alabel = "xn--" + ulabel.encode("punycode").decode("ascii")
        if len(alabel) > 63:
            raise DomainError(f"label longer than 63 octets in domain {text!r}")
        if not set(alabel) <= _LDH or alabel.startswith("-") or alabel.endswith("-"):
            raise DomainError(f"label {label!r} is not a host name label")
        labels.append(alabel)
    name = ".".join(labels)
    if len(name) > 253:
        raise DomainError("domain longer than 253 octets")
    return name


def normalize_reference(name: object) -> str:
    """A reference identifier (str or :class:`~resolver.wire.name.Name`) in the form
    certificate names are compared in: lowercase A-labels, no final dot."""
    text = name.to_text(omit_final_dot=True) if hasattr(name, "to_text") else str(name)
    if text in ("", "."):
        raise DomainError("empty reference identifier")
    try:
        return domain_to_ascii(text)
    except DomainError:
        # not a host name (e.g. an underscore label): compare it as given, lowercased
        return text.rstrip(".").lower()


def presented_dns_ids(cert: x509.Certificate) -> list[str]:
    """The certificate's DNS-IDs: subjectAltName dNSName entries; the subject CN-IDs
    only when there is no dNSName at all (RFC 6125 s6.4.4)."""
    ext = _extension(cert, x509.SubjectAlternativeName)
    names: list[str] = []
    if ext is not None:
        value = ext.value
        assert isinstance(value, x509.SubjectAlternativeName)
        names = [n.lower().rstrip(".") for n in value.get_values_for_type(x509.DNSName)]
    if names:
        return names
    cns = []
    for attr in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME):
        value_text = attr.value if isinstance(attr.value, str) else attr.value.decode("latin-1")
        cns.append(value_text.lower().rstrip("."))
    return cns


def dns_id_matches(presented: str, reference: str) -> bool:
    """RFC 6125 s6.4.1/s6.4.3 as narrowed by RFC 7672 s3.2.3: exact match, or ``*`` as the
    whole left-most label matching exactly one label, with at least two labels after it."""
    if not presented or not reference:
        return False
    if presented == reference:
        return True
    if not presented.startswith("*."):
        return False
    rest = presented[2:]
    if "*" in rest or rest.count(".") < 1:
        return False
    head, _, tail = reference.partition(".")
    return bool(head) and tail == rest


def match_dns_names(cert: x509.Certificate, references: Sequence[str]) -> str | None:
    """The first reference identifier that one of the certificate's DNS-IDs matches."""
    presented = presented_dns_ids(cert)
    for ref in references:
        for pid in presented:
            if dns_id_matches(pid, ref):
                return ref
    return None


# --------------------------------------------------------------------------
# e-mail addresses (RFC 8550 s3, RFC 9598)

def split_email(address: str) -> tuple[str, str]:
    """(local part, domain) split at the last ``@``; no validation."""
    local, sep, domain = address.rpartition("@")
    if not sep:
        raise ValueError(f"no '@' in {address!r}")
    return local, domain


def _der_utf8string(data: bytes) -> str | None:
    if len(data) < 2 or data[0] != 0x0C:
        return None
    length = data[1]
    pos = 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 2 or len(data) < 2 + count:
            return None
        length = int.from_bytes(data[2:2 + count], "big")
        pos = 2 + count
    if pos + length != len(data):
        return None
    try:
        return data[pos:].decode("utf-8")
    except UnicodeDecodeError:
        return None


def presented_emails(cert: x509.Certificate) -> list[str]:
    """The certificate's mailboxes: subjectAltName rfc822Name and SmtpUTF8Mailbox entries;
    the subject emailAddress attribute only when the SAN has none (RFC 8550 s3)."""
    ext = _extension(cert, x509.SubjectAlternativeName)
    found: list[str] = []
    if ext is not None:
        value = ext.value
        assert isinstance(value, x509.SubjectAlternativeName)
        found.extend(value.get_values_for_type(x509.RFC822Name))
        for other in value.get_values_for_type(x509.OtherName):
            if other.type_id == SMTP_UTF8_MAILBOX:
                text = _der_utf8string(other.value)
                if text is not None:
                    found.append(text)
    if found:
        return found
    for attr in cert.subject.get_attributes_for_oid(NameOID.EMAIL_ADDRESS):
        if isinstance(attr.value, str):
            found.append(attr.value)
    return found


def email_matches(presented: str, reference: str) -> bool:
    """Local parts compare exactly, domains case-insensitively as A-labels
    (RFC 5280 s7.5, RFC 5321 s2.4)."""
    try:
        p_local, p_domain = split_email(presented)
        r_local, r_domain = split_email(reference)
    except ValueError:
        return False
    if p_local != r_local:
        return False
    try:
        return domain_to_ascii(p_domain) == domain_to_ascii(r_domain)
    except DomainError:
        return p_domain.lower() == r_domain.lower()


def match_email(cert: x509.Certificate, references: Sequence[str]) -> str | None:
    presented = presented_emails(cert)
    for ref in references:
        if any(email_matches(p, ref) for p in presented):
            return ref
    return None


# --------------------------------------------------------------------------
# trust stores and PKIX (RFC 5280 s6) for PKIX-TA(0) / PKIX-EE(1)

_PEM_BLOCK = re.compile(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.S)


def load_pem_bundle(path: str | os.PathLike[str]) -> list[x509.Certificate]:
    """Every certificate of a PEM bundle that parses; the others are skipped with a log
    line (platform bundles hold a few that newer parsers reject, e.g. negative serials)."""
    with open(path, "rb") as fh:
        data = fh.read()
    certs: list[x509.Certificate] = []
    for block in _PEM_BLOCK.findall(data):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CryptographyDeprecationWarning)
            try:
                certs.append(x509.load_pem_x509_certificate(block))
            except ValueError as exc:
                log.info("skipping a certificate in %s: %s", path, exc)
    return certs


@functools.lru_cache(maxsize=1)
def system_trust_store() -> tuple[x509.Certificate, ...]:
    """The platform's CA bundle as OpenSSL is configured to find it (loaded once)."""
    paths = ssl.get_default_verify_paths()
    certs: list[x509.Certificate] = []
    for cafile in (paths.cafile, paths.openssl_cafile):
        if cafile and os.path.isfile(cafile):
            try:
                certs.extend(load_pem_bundle(cafile))
            except (OSError, ValueError) as exc:
                log.warning("cannot read CA bundle %s: %s", cafile, exc)
            if certs:
                return tuple(certs)
    for capath in (paths.capath, paths.openssl_capath):
        if capath and os.path.isdir(capath):
            for entry in sorted(os.listdir(capath)):
                full = os.path.join(capath, entry)
                if not os.path.isfile(full):
                    continue
                try:
                    certs.extend(load_pem_bundle(full))
                except (OSError, ValueError):
                    continue
            if certs:
                return tuple(certs)
    log.warning("no system trust store found")
    return tuple(certs)


TrustStore = Sequence[x509.Certificate] | verification.Store


@dataclass(frozen=True, slots=True)
class PkixResult:
    """A PKIX path (leaf first, trust anchor last) or why none was found."""

    chain: tuple[x509.Certificate, ...] = ()
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def _ca_validator(policy: verification.Policy, cert: x509.Certificate,
                  ext: x509.BasicConstraints) -> None:
    if not ext.ca:
        raise ValueError("basicConstraints cA is false")


def _ku_validator(policy: verification.Policy, cert: x509.Certificate,
                  ext: x509.KeyUsage | None) -> None:
    if ext is not None and not ext.key_cert_sign:
        raise ValueError("keyUsage lacks keyCertSign")


def _eku_validator(purpose: ObjectIdentifier) -> Callable[
        [verification.Policy, x509.Certificate, x509.ExtendedKeyUsage | None], None]:
    def check(policy: verification.Policy, cert: x509.Certificate,
              ext: x509.ExtendedKeyUsage | None) -> None:
        if ext is not None and purpose not in ext and _ANY_EKU not in ext:
            raise ValueError(f"extendedKeyUsage lacks {purpose.dotted_string}")
    return check


def pkix_path(leaf: x509.Certificate, intermediates: Iterable[x509.Certificate],
              trust_store: TrustStore | None, now: datetime.datetime,
              purpose: ObjectIdentifier = SERVER_AUTH) -> PkixResult:
    """Build and validate a path from *leaf* to a certificate of *trust_store* (the system
    store when None) at *now* with ``cryptography.x509.verification``.

    Only path validation is done here: names are checked by the caller, so the same
    reference-identifier rules apply to every TLSA usage. The extension policy is the
    RFC 5280 core rather than the Web PKI profile (CA certificates need basicConstraints
    cA, keyCertSign if keyUsage is present; the leaf's extendedKeyUsage, if present, must
    allow *purpose*); criticality and key identifiers are not policed.
    """
    if trust_store is None:
        anchors: TrustStore = system_trust_store()
    else:
        anchors = trust_store
    if isinstance(anchors, verification.Store):
        store = anchors
    else:
        if not anchors:
            return PkixResult(error="empty trust store")
        store = verification.Store(list(anchors))
    ca_policy = (verification.ExtensionPolicy.permit_all()
                 .require_present(x509.BasicConstraints, verification.Criticality.AGNOSTIC,
                                  _ca_validator)
                 .may_be_present(x509.KeyUsage, verification.Criticality.AGNOSTIC,
                                 _ku_validator))
    ee_policy = (verification.ExtensionPolicy.permit_all()
                 .may_be_present(x509.ExtendedKeyUsage, verification.Criticality.AGNOSTIC,
                                 _eku_validator(purpose)))
    try:
        verifier = (verification.PolicyBuilder().store(store).time(now)
                    .extension_policies(ca_policy=ca_policy, ee_policy=ee_policy)
                    .build_client_verifier())
        verified = verifier.verify(leaf, list(intermediates))
    except verification.VerificationError as exc:
        return PkixResult(error=str(exc))
    except (ValueError, TypeError) as exc:
        return PkixResult(error=f"cannot validate: {exc}")
    return PkixResult(chain=tuple(verified.chain))
