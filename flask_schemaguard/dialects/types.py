"""Column types as text, and compared the way the database can tell them apart.

Both sides are reduced to DDL type text (the model's type compiled for the dialect, the
database's declared or reflected type) and then parsed into a :class:`TypeInfo`: a *family*
(integer, string, datetime, ...) and the details the values depend on (length, precision and
scale, integer and float size, time zone, a variant such as CHAR or JSONB). Two columns differ
when their families differ, or when a detail differs that the database enforces
(:class:`TypeRules`, one per database: SQLite enforces none of them).
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Hashable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

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


#: Per type class: True when its DDL depends only on the class and instance state.
_plain_classes: dict[type, bool] = {}


def _plain_class(cls: type) -> bool:
    """SQLAlchemy's own types (not user types, whose ``load_dialect_impl`` may do anything)."""
    plain = _plain_classes.get(cls)
    if plain is None:
        plain = _plain_classes[cls] = cls.__module__.startswith("sqlalchemy.") and not issubclass(
            cls, (sa.types.TypeDecorator, sa.types.UserDefinedType)
        )
    return plain


def _type_key(type_: sa.types.TypeEngine[object]) -> Hashable | None:
    """Class and instance state of SQLAlchemy's own types (their DDL depends on nothing else);
    None for user types."""
    cls = type(type_)
    if not _plain_class(cls):
        return None
    state = type_.__dict__
    # ``dispatch``: a schema type's own event dispatcher, which DDL never depends on
    if "dispatch" in state:
        return (cls, tuple(kv for kv in state.items() if kv[0] != "dispatch"))
    return (cls, tuple(state.items()))


def compile_type(
    type_: sa.types.TypeEngine[object],
    dialect: Dialect,
    cache: dict[Hashable, str] | None = None,
) -> str:
    """DDL text of a type for a dialect; empty when it cannot be rendered. ``cache``: the
    dialect's :func:`text_cache`, when the caller has it at hand."""
    key = _type_key(type_)
    if key is None:
        return _compile_type(type_, dialect)
    if cache is None:
        cache = text_cache(dialect)
    try:
        text = cache.get(key)
    except TypeError:  # a list of enum values and the like: compile every time
        return _compile_type(type_, dialect)
    if text is None:
        text = cache[key] = _compile_type(type_, dialect)
    return text


def labels_of(
    type_: sa.types.TypeEngine[Any] | None, dialect: Dialect | None = None
) -> tuple[str, ...] | None:
    """The labels of an ENUM or SET type the database itself enforces (None otherwise):
    a model's ``Enum`` where ``dialect`` has native enums, or a reflected ENUM / SET."""
    if isinstance(type_, sa.Enum):
        if not type_.native_enum or (dialect is not None and not dialect.supports_native_enum):
            return None
        return tuple(str(label) for label in type_.enums)
    if type_ is not None and getattr(type_, "__visit_name__", "") == "SET":  # MySQL's SET
        return tuple(str(label) for label in getattr(type_, "values", ()))
    return None


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
_FIXED_CHARS = ("CHAR", "NCHAR", "CHARACTER", "NATIONAL CHAR")
_VARCHARS = ("VARCHAR", "NVARCHAR", "CHARACTER VARYING", "VARCHAR2", "NATIONAL VARCHAR")
_INT_SIZES = {
    "TINYINT": 1,
    "SMALLINT": 2,
    "INT2": 2,
    "SMALLSERIAL": 2,
    "MEDIUMINT": 3,
    "INT": 4,
    "INTEGER": 4,
    "INT4": 4,
    "SERIAL": 4,
    "BIGINT": 8,
    "INT8": 8,
    "BIGSERIAL": 8,
}
#: MySQL's TEXT and BLOB types, by the most bytes they hold.
_SIZE_CLASSES = {"TINY": 255, "": 65_535, "MEDIUM": 16_777_215, "LONG": 4_294_967_295}


