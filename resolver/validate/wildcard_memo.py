"""One signature check per wildcard, not per name it is expanded to (RFC 8198 s5.3).

The RRSIGs of a wildcard expansion sign ``*.<closest encloser>`` with the wildcard's
records (RFC 4035 s5.3.2): whatever name the RRset was expanded to, the signed data
is the same. So a secure result is remembered under the wildcard owner, the records
and the RRSIGs (and the zone's key set), until the RRSIG expires; another expansion of
the same wildcard takes it with its own TTL and names, without a signature check.
The wildcard proof (that the name itself does not exist) is still checked per name by
the validator. Pure: the memo, clock reading and policy are passed in.
"""

from __future__ import annotations

from dataclasses import replace

from ..dnssec.algorithms import AlgorithmPolicy
from ..dnssec.budget import Budget
from ..dnssec.verify import KeySet, RRsetResult, seconds_left, verify_rrset
from ..lru import Lru
from ..wire.name import Name
from ..wire.rrset import RRset


def check_expansion(memo: Lru[tuple[object, ...], tuple[float, RRsetResult]],
                    rrset: RRset, keys: KeySet, zone: Name, now: float, budget: Budget,
                    policy: AlgorithmPolicy) -> RRsetResult:
    """verify_rrset for the wildcard expansion *rrset*, with *memo*."""
    labels = {sig[3] for sig in rrset.sigs if len(sig) > 3}
    if len(labels) != 1:   # RRSIGs of several label counts: no single wildcard owner
        return verify_rrset(rrset, keys, zone, now, budget, policy)
    count = labels.pop()
    owner = rrset.name
    if count >= len(owner):
        return verify_rrset(rrset, keys, zone, now, budget, policy)
    key = ("wildcard", keys, zone.key, owner.ancestor(count).key, rrset.rtype,
           tuple(rrset.rdatas), tuple(rrset.sigs))
    known = memo.use(key)
    if known is not None and known[0] > now:
        result = known[1]
        sig = result.rrsig
        assert sig is not None
        return replace(result, ttl=min(rrset.ttl, sig.original_ttl, int(known[0] - now)),
                       closest_encloser=owner.ancestor(count),
                       next_closer=owner.ancestor(count + 1))
    result = verify_rrset(rrset, keys, zone, now, budget, policy)
    if result.ok and result.wildcard and result.rrsig is not None \
            and result.rrsig.labels == count:
        memo[key] = (now + seconds_left(result.rrsig, now), result)
    return result
