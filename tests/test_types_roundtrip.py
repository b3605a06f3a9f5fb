"""No false drift: what ``create_all()`` made, or what a database reports for an equivalent
declaration, checks in sync; real type changes are still found.

- ``test_create_all_of_every_common_type_is_in_sync``: one model with every common column type
  (with server defaults, NOT NULL variants, indexes, a unique constraint, foreign keys and
  mixed-case names), created by ``metadata.create_all()`` and checked on each database.
- ``test_declared_types_against_model_types``: per database, a table made with hand-written DDL
  next to a model of the same columns: pairs that must not be drift and pairs that must.
- ``test_names_fold_like_the_database``: identifiers in another case than the models.
"""

from __future__ import annotations

import enum
from typing import Any

import sqlalchemy as sa
from models_incidents import flask_app, kinds
from sqlalchemy import orm

from flask_schemaguard import DriftKind, SchemaGuard


class Color(enum.Enum):
    red = "red"
    green = "green"


def every_type(md: sa.MetaData, dialect: str) -> sa.Table:
    """A table with a column of every common type, nullable and NOT NULL, with defaults."""
    unbounded = [] if dialect == "mysql" else [sa.Column("s_unbounded", sa.String)]
    sa.Table(
        "parents",
        md,
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
        sa.Column("code", sa.String(20), nullable=False, unique=True),
    )
    return sa.Table(
        "every_type",
        md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("i", sa.Integer),
        sa.Column("i_req", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("big", sa.BigInteger),
        sa.Column("small", sa.SmallInteger, server_default="7"),
        sa.Column("s50", sa.String(50)),
        sa.Column("s_req", sa.String(20), nullable=False, server_default="new"),
        *unbounded,
        sa.Column("txt", sa.Text),
        sa.Column("txt_req", sa.Text, nullable=False),
        sa.Column("uni", sa.Unicode(40)),
        sa.Column("unitxt", sa.UnicodeText),
        sa.Column("flag", sa.Boolean),
        sa.Column("flag_req", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("d", sa.Date),
        sa.Column("dt", sa.DateTime),
        sa.Column("dt_now", sa.DateTime, nullable=False, server_default=sa.func.now()),
        sa.Column("dt_tz", sa.DateTime(timezone=True)),
        sa.Column("t", sa.Time),
        sa.Column("f", sa.Float),
        sa.Column("dbl", sa.Double),
        sa.Column("num", sa.Numeric),
        sa.Column("money", sa.Numeric(10, 2), nullable=False, server_default="0.00"),
        sa.Column("blob", sa.LargeBinary),
        sa.Column("color_native", sa.Enum("red", "green", name="color_native")),
        sa.Column("color_py", sa.Enum(Color, name="color_py"), server_default="red"),
        sa.Column("color_plain", sa.Enum("red", "green", native_enum=False, length=10)),
        sa.Column("color_checked", sa.Enum(Color, native_enum=False, create_constraint=True)),
        sa.Column("doc", sa.JSON),
        sa.Column("uid", sa.Uuid),
        sa.Column("uid_str", sa.Uuid(as_uuid=False)),
        sa.Column("span", sa.Interval),
        sa.Column("parent_id", sa.ForeignKey("parents.id"), index=True),
        sa.Column("parent_code", sa.String(20), sa.ForeignKey("parents.code")),
        sa.Column("MixedCase", sa.String(10)),
        sa.Column("i_twice", sa.Integer, sa.Computed("i * 2", persisted=True)),
        sa.Index("ix_every_type_s50_d", "s50", "d"),
        sa.Index("ux_every_type_uid", "uid", unique=True),
        sa.UniqueConstraint("big", "small", name="uq_every_type_big_small"),
        sa.CheckConstraint("i >= 0", name="ck_every_type_i"),
    )


def test_create_all_of_every_common_type_is_in_sync(engine: sa.Engine, db_kind: str) -> None:
    md = sa.MetaData()
    table = every_type(md, db_kind)
    sa.Table(
        "ledger_lines",
        md,
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("every_type_id", sa.ForeignKey("every_type.id", ondelete="CASCADE")),
    )
    sa.Table(
        "CamelTable",
        md,
        sa.Column("Id", sa.Integer, primary_key=True),
        sa.Column("DisplayName", sa.String(30), index=True),
    )
    md.create_all(engine)
    with engine.begin() as conn:  # a row, so defaults and types are really exercised
        conn.execute(sa.insert(md.tables["parents"]), {"id": 1, "code": "p1"})
        conn.execute(sa.insert(table), {"txt_req": "x", "parent_id": 1, "color_py": Color.green})
    app = flask_app()
    guard = SchemaGuard(app, metadata=md, engine=engine)
    with app.app_context():
        report = guard.check()
        assert report.items == (), [i.detail for i in report.items]
        assert report.in_sync
        assert guard.plan() == []
        result = guard.heal()
        assert result.applied == () and result.after.in_sync
    with engine.connect() as conn:
        row = conn.execute(sa.select(table)).one()
    assert (row.i_req, row.small, row.s_req, row.flag_req, row.color_py) == (
        0,
        7,
        "new",
        False,
        Color.green,
    )


# (model type, the DDL the database has) per database; ``drift`` marks pairs that must differ.
Pair = tuple[Any, str, bool]

PAIRS: dict[str, list[Pair]] = {
    "sqlite": [
        (sa.String(50), "VARCHAR(50)", False),
        (sa.String(50), "VARCHAR(100)", False),  # SQLite does not enforce lengths
        (sa.String(50), "TEXT", False),
        (sa.String(), "VARCHAR", False),
        (sa.Unicode(20), "NVARCHAR(20)", False),
        (sa.Text(), "TEXT", False),
        (sa.Text(), "CLOB", False),
        (sa.Boolean(), "BOOLEAN", False),
        (sa.Integer(), "INT", False),
        (sa.Integer(), "INTEGER", False),
        (sa.BigInteger(), "BIGINT", False),
        (sa.SmallInteger(), "SMALLINT", False),
        (sa.DateTime(), "DATETIME", False),
        (sa.DateTime(), "TIMESTAMP", False),
        (sa.Date(), "DATE", False),
        (sa.Time(), "TIME", False),
        (sa.Numeric(), "NUMERIC", False),
        (sa.Numeric(), "DECIMAL(10,0)", False),
        (sa.Numeric(10, 2), "NUMERIC(10, 2)", False),
        (sa.Numeric(10, 2), "REAL", False),  # same REAL affinity
        (sa.Float(), "FLOAT", False),
        (sa.Float(), "REAL", False),
        (sa.Double(), "DOUBLE", False),
        (sa.Double(), "DOUBLE PRECISION", False),
        (sa.LargeBinary(), "BLOB", False),
        (sa.JSON(), "JSON", False),
        (sa.Uuid(), "CHAR(32)", False),
        (sa.Enum("a", "bb", name="e1"), "VARCHAR(2)", False),
        (sa.Interval(), "DATETIME", False),
        (sa.Integer(), "", False),  # a column declared without a type
        (sa.Integer(), "VARCHAR(20)", True),
        (sa.Integer(), "TEXT", True),
        (sa.Date(), "INTEGER", True),
        (sa.LargeBinary(), "TEXT", True),
        (sa.Boolean(), "VARCHAR(5)", True),
        (sa.DateTime(), "REAL", True),
    ],
    "postgresql": [
        (sa.String(50), "VARCHAR(50)", False),
        (sa.String(50), "CHARACTER VARYING(50)", False),
        (sa.String(), "VARCHAR", False),
        (sa.String(), "TEXT", False),
        (sa.Unicode(20), "VARCHAR(20)", False),
        (sa.Text(), "TEXT", False),
        (sa.Boolean(), "BOOLEAN", False),
        (sa.Boolean(), "BOOL", False),
        (sa.Integer(), "INT4", False),
        (sa.Integer(), "SERIAL", False),
        (sa.BigInteger(), "BIGSERIAL", False),
        (sa.BigInteger(), "INT8", False),
        (sa.SmallInteger(), "INT2", False),
        (sa.DateTime(), "TIMESTAMP", False),
        (sa.DateTime(), "TIMESTAMP WITHOUT TIME ZONE", False),
        (sa.DateTime(timezone=True), "TIMESTAMPTZ", False),
        (sa.Date(), "DATE", False),
        (sa.Time(), "TIME WITHOUT TIME ZONE", False),
        (sa.Numeric(), "NUMERIC", False),
        (sa.Numeric(), "DECIMAL(10,0)", False),
        (sa.Numeric(10, 2), "NUMERIC(10,2)", False),
        (sa.Float(), "DOUBLE PRECISION", False),
        (sa.Float(), "FLOAT8", False),
        (sa.Float(), "REAL", True),
        (sa.Double(), "DOUBLE PRECISION", False),
        (sa.LargeBinary(), "BYTEA", False),
        (sa.JSON(), "JSON", False),
        (sa.JSON(), "JSONB", True),
        (sa.Uuid(), "UUID", False),
        (sa.Interval(), "INTERVAL", False),
        (sa.Enum("a", "bb", name="pair_enum"), "pair_enum", False),
        (sa.Enum("a", "bb", native_enum=False), "VARCHAR(2)", False),
        (sa.ARRAY(sa.Integer), "INTEGER[]", False),
        (sa.Integer(), "VARCHAR(20)", True),
        (sa.String(50), "VARCHAR(100)", True),
        (sa.Boolean(), "INTEGER", True),
        (sa.Date(), "TIMESTAMP", True),
        (sa.Text(), "BYTEA", True),
        (sa.Uuid(), "VARCHAR(36)", True),
        (sa.JSON(), "TEXT", True),
        (sa.Numeric(10, 2), "INTEGER", True),
        # details PostgreSQL enforces
        (sa.Numeric(10, 2), "NUMERIC(12, 4)", True),
        (sa.BigInteger(), "INTEGER", True),
        (sa.DateTime(timezone=True), "TIMESTAMP WITHOUT TIME ZONE", True),
        (sa.Time(timezone=True), "TIME", True),
        (sa.CHAR(3), "VARCHAR(3)", True),
        (sa.Text(), "VARCHAR(40)", True),
    ],
    "mysql": [
        (sa.String(50), "VARCHAR(50)", False),
        (sa.Unicode(50), "VARCHAR(50) CHARACTER SET utf8mb4", False),
        (sa.Unicode(50), "NATIONAL VARCHAR(50)", False),
        (sa.Text(), "TEXT", False),
        (sa.Text(), "MEDIUMTEXT", True),
        (sa.Text(), "LONGTEXT", True),
        (sa.Boolean(), "TINYINT(1)", False),
        (sa.Boolean(), "BOOL", False),
        (sa.Boolean(), "BOOLEAN", False),
        (sa.Integer(), "INT(11)", False),
        (sa.Integer(), "INT", False),
        (sa.BigInteger(), "BIGINT(20)", False),
        (sa.SmallInteger(), "SMALLINT(6)", False),
        (sa.DateTime(), "DATETIME", False),
        (sa.DateTime(), "TIMESTAMP NULL", True),
        (sa.DateTime(), "DATETIME(6)", False),
        (sa.Date(), "DATE", False),
        (sa.Time(), "TIME", False),
        (sa.Numeric(), "DECIMAL(10,0)", False),
        (sa.Numeric(), "NUMERIC", False),
        (sa.Numeric(10, 2), "DECIMAL(10,2)", False),
        (sa.Float(), "FLOAT", False),
        (sa.Float(), "DOUBLE", True),
        (sa.Double(), "DOUBLE", False),
        (sa.LargeBinary(), "BLOB", False),
        (sa.LargeBinary(), "LONGBLOB", True),
        (sa.JSON(), "JSON", False),
        (sa.Uuid(native_uuid=False), "CHAR(32)", False),
        (sa.Enum("a", "bb"), "ENUM('a','bb')", False),
        (sa.Enum("a", "bb", native_enum=False), "VARCHAR(2)", False),
        (sa.Interval(), "DATETIME", False),
        (sa.Integer(), "VARCHAR(20)", True),
        (sa.String(50), "VARCHAR(100)", True),
        (sa.Date(), "DATETIME", True),
        (sa.Boolean(), "VARCHAR(5)", True),
        (sa.DateTime(), "DATE", True),
        (sa.LargeBinary(), "TEXT", True),
        (sa.Numeric(10, 2), "INT", True),
        # details MySQL / MariaDB enforce
        (sa.Boolean(), "INT", True),
        (sa.JSON(), "TEXT", True),
        (sa.JSON(), "LONGTEXT", True),
        (sa.Numeric(10, 2), "DECIMAL(12,4)", True),
        (sa.BigInteger(), "INT", True),
        (sa.Integer(), "INT UNSIGNED", True),
        (sa.String(40), "TEXT", True),
        (sa.JSON(), "LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin", False),
    ],
}


def test_declared_types_against_model_types(engine: sa.Engine, db_kind: str) -> None:
    pairs = PAIRS[db_kind]
    with engine.begin() as conn:
        if db_kind == "postgresql":
            conn.exec_driver_sql("CREATE TYPE pair_enum AS ENUM ('a', 'bb')")
        columns = ", ".join(f"c{n} {ddl}" for n, (_t, ddl, _d) in enumerate(pairs))
        conn.exec_driver_sql(f"CREATE TABLE pairs (id INTEGER PRIMARY KEY, {columns})")
    md = sa.MetaData()
    sa.Table(
        "pairs",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        *(
            sa.Column(f"c{n}", type_, nullable="SERIAL" not in ddl)
            for n, (type_, ddl, _d) in enumerate(pairs)
        ),
    )
    app = flask_app()
    guard = SchemaGuard(app, metadata=md, engine=engine)
    with app.app_context():
        report = guard.check()
    found = {i.name for i in report.by_kind(DriftKind.TYPE_MISMATCH)}
    expected = {f"c{n}" for n, (_t, _ddl, drift) in enumerate(pairs) if drift}
    describe = {f"c{n}": f"{type_!r} vs {ddl}" for n, (type_, ddl, _d) in enumerate(pairs)}
    assert sorted(describe[c] for c in found - expected) == [], "false drift"
    assert sorted(describe[c] for c in expected - found) == [], "drift not found"
    assert {i.kind for i in report.items} <= {DriftKind.TYPE_MISMATCH}
    for item in report.items:
        assert item.severity.value == "warning" and not item.healable


def test_names_fold_like_the_database(engine: sa.Engine, db_kind: str) -> None:
    """Hand-written DDL in mixed case against lower-case models.

    SQLite and MySQL compare column and index names without case, PostgreSQL folds unquoted
    names to lower case; MySQL on Linux (``lower_case_table_names=0``) keeps table names
    case-sensitive, so a table ``Accounts`` is not the models' ``accounts`` there.
    """
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE Accounts (ID INTEGER PRIMARY KEY, DisplayName VARCHAR(50), "
            "Email VARCHAR(80))"
        )
        conn.exec_driver_sql("CREATE INDEX IX_Accounts_DisplayName ON Accounts (DisplayName)")
        conn.exec_driver_sql("CREATE UNIQUE INDEX UQ_ACCOUNTS_EMAIL ON Accounts (Email)")
        conn.exec_driver_sql("INSERT INTO Accounts (ID, DisplayName, Email) VALUES (1, 'Ana', 'a')")
    md = sa.MetaData()
    accounts = sa.Table(
        "accounts",
        md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("displayname", sa.String(50)),
        sa.Column("email", sa.String(80), unique=True),
        sa.Index("ix_accounts_displayname", "displayname"),
    )
    app = flask_app()
    guard = SchemaGuard(app, metadata=md, engine=engine)
    with app.app_context():
        report = guard.check()
    table_names_case_sensitive = db_kind == "mysql" and _mysql_casing(engine) == 0
    if table_names_case_sensitive:
        assert kinds(report) == {
            ("missing_table", "accounts", None),
            ("extra_table", "Accounts", None),
        }
        return
    assert report.items == (), [i.detail for i in report.items]
    with engine.connect() as conn:  # and the models' names really reach the data
        assert conn.execute(sa.select(accounts.c.displayname)).scalar_one() == "Ana"


def _mysql_casing(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(conn.exec_driver_sql("SELECT @@lower_case_table_names").scalar_one())


def test_mixed_case_models_round_trip_with_the_orm(engine: sa.Engine) -> None:
    class Base(orm.DeclarativeBase):
        pass

    class Widget(Base):
        __tablename__ = "WidgetStore"
        Id = sa.Column(sa.Integer, primary_key=True)
        DisplayName = sa.Column(sa.String(30), nullable=False)
        __table_args__ = (sa.Index("IX_WidgetStore_DisplayName", "DisplayName"),)

    app = flask_app()
    guard = SchemaGuard(app, metadata=Base.metadata, engine=engine)
    with app.app_context():
        assert [i.kind for i in guard.check().items] == [DriftKind.MISSING_TABLE]
        result = guard.heal()
        assert len(result.applied) == 2 and result.after.items == ()
        assert guard.check().in_sync
    with orm.Session(engine) as session:
        session.add(Widget(DisplayName="gear"))
        session.commit()
        assert session.scalars(sa.select(Widget.DisplayName)).all() == ["gear"]


def test_every_common_type_added_to_a_table_with_rows(engine: sa.Engine, db_kind: str) -> None:
    """The same model against a database whose ``every_type`` only has its ``id``."""
    md = sa.MetaData()
    every_type(md, db_kind)
    old = sa.MetaData()
    sa.Table("parents", old, *(c._copy() for c in md.tables["parents"].c))
    sa.Table("every_type", old, sa.Column("id", sa.Integer, primary_key=True))
    old.create_all(engine)
    with engine.begin() as conn:
        conn.execute(old.tables["every_type"].insert(), [{"id": 1}, {"id": 2}])
    # The model's unique indexes over the new columns are wanted here too.
    app = flask_app(
        SCHEMAGUARD_ALLOWED_OPERATIONS="create_table, add_column, create_index, create_unique_index"
    )
    guard = SchemaGuard(app, metadata=md, engine=engine)
    with app.app_context():
        result = guard.heal()
        skipped = {i.name: i.hint for i in result.skipped}
        unhealable = {"txt_req"}  # NOT NULL, no server default
        if db_kind == "sqlite":
            # ALTER TABLE ADD COLUMN refuses CURRENT_TIMESTAMP defaults and STORED columns:
            # known before trying, so skipped with the reason, never failed.
            unhealable |= {"dt_now", "i_twice"}
            assert "SQLite cannot add a column" in skipped["dt_now"]
            assert "STORED" in skipped["i_twice"]
            assert result.failed == ()
        elif db_kind == "postgresql":  # online DDL: a STORED column rewrites the table
            assert result.failed == ()
            assert "stored generated column" in skipped.pop("i_twice")
            unhealable.add("i_twice")
        else:  # MariaDB would copy the table for it: online DDL never does
            assert [(op.name, msg.split(":")[0]) for op, msg in result.failed] == [
                ("i_twice", "not run online")
            ]
            unhealable.add("i_twice")
        assert set(skipped) == unhealable - ({"i_twice"} if db_kind != "sqlite" else set())
        assert "add a server_default or make it nullable" in skipped["txt_req"]
        added = {op.name for op in result.applied if op.kind.value == "add_column"}
        expected = {c.name for c in md.tables["every_type"].c} - unhealable - {"id"}
        assert added == expected
        assert {(i.kind.value, i.name) for i in result.after.items} == {
            ("missing_column", name) for name in unhealable
        }
        # Only the operation the database refused online stays healable (and fails again).
        left = {i.name for i in guard.check().healable}
        assert left == (set() if db_kind == "sqlite" else {"i_twice"})
    if db_kind != "sqlite":  # the all-in-one mode adds it (and rewrites the table)
        app2 = flask_app()
        app2.config["SCHEMAGUARD_ONLINE_DDL"] = False
        guard2 = SchemaGuard(app2, metadata=md, engine=engine)
        with app2.app_context():
            assert "i_twice" in {op.name for op in guard2.heal().applied}
            assert {i.name for i in guard2.check().by_kind("missing_column")} == {"txt_req"}
    table = sa.Table("every_type", sa.MetaData(), autoload_with=engine)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(table).order_by(table.c.id)).mappings().all()
    assert [r["id"] for r in rows] == [1, 2]
    for row in rows:  # existing rows got the server defaults, other new columns are NULL
        assert (row["i_req"], row["small"], row["s_req"], row["money"]) == (0, 7, "new", 0)
        assert row["flag_req"] in (False, 0) and row["color_py"] == "red"
        assert row["s50"] is None and row["doc"] is None and row["uid"] is None
