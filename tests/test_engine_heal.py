"""Healing on real databases: what is created, what fails alone, what is never touched.

Every test starts from a database that an older version of the models created and filled,
then checks and heals with the newer models through the public API, on SQLite, PostgreSQL
and MariaDB. Both ways to set the guard up are used: plain SQLAlchemy
(``SchemaGuard(app, metadata=, engine=)``) and Flask-SQLAlchemy (``SchemaGuard(app)``),
the latter with a second database (``SQLALCHEMY_BINDS``) and a PostgreSQL schema.
"""

from __future__ import annotations

import datetime as dt
import decimal
import os
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from conftest import make_database
from models_incidents import dispose_fsa, dump, flask_app, fsa_app, kinds, plain_base
from sqlalchemy import orm

from flask_schemaguard import DriftKind, SchemaGuard, Severity

DUPLICATE_MESSAGE = {
    "sqlite": "UNIQUE constraint failed: orders.customer_id, orders.day",
    "postgresql": 'could not create unique index "ux_orders_customer_day"',
    "mysql": "Duplicate entry",
}


@pytest.fixture
def second_url(db_kind: str, tmp_path: os.PathLike[str]) -> Iterator[str]:
    """A second, empty database of the same kind (a Flask-SQLAlchemy bind)."""
    directory = os.path.join(os.fspath(tmp_path), "second")
    os.mkdir(directory)
    yield from make_database(db_kind, directory)


