"""Property-based: random models, a random older database derived from them, heal, check.

For each example hypothesis draws a model schema (tables, column types from a per-database safe
set, nullability, server defaults, indexes, unique constraints, foreign keys) and derives an
older database from it by removing tables, columns, indexes and unique constraints (and
flipping the nullability of a few columns), fills it with random rows, and then:

- heal: nothing fails; ``check()`` has no healable drift left, and what is left is exactly
  what cannot be healed (NOT NULL columns without a default and the indexes over them, foreign
  keys of tables that already existed, nullability); every pre-existing row and value is
  unchanged; a second heal applies nothing.
- oracle: Alembic's ``compare_metadata`` on the same pair, before and after the heal, finds the
  same tables, columns, indexes, unique constraints, foreign keys and nullability changes,
  except for the documented differences in ``docs/reliability.md`` (``DOCUMENTED`` below).

Each example gets an empty database: a new file on SQLite, all tables dropped inside the
test's own database on PostgreSQL and MySQL.
"""

from __future__ import annotations

import datetime
import decimal
import itertools
import json
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import sqlalchemy as sa
from _hypothesis import profile
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from flask import Flask
from hypothesis import given, note
from hypothesis import strategies as st
from sqlalchemy.dialects import mysql, postgresql, sqlite

from flask_schemaguard import SchemaGuard
from flask_schemaguard.dialects import impl_for
from flask_schemaguard.engine.planner import ALL_OPERATIONS, unique_index_name

pytestmark = pytest.mark.slow

OWNED = {"schemaguard_events", "schemaguard_state"}

# -- the random schemas ----------------------------------------------------------------------
# column kinds: (SQLAlchemy type, values, server defaults, indexable)
_WORDS = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABC 0123456789-_'", max_size=12)
KINDS: dict[str, tuple[Any, Any, tuple[str, ...], bool]] = {
    "integer": (sa.Integer(), st.integers(-10_000, 10_000), ("0", "7"), True),
    "bigint": (sa.BigInteger(), st.integers(-(2**40), 2**40), ("0",), True),
    "smallint": (sa.SmallInteger(), st.integers(-100, 100), ("1",), True),
    "string": (sa.String(40), _WORDS, ("n/a", "it's"), True),
    "text": (sa.Text(), _WORDS, (), False),
    "boolean": (sa.Boolean(), st.booleans(), ("0", "1"), True),
    "date": (
        sa.Date(),
        st.dates(datetime.date(2000, 1, 1), datetime.date(2030, 12, 31)),
        ("2020-01-01",),
        True,
    ),
    "datetime": (
        sa.DateTime(),
        st.datetimes(datetime.datetime(2000, 1, 1), datetime.datetime(2030, 12, 31)).map(
            lambda d: d.replace(microsecond=0)
        ),
        (),
        True,
    ),
    "float": (
        sa.Float(),
        st.integers(-1000, 1000).map(lambda i: i / 4),  # exact in binary, single or double
        ("1.5",),
        False,
    ),
    "numeric": (
        sa.Numeric(10, 2),
        st.decimals(-99_999, 99_999, places=2, allow_nan=False, allow_infinity=False),
        ("1.50",),
        True,
    ),
    "json": (sa.JSON(), st.dictionaries(st.sampled_from("abc"), st.integers(0, 9)), (), False),
    "uuid": (sa.Uuid(), st.uuids(), (), True),
    "binary": (sa.LargeBinary(), st.binary(max_size=12), (), False),
    "numeric_wide": (
        sa.Numeric(12, 4),
        st.decimals(-99_999, 99_999, places=4, allow_nan=False, allow_infinity=False),
        ("0.5000",),
        True,
    ),
    "unicode": (sa.Unicode(30), _WORDS, ("-",), True),
    "datetime_tz": (
        sa.DateTime(timezone=True),
        st.datetimes(datetime.datetime(2000, 1, 1), datetime.datetime(2030, 12, 31)).map(
            lambda d: d.replace(microsecond=0)
        ),
        (),
        True,
    ),
    # a native enum on PostgreSQL (one type for every such column) and MySQL; the older
    # database may lack its last label (ENUM_DROPPED)
    "enum": (sa.Enum("a", "b", "c", name="prop_state"), st.sampled_from(["a", "b"]), ("a",), True),
    "jsonb": (
        postgresql.JSONB(),
        st.dictionaries(st.sampled_from("xy"), st.integers(0, 9)),
        (),
        False,
    ),
    "int_array": (
        postgresql.ARRAY(sa.Integer),
        st.lists(st.integers(-9, 9), max_size=3),
        (),
        False,
    ),
    "tinyint": (mysql.TINYINT(), st.integers(-100, 100), ("1",), True),
    "mediumtext": (mysql.MEDIUMTEXT(), _WORDS, (), False),
}
ENUM_OLD = sa.Enum("a", "b", name="prop_state")
_PG_ONLY = ("jsonb", "int_array")
_MY_ONLY = ("tinyint", "mediumtext")
SAFE_KINDS = {
    # (SQLite has no native enum; a naive datetime in a timestamptz is not the same value)
    "sqlite": [k for k in KINDS if k not in ("json", "uuid", "enum", *_PG_ONLY, *_MY_ONLY)],
    "postgresql": [k for k in KINDS if k not in ("datetime_tz", *_MY_ONLY)],
    "mysql": [k for k in KINDS if k not in ("uuid", *_PG_ONLY)],
}
#: Referential actions a model's foreign key may declare (the older database may lack it).
ON_DELETE = (None, "CASCADE", "SET NULL")
# reserved words, mixed case and names long enough for generated index names to be cut
TABLE_NAMES = ["users", "order", "items", "group", "AuditLog", "select"]
COLUMN_NAMES = [
    "name",
    "amount",
    "created",
    "flag",
    "note",
    "value",
    "key",
    "status",
    "Title",
    "customer_reference_number_for_the_invoice",
]


