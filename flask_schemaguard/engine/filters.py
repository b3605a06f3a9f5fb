"""Which tables a check looks at (exclusion patterns)."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable

#: Tables the guard owns or that belong to migration tools: never drift.
ALWAYS_EXCLUDED = ("alembic_version",)


class TableFilter:
    """Decides which tables are checked: glob patterns on ``name`` or ``schema.name``."""

    def __init__(self, patterns: Iterable[str] = (), owned: Iterable[str] = ()) -> None:
        self.patterns = tuple(patterns)
        self.owned = frozenset(n.lower() for n in (*owned, *ALWAYS_EXCLUDED))

    def excluded(self, schema: str | None, name: str) -> bool:
        if name.lower() in self.owned:
            return True
        qualified = f"{schema}.{name}" if schema else name
        return any(
            fnmatch.fnmatchcase(name, p) or fnmatch.fnmatchcase(qualified, p) for p in self.patterns
        )
