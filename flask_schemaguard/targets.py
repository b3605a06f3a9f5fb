"""What to check: each bind's engine and the model tables mapped to it."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from .modelshape import model_shape, shape_hash
from .shape import SchemaShape, TableKey


@dataclass(eq=False)
class Target:
    """One database: ``bind`` is None for the default bind."""

    bind: str | None
    engine: Engine
    tables: tuple[sa.Table, ...]
    hash_salt: str = ""
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

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


def flask_sqlalchemy_targets(db: Any) -> list[Target]:
    """Targets for every bind of a Flask-SQLAlchemy 3.x instance (needs an app context).

    The default bind comes first, then named binds in name order.
    """
    targets = []
    for key, engine in sorted(db.engines.items(), key=lambda kv: (kv[0] is not None, kv[0] or "")):
        metadata = db.metadatas.get(key)
        tables = tuple(metadata.tables.values()) if metadata is not None else ()
        if tables:
            targets.append(Target(bind=key, engine=engine, tables=tables))
    return targets


def metadata_target(metadata: sa.MetaData, engine: Engine) -> Target:
    return Target(bind=None, engine=engine, tables=tuple(metadata.tables.values()))
