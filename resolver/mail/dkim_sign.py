"""A small DKIM signer (RFC 6376 s5; RFC 8463 for ed25519): rsa-sha256 and
ed25519-sha256 over simple or relaxed canonicalization. The verifier in
:mod:`resolver.mail.dkim` is the judge of its output; tests cross-check it with dkimpy."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

from .dkim_canon import (
    HeaderField,
    body_hash,
    canon_header,
    normalize_line_ends,
    select_headers,
    split_message,
)

PrivateKey = rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey


def sign_message(message: bytes, key: PrivateKey, *, domain: str = "example.com",
                 selector: str = "sel", algorithm: str | None = None,
                 canon: str = "relaxed/relaxed",
                 headers: Sequence[str] = ("from", "to", "subject", "date"),
                 timestamp: int | None = None, expiration: int | None = None,
                 length: int | None = None, identity: str | None = None) -> bytes:
    """Prepend a DKIM-Signature header to *message* (RFC 6376 s5). ``rsa-sha1`` is
    accepted only so tests can check that verifiers refuse it (RFC 8301)."""
    if algorithm is None:
        algorithm = "ed25519-sha256" if isinstance(key, ed25519.Ed25519PrivateKey) else "rsa-sha256"
    message = normalize_line_ends(message)
    fields, body = split_message(message)
    hc, _, bc = canon.partition("/")
    digest = "sha1" if algorithm == "rsa-sha1" else "sha256"
    bh, _ = body_hash(body, bc or "simple", length, digest)
    tags = ["v=1", f"a={algorithm}", f"c={canon}", f"d={domain}", f"s={selector}"]
    if identity is not None:
        tags.append(f"i={identity}")
    if timestamp is not None:
        tags.append(f"t={timestamp}")
    if expiration is not None:
        tags.append(f"x={expiration}")
    if length is not None:
        tags.append(f"l={length}")
    tags.append("h=" + ":".join(headers))
    tags.append("bh=" + base64.b64encode(bh).decode())
    tags.append("b=")
    head = ("DKIM-Signature: " + ";\r\n\t".join(tags)).encode()
    sig_field = HeaderField(head + b"\r\n")
    data = b"".join(canon_header(f, hc) for f in select_headers(fields, list(headers)))
    data += canon_header(sig_field, hc)[:-2]
    if isinstance(key, ed25519.Ed25519PrivateKey):
        signature = key.sign(hashlib.sha256(data).digest())
    else:
        algo = hashes.SHA1() if digest == "sha1" else hashes.SHA256()
        signature = key.sign(data, padding.PKCS1v15(), algo)
    b64 = base64.b64encode(signature).decode()
    folded = "\r\n\t ".join(b64[i:i + 64] for i in range(0, len(b64), 64))
    return head + folded.encode() + b"\r\n" + message
