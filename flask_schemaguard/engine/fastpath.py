"""The fast path: a check on an unchanged schema costs one fingerprint query.

An in-sync check is remembered with the schema's fingerprint: in the database
(``schemaguard_state``, heal and strict modes, so every new process profits) or in this
process's memory (check mode, which never writes). A check whose fingerprint and models hash
equal a remembered one answers with the remembered items without reflecting.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timezone

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.schema import CreateTable

from ..dialects import impl_for
from ..dialects.base import Recorded
from ..dialects.session import HealSession
from ..report import Drift
from .outcomes import Failed, bind_name, db_message, dump_items, load_state
from .owned_tables import state_table
from .settings import Settings
from .targets import Target

logger = logging.getLogger("flask_schemaguard")


class FastPath:
    """Remembered in-sync checks, per engine and models hash."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._memory: dict[tuple[str, str], Recorded] = {}
        self._lock = threading.Lock()

    @property
    def records_state(self) -> bool:
        """True when in-sync checks are recorded in the database (heal and strict modes)."""
        return bool(self.settings.state_table and self.settings.record_state_in_database)

    @property
    def reads_state(self) -> bool:
        """True when a check looks for a recorded check first: in every mode with a state
        table (check mode reads what a heal-mode process or ``status --record`` wrote)."""
        return bool(self.settings.state_table)

    def lookup(self, conn: Connection, target: Target) -> tuple[str | None, Recorded | None]:
        """The schema's fingerprint and the in-sync check remembered for these models
        (read in the same round trip as the fingerprint where it is in the database).

        The fingerprint is None when nothing is recorded for these models and the dialect
        gets it from the reads of a full check anyway (``fingerprint_from_reflection``,
        MariaDB): the caller then reflects and fingerprints at once.
        """
        impl = impl_for(conn)
        key = _key(target)
        with self._lock:
            remembered = self._memory.get(key)
        if remembered is not None:
            return impl.fingerprint(conn, target.schemas), remembered
        if not self.reads_state:
            return impl.fingerprint(conn, target.schemas), None
        assert self.settings.state_table
        fp, recorded = impl.fingerprint_and_state(
            conn, target.schemas, self.settings.state_table, target.models_hash
        )
        if recorded is not None and recorded[0] == fp:
            with self._lock:  # later checks of this process: fingerprint only
                self._memory[key] = recorded
        return fp, recorded

    def remember(self, target: Target, fp: str | None, items: list[Drift]) -> None:
        """Keep an in-sync check in memory (check mode)."""
        if fp is None:
            return
        with self._lock:
            self._memory[_key(target)] = (fp, dump_items(items))

    def recorded_in_lock(
        self, conn: Connection, target: Target
    ) -> tuple[list[Drift], str, Failed] | None:
        """The recorded report (and the operations that failed on it), if the schema has not
        changed since it was recorded.

        ``has_table`` first: inside the heal transaction a failing statement would abort it.
        """
        if not self.records_state:
            return None
        assert self.settings.state_table
        if not sa.inspect(conn).has_table(self.settings.state_table):
            return None
        fp, recorded = impl_for(conn).fingerprint_and_state(
            conn, target.schemas, self.settings.state_table, target.models_hash
        )
        if not recorded or recorded[0] != fp:
            return None
        items, failed = load_state(recorded[1])
        return items, fp, failed

    def ensure_table(self, session: HealSession, target: Target) -> bool:
        """Create the state table in the heal's session unless it exists; False when it
        cannot be (logged: it only costs later starts their fast path).

        Before the heal reads the fingerprint it will record: creating the table changes the
        fingerprint, and a recorded fingerprint must never be newer than the reflection its
        items come from.
        """
        assert self.settings.state_table
        table = state_table(self.settings.state_table)
        conn = session.conn
        try:
            if not sa.inspect(conn).has_table(table.name):
                session.attempt(lambda: conn.execute(CreateTable(table)))
        except sa.exc.DBAPIError as exc:
            if exc.connection_invalidated:
                raise
            self._not_recorded(target, exc)
            return False
        return True

    def record(
        self,
        session: HealSession,
        target: Target,
        items: list[Drift],
        fp: str,
        failed: Failed | None = None,
    ) -> str | None:
        """Record a check in the database: an in-sync one, or the one after a heal whose
        ``failed`` operations are then not run again on this schema. ``fp`` is the
        fingerprint read *before* the reflection ``items`` come from: a schema changed in
        between (by a migration that does not take the guard's lock) is then recorded with
        an older fingerprint than its own, which no later check matches. A failure to write
        it (say a read-only database user) only costs later starts their fast path, so it is
        logged, not raised."""
        assert self.settings.state_table
        table = state_table(self.settings.state_table)
        try:
            session.attempt(
                lambda: _write_row(session.conn, table, target, fp, dump_items(items, failed))
            )
        except sa.exc.DBAPIError as exc:
            if exc.connection_invalidated:
                raise
            self._not_recorded(target, exc)
            return None
        return fp

    def _not_recorded(self, target: Target, exc: sa.exc.DBAPIError) -> None:
        logger.warning(
            "schemaguard: could not record the schema state in %s on %s (%s); every start "
            "will check the whole schema",
            self.settings.state_table,
            bind_name(target),
            db_message(target, exc),
        )

    def record_checked(self, engine: Engine, target: Target, fp: str, items: list[Drift]) -> str:
        """Record a full check made outside the heal lock (``status --record``) whose state
        table existed when it read the schema: ``"recorded"``, or ``"changed"`` when the
        schema's fingerprint is no longer ``fp`` (the check's own, the one stored: never a
        later one). Another process recording the same state at the same moment is fine."""
        assert self.settings.state_table
        table = state_table(self.settings.state_table)
        try:
            with engine.begin() as conn:
                if impl_for(conn).fingerprint(conn, target.schemas) != fp:
                    return "changed"
                _write_row(conn, table, target, fp, dump_items(items))
        except sa.exc.IntegrityError:  # the same row, inserted by another process first
            with engine.connect() as conn:
                row = conn.execute(
                    sa.select(table.c.fingerprint).where(table.c.models_hash == target.models_hash)
                ).first()
            return "recorded" if row is not None and row[0] == fp else "changed"
        return "recorded"

    def create_table(self, engine: Engine) -> bool:
        """Create the state table unless it exists (committed at once); True when it did not
        exist before (the schema's fingerprint has changed)."""
        assert self.settings.state_table
        table = state_table(self.settings.state_table)
        if sa.inspect(engine).has_table(table.name):
            return False
        try:
            with engine.begin() as conn:
                conn.execute(CreateTable(table, if_not_exists=True))
        except sa.exc.DBAPIError:
            # two processes at once (PostgreSQL may refuse the second IF NOT EXISTS on its
            # type catalog): the table exists now, whoever made it
            if not sa.inspect(engine).has_table(table.name):
                raise
        return True


def _write_row(conn: Connection, table: sa.Table, target: Target, fp: str, items: str) -> None:
    """The one state row of these models: ``fp`` and the check's items (JSON)."""
    conn.execute(table.delete().where(table.c.models_hash == target.models_hash))
    conn.execute(
        table.insert().values(
            models_hash=target.models_hash, fingerprint=fp, items=items, checked_at=utcnow()
        )
    )


def _key(target: Target) -> tuple[str, str]:
    return (f"{id(target.engine)}:{target.bind}", target.models_hash)


def utcnow() -> datetime:
    """Now in UTC, naive (as the guard's DateTime columns store it)."""
    return datetime.now(timezone.utc).replace(tzinfo=None)
