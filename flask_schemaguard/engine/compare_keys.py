"""Indexes, unique constraints and foreign keys of a table both sides have (pure, no I/O)."""

from __future__ import annotations

from collections.abc import Callable, Collection

from ..dialects import DialectImpl
from ..report import Drift, DriftKind, Severity
from ..shape import ForeignKeyShape, IndexShape, TableShape

Add = Callable[..., None]

UNIQUE_HINT = (
    "a unique index on an existing table rejects writes the app makes today: healed only "
    "when SCHEMAGUARD_ALLOWED_OPERATIONS has create_unique_index (fails on duplicate rows)"
)
FK_ACTIONS_HINT = "write a migration that drops and re-creates the constraint"


def drift_adder(items: list[Drift], table: TableShape, bind: str | None) -> Add:
    """``add(kind, name, severity, healable, detail, hint=None)``: a drift item of ``table``
    appended to ``items``."""

    def add(
        kind: DriftKind,
        name: str | None,
        sev: Severity,
        healable: bool,
        detail: str,
        hint: str | None = None,
    ) -> None:
        items.append(Drift(kind, table.name, name, sev, healable, detail, bind, table.schema, hint))

    return add


def diff_keys(
    model: TableShape,
    live: TableShape,
    impl: DialectImpl,
    bind: str | None,
    missing_cols: set[str],
    addable_cols: set[str],
    *,
    live_cols: Collection[str] | None = None,
    model_cols: Collection[str] | None = None,
) -> list[Drift]:
    """Missing and extra indexes, missing unique constraints, missing or differing FKs.

    ``live_cols`` / ``model_cols``: the folded column names of each side, when the caller
    has them already.
    """
    schema, tname = model.schema, model.name
    qual = f"{schema}.{tname}" if schema else tname
    items: list[Drift] = []
    add = drift_adder(items, model, bind)

    if live_cols is None:
        live_cols = {impl.fold(c.name) for c in live.columns}
    if model_cols is None:
        model_cols = {impl.fold(c.name) for c in model.columns}

    def buildable(columns: tuple[str, ...]) -> bool:
        folded = [impl.fold(c) for c in columns]
        return all(c in live_cols or c in addable_cols or c not in model_cols for c in folded)

    live_indexes = live.indexes + live.uniques
    live_by_name = {impl.fold(i.name): i for i in live_indexes if i.name}
    implicit = impl.implicit_indexes(live)
    live_sigs = {
        (impl.fold_all(i.columns), i.unique)
        for i in live_indexes
        if i.valid and not (i.name and impl.fold(i.name) in implicit) and not i.expression
    }
    live_sigs.add((impl.fold_all(live.primary_key), True))
    matched: set[str] = set()

    def present(ix: IndexShape) -> bool:
        if ix.name and impl.fold(ix.name) in live_by_name:
            matched.add(impl.fold(ix.name))
            return True
        if ix.expression:  # known by its name only
            return False
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
                UNIQUE_HINT if ix.unique else None,
            )
    for uc in model.uniques:
        if not present(uc):
            add(
                DriftKind.MISSING_UNIQUE_CONSTRAINT,
                uc.name or impl.unique_constraint_name(tname, uc.columns),
                Severity.WARNING,
                buildable(uc.columns),
                f"Unique constraint on '{qual}' ({', '.join(uc.columns)}) does not exist in "
                "the database.",
                UNIQUE_HINT + "; healed as a unique index",
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

    _diff_foreign_keys(model, live, impl, qual, missing_cols, add)

    model_index_names = {impl.fold(i.name) for i in model.indexes + model.uniques if i.name}
    model_sigs = {impl.fold_all(i.columns) for i in model.indexes + model.uniques}
    for ix in live.indexes:
        if not ix.name:
            continue
        folded = impl.fold(ix.name)
        cols = impl.fold_all(ix.columns)
        if folded in matched or folded in model_index_names or folded in implicit:
            continue
        if not ix.expression and cols in model_sigs:
            continue
        add(
            DriftKind.EXTRA_INDEX,
            ix.name,
            Severity.INFO,
            False,
            f"Index '{ix.name}' on '{qual}' exists in the database but not in the model "
            "(left alone).",
        )
    return items


def _diff_foreign_keys(
    model: TableShape,
    live: TableShape,
    impl: DialectImpl,
    qual: str,
    missing_cols: set[str],
    add: Add,
) -> None:
    def sig(f: ForeignKeyShape) -> tuple[tuple[str, ...], str, tuple[str, ...]]:
        return (
            impl.fold_all(f.columns),
            impl.fold(f.referred_table),
            impl.fold_all(f.referred_columns),
        )

    live_fks: dict[tuple[tuple[str, ...], str, tuple[str, ...]], list[ForeignKeyShape]] = {}
    for f in live.foreign_keys:
        live_fks.setdefault(sig(f), []).append(f)
    for fk in model.foreign_keys:
        if any(c in missing_cols for c in impl.fold_all(fk.columns)):
            continue  # added together with its column
        target = f"{fk.referred_table} ({', '.join(fk.referred_columns)})"
        found = live_fks.get(sig(fk))
        if not found:
            add(
                DriftKind.MISSING_FOREIGN_KEY,
                fk.name,
                Severity.WARNING,
                False,
                f"Foreign key {_named(fk.name)}on '{qual}' ({', '.join(fk.columns)}) -> {target} "
                "does not exist in the database.",
                impl.missing_foreign_key_hint(),
            )
            continue
        if any(not impl.foreign_key_differences(fk, f) for f in found):
            continue  # one of them is the model's, actions and all
        name = fk.name or found[0].name
        add(
            DriftKind.FOREIGN_KEY_MISMATCH,
            name,
            Severity.WARNING,
            False,
            f"Foreign key {_named(name)}on '{qual}' ({', '.join(fk.columns)}) -> {target}: "
            + "; ".join(impl.foreign_key_differences(fk, found[0]))
            + ".",
            FK_ACTIONS_HINT,
        )


def _named(name: str | None) -> str:
    """``'fk_name' `` (with its space), or nothing for an unnamed constraint."""
    return f"'{name}' " if name else ""
