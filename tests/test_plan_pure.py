"""``make_plan()`` without a database: order, what is (not) planned, DDL text per dialect.

The drift comes from ``diff()`` of two model shapes (the "database" being an older version of
the models), so the tests read like a deploy: old schema, new models, the plan in between.
"""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.engine import Dialect

from flask_schemaguard import DriftKind, Operation
from flask_schemaguard.engine.compare import diff
from flask_schemaguard.engine.model_shapes import model_shape
from flask_schemaguard.engine.planner import Plan, make_plan
from flask_schemaguard.report import Drift

DIALECTS: dict[str, Dialect] = {
    "sqlite": sqlite.dialect(),
    "postgresql": postgresql.dialect(),
    "mysql": mysql.dialect(),
}
ALL = pytest.mark.parametrize("dialect", list(DIALECTS.values()), ids=list(DIALECTS))


def plan_between(
    old: sa.MetaData | None,
    new: sa.MetaData,
    dialect: Dialect,
    *,
    allowed: set[str] | None = None,
    enums: set[tuple[str | None, str]] = frozenset(),  # type: ignore[assignment]
    reverse: bool = False,
    bind: str | None = None,
) -> tuple[list[Drift], Plan]:
    live = model_shape(old.tables.values() if old is not None else (), dialect)
    items = diff(model_shape(new.tables.values(), dialect), live, bind=bind)
    if reverse:
        items = items[::-1]
    kwargs = {} if allowed is None else {"allowed": allowed}
    tables = {(t.schema, t.name): t for t in new.tables.values()}
    plan = make_plan(items, tables, dialect, existing_enums=enums, bind=bind, **kwargs)
    return items, plan


def steps(plan: Plan) -> list[tuple[str, str, str | None]]:
    return [(op.kind.value, op.table, op.name) for op in plan.operations]


def blog(*, full: bool) -> sa.MetaData:
    """A blog whose new version adds three related tables, a column and two indexes."""
    md = sa.MetaData()
    sa.Table(
        "tags",
        md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("label", sa.String(30), nullable=False),
        sa.Column("slug", sa.String(30)),
        *(
            [
                sa.Column("color", sa.String(7)),
                sa.Index("ix_tags_label_slug", "label", "slug"),
                sa.UniqueConstraint("slug"),
            ]
            if full
            else []
        ),
    )
    if full:
        # Names chosen so that alphabetical order is the wrong creation order.
        sa.Table(
            "a_comments",
            md,
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("post_id", sa.ForeignKey("m_posts.id"), nullable=False, index=True),
            sa.Column("reply_to", sa.ForeignKey("a_comments.id")),
        )
        sa.Table(
            "m_posts",
            md,
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("author_id", sa.ForeignKey("z_authors.id"), nullable=False),
            sa.Column("title", sa.String(200), nullable=False),
            sa.Index("ix_posts_author_title", "author_id", "title"),
        )
        sa.Table(
            "z_authors",
            md,
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("name", sa.String(80), index=True),
        )
    return md


@ALL
@pytest.mark.parametrize("reverse", [False, True], ids=["diff-order", "reversed"])
def test_tables_in_foreign_key_order_then_columns_then_indexes(
    dialect: Dialect, reverse: bool
) -> None:
    _, plan = plan_between(blog(full=False), blog(full=True), dialect, reverse=reverse)
    assert plan.skipped == ()
    assert steps(plan)[:4] == [
        ("create_table", "z_authors", None),
        ("create_table", "m_posts", None),
        ("create_table", "a_comments", None),
        ("add_column", "tags", "color"),
    ]
    # The new tables' indexes first (in creation order), then those of existing tables.
    assert steps(plan)[4:7] == [
        ("create_index", "z_authors", "ix_z_authors_name"),
        ("create_index", "m_posts", "ix_posts_author_title"),
        ("create_index", "a_comments", "ix_a_comments_post_id"),
    ]
    # A unique index on an existing table is its own (opt-in) operation; named as the
    # database names an unnamed unique constraint.
    uq_name = {"sqlite": "uq_tags_slug", "postgresql": "tags_slug_key", "mysql": "slug"}
    assert sorted(steps(plan)[7:]) == [
        ("create_index", "tags", "ix_tags_label_slug"),
        ("create_unique_index", "tags", uq_name[dialect.name]),
    ]


