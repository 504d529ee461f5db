"""Issue 16 s5: IDN names the same way on every route, the ``api-max-body`` limit of
the message routes, ``/healthz`` ok or degraded, and the ``process_*`` metrics."""

from __future__ import annotations

import dataclasses
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from resolver.api.app import MAX_BODY, create_app, start_api
from resolver.config import ConfigError, Settings
from resolver.configfile import apply
from resolver.service import Resolver
from resolver.wire.idn import IdnError, to_ascii
from tests.loop import LoopThread

from .conftest import INTEROP, Api
from .helpers import SECURE_IP, signed_message

# full-width letters: UTS 46 maps them to ASCII, so the answer is the ASCII name's
WIDE = "".join(chr(ord(c) + 0xFEE0) if c.isalpha() else c for c in "secure")
ULABEL, ALABEL = "bücher", "xn--bcher-kva"
BAD_IDNS = ["☃.example", "a\u200db.example", "-ü.example", "ü..example"]


def plain(value: Any) -> Any:
    """*value* without what may differ between two identical look-ups (TTLs, traces)."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()
                if k not in ("ttl", "TTL", "trace", "trace_text")}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


# route, the parameters (or JSON body) with U-label/mapped names, with A-labels
GETS: list[tuple[str, dict[str, str], dict[str, str]]] = [
    ("/v1/resolve", {"name": f"www.{WIDE}.example"}, {"name": "www.secure.example"}),
    ("/v1/resolve", {"name": f"{ULABEL}.secure.example", "type": "TXT"},
     {"name": f"{ALABEL}.secure.example", "type": "TXT"}),
    ("/v1/explain", {"name": f"www.{WIDE}.example"}, {"name": "www.secure.example"}),
    ("/dns-query", {"name": f"www.{WIDE}.example"}, {"name": "www.secure.example"}),
    ("/dns-query", {"name": f"{ULABEL}.secure.example"},
     {"name": f"{ALABEL}.secure.example"}),
    ("/v1/tlsa", {"host": f"mx1.{WIDE}.example"}, {"host": "mx1.secure.example"}),
    ("/v1/tlsa", {"host": f"{ULABEL}.secure.example"}, {"host": f"{ALABEL}.secure.example"}),
    ("/v1/dane/smtp", {"domain": f"{WIDE}.example"}, {"domain": "secure.example"}),
    ("/v1/smimea", {"email": f"alice@{WIDE}.example"}, {"email": "alice@secure.example"}),
    ("/v1/smimea", {"email": f"alice@{ULABEL}.example"}, {"email": f"alice@{ALABEL}.example"}),
    ("/v1/openpgpkey", {"email": f"alice@{WIDE}.example"},
     {"email": "alice@secure.example"}),
    ("/v1/spf", {"domain": f"{WIDE}.example"}, {"domain": "secure.example"}),
    ("/v1/spf", {"domain": f"{ULABEL}.example"}, {"domain": f"{ALABEL}.example"}),
    ("/v1/spf/check", {"ip": SECURE_IP, "mailfrom": f"alice@{WIDE}.example",
                       "helo": f"mail.{WIDE}.example"},
     {"ip": SECURE_IP, "mailfrom": "alice@secure.example", "helo": "mail.secure.example"}),
    ("/v1/dkim", {"selector": "sel1", "domain": f"{WIDE}.example"},
     {"selector": "sel1", "domain": "secure.example"}),
    ("/v1/dmarc", {"domain": f"{WIDE}.example"}, {"domain": "secure.example"}),
    ("/v1/dmarc", {"domain": f"{ULABEL}.example"}, {"domain": f"{ALABEL}.example"}),
]


@pytest.mark.parametrize(("path", "unicode", "ascii_"), GETS)
def test_idn_same_answer_as_a_labels(zones_api: Api, path: str, unicode: dict[str, str],
                                     ascii_: dict[str, str]) -> None:
    want = zones_api.get(path, **ascii_)
    got = zones_api.get(path, **unicode)
    assert want.status == 200, want.body
    assert got.status == want.status, got.body
    assert plain(got.body) == plain(want.body)


def test_idn_in_bodies(zones_api: Api) -> None:
    want = zones_api.post_json("/v1/dmarc/evaluate", {"from_domain": "secure.example"})
    got = zones_api.post_json("/v1/dmarc/evaluate", {"from_domain": f"{WIDE}.example"})
    assert want.status == got.status == 200
    assert plain(got.body) == plain(want.body)
    params = {"ip": SECURE_IP, "helo": "mail.secure.example",
              "mailfrom": "alice@secure.example"}
    wide = {"ip": SECURE_IP, "helo": f"mail.{WIDE}.example",
            "mailfrom": f"alice@{WIDE}.example"}
    want = zones_api.post_raw("/v1/authenticate", signed_message(), **params)
    got = zones_api.post_raw("/v1/authenticate", signed_message(), **wide)
    assert want.status == got.status == 200
    assert got.body["results"] == want.body["results"]
    assert got.body["status"] == want.body["status"]


BAD_ROUTES: list[tuple[str, str, dict[str, str]]] = [
    ("/v1/resolve", "name", {}),
    ("/v1/explain", "name", {}),
    ("/dns-query", "name", {}),
    ("/v1/tlsa", "host", {}),
    ("/v1/dane/smtp", "domain", {}),
    ("/v1/spf", "domain", {}),
    ("/v1/dkim", "domain", {"selector": "sel1"}),
    ("/v1/dmarc", "domain", {}),
    ("/v1/smimea", "email", {}),
    ("/v1/openpgpkey", "email", {}),
    ("/v1/spf/check", "mailfrom", {"ip": SECURE_IP}),
    ("/v1/spf/check", "helo", {"ip": SECURE_IP, "mailfrom": "alice@secure.example"}),
]


@pytest.mark.parametrize(("path", "key", "others"), BAD_ROUTES)
@pytest.mark.parametrize("bad", BAD_IDNS)
def test_invalid_idn_is_a_clear_400(zones_api: Api, path: str, key: str,
                                    others: dict[str, str], bad: str) -> None:
    before = zones_api.resolver.stats.queries
    value = f"alice@{bad}" if key in ("email", "mailfrom") else bad
    reply = zones_api.get(path, **{key: value}, **others)
    assert reply.status == 400, reply.body
    assert "not a valid internationalised domain name" in reply.body["error"]
    assert zones_api.resolver.stats.queries == before


def test_invalid_idn_in_a_body(zones_api: Api) -> None:
    for body in ({"from_domain": BAD_IDNS[0]},):
        reply = zones_api.post_json("/v1/dmarc/evaluate", body)
        assert reply.status == 400
        assert "not a valid internationalised domain name" in reply.body["error"]
    reply = zones_api.post_json("/v1/dane/verify", {"host": BAD_IDNS[1], "chain": ["x"]})
    assert reply.status == 400
    assert "not a valid internationalised domain name" in reply.body["error"]


def test_to_ascii() -> None:
    assert to_ascii("Bücher.Example.") == "xn--bcher-kva.example."
    assert to_ascii("straße.de") == "xn--strae-oqa.de"           # IDNA 2008, not 2003
    assert to_ascii("ＢÜCHER。example") == "xn--bcher-kva.example"
    assert to_ascii("Plain_ASCII.example") == "Plain_ASCII.example"
    for bad in BAD_IDNS:
        with pytest.raises(IdnError, match="not a valid internationalised domain name"):
            to_ascii(bad)


# ----------------------------------------------------------------------------- helpers
def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def start(loop: LoopThread, settings: Settings) -> tuple[Api, web.AppRunner]:
    async def go() -> tuple[Api, web.AppRunner]:
        resolver = Resolver(settings)
        app = create_app(resolver)
        runner = await start_api(app, "127.0.0.1", 0)
        host, port = runner.addresses[0][:2]
        return Api(f"http://{host}:{port}", app, resolver), runner
    return loop.run(go())


@pytest.fixture
def dead_root(api_loop: LoopThread, tmp_path: Path) -> Iterator[Api]:
    """An API whose resolver's root server does not answer (nothing listens there)."""
    hints = tmp_path / "root.hints"
    hints.write_text(".  3600000 NS a.root.test.\na.root.test. 3600000 A 127.0.0.1\n")
    settings = Settings(listen=[("127.0.0.1", 0)], root_hints=hints,
                        trust_anchors=[INTEROP / "root.ds"], allow_loopback_upstream=True,
                        upstream_port=free_port(), api=None, api_max_body=1000,
                        cache_size_mb=4.0)
    api, runner = start(api_loop, settings)
    yield api
    api_loop.run(runner.cleanup())


