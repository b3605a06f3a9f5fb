"""The (model, database) matrix: no false drift, and every planted difference reported.

For every row of ``_matrix.ROWS`` on every database it runs on, two assertions:

1. ``create_all()`` of the models, then ``check()``: in sync (no error or warning item);
2. the database that lacks or differs in exactly that one thing: ``check()`` reports exactly
   the row's expected kinds (none where that database cannot tell the difference).

Alembic's ``compare_metadata`` (``compare_type=True``) is the oracle on both databases: it
must agree, or the row names the documented reason (docs/reliability.md, "A1".."A10") it
does not. ``SCHEMAGUARD_MATRIX_TALLY=path`` writes the tally of agreements and reasons.
"""

from __future__ import annotations

import json
import os
import uuid
import warnings
from collections import Counter
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa
from _matrix import ROWS, Row
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from conftest import DATABASES, MYSQL_URL, make_database
from flask import Flask

from flask_schemaguard import SchemaGuard

OWNED = {"schemaguard_events", "schemaguard_state"}
TALLY: Counter[tuple[str, str]] = Counter()


@pytest.fixture(scope="module", params=DATABASES)
def matrix_db(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SimpleNamespace]:
    """One database per kind for the whole matrix; each row resets it first."""
    kind = str(request.param)
    tmp = tmp_path_factory.mktemp(f"matrix_{kind}")
    for url in make_database(kind, tmp):
        schema = "sg_audit_" + uuid.uuid4().hex[:8] if kind == "mysql" else "audit"
        yield SimpleNamespace(kind=kind, url=url, tmp=tmp, schema=schema, count=0)
        if kind == "mysql":
            admin = sa.create_engine(MYSQL_URL)
            with admin.begin() as conn:
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {schema}")
            admin.dispose()


@pytest.fixture(scope="module", autouse=True)
def _write_tally() -> Iterator[None]:
    yield
    path = os.environ.get("SCHEMAGUARD_MATRIX_TALLY")
    if path:
        with open(path, "w") as f:
            json.dump({f"{db}:{what}": n for (db, what), n in sorted(TALLY.items())}, f, indent=1)


def fresh(env: SimpleNamespace, *, with_schema: bool) -> sa.Engine:
    """An engine on the emptied database (and the extra schema when asked)."""
    if env.kind == "sqlite":
        env.count += 1
        return sa.create_engine(f"sqlite:///{env.tmp}/row_{env.count}.db")
    engine = sa.create_engine(env.url)
    with engine.begin() as conn:
        if env.kind == "postgresql":
            conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {env.schema} CASCADE")
            conn.exec_driver_sql("DROP SCHEMA public CASCADE")
            conn.exec_driver_sql("CREATE SCHEMA public")
            if with_schema:
                conn.exec_driver_sql(f"CREATE SCHEMA {env.schema}")
        else:
            conn.exec_driver_sql("SET FOREIGN_KEY_CHECKS = 0")
            for name, kind in conn.exec_driver_sql("SHOW FULL TABLES").fetchall():
                what = "SEQUENCE" if kind == "SEQUENCE" else "TABLE"
                conn.exec_driver_sql(f"DROP {what} `{name}`")
            conn.exec_driver_sql("SET FOREIGN_KEY_CHECKS = 1")
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {env.schema}")
            if with_schema:
                conn.exec_driver_sql(f"CREATE DATABASE {env.schema}")
    return engine


def ours(engine: sa.Engine, md: sa.MetaData) -> list[Any]:
    app = Flask(__name__)
    app.config.update(SCHEMAGUARD_RUN_ON="manual", SCHEMAGUARD_MODE="check")
    guard = SchemaGuard(app, metadata=md, engine=engine)
    report = guard.check(app=app)
    return [i for i in report.items if i.severity.value != "info"]


