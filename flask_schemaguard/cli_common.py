"""What every ``flask schemaguard`` command shares: the app's guard, errors, binds, exits."""

from __future__ import annotations

from typing import Any, NoReturn

import click
from flask import current_app

from .report import DriftReport
from .state import ConfigErrorState, GuardState, get_state

EXIT_IN_SYNC, EXIT_DRIFT, EXIT_ERROR = 0, 1, 2

bind_option = click.option(
    "--bind", default=None, help="Only this bind ('default' for the default one)."
)


def guard_state() -> GuardState:
    """The app's guard, or exit 2 saying why there is none."""
    try:
        state: Any = get_state(current_app._get_current_object())  # type: ignore[attr-defined]
    except RuntimeError as exc:
        fail(str(exc))
    if isinstance(state, ConfigErrorState):
        fail(f"invalid configuration: {state.error}")
    return state  # type: ignore[no-any-return]


def fail(message: str) -> NoReturn:
    click.echo(f"Error: {message}", err=True)
    raise SystemExit(EXIT_ERROR)


def bind_key(state: GuardState, bind: str | None) -> set[str | None] | None:
    """``--bind NAME`` as the set of bind keys to work on (None: every bind)."""
    if bind is None:
        return None
    known = {t.bind or "default": t.bind for t in state.targets}
    if bind not in known:
        fail(f"no bind named {bind!r}; known binds: {', '.join(sorted(known))}")
    return {known[bind]}


def only_binds(report: DriftReport, keys: set[str | None] | None) -> DriftReport:
    if keys is None:
        return report
    return DriftReport(
        tuple(i for i in report.items if i.bind in keys),
        tuple(d for d in report.databases if d.bind in keys),
    )


def exit_if_unreachable(report: DriftReport) -> None:
    """Say which database cannot be reached and exit 2 (a check could not run)."""
    down = [d for d in report.databases if not d.reachable]
    for database in down:
        click.echo(
            f"database {database.bind or 'default'} unreachable: {database.url}: {database.error}"
        )
    if down:
        click.echo("database unreachable")
        raise SystemExit(EXIT_ERROR)