# ----------------------------------------------------------------------------- body limit
@pytest.mark.parametrize("path", ["/v1/dkim/verify", "/v1/authenticate"])
def test_message_body_limit(dead_root: Api, path: str) -> None:
    params = {"ip": "192.0.2.25", "helo": "mail.secure.example",
              "mailfrom": "alice@secure.example"}
    reply = dead_root.request("POST", path, params, data=b"x" * 1001,
                              content_type="message/rfc822")
    assert reply.status == 413
    assert reply.body == {"error": "request body larger than 1000 bytes"}


def test_message_body_limit_default(zones_api: Api) -> None:
    """Past the 256 KiB of JSON bodies, a message is still read (64 MiB by default)."""
    assert Settings().api_max_body == 64 * 1024 * 1024
    big = signed_message() + b"\r\n" + b"x" * (MAX_BODY + 10)
    reply = zones_api.post_raw("/v1/dkim/verify", big)
    assert reply.status == 200, reply.body
    assert reply.body["result"] == "fail"          # the body hash no longer matches


def test_api_max_body_config_key() -> None:
    settings = apply(Settings(), {"api-max-body": 1234}, "t.toml")
    assert settings.api_max_body == 1234
    for bad in (0, -1, "1M", 1.5, True):
        with pytest.raises(ConfigError, match="api-max-body"):
            apply(Settings(), {"api-max-body": bad}, "t.toml")


