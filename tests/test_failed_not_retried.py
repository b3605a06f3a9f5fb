"""An operation that fails the same way on every start is not retried by every start.

A unique index over duplicate rows fails; the next start on the same schema fingerprint (and
models) reports it failed, with the database's message, without running it (no new audit
row); an explicit heal tries again; a change of the schema makes starts try again.
"""

from __future__ import annotations

import sqlalchemy as sa
from flask import Flask

from flask_schemaguard import SchemaGuard

OPS = "create_table, add_column, create_index, create_unique_index"


def models() -> sa.MetaData:
    md = sa.MetaData()
    sa.Table(
        "people",
        md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("email", sa.String(40)),
        sa.Index("ux_people_email", "email", unique=True),
    )
    return md


def start(engine: sa.Engine) -> Flask:
    """A new process's start: heal at init."""
    app = Flask(__name__)
    app.config["SCHEMAGUARD_ALLOWED_OPERATIONS"] = OPS
    SchemaGuard(app, metadata=models(), engine=engine)
    return app


def failed_rows(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(
            conn.exec_driver_sql(
                "SELECT COUNT(*) FROM schemaguard_events WHERE outcome = 'failed'"
            ).scalar()
        )


def test_a_failed_operation_is_not_retried_on_the_same_schema(engine: sa.Engine) -> None:
    old = sa.MetaData()
    sa.Table(
        "people",
        old,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("email", sa.String(40)),
    )
    old.create_all(engine)
    with engine.begin() as conn:
        conn.execute(old.tables["people"].insert(), [{"email": "a@x"}, {"email": "a@x"}])

    first = start(engine).extensions["schemaguard"].last_result
    ((op, message),) = first.failed
    assert op.kind.value == "create_unique_index" and "not run again" not in message
    assert failed_rows(engine) == 1

    for _ in range(3):  # later starts: reported failed, with the message, not run
        result = start(engine).extensions["schemaguard"].last_result
        ((again, again_message),) = result.failed
        assert again.name == "ux_people_email" and again_message.startswith(message)
        assert "not run again" in again_message
        assert not result.after.in_sync
    assert failed_rows(engine) == 1

    app = start(engine)  # an explicit heal is a person's decision: it tries again
    with app.app_context():
        explicit = app.extensions["schemaguard"].guard.heal()
    assert [o.name for o, _m in explicit.failed] == ["ux_people_email"]
    assert failed_rows(engine) == 2

    with engine.begin() as conn:  # the duplicates go and the schema changes: starts retry
        conn.execute(old.tables["people"].delete().where(old.tables["people"].c.id == 2))
        conn.exec_driver_sql("CREATE INDEX ix_people_unrelated ON people (id, email)")
    healed = start(engine).extensions["schemaguard"].last_result
    assert [o.name for o in healed.applied] == ["ux_people_email"] and healed.failed == ()
    assert healed.after.in_sync
