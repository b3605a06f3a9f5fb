"""The benchmarks run end to end at a small size, so they cannot rot (the real runs are
``python -m bench.drift`` and ``python -m bench.health``, not part of ``make test``)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import sqlalchemy as sa
from conftest import require_server

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_module(*args: str, timeout: float = 120) -> str:
    done = subprocess.run(
        [sys.executable, "-m", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.mark.parametrize("kind", ["sqlite", "postgresql", "mysql"])
def test_drift_bench_runs(kind: str) -> None:
    require_server(kind)
    out = run_module(
        "bench.drift",
        "--sizes",
        "20",
        "--db",
        kind,
        "--repeat",
        "1",
        "--no-memory",
        "--import-repeat",
        "1",
    )
    for method in (
        "alembic compare_metadata",
        "Inspector per table",
        "schemaguard full check",
        "fingerprint query",
        "fast path, new process",
        "fast path, new check-mode process",
        "fast path, running process",
    ):
        assert f"{kind:<10} {20:>5}  {method}" in out, out
    assert "Fast path against the fingerprint query" in out
    assert "flask_schemaguard adds" in out
    # the same drift found by both tools on the same database
    assert "4 diffs" in out and "1 drift items" in out


@pytest.mark.parametrize("kind", ["sqlite", "postgresql", "mysql"])
def test_first_check_bench_runs(kind: str) -> None:
    require_server(kind)
    out = run_module("bench.first_check", "--sizes", "20", "--db", kind, "--repeat", "1")
    row = next(line for line in out.splitlines() if line.startswith(f"{kind:<10} {20:>5} "))
    # the same drift found by both tools, and a floor under the guard's own time
    assert "Alembic 4 diffs, schemaguard 1 items" in row, out
    guard_ms, floor_ms = float(row.split()[3]), float(row.split()[5])
    assert 0 < floor_ms < guard_ms, row


def test_drift_bench_memory_child() -> None:
    from bench.drift import measure_memory
    from bench.schema import bench_database, create_schema

    with bench_database("sqlite") as url:
        engine = sa.create_engine(url)
        try:
            create_schema(engine, 20)
        finally:
            engine.dispose()
        memory = measure_memory(url, 20, "schemaguard")
    assert memory["before"] > 0 and memory["peak"] >= memory["before"] * 0.9


def test_health_bench_runs() -> None:
    out = run_module(
        "bench.health",
        "--db",
        "sqlite",
        "--duration",
        "1",
        "--clients",
        "2",
        "--cache-seconds",
        "1",
    )
    assert "/healthz/schema" in out and "/ok" in out
    assert "of the bare endpoint's requests/s" in out
    assert "fingerprint queries while serving health" in out