@dataclass(frozen=True)
class Col:
    name: str
    kind: str
    nullable: bool
    default: str | None = None
    parent: str | None = None  # a foreign key to parent.id
    ondelete: str | None = None  # its ON DELETE


@dataclass(frozen=True)
class Ix:
    name: str | None
    columns: tuple[str, ...]
    unique: bool
    constraint: bool  # a UniqueConstraint rather than an Index


@dataclass(frozen=True)
class Tbl:
    name: str
    columns: tuple[Col, ...]
    indexes: tuple[Ix, ...]
    sequence: bool = False  # its id comes from sa.Sequence("<name>_id_seq")

    def col(self, name: str) -> Col:
        return next(c for c in self.columns if c.name == name)


@dataclass
class Case:
    db: str
    tables: tuple[Tbl, ...]
    dropped_tables: frozenset[str]
    dropped_columns: frozenset[tuple[str, str]]
    dropped_indexes: frozenset[tuple[str, int]]
    flipped: frozenset[tuple[str, str]]
    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    #: The older database's enum lacks the model's last label.
    enum_dropped: bool = False
    #: Existing tables whose sequence the older database lacks.
    dropped_sequences: frozenset[str] = frozenset()
    #: Foreign keys (table, column) whose ON DELETE the older database lacks.
    fk_flipped: frozenset[tuple[str, str]] = frozenset()

    # the older database
    def old_columns(self, t: Tbl) -> list[Col]:
        return [c for c in t.columns if (t.name, c.name) not in self.dropped_columns]

    def old_nullable(self, t: Tbl, c: Col) -> bool:
        return c.nullable != ((t.name, c.name) in self.flipped)

    def old_indexes(self, t: Tbl) -> list[Ix]:
        kept = {c.name for c in self.old_columns(t)}
        return [
            ix
            for i, ix in enumerate(t.indexes)
            if (t.name, i) not in self.dropped_indexes and set(ix.columns) <= kept
        ]

    def old_tables(self) -> list[Tbl]:
        return [t for t in self.tables if t.name not in self.dropped_tables]

    def healable_column(self, c: Col) -> bool:
        return c.nullable or c.default is not None


