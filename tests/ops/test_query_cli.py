"""The ``query`` command's question: RD and AD set as dig sets them, DO with
``--dnssec``, U-labels sent as A-labels, and a help text that names the default server."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from resolver.cli.query import DEFAULT_SERVER, make_query
from resolver.wire import message as wm
from resolver.wire.name import Name
from resolver.wire.types import AD, CD, RD, RRType

ROOT = Path(__file__).resolve().parents[2]


def run_query(*args: str) -> tuple[subprocess.CompletedProcess[str], wm.Message | None]:
    """Run ``query`` against a one-shot UDP responder; the query it received."""
    seen: list[wm.Message] = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(20)
        port = sock.getsockname()[1]

        def serve() -> None:
            try:
                data, addr = sock.recvfrom(65535)
            except OSError:
                return
            query = wm.parse(data)
            seen.append(query)
            sock.sendto(wm.make_response(query).to_wire(), addr)

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        done = subprocess.run([sys.executable, "-m", "resolver", "query", *args,
                               "--server", f"127.0.0.1:{port}", "--timeout", "10"],
                              capture_output=True, text=True, timeout=60, cwd=ROOT)
        thread.join(5)
    return done, (seen[0] if seen else None)


def test_make_query_flags() -> None:
    plain = make_query(Name.from_text("example."), RRType.A)
    assert plain.flags & RD and plain.flags & AD and not plain.flags & CD
    assert plain.edns is not None and not plain.edns.do
    dnssec = make_query(Name.from_text("example."), RRType.A, dnssec=True, cd=True)
    assert dnssec.edns is not None and dnssec.edns.do and dnssec.flags & CD


@pytest.mark.parametrize("dnssec", [False, True])
def test_query_sends_ad_and_do(dnssec: bool) -> None:
    done, query = run_query("www.example.", "AAAA", *(["--dnssec"] if dnssec else []))
    assert done.returncode == 0, done.stderr
    assert query is not None
    assert query.flags & RD and query.flags & AD
    assert query.edns is not None and query.edns.do == dnssec
    assert query.question[0].qtype == RRType.AAAA


def test_query_sends_a_labels() -> None:
    done, query = run_query("Bücher.example.")
    assert done.returncode == 0, done.stderr
    assert query is not None
    assert query.question[0].name == Name.from_text("xn--bcher-kva.example.")


def test_query_refuses_an_invalid_idn() -> None:
    done = subprocess.run([sys.executable, "-m", "resolver", "query", "☃.example."],
                          capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 2
    assert "not a valid internationalised domain name" in done.stderr


def test_query_help_shows_the_default_server() -> None:
    done = subprocess.run([sys.executable, "-m", "resolver", "query", "--help"],
                          capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 0
    assert f"(default: {DEFAULT_SERVER})" in done.stdout
    assert DEFAULT_SERVER == "127.0.0.1:53"
