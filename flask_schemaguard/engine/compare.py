"""Compare model shapes with reflected shapes: a pure function, no I/O."""

from __future__ import annotations

from collections.abc import Callable

from ..dialects import DialectImpl, impl_for
from ..report import Drift, DriftKind, Severity
from ..shape import IndexShape, SchemaShape, TableShape
from .filters import unique_name

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
    items: list[Drift] = []
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

    def add(
        kind: DriftKind,
        name: str | None,
        sev: Severity,
        healable: bool,
        detail: str,
        hint: str | None = None,
    ) -> None:
        items.append(Drift(kind, tname, name, sev, healable, detail, bind, schema, hint))

    live_cols = {impl.fold(c.name): c for c in live.columns}
    model_cols = {impl.fold(c.name) for c in model.columns}
    pk = set(impl.fold_all(model.primary_key))
    missing_cols: set[str] = set()
    addable_cols: set[str] = set()
    for col in model.columns:
        key = impl.fold(col.name)
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
            Severity.ERROR,
            False,
            f"Primary key of '{qual}' is ({', '.join(live.primary_key) or 'none'}) in the "
            f"database but ({', '.join(model.primary_key)}) in the model.",
            "primary keys are never changed automatically: write a migration",
        )

    def buildable(columns: tuple[str, ...]) -> bool:
        folded = [impl.fold(c) for c in columns]
        return all(c in live_cols or c in addable_cols or c not in model_cols for c in folded)

    live_indexes = live.indexes + live.uniques
    live_by_name = {impl.fold(i.name): i for i in live_indexes if i.name}
    implicit = impl.implicit_indexes(live)
    live_sigs = {
        (impl.fold_all(i.columns), i.unique)
        for i in live_indexes
        if i.valid and not (i.name and impl.fold(i.name) in implicit)
    }
    live_sigs.add((impl.fold_all(live.primary_key), True))
    matched: set[str] = set()

    def present(ix: IndexShape) -> bool:
        if ix.name and impl.fold(ix.name) in live_by_name:
            matched.add(impl.fold(ix.name))
            return True
        cols = impl.fold_all(ix.columns)
        for sig_cols, sig_unique in live_sigs:
            if sig_cols == cols and (sig_unique or not ix.unique):
                return True
        if ix.unique:  # a unique constraint on the same columns in another order
            return any(set(s[0]) == set(cols) and s[1] for s in live_sigs)
        return False

    for ix in model.indexes:
        if not present(ix):
            add(
                DriftKind.MISSING_INDEX,
                ix.name,
                Severity.WARNING,
                buildable(ix.columns),
                f"{'Unique index' if ix.unique else 'Index'} '{ix.name}' on "
                f"'{qual}' ({', '.join(ix.columns)}) does not exist in the database.",
            )
    for uc in model.uniques:
        if not present(uc):
            add(
                DriftKind.MISSING_UNIQUE_CONSTRAINT,
                uc.name or unique_name(tname, uc.columns),
                Severity.WARNING,
                buildable(uc.columns),
                f"Unique constraint on '{qual}' ({', '.join(uc.columns)}) does not exist in "
                "the database.",
                "healed as a unique index; fails if duplicate rows exist",
            )
    for ix in model.indexes + model.uniques:
        found_ix = live_by_name.get(impl.fold(ix.name)) if ix.name else None
        if found_ix is not None and not found_ix.valid:
            add(
                DriftKind.INVALID_INDEX,
                found_ix.name,
                Severity.WARNING,
                True,
                f"Index '{found_ix.name}' on '{qual}' is invalid in the database (a concurrent "
                "build was interrupted): queries do not use it.",
                "rebuilt with REINDEX INDEX CONCURRENTLY (PostgreSQL 12 or later)",
            )

    live_fks = {
        (
            impl.fold_all(f.columns),
            impl.fold(f.referred_table),
            impl.fold_all(f.referred_columns),
        )
        for f in live.foreign_keys
    }
    for fk in model.foreign_keys:
        folded_cols = impl.fold_all(fk.columns)
        if any(c in missing_cols for c in folded_cols):
            continue  # added together with its column
        sig = (
            folded_cols,
            impl.fold(fk.referred_table),
            impl.fold_all(fk.referred_columns),
        )
        if sig not in live_fks:
            add(
                DriftKind.MISSING_FOREIGN_KEY,
                fk.name,
                Severity.WARNING,
                False,
                f"Foreign key '{qual}' ({', '.join(fk.columns)}) -> "
                f"{fk.referred_table} ({', '.join(fk.referred_columns)}) does not exist in the "
                "database.",
                impl.missing_foreign_key_hint(),
            )

    model_index_names = {impl.fold(i.name) for i in model.indexes + model.uniques if i.name}
    model_sigs = {impl.fold_all(i.columns) for i in model.indexes + model.uniques}
    fk_sigs = {impl.fold_all(f.columns) for f in live.foreign_keys}
    for ix in live.indexes:
        if not ix.name:
            continue
        folded = impl.fold(ix.name)
        cols = impl.fold_all(ix.columns)
        if folded in matched or folded in model_index_names or cols in model_sigs:
            continue
        if cols in fk_sigs or cols == impl.fold_all(live.primary_key):
            continue  # MySQL's automatic index for a foreign key / the primary key
        add(
            DriftKind.EXTRA_INDEX,
            ix.name,
            Severity.INFO,
            False,
            f"Index '{ix.name}' on '{qual}' exists in the database but not in the model "
            "(left alone).",
        )
    return items
