"""Synthetic schemas and isolated bench databases.

``database_metadata(n)`` is what the database is created from; ``model_metadata(n)`` is what
the "application" declares: the same tables with drift in 5% of them (one kind per table,
rotating through missing table / column / index / unique / foreign key, type and nullability
changes, and extra columns and indexes in the database).
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

POSTGRES_URL = os.environ.get(
    "SCHEMAGUARD_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
MYSQL_URL = os.environ.get("SCHEMAGUARD_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/test")

DRIFT_KINDS = (
    "missing_table",
    "missing_column",
    "missing_index",
    "type_mismatch",
    "nullable_mismatch",
    "missing_unique",
    "extra_column",
    "missing_foreign_key",
)


def table_name(i: int) -> str:
    return f"bench_t{i:05d}"


def _drift_kind(i: int, drift: bool) -> str | None:
    """One table in 20 drifts (5%), each drifting table with the next kind in turn."""
    if not drift or i % 20 != 10:
        return None
    return DRIFT_KINDS[(i // 20) % len(DRIFT_KINDS)]


def parent_index(i: int) -> int:
    """The table ``i`` refers to: the one before it (itself for the first), skipping tables
    the database lacks."""
    p = i - 1 if i else 0
    if _drift_kind(p, True) == "missing_table":
        p -= 1
    return p


def build_metadata(n: int, *, models: bool) -> sa.MetaData:
    """``n`` tables of 11 columns, 2-3 indexes, 1 unique, 1 foreign key (t0 refers to itself).

    ``models=False``: the schema as created in the database; ``models=True``: the models, with
    5% drift relative to it.
    """
    md = sa.MetaData()
    for i in range(n):
        kind = _drift_kind(i, models)
        if not models and _drift_kind(i, True) == "missing_table":
            continue  # the models declare it, the database lacks it
        name = table_name(i)
        parent = table_name(parent_index(i))
        columns: list[sa.schema.SchemaItem] = [
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("name", sa.String(100), nullable=False),
            sa.Column("code", sa.String(32), nullable=False),
            sa.Column("amount", sa.Numeric(12, 2)),
            sa.Column("ratio", sa.Float),
            sa.Column(
                "active",
                sa.Boolean,
                nullable=False,
                server_default=sa.true(),
            ),
            sa.Column(
                "created_at",
                sa.DateTime,
                nullable=(kind == "nullable_mismatch"),
                server_default=sa.func.current_timestamp(),
            ),
            sa.Column("day", sa.Date),
            sa.Column("note", sa.Text if kind != "type_mismatch" else sa.Integer),
            sa.Column("parent_id", sa.Integer),
            sa.Column("status", sa.String(20), server_default="new"),
        ]
        if kind == "missing_column":
            columns.append(sa.Column("added", sa.String(50)))
        if not models and _drift_kind(i, True) == "extra_column":
            columns.append(sa.Column("legacy", sa.Integer))
        if models or _drift_kind(i, True) != "missing_foreign_key":
            columns.append(sa.ForeignKeyConstraint(["parent_id"], [f"{parent}.id"]))
        columns.append(sa.UniqueConstraint("code", name=f"uq_{name}_code"))
        if kind == "missing_unique":
            columns.append(sa.UniqueConstraint("name", "day", name=f"uq_{name}_name_day"))
        columns.append(sa.Index(f"ix_{name}_name", "name"))
        columns.append(sa.Index(f"ix_{name}_parent_id", "parent_id"))
        if i % 2 == 0:
            columns.append(sa.Index(f"ix_{name}_active_created", "active", "created_at"))
        if kind == "missing_index":
            columns.append(sa.Index(f"ix_{name}_status", "status"))
        sa.Table(name, md, *columns)
    return md


def database_metadata(n: int) -> sa.MetaData:
    return build_metadata(n, models=False)


def model_metadata(n: int) -> sa.MetaData:
    return build_metadata(n, models=True)


@contextmanager
def bench_database(kind: str) -> Iterator[str]:
    """An empty database of ``kind`` for one bench run; dropped afterwards."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="sgbench-") as tmp:
            yield f"sqlite:///{os.path.join(tmp, 'bench.db')}"
        return
    if kind not in ("postgresql", "mysql"):
        raise ValueError(f"unknown database kind {kind!r}")
    name = "sgbench_" + uuid.uuid4().hex[:10]
    admin_url = POSTGRES_URL if kind == "postgresql" else MYSQL_URL
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE {name}")
        yield sa.make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            if kind == "postgresql":
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            else:
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
        admin.dispose()


def create_schema(engine: sa.Engine, n: int) -> None:
    """Create the database side of the synthetic schema (in batches, FK order)."""
    md = database_metadata(n)
    md.create_all(engine)
