"""A new process's first check, side by side with Alembic's, each in a process of its own.

    python -m bench.first_check --sizes 50,200,1000 --db sqlite,postgresql,mysql [--repeat 5]

(``make bench`` prints this table after ``bench.drift``'s.) For each database kind and size N,
on a database created from ``bench.schema`` with models drifting in 5% of the tables, every
sample is a new child process:

- ``alembic``: a new engine, ``compare_metadata`` on its first connection (``compare_type``).
- ``guard``: a Flask app with Flask-SQLAlchemy and N declarative models, built untimed; timed:
  ``SchemaGuard(app)`` in check mode, whose startup check (the first ``check()``) runs in
  ``init_app``: the models' shape and hash, the engine's first connection, the catalog reads,
  the diff, the ORM's view of the drift. The statements it sent are kept for the floor.
- ``floor``: the catalog floor: a new DBAPI connection (no SQLAlchemy), the very statements the
  guard sent, executed with their parameters and every row fetched (one that failed for the
  guard, say on a missing state table, fails here too); nothing else.
- ``shape``: building the models' shape for N tables on the dialect (and, apart, its hash),
  the first time in the process.

Medians of ``--repeat`` children each.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from .schema import bench_database, create_schema, model_metadata

KINDS = ("sqlite", "postgresql", "mysql")


# -- children ----------------------------------------------------------------------------------


def _alembic_child(url: str, n: int) -> dict[str, Any]:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    models = model_metadata(n)
    engine = sa.create_engine(url)
    gc.collect()
    started = time.perf_counter()
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diffs = compare_metadata(context, models)
    seconds = time.perf_counter() - started
    engine.dispose()
    return {"seconds": seconds, "found": len(diffs)}


def _guard_child(url: str, n: int) -> dict[str, Any]:
    from flask import Flask
    from flask_sqlalchemy import SQLAlchemy

    from flask_schemaguard import SchemaGuard

    tables = model_metadata(n)
    app = Flask("bench_first_check")
    app.config.update(SQLALCHEMY_DATABASE_URI=url, SCHEMAGUARD_MODE="check")
    db = SQLAlchemy(app)
    for i, table in enumerate(tables.sorted_tables):
        type(f"Model{i}", (db.Model,), {"__table__": table.to_metadata(db.metadata)})
    sa.orm.configure_mappers()
    with app.app_context():
        engine = db.engine  # created by Flask-SQLAlchemy, never connected yet
    statements: list[tuple[str, Any]] = []

    def seen(_c: Any, _cur: Any, statement: str, parameters: Any, *_rest: Any) -> None:
        statements.append((statement, parameters))

    sa.event.listen(engine, "before_cursor_execute", seen)
    gc.collect()
    started = time.perf_counter()
    SchemaGuard(app)
    seconds = time.perf_counter() - started
    report = app.extensions["schemaguard"].last_report
    return {"seconds": seconds, "found": len(report.items), "statements": statements}


def _floor_child(url: str, statements_file: str) -> dict[str, Any]:
    with open(statements_file) as source:
        statements = json.load(source)
    dialect = sa.create_engine(url).dialect
    args, kwargs = dialect.create_connect_args(sa.make_url(url))
    dbapi = dialect.loaded_dbapi
    gc.collect()
    started = time.perf_counter()
    connection = dbapi.connect(*args, **kwargs)
    cursor = connection.cursor()
    rows = 0
    for statement, parameters in statements:
        try:
            if parameters:
                cursor.execute(statement, parameters)
            else:
                cursor.execute(statement)
        except dbapi.Error:  # the guard sent it and it failed (no state table yet): so here
            connection.rollback()
            continue
        if cursor.description is not None:
            rows += len(cursor.fetchall())
    seconds = time.perf_counter() - started
    connection.close()
    return {"seconds": seconds, "rows": rows}


def _shape_child(url: str, n: int) -> dict[str, Any]:
    from flask_schemaguard.engine.model_shapes import model_shape, shape_hash

    tables = tuple(model_metadata(n).tables.values())
    dialect = sa.create_engine(url).dialect
    gc.collect()
    started = time.perf_counter()
    shape = model_shape(tables, dialect)
    built = time.perf_counter()
    shape_hash(shape)
    hashed = time.perf_counter()
    return {"seconds": built - started, "hash_seconds": hashed - built}


CHILDREN = {"alembic": _alembic_child, "guard": _guard_child, "shape": _shape_child}


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # children import from bytecode, as in production
    env["PYTHONPYCACHEPREFIX"] = os.path.join(tempfile.gettempdir(), "sgbench-pycache")
    return env


def run_child(*args: str) -> dict[str, Any]:
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    done = subprocess.run(
        [sys.executable, "-m", "bench.first_check", "--child", *args],
        capture_output=True,
        text=True,
        cwd=root,
        env=_child_env(),
    )
    if done.returncode != 0:
        raise SystemExit(f"bench child {args[0]} failed:\n{done.stderr[-3000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


# -- one database ------------------------------------------------------------------------------


@dataclass
class Sizes:
    db: str
    n: int
    samples: dict[str, list[float]] = field(default_factory=dict)
    found: dict[str, int] = field(default_factory=dict)
    statements: int = 0

    def median(self, what: str) -> float:
        return statistics.median(self.samples[what])


def bench_one(kind: str, n: int, repeat: int) -> Sizes:
    out = Sizes(kind, n)
    with bench_database(kind) as url:
        engine = sa.create_engine(url)
        create_schema(engine, n)
        engine.dispose()
        run_child("guard", url, str(n))  # the bytecode cache written, the server's caches warm
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as statements_file:
            path = statements_file.name
        try:
            for _ in range(repeat):
                # taken in turn, so that a change in machine load affects every contender alike
                alembic = run_child("alembic", url, str(n))
                guard = run_child("guard", url, str(n))
                with open(path, "w") as statements:
                    json.dump(guard["statements"], statements)
                floor = run_child("floor", url, path)
                shape = run_child("shape", url, str(n))
                for what, sample in (
                    ("alembic", alembic),
                    ("guard", guard),
                    ("floor", floor),
                    ("shape", shape),
                ):
                    out.samples.setdefault(what, []).append(sample["seconds"])
                out.samples.setdefault("hash", []).append(shape["hash_seconds"])
                out.found = {"alembic": alembic["found"], "guard": guard["found"]}
                out.statements = len(guard["statements"])
        finally:
            os.unlink(path)
    print(
        f"  {kind} N={n}: Alembic {out.median('alembic'):.2f} s, guard "
        f"{out.median('guard') * 1000:.0f} ms",
        file=sys.stderr,
        flush=True,
    )
    return out


def render(results: list[Sizes]) -> str:
    head = (
        f"{'database':<10} {'N':>5} {'Alembic ms':>11} {'SchemaGuard(app) ms':>20} "
        f"{'vs Alembic':>10} {'floor ms':>9} {'x floor':>8} {'shape ms':>9} {'hash ms':>8} "
        f"{'stmts':>6}  found"
    )
    lines = [
        "A new process's first check (check mode, drifted database; medians of new processes)",
        head,
        "-" * len(head),
    ]
    for r in results:
        alembic, guard, floor = r.median("alembic"), r.median("guard"), r.median("floor")
        lines.append(
            f"{r.db:<10} {r.n:>5} {alembic * 1000:>11.0f} {guard * 1000:>20.1f} "
            f"{alembic / guard:>9.1f}x {floor * 1000:>9.1f} {guard / floor:>7.2f}x "
            f"{r.median('shape') * 1000:>9.1f} {r.median('hash') * 1000:>8.1f} "
            f"{r.statements:>6}  Alembic {r.found['alembic']} diffs, schemaguard "
            f"{r.found['guard']} items"
        )
    lines.append(
        "targets: >= 20x Alembic at N=1000, >= 10x at N=200; <= 3x the floor; shape <= 50 ms "
        "at N=1000"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.first_check", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--sizes", default="50,200,1000", help="table counts, comma-separated")
    parser.add_argument("--db", default=",".join(KINDS), help="sqlite,postgresql,mysql")
    parser.add_argument("--repeat", type=int, default=5, help="child processes per contender")
    parser.add_argument("--json", metavar="PATH", help="also write the raw samples here")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        what, url, value = args.child
        if what == "floor":
            result = _floor_child(url, value)
        else:
            result = CHILDREN[what](url, int(value))
        print(json.dumps(result, default=list))
        return 0
    kinds = [k.strip() for k in args.db.split(",") if k.strip()]
    unknown = set(kinds) - set(KINDS)
    if unknown:
        parser.error(f"unknown database kinds: {', '.join(sorted(unknown))}")
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    results = [bench_one(k, n, max(1, args.repeat)) for k in kinds for n in sizes]
    print(render(results))
    if args.json:
        with open(args.json, "w") as out:
            json.dump([r.__dict__ for r in results], out, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
