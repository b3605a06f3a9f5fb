"""Compare column types the way the database can tell them apart.

Both sides are reduced to DDL type text (the model's type compiled for the dialect, the
database's declared or reflected type) and then to a *family* (integer, string, datetime, ...)
plus a length for character types. Two columns differ only when their families differ (or
both are VARCHAR-like with different declared lengths on a database that enforces them).
"""

from __future__ import annotations

import re
from functools import lru_cache

_BASE = re.compile(r"([A-Z_][A-Z0-9_ ]*)")
_ARGS = re.compile(r"\(([^)]*)\)")
_TWO_WORDS = (
    "DOUBLE PRECISION",
    "CHARACTER VARYING",
    "BIT VARYING",
    "NATIONAL CHAR",
    "NATIONAL VARCHAR",
)

# Families that the same physical storage can hold, per dialect.
_COMPATIBLE: dict[str, frozenset[frozenset[str]]] = {
    "mysql": frozenset(
        {
            frozenset({"boolean", "integer"}),  # BOOL is TINYINT(1)
            frozenset({"json", "string"}),  # MariaDB: JSON is LONGTEXT + CHECK
        }
    ),
    "sqlite": frozenset({frozenset({"numeric", "float"})}),
}


@lru_cache(maxsize=4096)
def type_family(type_text: str, dialect: str) -> tuple[str, int | None]:
    """Map DDL type text to ``(family, length)``; ``("unknown", None)`` when there is none."""
    text = type_text.strip().upper()
    if not text or text in ("NULL", "NULLTYPE"):
        return "unknown", None
    match = _BASE.match(text)
    if match is None:
        return f"other:{text}", None
    words = match.group(1).split()
    base = " ".join(words[:2]) if " ".join(words[:2]) in _TWO_WORDS else words[0]
    args_match = _ARGS.search(text, match.end())
    args = args_match.group(1) if args_match and args_match.start() == match.end() else None
    if text.endswith("[]"):
        inner, _ = type_family(base, dialect)
        return f"array:{inner}", None
    first_arg = _first_int(args)
    if dialect == "mysql" and base == "TINYINT" and first_arg == 1:
        return "boolean", None
    if "BOOL" in base:
        return "boolean", None
    if base.startswith("ENUM"):
        return "enum", None
    if base == "SET":
        return "set", None
    if "INT" in base or base in ("SERIAL", "BIGSERIAL", "SMALLSERIAL"):
        return "integer", None
    if base in (
        "CHAR",
        "VARCHAR",
        "NVARCHAR",
        "NCHAR",
        "CHARACTER VARYING",
        "CHARACTER",
        "VARCHAR2",
        "NATIONAL CHAR",
        "NATIONAL VARCHAR",
    ):
        length = first_arg if base not in ("CHAR", "NCHAR", "CHARACTER") else None
        return "string", length
    if "TEXT" in base or "CLOB" in base or base in ("STRING", "CITEXT"):
        return "string", None
    if base in ("JSON", "JSONB"):
        return "json", None
    if base in ("UUID", "UNIQUEIDENTIFIER"):
        return "uuid", None
    if base.startswith("TIMESTAMP") or base.startswith("DATETIME"):
        return "datetime", None
    if base == "DATE":
        return "date", None
    if base.startswith("TIME"):
        return "time", None
    if base.startswith("INTERVAL"):
        return "interval", None
    if base in ("FLOAT", "REAL", "DOUBLE", "DOUBLE PRECISION", "FLOAT4", "FLOAT8"):
        return "float", None
    if base in ("NUMERIC", "DECIMAL", "NUMBER", "DEC", "FIXED", "MONEY"):
        return "numeric", None
    if "BLOB" in base or base in ("BYTEA", "BINARY", "VARBINARY", "BIT VARYING"):
        return "binary", None
    return f"other:{base}", None


def _first_int(args: str | None) -> int | None:
    if not args:
        return None
    head = args.split(",", 1)[0].strip()
    return int(head) if head.isdigit() else None


def types_match(model_text: str, db_text: str, dialect: str) -> bool:
    """True when the database cannot tell the model's type from the reflected one."""
    model_family, model_len = type_family(model_text, dialect)
    db_family, db_len = type_family(db_text, dialect)
    if "unknown" in (model_family, db_family):
        return True
    if model_family != db_family:
        pair = frozenset({model_family, db_family})
        return pair in _COMPATIBLE.get(dialect, frozenset())
    if model_family == "string" and dialect != "sqlite":
        return model_len is None or db_len is None or model_len == db_len
    return True