@st.composite
def cases(draw: Any, db: str) -> Case:
    n_tables = draw(st.integers(1, 4))
    names = draw(
        st.lists(st.sampled_from(TABLE_NAMES), min_size=n_tables, max_size=n_tables, unique=True)
    )
    tables: list[Tbl] = []
    for position, tname in enumerate(names):
        cnames = draw(st.lists(st.sampled_from(COLUMN_NAMES), min_size=1, max_size=5, unique=True))
        columns: list[Col] = []
        for cname in cnames:
            kind = draw(st.sampled_from(SAFE_KINDS[db]))
            defaults = KINDS[kind][2]
            default = draw(st.none() | st.sampled_from(defaults)) if defaults else None
            columns.append(Col(cname, kind, draw(st.booleans()), default))
        if position and draw(st.booleans()):
            parent = draw(st.sampled_from(names[:position]))
            ondelete = draw(st.sampled_from(ON_DELETE))
            columns.append(Col(f"{parent}_id", "integer", True, None, parent, ondelete))
        indexable = [c.name for c in columns if KINDS[c.kind][3]]
        indexes: list[Ix] = []
        if indexable:
            for k in range(draw(st.integers(0, 3))):
                cols = tuple(
                    draw(st.lists(st.sampled_from(indexable), min_size=1, max_size=2, unique=True))
                )
                constraint = draw(st.booleans()) and draw(st.booleans())  # 1 in 4
                unique = constraint or draw(st.booleans())
                named = not constraint or draw(st.booleans())
                prefix = draw(st.sampled_from(["uq", "UQ"] if constraint else ["ix", "IX"]))
                name = f"{prefix}_{tname}_{k}" if named else None
                if any(
                    (set(o.columns), o.unique, o.constraint) == (set(cols), unique, constraint)
                    for o in indexes
                ):
                    continue  # the same index twice is a mistake in the model, not drift
                indexes.append(Ix(name, cols, unique, constraint))
        sequence = db != "sqlite" and draw(st.booleans()) and draw(st.booleans())
        tables.append(Tbl(tname, tuple(columns), tuple(indexes), sequence))

    dropped_tables = frozenset(
        draw(st.lists(st.sampled_from(names), max_size=len(names) - 1, unique=True))
    )
    kept = [t for t in tables if t.name not in dropped_tables]
    every_column = [(t.name, c.name) for t in kept for c in t.columns]
    every_index = [(t.name, i) for t in kept for i in range(len(t.indexes))]
    dropped_columns = frozenset(
        draw(st.lists(st.sampled_from(every_column), unique=True)) if every_column else []
    )
    dropped_indexes = frozenset(
        draw(st.lists(st.sampled_from(every_index), unique=True)) if every_index else []
    )
    flippable = [
        (t, c.name)
        for t, c in ((t.name, c) for t in kept for c in t.columns)
        if (t, c.name) not in dropped_columns and c.parent is None
    ]
    flipped = frozenset(
        draw(st.lists(st.sampled_from(flippable), max_size=2, unique=True)) if flippable else []
    )
    case = Case(db, tuple(tables), dropped_tables, dropped_columns, dropped_indexes, flipped)
    case.enum_dropped = draw(st.booleans())
    with_sequence = [t.name for t in kept if t.sequence]
    case.dropped_sequences = frozenset(
        draw(st.lists(st.sampled_from(with_sequence), unique=True)) if with_sequence else []
    )
    with_action = [
        (t.name, c.name)
        for t in kept
        for c in t.columns
        if c.parent and c.ondelete and (t.name, c.name) not in dropped_columns
    ]
    case.fk_flipped = frozenset(
        draw(st.lists(st.sampled_from(with_action), unique=True)) if with_action else []
    )
    case.rows = draw_rows(draw, case)
    return case


