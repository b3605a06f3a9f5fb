"""SQLite: the embedded default.

- Catalog: ``sqlite_catalog`` (3 statements); fingerprint: ``PRAGMA schema_version`` per
  schema, which SQLite bumps on every schema change.
- Heal: ``BEGIN IMMEDIATE`` under ``PRAGMA busy_timeout`` (the connection is in autocommit
  mode so that the driver never commits the DDL on its own); one SAVEPOINT per operation.
- Errors: SQLite's messages are never translated, so they are read as they are; the result
  code (``sqlite_errorcode``, Python 3.11+) tells a busy database from others.
- DDL: a foreign key on a new column is written as its column constraint (SQLite cannot add
  constraints); a column whose default is not a constant cannot be added.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.pool import SingletonThreadPool, StaticPool

from ..report import DriftKind, LockLevel, OperationKind
from ..shape import ColumnShape, SchemaShape
from .base import DialectImpl, Recorded, Schemas
from .driver_errors import MessagePattern, SchemaError, classify_message, driver_error
from .session import HealSession, LockTimeout, lock_held_message, milliseconds
from .sqlite_catalog import missing_databases, read_sqlite
from .types import TypeRules

logger = logging.getLogger("flask_schemaguard")

NON_CONSTANT_DEFAULT_HINT = (
    "SQLite cannot add a column whose default is not a constant (CURRENT_TIMESTAMP, an "
    "expression) to an existing table: use a constant server_default, or write a migration"
)

STORED_COLUMN_HINT = (
    "SQLite cannot add a STORED generated column (Computed(..., persisted=True)) to an existing "
    "table: write a migration that rebuilds the table, or make it persisted=False"
)

_PATTERNS: tuple[MessagePattern, ...] = (
    (re.compile(r"table ([\w$.]+) has no column named ([\w$]+)"), DriftKind.MISSING_COLUMN, 1, 2),
    (re.compile(r"no such table: (?:main\.)?([\w$.]+)"), DriftKind.MISSING_TABLE, 1, None),
    (re.compile(r"no such column: ([\w$.]+)"), DriftKind.MISSING_COLUMN, None, 1),
)
#: SQLITE_BUSY and SQLITE_LOCKED, with their extended codes (low byte).
_BUSY_CODES = (5, 6)


class SqliteHealSession(HealSession):
    """``BEGIN IMMEDIATE``: the write lock, waited for at most the lock timeout."""

    _previous_busy_timeout: int | None = None

    def begin(self) -> None:
        self._previous_busy_timeout = self.conn.exec_driver_sql("PRAGMA busy_timeout").scalar()
        self.conn.exec_driver_sql(f"PRAGMA busy_timeout = {milliseconds(self.lock_timeout)}")
        try:
            self.conn.exec_driver_sql("BEGIN IMMEDIATE")
        except sa.exc.OperationalError as exc:  # the caller releases
            if _is_busy(exc):
                raise LockTimeout(
                    lock_held_message("the SQLite write lock", self.lock_timeout)
                    + " (or another connection holds a long write transaction)"
                ) from exc
            raise

    def release(self) -> None:
        if self._previous_busy_timeout is not None:
            self.conn.exec_driver_sql(f"PRAGMA busy_timeout = {int(self._previous_busy_timeout)}")
            self._previous_busy_timeout = None


def _is_busy(exc: sa.exc.DBAPIError) -> bool:
    code = getattr(exc.orig, "sqlite_errorcode", None)
    if isinstance(code, int):
        return code & 0xFF in _BUSY_CODES
    message = str(exc.orig).lower()
    return "locked" in message or "busy" in message


def _schema_literal(schema: str | None) -> str:
    return '"main"' if schema is None else '"' + schema.replace('"', '""') + '"'


#: A schema's catalog as one text, in the catalog's own order: a dump reloaded in another
#: order reads as another schema (one full check), never the other way round.
_MASTER_TEXT = "SELECT group_concat(sql, char(30)) FROM {schema}.sqlite_master"


def _part(version: object, text: str | None) -> str:
    digest = hashlib.blake2b((text or "").encode(), digest_size=8).hexdigest()
    return f"{version}:{digest}"


class SqliteImpl(DialectImpl):
    name = "sqlite"
    session_class = SqliteHealSession  # one write transaction in both modes (one writer)
    foreign_key_style = "inline"
    tested = True
    driver_modules = ("sqlite3", "pysqlite2", "pysqlcipher3", "aiosqlite")
    # Type affinity: VARCHAR(n) holds any length, NUMERIC(p, s) any number, BIGINT and
    # INTEGER are one storage class, and a time zone is part of the text stored.
    type_rules = TypeRules(
        compatible=frozenset({frozenset({"numeric", "float"})}),
        enforces_length=False,
        enforces_details=False,
    )

    index_name_limit = 9999  # SQLite has none; SQLAlchemy's own limit

    def display_url(self, url: URL) -> str:
        """The absolute path of the database file (what the app really opens)."""
        database = url.database or ""
        if database in ("", ":memory:") or database.startswith("file:"):
            return f"sqlite:///{database or ':memory:'}"
        return "sqlite:///" + os.path.abspath(database)

    # -- catalog -------------------------------------------------------------------------
    def reflect(self, conn: Connection, schemas: Sequence[str | None]) -> SchemaShape:
        shape = read_sqlite(conn, schemas)
        return shape if shape is not None else super().reflect(conn, schemas)

    fingerprint_from_reflection = False  # two cheap reads per schema, no catalog scan

    def fingerprint(self, conn: Connection, schemas: Sequence[str | None]) -> str:
        """Per schema, ``schema_version`` and a hash of the catalog's text. The counter alone
        only orders changes within one file: a database rebuilt from a dump restarts it and
        may reach a recorded value with another schema (the dump carries the state table's
        rows along)."""
        missing = missing_databases(conn, schemas)
        parts = []
        for schema in schemas:
            if schema in missing:
                parts.append("-")
                continue
            literal = _schema_literal(schema)
            if schema is None:  # one statement
                version, text = conn.exec_driver_sql(
                    f"SELECT schema_version, ({_MASTER_TEXT.format(schema=literal)}) "
                    "FROM pragma_schema_version"
                ).one()
            else:
                version = conn.exec_driver_sql(f"PRAGMA {literal}.schema_version").scalar()
                text = conn.exec_driver_sql(_MASTER_TEXT.format(schema=literal)).scalar()
            parts.append(_part(version, text))
        return "sqlite:" + ",".join(parts)

    def fingerprint_and_state(
        self, conn: Connection, schemas: Schemas, state_table: str, models_hash: str
    ) -> tuple[str | None, Recorded | None]:
        if tuple(schemas) != (None,) or conn.dialect.paramstyle != "qmark":
            return super().fingerprint_and_state(conn, schemas, state_table, models_hash)
        quoted = conn.dialect.identifier_preparer.quote(state_table)
        try:
            # One driver-level statement (SQLAlchemy's statement caching would cost more than
            # the pragma itself): the main database's fingerprint and the recorded row.
            version, text, packed = conn.exec_driver_sql(
                f"SELECT schema_version, ({_MASTER_TEXT.format(schema=_schema_literal(None))}), "
                f"(SELECT fingerprint || char(31) || items FROM {quoted} WHERE models_hash = ?) "
                "FROM pragma_schema_version",
                (models_hash,),
            ).one()
        except sa.exc.DBAPIError as exc:  # no state table yet
            if exc.connection_invalidated:
                raise
            return self.fingerprint(conn, schemas), None
        fp = "sqlite:" + _part(version, text)
        if packed is None:
            return fp, None
        recorded_fp, _, items = packed.partition("\x1f")
        return fp, (recorded_fp, items)

    # -- heal ----------------------------------------------------------------------------
    def missing_schema_hint(self, schema: str) -> str | None:
        return f"attach the database file as '{schema}' (ATTACH DATABASE) on every connection"

    def keeps_data_in_pool(self, engine: Engine) -> bool:
        """An in-memory database lives in its pooled connection (``SingletonThreadPool`` or
        ``StaticPool``): disposing the pool would drop every table."""
        database = engine.url.database or ""
        memory = database in ("", ":memory:") or engine.url.query.get("mode") == "memory"
        return memory or isinstance(engine.pool, (StaticPool, SingletonThreadPool))

    def unaddable_column_hint(self, column: ColumnShape) -> str | None:
        if column.generated == "stored":
            return STORED_COLUMN_HINT
        if column.generated is not None:
            return None  # a VIRTUAL column can be added
        default = column.default
        if default is None:
            return None
        text = default.strip().upper()
        if text in ("CURRENT_TIME", "CURRENT_DATE", "CURRENT_TIMESTAMP") or (
            "(" in text and not text.startswith("'")  # a function call or an expression
        ):
            return NON_CONSTANT_DEFAULT_HINT
        return None

    def lock_level(self, kind: OperationKind, online: bool = True) -> LockLevel:
        return LockLevel.BLOCKS_WRITES  # the heal is one write transaction on the file

    def missing_foreign_key_hint(self) -> str:
        return "SQLite cannot add a foreign key to an existing table"

    # -- errors --------------------------------------------------------------------------
    def error_code(self, orig: BaseException | None) -> int | None:
        code = getattr(orig, "sqlite_errorcode", None)
        return code if isinstance(code, int) else None

    def classify(self, exc: BaseException) -> SchemaError | None:
        orig = driver_error(exc)
        return classify_message(exc, str(orig if orig is not None else exc), _PATTERNS)

    def is_lock_timeout(self, exc: BaseException) -> bool:
        return isinstance(exc, sa.exc.OperationalError) and _is_busy(exc)
