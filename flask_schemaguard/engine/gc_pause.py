"""The cyclic garbage collector held off while a full check builds its shapes.

A full check allocates tens of thousands of small objects (the models' shapes, the diff's
items), none of them cyclic garbage; every 2,000 allocations CPython's collector would scan
them, and in an app with thousands of mapped classes its older generations too. Held off for
those CPU-bound steps only (never around a connection or a query: a database that hangs must
not leave the collector off for every thread), the collector runs as usual afterwards (what
was allocated and dropped meanwhile is freed by reference counting).
"""

from __future__ import annotations

import gc
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_holders = 0
_restore = False


@contextmanager
def collector_paused() -> Iterator[None]:
    """Hold off the cyclic collector for the block (nested and concurrent blocks share one
    pause; a collector the app turned off stays off)."""
    global _holders, _restore
    with _lock:
        if _holders == 0:
            _restore = gc.isenabled()
            gc.disable()
        _holders += 1
    try:
        yield
    finally:
        with _lock:
            _holders -= 1
            if _holders == 0 and _restore:
                gc.enable()


def _after_fork_in_child() -> None:
    """A fork while another thread held the pause: the child has no such thread."""
    global _holders, _lock
    _lock = threading.Lock()
    if _holders:
        _holders = 0
        if _restore:
            gc.enable()


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_after_fork_in_child)
