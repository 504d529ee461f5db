"""A bounded schemathesis run of every operation in resolver/api/openapi.json against the
API on the zones/ test network: no 5xx, no crash, and every answer conforms to the
description (status code, content type, response schema).

Both generation modes run (positive: data the description allows, including its
examples; negative: data it forbids). The budget is ``FUZZ_EXAMPLES`` examples per
operation (both modes together: about 450 requests in all), deterministic, no shrinking,
so a run takes well under a minute. The description's patterns make most positive
examples real lookups on the test network.
"""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from resolver.api.app import OPENAPI

from .conftest import Api

FUZZ_EXAMPLES = 25

CONFIG = schemathesis.Config.from_dict({
    "generation": {"mode": "all", "max-examples": FUZZ_EXAMPLES, "deterministic": True,
                   "no-shrink": True, "allow-x00": True},
    "phases": {"coverage": {"enabled": False}, "stateful": {"enabled": False}},
    "suppress-health-check": ["too_slow", "filter_too_much", "data_too_large"],
})
schema = schemathesis.openapi.from_path(OPENAPI, config=CONFIG)


@schemathesis.serializer("application/dns-message", "message/rfc822")
def _binary(ctx: schemathesis.SerializationContext, value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    return str(value).encode("utf-8", "surrogatepass")


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]


@schema.parametrize()
@settings(max_examples=FUZZ_EXAMPLES, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
def test_api_fuzz(case: schemathesis.Case, zones_api: Api) -> None:
    response = case.call(base_url=zones_api.url, timeout=30)
    assert response.status_code < 500, response.text[:300]
    case.validate_response(response, checks=CHECKS)

