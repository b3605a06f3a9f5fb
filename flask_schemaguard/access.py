"""Who may see the guard's details, and who asked for a page rather than JSON.

Details (drift items, the pages for people, the Heal button) are for the app's own developers:
``app.debug``, or a request carrying the health token (``Authorization: Bearer <token>``).
A page is answered only when the client prefers ``text/html`` over every JSON type offered:
``*/*``, no ``Accept`` and JSON-first lists keep the JSON.
"""

from __future__ import annotations

import hmac

from flask import current_app, request

HTML = "text/html"


def token_authorized(token: str | None) -> bool:
    """The request carries ``Authorization: Bearer <token>`` (compared in constant time)."""
    if token is None:
        return False
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer":
        given = ""
    return hmac.compare_digest(given.strip().encode(), token.encode())


def viewer(token: str | None) -> str | None:
    """Why this request may see details: ``"debug"``, ``"token"``, or None (it may not)."""
    if current_app.debug:
        return "debug"
    if token_authorized(token):
        return "token"
    return None


def prefers_html(*machine_types: str) -> bool:
    """True when ``text/html`` is the best match of the request's ``Accept`` over
    ``machine_types`` (offered first, so they win every tie) plus ``text/html``."""
    accept = request.accept_mimetypes
    if not accept.provided:
        return False
    return accept.best_match([*machine_types, HTML]) == HTML
