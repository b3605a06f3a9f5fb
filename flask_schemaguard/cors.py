"""CORS on the guard's responses, complete enough for a browser.

- The problem JSON echoes an allowed origin (``SCHEMAGUARD_CORS_ORIGINS``) and exposes
  ``Retry-After``; with ``SCHEMAGUARD_CORS_CREDENTIALS`` it allows credentials (never with
  ``*``, which the configuration refuses).
- A browser sends a preflight ``OPTIONS`` before a cross-origin JSON POST (or any request
  with a custom header) and sends nothing more unless it is allowed: without flask-cors the
  guard answers it for allowed origins, so that a request the app would answer with the
  problem JSON gets that far. Only for a method the route serves; the requested headers
  are echoed.
- Where flask-cors handles the request (on the app or on the request's blueprint), or the
  app answered the preflight with CORS headers itself, the guard adds nothing: the headers
  are never set twice.
"""

from __future__ import annotations

from collections.abc import Sequence

from flask import Flask, Response, current_app, request

from .state import get_state

#: Seconds a browser may reuse the guard's preflight answer.
PREFLIGHT_MAX_AGE = 600


def add_cors_headers(response: Response, origins: Sequence[str], credentials: bool) -> None:
    """Echo an allowed origin on a response, unless flask-cors handles this request."""
    if flask_cors_active() or not _allow_origin(response, origins, credentials):
        return
    response.headers["Access-Control-Expose-Headers"] = "Retry-After"


def register_preflight(app: Flask) -> None:
    app.after_request(answer_preflight)


def answer_preflight(response: Response) -> Response:
    """``after_request``: the CORS headers of a preflight the app did not answer itself."""
    method = request.headers.get("Access-Control-Request-Method", "").strip().upper()
    if request.method != "OPTIONS" or not method or not request.headers.get("Origin"):
        return response
    if response.status_code >= 300 or "Access-Control-Allow-Origin" in response.headers:
        return response
    served = current_app.url_map.bind_to_environ(request.environ).allowed_methods()
    if method not in served or flask_cors_active():
        return response
    config = get_state().config
    if not _allow_origin(response, config.cors_origins, config.cors_credentials):
        return response
    response.headers["Access-Control-Allow-Methods"] = method
    asked = request.headers.get("Access-Control-Request-Headers", "").strip()
    if asked:
        response.headers["Access-Control-Allow-Headers"] = asked
    response.headers["Access-Control-Max-Age"] = str(PREFLIGHT_MAX_AGE)
    response.vary.update(("Access-Control-Request-Method", "Access-Control-Request-Headers"))
    return response


def _allow_origin(response: Response, origins: Sequence[str], credentials: bool) -> bool:
    """Set ``Access-Control-Allow-Origin`` (and credentials); False when not allowed."""
    if not origins:
        return False
    if "*" in origins:
        response.headers["Access-Control-Allow-Origin"] = "*"
        return True
    response.vary.add("Origin")
    origin = request.headers.get("Origin")
    if not origin or origin not in origins:
        return False
    response.headers["Access-Control-Allow-Origin"] = origin
    if credentials:
        response.headers["Access-Control-Allow-Credentials"] = "true"
    return True


def flask_cors_active() -> bool:
    """flask-cors is set up on the app (or on a blueprint of this request): it adds the headers
    itself, by its own rules, so ours would only override them."""
    funcs = current_app.after_request_funcs
    for name in (None, *request.blueprints):
        if any(getattr(f, "__name__", "") == "cors_after_request" for f in funcs.get(name, ())):
            return True
    return False