# ----------------------------------------------------------------------------- health
def test_healthz_ok(zones_api: Api) -> None:
    reply = zones_api.get("/healthz")
    assert reply.status == 200, reply.body
    assert reply.body["status"] == "ok" and "reason" not in reply.body
    assert reply.body["validating"] is True
    assert "." in reply.body["anchors_validated"]


def test_healthz_degraded_when_the_root_is_unreachable(dead_root: Api) -> None:
    reply = dead_root.get("/healthz")
    assert reply.status == 503, reply.body
    assert reply.body["status"] == "degraded"
    assert reply.body["reason"].startswith("trust anchor .: ")
    assert reply.body["anchors_validated"] == {}


# ----------------------------------------------------------------------------- metrics
def test_process_metrics(zones_api: Api) -> None:
    text = zones_api.get("/metrics").raw.decode()
    for name in ("process_cpu_seconds_total", "process_resident_memory_bytes",
                 "process_open_fds", "process_start_time_seconds"):
        assert f"\n{name} " in text, name


@pytest.fixture
def wrong_anchor(api_loop: LoopThread, zones_api: Api, tmp_path: Path) -> Iterator[Api]:
    """An API on the zones/ network whose root trust anchor matches none of its keys."""
    ds = tmp_path / "wrong.ds"
    ds.write_text(". 3600 IN DS 12345 13 2 " + "ab" * 32 + "\n")
    settings = dataclasses.replace(zones_api.resolver.settings, trust_anchors=[ds])
    api, runner = start(api_loop, settings)
    yield api
    api_loop.run(runner.cleanup())


def test_healthz_degraded_when_the_anchor_does_not_validate(wrong_anchor: Api) -> None:
    reply = wrong_anchor.get("/healthz")
    assert reply.status == 503, reply.body
    assert reply.body["status"] == "degraded"
    assert reply.body["reason"].startswith("trust anchor .: DNSKEY set not validated (bogus")
