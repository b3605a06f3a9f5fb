"""The pages' routes: the Heal now POST and the pages' stylesheet.

``POST /_schemaguard/heal`` answers 404 unless the request may see details (debug, or the
health token), 403 unless it comes from the app's own page (same origin, the app's CSRF
token). Then it heals (any mode but ``off``: a person's decision, like ``flask schemaguard
heal``) and goes back to the failing URL with a 303, or shows what failed and why.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Flask, Response, abort, current_app, redirect, request

from .access import viewer
from .csrf import refusal, safe_path
from .errors import SchemaGuardError
from .pages import BLUEPRINT, heal_result_page, refused_page
from .state import GuardState, get_state

logger = logging.getLogger("flask_schemaguard")

HEAL_URL = "/_schemaguard/heal"
STATIC_URL = "/_schemaguard/static"


def register_pages(app: Flask) -> None:
    blueprint = Blueprint(BLUEPRINT, __name__, static_folder="static", static_url_path=STATIC_URL)
    blueprint.add_url_rule(HEAL_URL, "heal", heal_view, methods=["POST"])
    app.register_blueprint(blueprint)


def heal_view() -> Response:
    state = get_state()
    who = viewer(state.config.health_token)
    if who is None:
        abort(404)
    reason = refusal(state)
    if reason is not None:
        logger.warning("schemaguard: refused a Heal now request: %s", reason)
        return refused_page(reason)
    back = safe_path(request.form.get("next"))
    retry = request.form.get("retry") or None
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    logger.info("schemaguard: Heal now requested from the page (%s)", who)
    _release_session(state)
    try:
        result = state.guard.heal(app=app)
    except SchemaGuardError as exc:
        logger.warning("schemaguard: Heal now failed: %s", exc)
        return heal_result_page(state, who, None, str(exc), retry=retry, back=back)
    finally:
        state.health_cache = None  # the health page shows the state after this heal
    fixed = not result.failed and not result.after.errors
    if fixed and back is not None:
        return redirect(back, code=303)  # type: ignore[return-value]
    return heal_result_page(state, who, result, None, retry=retry, back=back)


def _release_session(state: GuardState) -> None:
    """End the app session's transaction (a before_request hook may have read): the heal
    must not wait for locks this very request holds."""
    db = state.guard.db if state.guard.db is not None else current_app.extensions.get("sqlalchemy")
    session = getattr(db, "session", None)
    if session is not None:
        session.rollback()
