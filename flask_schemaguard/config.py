"""Every ``SCHEMAGUARD_*`` key: one table of defaults, one validator, errors naming the key."""

from __future__ import annotations

import difflib
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .engine.planner import ALL_OPERATIONS, DEFAULT_OPERATIONS
from .errors import SchemaGuardError

MODES = ("heal", "check", "strict", "off")
RUN_ON = ("init", "first_request", "manual")

DEFAULTS: dict[str, Any] = {
    "SCHEMAGUARD_MODE": "heal",
    "SCHEMAGUARD_RUN_ON": "init",
    "SCHEMAGUARD_ALLOWED_OPERATIONS": DEFAULT_OPERATIONS,
    "SCHEMAGUARD_ONLINE_DDL": True,
    "SCHEMAGUARD_EXCLUDE_TABLES": (),
    "SCHEMAGUARD_LOCK_TIMEOUT": 30,
    "SCHEMAGUARD_DDL_LOCK_TIMEOUT": 5,
    "SCHEMAGUARD_INDEX_TIMEOUT": 600,
    "SCHEMAGUARD_HEALTH_URL": "/healthz/schema",
    "SCHEMAGUARD_HEALTH_TOKEN": None,
    "SCHEMAGUARD_HEALTH_CACHE_SECONDS": 10,
    "SCHEMAGUARD_ERROR_HANDLERS": True,
    "SCHEMAGUARD_CORS_ORIGINS": "*",
    "SCHEMAGUARD_CORS_CREDENTIALS": False,
    "SCHEMAGUARD_HEAL_ON_ERROR": True,
    "SCHEMAGUARD_MIGRATIONS_DIR": None,
    "SCHEMAGUARD_DEGRADE_MISSING_COLUMNS": True,
    "SCHEMAGUARD_AUDIT_TABLE": "schemaguard_events",
    "SCHEMAGUARD_AUDIT_RETENTION_DAYS": None,
}

STATE_TABLE = "schemaguard_state"
#: The longest timeout any key takes, in seconds (one day): within what every database
#: accepts (PostgreSQL's timeouts stop at 2^31 - 1 ms, about 24.8 days).
MAX_TIMEOUT = 86400.0
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
#: An origin as browsers send it: scheme://host[:port], no path, no trailing slash.
_ORIGIN = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/\s]+$")


@dataclass(frozen=True)
class Config:
    """The validated configuration of one app."""

    mode: str
    run_on: str
    allowed_operations: frozenset[str]
    exclude_tables: tuple[str, ...]
    lock_timeout: float
    ddl_lock_timeout: float
    index_timeout: float
    online_ddl: bool
    health_url: str | None
    health_token: str | None
    health_cache_seconds: float
    error_handlers: bool
    cors_origins: tuple[str, ...]
    cors_credentials: bool
    heal_on_error: bool
    migrations_dir: str | None
    degrade_missing_columns: bool
    audit_table: str | None
    audit_retention_days: float | None = None


def _fail(key: str, value: Any, allowed: str) -> SchemaGuardError:
    return SchemaGuardError(f"{key}={value!r} is not valid: expected {allowed}.")


