"""Living beside Alembic: keep the guard's own tables out of autogenerate.

In ``migrations/env.py``::

    from flask_schemaguard.alembic import include_name, include_object

    context.configure(..., include_name=include_name, include_object=include_object)

With Flask-Migrate the guard sets ``include_name`` for the app itself (through
``Migrate(...).configure_args``) when the app did not set one of its own, so nothing needs to
change in ``env.py``.
"""

from __future__ import annotations

from typing import Any

from flask import current_app, has_app_context

#: The guard's tables when no app says otherwise.
DEFAULT_TABLES = frozenset({"schemaguard_events", "schemaguard_state"})


def guard_tables() -> frozenset[str]:
    """The names of the guard's own tables for the current app (or the defaults)."""
    if not has_app_context():
        return DEFAULT_TABLES
    state = current_app.extensions.get("schemaguard")
    runner = getattr(state, "runner", None)
    if runner is None:
        return DEFAULT_TABLES
    settings = runner.settings
    return frozenset(n for n in (settings.audit_table, settings.state_table) if n)


def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    """Alembic's ``include_name`` hook: False for the guard's own tables."""
    return not (type_ == "table" and name is not None and name.lower() in _lowered())


def include_object(
    object: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:  # noqa: A002 - Alembic's parameter name
    """Alembic's ``include_object`` hook: False for the guard's own tables and their indexes."""
    if type_ == "table":
        return include_name(name, type_, {})
    table = getattr(object, "table", None)
    table_name = getattr(table, "name", None)
    return not (isinstance(table_name, str) and table_name.lower() in _lowered())


def register_with_flask_migrate(app: Any) -> bool:
    """Give Flask-Migrate's ``env.py`` the ``include_name`` hook; False when the app set its
    own (then add the guard's to it, see the module docstring) or Flask-Migrate is absent."""
    migrate = app.extensions.get("migrate")
    configure_args = getattr(migrate, "configure_args", None)
    if not isinstance(configure_args, dict) or "include_name" in configure_args:
        return False
    configure_args["include_name"] = include_name
    return True


def _lowered() -> set[str]:
    return {n.lower() for n in guard_tables()}
