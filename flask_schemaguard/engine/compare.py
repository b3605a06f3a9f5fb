"""Compare model shapes with reflected shapes: a pure function, no I/O.

Tables and columns here; indexes, unique constraints and foreign keys in ``compare_keys``;
schemas, sequences and what a new table's foreign keys need in ``compare_objects``.
"""

from __future__ import annotations

from collections.abc import Callable

from ..dialects import DialectImpl, impl_for
from ..report import Drift, DriftKind, Severity
from ..shape import ColumnShape, SchemaShape, TableShape
from .compare_keys import Add, diff_keys, drift_adder
from .compare_objects import check_foreign_key_targets, diff_schemas, diff_sequences

Excluded = Callable[[str | None, str], bool]

NOT_NULL_HINT = "add a server_default or make it nullable, or write a migration"


def _never(schema: str | None, name: str) -> bool:
    return False


def diff(
    model: SchemaShape,
    database: SchemaShape,
    *,
    bind: str | None = None,
    excluded: Excluded = _never,
) -> list[Drift]:
    """Every difference between ``model`` and ``database``, models first, then extras."""
    impl = impl_for(database.dialect)

    def fold_table(name: str) -> str:
        return name if database.case_sensitive_tables else impl.fold(name)

    live = {(s, fold_table(n)): t for (s, n), t in database.tables.items()}
    items: list[Drift] = diff_schemas(model, database, impl, bind)
    items += diff_sequences(model, database, impl, bind, excluded)
    seen: set[tuple[str | None, str]] = set()
    for (schema, name), table in model.tables.items():
        if excluded(schema, name):
            continue
        key = (schema, fold_table(name))
        seen.add(key)
        found = live.get(key)
        if found is None:
            items.append(
                Drift(
                    DriftKind.MISSING_TABLE,
                    name,
                    None,
                    Severity.ERROR,
                    True,
                    f"Table '{_qual(schema, name)}' does not exist in the database.",
                    bind,
                    schema,
                )
            )
            continue
        items.extend(_diff_table(table, found, impl, bind))
    items = check_foreign_key_targets(items, model, live, impl, fold_table)
    for (schema, folded), table in sorted(live.items(), key=lambda kv: (kv[0][0] or "", kv[0][1])):
        if (schema, folded) in seen or excluded(schema, table.name):
            continue
        items.append(
            Drift(
                DriftKind.EXTRA_TABLE,
                table.name,
                None,
                Severity.INFO,
                False,
                f"Table '{_qual(schema, table.name)}' exists in the database but not in the "
                "models (left alone).",
                bind,
                schema,
            )
        )
    return items


def _qual(schema: str | None, name: str) -> str:
    return f"{schema}.{name}" if schema else name


def _diff_table(
    model: TableShape, live: TableShape, impl: DialectImpl, bind: str | None
) -> list[Drift]:
    schema, tname = model.schema, model.name
    qual = _qual(schema, tname)
    items: list[Drift] = []
    add = drift_adder(items, model, bind)
    fold = impl.fold
    live_cols = {fold(c.name): c for c in live.columns}
    model_keys = [fold(c.name) for c in model.columns]
    model_cols = set(model_keys)
    pk = set(impl.fold_all(model.primary_key))
    missing_cols: set[str] = set()
    addable_cols: set[str] = set()
    for col, key in zip(model.columns, model_keys, strict=True):
        found = live_cols.get(key)
        if found is None:
            missing_cols.add(key)
            can_add = key not in pk and (col.nullable or col.default is not None)
            hint = None
            if key in pk:
                hint = "a primary key column cannot be added; write a migration"
            elif not can_add:
                hint = f"NOT NULL without a server default: {NOT_NULL_HINT}"
            else:
                hint = impl.unaddable_column_hint(col)
                can_add = hint is None
            if can_add:
                addable_cols.add(key)
            add(
                DriftKind.MISSING_COLUMN,
                col.name,
                Severity.ERROR,
                can_add,
                f"Column '{qual}.{col.name}' does not exist in the database.",
                hint,
            )
            continue
        _diff_column(col, found, qual, impl, add)
        if key not in pk and col.nullable != found.nullable:
            want = "NULL" if col.nullable else "NOT NULL"
            have = "NULL" if found.nullable else "NOT NULL"
            add(
                DriftKind.NULLABLE_MISMATCH,
                col.name,
                Severity.WARNING,
                False,
                f"Column '{qual}.{col.name}' is {have} in the database but {want} in the model.",
                "write a migration",
            )
    for key, col in live_cols.items():
        if key not in model_cols:
            add(
                DriftKind.EXTRA_COLUMN,
                col.name,
                Severity.INFO,
                False,
                f"Column '{qual}.{col.name}' exists in the database but not in the model "
                "(left alone).",
            )

    live_pk = set(impl.fold_all(live.primary_key))
    if pk and pk != live_pk:
        add(
            DriftKind.PRIMARY_KEY_MISMATCH,
            None,
            Severity.WARNING,  # queries still work without the constraint
            False,
            f"Primary key of '{qual}' is ({', '.join(live.primary_key) or 'none'}) in the "
            f"database but ({', '.join(model.primary_key)}) in the model.",
            "primary keys are never changed automatically: write a migration",
        )
    items.extend(
        diff_keys(
            model,
            live,
            impl,
            bind,
            missing_cols,
            addable_cols,
            live_cols=live_cols.keys(),
            model_cols=model_cols,
        )
    )
    return items


def _diff_column(
    col: ColumnShape, found: ColumnShape, qual: str, impl: DialectImpl, add: Add
) -> None:
    """Type and enum labels of a column both sides have."""
    if col.labels is not None and found.labels is not None:
        _diff_labels(col, found, qual, impl, add)
        if impl.types_match(col.type_text, found.type_text):
            return
    if not impl.types_match(col.type_text, found.type_text):
        add(
            DriftKind.TYPE_MISMATCH,
            col.name,
            Severity.WARNING,
            False,
            f"Column '{qual}.{col.name}' is {found.type_text or 'untyped'} in the database "
            f"but {col.type_text} in the model.",
            "retyping is never automatic: write a migration",
        )


def _diff_labels(
    col: ColumnShape, found: ColumnShape, qual: str, impl: DialectImpl, add: Add
) -> None:
    model_labels, live_labels = col.labels or (), found.labels or ()
    lacking = [label for label in model_labels if label not in live_labels]
    extra = [label for label in live_labels if label not in model_labels]
    if not lacking and not extra:
        return
    parts = []
    if lacking:
        parts.append("lacks " + ", ".join(repr(label) for label in lacking))
    if extra:
        parts.append("has " + ", ".join(repr(label) for label in extra) + " too")
    detail = (
        f"Column '{qual}.{col.name}' ({col.type_text}): the database's type "
        + " and ".join(parts)
        + "."
    )
    if lacking:  # inserting a label the database lacks fails
        hint = impl.enum_label_hint(col)
        add(DriftKind.ENUM_MISMATCH, col.name, Severity.ERROR, hint is None, detail, hint)
    else:
        hint = "labels are never removed automatically"
        add(DriftKind.ENUM_MISMATCH, col.name, Severity.WARNING, False, detail, hint)
