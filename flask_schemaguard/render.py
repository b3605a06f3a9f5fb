"""Plain-text rendering of reports, shared by the CLI and the test helpers."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from .report import Drift, DriftReport

DRIFT_HEADERS = ("kind", "table", "name", "severity", "healable", "bind")


def text_table(rows: Sequence[Sequence[str]], headers: Sequence[str]) -> list[str]:
    """Left-aligned columns, a dashed rule under the headers."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    return [line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)]


def database_lines(report: DriftReport) -> list[str]:
    """One line per database: bind, dialect, masked URL, and whether it answered."""
    return [
        f"database {db.bind or 'default'} ({db.dialect}): {db.url}"
        + ("" if db.reachable else f"  UNREACHABLE: {db.error}")
        for db in report.databases
    ]


def drift_table(items: Iterable[Drift]) -> list[str]:
    """The drift items as a table: kind, table, name, severity, healable, bind."""
    rows = [
        (
            i.kind.value,
            (f"{i.schema}.{i.table}" if i.schema and i.table else i.table or "-"),
            i.name or "-",
            i.severity.value,
            "yes" if i.healable else "no",
            i.bind or "default",
        )
        for i in items
    ]
    return text_table(rows, DRIFT_HEADERS)


def detail_line(item: Drift) -> str:
    """``- <detail> (<hint>)``."""
    return f"- {item.detail}" + (f" ({item.hint})" if item.hint else "")
