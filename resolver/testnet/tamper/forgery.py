"""Where and how a mutation is applied: a :class:`Tap` (the replies of some servers
for a zone), :func:`dry_run` on a copy, and :class:`Forgery`, which installs one
mutation on the taps' servers as a :attr:`Faults.rewrite
<resolver.testnet.faults.Faults.rewrite>` and puts their faults back afterwards."""

from __future__ import annotations

import dataclasses
import logging
import random
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from ...wire import message as wm
from ...wire.message import FormError, Message
from ...wire.name import Name
from ...wire.types import type_to_text
from ..faults import Faults, Rewrite
from ..server import AuthServer
from .records import _with
from .registry import Context, Mutation

log = logging.getLogger(__name__)


Match = Callable[[Message, Message], bool]


@dataclass(slots=True)
class Tap:
    """Where a forgery applies: the replies of *servers* for *zone* that *match*
    (query, reply)."""

    zone: Name
    servers: list[AuthServer]
    match: Match
    ctx: Context


_MISSING = object()


def _own_records(reply: Message) -> None:
    """Give the reply records of its own: the server fills it with the zone's."""
    reply.answer = [_with(rr) for rr in reply.answer]
    reply.authority = [_with(rr) for rr in reply.authority]
    reply.additional = [_with(rr) for rr in reply.additional]


def _well_formed(reply: Message) -> bool:
    try:
        wm.parse(reply.to_wire())
    except (FormError, ValueError):
        return False
    return True


def dry_run(mutation: Mutation, reply: Message, ctx: Context, seed: int | str = 0) -> str | None:
    """Apply *mutation* to *reply* (a copy the caller may lose) as a forgery would:
    its description, or None if it does not apply or leaves the reply malformed."""
    _own_records(reply)
    what = mutation(reply, random.Random(seed), ctx)
    if what is not None and not _well_formed(reply):
        return None
    return what


class Forgery:
    """One mutation, applied with a fixed seed to the replies of some taps.

    Every matching reply is mutated with a fresh ``random.Random(seed)``, so the
    same reply is always forged the same way (UDP and TCP, retries), unless the
    mutation looks at :attr:`Context.round` (the replies changed so far). *applied* lists
    what was done to each reply changed; *declined* counts replies the mutation did
    not apply to (or left malformed, then sent genuine)."""

    def __init__(self, mutation: Mutation, seed: int | str, taps: Sequence[Tap]) -> None:
        self.mutation = mutation
        self.seed = seed
        self.taps = list(taps)
        self.applied: list[str] = []
        self.declined = 0
        self.crashes: list[str] = []   # mutations that raised (a bug in the mutation)

    def _rewrite(self, taps: list[Tap], address: str, before: Rewrite | None) -> Rewrite:
        def rewrite(query: Message, reply: Message) -> None:
            if before is not None:
                before(query, reply)
            tap = next((t for t in taps if t.match(query, reply)), None)
            if tap is None:
                return
            _own_records(reply)
            saved = (reply.flags, reply.edns.ext_rcode if reply.edns is not None else 0,
                     list(reply.answer), list(reply.authority), list(reply.additional))
            ctx = dataclasses.replace(tap.ctx, address=address, round=len(self.applied))
            try:
                what = self.mutation(reply, random.Random(self.seed), ctx)
            except Exception as exc:  # the reply goes out genuine; the test reports it
                log.exception("forgery %s raised", self.mutation.name)
                self.crashes.append(f"{type(exc).__name__}: {exc}")
                what = None
            if what is not None and not _well_formed(reply):
                log.warning("forgery %s left the reply malformed; sent genuine", self.mutation.name)
                what = None
            if what is None:
                reply.flags, ext, reply.answer, reply.authority, reply.additional = saved
                if reply.edns is not None:
                    reply.edns.ext_rcode = ext
                self.declined += 1
                return
            q = query.question[0]
            self.applied.append(f"{address} {q.name} {type_to_text(q.qtype)}: {what}")
            log.debug("forged %s %s at %s: %s", q.name, type_to_text(q.qtype), address, what)
        return rewrite

    @contextmanager
    def installed(self) -> Iterator[Forgery]:
        """Install the forgery on the taps' servers; put the faults back afterwards."""
        by_place: dict[tuple[str, bytes], tuple[AuthServer, list[Tap]]] = {}
        for tap in self.taps:
            for server in tap.servers:
                place = (server.address, tap.zone.key)
                by_place.setdefault(place, (server, []))[1].append(tap)
        saved: list[tuple[AuthServer, bytes, object]] = []
        try:
            for (address, key), (server, taps) in by_place.items():
                previous = server.faults.get(key, _MISSING)
                saved.append((server, key, previous))
                base = previous if isinstance(previous, Faults) else server.faults.get(None)
                before = base.rewrite if base is not None else None
                rewrite = self._rewrite(taps, address, before)
                server.faults[key] = dataclasses.replace(base, rewrite=rewrite) \
                    if base is not None else Faults(rewrite=rewrite)
            yield self
        finally:
            for server, key, previous in reversed(saved):
                if isinstance(previous, Faults):
                    server.faults[key] = previous
                else:
                    server.faults.pop(key, None)