def alembic_kinds(engine: sa.Engine, md: sa.MetaData, with_schemas: bool) -> set[str]:
    """Alembic's findings in our vocabulary; a dropped and re-added FK is a mismatch."""

    def include_name(name: str | None, type_: str, parent: Any) -> bool:
        if type_ == "schema":
            return name in {None, *(t.schema for t in md.tables.values())}
        return not (type_ == "table" and name in OWNED)

    with engine.connect() as conn, warnings.catch_warnings():
        # SQLAlchemy cannot reflect SQLite's expression indexes (Alembic then misses them)
        warnings.filterwarnings("ignore", "Skipped unsupported reflection", sa.exc.SAWarning)
        warnings.filterwarnings("ignore", "autogenerate skipping metadata-specified expression")
        context = MigrationContext.configure(
            conn,
            opts={
                "include_name": include_name,
                "compare_type": True,
                "include_schemas": with_schemas,
            },
        )
        raw = compare_metadata(context, md)
    found: list[str] = []
    for entry in raw:
        for diff in entry if isinstance(entry, list) else [entry]:
            found.append(_alembic_kind(diff))
    out = {k for k in found if not k.startswith("extra_")}
    if "missing_foreign_key" in out and "extra_foreign_key" in found:
        out.discard("missing_foreign_key")
        out.add("foreign_key_mismatch")
    return out


def _alembic_kind(diff: tuple[Any, ...]) -> str:
    op = diff[0]
    simple = {
        "add_table": "missing_table",
        "remove_table": "extra_table",
        "add_column": "missing_column",
        "remove_column": "extra_column",
        "add_index": "missing_index",
        "remove_index": "extra_index",
        "add_fk": "missing_foreign_key",
        "remove_fk": "extra_foreign_key",
        "modify_nullable": "nullable_mismatch",
        "modify_type": "type_mismatch",
        "modify_default": "default_mismatch",
    }
    if op in simple:
        return simple[op]
    if op in ("add_constraint", "remove_constraint") and isinstance(diff[1], sa.UniqueConstraint):
        return "missing_unique_constraint" if op == "add_constraint" else "extra_unique_constraint"
    return f"alembic:{op}"


def build(row: Row, env: SimpleNamespace, *, planted: bool) -> sa.MetaData:
    md = sa.MetaData()
    row.build(md, planted and row.after is None, env)
    return md


@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
def test_matrix(matrix_db: SimpleNamespace, row: Row) -> None:
    env = matrix_db
    if env.kind not in row.dbs:
        pytest.skip(f"{row.id}: not declared on {env.kind}")
    models = build(row, env, planted=False)

    # 1. the database create_all() made: in sync
    engine = fresh(env, with_schema=row.schema)
    try:
        models.create_all(engine)
        sync = ours(engine, models)
        assert sync == [], [i.to_dict() for i in sync]
        alembic_sync = alembic_kinds(engine, models, row.schema)
    finally:
        engine.dispose()

    # 2. the database that lacks or differs in exactly that one thing
    engine = fresh(env, with_schema=row.schema and row.planted_schema)
    try:
        if row.schema and not row.planted_schema:
            pass  # nothing can be created in a schema that does not exist
        else:
            build(row, env, planted=True).create_all(engine)
        if row.after is not None:
            with engine.begin() as conn:
                row.after(conn, env)
        planted = ours(engine, models)
        expected = row.expected(env.kind)
        assert {i.kind.value for i in planted} == set(expected), [i.to_dict() for i in planted]
        if row.healable is not None:
            assert all(i.healable is row.healable for i in planted), [i.to_dict() for i in planted]
        alembic_planted = alembic_kinds(engine, models, row.schema)
    finally:
        engine.dispose()

    agree = not alembic_sync and alembic_planted == set(expected)
    reason = row.alembic_reason(env.kind)
    if agree:
        TALLY[(env.kind, "agree")] += 1
    else:
        assert reason is not None, (
            f"Alembic disagrees on {row.id}/{env.kind} and no documented reason says why: "
            f"in sync {sorted(alembic_sync)}, planted {sorted(alembic_planted)}, "
            f"ours {sorted(expected)}"
        )
        TALLY[(env.kind, reason)] += 1
    TALLY[(env.kind, "rows")] += 1
    if not expected:
        TALLY[(env.kind, "undetectable")] += 1