def _choice(key: str, value: Any, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value.lower() not in choices:
        raise _fail(key, value, "one of " + ", ".join(repr(c) for c in choices))
    return value.lower()


def _str_list(key: str, value: Any, what: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [v for v in (p.strip() for p in value.split(",")) if v]
    if not isinstance(value, (list, tuple, set, frozenset)) or not all(
        isinstance(v, str) and v for v in value
    ):
        raise _fail(key, value, f"a list of {what} (or a comma-separated string)")
    return tuple(value)


def _number(key: str, value: Any, *, minimum: float, strict: bool) -> float:
    """A finite number of seconds above ``minimum`` and at most ``MAX_TIMEOUT``."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if ok and (value > minimum if strict else value >= minimum) and value <= MAX_TIMEOUT:
        return float(value)
    bound = f"> {minimum:g}" if strict else f">= {minimum:g}"
    raise _fail(key, value, f"a finite number of seconds {bound} and <= {MAX_TIMEOUT:g}")


def _bool(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise _fail(key, value, "True or False")
    return value


def _optional_str(key: str, value: Any, what: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise _fail(key, value, f"None or {what}")
    return value


def _refuse_unknown_keys(config: Mapping[str, Any]) -> None:
    """A misspelled, mis-prefixed or lower-case key is an error naming the key it resembles."""
    for key in sorted(k for k in config if isinstance(k, str)):
        if key in DEFAULTS:
            continue
        normal = key.upper().replace("SCHEMA_GUARD_", "SCHEMAGUARD_")
        if not normal.startswith("SCHEMAGUARD_"):
            continue
        if normal in DEFAULTS:
            raise SchemaGuardError(
                f"Unknown configuration key {key}: did you mean {normal}? (keys are upper case "
                "and start with SCHEMAGUARD_)"
            )
        suffixes = {k.removeprefix("SCHEMAGUARD_"): k for k in DEFAULTS}
        close = difflib.get_close_matches(normal.removeprefix("SCHEMAGUARD_"), suffixes, 1, 0.7)
        known = ", ".join(sorted(DEFAULTS))
        hint = (
            f"did you mean {suffixes[close[0]]}?" if close else f"flask-schemaguard knows {known}"
        )
        raise SchemaGuardError(f"Unknown configuration key {key}: {hint}")


def load_config(config: Mapping[str, Any]) -> Config:
    """Validate an app's config (defaults already set); raise naming the first bad key."""
    _refuse_unknown_keys(config)
    get = config.get
    ops = (
        _str_list(
            "SCHEMAGUARD_ALLOWED_OPERATIONS", get("SCHEMAGUARD_ALLOWED_OPERATIONS"), "operations"
        )
        if get("SCHEMAGUARD_ALLOWED_OPERATIONS") not in ((), [])
        else ()
    )
    bad = [o for o in ops if o not in ALL_OPERATIONS]
    if bad:
        raise _fail(
            "SCHEMAGUARD_ALLOWED_OPERATIONS",
            get("SCHEMAGUARD_ALLOWED_OPERATIONS"),
            "a list drawn from " + ", ".join(sorted(ALL_OPERATIONS)),
        )
    exclude_value = get("SCHEMAGUARD_EXCLUDE_TABLES")
    exclude = (
        ()
        if exclude_value in ((), [], None)
        else _str_list("SCHEMAGUARD_EXCLUDE_TABLES", exclude_value, "table names or glob patterns")
    )
    health_url = _optional_str(
        "SCHEMAGUARD_HEALTH_URL", get("SCHEMAGUARD_HEALTH_URL"), "a path starting with '/'"
    )
    if health_url is not None and not health_url.startswith("/"):
        raise _fail("SCHEMAGUARD_HEALTH_URL", health_url, "None or a path starting with '/'")
    origins_value = get("SCHEMAGUARD_CORS_ORIGINS")
    if origins_value is None:
        origins: tuple[str, ...] = ()
    else:
        what = "origins such as 'https://app.example.com' (scheme://host[:port]), or '*'"
        origins = _str_list("SCHEMAGUARD_CORS_ORIGINS", origins_value, what)
        if any(o != "*" and not _ORIGIN.match(o) for o in origins):
            raise _fail("SCHEMAGUARD_CORS_ORIGINS", origins_value, "None or a list of " + what)
    credentials = _bool("SCHEMAGUARD_CORS_CREDENTIALS", get("SCHEMAGUARD_CORS_CREDENTIALS"))
    if credentials and "*" in origins:
        raise SchemaGuardError(
            "SCHEMAGUARD_CORS_CREDENTIALS=True cannot go with SCHEMAGUARD_CORS_ORIGINS='*': "
            "browsers refuse credentials for any origin. List the origins instead, e.g. "
            "SCHEMAGUARD_CORS_ORIGINS=['https://app.example.com']."
        )
    audit = _optional_str(
        "SCHEMAGUARD_AUDIT_TABLE",
        get("SCHEMAGUARD_AUDIT_TABLE"),
        "a table name (letters, digits, underscores)",
    )
    if audit is not None and not _IDENTIFIER.match(audit):
        raise _fail(
            "SCHEMAGUARD_AUDIT_TABLE",
            audit,
            "None or a table name (letters, digits, underscores, at most 63)",
        )
    if audit == STATE_TABLE:
        raise _fail("SCHEMAGUARD_AUDIT_TABLE", audit, f"a name other than {STATE_TABLE!r}")
    migrations_dir = get("SCHEMAGUARD_MIGRATIONS_DIR")
    if migrations_dir is not None:
        if not isinstance(migrations_dir, (str, os.PathLike)) or not os.fspath(migrations_dir):
            raise _fail("SCHEMAGUARD_MIGRATIONS_DIR", migrations_dir, "None or a directory path")
        migrations_dir = str(os.fspath(migrations_dir))
        if not os.path.isdir(migrations_dir):
            raise _fail(
                "SCHEMAGUARD_MIGRATIONS_DIR",
                migrations_dir,
                "None or an existing directory of Alembic migration scripts",
            )
    return Config(
        mode=_choice("SCHEMAGUARD_MODE", get("SCHEMAGUARD_MODE"), MODES),
        run_on=_choice("SCHEMAGUARD_RUN_ON", get("SCHEMAGUARD_RUN_ON"), RUN_ON),
        allowed_operations=frozenset(ops),
        exclude_tables=exclude,
        lock_timeout=_number(
            "SCHEMAGUARD_LOCK_TIMEOUT", get("SCHEMAGUARD_LOCK_TIMEOUT"), minimum=0, strict=False
        ),
        ddl_lock_timeout=_number(
            "SCHEMAGUARD_DDL_LOCK_TIMEOUT",
            get("SCHEMAGUARD_DDL_LOCK_TIMEOUT"),
            minimum=0,
            strict=True,
        ),
        index_timeout=_number(
            "SCHEMAGUARD_INDEX_TIMEOUT", get("SCHEMAGUARD_INDEX_TIMEOUT"), minimum=0, strict=True
        ),
        online_ddl=_bool("SCHEMAGUARD_ONLINE_DDL", get("SCHEMAGUARD_ONLINE_DDL")),
        health_url=health_url,
        health_token=_optional_str(
            "SCHEMAGUARD_HEALTH_TOKEN", get("SCHEMAGUARD_HEALTH_TOKEN"), "a non-empty token string"
        ),
        health_cache_seconds=_number(
            "SCHEMAGUARD_HEALTH_CACHE_SECONDS",
            get("SCHEMAGUARD_HEALTH_CACHE_SECONDS"),
            minimum=0,
            strict=False,
        ),
        error_handlers=_bool("SCHEMAGUARD_ERROR_HANDLERS", get("SCHEMAGUARD_ERROR_HANDLERS")),
        cors_origins=origins,
        cors_credentials=credentials,
        heal_on_error=_bool("SCHEMAGUARD_HEAL_ON_ERROR", get("SCHEMAGUARD_HEAL_ON_ERROR")),
        migrations_dir=migrations_dir,
        degrade_missing_columns=_bool(
            "SCHEMAGUARD_DEGRADE_MISSING_COLUMNS", get("SCHEMAGUARD_DEGRADE_MISSING_COLUMNS")
        ),
        audit_table=audit,
        audit_retention_days=_retention(get("SCHEMAGUARD_AUDIT_RETENTION_DAYS")),
    )


def _retention(value: Any) -> float | None:
    key = "SCHEMAGUARD_AUDIT_RETENTION_DAYS"
    if value is None:
        return None
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok or not math.isfinite(value) or value <= 0:
        raise _fail(key, value, "None (keep every row) or a finite number of days > 0")
    return float(value)