def draw_rows(draw: Any, case: Case) -> dict[str, list[dict[str, Any]]]:
    """Rows for the older database: valid there, and unique wherever the model's unique
    indexes and constraints will need them to be (after the heal adds their columns)."""
    rows: dict[str, list[dict[str, Any]]] = {}
    for t in case.old_tables():
        old = case.old_columns(t)
        old_names = {c.name for c in old}
        table_rows: list[dict[str, Any]] = []
        seen: dict[int, set[Any]] = {i: set() for i in range(len(t.indexes))}
        for row_id in range(1, draw(st.integers(0, 4)) + 1):
            row: dict[str, Any] = {"id": row_id}
            for c in old:
                if c.parent is not None:
                    parents = [r["id"] for r in rows.get(c.parent, [])]
                    if c.parent in case.dropped_tables:
                        parents = [1, 2, 99]
                    row[c.name] = draw(st.none() | st.sampled_from(parents)) if parents else None
                elif case.old_nullable(t, c) and draw(st.booleans()):
                    row[c.name] = None
                else:
                    row[c.name] = draw(KINDS[c.kind][1])
            keys = {}
            for i, ix in enumerate(t.indexes):
                if ix.unique:
                    key = _unique_key(case.db, t, ix, row, old_names)
                    if key is not None:
                        keys[i] = key
            if any(key in seen[i] for i, key in keys.items()):
                continue
            for i, key in keys.items():
                seen[i].add(key)
            table_rows.append(row)
        rows[t.name] = table_rows
    return rows


def _unique_key(db: str, t: Tbl, ix: Ix, row: dict[str, Any], old_names: set[str]) -> Any:
    """What a unique index over ``ix`` compares for ``row`` after the heal; None if NULL."""
    key = []
    for name in ix.columns:
        if name in old_names:
            value = row[name]
        else:  # added by the heal: its default, or NULL
            value = t.col(name).default
        if value is None:
            return None  # NULLs never collide in a unique index
        if isinstance(value, str) and db == "mysql":
            value = value.lower().rstrip(" ")  # case-insensitive, PAD SPACE collation
        if isinstance(value, (decimal.Decimal, float)):
            value = decimal.Decimal(str(value)).normalize()
        key.append(value)
    return tuple(key)


# -- metadata from a case --------------------------------------------------------------------
def model_metadata(case: Case) -> sa.MetaData:
    md = sa.MetaData()
    for t in case.tables:
        _table(
            md,
            t,
            t.columns,
            t.indexes,
            lambda c: c.nullable,
            lambda c: c.parent is not None,
            lambda c: c.ondelete,
            False,
        )
    return md


def old_metadata(case: Case) -> sa.MetaData:
    md = sa.MetaData()
    for t in case.old_tables():
        _table(
            md,
            t,
            case.old_columns(t),
            case.old_indexes(t),
            lambda c, t=t: case.old_nullable(t, c),
            lambda c: c.parent is not None and c.parent not in case.dropped_tables,
            lambda c, t=t: None if (t.name, c.name) in case.fk_flipped else c.ondelete,
            case.enum_dropped,
        )
    return md


def _table(
    md: sa.MetaData,
    t: Tbl,
    columns: Any,
    indexes: Any,
    nullable: Any,
    fk: Any,
    ondelete: Any,
    old_enum: bool,
) -> None:
    id_args = [sa.Sequence(f"{t.name}_id_seq")] if t.sequence else []
    items: list[Any] = [
        sa.Column("id", sa.Integer, *id_args, primary_key=True, autoincrement=False)
    ]
    for c in columns:
        args: list[Any] = [sa.ForeignKey(f"{c.parent}.id", ondelete=ondelete(c))] if fk(c) else []
        type_ = ENUM_OLD if old_enum and c.kind == "enum" else KINDS[c.kind][0]
        items.append(
            sa.Column(c.name, type_, *args, nullable=nullable(c), server_default=c.default)
        )
    for ix in indexes:
        if ix.constraint:
            items.append(sa.UniqueConstraint(*ix.columns, name=ix.name))
    table = sa.Table(t.name, md, *items)
    for ix in indexes:
        if not ix.constraint:
            sa.Index(ix.name, *(table.c[n] for n in ix.columns), unique=ix.unique)


