"""Drift check benchmark: schemaguard vs Alembic vs SQLAlchemy's Inspector, same database, same run.

    python -m bench.drift --sizes 50,200,1000 --db sqlite,postgresql,mysql [--repeat 5]

For each database kind and size N it creates an isolated database with the synthetic schema of
``bench.schema`` (N tables x 11 columns, 2-3 indexes, 1 unique, 1 foreign key each), declares
models with drift in 5% of the tables, and times on that database:

- ``alembic compare_metadata``: ``MigrationContext.configure(conn, opts={"compare_type": True})``
- ``Inspector per table``: SQLAlchemy's columns/pk/indexes/uniques/foreign keys, table by table
- ``get_multi_* (inspector path)``: schemaguard's reference reader, SQLAlchemy's bulk API
- ``schemaguard full check``: ``Runner.check(fast=False)`` by a new ``Runner`` (the ``Target``'s
  model shape computed beforehand, as at app init where the fast path needs its hash)
- ``full check + model shape``: the same with a new ``Target`` each time (shape and hash of the
  models included: a cold process that has not computed them yet)
- ``fingerprint query``: one catalog query on a pooled connection
- ``fast path, new process``: a new ``Runner`` on an in-sync schema whose state was recorded by
  ``Runner.heal()`` (the models' hash computed beforehand, as at app init)
- ``fast path, new check-mode process``: the same with check mode's settings (it reads the
  recorded state and writes nothing)
- ``fast path, running process``: the same ``Runner`` again (a health poll)
- ``model shape + hash``: the models' side of the fast path, paid once at init

It prints one table: median, min-max, statements per run (``before_cursor_execute``) and the
ratio to Alembic's median; then the fast path against the fingerprint query, peak RSS of a full
check at the largest size (a child process: RSS before, ``VmHWM`` after, reset in between), and
the import time of ``flask_schemaguard`` over flask + flask_sqlalchemy.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

import sqlalchemy as sa

from .schema import bench_database, create_schema, database_metadata, model_metadata

KINDS = ("sqlite", "postgresql", "mysql")


@dataclass
class Row:
    db: str
    n: int
    method: str
    times: list[float]
    queries: int
    note: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.times)


@dataclass
class Result:
    rows: list[Row] = field(default_factory=list)
    memory: list[dict[str, Any]] = field(default_factory=list)
    imports: dict[str, float] = field(default_factory=dict)
    init: list[dict[str, Any]] = field(default_factory=list)
    machine: dict[str, str] = field(default_factory=dict)


class Counter:
    """Statements sent by one engine (``before_cursor_execute``)."""

    def __init__(self, engine: sa.Engine) -> None:
        self.count = 0
        sa.event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, *args: object) -> None:
        self.count += 1


def measure(fn: Callable[[], object], repeat: int, counter: Counter) -> tuple[list[float], int]:
    """Run ``fn`` ``repeat`` times: seconds of each run, statements of the first."""
    times: list[float] = []
    queries = 0
    for i in range(repeat):
        gc.collect()
        counter.count = 0
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
        if i == 0:
            queries = counter.count
    return times, queries


def measure_interleaved(
    fns: dict[str, Callable[[], object]], repeat: int, counter: Counter
) -> dict[str, tuple[list[float], int]]:
    """Like ``measure`` for several functions taken in turn, round after round, so a change
    in machine load affects them alike (the fast path is compared with the bare query)."""
    out: dict[str, tuple[list[float], int]] = {label: ([], 0) for label in fns}
    for i in range(repeat):
        for label, fn in fns.items():
            counter.count = 0
            started = time.perf_counter()
            fn()
            out[label][0].append(time.perf_counter() - started)
            if i == 0:
                out[label] = (out[label][0], counter.count)
    return out


# -- the contenders -------------------------------------------------------------------------


def alembic_compare(engine: sa.Engine, models: sa.MetaData) -> Callable[[], object]:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    def run() -> object:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            return compare_metadata(context, models)

    return run


def inspector_per_table(engine: sa.Engine) -> Callable[[], object]:
    def run() -> object:
        with engine.connect() as conn:
            inspector = sa.inspect(conn)
            out = []
            for name in inspector.get_table_names():
                out.append(
                    (
                        inspector.get_columns(name),
                        inspector.get_pk_constraint(name),
                        inspector.get_indexes(name),
                        inspector.get_unique_constraints(name),
                        inspector.get_foreign_keys(name),
                    )
                )
            return out

    return run


def inspector_multi(engine: sa.Engine) -> Callable[[], object]:
    from flask_schemaguard.dialects.inspector import reflect_with_inspector

    def run() -> object:
        with engine.connect() as conn:
            return reflect_with_inspector(conn, [None])

    return run


def full_check(
    engine: sa.Engine, models: sa.MetaData, *, cold: bool = False
) -> Callable[[], object]:
    """A full check by a new ``Runner``; ``cold``: with a new ``Target`` too, so the models'
    shape and hash are computed in the run (at app init they are computed before the startup
    check, for the fast path)."""
    from flask_schemaguard.engine.runner import Runner, Settings
    from flask_schemaguard.engine.targets import metadata_target

    warm = None if cold else metadata_target(models, engine)
    if warm is not None:
        warm.models_hash  # noqa: B018 - computes and caches the model shape

    def run() -> object:
        target = warm or metadata_target(models, engine)
        return Runner([target], Settings()).check(fast=False)

    return run


def fingerprint_query(engine: sa.Engine) -> Callable[[], object]:
    from flask_schemaguard.dialects import impl_for

    def run() -> object:
        with engine.connect() as conn:
            return impl_for(conn).fingerprint(conn, [None])

    return run


def model_hash(engine: sa.Engine, models: sa.MetaData) -> Callable[[], object]:
    from flask_schemaguard.engine.targets import metadata_target

    def run() -> object:
        return metadata_target(models, engine).models_hash

    return run


def fast_paths(engine: sa.Engine, in_sync: sa.MetaData) -> tuple[Callable[[], object], ...]:
    """(new process, new check-mode process, running process): the schema is in sync and its
    state recorded."""
    from flask_schemaguard.engine.runner import Runner, Settings
    from flask_schemaguard.engine.targets import metadata_target

    target = metadata_target(in_sync, engine)
    healed = Runner([target], Settings()).heal()
    if not healed.after.in_sync:
        raise SystemExit(f"bench: the in-sync models are not in sync: {healed.after.items[:3]}")
    running = Runner([target], Settings())
    running.check()
    check_mode = Settings(record_state_in_database=False)

    def new_process() -> object:
        report = Runner([target], Settings()).check()
        assert report.in_sync
        return report

    def new_check_mode_process() -> object:
        report = Runner([target], check_mode).check()
        assert report.in_sync
        return report

    def running_process() -> object:
        report = running.check()
        assert report.in_sync
        return report

    return new_process, new_check_mode_process, running_process


# -- one database ---------------------------------------------------------------------------


def bench_one(kind: str, n: int, repeat: int, result: Result, memory: bool) -> None:
    with bench_database(kind) as url:
        engine = sa.create_engine(url)
        try:
            started = time.perf_counter()
            create_schema(engine, n)
            setup = time.perf_counter() - started
            print(f"  {kind} N={n}: schema created in {setup:.1f} s", file=sys.stderr, flush=True)
            counter = Counter(engine)
            models = model_metadata(n)
            in_sync = database_metadata(n)
            plan: list[tuple[str, Callable[[], object], int]] = [
                ("alembic compare_metadata", alembic_compare(engine, models), repeat),
                ("Inspector per table", inspector_per_table(engine), repeat),
                ("get_multi_* (inspector path)", inspector_multi(engine), repeat),
                ("schemaguard full check", full_check(engine, models), repeat),
                ("full check + model shape", full_check(engine, models, cold=True), repeat),
            ]
            notes = {}
            for label, fn, times in plan:
                timings, queries = measure(fn, times, counter)
                result.rows.append(Row(kind, n, label, timings, queries))
                print(f"    {label}: {statistics.median(timings) * 1000:.1f} ms", file=sys.stderr)
            report = full_check(engine, models)()
            notes["schemaguard full check"] = f"{len(report.items)} drift items"  # type: ignore[attr-defined]
            alembic_diffs = alembic_compare(engine, models)()
            notes["alembic compare_metadata"] = f"{len(alembic_diffs)} diffs"  # type: ignore[arg-type]
            fast_new, fast_check_mode, fast_running = fast_paths(engine, in_sync)
            fast = {
                "fingerprint query": fingerprint_query(engine),
                "fast path, new process": fast_new,
                "fast path, new check-mode process": fast_check_mode,
                "fast path, running process": fast_running,
            }
            measured = measure_interleaved(fast, max(repeat, 5) * 5, counter)
            for label, (timings, queries) in measured.items():
                result.rows.append(Row(kind, n, label, timings, queries))
            timings, queries = measure(model_hash(engine, in_sync), repeat, counter)
            result.rows.append(Row(kind, n, "model shape + hash", timings, queries, "once"))
            for row in result.rows:
                if row.db == kind and row.n == n and row.method in notes:
                    row.note = notes[row.method]
            if memory:
                result.memory.append(measure_memory(url, n, "schemaguard"))
                result.memory.append(measure_memory(url, n, "alembic"))
                result.init.append({"db": kind, **measure_init(url, n)})
        finally:
            engine.dispose()


# -- memory (a child process per measurement) -----------------------------------------------


def _status(field_name: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field_name + ":"):
                return int(line.split()[1]) * 1024
    return 0


def _memory_child(url: str, n: int, what: str) -> None:
    """Print RSS before and peak RSS during one full check (or one Alembic comparison)."""
    engine = sa.create_engine(url)
    models = model_metadata(n)
    fingerprint_query(engine)()  # connected, dialect initialised
    if what == "schemaguard":
        run = full_check(engine, models, cold=True)
    else:
        run = alembic_compare(engine, models)
    gc.collect()
    before = _status("VmRSS")
    reset = True
    try:
        with open("/proc/self/clear_refs", "w") as clear:
            clear.write("5")  # reset VmHWM to the current RSS
    except OSError:
        reset = False
    run()
    peak = _status("VmHWM")
    engine.dispose()
    print(json.dumps({"before": before, "peak": peak, "hwm_reset": reset}))


def measure_memory(url: str, n: int, what: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "bench.drift", "--memory-child", url, str(n), what],
        check=True,
        capture_output=True,
        text=True,
        cwd=_repo_root(),
        env=_child_env(),
    ).stdout
    data = json.loads(out.strip().splitlines()[-1])
    data.update({"db": sa.make_url(url).get_backend_name(), "n": n, "what": what})
    return dict(data)


# -- app init (a child process per measurement) ---------------------------------------------


def _init_child(url: str, n: int, guard: bool) -> None:
    """Print seconds to build a Flask-SQLAlchemy app with ``n`` declarative models (mapped to
    the bench tables) and, with ``guard``, the seconds ``SchemaGuard(app)`` adds after it."""
    from flask import Flask
    from flask_sqlalchemy import SQLAlchemy

    from flask_schemaguard import SchemaGuard  # imported before: the import is timed apart

    tables = database_metadata(n)
    gc.collect()
    started = time.perf_counter()
    app = Flask("bench_init")
    app.config["SQLALCHEMY_DATABASE_URI"] = url
    db = SQLAlchemy(app)
    for i, table in enumerate(tables.sorted_tables):
        type(f"Model{i}", (db.Model,), {"__table__": table.to_metadata(db.metadata)})
    sa.orm.configure_mappers()
    with app.app_context():
        db.engine  # noqa: B018 - the engine, as an app's first request would create it
    built = time.perf_counter()
    # The cyclic garbage collector's debt from building the models (a full collection over
    # everything the mappers created) falls on whatever allocates next: counted with the
    # build, not with SchemaGuard(app) (the raw figure is in "guard_raw" of a second run).
    gc.collect()
    settled = time.perf_counter()
    guarded = settled
    if guard:
        SchemaGuard(app)
        guarded = time.perf_counter()
    print(
        json.dumps({"build": settled - started, "gc": settled - built, "guard": guarded - settled})
    )


def measure_init(url: str, n: int, repeat: int = 3) -> dict[str, float]:
    """App build time and what ``SchemaGuard(app)`` adds on an in-sync database whose state is
    recorded (the fast path): medians of ``repeat`` child processes."""

    def child(guard: bool) -> dict[str, float]:
        out = subprocess.run(
            [sys.executable, "-m", "bench.drift", "--init-child", url, str(n), str(int(guard))],
            check=True,
            capture_output=True,
            text=True,
            cwd=_repo_root(),
            env=_child_env(),
        ).stdout
        return dict(json.loads(out.strip().splitlines()[-1]))

    child(True)  # the first start: a full check, then the state is recorded (heal mode)
    runs = [child(True) for _ in range(repeat)]
    bare = [child(False)["build"] for _ in range(repeat)]
    return {
        "n": n,
        "app build s": statistics.median(bare),
        "of which gc s": statistics.median(r["gc"] for r in runs),
        "SchemaGuard(app) s": statistics.median(r["guard"] for r in runs),
    }


# -- import time ------------------------------------------------------------------------------

# ``flask_schemaguard`` imports its modules on first use of a public name: the probe imports
# ``SchemaGuard`` itself, the realistic cost.
_IMPORT_PROBE = """
import time
t0 = time.perf_counter()
import flask, flask_sqlalchemy
t1 = time.perf_counter()
from flask_schemaguard import SchemaGuard
t2 = time.perf_counter()
print(t1 - t0, t2 - t1)
"""


def _child_env() -> dict[str, str]:
    """Children import from bytecode as an installed package does (this environment may set
    PYTHONDONTWRITEBYTECODE): a bytecode cache outside the source tree."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = os.path.join(tempfile.gettempdir(), "sgbench-pycache")
    return env


