"""The OpenAPI description (resolver/api/openapi.json) documents exactly the app's routes,
with their parameters, request bodies and responses (4xx error shape included), and is
what ``/v1/openapi.json`` serves."""

from __future__ import annotations

import inspect
import json
import re
from typing import Any

import pytest
import schemathesis

from resolver.api import mail_routes
from resolver.api.app import OPENAPI, create_app
from resolver.config import Settings
from resolver.service import Resolver

SPEC: dict[str, Any] = json.loads(OPENAPI.read_text())
METHODS = {"get", "post", "put", "delete", "patch", "options", "head"}


def app_routes() -> set[tuple[str, str]]:
    # the JSON API only: the HTML report page (/ui/, api-ui) is not described here
    app = create_app(Resolver(Settings(api=None, validate=False, api_ui=False)))
    out: set[tuple[str, str]] = set()
    for route in app.router.routes():
        if route.method == "HEAD":   # aiohttp adds HEAD for every GET
            continue
        resource = route.resource
        assert resource is not None
        out.add((route.method.lower(), resource.canonical))
    return out


def spec_routes() -> set[tuple[str, str]]:
    return {(method, path) for path, item in SPEC["paths"].items()
            for method in item if method in METHODS}


def test_every_route_is_documented_and_vice_versa() -> None:
    routes = app_routes()
    documented = spec_routes()
    assert routes - documented == set(), "routes missing from openapi.json"
    assert documented - routes == set(), "openapi.json documents routes the app lacks"
    for method, path in [(m.lower(), p) for m, p, _ in mail_routes.ROUTES]:
        assert (method, path) in documented


def _operations() -> list[tuple[str, str, dict[str, Any]]]:
    return [(method, path, op) for path, item in SPEC["paths"].items()
            for method, op in item.items() if method in METHODS]


@pytest.mark.parametrize(("method", "path", "op"), _operations(),
                         ids=[f"{m.upper()} {p}" for m, p, _ in _operations()])
def test_operation_is_complete(method: str, path: str, op: dict[str, Any]) -> None:
    assert op.get("summary") and op.get("description") and op.get("operationId")
    responses = op["responses"]
    assert "200" in responses and responses["200"].get("content")
    assert "400" in responses and "4XX" in responses
    for param in op.get("parameters", []):
        assert param["in"] == "query" and param.get("description") and "schema" in param
    if method == "post":
        assert op["requestBody"]["required"] is True
        assert op["requestBody"]["content"]


def test_query_parameters_match_the_handlers() -> None:
    """Each query parameter a mail handler reads is documented for its route."""
    for method, path, handler in mail_routes.ROUTES:
        body = inspect.getsource(handler)
        read = set(re.findall(r'param\(request, "([a-z_]+)"', body))
        read |= set(re.findall(r'request\.query\.get\("([a-z_]+)"', body))
        read |= set(re.findall(r'parse_flag\(request, "([a-z_]+)"', body))
        if "authserv_id(request)" in body:
            read.add("authserv_id")
        documented = {p["name"] for p in SPEC["paths"][path][method.lower()].get(
            "parameters", [])}
        assert read <= documented, (path, read - documented)


def test_error_shape() -> None:
    error = SPEC["components"]["schemas"]["Error"]
    assert error["required"] == ["error"]
    for name in ("BadInput", "ClientError"):
        schema = SPEC["components"]["responses"][name]["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/Error"}
    # only aiohttp's own parser (oversized request line or header field) answers in text
    assert set(SPEC["components"]["responses"]["ClientError"]["content"]) == {
        "application/json"}


def test_schemathesis_loads_every_operation() -> None:
    schema = schemathesis.openapi.from_path(OPENAPI)
    loaded = set()
    for result in schema.get_all_operations():
        operation = result.ok()
        loaded.add((operation.method.lower(), operation.path))
    assert loaded == spec_routes()


def test_served_description_is_the_file(zones_api: Any) -> None:
    reply = zones_api.get("/v1/openapi.json")
    assert reply.status == 200
    assert reply.body == SPEC
