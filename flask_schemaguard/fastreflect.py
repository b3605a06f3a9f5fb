"""Dialect-specific bulk readers: the whole schema in a handful of catalog queries.

Each reader returns exactly what ``reflect.reflect_with_inspector`` returns for the same
database (the test suite compares both), only faster.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy.engine import Connection

from .shape import SchemaShape

Reader = Callable[[Connection, Sequence[str | None]], SchemaShape]

READERS: dict[str, Reader] = {}
