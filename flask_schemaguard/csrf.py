"""What guards the Heal now button: a per-app CSRF token, and same-origin requests only.

The token is an HMAC of a fixed label under the app's secret (the health token if set, else
``app.secret_key``, else a random secret of this app's guard): every worker of the app derives
the same token, and it never reveals the secret it comes from.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import urlsplit

from flask import current_app, request

from .state import GuardState

#: Not Flask-WTF's ``csrf_token``: an app using it keeps its own field to itself.
FIELD = "schemaguard_csrf"
_LABEL = b"flask-schemaguard: heal now"


def csrf_token(state: GuardState) -> str:
    """The app's token for the Heal now form."""
    key: str | bytes = state.config.health_token or current_app.secret_key or state.page_secret
    raw = key.encode() if isinstance(key, str) else bytes(key)
    return hmac.new(raw, _LABEL, hashlib.sha256).hexdigest()


def refusal(state: GuardState) -> str | None:
    """Why this POST must be refused (a sentence), or None when it came from the app's own
    page: same origin (``Origin``, else ``Referer``), and the app's CSRF token."""
    own = f"{request.scheme}://{request.host}".lower()
    origin = request.headers.get("Origin")
    if origin is not None:
        if origin.strip().lower() != own:
            return "The request came from another origin than this app's."
    else:
        referer = urlsplit(request.headers.get("Referer", ""))
        if not referer.scheme or f"{referer.scheme}://{referer.netloc}".lower() != own:
            return "The request did not say it came from this app (no Origin or Referer)."
    given = request.form.get(FIELD, "")
    if not given:
        return "The form carried no CSRF token."
    if not hmac.compare_digest(given.encode(), csrf_token(state).encode()):
        return "The form's CSRF token is not this app's (the page may be stale: reload it)."
    return None


def safe_path(value: str | None) -> str | None:
    """``value`` when it is a path on this site (``/...``), else None: no open redirect."""
    if not value or not value.startswith("/") or value.startswith("//"):
        return None
    if "\\" in value or any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        return None
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return None
    return value
