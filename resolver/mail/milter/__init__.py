"""An inbound mail filter speaking the Sendmail/Postfix milter protocol (version 6).

For every message it runs SPF, DKIM and DMARC on the validating resolver and prepends
an ``Authentication-Results:`` field (RFC 8601) whose comments carry the DNSSEC status
of the lookups behind each result; policy (:mod:`.policy`) may reject, quarantine or
defer. :mod:`.protocol` documents the wire protocol and why it is implemented here.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING

from ...config import ConfigError
from .policy import MilterPolicy, default_authserv_id
from .server import MilterServer

if TYPE_CHECKING:
    from ...config import Settings
    from ...service import Resolver

__all__ = ["MilterPolicy", "MilterServer", "default_authserv_id", "milter_from_settings"]


def milter_from_settings(resolver: Resolver, settings: Settings) -> MilterServer:
    """The milter of ``serve --milter`` / the ``milter`` key, on *resolver*."""
    from ..source import ResolverDns

    if settings.milter is None:
        raise ValueError("no milter address configured")
    policy = MilterPolicy(
        authserv_id=settings.milter_authserv_id or default_authserv_id(),
        dmarc_reject=settings.milter_policy_dmarc_reject,
        dmarc_quarantine=settings.milter_policy_dmarc_quarantine,
        spf_fail=settings.milter_policy_spf_fail,
        tempfail_on_dns_error=settings.milter_tempfail_on_dns_error)
    host, port = settings.milter
    for net in settings.milter_allow:
        try:
            ipaddress.ip_network(net, strict=False)
        except ValueError:
            raise ConfigError(f"milter-allow: {net!r} is not an address or network") from None
    return MilterServer(ResolverDns(resolver), policy, host, port,
                        allow=settings.milter_allow, timeout=settings.milter_timeout,
                        counters=resolver.counters)
