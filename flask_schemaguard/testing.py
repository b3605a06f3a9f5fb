"""Helpers for your own test suite: fail CI when the database schema drifts from the models.

.. code-block:: python

    from flask_schemaguard.testing import assert_schema_in_sync

    def test_migrations_match_models(app):      # after `flask db upgrade` on a fresh database
        assert_schema_in_sync(app)

The check is read-only: it heals nothing and leaves the ORM mappers alone. Create the app with
``SCHEMAGUARD_MODE="check"`` (or ``SCHEMAGUARD_RUN_ON="manual"``) for such a test, so that the
guard does not heal the database at startup and hide a missing migration.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from .render import database_lines, detail_line, drift_table
from .report import DriftKind, DriftReport, Severity

if TYPE_CHECKING:
    from flask import Flask

    from .extension import SchemaGuard

__all__ = ["assert_schema_in_sync", "format_report"]


def assert_schema_in_sync(
    app_or_guard: Flask | SchemaGuard,
    *,
    app: Flask | None = None,
    ignore: Iterable[DriftKind | str] = (),
) -> DriftReport:
    """Assert that every database of the app matches its models; return the report.

    ``app_or_guard`` is a Flask app on which a :class:`~flask_schemaguard.SchemaGuard` is
    registered, or the guard itself (its app is then ``app=`` or the current app). Drift of
    the kinds in ``ignore`` (say ``["missing_index"]``) does not fail the assertion; ``info``
    items (extra tables, columns, indexes) never do. On drift, raises ``AssertionError`` with
    a table of what differs, like ``flask schemaguard status``.
    """
    from .extension import SchemaGuard, get_state

    if isinstance(app_or_guard, SchemaGuard):
        flask_app = app_or_guard._app(app)
    elif hasattr(app_or_guard, "extensions") and hasattr(app_or_guard, "app_context"):
        flask_app = app_or_guard
    else:
        raise TypeError(
            f"assert_schema_in_sync() takes a Flask app or a SchemaGuard, not {app_or_guard!r}"
        )
    state = get_state(flask_app)
    with flask_app.app_context():  # the runner alone: no signals, logs or mapper changes
        report = state.runner.check(fast=False)
    if isinstance(ignore, str):  # one kind given as a string (DriftKind is a str too)
        ignore = [ignore]
    ignored = {DriftKind(k) for k in ignore}
    failing = [i for i in report.items if i.severity is not Severity.INFO and i.kind not in ignored]
    unreachable = [d for d in report.databases if not d.reachable]
    if failing or unreachable:
        raise AssertionError(format_report(report, failing))
    return report


def format_report(report: DriftReport, items: Sequence[Any] | None = None) -> str:
    """A readable account of ``report``: its databases, a table of drift and each detail."""
    items = list(report.items if items is None else items)
    counts: dict[str, int] = {}
    for item in items:
        counts[item.severity.value] = counts.get(item.severity.value, 0) + 1
    summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "no drift items"
    lines = [f"Database schema is not in sync with the models ({summary}):"]
    lines.extend(database_lines(report))
    if items:
        lines.append("")
        lines.extend(drift_table(items))
        lines.append("")
        lines.extend(detail_line(i) for i in items)
    lines.append(
        "Add a migration for these changes, or run `flask schemaguard heal` to apply the safe ones."
    )
    return "\n".join(lines)
