"""``diff()`` on hand-built shapes: every drift kind, its severity and healability, no database."""

from __future__ import annotations

import pytest

from flask_schemaguard import DriftKind, DriftReport, Severity
from flask_schemaguard.engine.compare import diff
from flask_schemaguard.report import Drift
from flask_schemaguard.shape import (
    ColumnShape,
    ForeignKeyShape,
    IndexShape,
    SchemaShape,
    TableShape,
)

DIALECTS = ("sqlite", "postgresql", "mysql")


def col(name: str, type_text: str = "INTEGER", nullable: bool = True, default: str | None = None):
    return ColumnShape(name, type_text, nullable, default)


def table(
    name: str,
    *columns: ColumnShape,
    pk: tuple[str, ...] = ("id",),
    indexes: tuple[IndexShape, ...] = (),
    uniques: tuple[IndexShape, ...] = (),
    fks: tuple[ForeignKeyShape, ...] = (),
    schema: str | None = None,
) -> TableShape:
    if not any(c.name == "id" for c in columns) and pk == ("id",):
        columns = (col("id", nullable=False), *columns)
    return TableShape(schema, name, tuple(columns), pk, indexes, uniques, fks)


def shape(dialect: str, *tables: TableShape) -> SchemaShape:
    return SchemaShape(dialect=dialect, tables={(t.schema, t.name): t for t in tables})


def fk(columns: tuple[str, ...], target: str, ref: tuple[str, ...] = ("id",), name=None):
    return ForeignKeyShape(name, columns, None, target, ref)


def only(items: list[Drift]) -> Drift:
    assert len(items) == 1, items
    return items[0]


def summary(items: list[Drift]) -> set[tuple[str, str | None, str | None, str, bool]]:
    return {(i.kind.value, i.table, i.name, i.severity.value, i.healable) for i in items}


# Users as the models see them: a realistic table that most tests change one thing of.
USERS = table(
    "users",
    col("id", nullable=False),
    col("email", "VARCHAR(120)", nullable=False),
    col("name", "VARCHAR(50)"),
    col("org_id"),
    indexes=(IndexShape("ix_users_name", ("name",)),),
    uniques=(IndexShape("uq_users_email", ("email",), True),),
    fks=(fk(("org_id",), "orgs"),),
)
ORGS = table("orgs", col("id", nullable=False), col("title", "VARCHAR(80)"))


def with_(t: TableShape, **changes) -> TableShape:
    data = {
        "schema": t.schema,
        "name": t.name,
        "columns": t.columns,
        "primary_key": t.primary_key,
        "indexes": t.indexes,
        "uniques": t.uniques,
        "foreign_keys": t.foreign_keys,
    }
    data.update(changes)
    return TableShape(**data)


@pytest.mark.parametrize("dialect", DIALECTS)
def test_identical_shapes_have_no_drift(dialect: str) -> None:
    assert diff(shape(dialect, USERS, ORGS), shape(dialect, USERS, ORGS)) == []


def test_missing_table_is_a_healable_error_carrying_bind_and_schema() -> None:
    model = shape("postgresql", ORGS, with_(USERS, schema="app"))
    item = only(diff(model, shape("postgresql", ORGS), bind="reports"))
    assert item.kind is DriftKind.MISSING_TABLE
    assert (item.table, item.name, item.bind, item.schema) == ("users", None, "reports", "app")
    assert item.severity is Severity.ERROR and item.healable
    assert item.detail == "Table 'app.users' does not exist in the database."
    assert item.to_dict()["kind"] == "missing_table"


def test_a_missing_table_reports_nothing_about_its_columns_or_indexes() -> None:
    assert summary(diff(shape("sqlite", USERS, ORGS), shape("sqlite", ORGS))) == {
        ("missing_table", "users", None, "error", True)
    }


def test_extra_table_is_info_and_never_healable() -> None:
    item = only(diff(shape("mysql", ORGS), shape("mysql", ORGS, USERS)))
    assert (item.kind, item.table, item.severity, item.healable) == (
        DriftKind.EXTRA_TABLE,
        "users",
        Severity.INFO,
        False,
    )
    assert "left alone" in item.detail


def test_excluded_tables_are_neither_missing_nor_extra() -> None:
    model = shape("sqlite", USERS, ORGS)
    live = shape("sqlite", table("legacy_audit"), table("orgs_archive"))
    excluded = {"users", "orgs", "legacy_audit"}
    items = diff(model, live, excluded=lambda schema, name: name in excluded)
    assert summary(items) == {("extra_table", "orgs_archive", None, "info", False)}


