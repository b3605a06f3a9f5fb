"""Healing what lives beside columns and indexes, in the order the live database needs it.

Sequences, native enum labels, schemas (opt-in), a native enum shared by a new column and a
new table, new tables whose foreign keys need a column or a unique index the same heal
creates, and what is never healed (foreign keys that cannot hold, SQLite's STORED columns).
Real databases; each test builds its own.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from models_incidents import flask_app, kinds

from flask_schemaguard import SchemaGuard

DEFAULT_OPS = "create_table, add_column, create_index, create_sequence, add_enum_value"


def heal(engine: sa.Engine, md: sa.MetaData, **config: object) -> tuple[object, object]:
    app = flask_app(**config)
    guard = SchemaGuard(app, metadata=md, engine=engine)
    with app.app_context():
        result = guard.heal()
        return result, guard.check()


def servers_only(db_kind: str) -> None:
    if db_kind == "sqlite":
        pytest.skip("SQLite has no sequences, native enums or schemas to create")


def test_missing_sequence_is_created_before_the_table_that_uses_it(
    engine: sa.Engine, db_kind: str
) -> None:
    servers_only(db_kind)
    md = sa.MetaData()
    tickets = sa.Table(
        "ticket",
        md,
        sa.Column("id", sa.Integer, sa.Sequence("ticket_id_seq"), primary_key=True),
        sa.Column("title", sa.String(40)),
    )
    sa.Table(
        "queue",
        md,
        sa.Column("id", sa.Integer, sa.Sequence("queue_id_seq"), primary_key=True),
    )
    md.create_all(engine)
    with engine.begin() as conn:  # a table healed without its sequence, and a missing table
        conn.exec_driver_sql("DROP SEQUENCE ticket_id_seq")
        conn.exec_driver_sql("DROP TABLE queue")
        conn.exec_driver_sql("DROP SEQUENCE queue_id_seq")
    app = flask_app()
    guard = SchemaGuard(app, metadata=md, engine=engine)
    with app.app_context():
        report = guard.check()
        assert kinds(report) == {
            ("missing_sequence", "ticket", "ticket_id_seq"),
            ("missing_sequence", "queue", "queue_id_seq"),
            ("missing_table", "queue", None),
        }
        assert all(i.severity.value == "error" and i.healable for i in report.items)
        result = guard.heal()
        after = guard.check()
    steps = [(op.kind.value, op.table, op.name) for op in result.applied]
    assert steps.index(("create_sequence", "queue", "queue_id_seq")) < steps.index(
        ("create_table", "queue", None)
    )
    assert ("create_sequence", "ticket", "ticket_id_seq") in steps
    assert result.failed == () and after.in_sync
    with engine.begin() as conn:  # inserts work again
        conn.execute(tickets.insert(), [{"title": "a"}, {"title": "b"}])
        assert conn.execute(sa.select(sa.func.count()).select_from(tickets)).scalar() == 2


def test_enum_label_the_database_lacks(engine: sa.Engine, db_kind: str) -> None:
    servers_only(db_kind)
    old, new = sa.MetaData(), sa.MetaData()
    for md, labels in ((old, ("new", "open")), (new, ("new", "open", "closed"))):
        state = sa.Enum(*labels, name="bill_state")
        sa.Table(
            "bills", md, sa.Column("id", sa.Integer, primary_key=True), sa.Column("state", state)
        )
        sa.Table(
            "notes", md, sa.Column("id", sa.Integer, primary_key=True), sa.Column("state", state)
        )
    old.create_all(engine)
    result, after = heal(engine, new)
    found = {(i.kind.value, i.table, i.name, i.severity.value) for i in after.items}  # type: ignore[attr-defined]
    if db_kind == "postgresql":  # additive: ALTER TYPE ... ADD VALUE, once for both columns
        assert [(op.kind.value, op.name) for op in result.applied] == [  # type: ignore[attr-defined]
            ("add_enum_value", "bill_state")
        ]
        sql = result.applied[0].sql  # type: ignore[attr-defined]
        assert sql == "ALTER TYPE bill_state ADD VALUE IF NOT EXISTS 'closed' AFTER 'open'"
        assert found == set()
        with engine.begin() as conn:
            conn.execute(new.tables["bills"].insert(), [{"state": "closed"}])
    else:  # a retype of each column on MySQL/MariaDB: reported, never healed
        assert result.applied == ()  # type: ignore[attr-defined]
        assert found == {
            ("enum_mismatch", "bills", "state", "error"),
            ("enum_mismatch", "notes", "state", "error"),
        }
        assert all("migration" in (i.hint or "") for i in after.items)  # type: ignore[attr-defined]


def test_native_enum_shared_by_a_new_column_and_a_new_table(
    engine: sa.Engine, db_kind: str
) -> None:
    old, new = sa.MetaData(), sa.MetaData()
    sa.Table("accounts", old, sa.Column("id", sa.Integer, primary_key=True))
    billtype = sa.Enum("monthly", "yearly", name="billtype")
    sa.Table(
        "accounts",
        new,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("billing", billtype),
    )
    sa.Table(
        "invoices",
        new,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("kind", billtype, index=True),
    )
    old.create_all(engine)
    result, after = heal(engine, new)
    assert result.failed == (), result.failed  # type: ignore[attr-defined]
    assert after.in_sync, after.to_dict()  # type: ignore[attr-defined]
    applied = [(op.kind.value, op.table) for op in result.applied]  # type: ignore[attr-defined]
    assert applied == [
        ("create_table", "invoices"),
        ("add_column", "accounts"),
        ("create_index", "invoices"),
    ]
    if db_kind == "postgresql":  # the type is created by the first operation that needs it
        assert result.applied[0].statements[0].startswith("CREATE TYPE billtype")  # type: ignore[attr-defined]
        assert not any("CREATE TYPE" in s for s in result.applied[1].statements)  # type: ignore[attr-defined]


def _users_and_profiles(*, unique: bool) -> tuple[sa.MetaData, sa.MetaData]:
    old, new = sa.MetaData(), sa.MetaData()
    sa.Table("users", old, sa.Column("id", sa.Integer, primary_key=True))
    sa.Table(
        "users",
        new,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("username", sa.String(40), unique=unique),
    )
    sa.Table(
        "profiles",
        new,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("username", sa.String(40), sa.ForeignKey("users.username")),
    )
    return old, new


def test_new_table_whose_foreign_key_needs_what_the_heal_adds(engine: sa.Engine) -> None:
    old, new = _users_and_profiles(unique=True)
    old.create_all(engine)
    # By default the unique index on the existing table is not added, so the new table's
    # foreign key could not hold: the table is not created, and the report says why.
    result, after = heal(engine, new)
    assert [(op.kind.value, op.table) for op in result.applied] == [("add_column", "users")]  # type: ignore[attr-defined]
    skipped = {(i.kind.value, i.table): i for i in result.skipped}  # type: ignore[attr-defined]
    assert "a unique index on users (username)" in (
        skipped[("missing_table", "profiles")].hint or ""
    )
    assert result.failed == ()  # type: ignore[attr-defined]
    assert not sa.inspect(engine).has_table("profiles")

    # Allowed: the column, then its unique index, then the table that refers to it.
    ops = "create_table, add_column, create_index, create_unique_index"
    result, after = heal(engine, new, SCHEMAGUARD_ALLOWED_OPERATIONS=ops)
    assert [(op.kind.value, op.table) for op in result.applied] == [  # type: ignore[attr-defined]
        ("create_unique_index", "users"),
        ("create_table", "profiles"),
    ]
    assert result.failed == () and after.in_sync  # type: ignore[attr-defined]


def test_new_table_whose_foreign_key_cannot_hold_is_not_created(engine: sa.Engine) -> None:
    old, new = _users_and_profiles(unique=False)  # users.username is unique nowhere
    old.create_all(engine)
    result, after = heal(engine, new)
    item = next(i for i in after.items if i.kind.value == "missing_table")  # type: ignore[attr-defined]
    assert (item.table, item.healable) == ("profiles", False)
    assert "neither a primary key nor unique" in (item.hint or "")
    assert not sa.inspect(engine).has_table("profiles")  # no dangling foreign key on SQLite
    assert result.failed == ()  # type: ignore[attr-defined]


def test_missing_schema_is_created_only_when_allowed(
    engine: sa.Engine, db_kind: str, db_url: str
) -> None:
    servers_only(db_kind)
    schema = "audit" if db_kind == "postgresql" else sa.make_url(db_url).database + "_audit"
    md = sa.MetaData()
    sa.Table("entries", md, sa.Column("id", sa.Integer, primary_key=True), schema=schema)
    try:
        result, after = heal(engine, md)
        found = {(i.kind.value, i.name or i.table, i.healable) for i in after.items}  # type: ignore[attr-defined]
        assert found == {("missing_schema", schema, True), ("missing_table", "entries", True)}
        assert result.applied == () and result.failed == ()  # type: ignore[attr-defined]
        hints = {i.kind.value: i.hint for i in result.skipped}  # type: ignore[attr-defined]
        assert "create_schema" in (hints["missing_schema"] or "")
        assert f"schema {schema}" in (hints["missing_table"] or "")

        ops = "create_table, create_schema"
        result, after = heal(engine, md, SCHEMAGUARD_ALLOWED_OPERATIONS=ops)
        assert [op.kind.value for op in result.applied] == ["create_schema", "create_table"]  # type: ignore[attr-defined]
        assert after.in_sync  # type: ignore[attr-defined]
    finally:
        with engine.begin() as conn:
            what = "SCHEMA" if db_kind == "postgresql" else "DATABASE"
            conn.exec_driver_sql(
                f"DROP {what} IF EXISTS {schema}" + (" CASCADE" if db_kind == "postgresql" else "")
            )


def test_sqlite_cannot_add_a_stored_generated_column(engine: sa.Engine, db_kind: str) -> None:
    old, new = sa.MetaData(), sa.MetaData()
    for md, full in ((old, False), (new, True)):
        sa.Table(
            "items",
            md,
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("price", sa.Integer),
            *(
                [
                    sa.Column("doubled", sa.Integer, sa.Computed("price * 2", persisted=True)),
                    sa.Column("tripled", sa.Integer, sa.Computed("price * 3", persisted=False)),
                ]
                if full
                else []
            ),
        )
    if db_kind == "postgresql":  # PostgreSQL has STORED columns only
        new.tables["items"].c.tripled.computed.persisted = True  # type: ignore[union-attr]
    old.create_all(engine)
    result, after = heal(engine, new)
    remaining = {(i.kind.value, i.name, i.healable) for i in after.items}  # type: ignore[attr-defined]
    if db_kind == "sqlite":
        assert remaining == {("missing_column", "doubled", False)}
        (item,) = after.items  # type: ignore[attr-defined]
        assert "STORED" in (item.hint or "")
        assert [op.name for op in result.applied] == ["tripled"]  # type: ignore[attr-defined]
    else:  # online, a STORED column is left for a person (it rewrites or copies the table)
        stored = {"doubled", "tripled"} if db_kind == "postgresql" else {"doubled"}
        assert {i.name for i in after.items} == stored  # type: ignore[attr-defined]
        result, after = heal(engine, new, SCHEMAGUARD_ONLINE_DDL=False)
        assert after.items == () and result.failed == ()  # type: ignore[attr-defined]


def test_long_generated_names_heal_as_create_all_names_them(engine: sa.Engine) -> None:
    """Names from a naming convention past the dialect's limit: healed under the very name
    ``create_all()`` gives (MariaDB would refuse a longer one with error 1059)."""
    long = "a_rather_long_column_name_that_goes_on"

    def models(full: bool) -> sa.MetaData:
        md = sa.MetaData(
            naming_convention={
                "ix": "ix_%(table_name)s_%(column_0_N_name)s",
                "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            }
        )
        cols = [sa.Column(f"{long}_{i}", sa.Integer) for i in (1, 2)]
        t = sa.Table(
            "measurements",
            md,
            sa.Column("id", sa.Integer, primary_key=True),
            *cols,
            *([sa.UniqueConstraint(*(c.name for c in cols))] if full else []),
        )
        if full:
            sa.Index(None, t.c[f"{long}_1"], t.c[f"{long}_2"])
        return md

    models(False).create_all(engine)
    ops = "create_table, add_column, create_index, create_unique_index"
    result, after = heal(engine, models(True), SCHEMAGUARD_ALLOWED_OPERATIONS=ops)
    assert result.failed == () and len(result.applied) == 2, result.failed  # type: ignore[attr-defined]
    assert after.in_sync, after.to_dict()  # type: ignore[attr-defined]
    inspector = sa.inspect(engine)
    names = {ix["name"] for ix in inspector.get_indexes("measurements")}
    names |= {u["name"] for u in inspector.get_unique_constraints("measurements")}
    created = {op.name for op in result.applied}  # type: ignore[attr-defined]
    assert len(created) == 2 and created <= names, (created, names)


def test_expression_index_is_created_once(engine: sa.Engine, db_kind: str) -> None:
    if db_kind == "mysql":
        pytest.skip("MariaDB has no functional indexes")
    old, new = sa.MetaData(), sa.MetaData()
    for md in (old, new):
        sa.Table(
            "users",
            md,
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("email", sa.String(80)),
        )
    sa.Index("ix_users_email_lower", sa.func.lower(new.tables["users"].c.email))
    old.create_all(engine)
    result, after = heal(engine, new)
    assert [op.name for op in result.applied] == ["ix_users_email_lower"]  # type: ignore[attr-defined]
    assert after.in_sync  # type: ignore[attr-defined]
    again, _ = heal(engine, new)
    assert again.applied == () and again.failed == ()  # type: ignore[attr-defined]


def test_revision_writes_unique_and_long_named_indexes() -> None:
    """``flask schemaguard revision`` turns create_unique_index (and an index whose
    convention name SQLAlchemy cuts) into Alembic's create_index, as for create_index."""
    from sqlalchemy.dialects import postgresql

    from flask_schemaguard.engine.model_shapes import rendered_name
    from flask_schemaguard.engine.targets import Target
    from flask_schemaguard.report import OperationKind
    from flask_schemaguard.revision import _operations

    md = sa.MetaData(naming_convention={"ix": "ix_%(table_name)s_%(column_0_N_name)s"})
    long = "a_rather_long_column_name_that_goes_on"
    t = sa.Table(
        "measurements",
        md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(f"{long}_1", sa.Integer),
        sa.Column(f"{long}_2", sa.Integer),
    )
    index = sa.Index(None, t.c[f"{long}_1"], t.c[f"{long}_2"], unique=True)
    engine = sa.create_engine("postgresql+psycopg://", module=None)  # never connects
    try:
        name = rendered_name(index.name, postgresql.dialect(), index=True)
        assert name is not None and len(name) == 60  # cut to 63 - 8, then "_" + 4 hex digits
        target = Target(None, engine, (t,))
        up, down = _operations(OperationKind.CREATE_UNIQUE_INDEX, t, name, None, target)
        assert [type(o).__name__ for o in up] == ["CreateIndexOp"]
        assert up[0].unique  # and under the name create_all() would write
        assert rendered_name(up[0].index_name, postgresql.dialect(), index=True) == name
        assert [type(o).__name__ for o in down] == ["DropIndexOp"]
    finally:
        engine.dispose()
