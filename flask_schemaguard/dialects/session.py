"""Heal sessions: the cross-process lock and the transaction around one bind's heal.

Each dialect module has its own subclass (``SqliteHealSession`` and so on). One lock per
database (not per schema): the guard's own tables live in the default schema and two apps
whose models share a schema must never heal it at the same time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import ClassVar

from sqlalchemy.engine import Connection

from ..errors import SchemaGuardError
from ..report import OperationKind


class LockTimeout(SchemaGuardError):
    """Another process held the heal lock longer than ``SCHEMAGUARD_LOCK_TIMEOUT``."""


class NotRun(SchemaGuardError):
    """An operation the session did not run (or cut short), with the reason: recorded as
    failed, and the rest of the heal goes on."""

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        #: The next heal may not meet it (a time budget spent, a build cut short): such a
        #: failure is not recorded as one that fails the same way on this schema.
        self.transient = transient


class HealSession:
    """The lock and transaction around one bind's re-diff and apply.

    A *phased* session (PostgreSQL online DDL) commits the short transaction of tables and
    columns (``commit``), runs what ``defers`` outside any transaction (``run_outside``),
    then ``reopen``s a transaction for the re-check and the state record.
    """

    transactional = True
    phased = False
    #: Operations a phased session runs after the commit, outside any transaction (when
    #: nothing after them in the plan needs them first).
    deferred_kinds: ClassVar[frozenset[OperationKind]] = frozenset()

    def __init__(
        self,
        conn: Connection,
        lock_timeout: float,
        ddl_lock_timeout: float,
        *,
        online: bool = False,
        index_timeout: float = 600.0,
    ) -> None:
        self.conn = conn
        self.lock_timeout = lock_timeout
        self.ddl_lock_timeout = ddl_lock_timeout
        #: ``SCHEMAGUARD_ONLINE_DDL`` (sessions that have an online way of running DDL).
        self.online = online
        #: ``SCHEMAGUARD_INDEX_TIMEOUT``: how long one concurrent index build may run.
        self.index_timeout = index_timeout

    def begin(self) -> None:
        """Take the lock (and open the transaction); on failure the caller calls
        ``rollback`` and ``release``."""
        raise NotImplementedError

    def run(self, statements: Sequence[object]) -> None:
        """Run one operation's DDL; on failure undo just this operation and re-raise."""
        self.attempt(lambda: [self.conn.execute(s) for s in statements])  # type: ignore[call-overload]

    def attempt(self, work: Callable[[], object]) -> None:
        """Run ``work`` in a SAVEPOINT: on failure only its own changes are undone."""
        self.conn.exec_driver_sql("SAVEPOINT schemaguard_op")
        try:
            work()
        except Exception:
            self.conn.exec_driver_sql("ROLLBACK TO SAVEPOINT schemaguard_op")
            self.conn.exec_driver_sql("RELEASE SAVEPOINT schemaguard_op")
            raise
        self.conn.exec_driver_sql("RELEASE SAVEPOINT schemaguard_op")

    def defers(self, kind: object) -> bool:
        """True when operations of ``kind`` run after the commit, outside a transaction."""
        return kind in self.deferred_kinds

    def run_outside(self, statements: Sequence[object]) -> None:
        """Run a deferred operation's DDL (each statement commits itself)."""
        for statement in statements:
            self.conn.execute(statement)  # type: ignore[call-overload]

    def reopen(self) -> None:
        """Open the transaction of the re-check after the deferred operations."""

    def commit(self) -> None:
        self.conn.exec_driver_sql("COMMIT")

    def rollback(self) -> None:
        self.conn.exec_driver_sql("ROLLBACK")

    def release(self) -> None:
        """Give the lock back and restore session settings (after commit or rollback)."""


class AutocommitHealSession(HealSession):
    """No transaction around the heal: each DDL commits itself (MySQL, untested databases).

    Operations are idempotent, so a later start completes an interrupted heal.
    """

    transactional = False

    def begin(self) -> None:
        pass

    def attempt(self, work: Callable[[], object]) -> None:
        work()  # no transaction: each statement stands alone

    def commit(self) -> None:
        pass

    def rollback(self) -> None:
        pass


def milliseconds(seconds: float) -> int:
    """A positive whole number of milliseconds (database timeouts take them)."""
    return max(1, int(seconds * 1000))


def lock_held_message(what: str, timeout: float) -> str:
    return (
        f"could not get {what} within {timeout:g} s (SCHEMAGUARD_LOCK_TIMEOUT): another "
        "process is healing this database"
    )
