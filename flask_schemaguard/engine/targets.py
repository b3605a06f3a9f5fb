"""What to check: each bind's engine and the model tables mapped to it."""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ..shape import SchemaShape, TableKey
from .model_shapes import model_shape, shape_hash


@dataclass(eq=False)
class Target:
    """One database: ``bind`` is None for the default bind."""

    bind: str | None
    engine: Engine
    tables: tuple[sa.Table, ...]
    hash_salt: str = ""

    @cached_property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @cached_property
    def model(self) -> SchemaShape:
        return model_shape(self.tables, self.engine.dialect)

    @cached_property
    def models_hash(self) -> str:
        return shape_hash(self.model, self.hash_salt)

    @cached_property
    def tables_by_key(self) -> dict[TableKey, sa.Table]:
        return {(t.schema, t.name): t for t in self.tables}

    @cached_property
    def schemas(self) -> tuple[str | None, ...]:
        return self.model.schemas


#: A bind's name, its engine and the model tables mapped to it, as found right now.
TargetSpec = tuple[str | None, Engine, tuple[sa.Table, ...]]


class TargetSource:
    """The databases to check, resolved at each call as ``create_all()`` resolves them.

    A model defined after ``init_app``, or a bind whose first model comes later, is seen by
    the next check. A bind's :class:`Target` (with its model shape and hash) is kept while
    its engine and its set of tables stay the same.
    """

    def __init__(self, resolve: Callable[[], list[TargetSpec]], salt: str = "") -> None:
        self._resolve = resolve
        self.salt = salt
        self._known: dict[str | None, Target] = {}

    @classmethod
    def fixed(cls, targets: Iterable[Target], salt: str) -> TargetSource:
        """Always these targets (their models hashes salted with ``salt``)."""
        fixed = list(targets)
        for target in fixed:
            target.hash_salt = salt
        source = cls(lambda: [(t.bind, t.engine, t.tables) for t in fixed], salt)
        source._known.update({t.bind: t for t in fixed})
        return source

    def current(self) -> list[Target]:
        targets = []
        for bind, engine, tables in self._resolve():
            if not tables:
                continue
            known = self._known.get(bind)
            if known is None or known.engine is not engine or not _same(known.tables, tables):
                known = self._known[bind] = Target(bind, engine, tables, self.salt)
            targets.append(known)
        return targets


def _same(a: tuple[sa.Table, ...], b: tuple[sa.Table, ...]) -> bool:
    """The same Table objects in the same order (compared in C: every check asks)."""
    return a is b or (len(a) == len(b) and all(map(operator.is_, a, b)))


def flask_sqlalchemy_specs(db: Any) -> list[TargetSpec]:
    """Every bind of a Flask-SQLAlchemy 3.x instance (needs an app context).

    The default bind comes first, then named binds in name order.
    """
    specs = []
    for key, engine in sorted(db.engines.items(), key=lambda kv: (kv[0] is not None, kv[0] or "")):
        metadata = db.metadatas.get(key)
        tables = tuple(metadata.tables.values()) if metadata is not None else ()
        specs.append((key, engine, tables))
    return specs


def metadata_specs(metadata: sa.MetaData, engine: Engine) -> Callable[[], list[TargetSpec]]:
    """Plain SQLAlchemy: one database, the tables of ``metadata`` at each call."""
    return lambda: [(None, engine, tuple(metadata.tables.values()))]


def metadata_target(metadata: sa.MetaData, engine: Engine) -> Target:
    """A fixed target: the tables ``metadata`` holds now."""
    return Target(bind=None, engine=engine, tables=tuple(metadata.tables.values()))
