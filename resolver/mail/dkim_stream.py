"""DKIM body hashing over a stream (RFC 6376 s3.4.3-3.4.5, s3.7), for the milter.

An MTA hands a filter the body in chunks (at most 64 KiB each in the milter
protocol). :class:`BodyCanonicalizer` canonicalizes "simple" or "relaxed" body text
as it arrives and feeds an incremental hash, cut at the signature's ``l=`` limit, so a
message of any size costs about one chunk of memory: held-back empty lines are
counted, not stored, and an unterminated line is flushed in pieces past 8 KiB.

:class:`StreamBodyHashes` keeps one canonicalizer per distinct (canonicalization,
hash, ``l=``) of a message's signatures and answers the verifier's body-hash questions
the way :class:`resolver.mail.dkim.BodyHashSource` asks them. The output equals
:func:`resolver.mail.dkim_canon.body_hash` over the whole body (tests compare both).
"""

from __future__ import annotations

import hashlib
import re

CRLF = b"\r\n"
_WSP_RUN = re.compile(rb"[ \t]+")
_WSP_BEFORE_CRLF = re.compile(rb" \r\n")    # after _WSP_RUN, one space at most
_FLUSH_AT = 8192        # flush a line piece once this much of one line is held


class BodyCanonicalizer:
    """One canonical body form, hashed incrementally (bare LF counts as CRLF).

    Each chunk is canonicalized with whole-chunk byte operations (no per-line Python
    loop); only what the next chunk could still change is held back: a final CR (it
    may start a CRLF), the trailing run of empty lines (dropped if the body ends
    there; kept as a count), and for relaxed the unterminated last line (flushed in
    pieces once it passes 8 KiB, up to its last non-whitespace octet).
    """

    def __init__(self, method: str, hash_name: str = "sha256", limit: int | None = None) -> None:
        if method not in ("simple", "relaxed"):
            raise ValueError(f"unknown canonicalization {method!r}")
        self.method = method
        self.limit = limit
        self._hash = hashlib.new(hash_name)
        self.length = 0             # canonical octets produced so far
        self._carry = b""           # held input: a final CR (simple) or the last line
        self._empty_lines = 0       # CRLFs held back (dropped if at the end)
        self._done = False

    def _emit(self, data: bytes) -> None:
        if not data:
            return
        if self.limit is None:
            self._hash.update(data)
        elif self.length < self.limit:
            self._hash.update(data[:self.limit - self.length])
        self.length += len(data)

    def _content(self, data: bytes) -> None:
        """Canonical octets: emitted after the empty lines held so far, except for
        their own trailing CRLFs, which are held (the body may end there)."""
        stripped = data.rstrip(b"\r\n")
        tail = data[len(stripped):]         # CRs and CRLFs; only whole trailing CRLFs count
        end = len(tail)
        while end >= 2 and tail[end - 2:end] == CRLF:
            end -= 2
        pairs = (len(tail) - end) // 2
        cut = len(data) - 2 * pairs
        if cut == 0:
            self._empty_lines += pairs
            return
        if self._empty_lines:
            self._emit(CRLF * self._empty_lines)
        self._emit(data[:cut])
        self._empty_lines = pairs

    def _simple(self, chunk: bytes) -> None:
        data = self._carry + chunk
        self._carry = b""
        if data.endswith(b"\r"):
            data, self._carry = data[:-1], b"\r"
        if b"\n" in data:
            data = data.replace(CRLF, b"\n").replace(b"\n", CRLF)
        self._content(data)

    def _relaxed(self, chunk: bytes) -> None:
        data = self._carry + chunk
        nl = data.rfind(b"\n")
        if nl >= 0:
            lines, self._carry = data[:nl + 1], data[nl + 1:]
            lines = lines.replace(CRLF, b"\n").replace(b"\n", CRLF)
            self._content(_WSP_BEFORE_CRLF.sub(CRLF, _WSP_RUN.sub(b" ", lines)))
        else:
            self._carry = data
        if len(self._carry) > _FLUSH_AT:
            # a long line: emit all but a tail that could still change (WSP, CR)
            cut = len(self._carry.rstrip(b" \t\r"))
            if cut:
                self._content(_WSP_RUN.sub(b" ", self._carry[:cut]))
                self._carry = self._carry[cut:]

    def update(self, chunk: bytes) -> None:
        if self._done:
            raise ValueError("body already finished")
        if self.method == "simple":
            self._simple(chunk)
        else:
            self._relaxed(chunk)

    def finish(self) -> tuple[bytes, int]:
        """The digest (of at most ``l=`` octets) and the whole canonical length."""
        if not self._done:
            self._done = True
            if self.method == "simple":
                if self._carry:                 # a final bare CR is content
                    self._content(self._carry)
                self._emit(CRLF)                # s3.4.3: the body ends in one CRLF
            else:
                if self._carry:                 # the last line, unterminated
                    self._relaxed(CRLF)
                if self.length:                 # s3.4.4: non-empty bodies end in CRLF
                    self._emit(CRLF)
            self._carry = b""
        return self._hash.digest(), self.length


class StreamBodyHashes:
    """The body hashes a message's signatures need, computed while the body streams.

    Call :meth:`want` for each (canonicalization, ``l=``, hash) before the body, then
    :meth:`update` per chunk; :meth:`get` finishes and answers (a combination not
    announced with :meth:`want` is answered as an empty body would be, so a late
    question never passes a wrong body)."""

    def __init__(self) -> None:
        self._parts: dict[tuple[str, str, int | None], BodyCanonicalizer] = {}

    def want(self, method: str, length: int | None, hash_name: str) -> None:
        key = (method, hash_name, length)
        if key not in self._parts:
            self._parts[key] = BodyCanonicalizer(method, hash_name, length)

    def update(self, chunk: bytes) -> None:
        for part in self._parts.values():
            part.update(chunk)

    def get(self, method: str, length: int | None, hash_name: str) -> tuple[bytes, int]:
        key = (method, hash_name, length)
        part = self._parts.get(key)
        if part is None:
            part = self._parts[key] = BodyCanonicalizer(method, hash_name, length)
        return part.finish()

    def __len__(self) -> int:
        return len(self._parts)
