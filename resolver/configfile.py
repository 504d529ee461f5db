"""The TOML configuration file: every ``serve`` option has a key; unknown keys and
bad values are rejected with a message naming the key.

Example (see ``contrib/resolver.toml``)::

    listen = ["127.0.0.1:53", "[::1]:53"]
    validate = true
    cache-size-mb = 64
    nodefault = ["test."]
    [limits]
    upstream-queries = 200
"""

from __future__ import annotations

import ipaddress
import time
import tomllib
from dataclasses import fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .config import (
    LOCAL_ZONE_TYPES,
    ConfigError,
    ForwardZone,
    IterLimits,
    LocalZoneConfig,
    Settings,
    parse_duration,
    parse_listen,
)
from .forward_tls import DOT_PORT, server_text, split_server_name, tls_options
from .wire.name import Name, NameError_
from .wire.zonefile import ZoneFileError, read_rr_line

_PATH_KEYS = {"root-hints", "auto-trust-anchor-file", "control-socket", "tls-cert", "tls-key",
              "mta-sts-ca-file"}
_PATH_LIST_KEYS = {"trust-anchors"}


def setting_attr(key: str) -> str:
    return key.replace("-", "_")


def _check_type(key: str, value: Any, expected: type | tuple[type, ...]) -> None:
    if isinstance(value, bool) and expected in (int, float, (int, float)):
        raise ConfigError(f"{key}: expected a number, got {value!r}")
    if not isinstance(value, expected):
        names = expected.__name__ if isinstance(expected, type) else " or ".join(
            t.__name__ for t in expected)
        raise ConfigError(f"{key}: expected {names}, got {type(value).__name__} {value!r}")


def apply(settings: Settings, data: dict[str, Any], source: str = "config") -> Settings:
    """Apply a parsed TOML document to *settings* (modified in place and returned)."""
    simple = {f.name: f for f in fields(Settings)}
    for key, value in data.items():
        where = f"{source}: {key}"
        if key == "limits":
            _check_type(where, value, dict)
            _apply_limits(settings.iter_limits, value, source)
            continue
        if key in ("listen", "listen-tls"):
            _check_type(where, value, list)
            try:
                setattr(settings, setting_attr(key), [
                    parse_listen(str(v), 853 if key == "listen-tls" else 53, key)
                    for v in value])
            except ConfigError as exc:
                raise ConfigError(f"{source}: {exc}") from None
            continue
        if key == "ratelimit-action":
            _check_type(where, value, str)
            if value not in RATELIMIT_ACTIONS:
                raise ConfigError(f"{where}: expected \"tc\" or \"drop\", got {value!r}")
            settings.ratelimit_action = value
            continue
        if key in ("api", "metrics", "milter", "tls-policy"):
            _check_type(where, value, str)
            try:
                address = None if value == "off" else parse_listen(
                    value, {"api": 8053, "metrics": 9153, "tls-policy": 8461}.get(key, 8891),
                    key)
            except ConfigError as exc:
                raise ConfigError(f"{source}: {exc}") from None
            setattr(settings, setting_attr(key), address)
            continue
        if key == "mta-sts-port":
            _check_type(where, value, int)
            if not 0 < value <= 65535:
                raise ConfigError(f"{where}: expected a port number (1-65535), got {value}")
            settings.mta_sts_port = value
            continue
        if key == "negative-trust-anchors":
            _check_type(where, value, list)
            settings.negative_anchors = []
            for item in value:
                _check_type(where, item, dict)
                zone = item.get("zone")
                until = item.get("until")
                if "for" in item and until is None:   # a human duration from now: "2d"
                    try:
                        until = time.time() + parse_duration(item["for"])
                    except ConfigError as exc:
                        raise ConfigError(f"{where}: {exc}") from None
                if not isinstance(zone, str) or isinstance(until, bool) \
                        or not isinstance(until, (int, float)):
                    raise ConfigError(f"{where}: each entry needs zone (string) and until "
                                      "(seconds since the epoch) or for (a duration: "
                                      "\"12h\", \"2d\")")
                settings.negative_anchors.append((zone, float(until)))
            continue
        if key in ("forward", "stub"):
            _apply_forward(settings, key, value, where)
            continue
        if key == "local-zone":
            _apply_local_zones(settings, value, where)
            continue
        if key == "control-group":
            _check_type(where, value, str)
            settings.control_group = value or None
            continue
        if key in _LOGGING_KEYS:
            _apply_logging(settings, key, value, where)
            continue
        if key in MILTER_CHOICES or key in ("milter-authserv-id", "milter-timeout"):
            _apply_milter(settings, key, value, where)
            continue
        if key in ("api-max-body", "tcp-reuse-timeout", "max-reuse-tcp-queries"):
            _check_type(where, value, int)
            if value <= 0:
                raise ConfigError(f"{where}: must be positive")
            setattr(settings, setting_attr(key), value)
            continue
        if key == "workers":
            _check_type(where, value, int)
            if not 0 <= value <= MAX_WORKERS:
                raise ConfigError(f"{where}: expected 0 (one per usable core) to "
                                  f"{MAX_WORKERS}, got {value}")
            settings.workers = value
            continue
        if key in ("cachedb", "cachedb-timeout-ms", "cachedb-tls-ca-file"):
            _apply_cachedb(settings, key, value, where)
            continue
        attr = setting_attr(key)
        if attr not in simple or attr in ("iter_limits", "validation_limits"):
            raise ConfigError(f"{where}: unknown key")
        current = getattr(settings, attr)
        if key in _PATH_KEYS:
            _check_type(where, value, str)
            setattr(settings, attr, Path(value))
        elif key in _PATH_LIST_KEYS:
            _check_type(where, value, list)
            setattr(settings, attr, [Path(str(v)) for v in value])
        elif isinstance(current, bool):
            _check_type(where, value, bool)
            setattr(settings, attr, value)
        elif isinstance(current, (int, float)):
            _check_type(where, value, (int, float))
            if value < 0:
                raise ConfigError(f"{where}: must not be negative")
            setattr(settings, attr, type(current)(value))
        elif isinstance(current, list):
            _check_type(where, value, list)
            setattr(settings, attr, [str(v) for v in value])
        else:
            raise ConfigError(f"{where}: cannot be set from a file")
    return settings


