"""``flask schemaguard status | plan | heal | history``: thin adapters over the guard."""

from __future__ import annotations

import json
from typing import Any

import click
import sqlalchemy as sa
from flask import current_app
from flask.cli import AppGroup

from .engine.owned_tables import audit_table
from .errors import SchemaGuardError
from .render import database_lines, detail_line, drift_table, text_table
from .report import DriftReport, Severity
from .state import ConfigErrorState, GuardState, get_state

EXIT_IN_SYNC, EXIT_DRIFT, EXIT_ERROR = 0, 1, 2

schemaguard_cli = AppGroup("schemaguard", help="Check and heal database schema drift.")


def _state() -> GuardState:
    try:
        state: Any = get_state(current_app._get_current_object())  # type: ignore[attr-defined]
    except RuntimeError as exc:
        _fail(str(exc))
        raise  # unreachable
    if isinstance(state, ConfigErrorState):
        _fail(f"invalid configuration: {state.error}")
    return state  # type: ignore[no-any-return]


def _fail(message: str) -> None:
    click.echo(f"Error: {message}", err=True)
    raise SystemExit(EXIT_ERROR)


def _filter_bind(report: DriftReport, bind: str | None) -> DriftReport:
    if bind is None:
        return report
    key = None if bind == "default" else bind
    known = [d.bind or "default" for d in report.databases]
    if bind not in known:
        _fail(f"no bind named {bind!r}; known binds: {', '.join(sorted(known))}")
    return DriftReport(
        tuple(i for i in report.items if i.bind == key),
        tuple(d for d in report.databases if d.bind == key),
    )


def _check_or_fail(state: GuardState) -> DriftReport:
    try:
        return state.runner.check()
    except SchemaGuardError as exc:
        _fail(str(exc))
        raise


@schemaguard_cli.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--bind", default=None, help="Only this bind ('default' for the default one).")
def status_command(as_json: bool, bind: str | None) -> None:
    """Show each database and the drift between it and the models.

    Exit status: 0 in sync, 1 drift, 2 database unreachable or bad configuration.
    """
    report = _filter_bind(_check_or_fail(_state()), bind)
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
    else:
        click.echo("\n".join(database_lines(report)))
        if report.items:
            click.echo("\n".join(drift_table(report.items)))
            for item in report.items:
                if item.severity is not Severity.INFO:
                    click.echo(detail_line(item))
        if any(not d.reachable for d in report.databases):
            click.echo("database unreachable")
        else:
            click.echo("in sync" if report.in_sync else "drift detected")
    if any(not d.reachable for d in report.databases):
        raise SystemExit(EXIT_ERROR)
    raise SystemExit(EXIT_IN_SYNC if report.in_sync else EXIT_DRIFT)


#: What each ``Operation.lock`` means for the app's queries, as ``plan --sql`` says it.
LOCK_MEANING = {
    "none": "reads and writes go on",
    "brief": "an exclusive lock for an instant, waited for at most SCHEMAGUARD_DDL_LOCK_TIMEOUT",
    "blocks_writes": "writes to the table wait until the heal commits",
    "rewrites": "the whole table is rewritten under an exclusive lock",
}


@schemaguard_cli.command("plan")
@click.option("--sql", "show_sql", is_flag=True, help="Print each operation's DDL.")
def plan_command(show_sql: bool) -> None:
    """List the operations a heal would run now (read-only)."""
    state = _state()
    try:
        plan = state.runner.plan_with_skipped()
    except SchemaGuardError as exc:
        _fail(str(exc))
        raise
    operations = plan.operations
    if not operations and not plan.skipped:
        click.echo("nothing to do")
        return
    for op in operations:
        click.echo(f"{op.describe()} ({op.bind or 'default'})")
        if show_sql:
            click.echo(f"    -- lock: {op.lock.value} ({LOCK_MEANING[op.lock.value]})")
            click.echo(f"    {op.sql.replace(chr(10), chr(10) + '    ')};")
    for item in plan.skipped:
        if item.hint and item.hint.startswith("not healed online"):
            click.echo(
                f"left for a person: {item.kind.value} {item.table}.{item.name}: {item.hint}"
            )


@schemaguard_cli.command("heal")
@click.option("--dry-run", is_flag=True, help="Show what would be applied; change nothing.")
def heal_command(dry_run: bool) -> None:
    """Heal safe drift now: create missing tables, columns and indexes.

    Exit status: 0 when nothing failed, 1 when an operation failed or error-level drift
    remains, 2 database unreachable or bad configuration.
    """
    state = _state()
    try:
        result = state.guard.heal(dry_run=dry_run, app=current_app._get_current_object())  # type: ignore[attr-defined]
    except SchemaGuardError as exc:
        _fail(str(exc))
        raise
    verb = "would apply" if dry_run else "applied"
    for op in result.applied:
        click.echo(f"{verb}: {op.describe()}")
    for op, error in result.failed:
        click.echo(f"failed: {op.describe()}: {error}")
    for item in result.skipped:
        hint = f" ({item.hint})" if item.hint else ""
        click.echo(
            f"skipped: {item.kind.value} {item.table or ''}"
            f"{'.' + item.name if item.name else ''}{hint}"
        )
    click.echo(
        f"{len(result.applied)} {verb}, {len(result.failed)} failed, {len(result.skipped)} skipped"
    )
    if any(not d.reachable for d in result.after.databases):
        raise SystemExit(EXIT_ERROR)
    errors = [i for i in result.after.items if i.severity is Severity.ERROR]
    raise SystemExit(EXIT_DRIFT if result.failed or (errors and not dry_run) else EXIT_IN_SYNC)


@schemaguard_cli.command("history")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(min=1))
@click.option("--json", "as_json", is_flag=True, help="Print rows as JSON.")
def history_command(limit: int, as_json: bool) -> None:
    """Show the audit table of applied and failed operations, newest first."""
    state = _state()
    name = state.config.audit_table
    if name is None:
        _fail("SCHEMAGUARD_AUDIT_TABLE is None: no audit trail is kept")

    table = audit_table(str(name))
    rows: list[dict[str, Any]] = []
    for target in state.targets:
        try:
            with target.engine.connect() as conn:
                if not sa.inspect(conn).has_table(table.name):
                    continue
                result = conn.execute(
                    sa.select(table)
                    .order_by(table.c.created_at.desc(), table.c.id.desc())
                    .limit(limit)
                )
                rows.extend(dict(r._mapping) for r in result)
        except sa.exc.DBAPIError as exc:
            _fail(
                f"cannot read {name} on bind {target.bind or 'default'}: "
                f"{str(exc.orig).splitlines()[0]}"
            )
    rows.sort(key=lambda r: (r["created_at"], r["id"]), reverse=True)
    rows = rows[:limit]
    if as_json:
        click.echo(json.dumps(rows, indent=2, default=str))
        return
    if not rows:
        click.echo("no operations recorded")
        return
    click.echo(
        "\n".join(
            text_table(
                [
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
                ],
                ("time (UTC)", "bind", "operation", "target", "outcome", "host:pid", "ms", "error"),
            )
        )
    )