@dataclass(frozen=True)
class TypeInfo:
    """What DDL type text says about the values a column holds."""

    family: str
    #: Characters of a string type (bytes of a binary one); None: unbounded.
    length: int | None = None
    #: Digits of a NUMERIC (total, after the point); fractional seconds of a time type.
    precision: int | None = None
    scale: int | None = None
    #: Bytes of an integer or floating-point type.
    size: int | None = None
    timezone: bool | None = None
    #: ``fixed`` (CHAR), ``jsonb``, ``unsigned``: a variant the family holds differently.
    variant: str | None = None


@dataclass(frozen=True)
class TypeRules:
    """How one database stores types: which details it enforces, which families it merges."""

    #: Pairs of families the same storage holds (SQLite: NUMERIC and REAL affinities mix).
    compatible: frozenset[frozenset[str]] = frozenset()
    #: String / binary lengths are enforced (a different one is drift).
    enforces_length: bool = True
    #: Precision and scale, integer and float sizes, time zones, variants are enforced.
    enforces_details: bool = True
    #: Bytes of a FLOAT without a precision (PostgreSQL: double, MySQL: single).
    float_size: int = 8
    #: MySQL: BOOL is TINYINT(1); TEXT(n) / BLOB(n) are size classes.
    mysql: bool = False


@lru_cache(maxsize=4096)
def parse_type(type_text: str, mysql: bool = False) -> TypeInfo:
    """What ``type_text`` declares; family ``unknown`` when there is no type."""
    text = type_text.strip().upper()
    if not text or text in ("NULL", "NULLTYPE"):
        return TypeInfo("unknown")
    match = _BASE.match(text)
    if match is None:
        return TypeInfo(f"other:{text}")
    words = match.group(1).split()
    base = " ".join(words[:2]) if " ".join(words[:2]) in _TWO_WORDS else words[0]
    args_match = _ARGS.search(text, match.end())
    args = args_match.group(1) if args_match and args_match.start() == match.end() else None
    if text.endswith("[]"):
        return TypeInfo(f"array:{parse_type(base, mysql).family}")
    numbers = _ints(args)
    first = numbers[0] if numbers else None
    if mysql and (base in ("BOOL", "BOOLEAN") or (base == "TINYINT" and first == 1)):
        return TypeInfo("integer", size=1, variant=_unsigned(text))
    if "BOOL" in base:
        return TypeInfo("boolean")
    if base.startswith("ENUM"):
        return TypeInfo("enum")
    if base == "SET":
        return TypeInfo("set")
    if base in _INT_SIZES:
        return TypeInfo("integer", size=_INT_SIZES[base], variant=_unsigned(text))
    if base.startswith("INTERVAL"):
        return TypeInfo("interval")
    if "INT" in base and not base.endswith("POINT"):  # SQLite's affinity rule
        return TypeInfo("integer")
    if base in _FIXED_CHARS:
        return TypeInfo("string", length=first if first is not None else 1, variant="fixed")
    if base in _VARCHARS:
        return TypeInfo("string", length=first)
    if mysql and base == "LONGTEXT" and "UTF8MB4_BIN" in text:
        return TypeInfo("json")  # MariaDB's JSON: LONGTEXT COLLATE utf8mb4_bin + CHECK
    if mysql and base.endswith("TEXT") and base[:-4] in _SIZE_CLASSES:
        return TypeInfo("string", length=_size_class(base[:-4], first))
    if mysql and base.endswith("BLOB") and base[:-4] in _SIZE_CLASSES:
        return TypeInfo("binary", length=_size_class(base[:-4], first))
    if "TEXT" in base or "CLOB" in base:
        return TypeInfo("string")
    if base in ("STRING", "CITEXT"):
        return TypeInfo("string")
    if base in ("JSON", "JSONB"):
        return TypeInfo("json", variant="jsonb" if base == "JSONB" else None)
    if base in ("UUID", "UNIQUEIDENTIFIER"):
        return TypeInfo("uuid")
    if base.startswith("TIMESTAMP") or base.startswith("DATETIME"):
        if mysql:  # TIMESTAMP is stored in UTC and converted: DATETIME is not
            zone = base.startswith("TIMESTAMP")
        else:
            zone = base == "TIMESTAMPTZ" or "WITH TIME ZONE" in text
        return TypeInfo("datetime", precision=first, timezone=zone)
    if base == "DATE":
        return TypeInfo("date")
    if base.startswith("TIME"):
        zone = base == "TIMETZ" or (not mysql and "WITH TIME ZONE" in text)
        return TypeInfo("time", precision=first, timezone=zone)
    if base.startswith("INTERVAL"):
        return TypeInfo("interval")
    if base in ("REAL", "FLOAT4"):
        return TypeInfo("float", size=4 if not mysql else 8)
    if base in ("DOUBLE", "DOUBLE PRECISION", "FLOAT8"):
        return TypeInfo("float", size=8)
    if base == "FLOAT":
        size = None if first is None or len(numbers) > 1 else (4 if first <= 24 else 8)
        return TypeInfo("float", size=size)
    if base in ("NUMERIC", "DECIMAL", "NUMBER", "DEC", "FIXED"):
        scale = numbers[1] if len(numbers) > 1 else (0 if first is not None else None)
        return TypeInfo("numeric", precision=first, scale=scale)
    if base == "MONEY":
        return TypeInfo("other:MONEY")
    if base in ("BYTEA", "BLOB"):
        return TypeInfo("binary")
    if base in ("BINARY", "VARBINARY"):
        return TypeInfo("binary", length=first if first is not None or base == "VARBINARY" else 1)
    if base == "BIT VARYING":
        return TypeInfo("binary")
    return TypeInfo(f"other:{base}")