@pytest.mark.parametrize(
    ("column", "healable", "hint"),
    [
        (col("nickname", "VARCHAR(30)"), True, None),
        (col("score", nullable=False, default="0"), True, None),
        (col("score", nullable=False), False, "add a server_default or make it nullable"),
    ],
    ids=["nullable", "not-null-with-default", "not-null-without-default"],
)
def test_missing_column(column: ColumnShape, healable: bool, hint: str | None) -> None:
    model = with_(USERS, columns=(*USERS.columns, column))
    item = only(diff(shape("sqlite", model, ORGS), shape("sqlite", USERS, ORGS)))
    assert (item.kind, item.table, item.name) == (DriftKind.MISSING_COLUMN, "users", column.name)
    assert item.severity is Severity.ERROR and item.healable is healable
    assert item.detail == f"Column 'users.{column.name}' does not exist in the database."
    if hint is None:
        assert item.hint is None
    else:
        assert hint in item.hint


def test_missing_primary_key_column_is_not_healable() -> None:
    model = table("tags", col("id", nullable=False), col("name", "VARCHAR(20)"))
    live = table("tags", col("name", "VARCHAR(20)"), pk=())
    items = diff(shape("postgresql", model), shape("postgresql", live))
    assert summary(items) == {
        ("missing_column", "tags", "id", "error", False),
        ("primary_key_mismatch", "tags", None, "warning", False),
    }
    missing = [i for i in items if i.kind is DriftKind.MISSING_COLUMN][0]
    assert "primary key" in missing.hint


@pytest.mark.parametrize("dialect", DIALECTS)
def test_type_mismatch_is_a_warning_never_healed(dialect: str) -> None:
    live = with_(USERS, columns=(*USERS.columns[:3], col("org_id", "VARCHAR(20)")))
    item = only(diff(shape(dialect, USERS, ORGS), shape(dialect, live, ORGS)))
    assert (item.kind, item.name, item.severity, item.healable) == (
        DriftKind.TYPE_MISMATCH,
        "org_id",
        Severity.WARNING,
        False,
    )
    assert "VARCHAR(20) in the database but INTEGER in the model" in item.detail


def test_varchar_length_is_drift_where_the_database_enforces_it() -> None:
    live = with_(
        USERS, columns=(USERS.columns[0], col("email", "VARCHAR(255)", False), *USERS.columns[2:])
    )
    for dialect in ("postgresql", "mysql"):
        item = only(diff(shape(dialect, USERS, ORGS), shape(dialect, live, ORGS)))
        assert (item.kind, item.name) == (DriftKind.TYPE_MISMATCH, "email")
    assert diff(shape("sqlite", USERS, ORGS), shape("sqlite", live, ORGS)) == []


def test_nullable_mismatch_both_ways_is_a_warning() -> None:
    live = with_(
        USERS,
        columns=(
            USERS.columns[0],
            col("email", "VARCHAR(120)", nullable=True),
            col("name", "VARCHAR(50)", nullable=False),
            USERS.columns[3],
        ),
    )
    items = diff(shape("mysql", USERS, ORGS), shape("mysql", live, ORGS))
    assert summary(items) == {
        ("nullable_mismatch", "users", "email", "warning", False),
        ("nullable_mismatch", "users", "name", "warning", False),
    }
    email = [i for i in items if i.name == "email"][0]
    assert email.detail == "Column 'users.email' is NULL in the database but NOT NULL in the model."


def test_primary_key_mismatch_is_a_warning_never_healed() -> None:
    # Queries work without the constraint: a database the app's own migrations built that
    # way is not "broken" (error = queries fail).
    model = table(
        "memberships",
        col("user_id", nullable=False),
        col("org_id", nullable=False),
        pk=("user_id", "org_id"),
    )
    live = table(
        "memberships",
        col("user_id", nullable=False),
        col("org_id", nullable=False),
        pk=("user_id",),
    )
    item = only(diff(shape("postgresql", model), shape("postgresql", live)))
    assert (item.kind, item.table, item.name, item.severity, item.healable) == (
        DriftKind.PRIMARY_KEY_MISMATCH,
        "memberships",
        None,
        Severity.WARNING,
        False,
    )
    assert "(user_id) in the database but (user_id, org_id)" in item.detail


def test_extra_column_is_info() -> None:
    live = with_(USERS, columns=(*USERS.columns, col("legacy_flag", "BOOLEAN")))
    item = only(diff(shape("sqlite", USERS, ORGS), shape("sqlite", live, ORGS)))
    assert (item.kind, item.name, item.severity, item.healable) == (
        DriftKind.EXTRA_COLUMN,
        "legacy_flag",
        Severity.INFO,
        False,
    )


