"""One bind's check as the engine passes it around, and the report built from several."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from ..dialects import display_url, impl_for
from ..report import (
    DatabaseInfo,
    Drift,
    DriftKind,
    DriftReport,
    LockLevel,
    Operation,
    OperationKind,
    Severity,
)
from .targets import Target

logger = logging.getLogger("flask_schemaguard")


@dataclass
class BindCheck:
    """What a check found on one bind; ``fast`` when the recorded state answered."""

    items: list[Drift]
    info: DatabaseInfo
    fingerprint: str | None = None
    fast: bool = False
    table_names: set[str] = field(default_factory=set)
    enums: frozenset[tuple[str | None, str]] = frozenset()
    #: Operations that failed on this very schema and are not run again (from the record).
    failed: list[tuple[Operation, str]] = field(default_factory=list)


def report_of(checks: list[BindCheck]) -> DriftReport:
    items: list[Drift] = []
    for c in checks:
        items.extend(c.items)
    return DriftReport(items=tuple(items), databases=tuple(c.info for c in checks))


def info_of(target: Target) -> DatabaseInfo:
    return DatabaseInfo(target.bind, target.dialect, display_url(target.engine))


def unreachable(target: Target, exc: sa.exc.DBAPIError) -> BindCheck:
    message = db_message(target, exc)
    url = display_url(target.engine)
    logger.error("schemaguard: cannot reach database %s: %s", url, message)
    info = DatabaseInfo(target.bind, target.dialect, url, False, message)
    item = Drift(
        DriftKind.DATABASE_UNREACHABLE,
        None,
        None,
        Severity.ERROR,
        False,
        f"Cannot reach database {url}: {message}",
        target.bind,
    )
    return BindCheck([item], info)


def lock_timeout_check(target: Target, check: BindCheck, detail: str) -> BindCheck:
    """``check`` with a ``lock_timeout`` item first: another process held the heal lock."""
    item = Drift(DriftKind.LOCK_TIMEOUT, None, None, Severity.WARNING, False, detail, target.bind)
    return BindCheck([item, *check.items], check.info, check.fingerprint)


def db_message(target: Target, exc: sa.exc.DBAPIError) -> str:
    """The driver's message without SQL or parameters."""
    return impl_for(target.engine).error_message(exc)


def bind_name(target: Target) -> str:
    return "default bind" if target.bind is None else f"bind {target.bind!r}"


def blocks_heal(items: list[Drift]) -> bool:
    return any(i.kind is DriftKind.PENDING_MIGRATIONS for i in items)


def bind_in_sync(items: list[Drift]) -> bool:
    return not any(i.severity is not Severity.INFO for i in items)


Failed = list[tuple[Operation, str]]

NOT_RETRIED = (
    " (not run again: it failed on this same schema; it is retried when the schema or the "
    "models change, or by an explicit heal)"
)


def dump_items(items: list[Drift], failed: Failed | None = None) -> str:
    """A check's items as recorded; with the operations that failed, when some did."""
    listed = [i.to_dict() for i in items]
    if not failed:
        return json.dumps(listed, sort_keys=True)
    ops = [{"operation": op.to_dict(), "error": error} for op, error in failed]
    return json.dumps({"items": listed, "failed": ops}, sort_keys=True)


def load_state(text: str) -> tuple[list[Drift], Failed]:
    """The items and failed operations of a record (``dump_items``)."""
    data = json.loads(text)
    if isinstance(data, list):
        return _drifts(data), []
    failed = [(_operation(f["operation"]), str(f["error"])) for f in data["failed"]]
    return _drifts(data["items"]), failed


def _operation(d: dict[str, Any]) -> Operation:
    """A recorded operation, for the report (its DDL constructs are not kept: never run)."""
    return Operation(
        kind=OperationKind(d["kind"]),
        bind=d["bind"],
        schema=d["schema"],
        table=d["table"],
        name=d["name"],
        statements=tuple(d["statements"]),
        lock=LockLevel(d["lock"]),
    )


def load_items(text: str) -> list[Drift]:
    return load_state(text)[0]


def _drifts(data: list[dict[str, Any]]) -> list[Drift]:
    return [
        Drift(
            kind=DriftKind(d["kind"]),
            table=d["table"],
            name=d["name"],
            severity=Severity(d["severity"]),
            healable=d["healable"],
            detail=d["detail"],
            bind=d["bind"],
            schema=d["schema"],
            hint=d.get("hint"),
        )
        for d in data
    ]