# keys of logging and of the privilege drop: text values from a fixed set, or names
_LOGGING_KEYS = {"log-level", "log-file", "log-format", "user"}
LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_FORMATS = ("text", "json")
RATELIMIT_ACTIONS = ("tc", "drop")     # ratelimit-per-client: what an excess query gets
# the milter's policy keys and their values (resolver.mail.milter.policy)
MILTER_CHOICES = {"milter-policy-dmarc-reject": ("none", "reject", "quarantine"),
                  "milter-policy-dmarc-quarantine": ("none", "quarantine"),
                  "milter-policy-spf-fail": ("none", "reject", "tag"),
                  "milter-policy-spf-helo-fail": ("none", "reject")}


def _apply_milter(settings: Settings, key: str, value: Any, where: str) -> None:
    if key == "milter-timeout":
        _check_type(where, value, (int, float))
        if value <= 0:
            raise ConfigError(f"{where}: must be positive")
        settings.milter_timeout = float(value)
        return
    _check_type(where, value, str)
    choices = MILTER_CHOICES.get(key)
    if choices is not None and value not in choices:
        raise ConfigError(f"{where}: expected one of {', '.join(choices)}, got {value!r}")
    setattr(settings, setting_attr(key), value if choices else (value or None))
MAX_WORKERS = 64                       # workers: serving processes at most


def _apply_logging(settings: Settings, key: str, value: Any, where: str) -> None:
    """``log-level``, ``log-file``, ``log-format`` and ``user``."""
    _check_type(where, value, str)
    if key == "log-level":
        if value.lower() not in LOG_LEVELS:
            raise ConfigError(f"{where}: expected one of {', '.join(LOG_LEVELS)}, "
                              f"got {value!r}")
        settings.log_level = value.lower()
    elif key == "log-format":
        if value not in LOG_FORMATS:
            raise ConfigError(f"{where}: expected \"text\" or \"json\", got {value!r}")
        settings.log_format = value
    elif key == "log-file":
        if not value:
            raise ConfigError(f"{where}: empty path (leave the key out for standard error)")
        settings.log_file = Path(value)
    else:
        if not value or value != value.strip():
            raise ConfigError(f"{where}: expected a user name, got {value!r}")
        settings.user = value


