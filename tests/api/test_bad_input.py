"""Bad input gets a 4xx JSON error that says what is wrong, and never reaches the resolver
(the resolver's query counter does not move)."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from resolver.api.app import MAX_BODY

from .conftest import Api
from .helpers import pem, signed_message

LONG = "a" * 64 + ".example"
CHAIN = pem("mx1-chain.pem")


@pytest.fixture
def untouched(zones_api: Api) -> Iterator[Api]:
    """The API, checking that the test made no lookup at all."""
    before = zones_api.resolver.stats.queries
    yield zones_api
    assert zones_api.resolver.stats.queries == before, "bad input reached the resolver"


def error_of(reply: Any, status: int = 400) -> str:
    assert reply.status == status, (reply.status, reply.raw[:300])
    assert reply.content_type == "application/json"
    assert set(reply.body) == {"error"}
    message: str = reply.body["error"]
    assert message
    return message


@pytest.mark.parametrize(("path", "params", "words"), [
    ("/v1/tlsa", {}, "missing query parameter 'host'"),
    ("/v1/tlsa", {"host": "bad..name"}, "not a host name"),
    ("/v1/tlsa", {"host": "a b.example"}, "not a host name"),
    ("/v1/tlsa", {"host": "-x.example"}, "not a host name"),
    ("/v1/tlsa", {"host": LONG}, "label"),
    ("/v1/tlsa", {"host": ("abc." * 70) + "example"}, "longer than 253"),
    ("/v1/tlsa", {"host": "."}, "root"),
    ("/v1/tlsa", {"host": "mx1.secure.example", "port": "0"}, "port"),
    ("/v1/tlsa", {"host": "mx1.secure.example", "port": "70000"}, "port"),
    ("/v1/tlsa", {"host": "mx1.secure.example", "port": "2x"}, "port"),
    ("/v1/tlsa", {"host": "mx1.secure.example", "port": "-1"}, "port"),
    ("/v1/tlsa", {"host": "mx1.secure.example", "proto": "quic"}, "proto"),
    ("/v1/tlsa", {"host": "mx1.secure.example", "smtp": "maybe"}, "smtp"),
    ("/v1/dane/smtp", {"domain": "localhost"}, "at least 2 labels"),
    ("/v1/dane/smtp", {"domain": "secure.example", "port": "99999"}, "port"),
    ("/v1/smimea", {"email": "no-at-sign"}, "no '@'"),
    ("/v1/smimea", {"email": "@secure.example"}, "empty local part"),
    ("/v1/smimea", {"email": "alice@"}, "email"),
    ("/v1/smimea", {"email": "alice@[192.0.2.1]"}, "address literal"),
    ("/v1/smimea", {"email": "al\x01ice@secure.example"}, "control character"),
    ("/v1/smimea", {"email": "alice@bad..example"}, "email"),
    ("/v1/smimea", {"email": "a" * 400 + "@secure.example"}, "longer than"),
    ("/v1/openpgpkey", {"email": "alice at secure.example"}, "no '@'"),
    ("/v1/smimea", {"email": "alice@secure.example", "lowercase": "perhaps"}, "lowercase"),
    ("/v1/spf", {"domain": "under score!.example"}, "not a host name"),
    ("/v1/spf/check", {"ip": "999.1.1.1", "mailfrom": "a@secure.example"}, "not an IPv4"),
    ("/v1/spf/check", {"ip": "192.0.2.1", "mailfrom": "a b@secure.example"}, "spaces"),
    ("/v1/spf/check", {"ip": "192.0.2.1", "mailfrom": "@secure.example"}, "empty local"),
    ("/v1/spf/check", {"ip": "192.0.2.1", "mailfrom": "a@single"}, "at least 2 labels"),
    ("/v1/spf/check", {"ip": "192.0.2.1", "mailfrom": "<>"}, "null sender"),
    ("/v1/spf/check", {"ip": "192.0.2.1", "mailfrom": "a@secure.example",
                       "helo": "bad..helo"}, "helo"),
    ("/v1/spf/check", {"ip": "192.0.2.1", "mailfrom": "a@secure.example",
                       "helo": "[300.1.1.1]"}, "helo"),
    ("/v1/spf/check", {"ip": "192.0.2.1", "mailfrom": "a@secure.example",
                       "authserv_id": "bad id;"}, "authserv_id"),
    ("/v1/dkim", {"selector": "bad selector", "domain": "secure.example"}, "selector"),
    ("/v1/dkim", {"selector": "a..b", "domain": "secure.example"}, "selector"),
    ("/v1/dkim", {"selector": "sel1"}, "missing query parameter 'domain'"),
    ("/v1/dmarc", {"domain": "x"}, "at least 2 labels"),
    ("/v1/resolve", {"name": "bad..name"}, "not a domain name"),
    ("/v1/resolve", {"name": "www.secure.example", "type": "NOPE"}, "unknown record type"),
])
def test_bad_query(untouched: Api, path: str, params: dict[str, str], words: str) -> None:
    message = error_of(untouched.get(path, **params))
    assert words in message, message


def _post(api: Api, path: str, value: Any) -> Any:
    return api.post_json(path, value)


@pytest.mark.parametrize(("body", "words"), [
    ([], "must be a JSON object"),
    ({"host": "mx1.secure.example"}, "'chain' is required"),
    ({"chain": [CHAIN]}, "'host' is required"),
    ({"host": "mx1.secure.example", "chain": []}, "must not be empty"),
    ({"host": "mx1.secure.example", "chain": CHAIN}, "'chain' must be an array"),
    ({"host": "mx1.secure.example", "chain": [42]}, "must be a string"),
    ({"host": "mx1.secure.example", "chain": ["hello"]}, "not a PEM certificate"),
    ({"host": "mx1.secure.example",
      "chain": ["-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"]},
     "not a readable PEM certificate"),
    ({"host": "mx1.secure.example", "chain": [CHAIN] * 17}, "more than 16"),
    ({"host": "mx1.secure.example", "chain": [CHAIN], "port": "25"}, "'port' must be"),
    ({"host": "mx1.secure.example", "chain": [CHAIN], "port": True}, "'port' must be"),
    ({"host": "mx1.secure.example", "chain": [CHAIN], "port": 0}, "'port' must be"),
    ({"host": "mx1.secure.example", "chain": [CHAIN], "proto": "ip"}, "proto"),
    ({"host": "mx1.secure.example", "chain": [CHAIN], "smtp": "yes"}, "true or false"),
    ({"host": "mx1.secure.example", "chain": [CHAIN], "names": ["bad..n"]}, "names"),
    ({"host": "mx1.secure.example", "chain": [CHAIN], "extra": 1}, "unknown member"),
    ({"host": 7, "chain": [CHAIN]}, "'host' must be a string"),
    ({"host": "bad..host", "chain": [CHAIN]}, "not a host name"),
])
def test_bad_dane_verify(untouched: Api, body: Any, words: str) -> None:
    message = error_of(_post(untouched, "/v1/dane/verify", body))
    assert words in message, message


@pytest.mark.parametrize(("path", "body", "words"), [
    ("/v1/smimea/verify", {"email": "alice@secure.example"}, "'certificate' is required"),
    ("/v1/smimea/verify", {"email": "alice", "certificate": CHAIN}, "no '@'"),
    ("/v1/smimea/verify", {"email": "alice@secure.example", "certificate": "x"},
     "not a PEM certificate"),
    ("/v1/smimea/verify", {"email": "alice@secure.example", "certificate": CHAIN,
                           "trust_store": ["nope"]}, "trust_store"),
    ("/v1/dmarc/evaluate", {}, "'from_domain' is required"),
    ("/v1/dmarc/evaluate", {"from_domain": "secure.example",
                            "spf": {"result": "great", "domain": "secure.example"}},
     "'spf.result' must be one of"),
    ("/v1/dmarc/evaluate", {"from_domain": "secure.example", "spf": "pass"},
     "'spf' must be an object"),
    ("/v1/dmarc/evaluate", {"from_domain": "secure.example",
                            "spf": {"result": "pass", "domain": "secure.example", "x": 1}},
     "unknown member"),
    ("/v1/dmarc/evaluate", {"from_domain": "secure.example", "dkim": {"result": "pass"}},
     "'dkim' must be an array"),
    ("/v1/dmarc/evaluate", {"from_domain": "secure.example",
                            "dkim": [{"result": "pass", "domain": "bad..d"}]}, "dkim[0]"),
    ("/v1/dmarc/evaluate", {"from_domain": "secure.example", "pct_roll": 100},
     "'pct_roll' must be a number"),
    ("/v1/dmarc/evaluate", {"from_domain": "secure.example", "pct_roll": "5"},
     "'pct_roll' must be a number"),
    ("/v1/dmarc/evaluate", {"from_domain": "nodots"}, "at least 2 labels"),
])
def test_bad_json_members(untouched: Api, path: str, body: Any, words: str) -> None:
    message = error_of(_post(untouched, path, body))
    assert words in message, message


@pytest.mark.parametrize("path", ["/v1/dane/verify", "/v1/smimea/verify",
                                  "/v1/dmarc/evaluate"])
def test_json_transport_errors(untouched: Api, path: str) -> None:
    assert "not valid JSON" in error_of(untouched.request(
        "POST", path, data=b"{nope", content_type="application/json"))
    assert "not valid JSON" in error_of(untouched.request(
        "POST", path, data=b"\xff\xfe", content_type="application/json"))
    assert "not valid JSON" in error_of(untouched.request(
        "POST", path, data=b"[" * 100000 + b"]" * 100000, content_type="application/json"))
    assert "empty request body" in error_of(untouched.request(
        "POST", path, data=b"", content_type="application/json"))
    assert "Content-Type must be application/json" in error_of(untouched.request(
        "POST", path, data=b"{}", content_type="text/plain"), 415)
    assert "larger than" in error_of(untouched.request(
        "POST", path, data=json.dumps({"x": "a" * MAX_BODY}).encode(),
        content_type="application/json"), 413)


@pytest.mark.parametrize("path", ["/v1/dkim/verify", "/v1/authenticate"])
def test_message_transport_errors(untouched: Api, path: str) -> None:
    params = {"ip": "192.0.2.25", "helo": "mail.secure.example",
              "mailfrom": "alice@secure.example"}
    assert "Content-Type must be message/rfc822" in error_of(untouched.request(
        "POST", path, params, data=signed_message(), content_type="application/json"), 415)
    assert "empty request body" in error_of(untouched.request(
        "POST", path, params, data=b"", content_type="message/rfc822"))
    # past api-max-body (64 MiB by default): tests/api/test_rough_edges.py


@pytest.mark.parametrize(("params", "words"), [
    ({"helo": "mail.secure.example", "mailfrom": "a@secure.example"}, "'ip'"),
    ({"ip": "192.0.2.25", "mailfrom": "a@secure.example"}, "'helo'"),
    ({"ip": "192.0.2.25", "helo": "mail.secure.example"}, "'mailfrom'"),
    ({"ip": "nope", "helo": "mail.secure.example", "mailfrom": "a@secure.example"}, "ip"),
    ({"ip": "192.0.2.25", "helo": "mail.secure.example", "mailfrom": "a@secure.example",
      "authserv_id": "x\r\nInjected: yes"}, "authserv_id"),
])
def test_bad_authenticate(untouched: Api, params: dict[str, str], words: str) -> None:
    message = error_of(untouched.post_raw("/v1/authenticate", signed_message(), **params))
    assert words in message, message


def test_wrong_method_and_unknown_route(untouched: Api) -> None:
    assert error_of(untouched.get("/v1/dane/verify"), 405)
    assert error_of(untouched.request("POST", "/v1/tlsa", data=b"{}",
                                      content_type="application/json"), 405)
    assert error_of(untouched.get("/v1/nothing"), 404)


def test_header_limits(untouched: Api) -> None:
    many = {f"X-Filler-{i}": "v" * 4000 for i in range(10)}      # 40 kB in all
    reply = untouched.request("GET", "/v1/tlsa", {"host": "mx1.secure.example"},
                              headers=many)
    assert "header fields larger" in error_of(reply, 431)
    # One field over aiohttp's 8190-byte line limit is refused by its HTTP parser, before
    # any handler: a 400 (plain text there).
    host, port = untouched.url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000
                     + b"\r\nConnection: close\r\n\r\n")
        raw = b""
        while chunk := sock.recv(65536):
            raw += chunk
    assert raw.split(b" ", 2)[1] == b"400"
