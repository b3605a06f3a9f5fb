"""PostgreSQL's ``ALTER TYPE ... ADD VALUE``, which SQLAlchemy has no construct for.

Built like ``ddl.AddColumn``: a ``DDLElement`` compiled by the dialect's own preparer (the
type's quoted, schema-qualified name) and literal renderer (the label), never by pasting
strings. ``IF NOT EXISTS`` makes it idempotent (PostgreSQL 9.3+); from PostgreSQL 12 it may
run inside the heal's transaction.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.schema import ExecutableDDLElement


class AddEnumValue(ExecutableDDLElement):
    """``ALTER TYPE <enum> ADD VALUE IF NOT EXISTS '<label>' [BEFORE | AFTER '<label>']``."""

    inherit_cache = False

    def __init__(
        self,
        enum: sa.Enum,
        label: str,
        *,
        after: str | None = None,
        before: str | None = None,
    ) -> None:
        self.enum = enum
        self.label = label
        self.after = after
        self.before = before


@compiles(AddEnumValue)
def _compile_add_enum_value(element: AddEnumValue, compiler: Any, **kw: Any) -> str:
    literal = compiler.sql_compiler.render_literal_value
    text = (
        f"ALTER TYPE {compiler.preparer.format_type(element.enum)} "
        f"ADD VALUE IF NOT EXISTS {literal(element.label, sa.String())}"
    )
    if element.after is not None:
        text += f" AFTER {literal(element.after, sa.String())}"
    elif element.before is not None:
        text += f" BEFORE {literal(element.before, sa.String())}"
    return text


def add_enum_values(
    enum: sa.Enum, wanted: tuple[str, ...], present: tuple[str, ...]
) -> list[ExecutableDDLElement]:
    """The labels of ``wanted`` not in ``present``, each placed after the label before it
    in ``wanted`` (or before the next one), so the type's order follows the model's."""
    have = list(present)
    out: list[ExecutableDDLElement] = []
    for position, label in enumerate(wanted):
        if label in have:
            continue
        previous = next((w for w in reversed(wanted[:position]) if w in have), None)
        following = next((w for w in wanted[position + 1 :] if w in have), None)
        if previous is not None:
            out.append(AddEnumValue(enum, label, after=previous))
        else:
            out.append(AddEnumValue(enum, label, before=following))
        have.append(label)
    return out