CACHEDB_SCHEMES = ("redis", "rediss", "unix")


def check_cachedb_url(url: str, where: str = "cachedb") -> str:
    """A Redis URL for ``cachedb``: redis://HOST[:PORT][/DB], rediss://... (TLS) or
    unix:///PATH[?db=N]; ConfigError naming *where* otherwise."""
    parts = urlsplit(url)
    if parts.scheme not in CACHEDB_SCHEMES:
        raise ConfigError(f"{where}: expected redis://HOST:PORT/DB or unix:///PATH, "
                          f"got {url!r}")
    try:
        port = parts.port
    except ValueError:
        raise ConfigError(f"{where}: bad port in {url!r}") from None
    if parts.scheme == "unix":
        if parts.netloc or not parts.path.startswith("/"):
            raise ConfigError(f"{where}: a Unix socket needs an absolute path, got {url!r}")
        return url
    if not parts.hostname:
        raise ConfigError(f"{where}: no host in {url!r}")
    if port == 0:
        raise ConfigError(f"{where}: port 0 in {url!r}")
    db = parts.path.strip("/")
    if db and not db.isdigit():
        raise ConfigError(f"{where}: the database must be a number, got {db!r}")
    return url


def check_ca_file(text: str, where: str) -> Path:
    """A readable file of PEM CA certificates; ConfigError naming *where* otherwise."""
    import ssl
    path = Path(text)
    try:
        ssl.create_default_context(cafile=str(path))
    except FileNotFoundError:
        raise ConfigError(f"{where}: no such file {text!r}") from None
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"{where}: not a readable file of PEM CA certificates "
                          f"({text!r}: {exc})") from None
    return path


def _apply_cachedb(settings: Settings, key: str, value: Any, where: str) -> None:
    if key == "cachedb":
        _check_type(where, value, str)
        settings.cachedb = check_cachedb_url(value, where) if value else None
        return
    if key == "cachedb-tls-ca-file":
        _check_type(where, value, str)
        settings.cachedb_tls_ca_file = check_ca_file(value, where) if value else None
        return
    _check_type(where, value, (int, float))
    if not 0 < value <= 10000:
        raise ConfigError(f"{where}: expected milliseconds from 1 to 10000, got {value}")
    settings.cachedb_timeout_ms = float(value)


NTA_FOREVER = 253402300799.0     # 9999-12-31T23:59:59Z: the NTA of an insecure block
_FORWARD_KEYS = {"zone", "servers", "tls", "tls-name", "tls-ca-file", "insecure"}


def parse_server(text: str, what: str, default_port: int = 53) -> tuple[str, int]:
    """``ADDR`` or ``ADDR@PORT`` (IPv4 or IPv6, as Unbound's forward-addr) -> (address,
    port); a name instead of an address is refused."""
    host, at, port = text.strip().partition("@")
    try:
        address = str(ipaddress.ip_address(host))
    except ValueError:
        raise ConfigError(f"{what}: {text!r} is not an IP address "
                          "(use ADDR or ADDR@PORT)") from None
    try:
        number = int(port) if at else default_port
    except ValueError:
        raise ConfigError(f"{what}: bad port in {text!r}") from None
    if not 0 < number <= 65535:
        raise ConfigError(f"{what}: port out of range in {text!r}")
    return address, number


