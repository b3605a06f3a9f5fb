"""Hypothesis profiles for the property-based tests, picked with ``HYPOTHESIS_PROFILE``.

- ``ci`` (default): 40 examples per database, derandomized: the same examples on every run, so
  CI stays deterministic (the random exploration is what ``long`` and ``dev`` are for).
- ``long``: 500 examples per database, for a local run before a release
  (``HYPOTHESIS_PROFILE=long .venv/bin/python -m pytest tests/test_property.py``).
- ``dev``: 100 examples, no shrinking: finds a failure fast while working on the engine.

Both ``long`` and ``dev`` draw new examples on every run; a failure prints the example and a
``@reproduce_failure`` blob.

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

settings.register_profile(
    "ci",
    max_examples=40,
    derandomize=True,
    **_COMMON,  # type: ignore[arg-type]
)
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
