"""Bookkeeping on the audit trail: where the database's Alembic revision last changed, and
the retention of old rows.

``flask schemaguard revision --from-history`` writes a migration for what the guard healed
since the database's Alembic revision last changed. Alembic records no time, so each heal
notes, in the guard's state table, the revision it found and the last audit row written
before it: when the revision differs from the noted one, the mark moves to the current end
of the audit trail.
"""

from __future__ import annotations

import json
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.schema import CreateTable

from .fastpath import utcnow
from .owned_tables import audit_table, state_table

_PREFIX = "alembic-revision:"


def current_heads(conn: Connection) -> str:
    """The database's Alembic heads, sorted and comma-joined ('' without alembic_version)."""
    if not sa.inspect(conn).has_table("alembic_version"):
        return ""
    rows = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalars()
    return ",".join(sorted(str(r) for r in rows))


def read_mark(conn: Connection, state_name: str, bind: str | None) -> tuple[str, int] | None:
    """(heads, id of the last audit row before they were first seen), or None."""
    table = state_table(state_name)
    if not sa.inspect(conn).has_table(table.name):
        return None
    row = conn.execute(
        sa.select(table.c.fingerprint, table.c["items"]).where(table.c.models_hash == _key(bind))
    ).first()
    if row is None:
        return None
    return str(row[0]), int(json.loads(row[1])["since_audit_id"])


def write_mark(
    conn: Connection, state_name: str, bind: str | None, heads: str, since_id: int
) -> None:
    table = state_table(state_name)
    if not sa.inspect(conn).has_table(table.name):
        conn.execute(CreateTable(table))
    conn.execute(table.delete().where(table.c.models_hash == _key(bind)))
    conn.execute(
        table.insert().values(
            models_hash=_key(bind),
            fingerprint=heads,
            items=json.dumps({"since_audit_id": since_id}),
            checked_at=utcnow(),
        )
    )


def last_audit_id(conn: Connection, audit_name: str) -> int:
    table = audit_table(audit_name)
    if not sa.inspect(conn).has_table(table.name):
        return 0
    return int(conn.execute(sa.select(sa.func.max(table.c.id))).scalar() or 0)


def note_revision(conn: Connection, state_name: str, audit_name: str, bind: str | None) -> None:
    """Move the mark when the database's Alembic revision is not the noted one."""
    heads = current_heads(conn)
    mark = read_mark(conn, state_name, bind)
    if mark is None or mark[0] != heads:
        write_mark(conn, state_name, bind, heads, last_audit_id(conn, audit_name))


def prune(conn: Connection, audit_name: str, days: float) -> int:
    """Delete audit rows older than ``days``; the number deleted."""
    table = audit_table(audit_name)
    cutoff = utcnow() - timedelta(days=days)
    return int(conn.execute(table.delete().where(table.c.created_at < cutoff)).rowcount or 0)


def _key(bind: str | None) -> str:
    return _PREFIX + (bind or "")
