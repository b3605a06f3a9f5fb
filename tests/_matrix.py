"""The (model, database) matrix: what a Flask app commonly declares, one row each.

A row builds its models on a ``MetaData`` (``build(md, planted=False, env)``) and, with
``planted=True``, the database that lacks or differs in exactly that one thing (or a
statement run after ``create_all()``, ``after``). ``expect`` says which drift kinds the guard
must report on the planted database, per database: an empty set where that database cannot
tell the difference (``why`` says so). ``alembic`` names the documented reason (see
docs/reliability.md) where Alembic's ``compare_metadata`` reports something else.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql
from sqlalchemy.engine import Connection

ALL = ("sqlite", "postgresql", "mysql")
PG = ("postgresql",)
MY = ("mysql",)
SERVERS = ("postgresql", "mysql")

Build = Callable[[sa.MetaData, bool, SimpleNamespace], None]


@dataclass(frozen=True)
class Row:
    id: str
    build: Build
    #: Kinds the planted database must show, per database ("*": every other one).
    expect: dict[str, frozenset[str]]
    dbs: tuple[str, ...] = ALL
    #: Statements run on the planted database after create_all() of the models.
    after: Callable[[Connection, SimpleNamespace], None] | None = None
    #: Where a planted difference cannot be seen: why (closing note, docs).
    why: dict[str, str] = field(default_factory=dict)
    #: Documented reasons Alembic disagrees, per database ("*": every one).
    alembic: dict[str, str] = field(default_factory=dict)
    #: Expected healability of the planted items (None: not asserted).
    healable: bool | None = None
    #: The models use the extra schema ``env.schema``; ``planted_schema``: the planted
    #: database has it too.
    schema: bool = False
    planted_schema: bool = True

    def expected(self, db: str) -> frozenset[str]:
        return self.expect.get(db, self.expect.get("*", frozenset()))

    def alembic_reason(self, db: str) -> str | None:
        return self.alembic.get(db, self.alembic.get("*"))


def kinds(*names: str) -> frozenset[str]:
    return frozenset(names)


def table(md: sa.MetaData, *items: Any, name: str = "t", **kw: Any) -> sa.Table:
    return sa.Table(name, md, sa.Column("id", sa.Integer, primary_key=True), *items, **kw)


def column_row(
    id: str,
    model: Any,
    planted: Any,
    expect: dict[str, frozenset[str]],
    dbs: tuple[str, ...] = ALL,
    **kw: Any,
) -> Row:
    """A column of type ``model``; the planted database has it as ``planted``."""

    def build(md: sa.MetaData, is_planted: bool, env: SimpleNamespace) -> None:
        type_ = planted if is_planted else model
        table(md, sa.Column("c", type_() if callable(type_) else type_))

    return Row(id, build, expect, dbs, **kw)


TYPE = kinds("type_mismatch")
ENUM = kinds("enum_mismatch")
NONE: frozenset[str] = frozenset()
AFFINITY = "SQLite compares type affinity only: lengths, precision, sizes are not enforced"


def _types() -> list[Row]:
    sqlite_none = {"sqlite": NONE, "*": TYPE}
    affinity = {"sqlite": AFFINITY}
    alembic_affinity = {"sqlite": "A1"}
    return [
        column_row(
            "integer",
            sa.Integer,
            sa.BigInteger,
            sqlite_none,
            why=affinity,
            alembic=alembic_affinity,
        ),
        column_row(
            "biginteger",
            sa.BigInteger,
            sa.Integer,
            sqlite_none,
            why=affinity,
            alembic=alembic_affinity,
        ),
        column_row(
            "smallinteger",
            sa.SmallInteger,
            sa.Integer,
            sqlite_none,
            why=affinity,
            alembic=alembic_affinity,
        ),
        column_row(
            "string",
            sa.String(40),
            sa.String(80),
            sqlite_none,
            why=affinity,
            alembic=alembic_affinity,
        ),
        column_row(
            "text", sa.Text, sa.String(40), sqlite_none, why=affinity, alembic=alembic_affinity
        ),
        column_row(
            "unicode",
            sa.Unicode(30),
            sa.Unicode(60),
            sqlite_none,
            why=affinity,
            alembic=alembic_affinity,
        ),
        column_row("unicodetext", sa.UnicodeText, sa.Integer, {"*": TYPE}),
        column_row("boolean", sa.Boolean, sa.Integer, {"*": TYPE}),
        column_row("date", sa.Date, sa.DateTime, {"*": TYPE}),
        column_row(
            "datetime",
            sa.DateTime,
            sa.DateTime(timezone=True),
            {"postgresql": TYPE},
            why={
                "sqlite": AFFINITY,
                "mysql": "MySQL has no time-zone-aware DATETIME: both are DATETIME",
            },
        ),
        column_row(
            "datetime_tz",
            sa.DateTime(timezone=True),
            sa.DateTime,
            {"postgresql": TYPE},
            why={
                "sqlite": AFFINITY,
                "mysql": "MySQL has no time-zone-aware DATETIME: both are DATETIME",
            },
        ),
        column_row("time_tz", sa.Time(timezone=True), sa.Time, {"postgresql": TYPE}, dbs=PG),
        column_row("interval", sa.Interval, sa.Integer, {"*": TYPE}),
        column_row(
            "numeric",
            sa.Numeric(10, 2),
            sa.Numeric(12, 4),
            sqlite_none,
            why=affinity,
            alembic=alembic_affinity,
        ),
        column_row(
            "float",
            sa.Float,
            sa.Float(24),
            {"postgresql": TYPE},
            dbs=("sqlite", "postgresql"),
            why=affinity,
            alembic=alembic_affinity,
        ),
        column_row("float_mysql", sa.Float, sa.Double, {"mysql": TYPE}, dbs=MY),
        column_row(
            "double",
            sa.Double,
            sa.Numeric(10, 2),
            {"sqlite": NONE, "*": TYPE},
            why=affinity,
            alembic=alembic_affinity,
        ),
        column_row("largebinary", sa.LargeBinary, sa.Text, {"*": TYPE}),
        column_row("json", sa.JSON, sa.Text, {"*": TYPE}),
        column_row(
            "uuid",
            sa.Uuid,
            sa.String(36),
            {"sqlite": NONE, "*": TYPE},
            why={"sqlite": "Uuid is CHAR(32) on SQLite, TEXT affinity like VARCHAR(36)"},
            alembic=alembic_affinity,
        ),
        column_row(
            "enum",
            sa.Enum("a", "bb", "ccc", name="matrix_mood"),
            sa.Enum("a", "bb", name="matrix_mood"),
            {"sqlite": NONE, "*": ENUM},
            why={"sqlite": "no native enum: a VARCHAR whose length SQLite does not enforce"},
            alembic={"postgresql": "A2", "mysql": "A3", "sqlite": "A1"},
        ),
        column_row(
            "enum_non_native",
            sa.Enum("a", "bb", "ccc", name="matrix_mood2", native_enum=False),
            sa.Enum("a", "bb", name="matrix_mood2", native_enum=False),
            sqlite_none,
            why=affinity,
            alembic=alembic_affinity,
        ),
        column_row("pickle", sa.PickleType, sa.Text, {"*": TYPE}),
        column_row("jsonb", postgresql.JSONB, sa.JSON, {"postgresql": TYPE}, dbs=PG),
        column_row(
            "array",
            postgresql.ARRAY(sa.Integer),
            postgresql.ARRAY(sa.Text),
            {"postgresql": TYPE},
            dbs=PG,
        ),
        column_row("inet", postgresql.INET, sa.String(45), {"postgresql": TYPE}, dbs=PG),
        column_row("pg_uuid", postgresql.UUID, sa.Text, {"postgresql": TYPE}, dbs=PG),
        column_row("tinyint", mysql.TINYINT, sa.SmallInteger, {"mysql": TYPE}, dbs=MY),
        column_row("mediumtext", mysql.MEDIUMTEXT, sa.Text, {"mysql": TYPE}, dbs=MY),
        column_row(
            "set",
            mysql.SET("x", "y"),
            mysql.SET("x"),
            {"mysql": ENUM},
            dbs=MY,
            alembic={"mysql": "A3"},
        ),
        column_row(
            "unsigned",
            mysql.INTEGER(unsigned=True),
            sa.Integer,
            {"mysql": TYPE},
            dbs=MY,
            alembic={"mysql": "A4"},
        ),
        column_row(
            "mariadb_boolean",
            sa.Boolean,
            mysql.INTEGER,
            {"mysql": TYPE},
            dbs=MY,
        ),
    ]


def _options() -> list[Row]:
    def nullable(md: sa.MetaData, planted: bool, env: SimpleNamespace) -> None:
        table(md, sa.Column("c", sa.String(20), nullable=not planted))

    def server_default(md: sa.MetaData, planted: bool, env: SimpleNamespace) -> None:
        table(md, sa.Column("c", sa.String(20), server_default=None if planted else "x"))

    def missing_column(md: sa.MetaData, planted: bool, env: SimpleNamespace) -> None:
        table(md, *([] if planted else [sa.Column("c", sa.String(20))]))

    def computed(persisted: bool) -> Build:
        def build(md: sa.MetaData, planted: bool, env: SimpleNamespace) -> None:
            extra = (
                []
                if planted
                else [sa.Column("d", sa.Integer, sa.Computed("c * 2", persisted=persisted))]
            )
            table(md, sa.Column("c", sa.Integer), *extra)

        return build

    def check(md: sa.MetaData, planted: bool, env: SimpleNamespace) -> None:
        extra = [] if planted else [sa.CheckConstraint("c > 0", name="ck_t_c_positive")]
        table(md, sa.Column("c", sa.Integer), *extra)

    def identity(md: sa.MetaData, planted: bool, env: SimpleNamespace) -> None:
        args = [] if planted else [sa.Identity()]
        sa.Table("t", md, sa.Column("id", sa.Integer, *args, primary_key=True))

    def primary_key(md: sa.MetaData, planted: bool, env: SimpleNamespace) -> None:
        sa.Table("t", md, sa.Column("id", sa.Integer, primary_key=not planted, nullable=False))

    def long_column(md: sa.MetaData, planted: bool, env: SimpleNamespace) -> None:
        name = "a_column_name_that_is_much_longer_than_postgresql_keeps_for_identifiers_x"
        table(md, sa.Column("c", sa.Integer), *([] if planted else [sa.Column(name, sa.Integer)]))

    return [
        Row("nullable", nullable, {"*": kinds("nullable_mismatch")}),
        Row(
            "server_default",
            server_default,
            {"*": NONE},
            why={"*": "server defaults are not compared (their SQL text differs per database)"},
        ),
        Row("missing_column", missing_column, {"*": kinds("missing_column")}, healable=True),
        Row(
            "computed_virtual",
            computed(False),
            {"*": kinds("missing_column")},
            dbs=("sqlite", "mysql"),
        ),
        Row(
            "computed_stored",
            computed(True),
            {"*": kinds("missing_column")},
            dbs=("sqlite",),
            healable=False,  # SQLite cannot add a STORED column
        ),
        Row("computed_stored_server", computed(True), {"*": kinds("missing_column")}, dbs=SERVERS),
        Row(
            "check_constraint",
            check,
            {"*": NONE},
            why={"*": "CHECK constraints are not compared (their SQL is normalised per database)"},
        ),
        Row(
            "identity",
            identity,
            {"*": NONE},
            dbs=PG,
            why={
                "postgresql": "IDENTITY vs SERIAL is not compared: both give the column its values"
            },
        ),
        Row(
            "primary_key",
            primary_key,
            {"*": kinds("primary_key_mismatch")},
            alembic={"*": "A5"},
        ),
        Row(
            "long_column_name",
            long_column,
            {"*": kinds("missing_column")},
            dbs=("sqlite", "postgresql"),
            alembic={"postgresql": "A9"},
        ),
    ]


def _indexes() -> list[Row]:
    def with_index(
        *make: Callable[[sa.Table], Any], columns: Callable[[], list[Any]] | None = None
    ) -> Build:
        def build(md: sa.MetaData, planted: bool, env: SimpleNamespace) -> None:
            cols = (columns or _abc)()
            t = table(md, *cols)
            if not planted:
                for m in make:
                    m(t)

        return build

    def column_flag(**flags: Any) -> Build:
        def build(md: sa.MetaData, planted: bool, env: SimpleNamespace) -> None:
            table(md, sa.Column("a", sa.String(40), **({} if planted else flags)))

        return build

    def unique_constraint(name: str | None, *cols: str) -> Build:
        def build(md: sa.MetaData, planted: bool, env: SimpleNamespace) -> None:
            extra = [] if planted else [sa.UniqueConstraint(*cols, name=name)]
            table(md, sa.Column("a", sa.String(40)), sa.Column("b", sa.Integer), *extra)

        return build

    def convention(md: sa.MetaData, planted: bool, env: SimpleNamespace) -> None:
        md.naming_convention = {
            "ix": "ix_%(table_name)s_%(column_0_N_name)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        }
        long = "a_rather_long_column_name_that_goes_on"
        cols = [sa.Column(f"{long}_{i}", sa.Integer) for i in (1, 2)]
        extra = [] if planted else [sa.UniqueConstraint(*(c.name for c in cols))]
        t = sa.Table(
            "measurements", md, sa.Column("id", sa.Integer, primary_key=True), *cols, *extra
        )
        if not planted:
            sa.Index(None, t.c[f"{long}_1"], t.c[f"{long}_2"])

    def ddl_if(t: sa.Table) -> Any:
        return sa.Index("ix_t_b_pg_only", t.c.b).ddl_if(dialect="postgresql")

    missing_index = {"*": kinds("missing_index")}
    missing_uq = {"*": kinds("missing_unique_constraint")}
    return [
        Row("index", with_index(lambda t: sa.Index("ix_t_a", t.c.a)), missing_index, healable=True),
        Row(
            "unique_index",
            with_index(lambda t: sa.Index("ux_t_a", t.c.a, unique=True)),
            missing_index,
        ),
        Row(
            "composite_index",
            with_index(lambda t: sa.Index("ix_t_a_b", t.c.a, t.c.b)),
            missing_index,
        ),
        Row("column_index", column_flag(index=True), missing_index),
        Row("column_unique", column_flag(unique=True), missing_uq),
        Row("unique_constraint", unique_constraint("uq_t_a_b", "a", "b"), missing_uq),
        Row("unique_constraint_unnamed", unique_constraint(None, "a", "b"), missing_uq),
        Row(
            "expression_index",
            with_index(lambda t: sa.Index("ix_t_lower_a", sa.func.lower(t.c.a))),
            missing_index,
            dbs=("sqlite", "postgresql"),  # MariaDB has no functional indexes
            alembic={"sqlite": "A10"},
        ),
        Row(
            "partial_index",
            with_index(
                lambda t: sa.Index(
                    "ix_t_a_partial", t.c.a, postgresql_where=t.c.b > 0, sqlite_where=t.c.b > 0
                )
            ),
            missing_index,
            dbs=("sqlite", "postgresql"),
        ),
        Row(
            "ddl_if_index",
            with_index(ddl_if),
            {"postgresql": kinds("missing_index")},
            why={
                "sqlite": "not created there (ddl_if): nothing to miss",
                "mysql": "not created there (ddl_if): nothing to miss",
            },
            alembic={"sqlite": "A6", "mysql": "A6"},
        ),
        Row(
            "gin_index",
            with_index(
                lambda t: sa.Index("ix_t_doc", t.c.doc, postgresql_using="gin"),
                columns=lambda: [sa.Column("doc", postgresql.JSONB)],
            ),
            missing_index,
            dbs=PG,
        ),
        Row(
            "mysql_length_index",
            with_index(lambda t: sa.Index("ix_t_body", t.c.body, mysql_length=20)),
            missing_index,
            dbs=MY,
        ),
        Row("long_names", convention, {"*": kinds("missing_index", "missing_unique_constraint")}),
    ]


def _abc() -> list[Any]:
    return [sa.Column("a", sa.String(40)), sa.Column("b", sa.Integer), sa.Column("body", sa.Text)]


def _keys() -> list[Row]:
    def fk(**options: Any) -> Build:
        def build(md: sa.MetaData, planted: bool, env: SimpleNamespace) -> None:
            table(md, name="p")
            opts = {} if planted else options
            table(md, sa.Column("p_id", sa.Integer, sa.ForeignKey("p.id", **opts)))

        return build

    def no_fk(md: sa.MetaData, planted: bool, env: SimpleNamespace) -> None:
        table(md, name="p")
        table(md, sa.Column("p_id", sa.Integer, *([] if planted else [sa.ForeignKey("p.id")])))

    mismatch = {"*": kinds("foreign_key_mismatch")}
    return [
        Row("fk_ondelete_cascade", fk(ondelete="CASCADE"), mismatch),
        Row("fk_ondelete_set_null", fk(ondelete="SET NULL"), mismatch),
        Row("fk_onupdate_cascade", fk(onupdate="CASCADE"), mismatch),
        Row(
            "fk_deferrable",
            fk(deferrable=True, initially="DEFERRED"),
            mismatch,
            dbs=("sqlite", "postgresql"),  # MySQL has no deferrable constraints
            alembic={"*": "A9"},
        ),
        Row("missing_fk", no_fk, {"*": kinds("missing_foreign_key")}),
    ]


def _objects() -> list[Row]:
    def sequence(md: sa.MetaData, planted: bool, env: SimpleNamespace) -> None:
        sa.Table(
            "ticket",
            md,
            sa.Column("id", sa.Integer, sa.Sequence("ticket_id_seq"), primary_key=True),
        )

    def drop_sequence(conn: Connection, env: SimpleNamespace) -> None:
        conn.exec_driver_sql("DROP SEQUENCE ticket_id_seq")

    def in_schema(lacks_column: bool) -> Build:
        def build(md: sa.MetaData, planted: bool, env: SimpleNamespace) -> None:
            extra = [] if planted and lacks_column else [sa.Column("c", sa.Integer)]
            table(md, *extra, schema=env.schema)

        return build

    def enum_pg(md: sa.MetaData, planted: bool, env: SimpleNamespace) -> None:
        labels = ("new", "open") if planted else ("new", "open", "closed")
        mood = sa.Enum(*labels, name="bill_state")
        table(md, sa.Column("state", mood))
        table(md, sa.Column("state", mood), name="t2")

    return [
        Row(
            "sequence",
            sequence,
            {"*": kinds("missing_sequence")},
            dbs=SERVERS,
            after=drop_sequence,
            alembic={"*": "A7"},
            healable=True,
        ),
        Row(
            "schema_missing",
            in_schema(False),
            {"*": kinds("missing_schema", "missing_table")},
            dbs=SERVERS,
            alembic={"*": "A8"},
            schema=True,
            planted_schema=False,
        ),
        Row(
            "schema_column",
            in_schema(True),
            {"*": kinds("missing_column")},
            dbs=SERVERS,
            schema=True,
        ),
        Row("enum_shared", enum_pg, {"postgresql": ENUM}, dbs=PG, alembic={"postgresql": "A2"}),
    ]


ROWS: list[Row] = [*_types(), *_options(), *_indexes(), *_keys(), *_objects()]
