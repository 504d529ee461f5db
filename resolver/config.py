"""Settings of the resolver service, with the defaults an operator moving from
Unbound would expect, and the resolution and validation limits of
docs/SECURITY.md s0. Imports nothing from the package (layer 0)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_CONTROL_SOCKET = Path("/run/resolver/control.sock")   # resolver control --socket


class ConfigError(ValueError):
    """A bad setting; the message names the key and the problem."""


@dataclass(slots=True)
class IterLimits:
    """Resolution limits (SECURITY.md s0); all of them per client query."""

    upstream_queries: int = 200        # upstream queries per client query (global quota)
    queries_per_name: int = 32         # upstream queries for one name (reset on CNAME)
    cname_chain: int = 11              # CNAME/DNAME links followed
    dependency_depth: int = 7          # nested lookups for NS addresses
    ns_per_delegation: int = 13        # NS names considered per delegation
    nxns_failures: int = 5             # failed NS address lookups (NXNSAttack)
    referrals: int = 30                # referrals followed for one name
    minimise_steps: int = 10           # QNAME-minimisation steps before the full name
    wall_clock: float = 10.0           # seconds per client query
    rrset_records: int = 100           # records per RRset cached
    rrsigs_per_rrset: int = 8          # RRSIGs kept per RRset
    ns_per_rrset: int = 20             # NS records kept per NS RRset
    cname_per_packet: int = 11         # CNAME/DNAME kept per packet
    upstream_timeout: float = 1.5      # first timeout per upstream query (grows with RTT)
    upstream_retries: int = 6          # servers tried for one step before giving up


@dataclass(slots=True)
class ValidationLimits:
    """Validation limits against KeyTrap (CVE-2023-50387) and NSEC3 hashing
    (CVE-2023-50868), SECURITY.md s0; one object so they move together. The work they
    bound is counted by :class:`resolver.dnssec.budget.Budget`."""

    sigs_per_rrset: int = 8          # RRSIG verifications per RRset
    keys_per_tag: int = 2            # DNSKEYs with the same (alg, tag) tried
    verifications: int = 32          # crypto verifications per client query
    nsec3_hashes: int = 600          # NSEC3 hash computations per client query
    nsec3_iterations: int = 50       # above this: insecure with EDE 27 (RFC 9276)
    nsec3_records: int = 8           # NSEC3 records considered per response
    ds_per_zone: int = 8             # DS records considered per zone


@dataclass(slots=True)
class ForwardZone:
    """A ``[[forward]]`` or ``[[stub]]`` block: queries at or below *zone* go to
    *servers* ((address, port) pairs). Forward: RD=1 to a recursive upstream, whose
    answer is taken (no referral followed). Stub: the iterator starts at *servers* for
    the zone as if a referral had named them (RD=0). Answers are validated either way.
    *tls*: the servers are asked over DNS over TLS (RFC 7858), their certificate checked
    against *tls_ca_file* (None: the system store) for *tls_name*, or for the name
    *server_names* gives the server (the ``ADDR@PORT#NAME`` form)."""

    zone: str
    servers: list[tuple[str, int]]
    stub: bool = False
    tls: bool = False
    tls_name: str | None = None
    tls_ca_file: str | None = None
    server_names: dict[tuple[str, int], str] = field(default_factory=dict)


LOCAL_ZONE_TYPES = ("static", "transparent", "redirect", "refuse", "deny")


@dataclass(slots=True)
class LocalZoneConfig:
    """A ``[[local-zone]]`` block (Unbound's local-zone and local-data): *type* is one
    of :data:`LOCAL_ZONE_TYPES`, *data* records in zone-file syntax (names relative to
    *zone*)."""

    zone: str
    type: str = "static"
    data: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Settings:
    listen: list[tuple[str, int]] = field(default_factory=lambda: [("127.0.0.1", 53),
                                                                   ("::1", 53)])
    root_hints: Path | None = None                  # None: the built-in IANA hints
    trust_anchors: list[Path] = field(default_factory=list)  # empty: the bundled root anchors
    validate: bool = True
    allow_loopback_upstream: bool = False
    upstream_port: int = 53
    nodefault: list[str] = field(default_factory=list)      # local zones to switch off
    qname_minimisation: bool = True
    trust_anchor_signaling: bool = True     # RFC 8145 s5 key-tag queries, as Unbound
    aggressive_nsec: bool = True            # RFC 8198 denials from validated NSEC, as Unbound
    ipv6_upstream: bool = True
    cache_size_mb: float = 64.0
    max_ttl: int = 86400
    min_ttl: int = 0
    max_negative_ttl: int = 3600
    bogus_ttl: int = 60
    serve_stale: bool = True                # RFC 8767: expired answers when servers fail
    stale_max: int = 86400                  # seconds past expiry a stale answer is served
    prefetch: bool = False                  # refresh answers hit in the last 10 % of TTL
    prefetch_key: bool = False              # the same for DNSKEY sets of the zones used
    allow_clients: list[str] = field(default_factory=lambda: ["127.0.0.0/8", "::1/128"])
    tcp_idle_timeout: float = 30.0
    tcp_max_connections: int = 128
    tcp_max_pipeline: int = 100
    edns_size: int = 1232
    udp_batch: bool = True                  # recvmmsg/sendmmsg on the UDP listeners (Linux)
    so_rcvbuf: int = 0                      # UDP listeners' receive buffer, bytes (0: OS default)
    so_sndbuf: int = 0                      # ... and send buffer
    tcp_reuse_timeout: int = 10000          # ms an idle DoT connection to a forwarder stays
    max_reuse_tcp_queries: int = 100        # queries waiting on one such connection at most
    iter_limits: IterLimits = field(default_factory=IterLimits)
    validation_limits: ValidationLimits = field(default_factory=ValidationLimits)
    legacy_algorithms: bool = False                  # RSASHA1, DSA: test profiles only
    negative_anchors: list[tuple[str, float]] = field(default_factory=list)  # (zone, until)
    auto_trust_anchor_file: Path | None = None   # RFC 5011 state (None: static anchors)
    metrics: tuple[str, int] | None = None       # separate /metrics listener, if any
    query_log: bool = False                      # one INFO line per client query
    metrics_counting: bool = True                # False: count nothing (to measure the cost)
    api: tuple[str, int] | None = ("127.0.0.1", 8053)       # None: no HTTP API
    api_allow: list[str] = field(default_factory=lambda: ["127.0.0.0/8", "::1/128"])
    api_max_body: int = 64 * 1024 * 1024    # octets of a message POSTed to the DKIM routes
    api_ui: bool = True                     # the report page (/ui/) on the API's port
    log_level: str | None = None            # debug/info/warning/error (None: -v/-q, else warning)
    log_file: Path | None = None            # None: standard error
    log_format: str = "text"                # "text" or "json" (one object per line)
    user: str | None = None                 # switch to this user after binding the ports
    workers: int = 0                        # serving processes (0: one per usable core, max 8)
    control_socket: Path | None = None          # Unix socket of ``resolver control``
    control_group: str | None = None            # group allowed to use it (mode 0660)
    forward_zones: list[ForwardZone] = field(default_factory=list)  # [[forward]], [[stub]]
    local_zones: list[LocalZoneConfig] = field(default_factory=list)  # [[local-zone]]
    listen_tls: list[tuple[str, int]] = field(default_factory=list)  # DNS over TLS (853)
    tls_cert: Path | None = None            # PEM certificate chain of the TLS listener
    tls_key: Path | None = None             # its PEM private key
    ratelimit_per_client: float = 0.0       # UDP queries per second per client (0: off)
    ratelimit_action: str = "tc"            # over the limit: "tc" (TC=1 reply) or "drop"
    ratelimit: float = 0.0                  # upstream queries per second per zone (0: off)
    # inbound mail filter (milter protocol, Postfix smtpd_milters); off by default
    milter: tuple[str, int] | None = None
    milter_allow: list[str] = field(default_factory=lambda: ["127.0.0.0/8", "::1/128"])
    milter_authserv_id: str | None = None           # None: the host name
    milter_policy_dmarc_reject: str = "none"        # none / reject / quarantine
    milter_policy_dmarc_quarantine: str = "none"    # none / quarantine
    milter_policy_spf_fail: str = "none"            # none / reject / tag
    milter_tempfail_on_dns_error: bool = True       # 451 when a lookup failed (not a pass)
    milter_spf_helo: bool = True                    # check the HELO name as an SPF identity
    milter_policy_spf_helo_fail: str = "none"       # none / reject (HELO fail alone)
    milter_timeout: float = 300.0                   # idle seconds before closing a connection
    # outbound: Postfix TLS policy socketmap (DANE, then MTA-STS); off by default
    tls_policy: tuple[str, int] | None = None
    mta_sts_ca_file: Path | None = None     # CA file for MTA-STS policy hosts (None: system)
    mta_sts_port: int = 443                 # HTTPS port of policy hosts (tests only)
    cachedb: str | None = None              # shared cache: redis://HOST:PORT/DB, unix:///PATH
    cachedb_timeout_ms: float = 50.0        # each cachedb operation at most (then: no Redis)
    cachedb_tls_ca_file: Path | None = None  # rediss://: CAs for Redis's certificate (None: system)


def parse_listen(text: str, default_port: int = 53, what: str = "listen") -> tuple[str, int]:
    """``ADDR``, ``ADDR:PORT``, ``[V6]`` or ``[V6]:PORT``; errors name *what* (the key
    or flag being read) and the text."""
    value = text.strip()
    if value.startswith("["):
        host, bracket, rest = value[1:].partition("]")
        if not bracket:
            raise ConfigError(f"{what}: {text!r} lacks the closing ']'")
        if rest and not rest.startswith(":"):
            raise ConfigError(f"{what}: {text!r}: expected ':' and a port after ']' "
                              f"(as in [::1]:{default_port})")
        port = rest[1:]
        if rest and not port:
            raise ConfigError(f"{what}: {text!r} has no port after ':'")
    elif value.count(":") == 1:
        host, _, port = value.partition(":")
        if not port:
            raise ConfigError(f"{what}: {text!r} has no port after ':'")
    else:
        host, port = value, ""
    if not host:
        raise ConfigError(f"{what}: {text!r} has no address")
    try:
        number = int(port) if port else default_port
    except ValueError:
        raise ConfigError(f"{what}: bad port in {text!r}") from None
    if not 0 <= number <= 65535:
        raise ConfigError(f"{what}: port out of range in {text!r}")
    return host, number


# seconds per unit of a human duration (``parse_duration``)
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: str | float) -> float:
    """Seconds in a human duration: ``3600``, ``30m``, ``1h``, ``2d``, ``1w``, or a sum
    such as ``1h30m``. Used by ``resolver control nta add --for`` and by the config
    file; zero, negative and malformed durations raise :class:`ConfigError`."""
    if isinstance(text, bool):
        raise ConfigError(f"bad duration {text!r}")
    if isinstance(text, (int, float)):
        total = float(text)
    else:
        value = text.strip().lower()
        total = 0.0
        number = ""
        if not value:
            raise ConfigError("empty duration")
        for char in value:
            if char.isdigit() or char == ".":
                number += char
            elif char in _DURATION_UNITS and number:
                try:
                    total += float(number) * _DURATION_UNITS[char]
                except ValueError:
                    raise ConfigError(f"bad duration {text!r}") from None
                number = ""
            else:
                raise ConfigError(f"bad duration {text!r} (use e.g. 3600, 30m, 1h, 2d, 1w)")
        if number:
            try:
                total += float(number)
            except ValueError:
                raise ConfigError(f"bad duration {text!r}") from None
    if not total > 0 or total == float("inf"):
        raise ConfigError(f"duration {text!r} must be positive")
    return total
