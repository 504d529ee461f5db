"""A wildcard answer served from the cache still carries the NSEC/NSEC3 proof that the
name itself does not exist (RFC 4035 s3.1.3.3), so a validating client downstream can
check it; found by the Deckard replays (nsec_wildcard_answer_response)."""

from __future__ import annotations

from resolver.answer import build_response
from resolver.wire import message as wm
from resolver.wire.name import Name
from resolver.wire.types import AD, RRType

from .conftest import Served, run


def test_wildcard_proof_survives_the_cache(zones: Served) -> None:
    resolver = zones.resolver()
    name = Name.from_text("cached.wild.nsec3.example.")
    query = wm.make_query(name, RRType.A, rd=True, do=True)

    async def twice() -> list[wm.Message]:
        out = []
        for _ in range(2):
            answer = await resolver.resolve(name, RRType.A)
            out.append(wm.parse(build_response(query, answer, max_size=None)))
        return out

    first, second = run(twice())
    for reply in (first, second):
        assert reply.flags & AD
        assert any(rr.rtype == RRType.NSEC3 for rr in reply.authority), reply.to_text()
    assert {rr.name for rr in first.authority} == {rr.name for rr in second.authority}
