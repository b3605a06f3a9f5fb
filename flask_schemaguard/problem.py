"""Build the RFC 9457 problem response for a schema error, with CORS headers (``cors``).

A person's browser in debug mode (or with the health token) gets the drift page instead.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from flask import Response, current_app

from .cors import add_cors_headers
from .pages import drift_page

PROBLEM_TYPE = "urn:schemaguard:schema-drift"


def problem_response(
    *,
    detail: str,
    drift: str,
    table: str | None,
    column: str | None,
    healed: bool,
    sql: str | None,
    origins: Sequence[str],
    credentials: bool = False,
) -> Response:
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE,
        "title": "Database schema out of date",
        "status": 503,
        "code": "SCHEMA_DRIFT",
        "detail": detail,
        "drift": drift,
        "table": table,
        "column": column,
        "healed": healed,
    }
    if sql is not None and current_app.debug:
        body["sql"] = sql
    page = drift_page(body)  # a person's browser, in debug or with the health token
    response = page or Response(json.dumps(body), status=503, mimetype="application/problem+json")
    response.headers["Cache-Control"] = "no-store"
    if healed:
        response.headers["Retry-After"] = "0"
    add_cors_headers(response, origins, credentials)
    return response
