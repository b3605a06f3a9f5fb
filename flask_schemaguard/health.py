"""The health endpoint: ``application/health+json``, pass/warn/fail, cached and bounded."""

from __future__ import annotations

import hmac
import json
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from flask import Blueprint, Flask, Response, current_app, request

from .extension import GuardState, get_state
from .report import DriftReport, Severity

#: A probe that takes longer than this answers ``fail`` (the check goes on in the background).
PROBE_TIMEOUT = 2.0


@dataclass
class HealthCache:
    report: DriftReport
    fingerprints: dict[str | None, str | None]
    checked_at: float
    wall_time: str


def register_health(app: Flask, url: str) -> None:
    blueprint = Blueprint("schemaguard_health", __name__)
    blueprint.add_url_rule(url, "health", health_view, methods=["GET"])
    app.register_blueprint(blueprint)


def health_view() -> Response:
    state = get_state()
    report, when = _current_report(state)
    status = health_status(report)
    body: dict[str, Any] = {
        "status": status,
        "checks": {"schema:drift": _components(report, when)},
    }
    if current_app.debug or _authorized(state.config.health_token):
        body["details"] = [i.to_dict() for i in report.items]
    response = Response(
        json.dumps(body),
        status=503 if status == "fail" else 200,
        mimetype="application/health+json",
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def health_status(report: DriftReport) -> str:
    if any(i.severity is Severity.ERROR for i in report.items):
        return "fail"
    if any(not d.reachable for d in report.databases):
        return "fail"
    if any(i.severity is Severity.WARNING for i in report.items):
        return "warn"
    return "pass"


def _components(report: DriftReport, when: str) -> list[dict[str, Any]]:
    components = []
    for database in report.databases:
        items = [i for i in report.items if i.bind == database.bind]
        sub = DriftReport(tuple(items), (database,))
        components.append(
            {
                "componentId": database.bind or "default",
                "componentType": database.dialect,
                "status": health_status(sub),
                "observedValue": sum(1 for i in items if i.severity is not Severity.INFO),
                "observedUnit": "drift items",
                "time": when,
            }
        )
    return components


def _authorized(token: str | None) -> bool:
    if token is None:
        return False
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer":
        given = ""
    return hmac.compare_digest(given.strip().encode(), token.encode())


def _current_report(state: GuardState) -> tuple[DriftReport, str]:
    cache: HealthCache | None = state.health_cache
    now = time.monotonic()
    max_age = state.config.health_cache_seconds
    if cache is not None and now - cache.checked_at < max_age:
        return cache.report, cache.wall_time
    result = _bounded(lambda: _probe(state, cache))
    if result is None:
        from .report import DatabaseInfo, Drift, DriftKind

        databases = tuple(
            DatabaseInfo(d.bind, d.dialect, d.url, False, "no answer within 2 s")
            for d in (cache.report.databases if cache else ())
        )
        item = Drift(
            DriftKind.DATABASE_UNREACHABLE,
            None,
            None,
            Severity.ERROR,
            False,
            f"The database did not answer within {PROBE_TIMEOUT:g} s.",
        )
        return DriftReport((item,), databases), _now()
    state.health_cache = result
    return result.report, result.wall_time


def _probe(state: GuardState, cache: HealthCache | None) -> HealthCache:
    runner = state.runner
    if cache is not None:
        fingerprints = runner.fingerprints()
        if None not in fingerprints.values() and fingerprints == cache.fingerprints:
            return HealthCache(cache.report, fingerprints, time.monotonic(), cache.wall_time)
    report, fingerprints = runner.check_with_fingerprints()
    return HealthCache(report, fingerprints, time.monotonic(), _now())


def _bounded(fn: Any) -> HealthCache | None:
    """Run ``fn`` in a helper thread; None if it has not finished within PROBE_TIMEOUT."""
    box: list[HealthCache] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            box.append(fn())
        except BaseException as exc:  # reported to the caller below
            errors.append(exc)

    thread = threading.Thread(target=run, name="schemaguard-health", daemon=True)
    thread.start()
    thread.join(PROBE_TIMEOUT)
    if errors:
        raise errors[0]
    return box[0] if box else None


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
