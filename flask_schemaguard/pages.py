"""Pages for people: the drift page on a schema error and the health status page, in HTML.

A page replaces the JSON only when the client prefers ``text/html`` and the request may see
details (:func:`~.access.viewer`). What a page shows depends on why it may be seen:

- ``debug``: everything a developer needs: each database's address (password masked, SQLite's
  absolute path), the failing statement (never its parameters), each operation's SQL and lock,
  the database's message for what failed;
- ``token`` (production, ``Authorization: Bearer <health token>``): what the JSON shows with
  the token (bind, dialect, drift items), the plan's operations and locks, the audit trail's
  rows; no SQL, no database address, no database message.

Templates are rendered by the package's own Jinja environment, not the app's: none of the
app's context processors (which may query the very database that just failed) runs, and no
app template can shadow them. No script, no external asset: the one stylesheet is served by
the guard from the app's own origin.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any

import jinja2
from flask import Response, request, url_for
from markupsafe import Markup, escape

from .access import prefers_html, viewer
from .csrf import FIELD, csrf_token
from .engine.history import History, recent_events
from .errors import SchemaGuardError
from .report import DriftKind, DriftReport, HealResult, Operation, Severity
from .state import GuardState, get_state

logger = logging.getLogger("flask_schemaguard")

PROBLEM_TYPES = ("application/problem+json", "application/json")
HEALTH_TYPES = ("application/health+json", "application/json")
BLUEPRINT = "schemaguard_pages"
HISTORY_LIMIT = 20

#: Each lock level: its short label, and what it means for the app's traffic.
LOCKS = {
    "none": ("none", "reads and writes go on while it runs"),
    "brief": ("brief", "a short exclusive lock on the table, held for a moment"),
    "blocks_writes": ("blocks writes", "writes to the table wait until it is done; reads go on"),
    "rewrites": ("rewrites table", "the table is rewritten: reads and writes wait"),
}

#: Sent with every page: no script, no frame, no form posting elsewhere.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

_NOT_DRIFT = (DriftKind.PENDING_MIGRATIONS, DriftKind.DATABASE_UNREACHABLE, DriftKind.LOCK_TIMEOUT)

_BREAK_AFTER = re.compile(r"([./])")
_BREAK_PROSE = re.compile(r"([./_])")


def breakable(value: object, *, prose: bool = False) -> Markup:
    """Escaped text that may wrap after ``.`` and ``/`` (qualified names, paths); in
    ``prose`` after ``_`` too, so one long identifier in a sentence cannot widen a table."""
    pattern = _BREAK_PROSE if prose else _BREAK_AFTER
    return Markup(pattern.sub(r"\1<wbr>", str(escape(value))))


_env = jinja2.Environment(
    loader=jinja2.PackageLoader("flask_schemaguard", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters["breakable"] = breakable


def drift_page(problem: Mapping[str, Any]) -> Response | None:
    """The page for a schema error (``problem`` is its problem JSON), or None for JSON."""
    state = get_state()
    who = viewer(state.config.health_token)
    if who is None or not prefers_html(*PROBLEM_TYPES):
        return None
    try:
        report = state.runner.check()
        plan = _plan(state, report)
    except SchemaGuardError:
        logger.exception("schemaguard: the drift page could not check the schema; sent JSON")
        return None
    path = request.script_root + request.path
    if request.query_string:
        path += "?" + request.query_string.decode("latin-1")
    failing = f"{request.method} {path}"
    back = path if request.method in ("GET", "HEAD") else None
    context = _context(state, who, report, plan, back=back, retry=None if back else failing)
    context.update(
        problem=problem,
        failing=failing,
        back=back,
        sql=problem.get("sql") if who == "debug" else None,
    )
    return render("drift.html", context, 503)


def health_page(state: GuardState, report: DriftReport, body: Mapping[str, Any]) -> Response | None:
    """The status page for ``GET /healthz/schema`` (``body`` is its JSON), or None for JSON."""
    who = viewer(state.config.health_token)
    if who is None or not prefers_html(*HEALTH_TYPES):
        return None
    try:
        plan = _plan(state, report)
        problem = None
    except SchemaGuardError as exc:
        plan, problem = [], str(exc) if who == "debug" else "the plan could not be made"
    back = request.script_root + request.path
    context = _context(state, who, report, plan, back=back, retry=None)
    statuses = {c["componentId"]: c["status"] for c in body["checks"]["schema:drift"]}
    for database in context["databases"]:
        database["status"] = statuses.get(database["bind"], "fail")
    history = _history(state)
    context.update(
        status=body["status"],
        when=body["checks"]["schema:drift"][0]["time"] if statuses else "",
        plan_problem=problem,
        history=history,
        last_heal=history.last_heal() if history is not None else (),
    )
    return render("health.html", context, 503 if body["status"] == "fail" else 200)


def heal_result_page(
    state: GuardState,
    who: str,
    result: HealResult | None,
    error: str | None,
    *,
    retry: str | None,
    back: str | None,
) -> Response:
    """What a heal from the page did, when it cannot simply go back to the failing URL."""
    report = result.after if result is not None else DriftReport()
    context = _context(state, who, report, [], back=None, retry=None)
    failed = [
        (op, message if who == "debug" else "see the server log or `flask schemaguard history`")
        for op, message in (result.failed if result is not None else ())
    ]
    ok = error is None and result is not None and not result.failed and not report.errors
    context.update(
        result=result,
        failed=failed,
        error=error if who == "debug" or error is None else "the heal could not run",
        ok=ok,
        retry=retry,
        back=back,
    )
    return render("healed.html", context, 200 if ok else 503)


def refused_page(reason: str) -> Response:
    """A refused Heal now request (cross-origin, or no valid CSRF token): 403."""
    return render("refused.html", {"reason": reason, "css": _css()}, 403)


def render(name: str, context: Mapping[str, Any], status: int) -> Response:
    html = _env.get_template(name).render(context)
    response = Response(html, status=status, mimetype="text/html")
    response.headers.update(SECURITY_HEADERS)
    response.vary.add("Accept")
    return response


def commands(report: DriftReport) -> list[dict[str, str]]:
    """What a person can run for what the Heal button does not fix."""
    kinds = {i.kind for i in report.items}
    out: list[dict[str, str]] = []
    if DriftKind.PENDING_MIGRATIONS in kinds:
        out.append(
            {
                "why": "Migrations are pending: the guard does not heal a database whose "
                "Alembic revision is behind. Apply them:",
                "command": "flask db upgrade",
            }
        )
    stuck = [
        i
        for i in report.items
        if not i.healable and i.severity is not Severity.INFO and i.kind not in _NOT_DRIFT
    ]
    if stuck:
        out.append(
            {
                "why": f"{len(stuck)} item(s) the guard may not heal: write a migration for "
                "them, review what it could not write, then apply it:",
                "command": 'flask schemaguard revision -m "schema drift"\nflask db upgrade',
            }
        )
    if DriftKind.LOCK_TIMEOUT in kinds:
        out.append(
            {
                "why": "Another process held the heal lock: heal again once it is done:",
                "command": "flask schemaguard heal",
            }
        )
    if report.healable:
        out.append({"why": "The same heal from a terminal:", "command": "flask schemaguard heal"})
    return out


def _plan(state: GuardState, report: DriftReport) -> list[Operation]:
    return state.runner.plan() if report.healable else []


def _context(
    state: GuardState,
    who: str,
    report: DriftReport,
    plan: Sequence[Operation],
    *,
    back: str | None,
    retry: str | None,
) -> dict[str, Any]:
    debug = who == "debug"
    databases = [
        {
            "bind": d.bind or "default",
            "dialect": d.dialect,
            "url": d.url if debug else None,
            "reachable": d.reachable,
            "error": (d.error if debug else "not reachable") if not d.reachable else None,
            "items": [i for i in report.items if i.bind == d.bind],
        }
        for d in report.databases
    ]
    form = None
    if plan:
        form = {
            "action": url_for(f"{BLUEPRINT}.heal"),
            "field": FIELD,
            "token": csrf_token(state),
            "next": back,
            "retry": retry,
        }
    return {
        "who": who,
        "debug": debug,
        "mode": state.config.mode,
        "databases": databases,
        "in_sync": report.in_sync,
        "plan": list(plan),
        "locks": LOCKS,
        "form": form,
        "commands": commands(report),
        "css": _css(),
    }


def _history(state: GuardState) -> History | None:
    name = state.config.audit_table
    if name is None:
        return None
    return recent_events(state.targets, name, HISTORY_LIMIT)


def _css() -> str:
    return url_for(f"{BLUEPRINT}.static", filename="schemaguard.css")
