"""What the degrade machinery costs the ORM: the same work with and without it, same run.

    python -m bench.degrade [--db sqlite,postgresql,mysql] [--rounds 2000] [--repeat 5]

Each configuration runs in its own child process (the guard's session hooks, once installed,
stay for the process), on a fresh database with ``items(id, name, note)``:

- ``plain``: SQLAlchemy alone;
- ``hooks, nothing degraded``: ``orm_degrade.install()`` (what ``SchemaGuard`` does at init
  with degrading on): every ORM statement and flush goes through the readers/writer gate, and
  every column compile through the NULL-rendering check;
- ``one column degraded``: the same with ``items.note`` degraded (the column exists, so the
  work is the same; the compiled SQL reads NULL for it).

The work, per round: ``session.get`` of an expired object (one SELECT by primary key), a
``select(Item)`` of 20 rows, and an INSERT flush. It prints the median microseconds per round
(min-max over ``--repeat`` runs) and the ratio to ``plain``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

CONFIGS = ("plain", "hooks, nothing degraded", "one column degraded")
URLS = {
    "postgresql": os.environ.get(
        "SCHEMAGUARD_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    ),
    "mysql": os.environ.get(
        "SCHEMAGUARD_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/test"
    ),
}


def child(url: str, config: str, rounds: int) -> float:
    """Seconds for ``rounds`` rounds of ORM work (run in a child process)."""
    import sqlalchemy as sa
    from sqlalchemy import orm

    from flask_schemaguard import orm_degrade

    class Base(orm.DeclarativeBase):
        pass

    class Item(Base):
        __tablename__ = "items"
        id = orm.mapped_column(sa.Integer, primary_key=True, autoincrement=False)
        name = orm.mapped_column(sa.String(50))
        note = orm.mapped_column(sa.String(50), default="x")

    engine = sa.create_engine(url)
    Base.metadata.create_all(engine)
    with orm.Session(engine) as session:
        session.add_all(Item(id=i, name=f"n{i}") for i in range(20))
        session.commit()
    if config != "plain":
        orm_degrade.install()
    if config == "one column degraded":
        column = Item.__table__.c.note
        orm_degrade.apply({column: [(sa.inspect(Item), "note")]}, [], [engine])
    with orm.Session(engine) as session:
        first = session.get(Item, 0)
        started = time.perf_counter()
        for i in range(rounds):
            session.expire(first)
            assert session.get(Item, 0) is not None and first.name == "n0"
            assert len(session.scalars(sa.select(Item).where(Item.id < 20)).all()) == 20
            session.add(Item(id=1000 + i, name="new"))
            session.flush()
        elapsed = time.perf_counter() - started
        session.rollback()
    engine.dispose()
    return elapsed


def database(kind: str) -> tuple[str, object]:
    import sqlalchemy as sa

    if kind == "sqlite":
        directory = tempfile.mkdtemp()
        return f"sqlite:///{directory}/bench.db", None
    name = "sg_bench_" + uuid.uuid4().hex[:8]
    admin = sa.create_engine(URLS[kind], isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    url = sa.make_url(URLS[kind]).set(database=name).render_as_string(hide_password=False)
    return url, (admin, name)


def drop(kind: str, handle: object) -> None:
    if handle is None:
        return
    admin, name = handle  # type: ignore[misc]
    with admin.connect() as conn:
        force = " WITH (FORCE)" if kind == "postgresql" else ""
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}{force}")
    admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="sqlite")
    parser.add_argument("--rounds", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child[0], args.child[1], args.rounds)))
        return
    print(f"{'database':<11} {'configuration':<26} {'us/round':>9} {'min-max':>15} {'ratio':>6}")
    for kind in args.db.split(","):
        base = None
        for config in CONFIGS:
            times = []
            for _ in range(args.repeat):  # interleaving would need N databases; each run is new
                url, handle = database(kind)
                try:
                    out = subprocess.run(
                        [
                            sys.executable,
                            "-m",
                            "bench.degrade",
                            "--rounds",
                            str(args.rounds),
                            "--child",
                            url,
                            config,
                        ],
                        capture_output=True,
                        text=True,
                        check=True,
                    ).stdout
                finally:
                    drop(kind, handle)
                times.append(json.loads(out) / args.rounds * 1e6)
            median = statistics.median(times)
            base = base or median
            spread = f"{min(times):.0f}-{max(times):.0f}"
            print(f"{kind:<11} {config:<26} {median:>9.0f} {spread:>15} {median / base:>6.2f}")


if __name__ == "__main__":
    main()
