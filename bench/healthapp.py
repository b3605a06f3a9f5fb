"""A minimal Flask-SQLAlchemy app with SchemaGuard, served by waitress for ``bench.health``.

    python -m bench.healthapp --url sqlite:///... [--cache-seconds 2] [--threads 8]

Prints ``PORT <n>`` once listening on 127.0.0.1 (a free port picked by the OS). Routes:
``/ok`` (a bare ``return "ok"``), the guard's health endpoint (``/healthz/schema``) and
``/_bench/statements`` (statements the app's engine has sent since start, as JSON).
"""

from __future__ import annotations

import argparse
import sys
import threading

import sqlalchemy as sa
from flask import Flask, jsonify
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


def create_app(url: str, cache_seconds: float) -> Flask:
    from flask_schemaguard import SchemaGuard

    app = Flask("bench_healthapp")
    app.config.update(
        SQLALCHEMY_DATABASE_URI=url,
        SCHEMAGUARD_MODE="heal",
        SCHEMAGUARD_HEALTH_CACHE_SECONDS=cache_seconds,
    )
    db = SQLAlchemy(app, model_class=Base)

    class Customer(db.Model):  # type: ignore[name-defined,misc]
        __tablename__ = "customers"
        id: Mapped[int] = mapped_column(primary_key=True)
        name: Mapped[str] = mapped_column(sa.String(100), index=True)
        email: Mapped[str | None] = mapped_column(sa.String(200), unique=True)

    class Order(db.Model):  # type: ignore[name-defined,misc]
        __tablename__ = "orders"
        id: Mapped[int] = mapped_column(primary_key=True)
        customer_id: Mapped[int] = mapped_column(sa.ForeignKey("customers.id"), index=True)
        total: Mapped[float] = mapped_column(sa.Numeric(10, 2), server_default="0")

    statements = {"count": 0, "fingerprint": 0}
    lock = threading.Lock()
    with app.app_context():
        db.create_all()
        engine = db.engine

        @sa.event.listens_for(engine, "before_cursor_execute")
        def _count(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
            with lock:
                statements["count"] += 1
                if _is_fingerprint(statement):
                    statements["fingerprint"] += 1

    SchemaGuard(app)  # heals nothing (in sync), records the state, answers health

    @app.get("/ok")
    def ok() -> str:
        return "ok"

    @app.get("/_bench/statements")
    def sent() -> object:
        with lock:
            return jsonify(dict(statements))

    return app


def _is_fingerprint(statement: str) -> bool:
    """The fingerprint query of each dialect (alone or with the recorded state)."""
    return (
        "schema_version" in statement  # SQLite
        or "relnatts" in statement  # PostgreSQL
        or "CRC32(" in statement  # MySQL / MariaDB
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.healthapp")
    parser.add_argument("--url", required=True)
    parser.add_argument("--cache-seconds", type=float, default=2.0)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args(argv)
    from waitress import create_server

    app = create_app(args.url, args.cache_seconds)
    server = create_server(app, host="127.0.0.1", port=0, threads=args.threads)
    print(f"PORT {server.effective_port}", flush=True)
    try:
        server.run()
    except KeyboardInterrupt:  # pragma: no cover
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