def _apply_forward(settings: Settings, key: str, value: Any, where: str) -> None:
    """``[[forward]]`` and ``[[stub]]`` blocks: zone, servers, tls with tls-name and
    tls-ca-file (see :mod:`resolver.forward_tls`), insecure (a negative trust anchor
    for the zone)."""
    _check_type(where, value, list)
    for index, item in enumerate(value):
        here = f"{where}[{index}]"
        _check_type(here, item, dict)
        unknown = sorted(set(item) - _FORWARD_KEYS)
        if unknown:
            raise ConfigError(f"{here}: unknown key {unknown[0]!r}")
        zone = item.get("zone")
        if not isinstance(zone, str) or not zone:
            raise ConfigError(f"{here}.zone: expected a zone name such as \"corp.example.\"")
        if not zone.endswith("."):
            zone += "."
        try:
            Name.from_text(zone)
        except NameError_ as exc:
            raise ConfigError(f"{here}.zone: bad name {zone!r}: {exc}") from None
        servers = item.get("servers")
        if not isinstance(servers, list) or not servers \
                or not all(isinstance(s, str) for s in servers):
            raise ConfigError(f"{here}.servers: expected a non-empty list of addresses "
                              "(\"192.0.2.53\", \"2001:db8::53@5353\")")
        tls = item.get("tls", False)
        _check_type(f"{here}.tls", tls, bool)
        names: dict[tuple[str, int], str] = {}
        addresses = []
        for text in servers:
            plain, own_name = split_server_name(text, f"{here}.servers")
            server = parse_server(plain, f"{here}.servers", DOT_PORT if tls else 53)
            addresses.append(server)
            if own_name is not None:
                names[server] = own_name
        tls_name, ca_file = tls_options(item, here, tls, names)
        if tls and tls_name is None and len(names) < len(set(addresses)):
            raise ConfigError(f"{here}.tls-name: needed with tls = true (the name the "
                              "servers' certificates carry), unless every server gives "
                              "one as ADDR@PORT#NAME")
        insecure = item.get("insecure", False)
        _check_type(f"{here}.insecure", insecure, bool)
        if any(f.zone.lower() == zone.lower() for f in settings.forward_zones):
            raise ConfigError(f"{here}.zone: {zone} is forwarded or stubbed twice")
        settings.forward_zones.append(ForwardZone(
            zone, addresses, key == "stub", tls, tls_name, ca_file, names))
        if insecure:     # an NTA for the zone, for as long as the configuration stands
            settings.negative_anchors.append((zone, NTA_FOREVER))


def _apply_local_zones(settings: Settings, value: Any, where: str) -> None:
    """``[[local-zone]]`` blocks: zone, type (Unbound's static, transparent, redirect,
    refuse, deny; default static) and local-data (records in zone-file syntax)."""
    _check_type(where, value, list)
    for index, item in enumerate(value):
        here = f"{where}[{index}]"
        _check_type(here, item, dict)
        unknown = sorted(set(item) - {"zone", "type", "local-data"})
        if unknown:
            raise ConfigError(f"{here}: unknown key {unknown[0]!r}")
        zone = item.get("zone")
        if not isinstance(zone, str) or not zone:
            raise ConfigError(f"{here}.zone: expected a zone name such as \"corp.example.\"")
        if not zone.endswith("."):
            zone += "."
        try:
            origin = Name.from_text(zone)
        except NameError_ as exc:
            raise ConfigError(f"{here}.zone: bad name {zone!r}: {exc}") from None
        kind = item.get("type", "static")
        if kind not in LOCAL_ZONE_TYPES:
            raise ConfigError(f"{here}.type: expected one of {', '.join(LOCAL_ZONE_TYPES)}, "
                              f"got {kind!r}")
        data = item.get("local-data", [])
        if not isinstance(data, list) or not all(isinstance(d, str) for d in data):
            raise ConfigError(f"{here}.local-data: expected a list of records "
                              "(\"www 3600 A 192.0.2.1\")")
        for line in data:
            try:
                rr = read_rr_line(line, origin)
            except ZoneFileError as exc:
                raise ConfigError(f"{here}.local-data: {exc}") from None
            if not rr.name.is_subdomain(origin):
                raise ConfigError(f"{here}.local-data: {line!r} is outside the zone {zone}")
        if any(z.zone.lower() == zone.lower() for z in settings.local_zones):
            raise ConfigError(f"{here}.zone: {zone} is configured twice")
        settings.local_zones.append(LocalZoneConfig(zone, kind, list(data)))


