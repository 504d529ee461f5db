"""Streamed DKIM body hashing equals the whole-body hash for any chunking (bare LF
line ends count as CRLF, as :func:`split_message` makes them)."""

from __future__ import annotations

import random

import pytest

from resolver.mail.dkim_canon import body_hash, normalize_line_ends
from resolver.mail.dkim_stream import BodyCanonicalizer, StreamBodyHashes

PIECES = [b"a", b"b c", b" ", b"\t", b"\r\n", b"\n", b"\r", b"  \t ", b"x" * 9000, b"\r\n\r\n"]

FIXED = [b"", b"\r\n", b"\r\n\r\n", b"abc", b"abc  ", b"abc\r\n", b" C \r\nD \t E\r\n\r\n\r\n",
         b"a\r\n  \r\n\t\r\nb", b"a\n\nb\n\n", b"abc\r\n\r", b"x" * 20000 + b"   \r\n",
         b"line \r\n" * 100 + b"\r\n" * 5]


def _chunks(data: bytes, rng: random.Random) -> list[bytes]:
    out, i = [], 0
    while i < len(data):
        n = rng.randint(1, 70)
        out.append(data[i:i + n])
        i += n
    return out


@pytest.mark.parametrize("method", ["simple", "relaxed"])
@pytest.mark.parametrize("length", [None, 0, 5, 100])
def test_streamed_equals_whole(method: str, length: int | None) -> None:
    rng = random.Random(f"{method}{length}")
    bodies = list(FIXED)
    for _ in range(150):
        bodies.append(b"".join(rng.choice(PIECES) for _ in range(rng.randint(0, 12))))
    for body in bodies:
        want = body_hash(normalize_line_ends(body), method, length)  # as split_message does
        for chunking in (lambda b: [b], lambda b: _chunks(b, rng), lambda b: list(
                b[i:i + 1] for i in range(len(b))) if len(b) < 300 else [b]):
            canon = BodyCanonicalizer(method, "sha256", length)
            for piece in chunking(body):
                canon.update(piece)
            assert canon.finish() == want, (method, length, body[:80])


def test_hashes_for_several_signatures() -> None:
    body = b"Hello  world \r\n\r\n"
    hashes = StreamBodyHashes()
    hashes.want("simple", None, "sha256")
    hashes.want("relaxed", 3, "sha256")
    hashes.want("simple", None, "sha256")
    assert len(hashes) == 2
    hashes.update(body[:7])
    hashes.update(body[7:])
    assert hashes.get("simple", None, "sha256") == body_hash(body, "simple")
    assert hashes.get("relaxed", 3, "sha256") == body_hash(body, "relaxed", 3)
    # not announced: answered as an empty body, never as the real one
    assert hashes.get("relaxed", None, "sha256") == body_hash(b"", "relaxed")
