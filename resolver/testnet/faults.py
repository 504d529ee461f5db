"""Faults a test server can be told to commit, per server or per zone."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields

from ..wire.message import RR, Message

# A rewrite of the reply an attacker on the path would make: called with the query and
# the reply (already filled from the zone) and changes the reply in place.
Rewrite = Callable[[Message, Message], None]


@dataclass(slots=True)
class Faults:
    """What to do wrong. All off by default; several may be combined."""

    timeout: bool = False          # never answer
    servfail: bool = False         # answer SERVFAIL
    refused: bool = False          # answer REFUSED (a lame server)
    wrong_id: bool = False         # answer with another message ID
    wrong_question: bool = False   # answer for another question
    other_source: bool = False     # answer from another address (a spoofing source)
    truncated: bool = False        # send a packet cut short (malformed)
    garbage: bool = False          # send random bytes
    slow: float = 0.0              # delay every answer by this many seconds
    always_tc: bool = False        # set TC on every UDP answer, with no records
    strip_rrsig: bool = False      # remove RRSIGs from answers
    strip_nsec: bool = False       # remove NSEC and NSEC3 (and their RRSIGs)
    corrupt_rrsig: bool = False    # flip a bit in every RRSIG's signature (a bad secondary)
    poison_authority: list[RR] = field(default_factory=list)   # extra records
    poison_additional: list[RR] = field(default_factory=list)  # extra records
    formerr_edns: bool = False     # answer FORMERR to queries with EDNS (old servers)
    rewrite: Rewrite | None = None  # tamper with the reply (forgery tests); runs last

    def any(self) -> bool:
        return any(getattr(self, f.name) for f in fields(self))

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in fields(cls)]