# -- databases -------------------------------------------------------------------------------
@dataclass
class Scratch:
    db: str
    url: str
    tmp: Any
    counter: Iterator[int] = field(default_factory=itertools.count)

    def fresh(self) -> sa.Engine:
        """An engine on an empty database."""
        if self.db == "sqlite":
            return sa.create_engine(f"sqlite:///{self.tmp}/example_{next(self.counter)}.db")
        engine = sa.create_engine(self.url)
        with engine.begin() as conn:
            if self.db == "postgresql":
                conn.exec_driver_sql("DROP SCHEMA public CASCADE")
                conn.exec_driver_sql("CREATE SCHEMA public")
            else:
                names = conn.exec_driver_sql("SHOW FULL TABLES").fetchall()
                conn.exec_driver_sql("SET FOREIGN_KEY_CHECKS = 0")
                for name, kind in names:
                    what = "SEQUENCE" if kind == "SEQUENCE" else "TABLE"
                    conn.exec_driver_sql(f"DROP {what} `{name}`")
                conn.exec_driver_sql("SET FOREIGN_KEY_CHECKS = 1")
        return engine


@pytest.fixture
def scratch(db_kind: str, db_url: str, tmp_path: Any) -> Scratch:
    return Scratch(db_kind, db_url, tmp_path)


def dump(engine: sa.Engine, md: sa.MetaData) -> dict[str, list[tuple[Any, ...]]]:
    with engine.connect() as conn:
        return {
            name: [tuple(r) for r in conn.execute(sa.select(table).order_by(table.c.id))]
            for name, table in md.tables.items()
        }


# -- what remains after a heal, predicted from the case ---------------------------------------
def predicted_remaining(case: Case) -> set[tuple[str, str, Any]]:
    out: set[tuple[str, str, Any]] = set()
    for t in case.old_tables():
        old_names = {c.name for c in case.old_columns(t)}
        stuck = {
            c.name for c in t.columns if c.name not in old_names and not case.healable_column(c)
        }
        out |= {("missing_column", t.name, name) for name in stuck}
        for ix in t.indexes:
            if set(ix.columns) & stuck:
                kind = "missing_unique_constraint" if ix.constraint else "missing_index"
                out.add((kind, t.name, _ix_key(ix)))
        for c in t.columns:
            if (t.name, c.name) in case.flipped:
                out.add(("nullable_mismatch", t.name, c.name))
            if c.parent and c.name in old_names and c.parent in case.dropped_tables:
                out.add(("missing_foreign_key", t.name, c.name))
            elif (t.name, c.name) in case.fk_flipped:  # never healed: a migration's job
                out.add(("foreign_key_mismatch", t.name, c.name))
            if (
                case.db == "mysql"
                and case.enum_dropped
                and c.kind == "enum"
                and c.name in old_names
            ):
                out.add(("enum_mismatch", t.name, c.name))  # a retype there: reported only
    return out


def _ix_key(ix: Ix) -> Any:
    return ix.name if not ix.constraint else ("unique", tuple(sorted(ix.columns)))


