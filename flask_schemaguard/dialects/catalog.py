"""Pieces the bulk catalog readers share: table shapes ordered as the inspector orders them,
and type text computed once per distinct catalog type string."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy.engine import Dialect

from ..shape import ColumnShape, ForeignKeyShape, IndexShape, TableShape
from .types import compile_type

logger = logging.getLogger("flask_schemaguard")


def step_aside(database: str, reason: str) -> None:
    """Say (at debug level) why a bulk reader leaves the schema to the inspector."""
    logger.debug(
        "schemaguard: %s catalog reader unavailable (%s); using the inspector", database, reason
    )


def by_name(ix: IndexShape) -> str:
    return ix.name or ""


def by_columns(item: IndexShape | ForeignKeyShape) -> tuple[str, ...]:
    return item.columns


def table_shape(
    schema: str | None,
    name: str,
    columns: Iterable[ColumnShape],
    pk: Iterable[str],
    indexes: Iterable[IndexShape],
    uniques: Iterable[IndexShape],
    fks: Iterable[ForeignKeyShape],
) -> TableShape:
    """A table shape ordered the way ``reflect_with_inspector`` orders it."""
    return TableShape(
        schema=schema,
        name=name,
        columns=tuple(columns),
        primary_key=tuple(pk),
        indexes=tuple(sorted(indexes, key=by_name)),
        uniques=tuple(sorted(uniques, key=by_columns)),
        foreign_keys=tuple(sorted(fks, key=by_columns)),
    )


class TypeTexts:
    """Type text per distinct catalog type string, computed once through SQLAlchemy."""

    def __init__(self, dialect: Dialect, make: Callable[[Any], Any]) -> None:
        self.dialect = dialect
        self.make = make
        self.cache: dict[Any, str] = {}

    def __call__(self, key: Any) -> str:
        text = self.cache.get(key)
        if text is None:
            text = self.cache[key] = compile_type(self.make(key), self.dialect)
        return text
