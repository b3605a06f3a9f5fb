"""Build the RFC 9457 problem response for a schema error, with CORS headers.

A person's browser in debug mode (or with the health token) gets the drift page instead.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from flask import Response, current_app, request

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
    add_cors_headers(response, origins)
    return response


def add_cors_headers(response: Response, origins: Sequence[str]) -> None:
    """Echo allowed origins, unless flask-cors already handles this app."""
    if _flask_cors_active() or not origins:
        return
    origin = request.headers.get("Origin")
    if "*" in origins:
        response.headers["Access-Control-Allow-Origin"] = "*"
    else:
        response.vary.add("Origin")
        if origin and origin in origins:
            response.headers["Access-Control-Allow-Origin"] = origin
        else:
            return
    response.headers["Access-Control-Expose-Headers"] = "Retry-After"


def _flask_cors_active() -> bool:
    """flask-cors is set up on the app (or on a blueprint of this request): it adds the headers
    itself, by its own rules, so ours would only override them."""
    funcs = current_app.after_request_funcs
    for name in (None, *request.blueprints):
        if any(getattr(f, "__name__", "") == "cors_after_request" for f in funcs.get(name, ())):
            return True
    return False
