"""The schema fingerprint and the fast path, on real databases.

Any schema change, by anyone, must change the fingerprint (else the fast path would report a
stale in-sync state); data changes must not. The fast path itself costs one statement: the
fingerprint with the recorded state in the same round trip.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from statements import counted, hit_statements

from flask_schemaguard.dialects import impl_for
from flask_schemaguard.engine.runner import Runner, Settings
from flask_schemaguard.engine.targets import metadata_target

BASE = [
    "CREATE TABLE parent (id INTEGER NOT NULL PRIMARY KEY, code VARCHAR(20))",
    "CREATE TABLE child (id INTEGER NOT NULL PRIMARY KEY, name VARCHAR(50), qty INTEGER, "
    "code VARCHAR(20), parent_id INTEGER)",
    "CREATE TABLE pk_t (a INTEGER NOT NULL, b INTEGER NOT NULL, PRIMARY KEY (a))",
]


def sqlite_rebuild(table: str, create: str, columns: str) -> list[str]:
    """SQLite changes a column's type, nullability, constraints or key by rebuilding."""
    return [
        f"ALTER TABLE {table} RENAME TO old_{table}",
        create,
        f"INSERT INTO {table} ({columns}) SELECT {columns} FROM old_{table}",
        f"DROP TABLE old_{table}",
    ]


CHILD_COLUMNS = "id, name, qty, code, parent_id"


def child(name: str = "VARCHAR(50)", extra: str = "") -> str:
    return (
        f"CREATE TABLE child (id INTEGER NOT NULL PRIMARY KEY, name {name}, qty INTEGER, "
        f"code VARCHAR(20), parent_id INTEGER{extra})"
    )


# (drift kind, {database: statements}); each applies on top of the previous ones
CHANGES: list[tuple[str, dict[str, list[str]]]] = [
    ("add table", {"*": ["CREATE TABLE extra (id INTEGER NOT NULL PRIMARY KEY)"]}),
    ("drop table", {"*": ["DROP TABLE extra"]}),
    ("add column", {"*": ["ALTER TABLE child ADD COLUMN note VARCHAR(10)"]}),
    ("drop column", {"*": ["ALTER TABLE child DROP COLUMN note"]}),
    (
        "change type (length)",
        {
            "sqlite": sqlite_rebuild("child", child("VARCHAR(80)"), CHILD_COLUMNS),
            "postgresql": ["ALTER TABLE child ALTER COLUMN name TYPE VARCHAR(80)"],
            "mysql": ["ALTER TABLE child MODIFY name VARCHAR(80)"],
        },
    ),
    (
        "change type (family)",
        {
            "sqlite": sqlite_rebuild("child", child("TEXT"), CHILD_COLUMNS),
            "postgresql": ["ALTER TABLE child ALTER COLUMN name TYPE TEXT"],
            "mysql": ["ALTER TABLE child MODIFY name TEXT"],
        },
    ),
    (
        "change nullability",
        {
            "sqlite": sqlite_rebuild("child", child("TEXT NOT NULL"), CHILD_COLUMNS),
            "postgresql": ["ALTER TABLE child ALTER COLUMN name SET NOT NULL"],
            "mysql": ["ALTER TABLE child MODIFY name TEXT NOT NULL"],
        },
    ),
    ("add index", {"*": ["CREATE INDEX ix_child_qty ON child (qty)"]}),
    (
        "replace index (same name, other columns)",
        {
            "mysql": [
                "DROP INDEX ix_child_qty ON child",
                "CREATE INDEX ix_child_qty ON child (code)",
            ],
            "*": ["DROP INDEX ix_child_qty", "CREATE INDEX ix_child_qty ON child (code)"],
        },
    ),
    (
        "drop index",
        {"mysql": ["DROP INDEX ix_child_qty ON child"], "*": ["DROP INDEX ix_child_qty"]},
    ),
    (
        "add unique",
        {
            "sqlite": ["CREATE UNIQUE INDEX uq_child_code ON child (code)"],
            "*": ["ALTER TABLE child ADD CONSTRAINT uq_child_code UNIQUE (code)"],
        },
    ),
    (
        "add foreign key",
        {
            "sqlite": sqlite_rebuild(
                "child",
                child("TEXT NOT NULL", ", FOREIGN KEY (parent_id) REFERENCES parent (id)"),
                CHILD_COLUMNS,
            ),
            "*": [
                "ALTER TABLE child ADD CONSTRAINT fk_child_parent FOREIGN KEY (parent_id) "
                "REFERENCES parent (id)"
            ],
        },
    ),
    (
        "change primary key",
        {
            "sqlite": sqlite_rebuild(
                "pk_t",
                "CREATE TABLE pk_t (a INTEGER NOT NULL, b INTEGER NOT NULL, PRIMARY KEY (a, b))",
                "a, b",
            ),
            "postgresql": [
                "ALTER TABLE pk_t DROP CONSTRAINT pk_t_pkey",
                "ALTER TABLE pk_t ADD PRIMARY KEY (a, b)",
            ],
            "mysql": ["ALTER TABLE pk_t DROP PRIMARY KEY, ADD PRIMARY KEY (a, b)"],
        },
    ),
    (
        "change server default",
        {
            "sqlite": sqlite_rebuild(
                "pk_t",
                "CREATE TABLE pk_t (a INTEGER NOT NULL, b INTEGER NOT NULL DEFAULT 7, "
                "PRIMARY KEY (a, b))",
                "a, b",
            ),
            "*": ["ALTER TABLE pk_t ALTER COLUMN b SET DEFAULT 7"],
        },
    ),
]


