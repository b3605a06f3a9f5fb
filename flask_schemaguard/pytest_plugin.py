"""pytest plugin (entry point ``schemaguard``): opt-in schema checks for pytest-flask suites.

Both need an ``app`` fixture (pytest-flask's convention) returning a Flask app on which
:class:`~flask_schemaguard.SchemaGuard` is registered:

- the ``schemaguard_report`` fixture is ``guard.check()`` for that app: a ``DriftReport``;
- a test marked ``@pytest.mark.schemaguard`` (or ``@pytest.mark.schemaguard(ignore=[...])``)
  errors before it runs when the app's schema is not in sync, with a table of the drift.

A suite that uses neither is not affected: this module imports only pytest, registers the
marker, and adds nothing to unmarked tests.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from flask import Flask

    from .report import DriftReport

MARKER = "schemaguard"
_CHECK_FIXTURE = "_schemaguard_marker_check"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(ignore=()): error before the test when the database schema of the `app` "
        "fixture differs from its models (flask-schemaguard); `ignore` lists drift kinds "
        "to tolerate.",
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker(MARKER) is None:
            continue
        names = getattr(item, "fixturenames", None)
        if names is not None and _CHECK_FIXTURE not in names:
            item.fixturenames = [*names, _CHECK_FIXTURE]  # type: ignore[attr-defined]


def _app(request: pytest.FixtureRequest) -> Flask:
    try:
        app = request.getfixturevalue("app")
    except pytest.FixtureLookupError:
        raise pytest.UsageError(
            "flask-schemaguard's schemaguard_report fixture and schemaguard marker need an "
            "`app` fixture returning your Flask app (pytest-flask's convention)."
        ) from None
    extensions = getattr(app, "extensions", None)
    if not isinstance(extensions, dict) or "schemaguard" not in extensions:
        raise pytest.UsageError(
            "the `app` fixture's app has no SchemaGuard: call SchemaGuard(app) or "
            "guard.init_app(app) in your app factory."
        )
    return app  # type: ignore[no-any-return]


@pytest.fixture
def schemaguard_report(request: pytest.FixtureRequest) -> DriftReport:
    """The schema drift of the ``app`` fixture's databases (``guard.check()``)."""
    app = _app(request)
    return app.extensions["schemaguard"].guard.check(app=app)  # type: ignore[no-any-return]


@pytest.fixture
def _schemaguard_marker_check(request: pytest.FixtureRequest) -> None:
    """Added to tests marked ``schemaguard``: error out when the schema has drifted."""
    marker = request.node.get_closest_marker(MARKER)
    if marker is None:  # a sibling of a marked parametrized test
        return
    from .testing import assert_schema_in_sync

    ignore: Any = marker.kwargs.get("ignore", ())
    try:
        assert_schema_in_sync(_app(request), ignore=ignore)
    except AssertionError as exc:
        pytest.fail(str(exc), pytrace=False)
