"""flask-schemaguard: keep a running Flask app's database schema in step with its models.

The public names are imported on first use, so that importing a submodule (the pytest
plugin that pytest loads in every run, say) does not import Flask and SQLAlchemy.
"""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .errors import SchemaDriftError, SchemaGuardError
    from .extension import SchemaGuard
    from .report import Drift, DriftKind, DriftReport, HealResult, Operation, Severity
    from .signals import drift_detected, heal_failed, schema_healed

logging.getLogger("flask_schemaguard").addHandler(logging.NullHandler())

__version__ = "0.1.0"

_EXPORTS = {
    "Drift": "report",
    "DriftKind": "report",
    "DriftReport": "report",
    "HealResult": "report",
    "Operation": "report",
    "SchemaDriftError": "errors",
    "SchemaGuard": "extension",
    "SchemaGuardError": "errors",
    "Severity": "report",
    "drift_detected": "signals",
    "heal_failed": "signals",
    "schema_healed": "signals",
}

__all__ = [
    "Drift",
    "DriftKind",
    "DriftReport",
    "HealResult",
    "Operation",
    "SchemaDriftError",
    "SchemaGuard",
    "SchemaGuardError",
    "Severity",
    "drift_detected",
    "heal_failed",
    "schema_healed",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
