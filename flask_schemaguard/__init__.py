"""flask-schemaguard: keep a running Flask app's database schema in step with its models."""

from __future__ import annotations

import logging

from .errors import SchemaDriftError, SchemaGuardError
from .extension import SchemaGuard
from .report import Drift, DriftKind, DriftReport, HealResult, Operation, Severity
from .signals import drift_detected, heal_failed, schema_healed

logging.getLogger("flask_schemaguard").addHandler(logging.NullHandler())

__version__ = "0.1.0"

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
