"""What a heal costs the app's writes: online DDL against the all-in-one transaction.

    python -m bench.online --db postgresql,mysql
    python -m bench.online --db postgresql --rows 200000 --writers 4

Per database and mode (``SCHEMAGUARD_ONLINE_DDL`` on, then off): a scratch database with a
table of ``--rows`` rows (1M by default, filled server-side: ``generate_series`` /
``seq_1_to_N``), ``--writers`` client threads (8) updating random rows in short transactions,
and, once they run, a heal that adds a column and two indexes to that table. Printed, for the
writes made while the heal ran: how many were attempted and failed, the longest single write
(the stall), the p99 latency, and how long the heal took. Everything on 127.0.0.1; the writers
stop with the heal (and after ``--limit`` seconds at most); scratch databases are dropped.
"""

from __future__ import annotations

import argparse
import os
import random
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import sqlalchemy as sa
from flask import Flask

from flask_schemaguard import SchemaGuard

POSTGRES_URL = os.environ.get(
    "SCHEMAGUARD_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
MYSQL_URL = os.environ.get("SCHEMAGUARD_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/test")


@contextmanager
def scratch(kind: str) -> Iterator[str]:
    admin_url = POSTGRES_URL if kind == "postgresql" else MYSQL_URL
    name = "sg_online_" + uuid.uuid4().hex[:10]
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE {name}")
        yield sa.make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            force = " WITH (FORCE)" if kind == "postgresql" else ""
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}{force}")
        admin.dispose()


def models() -> sa.MetaData:
    """The new models: ``orders`` gained a column and two indexes."""
    md = sa.MetaData()
    sa.Table(
        "orders",
        md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("customer", sa.Integer, nullable=False),
        sa.Column("status", sa.Integer, nullable=False),
        sa.Column("amount", sa.Integer, nullable=False),
        sa.Column("note", sa.String(100)),
        sa.Index("ix_orders_customer", "customer"),
        sa.Index("ix_orders_status_amount", "status", "amount"),
    )
    return md


def fill(url: str, rows: int) -> float:
    """The old ``orders`` with ``rows`` rows; returns the seconds it took."""
    started = time.perf_counter()
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(
                "CREATE TABLE orders (id INTEGER NOT NULL PRIMARY KEY, customer INTEGER NOT NULL,"
                " status INTEGER NOT NULL, amount INTEGER NOT NULL)"
            )
            if engine.dialect.name == "postgresql":
                conn.exec_driver_sql(
                    "INSERT INTO orders SELECT g, mod(g, 5000), mod(g, 7), mod(g, 1000) "
                    f"FROM generate_series(1, {rows}) AS g"
                )
                conn.exec_driver_sql("ANALYZE orders")
            else:  # MariaDB's SEQUENCE engine
                conn.exec_driver_sql(
                    "INSERT INTO orders SELECT seq, MOD(seq, 5000), MOD(seq, 7), MOD(seq, 1000) "
                    f"FROM seq_1_to_{rows}"
                )
    finally:
        engine.dispose()
    return time.perf_counter() - started


@dataclass
class Writes:
    """Latencies of the writes that started while the heal ran."""

    latencies: list[float] = field(default_factory=list)
    failed: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def writer(
    url_engine: sa.Engine, rows: int, stop: threading.Event, window: threading.Event, out: Writes
) -> None:
    rng = random.Random()
    statement = sa.text("UPDATE orders SET amount = amount + 1 WHERE id = :id")
    while not stop.is_set():
        counted = window.is_set()
        started = time.perf_counter()
        ok = True
        try:
            with url_engine.begin() as conn:
                conn.execute(statement, {"id": rng.randint(1, rows)})
        except sa.exc.DBAPIError:
            ok = False
        elapsed = time.perf_counter() - started
        if counted:
            with out.lock:
                out.latencies.append(elapsed)
                out.failed += 0 if ok else 1
        time.sleep(0.002)


@dataclass
class Result:
    database: str
    mode: str
    attempted: int
    failed: int
    longest_ms: float
    p99_ms: float
    heal_s: float
    applied: int
    fill_s: float


def run(kind: str, online: bool, rows: int, writers: int, limit: float) -> Result:
    with scratch(kind) as url:
        fill_s = fill(url, rows)
        app_engine = sa.create_engine(url, pool_size=writers, max_overflow=0)
        guard_engine = sa.create_engine(url)
        stop, window, out = threading.Event(), threading.Event(), Writes()
        threads = [
            threading.Thread(target=writer, args=(app_engine, rows, stop, window, out))
            for _ in range(writers)
        ]
        for t in threads:
            t.start()
        watchdog = threading.Timer(limit, stop.set)  # bounded whatever happens
        watchdog.start()
        try:
            time.sleep(1.0)  # writers warm
            app = Flask("bench-online")
            app.config.update(
                SCHEMAGUARD_RUN_ON="manual",
                SCHEMAGUARD_ONLINE_DDL=online,
                SCHEMAGUARD_HEALTH_URL=None,
            )
            guard = SchemaGuard(app, metadata=models(), engine=guard_engine)
            window.set()
            started = time.perf_counter()
            result = guard.heal(app=app)
            heal_s = time.perf_counter() - started
            time.sleep(0.3)  # writes that waited for the heal finish inside the window
            window.clear()
        finally:
            stop.set()
            watchdog.cancel()
            for t in threads:
                t.join(limit)
            app_engine.dispose()
            guard_engine.dispose()
        if result.failed or not result.after.in_sync:
            raise SystemExit(f"{kind}: the heal failed: {result.failed}")
        latencies = sorted(out.latencies)
        p99 = latencies[int(0.99 * (len(latencies) - 1))] if latencies else 0.0
        return Result(
            kind,
            "online" if online else "all-in-one",
            len(latencies),
            out.failed,
            1000 * (latencies[-1] if latencies else 0.0),
            1000 * p99,
            heal_s,
            len(result.applied),
            fill_s,
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", default="postgresql,mysql", help="postgresql,mysql")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--limit", type=float, default=120.0, help="seconds per run, at most")
    args = parser.parse_args(argv)
    results = []
    for kind in [d.strip() for d in args.db.split(",") if d.strip()]:
        for online in (True, False):
            results.append(run(kind, online, args.rows, args.writers, args.limit))
            r = results[-1]
            filled = f"table filled in {r.fill_s:.1f} s"
            print(f"# {r.database} {r.mode}: {r.applied} operations, {filled}", flush=True)
    print()
    print(f"{args.rows:,} rows, {args.writers} writer threads; writes made while the heal ran")
    print()
    print("| database | mode | writes attempted | failed | longest stall | p99 latency | heal |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r.database} | {r.mode} | {r.attempted:,} | {r.failed} | {r.longest_ms:.0f} ms "
            f"| {r.p99_ms:.1f} ms | {r.heal_s:.2f} s |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