def statements_for(kind: str, by_db: dict[str, list[str]]) -> list[str]:
    return by_db.get(kind, by_db.get("*", []))


def current(engine: sa.Engine) -> str:
    with engine.connect() as conn:
        return impl_for(conn).fingerprint(conn, [None])


def run(engine: sa.Engine, statements: list[str]) -> None:
    with engine.begin() as conn:
        for sql in statements:
            conn.exec_driver_sql(sql)


@pytest.fixture
def base(engine: sa.Engine) -> sa.Engine:
    run(engine, BASE)
    return engine


def test_every_drift_kind_changes_the_fingerprint(base: sa.Engine, db_kind: str) -> None:
    """Each change against the schema just before it (undoing one, like dropping the table
    just added, may rightly give an earlier schema's fingerprint back)."""
    before = current(base)
    for label, by_db in CHANGES:
        if label == "change server default" and db_kind == "postgresql":
            continue  # defaults are not compared by the diff; PostgreSQL's fingerprint skips them
        run(base, statements_for(db_kind, by_db))
        after = current(base)
        assert after != before, f"{label} did not change the fingerprint on {db_kind}"
        before = after


def test_data_changes_keep_the_fingerprint(base: sa.Engine) -> None:
    before = current(base)
    run(
        base,
        [
            "INSERT INTO parent (id, code) VALUES (1, 'a')",
            "INSERT INTO child (id, name, qty, code, parent_id) VALUES (1, 'x', 2, 'a', 1)",
            "UPDATE child SET qty = 3",
            "DELETE FROM child",
        ],
    )
    assert current(base) == before
    assert current(base) == before  # stable across connections and calls


def _metadata() -> sa.MetaData:
    md = sa.MetaData()
    sa.Table(
        "item",
        md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(40), nullable=False),
        sa.Index("ix_item_name", "name"),
    )
    return md


def test_fingerprint_and_state_in_one_statement(engine: sa.Engine) -> None:
    target = metadata_target(_metadata(), engine)
    with engine.connect() as conn:  # no state table yet: nothing recorded
        impl = impl_for(conn)
        with counted(engine) as statements:
            fp, recorded = impl.fingerprint_and_state(conn, [None], "schemaguard_state", "h")
        assert recorded is None
        if impl.fingerprint_from_reflection:  # MariaDB: left to the full check's reads
            assert fp is None and len(statements) == 1
        else:
            assert fp == impl.fingerprint(conn, [None])
    healed = Runner([target]).heal()
    assert healed.after.in_sync and healed.applied
    with engine.connect() as conn:
        with counted(engine) as statements:
            fp, recorded = impl_for(conn).fingerprint_and_state(
                conn, [None], "schemaguard_state", target.models_hash
            )
        assert len(statements) == hit_statements(engine), statements
        assert fp == impl_for(conn).fingerprint(conn, [None])
        assert recorded is not None and recorded[0] == fp
        other = impl_for(conn).fingerprint_and_state(conn, [None], "schemaguard_state", "other")
        assert other[1] is None


def test_fast_path_costs_one_statement_and_sees_every_change(engine: sa.Engine) -> None:
    md = _metadata()
    Runner([metadata_target(md, engine)]).heal()  # creates the table, records the state

    runner = Runner([metadata_target(md, engine)])  # a new process: nothing in memory
    with counted(engine) as statements:
        report = runner.check()
    assert report.in_sync
    assert len(statements) == hit_statements(engine), statements
    with counted(engine) as statements:  # the same process again: the fingerprint only
        assert runner.check().in_sync
    with engine.connect() as conn:
        with counted(engine) as fingerprint_only:
            impl_for(conn).fingerprint(conn, [None])
    assert statements == fingerprint_only

    # someone drops the index: both the new and the running process see it at once
    run(
        engine, ["DROP INDEX ix_item_name" + (" ON item" if engine.dialect.name == "mysql" else "")]
    )
    for checker in (Runner([metadata_target(md, engine)]), runner):
        kinds = [i.kind.value for i in checker.check().items]
        assert kinds == ["missing_index"]


def test_check_mode_remembers_in_memory_only(engine: sa.Engine) -> None:
    md = _metadata()
    md.create_all(engine)
    runner = Runner([metadata_target(md, engine)], Settings(record_state_in_database=False))
    assert runner.check().in_sync
    with counted(engine) as statements:
        assert runner.check().in_sync
    assert len(statements) == 1
    assert "schemaguard_state" not in sa.inspect(engine).get_table_names()
