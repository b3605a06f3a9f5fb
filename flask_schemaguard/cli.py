"""``flask schemaguard status | plan | heal | history | revision``: thin adapters over the guard."""

from __future__ import annotations

import json

import click
from flask import current_app
from flask.cli import AppGroup

from .cli_common import (
    EXIT_DRIFT,
    EXIT_ERROR,
    EXIT_IN_SYNC,
    bind_key,
    bind_option,
    exit_if_unreachable,
    fail,
    guard_state,
    only_binds,
)
from .cli_history import history_command, revision_command
from .errors import SchemaGuardError
from .render import database_lines, detail_line, drift_table
from .report import Severity

schemaguard_cli = AppGroup("schemaguard", help="Check and heal database schema drift.")
schemaguard_cli.add_command(history_command)
schemaguard_cli.add_command(revision_command)


@schemaguard_cli.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option(
    "--record",
    is_flag=True,
    help="Record the state of each database in sync (its guard state table), so that every "
    "later process, check mode included, checks it with one fingerprint query.",
)
@bind_option
def status_command(as_json: bool, record: bool, bind: str | None) -> None:
    """Show each database and the drift between it and the models.

    With --record (a deploy step, in any mode): a full check, and the state of each database
    found in sync is recorded for the fast path; nothing else is written.

    Exit status: 0 in sync, 1 drift, 2 database unreachable or bad configuration.
    """
    state = guard_state()
    keys = bind_key(state, bind)
    recorded: dict[str | None, str] = {}
    try:
        if record:
            full, recorded = state.runner.record(keys)
            report = only_binds(full, keys)
        else:
            report = only_binds(state.runner.check(), keys)
    except SchemaGuardError as exc:
        fail(str(exc))
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
    for bind_name, outcome in recorded.items():
        # on stderr: --json's standard output stays the report alone
        click.echo(f"{bind_name or 'default'}: {RECORD_OUTCOMES[outcome]}", err=True)
    if any(not d.reachable for d in report.databases):
        raise SystemExit(EXIT_ERROR)
    raise SystemExit(EXIT_IN_SYNC if report.in_sync else EXIT_DRIFT)


#: What ``status --record`` did for each bind, as it says it.
RECORD_OUTCOMES = {
    "recorded": "state recorded: later checks of these models on this schema take the fast path",
    "drift": "state not recorded: the database is not in sync with the models",
    "changed": "state not recorded: the schema changed during the check; run it again",
    "unreachable": "state not recorded: the database is unreachable",
}


#: What each ``Operation.lock`` means for the app's queries, as ``plan --sql`` says it.
LOCK_MEANING = {
    "none": "reads and writes go on",
    "brief": "an exclusive lock for an instant, waited for at most SCHEMAGUARD_DDL_LOCK_TIMEOUT",
    "blocks_writes": "writes to the table wait until the heal commits",
    "rewrites": "the whole table is rewritten under an exclusive lock",
}


@schemaguard_cli.command("plan")
@click.option("--sql", "show_sql", is_flag=True, help="Print each operation's DDL and lock.")
@bind_option
def plan_command(show_sql: bool, bind: str | None) -> None:
    """List the operations a heal would run now (read-only).

    Exit status: 0 listed (or nothing to do), 2 database unreachable or bad configuration.
    """
    state = guard_state()
    try:
        plan, report = state.runner.plan_with_report(bind_key(state, bind))
    except SchemaGuardError as exc:
        fail(str(exc))
    exit_if_unreachable(report)
    operations = plan.operations
    left = [i for i in plan.skipped if i.hint and i.hint.startswith("not healed online")]
    if not operations and not left:
        click.echo("nothing to do")
        return
    for op in operations:
        click.echo(f"{op.describe()} ({op.bind or 'default'})")
        if show_sql:
            click.echo(f"    -- lock: {op.lock.value} ({LOCK_MEANING[op.lock.value]})")
            click.echo(f"    {op.sql.replace(chr(10), chr(10) + '    ')};")
    for item in left:
        click.echo(f"left for a person: {item.kind.value} {item.where()}: {item.hint}")


@schemaguard_cli.command("heal")
@click.option("--dry-run", is_flag=True, help="Show what would be applied; change nothing.")
@bind_option
def heal_command(dry_run: bool, bind: str | None) -> None:
    """Heal safe drift now: create missing tables, columns, indexes and sequences, add enum
    labels (PostgreSQL); unique indexes on existing tables and schemas only when allowed.

    Exit status: 0 when nothing failed, 1 when an operation failed or error-level drift
    remains, 2 database unreachable or bad configuration.
    """
    state = guard_state()
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    try:
        result = state.guard.heal(dry_run=dry_run, app=app, binds=bind_key(state, bind))
    except SchemaGuardError as exc:
        fail(str(exc))
    verb = "would apply" if dry_run else "applied"
    for op in result.applied:
        click.echo(f"{verb}: {op.describe()}")
    for op, error in result.failed:
        click.echo(f"failed: {op.describe()}: {error}")
    for item in result.skipped:
        hint = f" ({item.hint})" if item.hint else ""
        click.echo(f"skipped: {item.kind.value} {item.where()}{hint}")
    click.echo(
        f"{len(result.applied)} {verb}, {len(result.failed)} failed, {len(result.skipped)} skipped"
    )
    exit_if_unreachable(result.after)
    errors = [i for i in result.after.items if i.severity is Severity.ERROR]
    raise SystemExit(EXIT_DRIFT if result.failed or (errors and not dry_run) else EXIT_IN_SYNC)


__all__ = ["EXIT_ERROR", "schemaguard_cli"]