def _cycle(use_alter: bool) -> sa.MetaData:
    md = sa.MetaData()
    sa.Table(
        "b_nodes",
        md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("graph_id", sa.ForeignKey("a_graphs.id", name="fk_graph")),
    )
    sa.Table(
        "a_graphs",
        md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("root_id", sa.ForeignKey("b_nodes.id", name="fk_root", use_alter=use_alter)),
    )
    return md


@ALL
@pytest.mark.parametrize("use_alter", [False, True])
def test_a_cycle_of_new_tables_gets_every_foreign_key(dialect: Dialect, use_alter: bool) -> None:
    md = _cycle(use_alter)
    for reverse in (False, True):
        _, plan = plan_between(None, md, dialect, reverse=reverse)
        assert steps(plan) == [
            ("create_table", "a_graphs", None),
            ("create_table", "b_nodes", None),
        ]
        graphs, nodes = (list(op.statements) for op in plan.operations)
        assert "CONSTRAINT fk_graph FOREIGN KEY(graph_id) REFERENCES a_graphs (id)" in nodes[0]
        if dialect.name == "sqlite":  # forward references are fine; no ALTER TABLE ADD there
            assert "CONSTRAINT fk_root FOREIGN KEY(root_id) REFERENCES b_nodes (id)" in graphs[0]
            assert len(graphs) == len(nodes) == 1
        else:  # b_nodes does not exist yet when a_graphs is created: added right after it
            assert "REFERENCES" not in graphs[0] and len(graphs) == 1
            assert nodes[1:] == [
                "ALTER TABLE a_graphs ADD CONSTRAINT fk_root FOREIGN KEY(root_id) "
                "REFERENCES b_nodes (id)"
            ]


@ALL
def test_operations_carry_their_target_and_ddl(dialect: Dialect) -> None:
    md = blog(full=True)
    _, plan = plan_between(blog(full=False), md, dialect, bind="content")
    for op in plan.operations:
        assert isinstance(op, Operation)
        assert op.bind == "content" and op.schema is None
        data = op.to_dict()
        assert data == {
            "kind": op.kind.value,
            "bind": "content",
            "schema": None,
            "table": op.table,
            "name": op.name,
            "sql": op.sql,
            "statements": list(op.statements),
            "lock": op.lock.value,
        }
    create = plan.operations[0]
    assert list(create.statements) == [create.sql]
    assert create.sql.startswith("CREATE TABLE z_authors (")
    assert create.describe() == "create_table z_authors"
    assert plan.operations[3].describe() == "add_column tags.color"


def test_not_null_column_without_default_is_skipped_with_a_hint_not_planned() -> None:
    old = blog(full=False)
    new = blog(full=False)
    tags = new.tables["tags"]
    tags.append_column(sa.Column("weight", sa.Integer, nullable=False))
    tags.append_column(sa.Column("rank", sa.Integer, nullable=False, server_default="0"))
    sa.Index("ix_tags_weight", tags.c.weight)
    for dialect in DIALECTS.values():
        _, plan = plan_between(old, new, dialect)
        assert steps(plan) == [("add_column", "tags", "rank")]
        assert {(d.kind, d.name) for d in plan.skipped} == {
            (DriftKind.MISSING_COLUMN, "weight"),
            (DriftKind.MISSING_INDEX, "ix_tags_weight"),
        }
        weight = [d for d in plan.skipped if d.name == "weight"][0]
        assert "add a server_default or make it nullable" in weight.hint


@pytest.mark.parametrize(
    ("allowed", "expected"),
    [
        (
            {"create_table", "add_column", "create_index"},
            {"create_table", "add_column", "create_index"},
        ),
        ({"create_index"}, {"create_index"}),
        ({"create_table"}, {"create_table"}),
        (set(), set()),
    ],
)
def test_only_allowed_operations_are_planned(allowed: set[str], expected: set[str]) -> None:
    items, plan = plan_between(
        blog(full=False), blog(full=True), DIALECTS["postgresql"], allowed=allowed
    )
    assert {op.kind.value for op in plan.operations} == expected
    kinds = {
        DriftKind.MISSING_TABLE: "create_table",
        DriftKind.MISSING_COLUMN: "add_column",
        DriftKind.MISSING_INDEX: "create_index",
        DriftKind.MISSING_UNIQUE_CONSTRAINT: "create_unique_index",
    }
    assert {d.kind for d in plan.skipped} == {d.kind for d in items if kinds[d.kind] not in allowed}
    if "create_table" not in allowed:  # a new table's indexes come with the table only
        assert all(op.table == "tags" for op in plan.operations)