def _apply_limits(limits: IterLimits, data: dict[str, Any], source: str) -> None:
    names = {f.name for f in fields(IterLimits)}
    for key, value in data.items():
        attr = setting_attr(key)
        where = f"{source}: limits.{key}"
        if attr not in names:
            raise ConfigError(f"{where}: unknown key")
        _check_type(where, value, (int, float))
        if value <= 0:
            raise ConfigError(f"{where}: must be positive")
        current = getattr(limits, attr)
        setattr(limits, attr, type(current)(value))


# ``serve`` flag (argparse dest) -> configuration key; every flag has one.
FLAG_KEYS = {
    "listen": "listen", "api": "api", "metrics": "metrics", "query_log": "query-log",
    "root_hints": "root-hints", "trust_anchor": "trust-anchors",
    "no_validate": "validate", "allow_loopback_upstream": "allow-loopback-upstream",
    "upstream_port": "upstream-port", "nodefault": "nodefault",
    "no_qname_minimisation": "qname-minimisation", "no_ipv6_upstream": "ipv6-upstream",
    "cache_size": "cache-size-mb", "auto_trust_anchor_file": "auto-trust-anchor-file",
    "no_metrics": "metrics-counting", "no_trust_anchor_signaling": "trust-anchor-signaling",
    "control_socket": "control-socket",
    "no_serve_stale": "serve-stale", "prefetch": "prefetch",
    "listen_tls": "listen-tls", "tls_cert": "tls-cert", "tls_key": "tls-key",
    "ratelimit_per_client": "ratelimit-per-client", "ratelimit_action": "ratelimit-action",
    "ratelimit": "ratelimit", "workers": "workers", "cachedb": "cachedb", "milter": "milter",
    "tls_policy": "tls-policy", "mta_sts_ca_file": "mta-sts-ca-file",
    "mta_sts_port": "mta-sts-port",
}


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, Path):
        value = str(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise ConfigError(f"cannot write {value!r} as TOML")


def _listen_text(addr: tuple[str, int]) -> str:
    host, port = addr
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def dump(settings: Settings) -> str:
    """The TOML text that :func:`load` reads back into equal settings."""
    lines = []
    for f in fields(Settings):
        value = getattr(settings, f.name)
        key = f.name.replace("_", "-")
        if f.name in ("iter_limits", "validation_limits", "forward_zones", "local_zones"):
            continue
        if f.name in ("listen", "listen_tls"):
            value = [_listen_text(a) for a in value]
        elif f.name in ("api", "metrics", "milter", "tls_policy"):
            value = "off" if value is None else _listen_text(value)
        elif f.name == "negative_anchors":
            items = ", ".join(f'{{zone = {_toml_value(z)}, until = {u!r}}}' for z, u in value)
            lines.append(f"negative-trust-anchors = [{items}]")
            continue
        elif value is None:
            continue
        lines.append(f"{key} = {_toml_value(value)}")
    lines.append("[limits]")
    for f in fields(IterLimits):
        value = getattr(settings.iter_limits, f.name)
        lines.append(f"{f.name.replace('_', '-')} = {_toml_value(value)}")
    for fz in settings.forward_zones:
        servers = [server_text(s, fz.server_names.get(s)) for s in fz.servers]
        lines += ["[[stub]]" if fz.stub else "[[forward]]", f"zone = {_toml_value(fz.zone)}",
                  f"servers = {_toml_value(servers)}"]
        if fz.tls:
            lines.append("tls = true")
            lines += [f"tls-name = {_toml_value(fz.tls_name)}"] if fz.tls_name else []
            lines += [f"tls-ca-file = {_toml_value(fz.tls_ca_file)}"] if fz.tls_ca_file else []
    for lz in settings.local_zones:
        lines += ["[[local-zone]]", f"zone = {_toml_value(lz.zone)}",
                  f"type = {_toml_value(lz.type)}", f"local-data = {_toml_value(lz.data)}"]
    return "\n".join(lines) + "\n"


def load(path: Path, settings: Settings | None = None) -> Settings:
    try:
        data = tomllib.loads(path.read_text())
    except OSError as exc:
        raise ConfigError(f"{path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return apply(settings or Settings(), data, str(path))