def measure_imports(repeat: int = 7) -> dict[str, float]:
    base, extra = [], []
    subprocess.run(  # writes the bytecode cache
        [sys.executable, "-c", _IMPORT_PROBE], check=True, capture_output=True, env=_child_env()
    )
    for _ in range(repeat):
        out = subprocess.run(
            [sys.executable, "-c", _IMPORT_PROBE],
            check=True,
            capture_output=True,
            text=True,
            cwd=_repo_root(),
            env=_child_env(),
        ).stdout.split()
        base.append(float(out[0]))
        extra.append(float(out[1]))
    return {
        "flask + flask_sqlalchemy ms": statistics.median(base) * 1000,
        "flask_schemaguard on top ms": statistics.median(extra) * 1000,
    }


def _repo_root() -> str:
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# -- output -----------------------------------------------------------------------------------


def machine() -> dict[str, str]:
    info = {
        "python": platform.python_version(),
        "sqlalchemy": sa.__version__,
        "cores": str(os.cpu_count()),
        "platform": platform.platform(),
    }
    try:
        import alembic

        info["alembic"] = alembic.__version__
    except ImportError:  # pragma: no cover
        pass
    try:
        with open("/proc/cpuinfo") as cpu:
            for line in cpu:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:  # pragma: no cover
        pass
    return info