def ours(report: Any, case: Case) -> set[tuple[str, str, Any]]:
    """Our report as (kind, table, key): unique constraints by columns, FKs by column."""
    by_table = {t.name: t for t in case.tables}
    out: set[tuple[str, str, Any]] = set()
    for item in report.items:
        kind = item.kind.value
        if kind.startswith("extra_") and item.table in OWNED:
            continue
        t = by_table.get(item.table)
        key: Any = item.name
        if kind == "missing_unique_constraint" and t is not None:
            ix = next(
                ix
                for ix in t.indexes
                if ix.constraint and (ix.name or _unnamed_uq(case.db, t.name, ix)) == item.name
            )
            key = _ix_key(ix)
        elif kind in ("missing_foreign_key", "foreign_key_mismatch") and t is not None:
            key = next(c.name for c in t.columns if c.parent)
        out.add((kind, str(item.table), key))
    return out


def _unnamed_uq(db: str, table: str, ix: Ix) -> str:
    """The name the database gives an unnamed unique constraint (SQLite: ours)."""
    return impl_for(db).unique_constraint_name(table, ix.columns)


# -- Alembic, the oracle ---------------------------------------------------------------------
def alembic_diffs(engine: sa.Engine, md: sa.MetaData) -> set[tuple[str, str, Any]]:
    """Alembic's ``compare_metadata`` in our vocabulary (only what both tools compare)."""

    def include_name(name: str | None, type_: str, parent: Any) -> bool:
        return not (type_ == "table" and name in OWNED)

    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"include_name": include_name, "compare_type": True}
        )
        raw = compare_metadata(context, md)
    out: set[tuple[str, str, Any]] = set()
    for entry in raw:
        for diff in entry if isinstance(entry, list) else [entry]:
            out |= _alembic_item(diff)
    for _kind, table, column in [i for i in out if i[0] == "missing_foreign_key"]:
        if ("extra_foreign_key", table, column) in out:  # dropped and re-created: it differs
            out -= {("missing_foreign_key", table, column), ("extra_foreign_key", table, column)}
            out.add(("foreign_key_mismatch", table, column))
    return out


def _alembic_item(diff: tuple[Any, ...]) -> set[tuple[str, str, Any]]:
    op = diff[0]
    if op == "add_table":
        return {("missing_table", diff[1].name, None)}
    if op == "remove_table":
        return {("extra_table", diff[1].name, None)}
    if op == "add_column":
        return {("missing_column", diff[2], diff[3].name)}
    if op == "remove_column":
        return {("extra_column", diff[2], diff[3].name)}
    if op in ("add_index", "remove_index"):
        ix = diff[1]
        kind = "missing_index" if op == "add_index" else "extra_index"
        return {(kind, ix.table.name, ix.name)}
    if op in ("add_constraint", "remove_constraint") and isinstance(diff[1], sa.UniqueConstraint):
        uc = diff[1]
        kind = "missing_unique_constraint" if op == "add_constraint" else "extra_unique_constraint"
        return {(kind, uc.table.name, ("unique", tuple(sorted(c.name for c in uc.columns))))}
    if op in ("add_fk", "remove_fk"):
        fk = diff[1]
        kind = "missing_foreign_key" if op == "add_fk" else "extra_foreign_key"
        return {(kind, fk.parent.name, fk.column_keys[0])}
    if op == "modify_nullable":
        return {("nullable_mismatch", diff[2], diff[3])}
    if op == "modify_type":
        return {("type_mismatch", diff[2], diff[3])}
    return {("alembic:" + op, "", repr(diff[1:3]))}