def test_unhealable_drift_is_skipped_and_extras_are_ignored() -> None:
    old = sa.MetaData()
    sa.Table(
        "accounts",
        old,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("code", sa.Integer, nullable=True),
        sa.Column("owner_id", sa.Integer),
        sa.Column("legacy", sa.Text),
        sa.Index("ix_legacy", "legacy"),
    )
    sa.Table("owners", old, sa.Column("id", sa.Integer, primary_key=True))
    sa.Table("old_stuff", old, sa.Column("id", sa.Integer, primary_key=True))
    new = sa.MetaData()
    sa.Table(
        "accounts",
        new,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("code", sa.String(10), primary_key=True),
        sa.Column("owner_id", sa.ForeignKey("owners.id")),
    )
    sa.Table("owners", new, sa.Column("id", sa.Integer, primary_key=True))
    for dialect in DIALECTS.values():
        items, plan = plan_between(old, new, dialect)
        assert plan.operations == ()
        assert {(d.kind.value, d.name) for d in plan.skipped} == {
            ("type_mismatch", "code"),
            ("primary_key_mismatch", None),
            ("missing_foreign_key", None),
        }
        assert {d.kind.value for d in items} - {d.kind.value for d in plan.skipped} == {
            "extra_table",
            "extra_column",
            "extra_index",
        }


@ALL
def test_nothing_destructive_is_ever_planned(dialect: Dialect) -> None:
    _, plan = plan_between(blog(full=False), blog(full=True), dialect)
    destructive = re.compile(
        r"\b(DROP|RENAME|TRUNCATE|DELETE|UPDATE|MODIFY|CHANGE)\b|ALTER\s+COLUMN", re.IGNORECASE
    )
    assert plan.operations
    for op in plan.operations:
        for statement in op.statements:
            assert not destructive.search(statement), statement
            assert re.match(
                r"(CREATE (TABLE|TYPE|(UNIQUE )?INDEX)|ALTER TABLE \S+ ADD )", statement
            )


def _additions() -> tuple[sa.MetaData, sa.MetaData]:
    def build(full: bool) -> sa.MetaData:
        md = sa.MetaData()
        sa.Table("users", md, sa.Column("id", sa.Integer, primary_key=True))
        extra = (
            [
                sa.Column("note", sa.String(40)),
                sa.Column("score", sa.Integer, nullable=False, server_default="0"),
                sa.Column("owner_id", sa.ForeignKey("users.id", ondelete="CASCADE")),
                sa.Column("Select", sa.Boolean, server_default=sa.true()),
                sa.Index("ix_order_note_score", "note", "score"),
                sa.UniqueConstraint("owner_id", "note"),
            ]
            if full
            else []
        )
        sa.Table("Order", md, sa.Column("id", sa.Integer, primary_key=True), *extra)
        return md

    return build(False), build(True)