def _ints(args: str | None) -> tuple[int, ...]:
    if not args:
        return ()
    parts = [p.strip() for p in args.split(",")]
    return tuple(int(p) for p in parts if p.isdigit())


def _unsigned(text: str) -> str | None:
    return "unsigned" if "UNSIGNED" in text else None


def _size_class(prefix: str, declared: int | None) -> int:
    """MySQL's TEXT(n) / BLOB(n) is the smallest class that holds n bytes."""
    if declared is None:
        return _SIZE_CLASSES[prefix]
    return next(size for size in _SIZE_CLASSES.values() if size >= declared)


@lru_cache(maxsize=4096)
def type_family(type_text: str, tinyint_boolean: bool = False) -> tuple[str, int | None]:
    """Map DDL type text to ``(family, length)``; ``("unknown", None)`` when there is none."""
    info = parse_type(type_text, tinyint_boolean)
    return info.family, info.length


Families = frozenset[frozenset[str]]


def types_match(model_text: str, db_text: str, rules: TypeRules = TypeRules()) -> bool:
    """True when the database cannot tell the model's type from the reflected one."""
    model = parse_type(model_text, rules.mysql)
    db = parse_type(db_text, rules.mysql)
    if "unknown" in (model.family, db.family):
        return True
    if model.family != db.family:
        return frozenset({model.family, db.family}) in rules.compatible
    family = model.family
    if family in ("string", "binary") and rules.enforces_length and model.length != db.length:
        return False
    if not rules.enforces_details:
        return True
    if model.variant != db.variant:
        return False
    if family == "numeric" and model.precision is not None:
        return (model.precision, model.scale) == (db.precision, db.scale)
    if family == "integer":
        return model.size is None or db.size is None or model.size == db.size
    if family == "float":
        return (model.size or rules.float_size) == (db.size or rules.float_size)
    if family in ("datetime", "time"):
        if bool(model.timezone) != bool(db.timezone):
            return False
        return model.precision is None or model.precision == db.precision
    return True
