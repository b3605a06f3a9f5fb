"""SQLite's bulk catalog reader: ``sqlite_master`` joined with the table-valued pragma
functions (3 statements per schema); constraint names parsed from the CREATE TABLE text with
SQLAlchemy's own patterns, so the result equals ``Inspector.get_multi_*``'s."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy.engine import Connection

from ..shape import ColumnShape, ForeignKeyShape, IndexShape, SchemaShape, TableKey, TableShape
from .catalog import TypeTexts, step_aside, table_shape
from .inspector import fk_options

# SQLAlchemy internals this reader uses, in one place. Each may be absent from a SQLAlchemy
# version (FK_PATTERN is module-level only from 2.0.53): the reader then steps aside.
try:
    from sqlalchemy.dialects.sqlite.base import FK_PATTERN
except ImportError:  # depends on the SQLAlchemy version
    FK_PATTERN = None  # type: ignore[assignment]


def unavailable_internals(resolve_type_affinity: object) -> str:
    """The SQLAlchemy internals the reader needs that this version lacks ('' when none)."""
    missing = []
    if FK_PATTERN is None:
        missing.append("sqlalchemy.dialects.sqlite.base.FK_PATTERN")
    if resolve_type_affinity is None:
        missing.append("SQLiteDialect._resolve_type_affinity")
    return ", ".join(missing)


_SQLITE_TABLES = (
    "FROM {q}.sqlite_master AS m, {fn} "
    "WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite~_%' ESCAPE '~' "
)
_SQLITE_COLUMNS = (
    'SELECT m.name, p.name, p.type, p."notnull", p.dflt_value, p.pk, p.hidden, '
    "CASE WHEN p.cid = 0 THEN m.sql END "
    + _SQLITE_TABLES.format(q="{q}", fn="pragma_table_xinfo(m.name, {lit}) AS p")
    + "ORDER BY m.name, p.cid"
)
_SQLITE_INDEXES = (
    'SELECT m.name, il.name, il."unique", ii.name '
    + _SQLITE_TABLES.format(
        q="{q}",
        fn="pragma_index_list(m.name, {lit}) AS il, pragma_index_info(il.name, {lit}) AS ii",
    )
    + "ORDER BY m.name, il.seq, ii.seqno"
)
_SQLITE_FKS = (
    'SELECT m.name, f.id, f."table", f."from", f."to", f.on_delete, f.on_update '
    + _SQLITE_TABLES.format(q="{q}", fn="pragma_foreign_key_list(m.name, {lit}) AS f")
    + "ORDER BY m.name, f.id, f.seq"
)

# The patterns SQLAlchemy's SQLite dialect uses to name unique constraints (get_unique_constraints).
_SQLITE_UNIQUE = re.compile(r'(?:CONSTRAINT\s+(?:"(.+?)"|(\w+))\s+)?UNIQUE\s*\((.+?)\)', re.I)
_SQLITE_INLINE_UNIQUE = re.compile(
    r'(?:(".+?")|(?:[\[`])?([a-z0-9_]+)(?:[\]`])?)[\t ]'
    r"+[a-z0-9_]+(?:[\t ]+[a-z0-9_]+)*?[\t ]+UNIQUE",
    re.I,
)
_SQLITE_COLS_IN_SIG = re.compile(r'(?:"(.+?)")|([a-z0-9_]+)', re.I)


def _sqlite_cols(sig: str) -> list[str]:
    return [m.group(1) or m.group(2) for m in _SQLITE_COLS_IN_SIG.finditer(sig)]


def _sqlite_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def read_sqlite(conn: Connection, schemas: Sequence[str | None]) -> SchemaShape | None:
    """Three statements per schema over ``sqlite_master`` and the pragma functions; None when
    this SQLite or SQLAlchemy lacks what the reader needs (the caller uses the inspector)."""
    dialect = conn.dialect
    resolve = getattr(dialect, "_resolve_type_affinity", None)
    version = getattr(dialect, "server_version_info", None) or (0,)
    missing = unavailable_internals(resolve)
    if missing or tuple(version) < (3, 31):
        step_aside("SQLite", missing or f"SQLite {version} < 3.31")
        return None
    assert resolve is not None
    types = TypeTexts(dialect, resolve)
    tables: dict[TableKey, TableShape] = {}
    absent = missing_databases(conn, schemas)
    for schema in schemas:
        if schema not in absent:
            tables.update(_sqlite_schema(conn, schema, types))
    return SchemaShape(
        dialect=dialect.name,
        tables=tables,
        schemas=tuple(schemas),
        missing_schemas=frozenset(absent),
    )


def missing_databases(conn: Connection, schemas: Sequence[str | None]) -> set[str]:
    """The named schemas that are not attached to this connection (``PRAGMA database_list``)."""
    named = [s for s in schemas if s]
    if not named:
        return set()
    attached = {str(r[1]).lower() for r in conn.exec_driver_sql("PRAGMA database_list")}
    return {s for s in named if s.lower() not in attached}


def _sqlite_schema(
    conn: Connection, schema: str | None, types: TypeTexts
) -> dict[TableKey, TableShape]:
    name = "main" if schema is None else schema
    fmt = {"q": '"' + name.replace('"', '""') + '"', "lit": _sqlite_literal(name)}

    columns: dict[str, list[ColumnShape]] = {}
    pk_order: dict[str, list[tuple[int, str]]] = {}
    sql: dict[str, str] = {}
    texts: dict[str, str] = {}
    for table, col, type_, notnull, default, pk, hidden, table_sql in conn.exec_driver_sql(
        _SQLITE_COLUMNS.format(**fmt)
    ).fetchall():
        if table_sql is not None:
            sql[table] = table_sql
        cols = columns.get(table)
        if cols is None:
            cols = columns[table] = []
            pk_order[table] = []
        if hidden == 1:  # a virtual table's hidden column
            continue
        generated = None
        if hidden:  # generated: "INTEGER GENERATED ALWAYS" is reported as the type
            type_ = re.sub("generated", "", type_, flags=re.IGNORECASE)
            type_ = re.sub("always", "", type_, flags=re.IGNORECASE).strip()
            generated = "stored" if hidden == 3 else "virtual"
            type_text = types(type_.upper())
        else:
            known = texts.get(type_)  # per declared text, as written: few distinct ones
            if known is None:
                known = texts[type_] = types(type_.upper())
            type_text = known
        cols.append(
            ColumnShape(
                col,
                type_text,
                not notnull,
                None if default is None else str(default),
                None,
                generated,
            )
        )
        if pk:
            pk_order[table].append((pk, col))
    pks = {t: [c for _, c in sorted(order)] for t, order in pk_order.items()}

    indexes: dict[str, dict[str, tuple[bool, list[str | None]]]] = defaultdict(dict)
    for table, index, unique, col in conn.exec_driver_sql(_SQLITE_INDEXES.format(**fmt)).fetchall():
        entry = indexes[table].get(index)
        if entry is None:
            entry = indexes[table][index] = (bool(unique), [])
        entry[1].append(col)

    fk_rows: dict[str, list[_FkRow]] = defaultdict(list)
    for table, fk_id, referred, local, remote, on_delete, on_update in conn.exec_driver_sql(
        _SQLITE_FKS.format(**fmt)
    ).fetchall():
        fk_rows[table].append((fk_id, referred, local, remote, on_delete, on_update))

    out: dict[TableKey, TableShape] = {}
    for table, cols in columns.items():
        regular: list[IndexShape] = []
        auto: dict[tuple[str, ...], bool] = {}
        for index, (unique, index_cols) in indexes.get(table, {}).items():
            if any(c is None for c in index_cols):
                # an expression index (SQLAlchemy's inspector skips it): known by its name
                names = tuple(c if c is not None else "<expression>" for c in index_cols)
                regular.append(IndexShape(index, names, unique, True))
                continue
            names = tuple(c for c in index_cols if c is not None)
            if index.startswith("sqlite_autoindex"):
                auto[names] = True
            else:
                regular.append(IndexShape(index, names, unique))
        uniques = _sqlite_uniques(sql.get(table), auto) if auto else []
        fks = _sqlite_fks(schema, sql.get(table), fk_rows[table], pks) if table in fk_rows else []
        out[(schema, table)] = table_shape(schema, table, cols, pks[table], regular, uniques, fks)
    return out


def _sqlite_uniques(table_sql: str | None, auto: dict[tuple[str, ...], bool]) -> list[IndexShape]:
    """Unique constraints as SQLAlchemy names them: parsed from the CREATE TABLE text and kept
    when an automatic index with the same columns backs them."""
    if table_sql is None:
        return []
    remaining = dict(auto)
    out = []
    for name, cols in _sqlite_parse_uniques(table_sql, remaining):
        sig = tuple(cols)
        if sig in remaining:
            del remaining[sig]
            out.append(IndexShape(name, sig, True))
    return out


def _sqlite_parse_uniques(
    table_sql: str, remaining: dict[tuple[str, ...], bool]
) -> Iterable[tuple[str | None, list[str]]]:
    for match in _SQLITE_UNIQUE.finditer(table_sql, _first_unique_start(table_sql)):
        yield match.group(1) or match.group(2), _sqlite_cols(match.group(3))
    if not remaining:
        return  # every automatic index is named already: inline matches cannot add one
    for match in _SQLITE_INLINE_UNIQUE.finditer(table_sql):
        yield None, _sqlite_cols(match.group(1) or match.group(2))


def _first_unique_start(table_sql: str) -> int:
    """Where ``_SQLITE_UNIQUE`` can first match: a match begins with CONSTRAINT or UNIQUE,
    so the scan may skip what comes before both (the column list, mostly). ASCII only: the
    pattern's case-insensitive match knows more letters than ``str.lower``."""
    if not table_sql.isascii():
        return 0
    lowered = table_sql.lower()
    found = [i for i in (lowered.find("constraint"), lowered.find("unique")) if i >= 0]
    return min(found) if found else len(table_sql)


