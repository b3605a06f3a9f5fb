"""The cyclic garbage collector held off while a full check builds its shapes.

A full check allocates tens of thousands of small objects (shapes of both sides, catalog
rows), none of them cyclic garbage; every 2,000 allocations CPython's collector would scan
them, and in an app with thousands of mapped classes its older generations too: 10-20% of a
1000-table check. Held off for the check, the collector runs as usual afterwards (what the
check allocated and dropped is freed by reference counting in the meantime).
"""

from __future__ import annotations

import gc
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
