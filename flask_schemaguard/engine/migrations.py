"""Alembic awareness: is the database behind the app's migration scripts?"""

from __future__ import annotations

import os

from sqlalchemy.engine import Connection

from ..report import Drift, DriftKind, Severity


def pending_migrations(
    conn: Connection, migrations_dir: str, table_names: set[str], bind: str | None
) -> Drift | None:
    """A ``pending_migrations`` drift when ``alembic_version`` lags the scripts' heads."""
    if "alembic_version" not in table_names or not os.path.isdir(migrations_dir):
        return None
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", migrations_dir)
    script_heads = set(ScriptDirectory.from_config(config).get_heads())
    db_heads = set(MigrationContext.configure(conn).get_current_heads())
    if not script_heads or db_heads == script_heads:
        return None
    current = ", ".join(sorted(db_heads)) or "none"
    return Drift(
        DriftKind.PENDING_MIGRATIONS,
        "alembic_version",
        None,
        Severity.WARNING,
        False,
        f"The database is at revision {current} but the migration scripts' head is "
        f"{', '.join(sorted(script_heads))}: migrations are pending.",
        bind,
        None,
        "run `flask db upgrade`; the guard does not heal while migrations are pending",
    )
