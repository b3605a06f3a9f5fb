"""The guard's error handlers sit in front of the app's own, and hand on what is not drift.

Flask keeps one handler per scope (the app, each blueprint) and exception class, and finds
one for an error by scope (the request's blueprints, innermost first, then the app), and in
each scope by the error's classes in MRO order. The guard's handler takes the slot of its
exception classes in the app scope, and in every blueprint scope where the blueprint's
handlers would catch them first; what the app had registered in a slot, before the guard or
after it (until the first request, when Flask accepts no more), is kept. An error that is not
schema drift then goes to the handler Flask would have found had the guard not been there.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Mapping
from typing import Any

from flask import Flask

Handler = Callable[[Any], Any]
Slot = tuple[str | None, type[Exception]]


class _Chain:
    def __init__(self, ours: Mapping[type[Exception], Handler]) -> None:
        self.ours = dict(ours)
        self.kept: dict[Slot, Handler] = {}  # the app's handlers in the slots the guard took
        self.swept = False


_chains: weakref.WeakKeyDictionary[Flask, _Chain] = weakref.WeakKeyDictionary()


def install(app: Flask, handlers: Mapping[type[Exception], Handler]) -> None:
    """Register ``handlers`` (exception class -> handler), keeping the app's own; take the
    slots again at the first request, for handlers and blueprints registered after."""
    chain = _chains[app] = _Chain(handlers)
    _take_slots(app, chain)

    def take_slots_once() -> None:
        if not chain.swept:
            chain.swept = True  # Flask refuses new handlers from the first request on
            _take_slots(app, chain)

    app.before_request(take_slots_once)


def _take_slots(app: Flask, chain: _Chain) -> None:
    spec = app.error_handler_spec
    for scope in [None, *(s for s in list(spec) if s is not None)]:
        handlers = spec[None][None] if scope is None else spec[scope].get(None)
        if handlers is None or (scope is not None and not handlers):
            continue
        for cls, ours in chain.ours.items():
            if scope is not None and not any(c in handlers for c in cls.__mro__):
                continue  # nothing here catches it: Flask goes on to the app scope
            current = handlers.get(cls)
            if current is not None and current is not ours:
                chain.kept[(scope, cls)] = current
            handlers[cls] = ours


def app_handler(app: Flask, exc: BaseException, blueprints: list[str]) -> Handler | None:
    """The handler the app registered for ``exc``, found in Flask's order, or None."""
    chain = _chains.get(app)
    ours = set(chain.ours.values()) if chain is not None else set()
    for scope in (*blueprints, None):
        by_code = app.error_handler_spec.get(scope)
        handlers = by_code.get(None) if by_code is not None else None
        if not handlers:
            continue
        for cls in type(exc).__mro__:
            handler = handlers.get(cls)
            if handler is not None and handler in ours and chain is not None:
                handler = chain.kept.get((scope, cls))
            if handler is not None:
                return handler
    return None