#: Documented, justified differences between our drift and Alembic's (docs/reliability.md).
def explain(item: tuple[str, str, Any], case: Case, side: str, stage: str) -> str | None:
    kind, table, key = item
    t = next((t for t in case.tables if t.name == table), None)
    if t is None:
        return None
    if (
        kind in ("missing_index", "missing_unique_constraint")
        and side == "alembic"
        and stage == "before"
        and table in case.dropped_tables
    ):
        # D0: the indexes of a missing table are part of missing_table for us (the heal
        # creates them with it); Alembic lists them as well
        return "D0"
    if kind == "enum_mismatch" and side == "ours":
        # D4: Alembic does not compare enum labels (PostgreSQL), or calls the change of an
        # inline ENUM a type change (MySQL)
        return "D4"
    if kind == "type_mismatch" and side == "alembic" and _column_kind(t, key) == "enum":
        return "D4"
    if kind == "missing_sequence" and side == "ours":
        return "D5"  # D5: Alembic does not compare sequences
    old_names = {c.name for c in case.old_columns(t)}
    if (
        kind == "foreign_key_mismatch"
        and side == "alembic"
        and case.db == "sqlite"
        and (stage == "after" and key not in old_names)
    ):
        # D6: SQLite: a foreign key written as a column constraint (what ADD COLUMN writes)
        # loses its ON DELETE in SQLAlchemy's reflection; PRAGMA foreign_key_list has it
        return "D6"
    if kind == "missing_foreign_key" and side == "alembic" and key not in old_names:
        # D1: the foreign key of a missing column is part of that column (ADD COLUMN ...
        # REFERENCES); we report the column, Alembic the column and the constraint.
        return "D1"
    if kind in ("missing_index", "missing_unique_constraint") and side == "alembic":
        # D2: an index or unique constraint whose columns another index of the table already
        # covers (same columns; a unique one for a unique) counts as present for us
        ix = next((ix for ix in t.indexes if _ix_key(ix) == key), None)
        if ix is not None and _covered(case, t, ix, stage):
            return "D2"
    if stage == "after" and side == "alembic":
        # D3: a missing unique constraint is healed as a unique index of the same name
        # (uq_<table>_<columns> when unnamed); Alembic then sees a unique index where the
        # model has a constraint
        healed = _healed_unique_constraints(case, t)
        if kind == "missing_unique_constraint" and key in {_ix_key(ix) for ix in healed}:
            return "D3"
        if kind == "extra_index" and key in {_healed_name(case, t, ix) for ix in healed}:
            return "D3"
    return None


def _column_kind(t: Tbl, name: Any) -> str | None:
    return next((c.kind for c in t.columns if c.name == name), None)


def _healed_unique_constraints(case: Case, t: Tbl) -> list[Ix]:
    """Unique constraints of an existing table that the heal created as unique indexes."""
    if t.name in case.dropped_tables:
        return []  # created with CREATE TABLE: real constraints
    old = case.old_indexes(t)
    return [
        ix
        for ix in t.indexes
        if ix.constraint
        and ix not in old
        and _built(case, t, ix)
        and not _covered(case, t, ix, "before")
    ]


def _healed_name(case: Case, t: Tbl, ix: Ix) -> str:
    dialect = {"sqlite": sqlite.dialect, "postgresql": postgresql.dialect, "mysql": mysql.dialect}
    table = model_metadata(case).tables[t.name]
    constraint = next(
        c
        for c in table.constraints
        if isinstance(c, sa.UniqueConstraint) and tuple(c.columns.keys()) == ix.columns
    )
    return unique_index_name(table, constraint, dialect[case.db]())


def _covered(case: Case, t: Tbl, ix: Ix, stage: str) -> bool:
    if stage == "before":
        present = case.old_indexes(t)
    else:
        present = list(t.indexes)
    others = [o for o in present if o is not ix]
    if stage == "before" and ix in case.old_indexes(t):
        return False
    for o in others:
        if stage == "after" and not _built(case, t, o):
            continue
        if tuple(o.columns) == tuple(ix.columns) and (o.unique or not ix.unique):
            return True
        if ix.unique and o.unique and set(o.columns) == set(ix.columns):
            return True
    return False


def _built(case: Case, t: Tbl, ix: Ix) -> bool:
    stuck = {
        c.name
        for c in t.columns
        if c.name not in {c.name for c in case.old_columns(t)} and not case.healable_column(c)
    }
    return t.name in case.dropped_tables or not (set(ix.columns) & stuck)


