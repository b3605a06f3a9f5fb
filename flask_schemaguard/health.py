"""The health endpoint: ``application/health+json``, pass/warn/fail, cached and bounded."""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from flask import Blueprint, Flask, Response, current_app

from . import orm_refresh
from .access import token_authorized
from .dialects import display_url
from .pages import health_page
from .report import DatabaseInfo, Drift, DriftKind, DriftReport, Severity
from .state import GuardState, get_state

logger = logging.getLogger("flask_schemaguard")

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
    if current_app.debug or token_authorized(state.config.health_token):
        body["details"] = [i.to_dict() for i in report.items]
    page = health_page(state, report, body)  # a person's browser, in debug or with the token
    if page is not None:
        return page
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
        component: dict[str, Any] = {
            "componentId": database.bind or "default",
            "componentType": database.dialect,
            "status": health_status(sub),
        }
        if database.reachable:
            drift = [
                i for i in items if i.severity is not Severity.INFO and i.kind not in _NOT_DRIFT
            ]
            component.update(observedValue=len(drift), observedUnit="drift items")
        else:  # no check ran: no count to observe, the reason instead
            component["output"] = f"database unreachable: {database.error}"
        component["time"] = when
        components.append(component)
    return components


#: Items that say a check could not run (or heal), not that the schema drifted.
_NOT_DRIFT = (DriftKind.DATABASE_UNREACHABLE, DriftKind.LOCK_TIMEOUT)


def _current_report(state: GuardState) -> tuple[DriftReport, str]:
    """The report to answer with: at most one probe per app runs at a time, and a request
    waits for it at most ``PROBE_TIMEOUT`` seconds (a hung database cannot pile up threads).
    Within ``SCHEMAGUARD_HEALTH_CACHE_SECONDS`` of the last probe the cached report answers
    at once: no thread, no query."""
    cache = _fresh_cache(state)
    if cache is not None:
        return cache.report, cache.wall_time
    probe = start_probe(state)
    if probe is None:  # another request's probe has just filled the cache
        cache = state.health_cache
        assert cache is not None
        return cache.report, cache.wall_time
    if not probe.answered.wait(PROBE_TIMEOUT):
        return _failure(state, f"The database did not answer within {PROBE_TIMEOUT:g} s."), _now()
    if probe.error is not None:
        return _failure(state, f"The schema check failed: {probe.error}"), _now()
    assert probe.result is not None
    return probe.result.report, probe.result.wall_time


def start_probe(state: GuardState) -> _Probe | None:
    """The probe now running (started here unless one runs), or None when the cache is
    fresh. Never waits: a re-check started by a request runs alongside it."""
    with state.health_lock:
        if _fresh_cache(state) is not None:
            return None
        probe: _Probe | None = state.health_probe
        if probe is None or probe.done.is_set():
            probe = _Probe(state)
            state.health_probe = probe
            probe.start()
        return probe


def _fresh_cache(state: GuardState) -> HealthCache | None:
    cache: HealthCache | None = state.health_cache
    if (
        cache is not None
        and time.monotonic() - cache.checked_at < state.config.health_cache_seconds
    ):
        return cache
    return None


class _Probe:
    """One check in a helper thread; its result becomes the app's health cache."""

    def __init__(self, state: GuardState) -> None:
        self.state = state
        self.answered = threading.Event()  # the report (or the error) is there
        self.done = threading.Event()  # and the mappers follow it
        self.result: HealthCache | None = None
        self.error: BaseException | None = None

    def start(self) -> None:
        threading.Thread(target=self._run, name="schemaguard-health", daemon=True).start()

    def _run(self) -> None:
        try:
            self.result = _probe(self.state)
            self.state.health_cache = self.result
        except Exception as exc:  # answered as "fail" by the waiting request
            self.error = exc
        finally:
            self.answered.set()
        try:
            if self.result is not None:
                _sync_mappers(self.state, self.result.report)
        finally:
            self.done.set()


def _sync_mappers(state: GuardState, report: DriftReport) -> None:
    """Degrade or restore columns by the probe's report: a column another process (or a
    migration) added is mapped again, one that went is degraded."""
    try:
        orm_refresh.sync_mappers(
            state.targets, report, degrade=state.config.degrade_missing_columns
        )
    except Exception:  # the answer stands; the next probe tries again
        logger.exception("schemaguard: refreshing the mappers after a health probe failed")


def _probe(state: GuardState) -> HealthCache:
    """Once the cache window has passed: one fingerprint query per bind, and an unchanged
    schema reuses the last report for another window; a changed one gets a full check."""
    runner = state.runner
    cache: HealthCache | None = state.health_cache
    if cache is not None and state.config.health_cache_seconds > 0:
        fingerprints = runner.fingerprints()
        if None not in fingerprints.values() and fingerprints == cache.fingerprints:
            return HealthCache(cache.report, fingerprints, time.monotonic(), _now())
    report, fingerprints = runner.check_with_fingerprints()
    return HealthCache(report, fingerprints, time.monotonic(), _now())


def _failure(state: GuardState, message: str) -> DriftReport:
    databases = tuple(
        DatabaseInfo(t.bind, t.dialect, display_url(t.engine), False, message)
        for t in state.targets
    )
    item = Drift(DriftKind.DATABASE_UNREACHABLE, None, None, Severity.ERROR, False, message)
    return DriftReport((item,), databases)


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
