"""``flask schemaguard history`` and ``revision``: the audit trail, and a migration from it."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import click
import sqlalchemy as sa
from flask.cli import with_appcontext

from .cli_common import EXIT_DRIFT, bind_key, bind_option, fail, guard_state
from .engine.owned_tables import audit_table
from .errors import SchemaGuardError
from .render import text_table

HISTORY_HEADERS = (
    "time (UTC)",
    "bind",
    "operation",
    "target",
    "outcome",
    "host:pid",
    "ms",
    "error",
)


def _since(value: str | None) -> datetime | None:
    """``--since`` as naive UTC (how the audit table stores its times)."""
    if value is None:
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        fail(f"--since {value!r} is not an ISO date or time (say 2026-11-22 or 2026-11-22T09:00Z)")
    if when.tzinfo is not None:
        when = when.astimezone(timezone.utc).replace(tzinfo=None)
    return when


@click.command("history")
@with_appcontext
@click.option("--since", default=None, help="Only rows at or after this ISO date/time (UTC).")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(min=1))
@click.option("--json", "as_json", is_flag=True, help="Print rows as JSON.")
@bind_option
def history_command(since: str | None, limit: int, as_json: bool, bind: str | None) -> None:
    """Show the audit table of applied and failed operations, newest first."""
    state = guard_state()
    name = state.config.audit_table
    if name is None:
        fail("SCHEMAGUARD_AUDIT_TABLE is None: no audit trail is kept")
    keys = bind_key(state, bind)
    start = _since(since)
    table = audit_table(str(name))
    rows: list[dict[str, Any]] = []
    for target in state.targets:
        if keys is not None and target.bind not in keys:
            continue
        query = sa.select(table).order_by(table.c.created_at.desc(), table.c.id.desc())
        if start is not None:
            query = query.where(table.c.created_at >= start)
        try:
            with target.engine.connect() as conn:
                if sa.inspect(conn).has_table(table.name):
                    rows.extend(dict(r._mapping) for r in conn.execute(query.limit(limit)))
        except sa.exc.DBAPIError as exc:
            fail(
                f"cannot read {name} on bind {target.bind or 'default'}: "
                f"{str(exc.orig).splitlines()[0]}"
            )
    rows.sort(key=lambda r: (r["created_at"], r["id"]), reverse=True)
    rows = rows[:limit]
    for row in rows:  # stored as naive UTC: say so
        row["created_at"] = row["created_at"].replace(tzinfo=timezone.utc)
    if as_json:
        for row in rows:
            row["created_at"] = row["created_at"].isoformat().replace("+00:00", "Z")
        click.echo(json.dumps(rows, indent=2, default=str))
        return
    if not rows:
        click.echo("no operations recorded")
        return
    lines = [
        (
            r["created_at"].strftime("%Y-%m-%d %H:%M:%S"),
            r["bind"] or "default",
            r["operation"],
            r["table_name"] + (f".{r['object_name']}" if r["object_name"] else ""),
            r["outcome"],
            f"{r['host']}:{r['pid']}",
            f"{r['duration_ms'] or 0:.0f}",
            (r["error"] or "")[:60],
        )
        for r in rows
    ]
    click.echo("\n".join(text_table(lines, HISTORY_HEADERS)))


@click.command("revision")
@with_appcontext
@click.option("-m", "--message", default=None, help="The revision's message.")
@click.option(
    "--from-drift",
    "source",
    flag_value="drift",
    default=True,
    help="The additive operations a heal would run now (the default).",
)
@click.option(
    "--from-history",
    "source",
    flag_value="history",
    help="What the guard healed on this database since its Alembic revision last changed; "
    "then stamps this database at the new revision.",
)
@click.option("--directory", default=None, help="The Alembic migrations directory.")
@bind_option
def revision_command(
    message: str | None, source: str, directory: str | None, bind: str | None
) -> None:
    """Write an Alembic migration for the drift (or the heal history) of one bind.

    Exit status: 0 written, 1 nothing to write, 2 unreachable, bad configuration or no
    migrations directory.
    """
    try:  # Alembic is optional: only this command needs it
        from .revision import migrations_directory, write_revision
    except ImportError as exc:
        fail(f"flask schemaguard revision needs Alembic (pip install alembic): {exc}")
    state = guard_state()
    keys = bind_key(state, bind) or {None}
    from_history = source == "history"
    default_message = "heal history" if from_history else "schema drift"
    try:
        written = write_revision(
            state,
            message=message or f"flask-schemaguard: {default_message}",
            from_history=from_history,
            bind=next(iter(keys)),
            directory=migrations_directory(state, directory),
        )
    except (SchemaGuardError, sa.exc.DBAPIError) as exc:
        fail(str(getattr(exc, "orig", exc)).splitlines()[0])
    for comment in written.comments:
        click.echo(f"not expressible: {comment}")
    if written.path is None:
        click.echo("nothing to write")
        raise SystemExit(EXIT_DRIFT)
    for described in written.operations:
        click.echo(f"  {described}")
    if from_history:
        click.echo(f"stamped this database at {written.revision}")
    click.echo(written.path)
