"""Stress the cross-process heal: many processes start the app at once, many times over.

    python bench/stress.py                      # 32 processes x 50 rounds x 3 databases
    python bench/stress.py -p 16 -r 10 --dbs postgresql,mysql

Each round resets a scratch database to the seed-000 drift (a missing table with 9 indexes, a
missing column, a missing index: 12 operations), then every process (``spawn``, one pool
reused across rounds) waits on a barrier and creates a Flask app with ``SchemaGuard``.
Per database it prints:

- runs: process starts (processes x rounds);
- failures: starts that raised, warned, reported a failed operation or were not in sync after;
- duplicates: ``applied`` audit rows beyond one per operation (an object created twice);
- missing: operations no process applied; healers: rounds where more than one process applied
  something (the plan must be applied by one lock holder);
- the slowest start and the mean start time.

The scratch databases are created next to the test servers (``SCHEMAGUARD_TEST_POSTGRES_URL``,
``SCHEMAGUARD_TEST_MYSQL_URL``, defaults as in ``tests/conftest.py``) and dropped afterwards.
Exit status 1 when any run failed or anything was created twice.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))

import _reliability as rel  # noqa: E402

POSTGRES_URL = os.environ.get(
    "SCHEMAGUARD_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
MYSQL_URL = os.environ.get("SCHEMAGUARD_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/test")


@contextmanager
def scratch_database(kind: str, tmp: str) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{os.path.join(tmp, 'stress.db')}"
        return
    admin_url = POSTGRES_URL if kind == "postgresql" else MYSQL_URL
    name = "sg_stress_" + uuid.uuid4().hex[:10]
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE {name}")
        try:
            yield sa.make_url(admin_url).set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as conn:
                force = " WITH (FORCE)" if kind == "postgresql" else ""
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}{force}")
    finally:
        admin.dispose()


def run_database(pool: Any, url: str, processes: int, rounds: int, verbose: bool) -> dict[str, Any]:
    stats: dict[str, Any] = {
        "runs": 0,
        "failures": 0,
        "duplicates": 0,
        "missing": 0,
        "healers": 0,
        "starts": [],
        "examples": [],
    }
    for round_no in range(rounds):
        rel.make_drifted(url)
        outcomes = pool.map(rel.start_app, [url] * processes, chunksize=1)
        stats["runs"] += len(outcomes)
        for o in outcomes:
            bad = o["error"] or o["warnings"] or o.get("failed") or not o.get("after_in_sync")
            if bad:
                stats["failures"] += 1
                if len(stats["examples"]) < 3:
                    stats["examples"].append(
                        o["error"] or o["warnings"] or o.get("failed") or o.get("report")
                    )
            if "startup_s" in o:
                stats["starts"].append(o["startup_s"])
        if len({o["pid"] for o in outcomes}) != processes:
            stats["failures"] += 1
            stats["examples"].append(f"round {round_no}: fewer than {processes} processes")
        duplicates, failed_rows, never = rel.count_duplicates(rel.audit_rows(url))
        stats["duplicates"] += duplicates
        stats["missing"] += len(never)
        stats["healers"] += int(sum(1 for o in outcomes if o.get("applied")) > 1)
        if verbose:
            slowest = max((o.get("startup_s", 0.0) for o in outcomes), default=0.0)
            print(
                f"  round {round_no + 1}/{rounds}: duplicates {duplicates}, failed rows "
                f"{failed_rows}, missing {len(never)}, slowest start {slowest:.2f} s",
                flush=True,
            )
    return stats


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-p", "--processes", type=int, default=32)
    parser.add_argument("-r", "--rounds", type=int, default=50)
    parser.add_argument("--dbs", default="sqlite,postgresql,mysql")
    parser.add_argument("-v", "--verbose", action="store_true", help="one line per round")
    args = parser.parse_args(argv)
    kinds = [k.strip() for k in args.dbs.split(",") if k.strip()]

    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(args.processes)
    results: dict[str, dict[str, Any]] = {}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        pool = ctx.Pool(args.processes, initializer=rel.init_worker, initargs=(barrier,))
        try:
            pool.map(rel.warm_up, range(args.processes), chunksize=1)
            for kind in kinds:
                print(f"{kind}: {args.processes} processes x {args.rounds} rounds", flush=True)
                t0 = time.perf_counter()
                with scratch_database(kind, tmp) as url:
                    results[kind] = run_database(
                        pool, url, args.processes, args.rounds, args.verbose
                    )
                results[kind]["seconds"] = time.perf_counter() - t0
        finally:
            pool.close()
            pool.join()

    print()
    header = (
        f"{'database':<11} {'runs':>6} {'failures':>8} {'duplicates':>10} {'missing':>7} "
        f"{'healers>1':>9} {'mean start':>10} {'max start':>9} {'wall':>7}"
    )
    print(f"{args.processes} processes x {args.rounds} rounds")
    print(header)
    print("-" * len(header))
    bad = False
    for kind, s in results.items():
        starts = s["starts"] or [0.0]
        print(
            f"{kind:<11} {s['runs']:>6} {s['failures']:>8} {s['duplicates']:>10} "
            f"{s['missing']:>7} {s['healers']:>9} {statistics.mean(starts):>9.2f}s "
            f"{max(starts):>8.2f}s {s['seconds']:>6.0f}s"
        )
        bad = bad or bool(s["failures"] or s["duplicates"] or s["missing"] or s["healers"])
        for example in s["examples"]:
            print(f"  e.g. {example}")
    print(f"total {time.perf_counter() - started:.0f} s")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