def _ms(seconds: float) -> str:
    ms = seconds * 1000
    return f"{ms:.2f}" if ms < 10 else f"{ms:.0f}"


def render(result: Result) -> str:
    lines = []
    head = (
        f"{'database':<10} {'N':>5}  {'method':<34} {'median ms':>10} {'min-max ms':>17} "
        f"{'queries':>8} {'vs Alembic':>11}  note"
    )
    lines.append(head)
    lines.append("-" * len(head))
    groups: dict[tuple[str, int], list[Row]] = {}
    for row in result.rows:
        groups.setdefault((row.db, row.n), []).append(row)
    for (db, n), rows in groups.items():
        alembic = next((r.median for r in rows if r.method.startswith("alembic")), None)
        for row in rows:
            ratio = f"{alembic / row.median:.1f}x" if alembic and row.median else "-"
            if row.method.startswith("alembic"):
                ratio = "1.0x"
            span = f"{_ms(min(row.times))}-{_ms(max(row.times))}"
            lines.append(
                f"{db:<10} {n:>5}  {row.method:<34} {_ms(row.median):>10} {span:>17} "
                f"{row.queries:>8} {ratio:>11}  {row.note}"
            )
        lines.append("")
    lines.append("Fast path against the fingerprint query (target: <= 1.2x)")
    for (db, n), rows in groups.items():
        by = {r.method: r.median for r in rows}
        fp = by.get("fingerprint query")
        if not fp:
            continue
        parts = []
        for label, method in (
            ("new process", "fast path, new process"),
            ("new check-mode process", "fast path, new check-mode process"),
            ("running process", "fast path, running process"),
        ):
            parts.append(f"{label} {by[method] / fp:.2f}x (+{(by[method] - fp) * 1000:.2f} ms)")
        lines.append(f"  {db:<10} N={n:<5} fingerprint {_ms(fp)} ms; " + ", ".join(parts))
    if result.memory:
        lines.append("")
        lines.append("Peak RSS of one full comparison (child process; target: <= 1.5x before)")
        for m in result.memory:
            lines.append(
                f"  {m['db']:<10} N={m['n']:<5} {m['what']:<12} before {m['before'] / 2**20:.0f} "
                f"MiB, peak {m['peak'] / 2**20:.0f} MiB = {m['peak'] / m['before']:.2f}x"
                + ("" if m["hwm_reset"] else " (VmHWM not resettable: peak since start)")
            )
    if result.init:
        lines.append("")
        lines.append(
            "App init on an in-sync database, state recorded (child processes; target: "
            "SchemaGuard(app) adds <= 0.2x the app build)"
        )
        for i in result.init:
            build, guard = i["app build s"], i["SchemaGuard(app) s"]
            lines.append(
                f"  {i['db']:<10} N={i['n']:<5} app build {build * 1000:.0f} ms (incl. "
                f"{i['of which gc s'] * 1000:.0f} ms collecting its garbage), SchemaGuard(app) "
                f"+{guard * 1000:.0f} ms = {(build + guard) / build:.2f}x"
            )
    if result.imports:
        lines.append("")
        base = result.imports["flask + flask_sqlalchemy ms"]
        extra = result.imports["flask_schemaguard on top ms"]
        lines.append(
            f"Import: flask + flask_sqlalchemy {base:.0f} ms; flask_schemaguard adds "
            f"{extra:.0f} ms (target: <= 50 ms)"
        )
    lines.append("")
    lines.append("Machine: " + ", ".join(f"{k} {v}" for k, v in result.machine.items()))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.drift", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--sizes", default="50,200,1000", help="table counts, comma-separated")
    parser.add_argument("--db", default=",".join(KINDS), help="sqlite,postgresql,mysql")
    parser.add_argument("--repeat", type=int, default=5, help="runs per measurement (median)")
    parser.add_argument(
        "--no-memory", action="store_true", help="skip the child processes (peak RSS, app init)"
    )
    parser.add_argument("--json", metavar="PATH", help="also write the raw results here")
    parser.add_argument("--import-repeat", type=int, default=7, help="import-time probes (0: skip)")
    parser.add_argument(
        "--memory-child", nargs=3, metavar=("URL", "N", "WHAT"), help=argparse.SUPPRESS
    )
    parser.add_argument(
        "--init-child", nargs=3, metavar=("URL", "N", "GUARD"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.memory_child:
        url, n, what = args.memory_child
        _memory_child(url, int(n), what)
        return 0
    if args.init_child:
        url, n, guard = args.init_child
        _init_child(url, int(n), guard == "1")
        return 0
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    kinds = [k.strip() for k in args.db.split(",") if k.strip()]
    unknown = set(kinds) - set(KINDS)
    if unknown:
        parser.error(f"unknown database kinds: {', '.join(sorted(unknown))}")
    result = Result(machine=machine())
    with _server_versions(kinds) as versions:
        result.machine.update(versions)
    for kind in kinds:
        for n in sizes:
            bench_one(
                kind, n, max(1, args.repeat), result, memory=not args.no_memory and n == max(sizes)
            )
    if args.import_repeat > 0:
        result.imports = measure_imports(args.import_repeat)
    print(render(result))
    if args.json:
        with open(args.json, "w") as out:
            json.dump(
                {
                    "rows": [asdict(r) | {"median": r.median} for r in result.rows],
                    "memory": result.memory,
                    "imports": result.imports,
                    "init": result.init,
                    "machine": result.machine,
                },
                out,
                indent=2,
            )
    return 0


@contextmanager
def _server_versions(kinds: list[str]) -> Iterator[dict[str, str]]:
    import sqlite3

    from .schema import MYSQL_URL, POSTGRES_URL

    versions: dict[str, str] = {}
    if "sqlite" in kinds:
        versions["sqlite"] = sqlite3.sqlite_version
    for kind, url, sql in (
        ("postgresql", POSTGRES_URL, "SHOW server_version"),
        ("mysql", MYSQL_URL, "SELECT VERSION()"),
    ):
        if kind in kinds:
            engine = sa.create_engine(url)
            try:
                with engine.connect() as conn:
                    versions[kind] = str(conn.exec_driver_sql(sql).scalar())
            finally:
                engine.dispose()
    yield versions


if __name__ == "__main__":
    raise SystemExit(main())
