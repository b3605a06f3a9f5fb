"""Read the audit trail back: the newest operations a heal applied or failed, per bind."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from .outcomes import bind_name, db_message
from .owned_tables import audit_table
from .targets import Target

#: Rows of one process and bind this close to the newest one belong to the same heal.
SAME_HEAL = timedelta(seconds=120)


@dataclass(frozen=True)
class AuditEvent:
    """One row of the audit table."""

    created_at: datetime
    bind: str | None
    operation: str
    table_name: str
    object_name: str | None
    outcome: str
    error: str | None
    host: str | None
    pid: int | None
    duration_ms: float | None

    @property
    def target(self) -> str:
        return self.table_name + (f".{self.object_name}" if self.object_name else "")


@dataclass(frozen=True)
class History:
    """The newest events over every bind (newest first), and the binds that could not be read."""

    events: tuple[AuditEvent, ...] = ()
    errors: tuple[str, ...] = ()

    def last_heal(self) -> tuple[AuditEvent, ...]:
        """The events of the most recent heal: the newest row's bind and process, close in time."""
        if not self.events:
            return ()
        newest = self.events[0]
        return tuple(
            e
            for e in self.events
            if (e.bind, e.host, e.pid) == (newest.bind, newest.host, newest.pid)
            and newest.created_at - e.created_at <= SAME_HEAL
        )


def recent_events(targets: Iterable[Target], table_name: str, limit: int) -> History:
    """At most ``limit`` newest audit rows over ``targets``; a bind whose table is missing has
    none, a bind that cannot be read is named in ``errors`` (its message has no SQL)."""
    table = audit_table(table_name)
    events: list[AuditEvent] = []
    errors: list[str] = []
    for target in targets:
        try:
            with target.engine.connect() as conn:
                if not sa.inspect(conn).has_table(table.name):
                    continue
                query = (
                    sa.select(table)
                    .order_by(table.c.created_at.desc(), table.c.id.desc())
                    .limit(limit)
                )
                events.extend(_event(row._mapping) for row in conn.execute(query))
        except sa.exc.DBAPIError as exc:
            errors.append(f"{bind_name(target)}: {db_message(target, exc)}")
    events.sort(key=lambda e: e.created_at, reverse=True)
    return History(tuple(events[:limit]), tuple(errors))


def _event(row: sa.RowMapping) -> AuditEvent:
    return AuditEvent(
        created_at=row["created_at"],
        bind=row["bind"],
        operation=row["operation"],
        table_name=row["table_name"],
        object_name=row["object_name"],
        outcome=row["outcome"],
        error=row["error"],
        host=row["host"],
        pid=row["pid"],
        duration_ms=row["duration_ms"],
    )