_FkRow = tuple[int, str, str, str | None, str, str]


def _sqlite_fks(
    schema: str | None,
    table_sql: str | None,
    rows: list[_FkRow],
    pks: dict[str, list[str]],
) -> list[ForeignKeyShape]:
    """Foreign keys exactly as SQLAlchemy's SQLite dialect assembles them (get_foreign_keys);
    actions from the pragma, deferrability from the CREATE TABLE text."""
    fks: dict[int, dict[str, Any]] = {}
    for fk_id, referred, local, remote, on_delete, on_update in rows:
        fk = fks.get(fk_id)
        if fk is None:
            fk = fks[fk_id] = {
                "name": None,
                "local": [],
                "table": referred,
                # no referred column named in the DDL: the referred table's primary key
                "remote": [] if remote else list(pks.get(referred, [])),
                "options": fk_options(on_delete, on_update, None, None),
            }
        fk["local"].append(local)
        if remote:
            fk["remote"].append(remote)

    def sig(local: list[str], table: str, remote: list[str]) -> tuple[str, ...]:
        return (*local, table, *remote)

    by_sig = {sig(f["local"], f["table"], f["remote"]): f for f in fks.values()}
    if _sqlite_fks_unnamed(table_sql or "", fks.values()):
        return [
            ForeignKeyShape(
                None, tuple(f["local"]), schema, f["table"], tuple(f["remote"]), **f["options"]
            )
            for f in by_sig.values()
        ]
    ordered = []
    assert FK_PATTERN is not None  # read_sqlite checked it
    for match in FK_PATTERN.finditer(table_sql or ""):
        quoted_name, plain_name, local_sig, quoted_ref, plain_ref, remote_sig = match.group(
            1, 2, 3, 4, 5, 6
        )
        deferrable, initially = match.group(8, 9)
        local_cols = _sqlite_cols(local_sig)
        remote_cols = _sqlite_cols(remote_sig) if remote_sig else local_cols
        key = sig(local_cols, quoted_ref or plain_ref, remote_cols)
        found = by_sig.pop(key, None)
        if found is not None:
            found["name"] = quoted_name or plain_name
            found["options"]["deferrable"] = fk_options(
                None, None, deferrable and "NOT" not in deferrable.upper(), initially
            )["deferrable"]
            ordered.append(found)
    # A column's own REFERENCES clause (what ADD COLUMN writes) is not parsed, as in
    # SQLAlchemy's reflection: read as not deferrable.
    ordered.extend(by_sig.values())
    return [
        ForeignKeyShape(
            f["name"], tuple(f["local"]), schema, f["table"], tuple(f["remote"]), **f["options"]
        )
        for f in ordered
    ]


def _sqlite_fks_unnamed(table_sql: str, fks: Iterable[dict[str, Any]]) -> bool:
    """True when parsing the DDL for names cannot change the result: no CONSTRAINT keyword
    before the last FOREIGN one (so every name is None), and no two foreign keys on the same
    columns (so the order the parse would give vanishes in the shape's sort by columns).
    ASCII only: the parser's case-insensitive match knows more letters than str.lower."""
    if not table_sql.isascii():
        return False
    lowered = table_sql.lower()
    if "deferrable" in lowered:
        return False
    first_constraint = lowered.find("constraint")
    if first_constraint != -1 and first_constraint < lowered.rfind("foreign"):
        return False
    columns = [tuple(f["local"]) for f in fks]
    return len(set(columns)) == len(columns)
