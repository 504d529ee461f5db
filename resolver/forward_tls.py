"""The DNS-over-TLS keys of a ``[[forward]]`` (or ``[[stub]]``) block.

``tls = true`` asks the block's servers over TLS (RFC 7858) on port 853 unless a port
is given; ``tls-name`` is the name their certificate must carry (sent as SNI too), or
each server names its own with Unbound's ``ADDR@PORT#NAME`` form; ``tls-ca-file`` is a
PEM bundle of the certificate authorities to trust instead of the system store. The
values are checked here, when the configuration is read, so that a bad one is a
ConfigError naming the key, never a failure at the first query.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

from .config import ConfigError
from .wire.name import Name, NameError_

DOT_PORT = 853       # RFC 7858 s3.1


def split_server_name(text: str, what: str) -> tuple[str, str | None]:
    """``ADDR[@PORT]#NAME`` -> (``ADDR[@PORT]``, NAME); no ``#``: (text, None)."""
    address, hash_sign, name = text.partition("#")
    if not hash_sign:
        return text, None
    return address, check_tls_name(name, what)


def check_tls_name(value: Any, what: str) -> str:
    """A host name a certificate can carry: returned without a trailing dot."""
    if not isinstance(value, str) or not value.strip(".") or value != value.strip():
        raise ConfigError(f"{what}: expected a host name such as \"dns.example.net\", "
                          f"got {value!r}")
    name = value.rstrip(".")
    try:
        Name.from_text(name + ".")
    except NameError_ as exc:
        raise ConfigError(f"{what}: bad host name {value!r}: {exc}") from None
    if not all(part and (part.replace("-", "").replace("_", "").isalnum() or part == "*")
               and part.isascii() for part in name.split(".")):
        raise ConfigError(f"{what}: {value!r} is not a host name (letters, digits, "
                          "hyphens; IDNs in their xn-- form)")
    return name.lower()


def check_ca_file(value: Any, what: str) -> str:
    """A readable PEM bundle of CA certificates: its path."""
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{what}: expected the path of a PEM file of CA certificates")
    path = Path(value)
    if not path.is_file():
        raise ConfigError(f"{what}: {value}: no such file")
    try:
        context = ssl.create_default_context(cafile=str(path))
    except (OSError, ssl.SSLError, ValueError) as exc:
        raise ConfigError(f"{what}: {value}: not a PEM file of CA certificates "
                          f"({exc})") from None
    if not context.get_ca_certs():
        raise ConfigError(f"{what}: {value}: holds no CA certificate")
    return str(path)


def tls_options(item: dict[str, Any], here: str, tls: bool,
                names: dict[tuple[str, int], str]) -> tuple[str | None, str | None]:
    """Check ``tls-name`` and ``tls-ca-file`` of a block: (tls-name, tls-ca-file).
    *names*: the servers that gave their own name (``#NAME``)."""
    if not tls:
        for key in ("tls-name", "tls-ca-file"):
            if key in item:
                raise ConfigError(f"{here}.{key}: only used with tls = true")
        if names:
            raise ConfigError(f"{here}.servers: a #NAME is only used with tls = true")
        return None, None
    tls_name = check_tls_name(item["tls-name"], f"{here}.tls-name") \
        if "tls-name" in item else None
    ca_file = check_ca_file(item["tls-ca-file"], f"{here}.tls-ca-file") \
        if "tls-ca-file" in item else None
    return tls_name, ca_file


def server_text(server: tuple[str, int], name: str | None) -> str:
    """How ``dump`` writes a server back: ``ADDR@PORT`` or ``ADDR@PORT#NAME``."""
    text = f"{server[0]}@{server[1]}"
    return f"{text}#{name}" if name else text