def _orders(md: sa.MetaData, *, new: bool) -> sa.Table:
    extra: list[Any] = []
    if new:
        extra = [
            sa.Index("ix_orders_customer_created", "customer_id", "created_at"),
            sa.Index("ix_orders_status", "status"),
            sa.UniqueConstraint("reference", name="uq_orders_reference"),
            sa.Index("ux_orders_customer_day", "customer_id", "day", unique=True),
        ]
    return sa.Table(
        "orders",
        md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("customer_id", sa.Integer, nullable=False),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("reference", sa.String(40), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("amount", sa.Numeric(10, 2)),
        *extra,
    )


ORDER_ROWS = [
    {
        "id": i,
        "customer_id": 7 if i < 3 else i,
        "day": dt.date(2025, 12, 11),  # customer 7 ordered twice that day: not unique
        "reference": f"REF-{i:05d}",
        "status": "paid" if i % 2 else "open",
        "created_at": dt.datetime(2025, 12, 11, 9, i),
        "amount": decimal.Decimal(f"{i}9.95"),
    }
    for i in range(1, 7)
]


def test_missing_indexes_on_a_table_with_data_and_a_unique_index_over_duplicates(
    engine: sa.Engine, db_kind: str
) -> None:
    old = sa.MetaData()
    _orders(old, new=False)
    old.create_all(engine)
    with engine.begin() as conn:
        conn.execute(old.tables["orders"].insert(), ORDER_ROWS)
    before = dump(engine)

    new = sa.MetaData()
    _orders(new, new=True)
    # By default a unique index is never added to an existing table: it would reject
    # writes the app makes today. Reported (warning), skipped, the plain indexes built.
    default_app = flask_app()
    default_guard = SchemaGuard(default_app, metadata=new, engine=engine)
    with default_app.app_context():
        plain = default_guard.heal(dry_run=True)
    assert sorted(op.name for op in plain.applied) == [
        "ix_orders_customer_created",
        "ix_orders_status",
    ]
    assert {(i.name, "create_unique_index" in (i.hint or "")) for i in plain.skipped} == {
        ("ux_orders_customer_day", True),
        ("uq_orders_reference", True),
    }

    ops = ["create_table", "add_column", "create_index", "create_unique_index"]
    app = flask_app(SCHEMAGUARD_ALLOWED_OPERATIONS=ops)
    guard = SchemaGuard(app, metadata=new, engine=engine)
    with app.app_context():
        report = guard.check()
        assert {(i.kind, i.name, i.severity, i.healable) for i in report.items} == {
            (DriftKind.MISSING_INDEX, "ix_orders_customer_created", Severity.WARNING, True),
            (DriftKind.MISSING_INDEX, "ix_orders_status", Severity.WARNING, True),
            (DriftKind.MISSING_INDEX, "ux_orders_customer_day", Severity.WARNING, True),
            (
                DriftKind.MISSING_UNIQUE_CONSTRAINT,
                "uq_orders_reference",
                Severity.WARNING,
                True,
            ),
        }
        assert not report.in_sync

        dry = guard.heal(dry_run=True)
        assert dry.dry_run and len(dry.applied) == 4 and dry.failed == ()
        assert dump(engine) == before

        result = guard.heal()
    assert sorted(op.name for op in result.applied) == [
        "ix_orders_customer_created",
        "ix_orders_status",
        "uq_orders_reference",
    ]
    assert {op.name: op.kind.value for op in result.applied} == {
        "ix_orders_customer_created": "create_index",
        "ix_orders_status": "create_index",
        "uq_orders_reference": "create_unique_index",
    }
    ((failed_op, message),) = result.failed
    assert (failed_op.kind.value, failed_op.name) == (
        "create_unique_index",
        "ux_orders_customer_day",
    )
    assert DUPLICATE_MESSAGE[db_kind] in message
    assert "INSERT" not in message and "CREATE" not in message  # the database's words only
    assert kinds(result.after) == {("missing_index", "orders", "ux_orders_customer_day")}

    after = dump(engine)
    assert after.rows == before.rows
    indexes = {name: (cols, unique) for name, cols, unique in after.schema["orders"]["indexes"]}
    assert indexes["ix_orders_customer_created"] == (("customer_id", "created_at"), False)
    assert indexes["ix_orders_status"] == (("status",), False)
    assert indexes["uq_orders_reference"] == (("reference",), True)
    assert "ux_orders_customer_day" not in indexes
    with engine.connect() as conn, pytest.raises(sa.exc.IntegrityError):
        conn.execute(new.tables["orders"].insert(), [{**ORDER_ROWS[3], "id": 99}])

    with engine.connect() as conn:
        audit = conn.execute(
            sa.text("SELECT object_name, outcome, error FROM schemaguard_events ORDER BY id")
        ).all()
    assert sorted((r[0], r[1]) for r in audit) == [
        ("ix_orders_customer_created", "applied"),
        ("ix_orders_status", "applied"),
        ("uq_orders_reference", "applied"),
        ("ux_orders_customer_day", "failed"),
    ]
    assert [r[2] for r in audit if r[1] == "failed"] == [message]

    with app.app_context():
        # Only the failed index is left; healing again applies nothing and fails the same way.
        assert [i.name for i in guard.check().healable] == ["ux_orders_customer_day"]
        again = guard.heal()
        assert again.applied == () and [op.name for op, _ in again.failed] == [
            "ux_orders_customer_day"
        ]
        assert dump(engine) == after

        # Once the duplicate is gone, the next heal builds it.
        with engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM orders WHERE id = 2"))
        fixed = guard.heal()
        assert [op.name for op in fixed.applied] == ["ux_orders_customer_day"]
        assert fixed.failed == () and fixed.after.in_sync
        assert guard.heal().applied == () and guard.check().in_sync
    assert dump(engine).rows["orders"] == [r for r in before.rows["orders"] if r[0] != 2]


def _accounts_live(md: sa.MetaData) -> None:
    """The database as it is: hand-changed over the years."""
    sa.Table("owners", md, sa.Column("id", sa.Integer, primary_key=True), sa.Column("n", sa.Text))
    sa.Table(
        "accounts",
        md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("amount", sa.String(20)),  # the models say Integer
        sa.Column("owner_id", sa.Integer),  # no foreign key
        sa.Column("note", sa.String(50), nullable=False),  # the models say nullable
        sa.Column("fax", sa.String(30)),  # not in the models
        sa.Index("ix_accounts_fax", "fax"),  # not in the models
    )
    sa.Table(
        "memberships",
        md,
        sa.Column("user_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("org_id", sa.Integer, nullable=False),
    )
    sa.Table("legacy_reports", md, sa.Column("id", sa.Integer, primary_key=True))


def test_unhealable_drift_is_reported_and_never_touched(flask_db: tuple[Any, Any]) -> None:
    app, db = flask_db

    class Owner(db.Model):
        __tablename__ = "owners"
        id = sa.Column(sa.Integer, primary_key=True)
        n = sa.Column(sa.Text)

    class Account(db.Model):
        __tablename__ = "accounts"
        id = sa.Column(sa.Integer, primary_key=True)
        amount = sa.Column(sa.Integer)
        owner_id = sa.Column(sa.Integer, sa.ForeignKey("owners.id"))
        note = sa.Column(sa.String(50), nullable=True)
        region = sa.Column(sa.String(10), nullable=False)  # NOT NULL, no server default
        nickname = sa.Column(sa.String(30))  # the one healable change

    class Membership(db.Model):
        __tablename__ = "memberships"
        user_id = sa.Column(sa.Integer, primary_key=True, autoincrement=False)
        org_id = sa.Column(sa.Integer, primary_key=True, autoincrement=False)

    live = sa.MetaData()
    _accounts_live(live)
    with app.app_context():
        engine = db.engine
        live.create_all(engine)
        with engine.begin() as conn:
            conn.execute(live.tables["owners"].insert(), [{"id": 1, "n": "ana"}])
            conn.execute(
                live.tables["accounts"].insert(),
                [
                    {"id": 1, "amount": "12", "owner_id": 1, "note": "a", "fax": "555-01"},
                    {"id": 2, "amount": "n/a", "owner_id": 9, "note": "b", "fax": None},
                ],
            )
            conn.execute(live.tables["memberships"].insert(), [{"user_id": 1, "org_id": 1}])
            conn.execute(live.tables["legacy_reports"].insert(), [{"id": 1}, {"id": 2}])
        before = dump(engine)

    guard = SchemaGuard(app)
    with app.app_context():
        report = guard.check()
        found = {(i.kind.value, i.table, i.name): (i.severity, i.healable) for i in report.items}
        unhealable = {
            ("type_mismatch", "accounts", "amount"): (Severity.WARNING, False),
            ("nullable_mismatch", "accounts", "note"): (Severity.WARNING, False),
            ("missing_column", "accounts", "region"): (Severity.ERROR, False),
            ("missing_foreign_key", "accounts", None): (Severity.WARNING, False),
            ("primary_key_mismatch", "memberships", None): (Severity.WARNING, False),
        }
        extras = {
            ("extra_column", "accounts", "fax"): (Severity.INFO, False),
            ("extra_index", "accounts", "ix_accounts_fax"): (Severity.INFO, False),
            ("extra_table", "legacy_reports", None): (Severity.INFO, False),
        }
        healable = {("missing_column", "accounts", "nickname"): (Severity.ERROR, True)}
        assert found == {**unhealable, **extras, **healable}
        region = report.by_kind(DriftKind.MISSING_COLUMN)
        hint = {i.name: i.hint for i in region}["region"]
        assert "add a server_default or make it nullable" in hint
        # two errors: the missing primary key is a warning
        assert not report.in_sync and len(report.errors) == 2

        plan = guard.plan()
        assert [(op.kind.value, op.table, op.name) for op in plan] == [
            ("add_column", "accounts", "nickname")
        ]

        result = guard.heal()
        assert [(op.kind.value, op.name) for op in result.applied] == [("add_column", "nickname")]
        assert result.failed == ()
        assert {(i.kind.value, i.table, i.name) for i in result.skipped} == set(unhealable)
        assert set(kinds(result.after)) == set(unhealable) | set(extras)
        assert result.after.healable == ()

        after = dump(engine)
        # Everything but the added column is exactly as before, every row included.
        assert {k: v for k, v in after.schema.items() if k != "accounts"} == {
            k: v for k, v in before.schema.items() if k != "accounts"
        }
        accounts_before, accounts_after = before.schema["accounts"], after.schema["accounts"]
        assert accounts_after["columns"][:-1] == accounts_before["columns"]
        assert accounts_after["columns"][-1][0] == "nickname"
        for key in ("pk", "indexes", "uniques", "fks"):
            assert accounts_after[key] == accounts_before[key], key
        assert {k: v for k, v in after.rows.items() if k != "accounts"} == {
            k: v for k, v in before.rows.items() if k != "accounts"
        }
        assert [r[:-1] for r in after.rows["accounts"]] == before.rows["accounts"]

        # No healable drift is left; a second heal changes nothing and still says why.
        check = guard.check()
        assert check.healable == () and set(kinds(check)) == set(unhealable) | set(extras)
        again = guard.heal()
        assert again.applied == () and again.failed == ()
        assert {(i.kind.value, i.name) for i in again.skipped} == {
            (k, n) for k, _t, n in unhealable
        }
        assert dump(engine) == after

        # The ORM works on what exists: NOT NULL region is degraded, nickname is real.
        account = db.session.get(Account, 1)
        assert (account.note, account.region, account.nickname) == ("a", None, None)
        account.nickname = "main"
        db.session.commit()
        assert Account.query.filter_by(nickname="main").count() == 1
        assert db.session.get(Membership, (1, 1)).org_id == 1
        assert Owner.query.count() == 1


@pytest.fixture
def flask_db(db_url: str) -> Iterator[tuple[Any, Any]]:
    app, db = fsa_app(db_url)
    try:
        yield app, db
    finally:
        dispose_fsa(app, db)


def test_flask_sqlalchemy_binds_heal_each_database(db_url: str, second_url: str) -> None:
    app, db = fsa_app(db_url, binds={"analytics": second_url})
    try:
        _binds(app, db)
    finally:
        dispose_fsa(app, db)


def _binds(app: Any, db: Any) -> None:
    class User(db.Model):
        __tablename__ = "users"
        id = sa.Column(sa.Integer, primary_key=True)
        email = sa.Column(sa.String(120), nullable=False, index=True)

    class PageView(db.Model):
        __bind_key__ = "analytics"
        __tablename__ = "page_views"
        id = sa.Column(sa.Integer, primary_key=True)
        path = sa.Column(sa.String(200), nullable=False)
        referrer = sa.Column(sa.String(200))

    class Event(db.Model):
        __bind_key__ = "analytics"
        __tablename__ = "events"
        id = sa.Column(sa.Integer, primary_key=True)
        view_id = sa.Column(sa.ForeignKey("page_views.id"), nullable=False)
        name = sa.Column(sa.String(50), nullable=False)
        __table_args__ = (sa.Index("ix_events_view_name", "view_id", "name"),)

    old_default, old_analytics = sa.MetaData(), sa.MetaData()
    sa.Table(
        "users",
        old_default,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("email", sa.String(120), nullable=False),
    )
    sa.Table(
        "page_views",
        old_analytics,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("path", sa.String(200), nullable=False),
    )
    with app.app_context():
        default, analytics = db.engines[None], db.engines["analytics"]
        old_default.create_all(default)
        old_analytics.create_all(analytics)
        with default.begin() as conn:
            conn.execute(old_default.tables["users"].insert(), [{"email": "a@x.org"}])
        with analytics.begin() as conn:
            conn.execute(old_analytics.tables["page_views"].insert(), [{"path": "/"}])
        before = (dump(default), dump(analytics))

    guard = SchemaGuard(app)
    with app.app_context():
        report = guard.check()
        assert {(i.bind, i.kind.value, i.table, i.name) for i in report.items} == {
            (None, "missing_index", "users", "ix_users_email"),
            ("analytics", "missing_table", "events", None),
            ("analytics", "missing_column", "page_views", "referrer"),
        }
        databases = report.to_dict()["databases"]
        assert sorted((d["bind"] or "", d["dialect"]) for d in databases) == [
            ("", default.dialect.name),
            ("analytics", default.dialect.name),
        ]
        assert databases[0]["url"] != databases[1]["url"]

        result = guard.heal()
        assert result.failed == () and result.skipped == ()
        applied = [(op.bind, op.kind.value, op.table, op.name) for op in result.applied]
        assert [op for op in applied if op[0] == "analytics"] == [
            ("analytics", "create_table", "events", None),
            ("analytics", "add_column", "page_views", "referrer"),
            ("analytics", "create_index", "events", "ix_events_view_name"),
        ]
        assert [op for op in applied if op[0] is None] == [
            (None, "create_index", "users", "ix_users_email")
        ]
        assert result.after.in_sync and result.after.items == ()

        # Each change landed in its own database, and only there.
        guard_tables = {"schemaguard_events", "schemaguard_state"}
        assert set(sa.inspect(default).get_table_names()) - guard_tables == {"users"}
        assert set(sa.inspect(analytics).get_table_names()) - guard_tables == {
            "page_views",
            "events",
        }
        assert [i["name"] for i in sa.inspect(default).get_indexes("users")] == ["ix_users_email"]
        assert [i["name"] for i in sa.inspect(analytics).get_indexes("events")] == [
            "ix_events_view_name"
        ]
        after_default, after_analytics = dump(default), dump(analytics, skip=("events",))
        assert after_default.rows == before[0].rows
        assert [r[:-1] for r in after_analytics.rows["page_views"]] == before[1].rows["page_views"]

        # The ORM reaches both databases through one session.
        view = db.session.get(PageView, 1)
        view.referrer = "https://example.org"
        db.session.add(Event(view_id=1, name="click"))
        db.session.add(User(email="b@x.org"))
        db.session.commit()
        assert Event.query.join(PageView, Event.view_id == PageView.id).count() == 1
        assert PageView.query.filter(PageView.referrer.isnot(None)).count() == 1
        assert User.query.count() == 2

        assert guard.heal().applied == ()
        assert guard.check().in_sync


def test_allowed_operations_limit_what_heal_does(engine: sa.Engine) -> None:
    old, new = sa.MetaData(), sa.MetaData()
    for md, full in ((old, False), (new, True)):
        sa.Table(
            "notes",
            md,
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("body", sa.Text),
            *([sa.Column("pinned", sa.Boolean)] if full else []),
        )
        if full:
            sa.Table(
                "labels",
                md,
                sa.Column("id", sa.Integer, primary_key=True),
                sa.Column("name", sa.String(30), index=True),
            )
    old.create_all(engine)
    with engine.begin() as conn:
        conn.execute(old.tables["notes"].insert(), [{"id": 1, "body": "keep me"}])
    app = flask_app(SCHEMAGUARD_ALLOWED_OPERATIONS=["create_table"])
    guard = SchemaGuard(app, metadata=new, engine=engine)
    with app.app_context():
        result = guard.heal()
    assert [(op.kind.value, op.table) for op in result.applied] == [("create_table", "labels")]
    assert {(i.kind.value, i.name) for i in result.skipped} == {("missing_column", "pinned")}
    # The new table's index is a create_index, which is not allowed: reported, not built.
    assert kinds(result.after) == {
        ("missing_column", "notes", "pinned"),
        ("missing_index", "labels", "ix_labels_name"),
    }
    assert sa.inspect(engine).get_indexes("labels") == []
    assert [c["name"] for c in sa.inspect(engine).get_columns("notes")] == ["id", "body"]


def test_new_tables_referencing_each_other_get_every_foreign_key(engine: sa.Engine) -> None:
    Base = plain_base()

    class Author(Base):
        __tablename__ = "authors"
        id = sa.Column(sa.Integer, primary_key=True)
        featured_post_id = sa.Column(sa.ForeignKey("posts.id", use_alter=True))

    class Post(Base):
        __tablename__ = "posts"
        id = sa.Column(sa.Integer, primary_key=True)
        author_id = sa.Column(sa.ForeignKey("authors.id"), nullable=False)

    app = flask_app()
    guard = SchemaGuard(app, metadata=Base.metadata, engine=engine)
    with app.app_context():
        result = guard.heal()
        assert [op.table for op in result.applied] == ["authors", "posts"]
        assert result.failed == () and result.after.in_sync
    inspector = sa.inspect(engine)
    assert [fk["referred_table"] for fk in inspector.get_foreign_keys("authors")] == ["posts"]
    assert [fk["referred_table"] for fk in inspector.get_foreign_keys("posts")] == ["authors"]
    with orm.Session(engine) as session:
        author = Author(id=1)
        session.add(author)
        session.flush()
        session.add(Post(id=1, author_id=1))
        session.flush()
        author.featured_post_id = 1
        session.commit()
        assert session.get(Author, 1).featured_post_id == 1


@pytest.mark.parametrize("db_kind", ["postgresql"])
def test_postgresql_non_default_schema(db_url: str) -> None:
    engine = sa.create_engine(db_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE SCHEMA app")
        # Same name as the model's table, other schema: a different table, left alone.
        conn.exec_driver_sql("CREATE TABLE public.accounts (id INTEGER PRIMARY KEY, x TEXT)")
        conn.exec_driver_sql("INSERT INTO public.accounts VALUES (1, 'public')")
        conn.exec_driver_sql(
            "CREATE TABLE app.accounts (id SERIAL PRIMARY KEY, name VARCHAR(80) NOT NULL)"
        )
        conn.exec_driver_sql("INSERT INTO app.accounts (name) VALUES ('ana'), ('ben')")
        conn.exec_driver_sql("CREATE TABLE public.settings (id SERIAL PRIMARY KEY)")
        # A type a former table used, still there: must not be created again.
        conn.exec_driver_sql("CREATE TYPE entry_kind AS ENUM ('debit', 'credit')")
    app, db = fsa_app(db_url)
    try:
        _pg_schema(app, db)
    finally:
        dispose_fsa(app, db)
        engine.dispose()


def _pg_schema(app: Any, db: Any) -> None:
    class Account(db.Model):
        __tablename__ = "accounts"
        __table_args__ = (sa.Index("ix_accounts_email", "email"), {"schema": "app"})
        id = sa.Column(sa.Integer, primary_key=True)
        name = sa.Column(sa.String(80), nullable=False)
        email = sa.Column(sa.String(120))
        tier = sa.Column(sa.Enum("free", "pro", name="tier", schema="app"))

    class Entry(db.Model):
        __tablename__ = "ledger"
        __table_args__ = {"schema": "app"}
        id = sa.Column(sa.Integer, primary_key=True)
        account_id = sa.Column(sa.ForeignKey("app.accounts.id"), nullable=False, index=True)
        kind = sa.Column(sa.Enum("debit", "credit", name="entry_kind"), nullable=False)
        amount = sa.Column(sa.Numeric(12, 2), nullable=False)

    class Setting(db.Model):
        __tablename__ = "settings"
        id = sa.Column(sa.Integer, primary_key=True)

    guard = SchemaGuard(app)
    with app.app_context():
        engine = db.engine
        before_public = dump(engine, "public")
        before_app = dump(engine, "app")
        report = guard.check()
        assert {(i.schema, i.kind.value, i.table, i.name) for i in report.items} == {
            ("app", "missing_column", "accounts", "email"),
            ("app", "missing_column", "accounts", "tier"),
            ("app", "missing_index", "accounts", "ix_accounts_email"),
            ("app", "missing_table", "ledger", None),
            (None, "extra_table", "accounts", None),  # public.accounts: another table
        }
        assert report.by_kind("missing_table")[0].detail == (
            "Table 'app.ledger' does not exist in the database."
        )

        result = guard.heal()
        assert result.failed == ()
        assert [(op.schema, op.kind.value, op.table, op.name) for op in result.applied] == [
            ("app", "create_table", "ledger", None),
            ("app", "add_column", "accounts", "email"),
            ("app", "add_column", "accounts", "tier"),
            ("app", "create_index", "ledger", "ix_app_ledger_account_id"),
            ("app", "create_index", "accounts", "ix_accounts_email"),
        ]
        assert "CREATE TYPE app.tier" in result.applied[2].sql
        assert "CREATE TYPE" not in result.applied[0].sql  # entry_kind exists already
        assert result.after.in_sync and kinds(result.after) == {("extra_table", "accounts", None)}

        inspector = sa.inspect(engine)
        assert sorted(inspector.get_table_names(schema="app")) == ["accounts", "ledger"]
        assert "ledger" not in inspector.get_table_names()  # not in public
        assert dump(engine, "public") == before_public
        assert [r[:2] for r in dump(engine, "app").rows["accounts"]] == before_app.rows["accounts"]
        assert {e["name"]: e["schema"] for e in inspector.get_enums(schema="*")} == {
            "entry_kind": "public",
            "tier": "app",
        }

        db.session.add(Entry(account_id=1, kind="credit", amount=decimal.Decimal("10.50")))
        db.session.get(Account, 2).tier = "pro"
        db.session.commit()
        assert Entry.query.filter_by(kind="credit").count() == 1
        assert Account.query.filter_by(tier="pro").one().name == "ben"

        assert guard.heal().applied == ()
        assert guard.check().in_sync
