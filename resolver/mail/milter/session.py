"""One milter connection: the state of its SMTP session and of the message in flight.

:class:`MilterSession` turns each command packet into the reply packets; the server
(:mod:`.server`) only moves packets. Per message it

* starts SPF ``check_host`` on the client address and MAIL FROM as soon as MAIL
  arrives (the lookups overlap with the DATA phase), and, once per HELO name and
  connection, the check of the HELO identity when that name is a domain name (RFC 7208
  s2.3; not an address literal). With a null sender the MAIL FROM identity is
  ``postmaster@<HELO>`` (s2.4), the very same check, so the two share one evaluation;
* keeps the header fields exactly as received (bounded by *max_header_bytes*) and notes
  the ``Authentication-Results`` fields that claim our authserv-id;
* at end of header learns which body canonicalizations the DKIM signatures need and
  hashes the body as it streams (:class:`~resolver.mail.dkim_stream.StreamBodyHashes`),
  so the body is never held in memory;
* at end of message verifies every DKIM signature, evaluates DMARC, removes the forged
  Authentication-Results fields (RFC 8601 s5) and prepends ours, then answers with the
  action :func:`~.policy.decide` picks.

A client that authenticated (SMTP AUTH, the ``{auth_authen}`` macro) is submitting
mail, not receiving it: its messages pass untouched.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ...counters import Counters
from ..authres import FIELD_NAME, SpfInfo, format_authentication_results
from ..dkim import MAX_SIGNATURES, SignatureError, SignatureResult, parse_signature, verify_fields
from ..dkim_canon import HeaderField
from ..dkim_stream import StreamBodyHashes
from ..dmarc import DmarcResult, check_message
from ..dnsapi import DnsSource
from ..spf import SpfResult, check_host
from . import protocol as p
from .authserv import claims_authserv_id
from .policy import CONTINUE, QUARANTINE, REJECT, TEMPFAIL, MilterPolicy, Verdict, decide

log = logging.getLogger(__name__)

MAX_HEADER_BYTES = 1024 * 1024     # all header fields of one message
EVAL_TIMEOUT = 60.0                # seconds for the lookups of one message at EOM


@dataclass(slots=True)
class Message:
    """The message in flight."""

    sender: str = ""
    recipients: int = 0
    fields: list[HeaderField] = field(default_factory=list)
    header_bytes: int = 0
    our_ar: list[int] = field(default_factory=list)   # 1-based indexes among A-R fields
    ar_count: int = 0
    bodies: StreamBodyHashes = field(default_factory=StreamBodyHashes)
    spf: asyncio.Task[SpfResult] | None = None
    spf_helo: asyncio.Task[SpfResult] | None = None   # the connection's (not cancelled here)
    skip: bool = False


@dataclass(slots=True)
class Outcome:
    """What was decided for the last message (for logs and tests)."""

    verdict: Verdict
    authentication_results: str | None
    spf: SpfResult | None
    dkim: list[SignatureResult]
    dmarc: DmarcResult | None
    spf_helo: SpfResult | None = None


class MilterSession:
    """The protocol state machine of one connection (see :mod:`.protocol`)."""

    def __init__(self, dns: DnsSource, policy: MilterPolicy, *,
                 max_header_bytes: int = MAX_HEADER_BYTES,
                 now: Callable[[], float] | None = None,
                 counters: Counters | None = None) -> None:
        self.dns = dns
        self.counters = counters if counters is not None else Counters()
        self.policy = policy
        self.max_header_bytes = max_header_bytes
        self.now = now or time.time
        self.negotiated: p.Negotiated | None = None
        self.client_ip: str | None = None
        self.client_name = ""
        self.helo: str | None = None
        self._helo_check: asyncio.Task[SpfResult] | None = None
        self.macros: dict[str, str] = {}
        self.message = Message()
        self.closed = False
        self.last: Outcome | None = None

    # ------------------------------------------------------------------ dispatch

    async def handle(self, cmd: bytes, data: bytes) -> list[bytes]:
        """The reply packets for one command (possibly none)."""
        if cmd == p.OPTNEG:
            self.negotiated, reply = p.negotiate(data)
            return [reply]
        if self.negotiated is None:
            raise p.ProtocolError(f"command {cmd!r} before option negotiation")
        if cmd == p.MACRO:
            _, pairs = p.parse_macros(data)
            self.macros.update(pairs)
            return []
        if cmd == p.CONNECT:
            self._reset_connection(keep_macros=True)   # its macros came just before
            info = p.parse_connect(data)
            self.client_name = info.hostname
            if info.family in ("4", "6") and info.address:
                addr = info.address
                addr = addr[5:] if addr.lower().startswith("ipv6:") else addr   # Sendmail
                try:
                    self.client_ip = str(ipaddress.ip_address(addr.strip("[]")))
                except ValueError:
                    log.warning("milter: CONNECT with a bad address %r; no SPF", addr[:60])
            return [p.packet(p.CONTINUE)]
        if cmd == p.HELO:
            items = p.strings(data)
            helo = p.text(items[0]).strip() if items else None
            self._reset_message()       # HELO/EHLO resets the mail transaction (RFC 5321)
            if helo != self.helo:
                self._drop_helo_check()
            self.helo = helo
            return [p.packet(p.CONTINUE)]
        if cmd == p.MAIL:
            self._reset_message()
            self._start_message(data)
            return [p.packet(p.CONTINUE)]
        if cmd == p.RCPT:
            self.message.recipients += 1
            return [p.packet(p.CONTINUE)]
        if cmd in (p.DATA, p.UNKNOWN):
            return [p.packet(p.CONTINUE)]
        if cmd == p.HEADER:
            return self._header(data)
        if cmd == p.EOH:
            self._end_of_header()
            return [p.packet(p.CONTINUE)]
        if cmd == p.BODY:
            if not self.message.skip:
                self.message.bodies.update(data)
            return [p.packet(p.CONTINUE)]
        if cmd == p.BODYEOB:
            if data and not self.message.skip:
                self.message.bodies.update(data)
            replies = await self._end_of_message()
            self._reset_message()
            return replies
        if cmd == p.ABORT:
            self._reset_message()
            return []
        if cmd == p.QUIT_NC:
            self._reset_connection()
            return []
        if cmd == p.QUIT:
            self._reset_message()
            self.closed = True
            return []
        raise p.ProtocolError(f"unknown milter command {cmd!r}")

    # ------------------------------------------------------------------ state

    def _reset_message(self) -> None:
        task = self.message.spf
        if task is not None and not task.done() and task is not self._helo_check:
            task.cancel()
        self.message = Message()

    def _drop_helo_check(self) -> None:
        task, self._helo_check = self._helo_check, None
        if task is not None and not task.done():
            task.cancel()

    def _reset_connection(self, keep_macros: bool = False) -> None:
        self._reset_message()
        self._drop_helo_check()
        self.client_ip = None
        self.client_name = ""
        self.helo = None
        if not keep_macros:
            self.macros = {}

    def close(self) -> None:
        self._reset_message()
        self._drop_helo_check()

    def _helo_identity(self) -> asyncio.Task[SpfResult] | None:
        """The SPF check of the HELO identity (RFC 7208 s2.3), started once per HELO
        name and connection; None when the name is missing or an address literal."""
        if self.client_ip is None or not is_helo_domain(self.helo):
            return None
        assert self.helo is not None
        task = self._helo_check
        if task is None or task.cancelled() or task.cancelling() or \
                (task.done() and task.exception() is not None):     # not reused
            self._helo_check = asyncio.ensure_future(check_host(
                self.dns, self.client_ip, self.helo, f"postmaster@{self.helo}", self.helo,
                receiver=self.policy.authserv_id, now=self.now()))
        return self._helo_check

    def _start_message(self, data: bytes) -> None:
        args = p.strings(data)
        sender = p.text(args[0]).strip() if args else ""
        if sender.startswith("<") and sender.endswith(">"):
            sender = sender[1:-1]
        msg = self.message
        msg.sender = sender
        if self.macros.get("auth_authen"):
            msg.skip = True
            log.debug("milter: authenticated client %s; message not checked",
                      self.macros.get("auth_authen"))
            return
        helo = self._helo_identity() if self.policy.spf_helo or not sender else None
        msg.spf_helo = helo if self.policy.spf_helo else None
        if helo is not None and not sender:
            msg.spf = helo      # null sender: MAIL FROM is postmaster@<HELO> (s2.4)
        elif self.client_ip is not None:
            msg.spf = asyncio.ensure_future(check_host(
                self.dns, self.client_ip, None, sender, self.helo,
                receiver=self.policy.authserv_id, now=self.now()))

    def _header(self, data: bytes) -> list[bytes]:
        msg = self.message
        items = data.split(b"\0")
        name = items[0]
        value = items[1] if len(items) > 1 else b""
        if self.negotiated is None or not self.negotiated.leading_space:
            value = b" " + value
        # the MTA sends folded lines with LF line ends; DKIM hashes them as CRLF
        raw = name + b":" + value.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n") + b"\r\n"
        msg.header_bytes += len(raw)
        if msg.header_bytes > self.max_header_bytes:
            log.warning("milter: header of more than %d octets refused", self.max_header_bytes)
            return [p.reply_code("552 5.3.4 Message header too large")]
        if msg.skip:
            return [p.packet(p.CONTINUE)]
        hf = HeaderField(raw)
        msg.fields.append(hf)
        if hf.lname == FIELD_NAME.lower().encode():
            msg.ar_count += 1
            if claims_authserv_id(hf.text(), self.policy.authserv_id):
                msg.our_ar.append(msg.ar_count)
        return [p.packet(p.CONTINUE)]

    def _end_of_header(self) -> None:
        msg = self.message
        if msg.skip:
            return
        sigs = [f for f in msg.fields if f.lname == b"dkim-signature"][:MAX_SIGNATURES]
        for f in sigs:
            try:
                sig = parse_signature(f.text())
            except SignatureError:
                continue            # the verifier reports it; it needs no body hash
            msg.bodies.want(sig.body_canon, sig.body_length, sig.hash_name)

    # ------------------------------------------------------------------ verdict

    async def _evaluate(self, msg: Message) -> Outcome:
        # shielded: a timeout here must not cancel the connection's HELO check, which
        # later messages share (the message's own task is cancelled at its reset)
        spf = await asyncio.shield(msg.spf) if msg.spf is not None else None
        helo = await asyncio.shield(msg.spf_helo) if msg.spf_helo is not None else None
        sigs = await verify_fields(self.dns, msg.fields, msg.bodies, now=self.now())
        header = b"".join(f.raw for f in msg.fields) + b"\r\n"
        spf_pair = (spf.result.value, spf.domain) if spf is not None else None
        dmarc = await check_message(self.dns, header, spf_pair, sigs)
        verdict = decide(self.policy, spf, sigs, dmarc, helo)
        if spf is not None:
            spf_info = SpfInfo(spf.result.value, msg.sender or None, self.helo,
                               security=spf.security, identity="mailfrom")
        else:
            spf_info = SpfInfo("none", msg.sender or None, self.helo,
                               reason="no client IP address", identity="mailfrom")
        helo_info = None if helo is None else SpfInfo(
            helo.result.value, None, self.helo, security=helo.security, identity="helo")
        value = format_authentication_results(self.policy.authserv_id, spf=spf_info,
                                              spf_helo=helo_info, dkim=sigs, dmarc=dmarc,
                                              fold="\n\t", dnssec=True)
        return Outcome(verdict, value, spf, sigs, dmarc, helo)

    async def _end_of_message(self) -> list[bytes]:
        msg = self.message
        if msg.skip:
            return [p.packet(p.CONTINUE)]
        try:
            async with asyncio.timeout(EVAL_TIMEOUT):
                outcome = await self._evaluate(msg)
        except TimeoutError:
            reply = "451 4.4.3 DNS lookups for the message timed out; try again later"
            outcome = Outcome(Verdict(TEMPFAIL, reply, "timeout"), None, None, [], None)
        except Exception:   # a bug must defer the message, never let it pass unchecked
            log.exception("milter: evaluating a message from <%s> failed", msg.sender)
            reply = "451 4.3.0 Message authentication failed; try again later"
            outcome = Outcome(Verdict(TEMPFAIL, reply, "internal error"), None, None, [], None)
        self.last = outcome
        self._count(outcome)
        verdict = outcome.verdict
        log.info("milter: client %s from <%s>: %s%s; %s", self.client_ip, msg.sender,
                 verdict.action, f" ({verdict.reason})" if verdict.reason else "",
                 (outcome.authentication_results or "").replace("\n\t", " "))
        if verdict.action in (REJECT, TEMPFAIL):
            code = verdict.reply or ("550 5.7.1 Rejected" if verdict.action == REJECT
                                     else "451 4.7.0 Try again later")
            return [p.reply_code(code)]
        return [*self._modifications(msg, outcome), p.packet(p.CONTINUE)]

    def _count(self, outcome: Outcome) -> None:
        inc = self.counters.inc
        inc("milter_messages", (outcome.verdict.action,))
        if outcome.spf is not None:
            inc("milter_results", ("spf", outcome.spf.result.value, outcome.spf.security.label))
        if outcome.spf_helo is not None:
            inc("milter_results", ("spf_helo", outcome.spf_helo.result.value,
                                   outcome.spf_helo.security.label))
        for sig in outcome.dkim:
            label = sig.key_security.label if sig.key_security is not None else "none"
            inc("milter_results", ("dkim", sig.result, label))
        if outcome.dmarc is not None:
            sec = outcome.dmarc.security
            inc("milter_results", ("dmarc", outcome.dmarc.result,
                                   sec.label if sec is not None else "none"))

    def _modifications(self, msg: Message, outcome: Outcome) -> list[bytes]:
        assert self.negotiated is not None
        neg = self.negotiated
        lead = "" if not neg.leading_space else " "
        out: list[bytes] = []
        if neg.allows(p.ACT_CHGHDRS):
            # highest index first, so the indexes still to delete do not shift
            for index in sorted(msg.our_ar, reverse=True):
                out.append(p.change_header(index, FIELD_NAME, ""))
        elif msg.our_ar:
            log.warning("milter: the MTA does not let us remove %d forged "
                        "Authentication-Results field(s)", len(msg.our_ar))
        if neg.allows(p.ACT_ADDHDRS):
            if outcome.authentication_results is not None:
                out.append(p.insert_header(0, FIELD_NAME,
                                           lead + outcome.authentication_results))
            for name, value in outcome.verdict.headers:
                out.append(p.insert_header(0, name, lead + value))
        if outcome.verdict.action == QUARANTINE:
            if neg.allows(p.ACT_QUARANTINE):
                out.append(p.quarantine(outcome.verdict.reason or "DMARC"))
            else:
                log.warning("milter: the MTA does not allow quarantine; message delivered")
        return out


def is_helo_domain(helo: str | None) -> bool:
    """Whether a HELO/EHLO argument names a domain (not an address literal such as
    ``[192.0.2.1]``, nor a bare address that some clients send)."""
    if not helo or helo.startswith("["):
        return False
    try:
        ipaddress.ip_address(helo)
    except ValueError:
        return True
    return False


__all__ = ["CONTINUE", "MilterSession", "Outcome", "is_helo_domain"]
