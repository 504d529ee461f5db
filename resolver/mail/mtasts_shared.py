"""The one MTA-STS policy cache of a ``serve`` process.

The TLS policy socketmap (``tls-policy``) and the HTTP API (``/v1/mta-sts``,
``/v1/tls-policy``) answer from the same :class:`~.mtasts_cache.MtaSts`, so a policy
fetched for one is not fetched again for the other (RFC 8461 s3.3 asks senders to
cache policies; one fetch per ``id`` is also kinder to the policy host). ``serve``
makes it once with :func:`mta_sts_from_settings` and hands it to both.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .mtasts_cache import MtaSts
from .mtasts_fetch import FetchSettings

if TYPE_CHECKING:
    from ..config import Settings
    from ..service import Resolver


def mta_sts_from_settings(resolver: Resolver, settings: Settings) -> MtaSts:
    """The policy cache for ``mta-sts-ca-file`` / ``mta-sts-port``, counting its fetches
    in the resolver's counters."""
    fetch = FetchSettings(ca_file=settings.mta_sts_ca_file, port=settings.mta_sts_port)
    return MtaSts(fetch, counters=resolver.counters)
