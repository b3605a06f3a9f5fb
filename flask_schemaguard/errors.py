"""Exceptions raised by flask-schemaguard."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .report import DriftReport


class SchemaGuardError(Exception):
    """Bad configuration, an unreachable database, or a lock that could not be had."""


class SchemaDriftError(SchemaGuardError):
    """The database schema differs from the models in a way that matters.

    Carries the findings: ``report`` (a :class:`DriftReport`, or None) and, for a write to a
    column the database lacks, ``table`` and ``column``.
    """

    def __init__(
        self,
        message: str,
        report: DriftReport | None = None,
        *,
        table: str | None = None,
        column: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.report = report
        self.table = table
        self.column = column

    def __str__(self) -> str:
        if self.report is None:
            return self.message
        lines = [self.message]
        lines.extend(
            f"  - {item.severity.value}: {item.detail}"
            for item in self.report.items
            if item.severity.value != "info"
        )
        return "\n".join(lines)