@pytest.mark.parametrize(
    ("dialect", "expected"),
    [
        (
            "sqlite",
            [
                'ALTER TABLE "Order" ADD COLUMN note VARCHAR(40)',
                "ALTER TABLE \"Order\" ADD COLUMN score INTEGER DEFAULT '0' NOT NULL",
                'ALTER TABLE "Order" ADD COLUMN owner_id INTEGER REFERENCES users (id) '
                "ON DELETE CASCADE",
                'ALTER TABLE "Order" ADD COLUMN "Select" BOOLEAN DEFAULT 1',
                'CREATE INDEX ix_order_note_score ON "Order" (note, score)',
                'CREATE UNIQUE INDEX "uq_Order_owner_id_note" ON "Order" (owner_id, note)',
            ],
        ),
        (
            "postgresql",
            [
                'ALTER TABLE "Order" ADD COLUMN note VARCHAR(40)',
                "ALTER TABLE \"Order\" ADD COLUMN score INTEGER DEFAULT '0' NOT NULL",
                'ALTER TABLE "Order" ADD COLUMN owner_id INTEGER REFERENCES users (id) '
                "ON DELETE CASCADE",
                'ALTER TABLE "Order" ADD COLUMN "Select" BOOLEAN DEFAULT true',
                'CREATE INDEX ix_order_note_score ON "Order" (note, score)',
                'CREATE UNIQUE INDEX "Order_owner_id_note_key" ON "Order" (owner_id, note)',
            ],
        ),
        (
            "mysql",
            [
                "ALTER TABLE `Order` ADD COLUMN note VARCHAR(40)",
                "ALTER TABLE `Order` ADD COLUMN score INTEGER NOT NULL DEFAULT '0'",
                "ALTER TABLE `Order` ADD COLUMN owner_id INTEGER, "
                "ADD FOREIGN KEY(owner_id) REFERENCES users (id) ON DELETE CASCADE",
                "ALTER TABLE `Order` ADD COLUMN `Select` BOOL DEFAULT true",
                "CREATE INDEX ix_order_note_score ON `Order` (note, score)",
                "CREATE UNIQUE INDEX owner_id ON `Order` (owner_id, note)",
            ],
        ),
    ],
)
def test_sql_text_per_dialect(dialect: str, expected: list[str]) -> None:
    old, new = _additions()
    _, plan = plan_between(old, new, DIALECTS[dialect])
    assert [op.sql for op in plan.operations] == expected
    unique_name = {
        "sqlite": "uq_Order_owner_id_note",
        "postgresql": "Order_owner_id_note_key",
        "mysql": "owner_id",
    }
    assert [op.name for op in plan.operations] == [
        "note",
        "score",
        "owner_id",
        "Select",
        "ix_order_note_score",
        unique_name[dialect],
    ]


def test_create_table_sql_per_dialect() -> None:
    md = sa.MetaData()
    sa.Table(
        "events",
        md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("kind", sa.String(20), nullable=False, server_default="click"),
        sa.UniqueConstraint("kind", name="uq_events_kind"),
    )
    sql = {name: plan_between(None, md, d)[1].operations[0].sql for name, d in DIALECTS.items()}
    assert sql["sqlite"] == (
        "CREATE TABLE events (\n\tid INTEGER NOT NULL, "
        "\n\tkind VARCHAR(20) DEFAULT 'click' NOT NULL, "
        "\n\tPRIMARY KEY (id), \n\tCONSTRAINT uq_events_kind UNIQUE (kind)\n)"
    )
    assert sql["postgresql"].startswith("CREATE TABLE events (\n\tid SERIAL NOT NULL, ")
    assert "id INTEGER NOT NULL AUTO_INCREMENT" in sql["mysql"]


def test_non_default_schema_is_qualified() -> None:
    def build(full: bool) -> sa.MetaData:
        md = sa.MetaData(schema="app")
        sa.Table("users", md, sa.Column("id", sa.Integer, primary_key=True))
        if full:
            sa.Table(
                "posts",
                md,
                sa.Column("id", sa.Integer, primary_key=True),
                sa.Column("user_id", sa.ForeignKey("app.users.id"), index=True),
            )
            md.tables["app.users"].append_column(sa.Column("name", sa.String(20)))
        return md

    _, plan = plan_between(build(False), build(True), DIALECTS["postgresql"])
    assert [(op.kind.value, op.schema, op.table) for op in plan.operations] == [
        ("create_table", "app", "posts"),
        ("add_column", "app", "users"),
        ("create_index", "app", "posts"),
    ]
    assert plan.operations[0].sql.startswith("CREATE TABLE app.posts (")
    assert "REFERENCES app.users (id)" in plan.operations[0].sql
    assert plan.operations[1].sql == "ALTER TABLE app.users ADD COLUMN name VARCHAR(20)"
    assert plan.operations[2].sql == "CREATE INDEX ix_app_posts_user_id ON app.posts (user_id)"


