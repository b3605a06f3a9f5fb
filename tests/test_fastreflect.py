"""The bulk catalog readers return exactly what the inspector path returns, on real databases.

``reflect_with_inspector`` (SQLAlchemy's ``Inspector.get_multi_*``) is the reference; each
dialect's catalog reader must produce identical shapes (type text, nullability, defaults,
primary keys, indexes, unique constraints, foreign keys, their names and order), and so the
same drift report for the same models.
"""

from __future__ import annotations

import enum
import uuid

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flask_schemaguard.dialects import impl_for, mysql_catalog, postgresql_catalog, sqlite_catalog
from flask_schemaguard.dialects.inspector import reflect_with_inspector
from flask_schemaguard.dialects.mysql_catalog import read_mysql
from flask_schemaguard.dialects.postgresql_catalog import read_postgresql
from flask_schemaguard.dialects.sqlite_catalog import read_sqlite
from flask_schemaguard.engine.compare import diff
from flask_schemaguard.engine.model_shapes import model_shape
from flask_schemaguard.shape import SchemaShape


class Mood(enum.Enum):
    happy = "happy"
    sad = "sad"


def varied_metadata(kind: str) -> sa.MetaData:
    """Common column types, defaults, nullability, composite keys, indexes and foreign keys."""
    md = sa.MetaData()
    sa.Table(
        "parent",
        md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("code", sa.String(20), nullable=False, unique=True),
        sa.Column("region", sa.String(10), nullable=False),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("parent_id", sa.Integer, sa.ForeignKey("parent.id")),  # self-referencing
        sa.UniqueConstraint("region", "number", name="uq_parent_region_number"),
    )
    sa.Table(
        "everything",
        md,
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("small", sa.SmallInteger, server_default=sa.text("3")),
        sa.Column("big", sa.BigInteger, nullable=False),
        sa.Column("name", sa.String(100), nullable=False, server_default="anon"),
        sa.Column("title", sa.Unicode(200)),
        sa.Column("body", sa.Text),
        sa.Column("flag", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("maybe", sa.Boolean),
        sa.Column("born", sa.Date),
        sa.Column("seen", sa.DateTime, server_default=sa.func.current_timestamp()),
        sa.Column("seen_tz", sa.DateTime(timezone=True)),
        sa.Column("at", sa.Time),
        sa.Column("price", sa.Numeric(10, 2), server_default=sa.text("1.50")),
        sa.Column("ratio", sa.Float),
        sa.Column("double", sa.Double),
        sa.Column("blob", sa.LargeBinary),
        sa.Column("doc", sa.JSON),
        sa.Column("mood", sa.Enum(Mood, name="mood")),
        sa.Column("token", sa.Uuid),
        sa.Column("code", sa.String(20)),
        sa.Column("region", sa.String(10)),
        sa.Column("number", sa.Integer),
        sa.Column("parent_code", sa.String(20), sa.ForeignKey("parent.code")),
        sa.ForeignKeyConstraint(
            ["region", "number"],
            ["parent.region", "parent.number"],
            name="fk_everything_parent_region_number",
        ),
        sa.Index("ix_everything_name", "name"),
        sa.Index("ix_everything_seen_name", "seen", "name"),
        sa.Index("uix_everything_big", "big", unique=True),
        sa.UniqueConstraint("code", "region", name="uq_everything_code_region"),
    )
    sa.Table(
        "pair",
        md,
        sa.Column("left_id", sa.Integer, primary_key=True),
        sa.Column("right_id", sa.Integer, primary_key=True),
        sa.Column("label", sa.String(30), nullable=True),
        sa.Column("weight", sa.Integer, nullable=False, server_default="0"),
        sa.Column("everything_id", sa.BigInteger, sa.ForeignKey("everything.id")),
        sa.UniqueConstraint("label"),  # unnamed
        sa.Index("ix_pair_right_left", "right_id", "left_id"),
    )
    sa.Table(
        "child_of_pair",
        md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("a", sa.Integer, nullable=False),
        sa.Column("b", sa.Integer, nullable=False),
        sa.ForeignKeyConstraint(["a", "b"], ["pair.left_id", "pair.right_id"]),  # composite
    )
    sa.Table("bare", md, sa.Column("x", sa.Integer), sa.Column("y", sa.String(5)))  # no PK
    return md


def dialect_extras(conn: Connection, kind: str) -> None:
    """Things only one database has, created with plain DDL."""
    if kind == "sqlite":
        conn.exec_driver_sql(
            "CREATE TABLE inline_uq (id INTEGER PRIMARY KEY, code TEXT UNIQUE, "
            'other VARCHAR(10) CONSTRAINT "Named Uq" UNIQUE, '
            "ref_id INTEGER REFERENCES parent, "  # no column: the referred primary key
            "gen INTEGER GENERATED ALWAYS AS (id + 1) VIRTUAL, "
            "weird MEDIUMINT, untyped, dbl DOUBLE, money DECIMAL(8, 3), "
            "txt NVARCHAR(7) NOT NULL DEFAULT 'x')"
        )
        conn.exec_driver_sql(
            "CREATE TABLE composite_pk (a VARCHAR(5), b INTEGER, c TEXT, PRIMARY KEY (b, a), "
            "CONSTRAINT fk_named FOREIGN KEY (b) REFERENCES parent (id))"
        )
        conn.exec_driver_sql("CREATE UNIQUE INDEX uix_composite_c ON composite_pk (c)")
    elif kind == "postgresql":
        conn.exec_driver_sql("CREATE SCHEMA other")
        conn.exec_driver_sql(
            "CREATE DOMAIN positive AS integer NOT NULL DEFAULT 1 CHECK (VALUE > 0)"
        )
        conn.exec_driver_sql(
            "CREATE TABLE pg_only (id serial PRIMARY KEY, tags text[], dur interval, "
            "ident integer GENERATED BY DEFAULT AS IDENTITY, "
            "gen integer GENERATED ALWAYS AS (id * 2) STORED, pos positive, "
            'name varchar(20) COLLATE "C", j jsonb, n numeric, ts timestamp(3), '
            "inet_addr inet, parent_id integer REFERENCES parent (id), "
            "CONSTRAINT uq_pg_only_name UNIQUE (name) INCLUDE (n))"
        )
        conn.exec_driver_sql("CREATE INDEX ix_pg_only_lower ON pg_only (lower(name), id)")
        conn.exec_driver_sql("CREATE INDEX ix_pg_only_partial ON pg_only (n) WHERE n > 0")
        conn.exec_driver_sql("CREATE INDEX ix_pg_only_cover ON pg_only (ts DESC) INCLUDE (n)")
        conn.exec_driver_sql(
            "CREATE TABLE other.remote (id serial PRIMARY KEY, "
            "parent_id integer REFERENCES public.parent (id), label varchar(5) UNIQUE)"
        )
        conn.exec_driver_sql(
            "CREATE TABLE remote_ref (id integer PRIMARY KEY, "
            "remote_id integer REFERENCES other.remote (id))"
        )
    else:
        conn.exec_driver_sql(
            "CREATE TABLE my_only (id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY, "
            "a VARCHAR(20) COLLATE utf8mb4_bin, b VARCHAR(20) CHARACTER SET latin1, "
            "e ENUM('x','y''z') DEFAULT 'x', s SET('a','b'), t TIMESTAMP NULL DEFAULT NULL, "
            "t2 TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP, "
            "d DATETIME(6) DEFAULT '2020-01-01 00:00:00.000000', f FLOAT DEFAULT 0, "
            "u INT(10) UNSIGNED ZEROFILL, bo TINYINT(1) DEFAULT 1, "
            "g INT AS (f + 1) VIRTUAL, g2 INT GENERATED ALWAYS AS (bo * 2) STORED, "
            "ex INT DEFAULT (1 + 1), q VARCHAR(10) DEFAULT 'it''s, ok', "
            "mt MEDIUMTEXT, yr YEAR, bits BIT(3), c3 CHAR(3) NOT NULL DEFAULT '', "
            "cm INT COMMENT 'a, comment', parent_id INT, "
            "KEY ix_prefix (a(5), b), FULLTEXT KEY ft_mt (mt), UNIQUE KEY uq_q (q), "
            "CONSTRAINT fk_my_parent FOREIGN KEY (parent_id) REFERENCES parent (id) "
            "ON DELETE CASCADE) COLLATE utf8mb4_unicode_ci"
        )
        conn.exec_driver_sql("CREATE VIEW my_view AS SELECT id, a FROM my_only")


def build(engine: sa.Engine, kind: str) -> sa.MetaData:
    md = varied_metadata(kind)
    md.create_all(engine)
    with engine.begin() as conn:
        dialect_extras(conn, kind)
    return md


def both(
    engine: sa.Engine, schemas: tuple[str | None, ...] = (None,), *, bulk: bool = True
) -> tuple[SchemaShape, ...]:
    """Inspector shape, fast reader shape, ``reflect()`` shape; ``bulk``: the fast reader
    ran its handful of statements (did not fall back to per-table reflection)."""
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    with engine.connect() as conn:
        impl = impl_for(conn)
        missing = missing_internals(conn)
        slow = inspector_shape(conn, schemas)
        sa.event.listen(engine, "before_cursor_execute", count)
        try:
            fast = fast_reader(conn, schemas)
        finally:
            sa.event.remove(engine, "before_cursor_execute", count)
        via_reflect = impl.reflect(conn, schemas)
        # the full check's reader: the same shape, and the fingerprint's own value
        shape, fp = impl.reflect_and_fingerprint(conn, schemas)
        assert fp == impl_for(conn).fingerprint(conn, schemas)
        assert shape == via_reflect
    if bulk and not missing:
        # per schema: tables, columns, keys, indexes, enums; plus foreign keys into other
        # schemas, the schemas' existence, sequences (PostgreSQL), and the default's enums
        assert len(statements) <= 5 * len(schemas) + 6, statements
    return slow, fast, via_reflect


def inspector_shape(conn: Connection, schemas: tuple[str | None, ...]) -> SchemaShape:
    sensitive = impl_for(conn).table_names_case_sensitive(conn)
    return reflect_with_inspector(conn, schemas, case_sensitive_tables=sensitive)


def missing_internals(conn: Connection) -> str:
    """What this SQLAlchemy version lacks for the dialect's reader ('' when nothing)."""
    name = conn.dialect.name
    if name == "sqlite":
        resolve = getattr(conn.dialect, "_resolve_type_affinity", None)
        return sqlite_catalog.unavailable_internals(resolve)
    if name == "postgresql":
        return postgresql_catalog.unavailable_internals(conn.dialect)
    return mysql_catalog.usable(conn.dialect) if mysql_catalog.ReflectedState is None else ""


def fast_reader(conn: Connection, schemas: tuple[str | None, ...]) -> SchemaShape:
    """The dialect's own catalog reader: it must not step aside, unless this SQLAlchemy lacks
    an internal it needs; then the inspector answers (and must answer the same)."""
    name = conn.dialect.name
    if name == "mysql":
        read = read_mysql(conn, schemas, impl_for(conn).table_names_case_sensitive(conn))
        shape = read[0] if read is not None else None
    else:
        shape = (read_sqlite if name == "sqlite" else read_postgresql)(conn, schemas)
    if shape is None and missing_internals(conn):
        return inspector_shape(conn, schemas)
    assert shape is not None, f"the {name} catalog reader stepped aside"
    return shape


def assert_same(slow: SchemaShape, fast: SchemaShape) -> None:
    assert set(fast.tables) == set(slow.tables)
    for key, table in slow.tables.items():
        assert fast.tables[key] == table, key
    assert fast == slow


def test_every_tested_dialect_has_its_own_class() -> None:
    for name in ("sqlite", "postgresql", "mysql"):
        impl = impl_for(name)
        assert impl.name == name and impl.tested
    assert impl_for("oracle").name == "default" and not impl_for("oracle").tested


def test_fast_reader_matches_inspector(engine: sa.Engine, db_kind: str) -> None:
    md = build(engine, db_kind)
    schemas: tuple[str | None, ...] = (None, "other") if db_kind == "postgresql" else (None,)
    slow, fast, via_reflect = both(engine, schemas)
    assert len(slow.tables) >= 6
    assert_same(slow, fast)
    assert via_reflect == slow
    # and so the same drift, for the declared models and for models that differ
    model = model_shape(md.tables.values(), engine.dialect)
    assert diff(model, fast) == diff(model, slow)
    assert any(i.kind.value == "extra_table" for i in diff(model, fast))


def test_fast_reader_matches_after_changes(engine: sa.Engine, db_kind: str) -> None:
    """Dropped columns/indexes and added ones (PostgreSQL dropped-column holes, MySQL ALTERs)."""
    build(engine, db_kind)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE INDEX ix_bare_y ON bare (y)")
        conn.exec_driver_sql("ALTER TABLE bare ADD COLUMN z VARCHAR(3) DEFAULT 'q'")
        conn.exec_driver_sql(
            "DROP INDEX ix_everything_name" + (" ON everything" if db_kind == "mysql" else "")
        )
        if db_kind != "sqlite":
            conn.exec_driver_sql("ALTER TABLE bare DROP COLUMN x")
    slow, fast, _ = both(engine)
    assert_same(slow, fast)


def test_empty_database(engine: sa.Engine) -> None:
    slow, fast, _ = both(engine)
    assert slow.tables == {}
    assert_same(slow, fast)


def test_bench_schema_matches(engine: sa.Engine) -> None:
    """The synthetic bench schema (drift in 5% of tables) at a small size."""
    from bench.schema import create_schema, model_metadata

    create_schema(engine, 60)
    slow, fast, _ = both(engine)
    assert_same(slow, fast)
    model = model_shape(model_metadata(60).tables.values(), engine.dialect)
    items = diff(model, fast)
    assert items == diff(model, slow)
    assert {i.kind.value for i in items} >= {"missing_table", "missing_column", "missing_index"}


def test_mariadb_separator_in_a_value_falls_back(engine: sa.Engine, db_kind: str) -> None:
    """A catalog value holding the reader's separators cannot be split: the inspector answers."""
    if db_kind != "mysql":
        pytest.skip("the MariaDB reader packs rows with separators")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE sep (id INT PRIMARY KEY, v VARCHAR(9) DEFAULT 'a\x1eb')")
    with engine.connect() as conn:
        assert read_mysql(conn, (None,), True) is None  # the reader steps aside
        slow = inspector_shape(conn, (None,))
        via_reflect = impl_for(conn).reflect(conn, (None,))
    assert_same(slow, via_reflect)
    assert via_reflect.tables[(None, "sep")].columns[1].default == "'a\x1eb'"


def test_names_needing_quotes(engine: sa.Engine, db_kind: str) -> None:
    md = sa.MetaData()
    sa.Table(
        "Mixed Case",
        md,
        sa.Column("Id", sa.Integer, primary_key=True),
        sa.Column("select", sa.String(10), unique=True),
        sa.Column("we'ird", sa.Integer, index=True),
    )
    sa.Table(
        "ref " + uuid.uuid4().hex[:4],
        md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("mixed_id", sa.Integer, sa.ForeignKey("Mixed Case.Id")),
    )
    md.create_all(engine)
    slow, fast, _ = both(engine)
    assert_same(slow, fast)