def test_missing_index_is_a_healable_warning() -> None:
    composite = IndexShape("ix_users_org_name", ("org_id", "name"))
    model = with_(USERS, indexes=(*USERS.indexes, composite))
    item = only(diff(shape("postgresql", model, ORGS), shape("postgresql", USERS, ORGS)))
    assert (item.kind, item.name, item.severity, item.healable) == (
        DriftKind.MISSING_INDEX,
        "ix_users_org_name",
        Severity.WARNING,
        True,
    )
    assert item.detail == (
        "Index 'ix_users_org_name' on 'users' (org_id, name) does not exist in the database."
    )


def test_index_on_a_column_that_cannot_be_added_is_not_healable() -> None:
    model = with_(
        USERS,
        columns=(*USERS.columns, col("rank", nullable=False), col("level")),
        indexes=(
            *USERS.indexes,
            IndexShape("ix_rank", ("rank",)),
            IndexShape("ix_level", ("level",)),
        ),
    )
    items = diff(shape("sqlite", model, ORGS), shape("sqlite", USERS, ORGS))
    assert summary(items) == {
        ("missing_column", "users", "rank", "error", False),
        ("missing_column", "users", "level", "error", True),
        ("missing_index", "users", "ix_rank", "warning", False),
        ("missing_index", "users", "ix_level", "warning", True),
    }


@pytest.mark.parametrize(
    ("model_index", "live_index", "missing"),
    [
        (IndexShape("ix_a", ("name",)), IndexShape("other_name", ("name",)), False),
        (IndexShape("ix_a", ("name",)), IndexShape("uq_name", ("name",), True), False),
        (IndexShape("ix_a", ("name",), True), IndexShape("ix_b", ("name",)), True),
        (IndexShape("ix_a", ("org_id", "name")), IndexShape("ix_b", ("name", "org_id")), True),
        (IndexShape("ix_a", ("name",)), IndexShape("ix_a", ("email",)), False),
    ],
    ids=["same-columns", "unique-covers-plain", "plain-not-unique", "column-order", "by-name"],
)
def test_index_matching(model_index: IndexShape, live_index: IndexShape, missing: bool) -> None:
    model = with_(USERS, indexes=(model_index,))
    live = with_(USERS, indexes=(live_index,))
    items = [
        i
        for i in diff(shape("postgresql", model, ORGS), shape("postgresql", live, ORGS))
        if i.kind is not DriftKind.EXTRA_INDEX
    ]
    assert [i.kind for i in items] == ([DriftKind.MISSING_INDEX] if missing else [])


@pytest.mark.parametrize(
    ("dialect", "name"),
    [
        ("sqlite", "uq_users_org_id_name"),
        ("postgresql", "users_org_id_name_key"),
        ("mysql", "org_id"),
    ],
)
def test_missing_unique_constraint_is_a_healable_warning_with_a_default_name(
    dialect: str, name: str
) -> None:
    # Named as the database names an unnamed unique constraint (SQLite has no name of its own).
    model = with_(USERS, uniques=(*USERS.uniques, IndexShape(None, ("org_id", "name"), True)))
    item = only(diff(shape(dialect, model, ORGS), shape(dialect, USERS, ORGS)))
    assert (item.kind, item.name, item.severity, item.healable) == (
        DriftKind.MISSING_UNIQUE_CONSTRAINT,
        name,
        Severity.WARNING,
        True,
    )
    assert "duplicate rows" in item.hint and "create_unique_index" in item.hint


@pytest.mark.parametrize(
    "live",
    [
        with_(
            USERS, uniques=(), indexes=(*USERS.indexes, IndexShape("email_key", ("email",), True))
        ),
        with_(USERS, uniques=(IndexShape("users_email_key", ("email",), True),)),
    ],
    ids=["as-unique-index", "under-another-name"],
)
def test_unique_constraint_satisfied_by_an_equivalent_unique_object(live: TableShape) -> None:
    items = diff(shape("postgresql", USERS, ORGS), shape("postgresql", live, ORGS))
    assert [i for i in items if i.severity is not Severity.INFO] == []


def test_unique_constraint_in_another_column_order_is_present() -> None:
    model = with_(USERS, uniques=(IndexShape("uq_pair", ("org_id", "name"), True),))
    live = with_(USERS, uniques=(IndexShape("uq_other", ("name", "org_id"), True),))
    assert diff(shape("sqlite", model, ORGS), shape("sqlite", live, ORGS)) == []