def compare_with_alembic(
    case: Case, mine: set[tuple[str, str, Any]], theirs: set[tuple[str, str, Any]], stage: str
) -> list[str]:
    """Disagreements no documented difference explains (empty: the tools agree)."""
    problems = []
    for side, items in (("ours", mine - theirs), ("alembic", theirs - mine)):
        for item in sorted(items, key=repr):
            code = explain(item, case, side, stage)
            EXPLAINED[(case.db, code, side, stage, item[0])] += 1
            if code is None:
                who = "we" if side == "ours" else "Alembic"
                problems.append(f"{stage}: only {who} report(s) {item}")
    for item in mine & theirs:
        EXPLAINED[(case.db, "agree", "both", stage, item[0])] += 1
    return problems


#: How often each documented difference (and each agreement) was seen, per kind.
EXPLAINED: Counter[tuple[Any, ...]] = Counter()


@pytest.fixture(scope="module", autouse=True)
def _write_tally() -> Iterator[None]:
    """``SCHEMAGUARD_PROPERTY_TALLY=path``: write EXPLAINED there (docs/reliability.md)."""
    yield
    path = os.environ.get("SCHEMAGUARD_PROPERTY_TALLY")
    if path:
        with open(path, "w") as f:
            json.dump(
                {":".join(map(str, k)): n for k, n in sorted(EXPLAINED.items(), key=repr)},
                f,
                indent=1,
            )


# -- the test --------------------------------------------------------------------------------
def _guard(engine: sa.Engine, md: sa.MetaData) -> tuple[Flask, SchemaGuard]:
    app = Flask(__name__)
    app.config["SCHEMAGUARD_RUN_ON"] = "manual"
    # every additive operation, the opt-in unique indexes on existing tables included
    app.config["SCHEMAGUARD_ALLOWED_OPERATIONS"] = sorted(ALL_OPERATIONS)
    return app, SchemaGuard(app, metadata=md, engine=engine)


def run_example(scratch: Scratch, case: Case) -> None:
    model, old = model_metadata(case), old_metadata(case)
    note(f"case: {case}")
    engine = scratch.fresh()
    try:
        old.create_all(engine)
        with engine.begin() as conn:
            quote = conn.dialect.identifier_preparer.quote
            for name in sorted(case.dropped_sequences):
                conn.exec_driver_sql(f"DROP SEQUENCE {quote(name + '_id_seq')}")
            for name, rows in case.rows.items():
                if rows:
                    conn.execute(old.tables[name].insert(), rows)
        before_rows = dump(engine, old)
        app, guard = _guard(engine, model)

        report = guard.check(app=app)
        problems = compare_with_alembic(
            case, ours(report, case), alembic_diffs(engine, model), "before"
        )

        result = guard.heal(app=app)
        assert result.failed == (), result.failed
        after = guard.check(app=app)
        assert not after.healable, [i.to_dict() for i in after.healable]
        assert ours(after, case) == predicted_remaining(case), after.to_dict()
        assert dump(engine, old) == before_rows
        again = guard.heal(app=app)
        assert again.applied == () and again.failed == ()

        problems += compare_with_alembic(
            case, ours(after, case), alembic_diffs(engine, model), "after"
        )
        assert problems == [], problems
    finally:
        engine.dispose()


@profile()
@given(data=st.data())
def test_heal_random_drift_keeps_rows_and_agrees_with_alembic(
    scratch: Scratch, data: st.DataObject
) -> None:
    run_example(scratch, data.draw(cases(scratch.db)))


def test_unique_key_helper() -> None:
    t = Tbl("t", (Col("a", "string", True), Col("b", "integer", False, "0")), ())
    ix = Ix("u", ("a", "b"), True, False)
    assert _unique_key("mysql", t, ix, {"a": "X "}, {"a"}) == ("x", "0")
    assert _unique_key("postgresql", t, ix, {"a": None}, {"a"}) is None
