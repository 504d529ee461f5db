"""An inbound mail filter speaking the Sendmail/Postfix milter protocol (version 6).

For every message it runs SPF, DKIM and DMARC on the validating resolver and prepends
an ``Authentication-Results:`` field (RFC 8601) whose comments carry the DNSSEC status
of the lookups behind each result; policy (:mod:`.policy`) may reject, quarantine or
defer. :mod:`.protocol` documents the wire protocol and why it is implemented here.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from ...config import ConfigError
from .policy import MilterPolicy, default_authserv_id
from .server import MilterServer

if TYPE_CHECKING:
    from ...config import Settings
    from ...service import Resolver

__all__ = ["MilterPolicy", "MilterServer", "default_authserv_id", "milter_from_settings",
           "milter_reloader", "policy_from_settings"]

log = logging.getLogger(__name__)

# the settings a reload applies to new milter connections (the address is restart-only)
RELOADABLE = ("milter_allow", "milter_authserv_id", "milter_policy_dmarc_reject",
              "milter_policy_dmarc_quarantine", "milter_policy_spf_fail",
              "milter_tempfail_on_dns_error", "milter_spf_helo",
              "milter_policy_spf_helo_fail", "milter_timeout")


def policy_from_settings(settings: Settings) -> MilterPolicy:
    """The policy the ``milter*`` keys describe; ConfigError names a bad key."""
    for net in settings.milter_allow:
        try:
            ipaddress.ip_network(net, strict=False)
        except ValueError:
            raise ConfigError(f"milter-allow: {net!r} is not an address or network") from None
    try:
        return MilterPolicy(
            authserv_id=settings.milter_authserv_id or default_authserv_id(),
            dmarc_reject=settings.milter_policy_dmarc_reject,
            dmarc_quarantine=settings.milter_policy_dmarc_quarantine,
            spf_fail=settings.milter_policy_spf_fail,
            tempfail_on_dns_error=settings.milter_tempfail_on_dns_error,
            spf_helo=settings.milter_spf_helo,
            spf_helo_fail=settings.milter_policy_spf_helo_fail)
    except ValueError as exc:
        raise ConfigError(f"milter: {exc}") from None


def milter_from_settings(resolver: Resolver, settings: Settings) -> MilterServer:
    """The milter of ``serve --milter`` / the ``milter`` key, on *resolver*."""
    from ..source import ResolverDns

    if settings.milter is None:
        raise ValueError("no milter address configured")
    policy = policy_from_settings(settings)
    host, port = settings.milter
    return MilterServer(ResolverDns(resolver), policy, host, port,
                        allow=settings.milter_allow, timeout=settings.milter_timeout,
                        counters=resolver.counters)


def milter_reloader(milter: MilterServer, running: Settings) -> \
        Callable[[Settings], Callable[[], None]]:
    """A reload hook for ``serve``: called with the fresh settings it checks them
    (ConfigError refuses the whole reload) and returns the step that switches the
    milter to them. Connections open at that moment keep the policy they started
    with; new ones get the new one. A new ``milter`` address needs a restart."""

    def prepare(fresh: Settings) -> Callable[[], None]:
        policy = policy_from_settings(fresh)

        def commit() -> None:
            milter.reconfigure(policy, allow=fresh.milter_allow,
                               timeout=fresh.milter_timeout)
            for name in RELOADABLE:
                setattr(running, name, getattr(fresh, name))
            if fresh.milter != running.milter:
                log.warning("milter: a new address takes effect at the next start "
                            "(still %s:%d)", milter.host, milter.port)
            log.info("milter: policy reloaded for new connections (authserv-id %s)",
                     policy.authserv_id)
        return commit
    return prepare