def test_unique_index_name_is_the_one_the_database_or_create_all_gives() -> None:
    long = "a_rather_long_column_name_that_goes_on"

    def build(full: bool, convention: bool = False) -> sa.MetaData:
        md = sa.MetaData(
            naming_convention={"uq": "uq_%(table_name)s_%(column_0_N_name)s"} if convention else {}
        )
        sa.Table(
            "measurements_of_things",
            md,
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column(long + "_1", sa.Integer),
            sa.Column(long + "_2", sa.Integer),
            *([sa.UniqueConstraint(long + "_1", long + "_2")] if full else []),
        )
        return md

    old, md = build(False), build(True)
    names = {}
    for name, dialect in DIALECTS.items():
        _, plan = plan_between(old, md, dialect)
        (op,) = plan.operations
        names[name] = op.name
        assert op.kind.value == "create_unique_index" and op.sql.startswith("CREATE UNIQUE INDEX")
        assert len(op.name) <= dialect.max_identifier_length
        assert plan_between(old, md, dialect)[1].operations[0].name == op.name  # stable
    # PostgreSQL's own name for an unnamed unique constraint (makeObjectName), InnoDB's
    # (its first column); SQLite has no name of its own to give.
    assert names["postgresql"] == "measurements_of_things_a_rather_long_column_name_that_goes__key"
    assert len(names["postgresql"]) == 63
    assert names["mysql"] == long + "_1"
    assert names["sqlite"] == f"uq_measurements_of_things_{long}_1_{long}_2"

    # Under a naming convention: exactly what create_all() writes, cut by SQLAlchemy.
    with_convention = build(True, convention=True)
    for name, dialect in DIALECTS.items():
        _, plan = plan_between(build(False, convention=True), with_convention, dialect)
        (op,) = plan.operations
        table = with_convention.tables["measurements_of_things"]
        created = str(sa.schema.CreateTable(table).compile(dialect=dialect))
        assert f"CONSTRAINT {op.name} UNIQUE" in created, (name, op.name, created)


def _enum_models(with_second_table: bool) -> sa.MetaData:
    md = sa.MetaData()
    mood = sa.Enum("happy", "sad", name="mood")
    sa.Table("people", md, sa.Column("id", sa.Integer, primary_key=True), sa.Column("mood", mood))
    if with_second_table:
        sa.Table("pets", md, sa.Column("id", sa.Integer, primary_key=True), sa.Column("mood", mood))
    return md


def test_postgresql_native_enum_type_is_created_once_before_the_table() -> None:
    _, plan = plan_between(None, _enum_models(True), DIALECTS["postgresql"])
    people, pets = plan.operations
    assert list(people.statements) == [
        "CREATE TYPE mood AS ENUM ('happy', 'sad')",
        people.sql.split(";\n")[1],
    ]
    assert list(people.statements)[1].startswith("CREATE TABLE people (")
    assert [s.split(" (")[0] for s in list(pets.statements)] == ["CREATE TABLE pets"]


def test_postgresql_enum_that_exists_is_not_created_again() -> None:
    _, plan = plan_between(
        None, _enum_models(False), DIALECTS["postgresql"], enums={(None, "mood")}
    )
    first = plan.operations[0].statements
    assert [s.split(" (")[0] for s in first] == ["CREATE TABLE people"]


def test_postgresql_enum_for_an_added_column() -> None:
    old = sa.MetaData()
    sa.Table("people", old, sa.Column("id", sa.Integer, primary_key=True))
    _, plan = plan_between(old, _enum_models(False), DIALECTS["postgresql"])
    (op,) = plan.operations
    assert list(op.statements) == [
        "CREATE TYPE mood AS ENUM ('happy', 'sad')",
        "ALTER TABLE people ADD COLUMN mood mood",
    ]


@pytest.mark.parametrize("dialect", ["sqlite", "mysql"])
def test_no_create_type_outside_postgresql(dialect: str) -> None:
    _, plan = plan_between(None, _enum_models(True), DIALECTS[dialect])
    assert all("CREATE TYPE" not in op.sql for op in plan.operations)
    assert len(plan.operations) == 2


def test_an_empty_report_plans_nothing() -> None:
    md = blog(full=True)
    items, plan = plan_between(md, md, DIALECTS["mysql"])
    assert items == [] and plan == Plan(operations=(), skipped=())


def test_postgresql_enum_is_created_where_the_column_looks_for_it() -> None:
    md = sa.MetaData()
    sa.Table(
        "ledger",
        md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("kind", sa.Enum("debit", "credit", name="entry_kind")),
        sa.Column("tier", sa.Enum("free", "pro", name="tier", schema="app")),
        schema="app",
    )
    _, plan = plan_between(None, md, DIALECTS["postgresql"])
    create_kind, create_tier, create_table = list(plan.operations[0].statements)
    assert create_kind == "CREATE TYPE entry_kind AS ENUM ('debit', 'credit')"
    assert create_tier == "CREATE TYPE app.tier AS ENUM ('free', 'pro')"
    assert "kind entry_kind, " in create_table and "tier app.tier" in create_table
