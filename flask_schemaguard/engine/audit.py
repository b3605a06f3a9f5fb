"""The audit trail of a heal: one row per operation, or off (said once) when it cannot be.

A database user that may change the models' tables but not create the guard's own table (or
not write to it) still gets its heal: the trail is switched off for that heal, and the
reason is logged once per bind per process.
"""

from __future__ import annotations

import logging
import os
import socket
import threading

import sqlalchemy as sa
from sqlalchemy.schema import CreateTable

from ..dialects import DialectImpl, impl_for
from ..dialects.session import HealSession
from ..report import Operation
from .fastpath import utcnow
from .outcomes import bind_name
from .owned_tables import audit_table
from .targets import Target

logger = logging.getLogger("flask_schemaguard")

KEY = "SCHEMAGUARD_AUDIT_TABLE"


class AuditTrail:
    """Writes audit rows into ``SCHEMAGUARD_AUDIT_TABLE`` (None: no trail at all)."""

    def __init__(self, name: str | None) -> None:
        self.table = audit_table(name) if name else None
        self._off: set[str | None] = set()  # binds whose trail is off for the current heal
        self._told: set[str | None] = set()  # binds whose reason was logged
        self._lock = threading.Lock()

    def ensure(self, session: HealSession, impl: DialectImpl, target: Target) -> None:
        """Create the table unless it exists; when it cannot be, turn the trail off."""
        with self._lock:
            self._off.discard(target.bind)
        table = self.table
        if table is None:
            return
        conn = session.conn
        try:
            if sa.inspect(conn).has_table(table.name):
                return
            session.attempt(lambda: conn.execute(CreateTable(table)))
        except sa.exc.DBAPIError as exc:
            if exc.connection_invalidated:
                raise
            self._turn_off(target, f"cannot create the guard's table {table.name!r}", exc)

    def is_on(self, target: Target) -> bool:
        """True when rows are written for ``target``'s bind in the current heal."""
        return self.table is not None and target.bind not in self._off

    def write(
        self,
        session: HealSession,
        target: Target,
        op: Operation,
        duration_ms: float,
        error: str | None,
        inside: bool,
    ) -> None:
        """One row for ``op``; ``inside`` the heal's transaction (in a savepoint) or not."""
        table = self.table
        if table is None or target.bind in self._off:
            return
        statement = table.insert().values(
            created_at=utcnow(),
            bind=target.bind,
            operation=op.kind.value,
            table_name=f"{op.schema}.{op.table}" if op.schema else op.table,
            object_name=op.name,
            ddl=op.sql,
            outcome="applied" if error is None else "failed",
            error=error,
            host=socket.gethostname(),
            pid=os.getpid(),
            duration_ms=round(duration_ms, 3),
        )
        conn = session.conn
        try:
            if inside:
                session.attempt(lambda: conn.execute(statement))
            else:
                conn.execute(statement)
        except sa.exc.DBAPIError as exc:
            if exc.connection_invalidated:
                raise
            self._turn_off(target, f"cannot write to table {table.name!r}", exc)

    def _turn_off(self, target: Target, what: str, exc: sa.exc.DBAPIError) -> None:
        with self._lock:
            self._off.add(target.bind)
            first = target.bind not in self._told
            self._told.add(target.bind)
        if first:
            logger.warning(
                "schemaguard: the audit trail is off on %s: %s (%s: %s); the heal goes on "
                "without it. Grant the database user CREATE (and INSERT on the table), or set "
                "%s = None.",
                bind_name(target),
                what,
                KEY,
                impl_for(target.engine).error_message(exc),
                KEY,
            )
