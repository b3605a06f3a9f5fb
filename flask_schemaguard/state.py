"""The guard's per-app state (``app.extensions["schemaguard"]``), shared by the adapters."""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flask import Flask, current_app

from .config import Config
from .engine.runner import Runner
from .engine.targets import Target
from .errors import SchemaGuardError
from .report import DriftReport, HealResult

if TYPE_CHECKING:
    from .extension import SchemaGuard


@dataclass(eq=False)
class GuardState:
    """Everything the guard keeps for one app: ``app.extensions["schemaguard"]``."""

    guard: SchemaGuard
    config: Config
    runner: Runner
    startup_done: bool = False
    startup_lock: threading.Lock = field(default_factory=threading.Lock)
    startup_retry_at: float = 0.0
    startup_error: SchemaGuardError | None = None
    startup_lock_lost: bool = False
    last_report: DriftReport | None = None
    last_result: HealResult | None = None
    heal_on_error_times: dict[tuple[str | None, str | None, str], float] = field(
        default_factory=dict
    )
    heal_on_error_lock: threading.Lock = field(default_factory=threading.Lock)
    heal_on_error_job: Any = None
    health_cache: Any = None
    health_probe: Any = None
    health_lock: threading.Lock = field(default_factory=threading.Lock)
    #: Signs the pages' CSRF token when the app has no health token and no secret key.
    page_secret: str = field(default_factory=lambda: secrets.token_hex(32))
    #: ``time.monotonic()`` before which a request on a degraded model starts no re-check
    recheck_after: float = 0.0

    @property
    def targets(self) -> list[Target]:
        return self.runner.targets


def state_of(app: Flask) -> GuardState:
    try:
        return app.extensions["schemaguard"]  # type: ignore[no-any-return]
    except KeyError:
        raise RuntimeError(
            "SchemaGuard is not registered on this app. Did you forget init_app(app)?"
        ) from None


def get_state(app: Flask | None = None) -> GuardState:
    """The guard state of ``app`` (default: the current app)."""
    return state_of(app if app is not None else current_app._get_current_object())  # type: ignore[attr-defined]


class ConfigErrorState:
    """``app.extensions["schemaguard"]`` under ``flask schemaguard ...`` when the config is
    invalid: the app still loads, and every command reports the error with exit status 2."""

    def __init__(self, guard: SchemaGuard, error: SchemaGuardError) -> None:
        self.guard = guard
        self.error = error
