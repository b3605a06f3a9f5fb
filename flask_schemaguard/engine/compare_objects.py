"""What lives beside the tables: schemas, sequences, and whether a new table's (or new
column's) foreign key can hold in the live database (pure, no I/O)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from ..dialects import DialectImpl
from ..report import Drift, DriftKind, Severity
from ..shape import ForeignKeyShape, SchemaShape, TableKey, TableShape

Excluded = Callable[[str | None, str], bool]


def diff_schemas(
    model: SchemaShape, database: SchemaShape, impl: DialectImpl, bind: str | None
) -> list[Drift]:
    """A ``missing_schema`` item per named schema of the models the database lacks."""
    items = []
    for schema in model.schemas:
        if schema is None or schema not in database.missing_schemas:
            continue
        hint = impl.missing_schema_hint(schema)
        items.append(
            Drift(
                DriftKind.MISSING_SCHEMA,
                None,
                schema,
                Severity.ERROR,
                hint is None,
                f"Schema '{schema}' does not exist in the database: its tables cannot be "
                "created or used.",
                bind,
                schema,
                hint
                or "created only when SCHEMAGUARD_ALLOWED_OPERATIONS has create_schema; "
                "or create it yourself",
            )
        )
    return items


def diff_sequences(
    model: SchemaShape,
    database: SchemaShape,
    impl: DialectImpl,
    bind: str | None,
    excluded: Excluded,
) -> list[Drift]:
    """A ``missing_sequence`` item per sequence the models' columns use that is missing."""
    live = {(s, impl.fold(n)) for s, n in database.sequences}
    seen: set[tuple[str | None, str]] = set()
    items = []
    for (schema, name), table in model.tables.items():
        if excluded(schema, name):
            continue
        for col in table.columns:
            if col.sequence is None:
                continue
            seq_schema, seq_name = col.sequence
            key = (seq_schema, impl.fold(seq_name))
            if key in live or key in seen or seq_schema in database.missing_schemas:
                continue
            seen.add(key)
            qual = f"{seq_schema}.{seq_name}" if seq_schema else seq_name
            items.append(
                Drift(
                    DriftKind.MISSING_SEQUENCE,
                    name,
                    seq_name,
                    Severity.ERROR,
                    True,
                    f"Sequence '{qual}' (the values of '{name}.{col.name}') does not exist in "
                    "the database: every insert fails.",
                    bind,
                    seq_schema,
                )
            )
    return items


def check_foreign_key_targets(
    items: list[Drift],
    model: SchemaShape,
    live: dict[TableKey, TableShape],
    impl: DialectImpl,
    fold_table: Callable[[str], str],
) -> list[Drift]:
    """A new table or column whose foreign key cannot hold is not healable (with why).

    A foreign key needs its referred columns to exist and to be a primary key or unique,
    in the live database or by what the heal itself creates: a missing column it can add,
    a unique index or constraint the models declare (the planner orders those first).
    """
    models = {(s, fold_table(n)): t for (s, n), t in model.tables.items()}
    missing_cols = {
        (i.schema, fold_table(i.table or ""), impl.fold(i.name or ""))
        for i in items
        if i.kind is DriftKind.MISSING_COLUMN and i.healable
    }
    out = []
    for item in items:
        fks = _new_foreign_keys(item, models, impl, fold_table)
        reasons = [
            r
            for fk in fks
            if (r := _cannot_hold(fk, item, models, live, missing_cols, impl, fold_table))
        ]
        if item.healable and reasons:
            item = dataclasses.replace(item, healable=False, hint=reasons[0])
        out.append(item)
    return out


def _new_foreign_keys(
    item: Drift,
    models: dict[TableKey, TableShape],
    impl: DialectImpl,
    fold_table: Callable[[str], str],
) -> list[ForeignKeyShape]:
    """The foreign keys a heal of ``item`` would create (a new table's, a new column's)."""
    if item.kind not in (DriftKind.MISSING_TABLE, DriftKind.MISSING_COLUMN):
        return []
    table = models.get((item.schema, fold_table(item.table or "")))
    if table is None:
        return []
    if item.kind is DriftKind.MISSING_TABLE:
        return list(table.foreign_keys)
    column = impl.fold(item.name or "")
    return [f for f in table.foreign_keys if impl.fold_all(f.columns) == (column,)]


def _cannot_hold(
    fk: ForeignKeyShape,
    item: Drift,
    models: dict[TableKey, TableShape],
    live: dict[TableKey, TableShape],
    missing_cols: set[tuple[str | None, str, str]],
    impl: DialectImpl,
    fold_table: Callable[[str], str],
) -> str | None:
    key = (fk.referred_schema, fold_table(fk.referred_table))
    target = f"{fk.referred_table} ({', '.join(fk.referred_columns)})"
    model_target, live_target = models.get(key), live.get(key)
    if model_target is None and live_target is None:
        return (
            f"its foreign key refers to {target}, a table neither the models nor the database have"
        )
    if live_target is None:
        return None  # a new table too: created first, with its own keys
    wanted = impl.fold_all(fk.referred_columns)
    have = {impl.fold(c.name) for c in live_target.columns}
    lacking = [c for c in wanted if c not in have and (key[0], key[1], c) not in missing_cols]
    if lacking:
        return (
            f"its foreign key refers to {target}, whose column {', '.join(lacking)} the "
            "database lacks and the heal cannot add"
        )
    if _unique(wanted, live_target, impl) or (
        model_target is not None and _unique(wanted, model_target, impl)
    ):
        return None
    return (
        f"its foreign key refers to {target}, which is neither a primary key nor unique "
        "(the database would reject the constraint)"
    )


def _unique(columns: tuple[str, ...], table: TableShape, impl: DialectImpl) -> bool:
    wanted = set(columns)
    if set(impl.fold_all(table.primary_key)) == wanted:
        return True
    return any(
        set(impl.fold_all(ix.columns)) == wanted
        for ix in (*table.indexes, *table.uniques)
        if ix.unique and not ix.expression
    )
