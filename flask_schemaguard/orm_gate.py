"""A readers/writer gate between ORM work and mapper changes.

Readers are ORM statement executions (compile and execute, through ``do_orm_execute``) and
flushes (from ``before_flush`` until the flush ends); they run together. A writer, the
degrading or restoring of columns, runs alone: it waits until no reader is inside and new
transactions wait for it, so no flush or statement compile ever sees a mapper half changed.

- Reentrant: a thread already inside (a lazy load during a flush, an autoflush during a
  query) never waits.
- Only a session's first statement waits for a writer: a session inside a transaction may
  hold database locks that a reader the writer waits for is waiting on, so it goes on (its
  transaction ends, the locks go, the writer gets its turn) rather than deadlock.
- A writer never waits for its own thread, and waits for the others at most ``timeout``
  seconds; then it gives up (nothing is changed, the next check retries), so a query stuck
  on a database lock delays the app at most that long.
- A flush that ends without an event (a ``before_flush`` listener that raised, nothing to
  do, a failed rollback) is noticed by ``Session._flushing``, polled while a writer waits.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event, orm

from . import orm_internals

#: How often a waiting writer looks again for flushes that ended without an event.
POLL = 0.05


class _Hold:
    """What one thread holds: nested statement executions, and sessions now flushing."""

    __slots__ = ("depth", "flushes")

    def __init__(self) -> None:
        self.depth = 0
        self.flushes: list[weakref.ref[orm.Session]] = []

    def active(self) -> bool:
        if self.flushes:
            self.flushes = [
                ref
                for ref in self.flushes
                if (s := ref()) is not None and orm_internals.is_flushing(s)
            ]
        return self.depth > 0 or bool(self.flushes)


class Gate:
    """Many readers or one writer (see the module docstring)."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._holds: dict[int, _Hold] = {}
        self._writing = False
        self._writers_waiting = 0

    # -- readers -------------------------------------------------------------------------
    def _enter(self, session: orm.Session) -> _Hold:
        """Called with the condition held: this thread's hold, waiting for writers first
        unless this thread is inside already or ``session`` is inside a transaction."""
        me = threading.get_ident()
        hold = self._holds.get(me)
        if hold is None or not hold.active():
            if session.in_transaction():  # goes on, but never during the change itself
                while self._writing:
                    self._cond.wait()
            else:
                while self._writing or self._writers_waiting:
                    self._cond.wait()
        if hold is None:
            hold = self._holds[me] = _Hold()
        return hold

    def _left(self, hold: _Hold) -> None:
        if not hold.active():
            self._holds.pop(threading.get_ident(), None)
            self._cond.notify_all()

    @contextmanager
    def reading(self, session: orm.Session) -> Iterator[None]:
        with self._cond:
            hold = self._enter(session)
            hold.depth += 1
        try:
            yield
        finally:
            with self._cond:
                hold.depth -= 1
                self._left(hold)

    def begin_flush(self, session: orm.Session) -> None:
        with self._cond:
            self._enter(session).flushes.append(weakref.ref(session))

    def end_flush(self, session: orm.Session) -> None:
        with self._cond:
            hold = self._holds.get(threading.get_ident())
            if hold is None:
                return
            hold.flushes = [ref for ref in hold.flushes if ref() is not session]
            self._left(hold)

    def holds_read(self) -> bool:
        """True when the calling thread is inside a statement execution or a flush."""
        with self._cond:
            hold = self._holds.get(threading.get_ident())
            return hold is not None and hold.active()

    # -- writer --------------------------------------------------------------------------
    def write(self, change: Callable[[], None], timeout: float) -> bool:
        """Run ``change`` with no reader inside; False (not run) when this thread is a
        reader itself or the readers did not leave within ``timeout`` seconds."""
        me = threading.get_ident()
        deadline = time.monotonic() + timeout
        with self._cond:
            mine = self._holds.get(me)
            if mine is not None and mine.active():
                return False
            self._writers_waiting += 1
            try:
                while self._writing or self._others_inside(me):
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return False
                    self._cond.wait(min(remaining, POLL))
                self._writing = True
            finally:
                self._writers_waiting -= 1
                if not self._writing:
                    self._cond.notify_all()
        try:
            change()
        finally:
            with self._cond:
                self._writing = False
                self._cond.notify_all()
        return True

    def _others_inside(self, me: int) -> bool:
        for ident, hold in list(self._holds.items()):
            if not hold.active():
                del self._holds[ident]
            elif ident != me:
                return True
        return False


GATE = Gate()

_listening = False
_listen_lock = threading.Lock()


def listen(on_execute: Callable[[orm.ORMExecuteState], None]) -> None:
    """Put every session's statement executions and flushes through :data:`GATE` (once per
    process); ``on_execute(state)`` runs inside the gate before each ORM execution."""
    global _listening
    with _listen_lock:
        if _listening:
            return
        _listening = True

    def execute(state: orm.ORMExecuteState) -> Any:
        with GATE.reading(state.session):
            on_execute(state)
            return state.invoke_statement()

    def before_flush(session: orm.Session, context: Any, instances: Any) -> None:
        GATE.begin_flush(session)

    def flush_ended(session: orm.Session, *args: Any) -> None:
        GATE.end_flush(session)

    event.listen(orm.Session, "do_orm_execute", execute)
    event.listen(orm.Session, "before_flush", before_flush)
    event.listen(orm.Session, "after_flush_postexec", flush_ended)
    event.listen(orm.Session, "after_soft_rollback", flush_ended)
