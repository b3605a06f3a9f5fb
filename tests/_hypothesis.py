"""Hypothesis profiles for the property-based tests, picked with ``HYPOTHESIS_PROFILE``.

- ``ci`` (default): a few dozen examples per database, enough to catch regressions quickly.
- ``long``: 500 examples per database, for a local run before a release
  (``HYPOTHESIS_PROFILE=long .venv/bin/python -m pytest tests/test_property.py``).
- ``dev``: 100 examples, no shrinking: finds a failure fast while working on the engine.

The profiles are applied per test (``@settings(parent=profile())``), not loaded globally, and
keep no example database on disk (the suite runs from clean clones).
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, Phase, settings

_COMMON = {
    "deadline": None,
    "database": None,
    "suppress_health_check": [
        HealthCheck.function_scoped_fixture,  # one database per test, reset per example
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
    "print_blob": True,
}

settings.register_profile("ci", max_examples=40, **_COMMON)  # type: ignore[arg-type]
settings.register_profile("long", max_examples=500, **_COMMON)  # type: ignore[arg-type]
settings.register_profile(
    "dev",
    max_examples=100,
    phases=(Phase.explicit, Phase.generate),
    **_COMMON,  # type: ignore[arg-type]
)


def profile() -> settings:
    name = os.environ.get("HYPOTHESIS_PROFILE", "ci")
    if name not in ("ci", "long", "dev"):
        name = "ci"
    return settings.get_profile(name)
