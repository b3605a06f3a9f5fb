"""Fork safety: ``gunicorn --preload`` runs the startup heal in the master, then forks.

A connection the startup check left in the app's pool would be inherited by every worker
(one socket, one server backend, seen from four processes). Run for real: gunicorn with 4
sync workers on 127.0.0.1, a bounded burst of requests, each reporting its worker pid and
the server's backend id for the connection it used.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import _reliability as rel
import pytest
from conftest import REQUIRED

pytestmark = pytest.mark.slow

WORKERS = 4
REQUESTS = 160

APP = textwrap.dedent(
    """
    import os, sys, time
    import sqlalchemy as sa
    from flask import Flask, jsonify
    sys.path.insert(0, os.environ["TESTS_DIR"])
    import _reliability as rel
    from flask_schemaguard import SchemaGuard

    engine = sa.create_engine(os.environ["DB_URL"])
    app = Flask(__name__)
    SchemaGuard(app, metadata=rel.seed_metadata(), engine=engine)
    BACKEND = {"postgresql": "SELECT pg_backend_pid()", "mysql": "SELECT CONNECTION_ID()"}

    @app.get("/who")
    def who():
        with engine.connect() as conn:
            backend = conn.exec_driver_sql(BACKEND[engine.dialect.name]).scalar()
            conn.exec_driver_sql("SELECT COUNT(*) FROM step_execution_logs").scalar()
        time.sleep(0.02)  # let the other workers take their share
        return jsonify(worker=os.getpid(), backend=int(backend))
    """
)


def _gunicorn_available(kind: str) -> None:
    try:
        import gunicorn  # noqa: F401
    except ImportError:
        message = "gunicorn is not installed (pip install gunicorn)"
        if kind in REQUIRED:
            pytest.fail(message + " (required by SCHEMAGUARD_TEST_REQUIRE)")
        pytest.skip(message)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.status == 200
        return json.loads(response.read())  # type: ignore[no-any-return]


def test_preloaded_workers_never_share_the_masters_connection(
    db_kind: str, db_url: str, tmp_path: Path
) -> None:
    if db_kind == "sqlite":
        pytest.skip("SQLite has no server connection to share")
    _gunicorn_available(db_kind)
    rel.make_drifted(db_url)
    rel.start_app(
        db_url, wait=False
    )  # healed and recorded: the master's startup is the one-query check
    (tmp_path / "forkapp.py").write_text(APP)
    port = _free_port()
    env = {**os.environ, "DB_URL": db_url, "TESTS_DIR": str(Path(__file__).parent)}
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--preload", "-w", str(WORKERS),
         "-b", f"127.0.0.1:{port}", "--timeout", "30", "forkapp:app"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}/who"
        deadline = time.monotonic() + 60
        while True:
            try:
                _get(base)
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError("gunicorn did not start") from None
                time.sleep(0.2)
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda _i: _get(base), range(REQUESTS)))
    finally:
        server.terminate()
        output = server.communicate(timeout=30)[0].decode(errors="replace")
    workers_of: dict[int, set[int]] = defaultdict(set)
    for answer in answers:
        workers_of[answer["backend"]].add(answer["worker"])
    shared = {b: w for b, w in workers_of.items() if len(w) > 1}
    assert shared == {}, f"backends used by several workers: {shared}\n{output}"
    assert len({a["worker"] for a in answers}) == WORKERS, output
    assert "Traceback" not in output, output
