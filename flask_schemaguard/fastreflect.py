"""Dialect-specific bulk readers: the whole schema in a handful of catalog queries.

Each reader returns exactly what ``reflect.reflect_with_inspector`` returns for the same
database (the test suite compares both on varied schemas), only faster: it reads the catalog
in a few set-based statements instead of several statements per table, builds no reflected
``Table`` objects, and turns each distinct type string into type text once (through the same
SQLAlchemy code the inspector uses, so the text is identical).

- SQLite: ``sqlite_master`` joined with the table-valued pragma functions (3 statements);
  constraint names parsed from the CREATE TABLE text with SQLAlchemy's own patterns.
- PostgreSQL: ``pg_catalog`` (4 statements, a 5th for foreign keys into tables of other
  schemas, plus the enum list the inspector path also reads); key columns named from the
  columns already read.
- MariaDB: ``information_schema`` (4 statements, one row per table), column lines rebuilt as
  ``SHOW CREATE TABLE`` prints them and parsed by SQLAlchemy's MySQL parser; the same
  statements sum the fingerprint's row CRCs (``reflect_and_fingerprint``). MySQL proper renders
  ``SHOW CREATE TABLE`` differently from ``information_schema`` (defaults, character sets),
  so it keeps the inspector path, as does a value holding the reader's separators.

A dialect without a reader here (or a server too old for one) uses the inspector path.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Dialect

from .fingerprint import MYSQL_ROW_CRC, fingerprint, mysql_fingerprint_of
from .modelshape import compile_type
from .shape import ColumnShape, ForeignKeyShape, IndexShape, SchemaShape, TableKey, TableShape

Reader = Callable[[Connection, Sequence[str | None]], SchemaShape]

READERS: dict[str, Reader] = {}


def _register(name: str) -> Callable[[Reader], Reader]:
    def decorate(fn: Reader) -> Reader:
        READERS[name] = fn
        return fn

    return decorate


def _fallback(conn: Connection, schemas: Sequence[str | None]) -> SchemaShape:
    from .reflect import reflect_with_inspector

    return reflect_with_inspector(conn, schemas)


def _by_name(ix: IndexShape) -> str:
    return ix.name or ""


def _by_columns(item: IndexShape | ForeignKeyShape) -> tuple[str, ...]:
    return item.columns


def _table(
    schema: str | None,
    name: str,
    columns: Iterable[ColumnShape],
    pk: Iterable[str],
    indexes: Iterable[IndexShape],
    uniques: Iterable[IndexShape],
    fks: Iterable[ForeignKeyShape],
) -> TableShape:
    """A table shape ordered the way ``reflect_with_inspector`` orders it."""
    return TableShape(
        schema=schema,
        name=name,
        columns=tuple(columns),
        primary_key=tuple(pk),
        indexes=tuple(sorted(indexes, key=_by_name)),
        uniques=tuple(sorted(uniques, key=_by_columns)),
        foreign_keys=tuple(sorted(fks, key=_by_columns)),
    )


class _TypeTexts:
    """Type text per distinct catalog type string, computed once through SQLAlchemy."""

    def __init__(self, dialect: Dialect, make: Callable[[Any], Any]) -> None:
        self.dialect = dialect
        self.make = make
        self.cache: dict[Any, str] = {}

    def __call__(self, key: Any) -> str:
        text = self.cache.get(key)
        if text is None:
            text = self.cache[key] = compile_type(self.make(key), self.dialect)
        return text


# -- SQLite ---------------------------------------------------------------------------------

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
    'SELECT m.name, f.id, f."table", f."from", f."to" '
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


@_register("sqlite")
def read_sqlite(conn: Connection, schemas: Sequence[str | None]) -> SchemaShape:
    """SQLite: three statements per schema over ``sqlite_master`` and the pragma functions."""
    dialect = conn.dialect
    resolve = getattr(dialect, "_resolve_type_affinity", None)
    version = getattr(dialect, "server_version_info", None) or (0,)
    if resolve is None or tuple(version) < (3, 31):
        return _fallback(conn, schemas)
    types = _TypeTexts(dialect, resolve)
    tables: dict[TableKey, TableShape] = {}
    for schema in schemas:
        tables.update(_sqlite_schema(conn, schema, types))
    return SchemaShape(dialect=dialect.name, tables=tables, schemas=tuple(schemas))


def _sqlite_schema(
    conn: Connection, schema: str | None, types: _TypeTexts
) -> dict[TableKey, TableShape]:
    name = "main" if schema is None else schema
    fmt = {"q": '"' + name.replace('"', '""') + '"', "lit": _sqlite_literal(name)}

    columns: dict[str, list[ColumnShape]] = {}
    pk_order: dict[str, list[tuple[int, str]]] = {}
    sql: dict[str, str] = {}
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
        type_ = type_.upper()
        if hidden:  # generated: "INTEGER GENERATED ALWAYS" is reported as the type
            type_ = re.sub("generated", "", type_, flags=re.IGNORECASE)
            type_ = re.sub("always", "", type_, flags=re.IGNORECASE).strip()
        cols.append(
            ColumnShape(col, types(type_), not notnull, None if default is None else str(default))
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

    fk_rows: dict[str, list[tuple[int, str, str, str | None]]] = defaultdict(list)
    for table, fk_id, referred, local, remote in conn.exec_driver_sql(
        _SQLITE_FKS.format(**fmt)
    ).fetchall():
        fk_rows[table].append((fk_id, referred, local, remote))

    out: dict[TableKey, TableShape] = {}
    for table, cols in columns.items():
        regular: list[IndexShape] = []
        auto: dict[tuple[str, ...], bool] = {}
        for index, (unique, index_cols) in indexes.get(table, {}).items():
            if any(c is None for c in index_cols):
                continue  # expression index: SQLAlchemy skips it
            names = tuple(c for c in index_cols if c is not None)
            if index.startswith("sqlite_autoindex"):
                auto[names] = True
            else:
                regular.append(IndexShape(index, names, unique))
        uniques = _sqlite_uniques(sql.get(table), auto) if auto else []
        fks = _sqlite_fks(schema, sql.get(table), fk_rows[table], pks) if table in fk_rows else []
        out[(schema, table)] = _table(schema, table, cols, pks[table], regular, uniques, fks)
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
    for match in _SQLITE_UNIQUE.finditer(table_sql):
        yield match.group(1) or match.group(2), _sqlite_cols(match.group(3))
    if not remaining:
        return  # every automatic index is named already: inline matches cannot add one
    for match in _SQLITE_INLINE_UNIQUE.finditer(table_sql):
        yield None, _sqlite_cols(match.group(1) or match.group(2))


def _sqlite_fks(
    schema: str | None,
    table_sql: str | None,
    rows: list[tuple[int, str, str, str | None]],
    pks: dict[str, list[str]],
) -> list[ForeignKeyShape]:
    """Foreign keys exactly as SQLAlchemy's SQLite dialect assembles them (get_foreign_keys)."""
    from sqlalchemy.dialects.sqlite.base import FK_PATTERN

    fks: dict[int, dict[str, Any]] = {}
    for fk_id, referred, local, remote in rows:
        fk = fks.get(fk_id)
        if fk is None:
            fk = fks[fk_id] = {
                "name": None,
                "local": [],
                "table": referred,
                # no referred column named in the DDL: the referred table's primary key
                "remote": [] if remote else list(pks.get(referred, [])),
            }
        fk["local"].append(local)
        if remote:
            fk["remote"].append(remote)

    def sig(local: list[str], table: str, remote: list[str]) -> tuple[str, ...]:
        return (*local, table, *remote)

    by_sig = {sig(f["local"], f["table"], f["remote"]): f for f in fks.values()}
    if _sqlite_fks_unnamed(table_sql or "", fks.values()):
        return [
            ForeignKeyShape(None, tuple(f["local"]), schema, f["table"], tuple(f["remote"]))
            for f in by_sig.values()
        ]
    ordered = []
    for match in FK_PATTERN.finditer(table_sql or ""):
        quoted_name, plain_name, local_sig, quoted_ref, plain_ref, remote_sig = match.group(
            1, 2, 3, 4, 5, 6
        )
        local_cols = _sqlite_cols(local_sig)
        remote_cols = _sqlite_cols(remote_sig) if remote_sig else local_cols
        key = sig(local_cols, quoted_ref or plain_ref, remote_cols)
        found = by_sig.pop(key, None)
        if found is not None:
            found["name"] = quoted_name or plain_name
            ordered.append(found)
    ordered.extend(by_sig.values())
    return [
        ForeignKeyShape(f["name"], tuple(f["local"]), schema, f["table"], tuple(f["remote"]))
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
    first_constraint = lowered.find("constraint")
    if first_constraint != -1 and first_constraint < lowered.rfind("foreign"):
        return False
    columns = [tuple(f["local"]) for f in fks]
    return len(set(columns)) == len(columns)


# -- PostgreSQL -----------------------------------------------------------------------------

# Tables as ``Inspector.get_table_names`` lists them: ordinary and partitioned, not temporary;
# no schema means every visible table outside pg_catalog (visible ones are on the search path).
_PG_TABLES = """
SELECT c.oid, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('r', 'p') AND c.relpersistence <> 't' AND {where}
"""
_PG_DEFAULT_SCHEMA = (
    "n.nspname = ANY(current_schemas(false)) AND n.nspname <> 'pg_catalog' "
    "AND pg_table_is_visible(c.oid)"
)
_PG_NAMED_SCHEMA = "n.nspname = :schema"

_PG_COLUMNS = """
SELECT a.attrelid, a.attnum, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
       pg_get_expr(d.adbin, d.adrelid), a.attgenerated, co.collname,
       CASE WHEN co.oid IS NOT NULL AND NOT pg_collation_is_visible(co.oid)
            THEN (SELECT nspname FROM pg_namespace WHERE oid = co.collnamespace) END
  FROM pg_attribute a
  JOIN pg_type t ON t.oid = a.atttypid
  LEFT JOIN pg_attrdef d ON a.atthasdef AND d.adrelid = a.attrelid AND d.adnum = a.attnum
  LEFT JOIN pg_collation co ON a.attcollation <> 0 AND a.attcollation <> t.typcollation
       AND co.oid = a.attcollation
 WHERE a.attrelid = ANY(CAST(:oids AS oid[])) AND a.attnum > 0 AND NOT a.attisdropped
 ORDER BY a.attrelid, a.attnum
"""

# Primary keys, unique constraints and foreign keys: column numbers (named from the columns
# already read; no join with pg_attribute); for a foreign key, the referred table's name and
# its schema as pg_get_constraintdef would qualify it (only when not visible).
_PG_CONSTRAINTS = """
SELECT con.conrelid, con.contype, con.conname, con.conkey, con.confrelid, con.confkey,
       rc.relname, rn.nspname, pg_table_is_visible(rc.oid)
  FROM pg_constraint con
  LEFT JOIN pg_class rc ON con.contype = 'f' AND rc.oid = con.confrelid
  LEFT JOIN pg_namespace rn ON rn.oid = rc.relnamespace
 WHERE con.conrelid = ANY(CAST(:oids AS oid[])) AND con.contype IN ('p', 'u', 'f')
 ORDER BY con.conrelid, con.conname
"""

# Every index but the primary key's: key column numbers, and for an index on expressions
# each key element as pg_get_indexdef renders it.
_PG_INDEXES = """
SELECT i.indrelid, ic.relname, i.indisunique, i.indnkeyatts, CAST(i.indkey AS int2[]),
       CASE WHEN 0 = ANY(CAST(i.indkey AS int2[])) THEN ARRAY(
         SELECT pg_get_indexdef(i.indexrelid, k, true)
           FROM generate_series(1, i.indnkeyatts) AS k ORDER BY k) END
  FROM pg_index i
  JOIN pg_class ic ON ic.oid = i.indexrelid
 WHERE i.indrelid = ANY(CAST(:oids AS oid[])) AND NOT i.indisprimary
"""

# Column names of tables outside the reflected ones (a foreign key into another schema).
_PG_OTHER_COLUMNS = """
SELECT attrelid, attnum, attname FROM pg_attribute
 WHERE attrelid = ANY(CAST(:oids AS oid[])) AND attnum > 0
"""

_PG_NEXTVAL = re.compile(r"""(nextval\(')([^']+)('.*$)""")

_PgTypeKey = tuple[str | None, str | None, str | None]


@_register("postgresql")
def read_postgresql(conn: Connection, schemas: Sequence[str | None]) -> SchemaShape:
    """PostgreSQL: four catalog statements per schema (plus the enum list)."""
    try:
        from sqlalchemy.dialects.postgresql.base import DOMAIN, _NamedTypeLoader
    except ImportError:  # pragma: no cover - a SQLAlchemy without these internals
        return _fallback(conn, schemas)
    dialect: Any = conn.dialect
    if not hasattr(dialect, "_reflect_type") or dialect.server_version_info < (12,):
        return _fallback(conn, schemas)
    loader = _NamedTypeLoader(dialect, conn, {})
    type_objects: dict[_PgTypeKey, tuple[Any, str]] = {}

    def type_of(key: _PgTypeKey) -> tuple[Any, str]:
        found = type_objects.get(key)
        if found is None:
            format_type, collation, collation_schema = key
            type_ = dialect._reflect_type(
                format_type,
                loader,
                type_description="column",
                collation=collation,
                collation_schema=collation_schema,
            )
            found = type_objects[key] = (type_, compile_type(type_, dialect))
        return found

    tables: dict[TableKey, TableShape] = {}
    for schema in schemas:
        tables.update(_pg_schema(conn, schema, type_of, DOMAIN))
    enums: set[tuple[str | None, str]] = set()
    for schema in dict.fromkeys((None, *schemas)):
        enums.update((schema, e["name"]) for e in dialect._load_enums(conn, schema=schema))
    return SchemaShape(
        dialect=dialect.name, tables=tables, schemas=tuple(schemas), enums=frozenset(enums)
    )


def _pg_schema(
    conn: Connection,
    schema: str | None,
    type_of: Callable[[_PgTypeKey], tuple[Any, str]],
    domain_class: type[Any],
) -> dict[TableKey, TableShape]:
    where = _PG_DEFAULT_SCHEMA if schema is None else _PG_NAMED_SCHEMA
    names: dict[int, str] = dict(
        conn.execute(sa.text(_PG_TABLES.format(where=where)), {"schema": schema}).fetchall()
    )
    if not names:
        return {}
    params = {"oids": "{" + ",".join(map(str, names)) + "}"}

    columns: dict[int, list[ColumnShape]] = defaultdict(list)
    attnames: dict[int, dict[int, str]] = defaultdict(dict)
    for (
        oid,
        num,
        name,
        format_type,
        not_null,
        default,
        generated,
        collation,
        coll_schema,
    ) in conn.execute(sa.text(_PG_COLUMNS), params).fetchall():
        attnames[oid][num] = name
        type_, type_text = type_of((format_type, collation, coll_schema))
        nullable = not not_null
        if isinstance(type_, domain_class):
            if not default and type_.default is not None:
                default = type_.default
            nullable = nullable and not type_.not_null
        if generated not in (None, "", b"\x00"):
            default = None
        elif default is not None and schema is not None:
            match = _PG_NEXTVAL.search(default)
            if match is not None and "." not in match.group(2):
                default = match.group(1) + f'"{schema}".' + match.group(2) + match.group(3)
        columns[oid].append(
            ColumnShape(name, type_text, nullable, None if default is None else str(default))
        )

    constraints = conn.execute(sa.text(_PG_CONSTRAINTS), params).fetchall()
    others = {r[4] for r in constraints if r[1] == "f" and r[4] not in attnames}
    if others:  # foreign keys into tables not reflected here: their column names
        for oid, num, name in conn.execute(
            sa.text(_PG_OTHER_COLUMNS), {"oids": "{" + ",".join(map(str, others)) + "}"}
        ).fetchall():
            attnames[oid][num] = name

    pks: dict[int, tuple[str, ...]] = {}
    uniques: dict[int, list[IndexShape]] = defaultdict(list)
    fks: dict[int, list[ForeignKeyShape]] = defaultdict(list)
    for (
        oid,
        contype,
        conname,
        conkey,
        ref_oid,
        confkey,
        referred,
        referred_nsp,
        visible,
    ) in constraints:
        local_names = attnames[oid]
        local = tuple(local_names[n] for n in conkey)
        if contype == "p":
            pks[oid] = local
        elif contype == "u":
            uniques[oid].append(IndexShape(conname, local, True))
        else:
            if not visible:
                referred_schema: str | None = referred_nsp
            elif schema is not None and schema == referred_nsp:
                referred_schema = schema
            else:
                referred_schema = None
            remote_names = attnames[ref_oid]
            remote = tuple(remote_names[n] for n in confkey)
            fks[oid].append(ForeignKeyShape(conname, local, referred_schema, referred, remote))

    indexes: dict[int, list[IndexShape]] = defaultdict(list)
    for oid, name, unique, nkeys, indkey, expressions in conn.execute(
        sa.text(_PG_INDEXES), params
    ).fetchall():
        table_names = attnames[oid]
        keys = tuple(
            table_names[num] if num else str(expressions[i]) for i, num in enumerate(indkey[:nkeys])
        )
        indexes[oid].append(IndexShape(name, keys, bool(unique)))

    out: dict[TableKey, TableShape] = {}
    for oid, table in sorted(names.items(), key=lambda kv: kv[1]):
        out[(schema, table)] = _table(
            schema,
            table,
            columns.get(oid, ()),
            pks.get(oid, ()),
            indexes.get(oid, ()),
            uniques.get(oid, ()),
            fks.get(oid, ()),
        )
    return out


# -- MariaDB --------------------------------------------------------------------------------

# One row per table; fields joined with U+001F, rows with U+001E (checked when split). Each
# statement also sums the fingerprint's row CRCs per table (see fingerprint.MYSQL_ROW_CRC), so
# a full check has the schema's fingerprint without a second pass over the catalog.
_MY_FS = "'\x1f'"
_MY_RS = "'\x1e'"

# (Joining information_schema tables makes MariaDB fill one per row of the other: slow.)
_MY_TABLES = f"""
SELECT TABLE_NAME, TABLE_TYPE, TABLE_COLLATION, {MYSQL_ROW_CRC["TABLES"]}
  FROM information_schema.TABLES
 WHERE TABLE_SCHEMA = %(schema)s
"""

_MY_COLUMNS = f"""
SELECT TABLE_NAME, COUNT(*), SUM({MYSQL_ROW_CRC["COLUMNS"]}),
       GROUP_CONCAT(CONCAT_WS({_MY_FS}, COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE,
                              IFNULL(COLUMN_DEFAULT, 'NULL'), EXTRA,
                              IFNULL(CHARACTER_SET_NAME, ''), IFNULL(COLLATION_NAME, ''))
                    ORDER BY ORDINAL_POSITION SEPARATOR {_MY_RS})
  FROM information_schema.COLUMNS
 WHERE TABLE_SCHEMA = %(schema)s
 GROUP BY TABLE_NAME
"""

_MY_INDEXES = f"""
SELECT TABLE_NAME, COUNT(*), SUM({MYSQL_ROW_CRC["STATISTICS"]}),
       GROUP_CONCAT(CONCAT_WS({_MY_FS}, INDEX_NAME, NON_UNIQUE, COLUMN_NAME)
                    ORDER BY INDEX_NAME, SEQ_IN_INDEX SEPARATOR {_MY_RS})
  FROM information_schema.STATISTICS
 WHERE TABLE_SCHEMA = %(schema)s
 GROUP BY TABLE_NAME
"""

# Every key column row for the fingerprint; the foreign keys' rows for the shape.
_MY_FOREIGN_KEYS = f"""
SELECT TABLE_NAME, COUNT(*), SUM({MYSQL_ROW_CRC["KEY_COLUMN_USAGE"]}),
       COUNT(REFERENCED_TABLE_NAME),
       GROUP_CONCAT(CASE WHEN REFERENCED_TABLE_NAME IS NOT NULL THEN
                      CONCAT_WS({_MY_FS}, CONSTRAINT_NAME, COLUMN_NAME, REFERENCED_TABLE_SCHEMA,
                                REFERENCED_TABLE_NAME, REFERENCED_COLUMN_NAME) END
                    ORDER BY CONSTRAINT_NAME, ORDINAL_POSITION SEPARATOR {_MY_RS})
  FROM information_schema.KEY_COLUMN_USAGE
 WHERE TABLE_SCHEMA = %(schema)s
 GROUP BY TABLE_NAME
"""


class _Unsplittable(Exception):
    """A catalog value held a separator (or GROUP_CONCAT was cut): use the inspector."""


def _my_rows(text: str | bytes, count: int, fields: int) -> list[list[str]]:
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    rows = [r.split("\x1f") for r in text.split("\x1e")]
    if len(rows) != count or any(len(r) != fields for r in rows):
        raise _Unsplittable
    return rows


def _my_usable(dialect: Any) -> bool:
    return bool(
        getattr(dialect, "is_mariadb", False)
        and dialect.server_version_info >= (10, 2, 7)  # COLUMN_DEFAULT as SHOW CREATE has it
        and dialect.paramstyle in ("format", "pyformat")
        and hasattr(dialect, "_tabledef_parser")
    )


@_register("mysql")
def read_mysql(conn: Connection, schemas: Sequence[str | None]) -> SchemaShape:
    """MariaDB: four ``information_schema`` statements per schema, one row per table."""
    if not _my_usable(conn.dialect):
        return _fallback(conn, schemas)
    read = _read_mysql(conn, schemas)
    return _fallback(conn, schemas) if read is None else read[0]


def _read_mysql(
    conn: Connection, schemas: Sequence[str | None]
) -> tuple[SchemaShape, dict[str, tuple[int, int]]] | None:
    """The shape and the fingerprint's (rows, CRC sum) per catalog table; None when a value
    cannot be split (the caller falls back)."""
    from sqlalchemy.dialects.mysql.reflection import ReflectedState

    from .reflect import table_names_case_sensitive

    dialect: Any = conn.dialect
    parser = dialect._tabledef_parser
    parsed: dict[str, tuple[str, str | None]] = {}

    def column(definition: str) -> tuple[str, str | None]:
        """Type text and default of a column line, parsed as SHOW CREATE TABLE's."""
        found = parsed.get(definition)
        if found is None:
            state = ReflectedState()
            parser._parse_column("  `c` " + definition, state)
            spec = state.columns[-1] if state.columns else {"type": None, "default": None}
            type_text = compile_type(spec["type"], dialect) if spec["type"] is not None else ""
            default = spec.get("default")
            found = parsed[definition] = (type_text, None if default is None else str(default))
        return found

    sums = {name: (0, 0) for name in MYSQL_ROW_CRC}
    tables: dict[TableKey, TableShape] = {}
    try:
        for schema in schemas:
            database = schema or dialect.default_schema_name
            tables.update(_my_schema(conn, schema, database, column, sums))
    except _Unsplittable:
        return None
    shape = SchemaShape(
        dialect=dialect.name,
        tables=tables,
        schemas=tuple(schemas),
        case_sensitive_tables=table_names_case_sensitive(conn),
    )
    return shape, sums


def _my_schema(
    conn: Connection,
    schema: str | None,
    database: str,
    column: Callable[[str], tuple[str, str | None]],
    sums: dict[str, tuple[int, int]],
) -> dict[TableKey, TableShape]:
    params = {"schema": database}

    def add(catalog: str, rows: int, crc: Any) -> None:
        n, total = sums[catalog]
        sums[catalog] = (n + int(rows), total + int(crc or 0))

    collations: dict[str, str] = {}
    listed = conn.exec_driver_sql(_MY_TABLES, params).fetchall()
    for table, table_type, collation, crc in listed:
        add("TABLES", 1, crc)
        if table_type == "BASE TABLE":
            collations[table] = collation
    if not listed:
        return {}  # nothing in the schema: no columns, keys or indexes either

    columns: dict[str, list[ColumnShape]] = {}
    for table, count, crc, packed in conn.exec_driver_sql(_MY_COLUMNS, params).fetchall():
        add("COLUMNS", count, crc)
        if table not in collations:
            continue  # a view
        table_collation = collations[table]
        cols = columns[table] = []
        for name, type_, nullable, default, extra, charset, collation in _my_rows(packed, count, 7):
            definition = type_
            if collation and collation != table_collation:
                definition += f" CHARACTER SET {charset} COLLATE {collation}"
            if nullable == "NO":
                definition += " NOT NULL"
            if default != "NULL":
                definition += f" DEFAULT {default}"
                if extra.lower().startswith("on update "):
                    definition += " ON UPDATE " + extra[len("on update ") :]
            type_text, reflected_default = column(definition)
            cols.append(ColumnShape(name, type_text, nullable != "NO", reflected_default))

    pks: dict[str, tuple[str, ...]] = {}
    indexes: dict[str, list[IndexShape]] = defaultdict(list)
    uniques: dict[str, list[IndexShape]] = defaultdict(list)
    for table, count, crc, packed in conn.exec_driver_sql(_MY_INDEXES, params).fetchall():
        add("STATISTICS", count, crc)
        keys: dict[str, tuple[bool, list[str]]] = {}
        for index, non_unique, col in _my_rows(packed, count, 3):
            index_entry = keys.get(index)
            if index_entry is None:
                index_entry = keys[index] = (non_unique == "0", [])
            index_entry[1].append(col)
        for index, (unique, index_cols) in keys.items():
            if index == "PRIMARY":
                pks[table] = tuple(index_cols)
                continue
            indexes[table].append(IndexShape(index, tuple(index_cols), unique))
            if unique:
                uniques[table].append(IndexShape(index, tuple(index_cols), True))

    fks: dict[str, list[ForeignKeyShape]] = defaultdict(list)
    for table, count, crc, fk_count, packed in conn.exec_driver_sql(
        _MY_FOREIGN_KEYS, params
    ).fetchall():
        add("KEY_COLUMN_USAGE", count, crc)
        if not fk_count:
            continue
        grouped: dict[str, tuple[str, str, list[str], list[str]]] = {}
        for name, local, ref_schema, ref_table, remote in _my_rows(packed, fk_count, 5):
            fk_entry = grouped.get(name)
            if fk_entry is None:
                fk_entry = grouped[name] = (ref_schema, ref_table, [], [])
            fk_entry[2].append(local)
            fk_entry[3].append(remote)
        for name, (ref_schema, ref_table, local_cols, remote_cols) in sorted(grouped.items()):
            # SHOW CREATE TABLE qualifies a table in another database only
            referred_schema = ref_schema if ref_schema != database else schema
            fks[table].append(
                ForeignKeyShape(
                    name, tuple(local_cols), referred_schema, ref_table, tuple(remote_cols)
                )
            )

    out: dict[TableKey, TableShape] = {}
    for table, cols in columns.items():
        out[(schema, table)] = _table(
            schema,
            table,
            cols,
            pks.get(table, ()),
            indexes.get(table, ()),
            sorted(uniques.get(table, ()), key=_by_name),
            fks.get(table, ()),
        )
    return out


# -- shape and fingerprint together ---------------------------------------------------------


def reflect_and_fingerprint(
    conn: Connection, schemas: Sequence[str | None]
) -> tuple[SchemaShape, str]:
    """The schema's shape and its fingerprint (``fingerprint.fingerprint``'s value).

    MariaDB's reader computes the fingerprint from the very statements that read the shape
    (saving the catalog scans of a separate fingerprint query); elsewhere the fingerprint is
    read first, then the shape (so a change in between makes the fingerprint older, never
    newer, than what was checked).
    """
    from .reflect import reflect

    dialect: Any = conn.dialect
    if dialect.name == "mysql" and _my_usable(dialect):
        resolved = [s or dialect.default_schema_name for s in schemas]
        if len(set(resolved)) == len(resolved):  # each schema summed once, as the query does
            read = _read_mysql(conn, schemas)
            if read is not None:
                shape, sums = read
                return shape, mysql_fingerprint_of(sums)
    fp = fingerprint(conn, schemas)
    return reflect(conn, schemas), fp