def test_a_unique_constraint_is_not_satisfied_by_a_plain_index() -> None:
    live = with_(USERS, uniques=(), indexes=(*USERS.indexes, IndexShape("ix_email", ("email",))))
    items = diff(shape("sqlite", USERS, ORGS), shape("sqlite", live, ORGS))
    assert [(i.kind, i.name) for i in items] == [
        (DriftKind.MISSING_UNIQUE_CONSTRAINT, "uq_users_email")
    ]


@pytest.mark.parametrize("dialect", DIALECTS)
def test_missing_foreign_key_is_a_warning_never_healed(dialect: str) -> None:
    live = with_(USERS, foreign_keys=())
    item = only(diff(shape(dialect, USERS, ORGS), shape(dialect, live, ORGS)))
    assert (item.kind, item.table, item.severity, item.healable) == (
        DriftKind.MISSING_FOREIGN_KEY,
        "users",
        Severity.WARNING,
        False,
    )
    assert item.detail == (
        "Foreign key on 'users' (org_id) -> orgs (id) does not exist in the database."
    )
    assert ("SQLite cannot add" in item.hint) is (dialect == "sqlite")


def test_foreign_key_of_a_missing_column_comes_with_the_column() -> None:
    live = with_(USERS, columns=USERS.columns[:3], foreign_keys=())
    assert summary(diff(shape("postgresql", USERS, ORGS), shape("postgresql", live, ORGS))) == {
        ("missing_column", "users", "org_id", "error", True)
    }


def test_extra_index_is_info() -> None:
    live = with_(USERS, indexes=(*USERS.indexes, IndexShape("ix_hand_made", ("email", "name"))))
    item = only(diff(shape("postgresql", USERS, ORGS), shape("postgresql", live, ORGS)))
    assert (item.kind, item.name, item.severity, item.healable) == (
        DriftKind.EXTRA_INDEX,
        "ix_hand_made",
        Severity.INFO,
        False,
    )


def test_automatic_indexes_of_foreign_keys_are_not_extra_on_mysql_only() -> None:
    # InnoDB creates an index named after the constraint (or its first column) for every
    # foreign key no index serves; SQLite and PostgreSQL never do, so there such an index
    # is one somebody made (info: extra_index).
    live = with_(USERS, indexes=(*USERS.indexes, IndexShape("org_id", ("org_id",))))
    assert diff(shape("mysql", USERS, ORGS), shape("mysql", live, ORGS)) == []
    for dialect in ("sqlite", "postgresql"):
        items = diff(shape(dialect, USERS, ORGS), shape(dialect, live, ORGS))
        assert [(i.kind, i.name) for i in items] == [(DriftKind.EXTRA_INDEX, "org_id")]


@pytest.mark.parametrize("dialect", ["sqlite", "mysql"])
def test_names_are_compared_case_insensitively_where_the_database_folds_them(dialect: str) -> None:
    live = TableShape(
        None,
        "Users",
        (
            col("ID", nullable=False),
            col("Email", "varchar(120)", False),
            col("NAME", "varchar(50)"),
            col("Org_Id"),
        ),
        ("ID",),
        (IndexShape("IX_USERS_NAME", ("NAME",)),),
        (IndexShape("UQ_Users_Email", ("Email",), True),),
        (ForeignKeyShape(None, ("Org_Id",), None, "ORGS", ("ID",)),),
    )
    live_orgs = TableShape(
        None, "ORGS", (col("Id", nullable=False), col("TITLE", "VARCHAR(80)")), ("Id",)
    )
    assert diff(shape(dialect, USERS, ORGS), shape(dialect, live, live_orgs)) == []


def test_postgresql_names_are_case_sensitive() -> None:
    live_orgs = with_(ORGS, name="Orgs")
    assert summary(diff(shape("postgresql", ORGS), shape("postgresql", live_orgs))) == {
        ("missing_table", "orgs", None, "error", True),
        ("extra_table", "Orgs", None, "info", False),
    }


def test_same_table_name_in_two_schemas_is_two_tables() -> None:
    model = shape("postgresql", ORGS, with_(ORGS, schema="archive"))
    live = shape("postgresql", with_(ORGS, schema="archive"))
    assert summary(diff(model, live)) == {("missing_table", "orgs", None, "error", True)}
    assert only(diff(model, live)).schema is None


