"""While columns are degraded, the running app notices when the database gains them.

A statement that reads a degraded model starts, at most once per
``SCHEMAGUARD_HEALTH_CACHE_SECONDS``, the health probe in its own thread: one fingerprint
query per bind, a full check only when the schema changed. The probe's report restores (or
degrades) the mappers, as a health poll's and a heal-on-error's do. While nothing is
degraded no statement calls in here, so this costs no query.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from flask import current_app, has_app_context

from . import health
from .state import GuardState


def touched(reads_degraded: Callable[[], bool]) -> None:
    """A statement runs while a column is degraded: start a re-check when one is due and the
    statement reads a degraded model.

    Called inside the statement's execution, so it only starts a thread, never waits.
    """
    if not has_app_context():
        return
    state = current_app.extensions.get("schemaguard")
    if not isinstance(state, GuardState) or time.monotonic() < state.recheck_after:
        return
    if not state.config.degrade_missing_columns or not reads_degraded():
        return
    period = state.config.health_cache_seconds
    if health.start_probe(state) is None:  # the last report is fresh: re-check once it is not
        cache = state.health_cache
        state.recheck_after = (cache.checked_at if cache else time.monotonic()) + period
    else:
        state.recheck_after = time.monotonic() + period


def checked(state: GuardState) -> None:
    """A check or heal just ran: the next re-check is due one period from now."""
    state.recheck_after = time.monotonic() + state.config.health_cache_seconds
