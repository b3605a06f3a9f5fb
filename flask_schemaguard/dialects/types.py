"""Column types as text, and compared the way the database can tell them apart.

Both sides are reduced to DDL type text (the model's type compiled for the dialect, the
database's declared or reflected type) and then to a *family* (integer, string, datetime, ...)
plus a length for character types. Two columns differ only when their families differ (or
both are VARCHAR-like with different declared lengths on a database that enforces them).
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Hashable
from functools import lru_cache

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

# Compiling a type or a default costs microseconds, and a model has thousands of columns but
# few distinct types: texts are kept per dialect object, keyed by what the output depends on.
_texts: weakref.WeakKeyDictionary[Dialect, dict[Hashable, str]] = weakref.WeakKeyDictionary()


def text_cache(dialect: Dialect) -> dict[Hashable, str]:
    try:
        return _texts[dialect]
    except KeyError:
        return _texts.setdefault(dialect, {})
    except TypeError:  # not weak-referenceable: no cache
        return {}


def _type_key(type_: sa.types.TypeEngine[object]) -> Hashable | None:
    """Class and instance state of SQLAlchemy's own types (their DDL depends on nothing else);
    None for user types, whose ``load_dialect_impl`` may do anything."""
    cls = type(type_)
    if not cls.__module__.startswith("sqlalchemy.") or isinstance(
        type_, (sa.types.TypeDecorator, sa.types.UserDefinedType)
    ):
        return None
    # ``dispatch``: a schema type's own event dispatcher, which DDL never depends on
    key = (cls, tuple(kv for kv in type_.__dict__.items() if kv[0] != "dispatch"))
    try:
        hash(key)
    except TypeError:  # a list of enum values and the like: compile every time
        return None
    return key


def compile_type(type_: sa.types.TypeEngine[object], dialect: Dialect) -> str:
    """DDL text of a type for a dialect; empty when it cannot be rendered."""
    key = _type_key(type_)
    if key is not None:
        cache = text_cache(dialect)
        text = cache.get(key)
        if text is None:
            text = cache[key] = _compile_type(type_, dialect)
        return text
    return _compile_type(type_, dialect)


def _compile_type(type_: sa.types.TypeEngine[object], dialect: Dialect) -> str:
    try:
        return str(type_.compile(dialect=dialect))
    except Exception:  # NullType and exotic user types have no DDL form
        return ""


_BASE = re.compile(r"([A-Z_][A-Z0-9_ ]*)")
_ARGS = re.compile(r"\(([^)]*)\)")
_TWO_WORDS = (
    "DOUBLE PRECISION",
    "CHARACTER VARYING",
    "BIT VARYING",
    "NATIONAL CHAR",
    "NATIONAL VARCHAR",
)


@lru_cache(maxsize=4096)
def type_family(type_text: str, tinyint_boolean: bool = False) -> tuple[str, int | None]:
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
        inner, _ = type_family(base, tinyint_boolean)
        return f"array:{inner}", None
    first_arg = _first_int(args)
    if tinyint_boolean and base == "TINYINT" and first_arg == 1:
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


Families = frozenset[frozenset[str]]


def types_match(
    model_text: str,
    db_text: str,
    *,
    compatible: Families = frozenset(),
    enforces_length: bool = True,
    tinyint_boolean: bool = False,
) -> bool:
    """True when the database cannot tell the model's type from the reflected one.

    ``compatible``: pairs of families the same storage holds (MySQL's BOOL is TINYINT(1));
    ``enforces_length``: VARCHAR lengths differ only where the database enforces them.
    """
    model_family, model_len = type_family(model_text, tinyint_boolean)
    db_family, db_len = type_family(db_text, tinyint_boolean)
    if "unknown" in (model_family, db_family):
        return True
    if model_family != db_family:
        return frozenset({model_family, db_family}) in compatible
    if model_family == "string" and enforces_length:
        return model_len is None or db_len is None or model_len == db_len
    return True