def test_every_kind_the_diff_produces_has_its_documented_severity_and_healability() -> None:
    """One model against one database that differs in every way diff() can see."""
    model = shape(
        "postgresql",
        table("gone"),
        with_(
            USERS,
            columns=(*USERS.columns, col("added", "VARCHAR(10)"), col("strict", nullable=False)),
            indexes=(*USERS.indexes, IndexShape("ix_new", ("org_id", "name"))),
            uniques=(*USERS.uniques, IndexShape("uq_pair", ("org_id", "email"), True)),
            primary_key=("id", "email"),
        ),
        ORGS,
    )
    live = shape(
        "postgresql",
        with_(
            USERS,
            columns=(
                USERS.columns[0],
                col("email", "INTEGER", nullable=False),
                col("name", "VARCHAR(50)", nullable=False),
                USERS.columns[3],
                col("legacy"),
            ),
            indexes=(*USERS.indexes, IndexShape("ix_legacy", ("legacy",))),
            foreign_keys=(),
        ),
        ORGS,
        table("unknown"),
    )
    items = diff(model, live)
    documented = {
        DriftKind.MISSING_TABLE: (Severity.ERROR, True),
        DriftKind.MISSING_COLUMN: (Severity.ERROR, None),  # depends on nullable/default
        DriftKind.MISSING_INDEX: (Severity.WARNING, True),
        DriftKind.MISSING_UNIQUE_CONSTRAINT: (Severity.WARNING, True),
        DriftKind.MISSING_FOREIGN_KEY: (Severity.WARNING, False),
        DriftKind.TYPE_MISMATCH: (Severity.WARNING, False),
        DriftKind.NULLABLE_MISMATCH: (Severity.WARNING, False),
        DriftKind.PRIMARY_KEY_MISMATCH: (Severity.WARNING, False),
        DriftKind.EXTRA_TABLE: (Severity.INFO, False),
        DriftKind.EXTRA_COLUMN: (Severity.INFO, False),
        DriftKind.EXTRA_INDEX: (Severity.INFO, False),
    }
    assert {i.kind for i in items} == set(documented)
    for item in items:
        severity, healable = documented[item.kind]
        assert item.severity is severity, item
        if healable is not None:
            assert item.healable is healable, item
    missing = {i.name: i.healable for i in items if i.kind is DriftKind.MISSING_COLUMN}
    assert missing == {"added": True, "strict": False}
    assert all(i.detail.endswith(".") or i.detail.endswith(")") for i in items)


def test_report_in_sync_ignores_info_but_not_warnings() -> None:
    info = only(diff(shape("sqlite", ORGS), shape("sqlite", ORGS, USERS)))
    warning = only(
        diff(shape("sqlite", USERS, ORGS), shape("sqlite", with_(USERS, foreign_keys=()), ORGS))
    )
    assert DriftReport(items=(info,)).in_sync
    assert not DriftReport(items=(info, warning)).in_sync
    assert DriftReport(items=(info, warning)).healable == ()
    data = DriftReport(items=(warning,)).to_dict()
    assert data["in_sync"] is False and data["items"][0]["kind"] == "missing_foreign_key"


def test_mysql_table_names_keep_their_case_when_the_server_says_so() -> None:
    """``lower_case_table_names=0`` (MySQL/MariaDB on Linux): only table names keep case."""
    live_users = with_(
        USERS,
        name="Users",
        columns=tuple(ColumnShape(c.name.upper(), c.type_text, c.nullable) for c in USERS.columns),
        primary_key=("ID",),
    )
    live = SchemaShape(
        "mysql", {(None, "Users"): live_users, (None, "orgs"): ORGS}, case_sensitive_tables=True
    )
    assert summary(diff(shape("mysql", USERS, ORGS), live)) == {
        ("missing_table", "users", None, "error", True),
        ("extra_table", "Users", None, "info", False),
    }
    same_case = SchemaShape(
        "mysql",
        {(None, "users"): with_(live_users, name="users"), (None, "orgs"): ORGS},
        case_sensitive_tables=True,
    )
    assert diff(shape("mysql", USERS, ORGS), same_case) == []


@pytest.mark.parametrize(
    ("default", "healable"),
    [
        ("CURRENT_TIMESTAMP", False),
        ("(datetime('now'))", False),
        ("strftime('%s', 'now')", False),
        ("0", True),
        ("pending", True),
        ("'(not a call)'", True),
    ],
)
def test_sqlite_cannot_add_a_column_with_a_non_constant_default(default: str, healable: bool):
    model = with_(USERS, columns=(*USERS.columns, col("stamp", "DATETIME", False, default)))
    for dialect in DIALECTS:
        item = only(diff(shape(dialect, model, ORGS), shape(dialect, USERS, ORGS)))
        assert item.kind is DriftKind.MISSING_COLUMN
        assert item.healable is (healable or dialect != "sqlite"), dialect
        if not item.healable:
            assert "SQLite cannot add a column whose default is not a constant" in item.hint
