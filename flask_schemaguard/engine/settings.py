"""What a check and a heal may look at and do, and the key that says when a check is stale."""

from __future__ import annotations

import os
from dataclasses import dataclass

from .. import __version__
from .planner import DEFAULT_OPERATIONS


@dataclass(frozen=True)
class Settings:
    """What a check and a heal may look at and do (validated by ``config``)."""

    exclude_tables: tuple[str, ...] = ()
    allowed_operations: frozenset[str] = frozenset(DEFAULT_OPERATIONS)
    lock_timeout: float = 30.0
    ddl_lock_timeout: float = 5.0
    #: PostgreSQL: tables and columns in a short transaction, then concurrent index builds;
    #: MySQL/MariaDB: ``ALGORITHM=INSTANT`` / ``INPLACE, LOCK=NONE``. False: all in one.
    online_ddl: bool = True
    #: Seconds one online index build may run (PostgreSQL ``CONCURRENTLY``).
    index_timeout: float = 600.0
    audit_table: str | None = "schemaguard_events"
    state_table: str | None = "schemaguard_state"
    record_state_in_database: bool = True
    migrations_dir: str | None = None
    audit_retention_days: float | None = None

    def check_key(self) -> str:
        """Everything besides the models that changes what a check finds or may heal.

        Part of the fast path's models hash: a recorded in-sync check made with other
        exclusions, other allowed operations, other guard tables, another version of this
        package or other migration scripts is never taken for this one.
        """
        return repr(
            (
                __version__,
                self.exclude_tables,
                sorted(self.allowed_operations),
                self.audit_table,
                self.state_table,
                _migrations_salt(self.migrations_dir),
            )
        )


def _migrations_salt(directory: str | None) -> str:
    """Names and sizes of the migration scripts: changes whenever a revision is added."""
    if not directory:
        return ""
    versions = os.path.join(directory, "versions")
    try:
        entries = sorted(
            (e.name, e.stat().st_size) for e in os.scandir(versions) if e.name.endswith(".py")
        )
    except OSError:
        return "no-migrations"
    return repr(entries)
