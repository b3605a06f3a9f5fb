"""Shared fixtures: a fresh, isolated database on SQLite, PostgreSQL and MariaDB/MySQL.

Every engine test takes ``db_url`` (or ``engine``) and runs once per database. PostgreSQL and
MySQL tests get a database of their own (created and dropped around the test), so tests can run
in any order. A server that is not reachable skips its tests with a one-line reason, unless
``SCHEMAGUARD_TEST_REQUIRE`` names it (CI sets ``postgresql,mysql``): then the test fails.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa

POSTGRES_URL = os.environ.get(
    "SCHEMAGUARD_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
MYSQL_URL = os.environ.get("SCHEMAGUARD_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/test")
REQUIRED = {
    s.strip() for s in os.environ.get("SCHEMAGUARD_TEST_REQUIRE", "").split(",") if s.strip()
}
DATABASES = ["sqlite", "postgresql", "mysql"]

_reachable: dict[str, str | None] = {}


def _server_error(kind: str) -> str | None:
    """None when the server answers, else a one-line reason (cached per session)."""
    if kind not in _reachable:
        url = POSTGRES_URL if kind == "postgresql" else MYSQL_URL
        engine = sa.create_engine(url, connect_args=_connect_timeout(kind))
        try:
            with engine.connect() as conn:
                conn.exec_driver_sql("SELECT 1")
            _reachable[kind] = None
        except Exception as exc:  # pragma: no cover - depends on the machine
            first = str(getattr(exc, "orig", exc)).strip().splitlines()
            _reachable[kind] = first[0] if first else type(exc).__name__
        finally:
            engine.dispose()
    return _reachable[kind]


def _connect_timeout(kind: str) -> dict[str, int]:
    return {"connect_timeout": 3}


def require_server(kind: str) -> None:
    """Skip (or fail, when required) a test whose server is down."""
    if kind == "sqlite":
        return
    error = _server_error(kind)
    if error is None:
        return
    message = f"{kind} server not reachable at {_masked(kind)}: {error}"
    if kind in REQUIRED:
        pytest.fail(message + " (required by SCHEMAGUARD_TEST_REQUIRE)")
    pytest.skip(message)


def _masked(kind: str) -> str:
    url = sa.make_url(POSTGRES_URL if kind == "postgresql" else MYSQL_URL)
    return url.render_as_string(hide_password=True)


def make_database(kind: str, tmp_path: os.PathLike[str] | str) -> Iterator[str]:
    """Create an empty database for one test and yield its URL; drop it afterwards."""
    require_server(kind)
    if kind == "sqlite":
        yield f"sqlite:///{os.path.join(os.fspath(tmp_path), 'app.db')}"
        return
    name = "sg_" + uuid.uuid4().hex[:12]
    admin_url = POSTGRES_URL if kind == "postgresql" else MYSQL_URL
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE {name}")
        yield sa.make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            if kind == "postgresql":
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            else:
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
        admin.dispose()


@pytest.fixture(params=DATABASES)
def db_kind(request: pytest.FixtureRequest) -> str:
    """The database family of the test: ``sqlite``, ``postgresql`` or ``mysql``."""
    return str(request.param)


@pytest.fixture
def db_url(
    db_kind: str, tmp_path: os.PathLike[str], request: pytest.FixtureRequest
) -> Iterator[str]:
    """URL of a fresh, empty database of ``db_kind``, dropped after the test.

    ``pgbouncer`` (modules that override ``db_kind`` to include it): a PostgreSQL database
    reached through PgBouncer in transaction pooling (psycopg2: PgBouncer 1.18 keeps no
    prepared statements, which psycopg 3 makes by itself after five runs of a statement).
    """
    if db_kind != "pgbouncer":
        yield from make_database(db_kind, tmp_path)
        return
    port = request.getfixturevalue("pgbouncer")
    for url in make_database("postgresql", tmp_path):
        yield (
            sa.make_url(url)
            .set(drivername="postgresql+psycopg2", port=port)
            .render_as_string(hide_password=False)
        )


PGBOUNCER_CONFIG = """
[databases]
* = host={host} port={port}
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {listen}
unix_socket_dir =
auth_type = trust
auth_file = {dir}/users.txt
pool_mode = transaction
default_pool_size = 40
max_client_conn = 400
server_reset_query =
ignore_startup_parameters = extra_float_digits,options
logfile = {dir}/pgbouncer.log
pidfile = {dir}/pgbouncer.pid
admin_users = {user}
"""


@pytest.fixture(scope="session")
def pgbouncer() -> Iterator[int]:
    """PgBouncer (Debian's ``pgbouncer``) in transaction pooling in front of the test
    PostgreSQL, on a free 127.0.0.1 port with a config of its own; yields the port."""
    import shutil
    import socket
    import subprocess
    import tempfile
    import time

    require_server("postgresql")
    binary = shutil.which("pgbouncer") or (
        "/usr/sbin/pgbouncer" if os.path.exists("/usr/sbin/pgbouncer") else None
    )
    if binary is None:
        message = "pgbouncer is not installed (Debian package pgbouncer)"
        if "postgresql" in REQUIRED:
            pytest.fail(message + " (required by SCHEMAGUARD_TEST_REQUIRE)")
        pytest.skip(message)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        listen = int(s.getsockname()[1])
    server = sa.make_url(POSTGRES_URL)
    directory = tempfile.mkdtemp(prefix="sg-pgbouncer-")
    os.chmod(directory, 0o777)  # pgbouncer refuses to run as root: it runs as postgres
    with open(os.path.join(directory, "users.txt"), "w") as f:
        f.write(f'"{server.username or "postgres"}" ""\n')
    config = os.path.join(directory, "pgbouncer.ini")
    with open(config, "w") as f:
        f.write(
            PGBOUNCER_CONFIG.format(
                host=server.host or "127.0.0.1",
                port=server.port or 5432,
                listen=listen,
                dir=directory,
                user=server.username or "postgres",
            )
        )
    command = [binary, config]
    if os.geteuid() == 0:
        command[1:1] = ["-u", "postgres"]
    # its log goes to a file: a pipe nobody reads fills up, and PgBouncer then blocks on it
    errors = open(os.path.join(directory, "stderr.log"), "wb")
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=errors)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                with socket.create_connection(("127.0.0.1", listen), timeout=1):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    with open(os.path.join(directory, "stderr.log"), "rb") as f:
                        error = f.read().decode(errors="replace")
                    pytest.fail(f"pgbouncer did not start: {error.strip()[-300:]}")
                time.sleep(0.1)
        yield listen
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
        errors.close()
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def engine(db_url: str) -> Iterator[sa.Engine]:
    """An engine on the test's own database (disposed afterwards)."""
    eng = sa.create_engine(db_url)
    try:
        yield eng
    finally:
        eng.dispose()


#: Every driver the README supports, per database family (SQLAlchemy driver name -> module).
DRIVERS = {
    "sqlite": {"pysqlite": "sqlite3"},
    "postgresql": {"psycopg": "psycopg", "psycopg2": "psycopg2"},
    "mysql": {"pymysql": "pymysql", "mysqldb": "MySQLdb"},
}
DRIVER_PARAMS = [f"{kind}+{driver}" for kind, drivers in DRIVERS.items() for driver in drivers]


def require_driver(kind: str, driver: str) -> None:
    """Skip (or fail, when the server is required) a test whose driver is not installed."""
    module = DRIVERS[kind][driver]
    try:
        __import__(module)
    except ImportError as exc:
        message = f"driver {module} for {kind} is not installed: {exc}"
        if kind in REQUIRED:
            pytest.fail(message + " (required by SCHEMAGUARD_TEST_REQUIRE)")
        pytest.skip(message)


@pytest.fixture(params=DRIVER_PARAMS)
def driver_url(request: pytest.FixtureRequest, tmp_path: os.PathLike[str]) -> Iterator[str]:
    """A fresh database's URL for every (database, driver) pair: ``postgresql+psycopg2://``..."""
    kind, driver = str(request.param).split("+")
    require_driver(kind, driver)
    for url in make_database(kind, tmp_path):
        yield (
            sa.make_url(url)
            .set(drivername=f"{kind}+{driver}")
            .render_as_string(hide_password=False)
        )


# -- a database user that may not run DDL ----------------------------------------------------
@pytest.fixture
def limited_user(db_kind: str, db_url: str, tmp_path: Any) -> Iterator[Callable[[], str]]:
    """Call it once the tables exist: the URL of a user who may read and write rows of every
    table but not create or alter anything."""
    name = "sg_limited_" + uuid.uuid4().hex[:8]
    url = sa.make_url(db_url)
    admin = sa.create_engine(db_url, isolation_level="AUTOCOMMIT")
    created: list[str] = []

    def make() -> str:
        if db_kind == "sqlite":
            return f"sqlite:///file:{url.database}?mode=ro&uri=true"
        with admin.connect() as conn:
            if db_kind == "postgresql":
                conn.exec_driver_sql(f"CREATE ROLE {name} LOGIN")
                created.append(name)
                conn.exec_driver_sql(f"GRANT CONNECT ON DATABASE {url.database} TO {name}")
                conn.exec_driver_sql(f"GRANT USAGE ON SCHEMA public TO {name}")
                conn.exec_driver_sql(f"REVOKE CREATE ON SCHEMA public FROM PUBLIC, {name}")
                conn.exec_driver_sql(
                    f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {name}"
                )
            else:
                conn.exec_driver_sql(f"CREATE USER '{name}'@'%%'")
                created.append(name)
                conn.exec_driver_sql(
                    f"GRANT SELECT, INSERT, UPDATE, DELETE ON `{url.database}`.* TO '{name}'@'%%'"
                )
        return url.set(username=name, password=None).render_as_string(hide_password=False)

    try:
        yield make
    finally:
        if created:
            with admin.connect() as conn:
                if db_kind == "postgresql":
                    conn.exec_driver_sql(f"DROP OWNED BY {name}")
                    conn.exec_driver_sql(f"DROP ROLE {name}")
                else:
                    conn.exec_driver_sql(f"DROP USER '{name}'@'%%'")
        admin.dispose()
