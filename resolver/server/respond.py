"""Turn an :class:`~resolver.answer.Answer` into the response a client gets
(RFC 4035 s3.2, RFC 6840 s5.7-5.9, RFC 8914).

AD is set only when the whole answer is secure and the query had DO or AD. RRSIGs,
and the NSEC/NSEC3 records of negative and wildcard answers, go out only with DO.
CD answers carry the data even when it is bogus (the service decides that). EDE
options are added when the query had EDNS.
"""

from __future__ import annotations

from ..answer import Answer
from ..dnssec.status import Security
from ..wire import message as wm
from ..wire.message import Message
from ..wire.types import AA, AD, RA, Rcode

MAX_EDE_TEXT = 200


def build_response(query: Message, answer: Answer, *, max_size: int | None,
                   ttl_offsets: list[int] | None = None) -> bytes:
    resp = wm.make_response(query)
    dnssec = query.do
    resp.set_flag(RA)
    if answer.aa:
        resp.set_flag(AA)
    # a YXDOMAIN is an answer too: the DNAME whose substitution overflowed (RFC 6672 s2.2)
    if (answer.security == Security.SECURE and (dnssec or query.flags & AD)
            and answer.rcode in (Rcode.NOERROR, Rcode.NXDOMAIN, Rcode.YXDOMAIN)):
        resp.set_flag(AD)
    resp.set_rcode(answer.rcode)
    resp.answer = answer.records(answer.answer, dnssec)
    resp.authority = answer.records(answer.authority, dnssec)
    resp.additional = answer.records(answer.additional, dnssec)
    if resp.edns is not None:
        for code, text in answer.ede[:3]:
            resp.edns.options.append(wm.ede_option(code, text[:MAX_EDE_TEXT]))
    return resp.to_wire(max_size, ttl_offsets)


def error_response(query: Message, rcode: int, ede: tuple[int, str] | None = None) -> bytes:
    resp = wm.make_response(query, rcode)
    resp.set_flag(RA)
    if ede is not None and resp.edns is not None:
        resp.edns.options.append(wm.ede_option(*ede))
    return resp.to_wire()
