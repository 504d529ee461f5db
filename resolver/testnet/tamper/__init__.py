"""Forgeries an attacker on the path could make to a DNS reply (issue 13).

This is the mutation catalogue of the forgery fuzzer
(``tests/validation/test_forgery_fuzz.py``): the test network serves the signed
``zones/`` hierarchy, and for a question in a secure zone one server rewrites its
reply with one of the mutations of this package before sending it. A validating resolver must
then give either exactly the genuine data, validated (secure), or SERVFAIL: never
other data, and never "insecure".

A mutation is a small function ``(reply, rng, ctx) -> description | None``. It
changes *reply* (a :class:`~resolver.wire.message.Message` filled from the zone) in
place, drawing every choice from the seeded *rng*, and says in one line what it did;
it returns None, leaving the reply as it was, when it does not apply to this reply
(an NSEC mutation on a reply without NSEC records). The :class:`Context` holds the
zone the reply comes from: its signed RRsets, for replays ("swap in the RRset of
another name"), and its data, for the proofs an attacker would pick.

Each mutation is marked:

- meaning-changing (``harmless=False``): the reply no longer proves what the genuine
  one proved; the resolver must answer with the genuine data, secure, or SERVFAIL;
- harmless (``harmless=True``): the reply still proves exactly the genuine data (an
  extra RRSIG with an unknown algorithm next to the valid one, a TTL lowered, ...);
  the resolver must answer with the genuine data, secure.

:class:`Forgery` installs one mutation on the servers of one or more zones as
:attr:`Faults.rewrite <resolver.testnet.faults.Faults.rewrite>` (keeping the faults
those zones already had, and putting them back exactly afterwards) and records which
replies it changed. Mutations never change the zone's own records: the rewrite hands
them a reply whose records are copies.

The package's modules: :mod:`.registry` (:class:`Mutation`, :class:`Context` and the
``@_register`` decorator), :mod:`.records` (the records of a reply, grouped into
RRsets, and the edits mutations make), the mutations by what they change
(:mod:`.answers`, :mod:`.injection`, :mod:`.signatures`, :mod:`.harmless`,
:mod:`.denial`, :mod:`.rcodes`, :mod:`.delegation`), :mod:`.catalogue` (every
mutation in the fixed order the fuzzer draws from) and :mod:`.forgery`.
"""

from .catalogue import BY_NAME, MUTATIONS, claim_algorithm, forged_ds_claiming
from .forgery import Forgery, Match, Tap, dry_run
from .records import Group, forged_rdata, groups, signed_groups
from .registry import Context, Mutation

__all__ = [
    "BY_NAME", "MUTATIONS", "Context", "Forgery", "Group", "Match", "Mutation", "Tap",
    "claim_algorithm", "dry_run", "forged_ds_claiming", "forged_rdata", "groups",
    "signed_groups",
]
